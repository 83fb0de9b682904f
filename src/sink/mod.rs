//! Sinks: where bronze rows land. The local/object-store Delta sink is the default; a SQL warehouse sink
//! (Databricks over ODBC) implements the same trait.

pub mod delta;

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::bronze::{DatabaseRecord, PageRecord, RunRecord, WatermarkRecord};

/// Names of the bronze tables, as in Databricks (`<schema>.<name>`).
pub mod tables {
    /// Current state of every page.
    pub const PAGES: &str = "notion_raw_pages";
    /// Schema snapshots per data source.
    pub const DATABASES: &str = "notion_raw_databases";
    /// Watermarks per data source.
    pub const WATERMARKS: &str = "notion_sync_watermarks";
    /// Run audit trail.
    pub const RUNS: &str = "notion_sync_runs";
    /// Every table, in creation order.
    pub const ALL: [&str; 4] = [PAGES, DATABASES, WATERMARKS, RUNS];
}

/// What a page upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertStats {
    /// New (page_id, database_id) rows.
    pub inserted: u64,
    /// Existing rows replaced by a newer or different payload.
    pub updated: u64,
    /// Incoming rows identical to bronze (same hash) or older than bronze: nothing written.
    pub unchanged: u64,
    /// Table version after the commit; `None` when nothing was committed.
    pub committed_version: Option<u64>,
}

/// Row counts of one database in `notion_raw_pages`, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Rows not flagged deleted.
    pub live: u64,
    /// Rows flagged `is_deleted`.
    pub deleted: u64,
}

/// Errors from a sink. `Conflict` and `Transient` are safe to retry.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The lake location cannot be used (bad URI, not writable). Operator must fix configuration.
    #[error("lakehouse {uri} is not usable: {reason}")]
    Location {
        /// The URI as configured.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// A concurrent writer committed first and the retries were exhausted.
    #[error("concurrent write conflict on {table}: {reason}")]
    Conflict {
        /// Table name.
        table: String,
        /// Details.
        reason: String,
    },
    /// Storage or I/O failure that may succeed later.
    #[error("storage error on {table}: {reason}")]
    Transient {
        /// Table name.
        table: String,
        /// Details.
        reason: String,
    },
    /// A bug or corrupted table.
    #[error("internal sink error on {table}: {reason}")]
    Internal {
        /// Table name.
        table: String,
        /// Details.
        reason: String,
    },
}

/// A destination for bronze rows.
///
/// Every write is idempotent: replaying the same rows changes nothing, and a row never replaces a stored row
/// with a newer `last_edited_time`.
pub trait BronzeSink: Send + Sync {
    /// Creates every bronze table that does not exist yet; returns the names created. Idempotent.
    fn init_tables(&self) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;

    /// Checks that the location is reachable and writable without changing any table.
    fn check_writable(&self) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// MERGE pages on `(page_id, database_id)`: insert new keys; update when the incoming `last_edited_time`
    /// is ≥ the stored one and `payload_sha256` differs; otherwise leave the row alone. Commits nothing (no
    /// new table version) when no row changes. Duplicate keys in `rows` are allowed; the newest wins.
    fn upsert_pages(
        &self,
        rows: Vec<PageRecord>,
    ) -> impl Future<Output = Result<UpsertStats, SinkError>> + Send;

    /// Appends schema snapshots whose `(data_source_id, schema_sha256)` is not stored yet; returns how many.
    fn record_schemas(
        &self,
        rows: Vec<DatabaseRecord>,
    ) -> impl Future<Output = Result<u64, SinkError>> + Send;

    /// Reads every watermark row.
    fn load_watermarks(
        &self,
    ) -> impl Future<Output = Result<Vec<WatermarkRecord>, SinkError>> + Send;

    /// Upserts one watermark row on `(database_id, data_source_id)`.
    fn save_watermark(
        &self,
        row: WatermarkRecord,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Appends one run audit row.
    fn append_run(&self, row: RunRecord) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Reads the most recent run rows (newest first), at most `limit`.
    fn recent_runs(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RunRecord>, SinkError>> + Send;

    /// Live and deleted row counts per database id.
    fn page_counts(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, PageCounts>, SinkError>> + Send;

    /// Flags rows of `database_id` whose page id is not in `seen` as deleted (`is_deleted = true`,
    /// `deleted_at = at`) and un-flags rows in `seen` that were flagged; returns (newly deleted, restored).
    fn mark_deleted_except(
        &self,
        database_id: &str,
        seen: &std::collections::HashSet<String>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(u64, u64), SinkError>> + Send;
}
