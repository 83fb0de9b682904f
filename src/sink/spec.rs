//! Column specifications of the bronze tables, from which every sink's schema derives: Arrow and Delta
//! (`sink::delta::schema`) and the SQL dialects' DDL (`sink::warehouse::ddl`).

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};

/// A column's type. Timestamps are microseconds in UTC (Delta `timestamp`, never `timestamp_ntz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Str,
    /// Timestamp with time zone (UTC), microseconds.
    Ts,
    /// Boolean.
    Bool,
    /// 64-bit signed integer.
    I64,
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Column name.
    pub name: &'static str,
    /// Type.
    pub kind: Kind,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

const fn c(name: &'static str, kind: Kind, nullable: bool) -> Col {
    Col {
        name,
        kind,
        nullable,
    }
}

/// A bronze table.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// Table name.
    pub name: &'static str,
    /// Columns in order.
    pub columns: &'static [Col],
    /// Partition column, if any.
    pub partition: Option<&'static str>,
    /// Table comment.
    pub comment: &'static str,
}

use Kind::{Bool, I64, Str, Ts};

/// `notion_raw_pages`.
pub const PAGES: TableSpec = TableSpec {
    name: super::tables::PAGES,
    columns: &[
        c("page_id", Str, false),
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("database_name", Str, false),
        c("created_time", Ts, false),
        c("last_edited_time", Ts, false),
        c("created_by", Str, true),
        c("last_edited_by", Str, true),
        c("in_trash", Bool, false),
        c("is_archived", Bool, false),
        c("is_deleted", Bool, false),
        c("deleted_at", Ts, true),
        c("url", Str, true),
        c("public_url", Str, true),
        c("title", Str, false),
        c("properties", Str, false),
        c("payload", Str, false),
        c("payload_sha256", Str, false),
        c("api_version", Str, false),
        c("first_synced_at", Ts, false),
        c("synced_at", Ts, false),
        c("sync_run_id", Str, false),
        // Columns added after the first release stay nullable, so older tables gain them in place.
        c("deleted_reason", Str, true),
        c("hydrated_properties", Str, true),
    ],
    partition: Some("database_id"),
    comment: "Current state of every Notion page, one row per (page_id, database_id)",
};

/// `notion_raw_page_versions`.
pub const VERSIONS: TableSpec = TableSpec {
    name: super::tables::VERSIONS,
    columns: &[
        c("page_id", Str, false),
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("last_edited_time", Ts, false),
        c("in_trash", Bool, false),
        c("is_archived", Bool, false),
        c("is_deleted", Bool, false),
        c("payload_sha256", Str, false),
        c("payload", Str, false),
        c("api_version", Str, false),
        c("observed_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: Some("database_id"),
    comment: "Append-only history: one row per distinct (page_id, payload_sha256) ever observed",
};

/// `notion_raw_databases`.
pub const DATABASES: TableSpec = TableSpec {
    name: super::tables::DATABASES,
    columns: &[
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("database_name", Str, false),
        c("title", Str, false),
        c("schema", Str, false),
        c("payload", Str, false),
        c("schema_sha256", Str, false),
        c("api_version", Str, false),
        c("observed_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: None,
    comment: "Schema snapshots of Notion data sources, one row per distinct schema",
};

/// `notion_sync_watermarks`.
pub const WATERMARKS: TableSpec = TableSpec {
    name: super::tables::WATERMARKS,
    columns: &[
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("database_name", Str, false),
        c("watermark", Ts, true),
        c("last_full_refresh_at", Ts, true),
        c("last_run_id", Str, false),
        c("updated_at", Ts, false),
        c("query_started_at", Ts, true),
    ],
    partition: None,
    comment: "Max committed last_edited_time per Notion data source",
};

/// `notion_sync_runs`.
pub const RUNS: TableSpec = TableSpec {
    name: super::tables::RUNS,
    columns: &[
        c("run_id", Str, false),
        c("database_name", Str, false),
        c("database_id", Str, false),
        c("started_at", Ts, false),
        c("finished_at", Ts, false),
        c("status", Str, false),
        c("mode", Str, false),
        c("fetched", I64, false),
        c("inserted", I64, false),
        c("updated", I64, false),
        c("unchanged", I64, false),
        c("soft_deleted", I64, false),
        c("hydration_requests", I64, false),
        c("api_requests", I64, false),
        c("throttled_429", I64, false),
        c("retries", I64, false),
        c("restarts", I64, false),
        c("watermark_before", Ts, true),
        c("watermark_after", Ts, true),
        c("error_class", Str, true),
        c("error_message", Str, true),
        c("tool_version", Str, false),
        c("api_version", Str, false),
        c("rejected", I64, true),
        c("wait_ms", I64, true),
        c("content_pages", I64, true),
        c("content_requests", I64, true),
        c("content_written", I64, true),
        c("content_deleted", I64, true),
        c("content_depth_cuts", I64, true),
    ],
    partition: None,
    comment: "Audit trail: one row per database per notion-sync run",
};

/// `notion_raw_rejects`.
pub const REJECTS: TableSpec = TableSpec {
    name: super::tables::REJECTS,
    columns: &[
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("database_name", Str, false),
        c("page_id", Str, true),
        c("error", Str, false),
        c("raw", Str, false),
        c("raw_sha256", Str, false),
        c("observed_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: None,
    comment: "Query results that could not be stored as pages, kept raw with the reason",
};

/// `notion_raw_blocks`.
pub const BLOCKS: TableSpec = TableSpec {
    name: super::tables::BLOCKS,
    columns: &[
        c("block_id", Str, false),
        c("page_id", Str, false),
        c("database_id", Str, false),
        c("data_source_id", Str, false),
        c("parent_id", Str, false),
        c("parent_type", Str, false),
        c("position", I64, false),
        c("depth", I64, false),
        c("type", Str, false),
        c("has_children", Bool, false),
        c("in_trash", Bool, false),
        c("created_time", Ts, true),
        c("last_edited_time", Ts, true),
        c("payload", Str, false),
        c("payload_sha256", Str, false),
        c("plain_text", Str, false),
        c("is_deleted", Bool, false),
        c("deleted_at", Ts, true),
        c("first_synced_at", Ts, false),
        c("synced_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: Some("database_id"),
    comment: "Page content: every block of every synced page, one row per (block_id, page_id)",
};

/// `notion_raw_users`.
pub const USERS: TableSpec = TableSpec {
    name: super::tables::USERS,
    columns: &[
        c("user_id", Str, false),
        c("type", Str, false),
        c("name", Str, true),
        c("email", Str, true),
        c("payload", Str, false),
        c("payload_sha256", Str, false),
        c("is_deleted", Bool, false),
        c("deleted_at", Ts, true),
        c("first_synced_at", Ts, false),
        c("synced_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: None,
    comment: "Workspace users (people and bots), one row per user_id",
};

/// `notion_raw_comments`.
pub const COMMENTS: TableSpec = TableSpec {
    name: super::tables::COMMENTS,
    columns: &[
        c("comment_id", Str, false),
        c("page_id", Str, false),
        c("database_id", Str, false),
        c("discussion_id", Str, false),
        c("parent_type", Str, false),
        c("parent_id", Str, false),
        c("created_time", Ts, true),
        c("last_edited_time", Ts, true),
        c("created_by", Str, true),
        c("plain_text", Str, false),
        c("payload", Str, false),
        c("payload_sha256", Str, false),
        c("is_deleted", Bool, false),
        c("deleted_at", Ts, true),
        c("first_synced_at", Ts, false),
        c("synced_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: Some("database_id"),
    comment: "Comments of synced pages and their blocks, one row per comment_id",
};

/// `notion_restore_log`.
pub const RESTORE_LOG: TableSpec = TableSpec {
    name: super::tables::RESTORE_LOG,
    columns: &[
        c("restore_id", Str, false),
        c("step", I64, false),
        c("database_id", Str, false),
        c("action", Str, false),
        c("old_id", Str, false),
        c("new_id", Str, true),
        c("status", Str, false),
        c("request_id", Str, true),
        c("detail", Str, true),
        c("at", Ts, false),
    ],
    partition: None,
    comment: "Journal of restores into Notion: each step (intent, then outcome), so a restore resumes safely",
};

/// `notion_raw_files`.
pub const FILES: TableSpec = TableSpec {
    name: super::tables::FILES,
    columns: &[
        c("file_key", Str, false),
        c("database_id", Str, false),
        c("page_id", Str, false),
        c("block_id", Str, true),
        c("property_id", Str, true),
        c("name", Str, false),
        c("content_type", Str, true),
        c("size_bytes", I64, false),
        c("sha256", Str, false),
        c("object_path", Str, false),
        c("copied_at", Ts, false),
        c("sync_run_id", Str, false),
    ],
    partition: None,
    comment: "Copies of Notion-hosted files (their URLs expire), one row per file: where the bytes are in the lake",
};

/// Every table, in creation order.
pub const ALL: [TableSpec; 11] = [
    PAGES,
    VERSIONS,
    DATABASES,
    WATERMARKS,
    RUNS,
    REJECTS,
    BLOCKS,
    USERS,
    COMMENTS,
    RESTORE_LOG,
    FILES,
];

impl Kind {
    /// The Arrow type written.
    pub fn arrow(self) -> ArrowType {
        match self {
            Str => ArrowType::Utf8,
            Ts => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Bool => ArrowType::Boolean,
            I64 => ArrowType::Int64,
        }
    }
}

impl TableSpec {
    /// The Arrow schema of batches written to this table.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.kind.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// Column names.
    pub fn names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
}
