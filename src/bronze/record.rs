//! Row types for the bronze tables (see README "Tables").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One row of `notion_raw_pages`: the current state of a page in one data source.
///
/// The merge key is `(page_id, database_id)`. `first_synced_at` is not carried here: the sink sets it on
/// insert and keeps it on update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    /// Page id, dashed lower-case.
    pub page_id: String,
    /// Database (container) id, dashed lower-case.
    pub database_id: String,
    /// Data source id the page was read from (equal to `database_id` under API 2022-06-28).
    pub data_source_id: String,
    /// Configured database name (e.g. `projects`).
    pub database_name: String,
    /// Notion `created_time` (minute precision).
    pub created_time: DateTime<Utc>,
    /// Notion `last_edited_time` (minute precision).
    pub last_edited_time: DateTime<Utc>,
    /// `created_by.id`.
    pub created_by: Option<String>,
    /// `last_edited_by.id`.
    pub last_edited_by: Option<String>,
    /// Page is in Notion's trash.
    pub in_trash: bool,
    /// Page is archived (Notion's archive state, distinct from trash).
    pub is_archived: bool,
    /// Page vanished from Notion (soft delete; never physically removed).
    pub is_deleted: bool,
    /// When the page was first seen missing.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Why the row is flagged deleted: `trashed`, `moved` or `not_found` (purged, or no longer shared).
    pub deleted_reason: Option<String>,
    /// Page URL.
    pub url: Option<String>,
    /// Public URL when published.
    pub public_url: Option<String>,
    /// Plain text of the title property.
    pub title: String,
    /// JSON text of the `properties` object.
    pub properties: String,
    /// The page JSON exactly as received from Notion.
    pub payload: String,
    /// Lower-case hex SHA-256 of `payload`.
    pub payload_sha256: String,
    /// Ids of the properties completed through the property-item endpoint (they were truncated at 25
    /// references in the page object); empty when the page was stored as served.
    pub hydrated_properties: Vec<String>,
    /// `Notion-Version` the payload was read with.
    pub api_version: String,
    /// When this sync wrote the row.
    pub synced_at: DateTime<Utc>,
    /// The run that wrote the row.
    pub sync_run_id: String,
}

/// Why a page row is flagged deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedReason {
    /// The page is in Notion's trash.
    Trashed,
    /// The page now lives in another database.
    Moved,
    /// Notion answers 404: purged from the trash, or no longer shared with the integration.
    NotFound,
}

impl DeletedReason {
    /// The value stored in the `deleted_reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletedReason::Trashed => "trashed",
            DeletedReason::Moved => "moved",
            DeletedReason::NotFound => "not_found",
        }
    }
}

/// One row of `notion_raw_databases`: a schema snapshot of one data source, versioned by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    /// Database (container) id.
    pub database_id: String,
    /// Data source id.
    pub data_source_id: String,
    /// Configured database name.
    pub database_name: String,
    /// Plain-text title of the data source.
    pub title: String,
    /// JSON text of the schema `properties` object.
    pub schema: String,
    /// Full JSON of the data source (or 2022-06-28 database) object as received.
    pub payload: String,
    /// Lower-case hex SHA-256 of `schema`.
    pub schema_sha256: String,
    /// `Notion-Version` used.
    pub api_version: String,
    /// When the snapshot was taken.
    pub observed_at: DateTime<Utc>,
    /// The run that took it.
    pub sync_run_id: String,
}

/// One row of `notion_sync_watermarks`, keyed by `(database_id, data_source_id)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatermarkRecord {
    /// Database id.
    pub database_id: String,
    /// Data source id.
    pub data_source_id: String,
    /// Configured database name.
    pub database_name: String,
    /// Max `last_edited_time` of committed pages; `None` before the first committed page.
    pub watermark: Option<DateTime<Utc>>,
    /// When the last full refresh completed.
    pub last_full_refresh_at: Option<DateTime<Utc>>,
    /// Run that last advanced this row.
    pub last_run_id: String,
    /// When the row was written.
    pub updated_at: DateTime<Utc>,
    /// Notion's clock (its `Date` header) when the last complete read of the data source began. Every page
    /// that read did not see was edited at or after `query_started_at − lookback`, so the next run reads
    /// from that minute when it is later than `watermark − lookback` (a quiet data source is not re-read).
    pub query_started_at: Option<DateTime<Utc>>,
}

/// Page content, comments and users one run read and wrote for a database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentCounts {
    /// Pages whose content was read.
    pub pages: i64,
    /// Block-children, comment and user list requests.
    pub requests: i64,
    /// Block, comment and user rows inserted or updated.
    pub written: i64,
    /// Block, comment and user rows flagged deleted.
    pub deleted: i64,
    /// Subtrees not read because of the depth cap.
    pub depth_cuts: i64,
}

impl ContentCounts {
    /// Adds another count.
    pub fn add(&mut self, o: ContentCounts) {
        self.pages += o.pages;
        self.requests += o.requests;
        self.written += o.written;
        self.deleted += o.deleted;
        self.depth_cuts += o.depth_cuts;
    }
}

/// How a run read a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// From the watermark minus the lookback.
    Incremental,
    /// Everything, from the beginning.
    FullRefresh,
}

impl SyncMode {
    /// The value stored in the `mode` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Incremental => "incremental",
            SyncMode::FullRefresh => "full_refresh",
        }
    }
}

/// Outcome of a run for one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Pages were written.
    Succeeded,
    /// Finished and nothing changed in bronze.
    Unchanged,
    /// Stopped with an error; see `error_class`.
    Failed,
}

impl RunStatus {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Unchanged => "unchanged",
            RunStatus::Failed => "failed",
        }
    }
}

/// One row of `notion_sync_runs`: the audit record of one run for one database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id (UUID), shared by every database of one `sync` invocation.
    pub run_id: String,
    /// Configured database name.
    pub database_name: String,
    /// Database id.
    pub database_id: String,
    /// Start of the run for this database.
    pub started_at: DateTime<Utc>,
    /// End of the run for this database.
    pub finished_at: DateTime<Utc>,
    /// Outcome.
    pub status: RunStatus,
    /// Incremental or full refresh.
    pub mode: SyncMode,
    /// Pages received from Notion.
    pub fetched: i64,
    /// Rows inserted into `notion_raw_pages`.
    pub inserted: i64,
    /// Rows updated.
    pub updated: i64,
    /// Rows received but identical to bronze.
    pub unchanged: i64,
    /// Rows newly flagged `is_deleted`.
    pub soft_deleted: i64,
    /// Property-item requests made to complete truncated properties.
    pub hydration_requests: i64,
    /// HTTP requests sent to Notion for this database.
    pub api_requests: i64,
    /// 429 responses waited out.
    pub throttled_429: i64,
    /// Retries of failed requests (5xx, timeouts, dropped connections).
    pub retries: i64,
    /// Query restarts after an invalid cursor or a result cap.
    pub restarts: i64,
    /// Results that could not be stored as pages, kept in `notion_raw_rejects`.
    pub rejected: i64,
    /// Milliseconds spent waiting out throttling (`Retry-After`) and retry backoff.
    pub wait_ms: i64,
    /// Watermark before the run.
    pub watermark_before: Option<DateTime<Utc>>,
    /// Watermark after the run.
    pub watermark_after: Option<DateTime<Utc>>,
    /// Error class (`auth`, `transient`, `config`, `internal`, ...) when failed.
    pub error_class: Option<String>,
    /// Operator-facing error message when failed (never contains secrets).
    pub error_message: Option<String>,
    /// notion-sync version.
    pub tool_version: String,
    /// `Notion-Version` used.
    pub api_version: String,
    /// Page content read in this run.
    #[serde(default)]
    pub content: ContentCounts,
}

/// One row of `notion_raw_rejects`: a query result that could not be stored as a page row, kept raw with
/// the reason, so nothing Notion returned is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectRecord {
    /// Database id.
    pub database_id: String,
    /// Data source id.
    pub data_source_id: String,
    /// Configured database name.
    pub database_name: String,
    /// The page id, when one could be read.
    pub page_id: Option<String>,
    /// Why it was rejected.
    pub error: String,
    /// The result exactly as received.
    pub raw: String,
    /// Lower-case hex SHA-256 of `raw`; a result rejected again is not stored twice.
    pub raw_sha256: String,
    /// When it was received.
    pub observed_at: DateTime<Utc>,
    /// The run that received it.
    pub sync_run_id: String,
}

/// One row of `notion_restore_log`: a step of a restore, recorded as an intent before its write and as
/// an outcome after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreLogRecord {
    /// The restore.
    pub restore_id: String,
    /// Order of the row within the restore.
    pub step: i64,
    /// The database the step belongs to.
    pub database_id: String,
    /// What the step does (`recreate`, `update`, `untrash`, `trash`, `block_create`, ...).
    pub action: String,
    /// The page or block id in the snapshot.
    pub old_id: String,
    /// The id Notion gave what was created for it.
    pub new_id: Option<String>,
    /// `started` (intent), `done`, `failed` or `adopted` (a lost create found again).
    pub status: String,
    /// Notion's request id of the write.
    pub request_id: Option<String>,
    /// What went wrong, or what was written.
    pub detail: Option<String>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// One Notion-hosted file copied into the lake (`notion_raw_files`), keyed by its stable URL path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file's URL path without the signature (stable while the file exists).
    pub file_key: String,
    /// The configured database of the page holding it.
    pub database_id: String,
    /// The page holding it (in a property, or in a block of its content).
    pub page_id: String,
    /// The media block holding it, when it is in content.
    pub block_id: Option<String>,
    /// The files property holding it (its id), when it is a property value.
    pub property_id: Option<String>,
    /// The file's name.
    pub name: String,
    /// The `Content-Type` it was served with.
    pub content_type: Option<String>,
    /// Bytes copied.
    pub size_bytes: i64,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// Where the copy is, relative to the schema folder (`_files/<sha256 of the key>`).
    pub object_path: String,
    /// When it was copied.
    pub copied_at: DateTime<Utc>,
    /// The run that copied it.
    pub sync_run_id: String,
}
