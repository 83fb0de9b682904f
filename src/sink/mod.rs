//! Sinks: where bronze rows land. The Delta sink (a local or object-store lake) is the default; the SQL
//! warehouse sink (Databricks SQL or PostgreSQL over ODBC) implements the same trait. Both plan every
//! write with the rules in [`plan`]; `NOTION_SYNC_SINK` chooses one ([`Sink`]).

pub mod cells;
pub mod content_records;
pub mod delta;
pub mod lease;
pub mod plan;
pub mod records;
pub mod remote;
pub mod spec;
#[cfg(feature = "warehouse")]
pub mod warehouse;

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::notion::ids::PageKey;

use crate::bronze::{
    DatabaseRecord, DeletedReason, PageContent, PageRecord, RejectRecord, RunRecord, UserRecord,
    WatermarkRecord,
};

/// Names of the bronze tables, as in Databricks (`<schema>.<name>`).
pub mod tables {
    /// Current state of every page.
    pub const PAGES: &str = "notion_raw_pages";
    /// Append-only history of every distinct page payload observed.
    pub const VERSIONS: &str = "notion_raw_page_versions";
    /// Schema snapshots per data source.
    pub const DATABASES: &str = "notion_raw_databases";
    /// Watermarks per data source.
    pub const WATERMARKS: &str = "notion_sync_watermarks";
    /// Run audit trail.
    pub const RUNS: &str = "notion_sync_runs";
    /// Results that could not be stored as pages.
    pub const REJECTS: &str = "notion_raw_rejects";
    /// Page content blocks.
    pub const BLOCKS: &str = "notion_raw_blocks";
    /// Workspace users.
    pub const USERS: &str = "notion_raw_users";
    /// Page and block comments.
    pub const COMMENTS: &str = "notion_raw_comments";
    /// The journal of restores: one row per step of each restore.
    pub const RESTORE_LOG: &str = "notion_restore_log";
    /// Copies of Notion-hosted files: one row per file.
    pub const FILES: &str = "notion_raw_files";
    /// Every table, in creation order.
    pub const ALL: [&str; 11] = [
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
}

/// Runs the same expression on whichever sink is configured.
macro_rules! each_sink {
    ($sink:expr, $s:ident => $e:expr) => {
        match $sink {
            Sink::Delta($s) => $e,
            #[cfg(feature = "warehouse")]
            Sink::Warehouse($s) => $e,
        }
    };
}

/// The configured sink (`NOTION_SYNC_SINK`): commands and the sync spine talk to it through
/// [`BronzeSink`]; what only the Delta lake can do (time travel, optimize) opens the lake itself.
// One per command: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Sink {
    /// Delta tables under `LAKEHOUSE_URI`.
    Delta(delta::DeltaSink),
    /// Tables in a SQL warehouse.
    #[cfg(feature = "warehouse")]
    Warehouse(warehouse::WarehouseSink),
}

impl Sink {
    /// Every page row.
    pub async fn read_pages(&self) -> Result<Vec<records::StoredPage>, SinkError> {
        match self {
            Sink::Delta(s) => s.read_pages(None).await,
            #[cfg(feature = "warehouse")]
            Sink::Warehouse(s) => s.read_pages().await,
        }
    }

    /// Every history row.
    pub async fn read_versions(&self) -> Result<Vec<records::StoredVersion>, SinkError> {
        each_sink!(self, s => s.read_versions().await)
    }

    /// Every schema snapshot.
    pub async fn read_schemas(&self) -> Result<Vec<DatabaseRecord>, SinkError> {
        each_sink!(self, s => s.read_schemas().await)
    }

    /// Every reject.
    pub async fn read_rejects(&self) -> Result<Vec<RejectRecord>, SinkError> {
        each_sink!(self, s => s.read_rejects().await)
    }

    /// Every block row.
    pub async fn read_blocks(&self) -> Result<Vec<crate::bronze::BlockRecord>, SinkError> {
        each_sink!(self, s => s.read_blocks().await)
    }

    /// Every comment row.
    pub async fn read_comments(&self) -> Result<Vec<crate::bronze::CommentRecord>, SinkError> {
        each_sink!(self, s => s.read_comments().await)
    }

    /// Every user row.
    pub async fn read_users(&self) -> Result<Vec<UserRecord>, SinkError> {
        each_sink!(self, s => s.read_users().await)
    }

    /// Appends journal rows of a restore.
    pub async fn append_restore_log(
        &self,
        rows: &[crate::bronze::RestoreLogRecord],
    ) -> Result<(), SinkError> {
        each_sink!(self, s => s.append_restore_log(rows).await)
    }

    /// Every journal row of `restore_id`, in step order.
    pub async fn read_restore_log(
        &self,
        restore_id: &str,
    ) -> Result<Vec<crate::bronze::RestoreLogRecord>, SinkError> {
        each_sink!(self, s => s.read_restore_log(restore_id).await)
    }

    /// Every journal row of every restore.
    pub async fn read_restore_log_all(
        &self,
    ) -> Result<Vec<crate::bronze::RestoreLogRecord>, SinkError> {
        each_sink!(self, s => s.read_restore_log_all().await)
    }

    /// The Delta lake, for what only it keeps (copies of hosted files).
    #[cfg_attr(not(feature = "warehouse"), allow(unused_variables))]
    pub fn lake(&self, what: &str) -> Result<&delta::DeltaSink, SinkError> {
        match self {
            Sink::Delta(d) => Ok(d),
            #[cfg(feature = "warehouse")]
            Sink::Warehouse(w) => Err(SinkError::Location {
                uri: w.describe().to_string(),
                reason: format!(
                    "{what} needs the Delta lake's copies of hosted files; a warehouse sink keeps none"
                ),
            }),
        }
    }

    /// With the warehouse sink, `check_writable` also proves the right to create tables (see
    /// [`warehouse::WarehouseSink::with_write_probe`]); the lake always writes a probe.
    pub fn with_write_probe(self) -> Sink {
        match self {
            #[cfg(feature = "warehouse")]
            Sink::Warehouse(w) => Sink::Warehouse(w.with_write_probe()),
            lake => lake,
        }
    }

    /// Where bronze lands, for messages.
    pub fn describe(&self) -> String {
        match self {
            Sink::Delta(d) => format!("lakehouse {}", d.uri()),
            #[cfg(feature = "warehouse")]
            Sink::Warehouse(w) => w.describe().to_string(),
        }
    }
}

impl BronzeSink for Sink {
    async fn init_tables(&self) -> Result<Vec<String>, SinkError> {
        each_sink!(self, s => s.init_tables().await)
    }
    async fn check_writable(&self) -> Result<(), SinkError> {
        each_sink!(self, s => s.check_writable().await)
    }
    async fn upsert_pages(&self, rows: Vec<PageRecord>) -> Result<UpsertStats, SinkError> {
        each_sink!(self, s => s.upsert_pages(rows).await)
    }
    async fn changed_pages(&self, rows: &[PageRecord]) -> Result<HashSet<String>, SinkError> {
        each_sink!(self, s => s.changed_pages(rows).await)
    }
    async fn replace_content(
        &self,
        content: Vec<PageContent>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        each_sink!(self, s => s.replace_content(content, at).await)
    }
    async fn replace_users(
        &self,
        users: Vec<UserRecord>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        each_sink!(self, s => s.replace_users(users, at).await)
    }
    async fn latest_schemas(&self) -> Result<HashMap<String, String>, SinkError> {
        each_sink!(self, s => s.latest_schemas().await)
    }
    async fn record_schemas(&self, rows: Vec<DatabaseRecord>) -> Result<u64, SinkError> {
        each_sink!(self, s => s.record_schemas(rows).await)
    }
    async fn load_watermarks(&self) -> Result<Vec<WatermarkRecord>, SinkError> {
        each_sink!(self, s => s.load_watermarks().await)
    }
    async fn save_watermark(&self, row: WatermarkRecord) -> Result<(), SinkError> {
        each_sink!(self, s => s.save_watermark(row).await)
    }
    async fn record_rejects(&self, rows: Vec<RejectRecord>) -> Result<u64, SinkError> {
        each_sink!(self, s => s.record_rejects(rows).await)
    }
    async fn lock_database(&self, database_id: &str, run_id: &str) -> Result<(), SinkError> {
        each_sink!(self, s => s.lock_database(database_id, run_id).await)
    }
    async fn unlock_database(&self, database_id: &str, run_id: &str) {
        each_sink!(self, s => s.unlock_database(database_id, run_id).await)
    }
    async fn copied_files(&self) -> Result<HashSet<String>, SinkError> {
        each_sink!(self, s => s.copied_files().await)
    }
    fn file_writer(&self, key: &str) -> Result<FileWriter, SinkError> {
        each_sink!(self, s => s.file_writer(key))
    }
    async fn record_files(&self, rows: Vec<crate::bronze::FileRecord>) -> Result<(), SinkError> {
        each_sink!(self, s => s.record_files(rows).await)
    }
    async fn append_run(&self, row: RunRecord) -> Result<(), SinkError> {
        each_sink!(self, s => s.append_run(row).await)
    }
    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, SinkError> {
        each_sink!(self, s => s.recent_runs(limit).await)
    }
    async fn page_counts(&self) -> Result<HashMap<String, PageCounts>, SinkError> {
        each_sink!(self, s => s.page_counts().await)
    }
    async fn flag_deleted(
        &self,
        database_id: &str,
        flags: Vec<(String, DeletedReason)>,
        at: DateTime<Utc>,
    ) -> Result<u64, SinkError> {
        each_sink!(self, s => s.flag_deleted(database_id, flags, at).await)
    }
    async fn delete_candidates(
        &self,
        database_id: &str,
        listing: &HashMap<PageKey, Listed>,
        refetch_stale: bool,
    ) -> Result<Candidates, SinkError> {
        each_sink!(self, s => s.delete_candidates(database_id, listing, refetch_stale).await)
    }
}

/// `s` as a SQL string literal.
pub(crate) fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
    /// Rows of the same pages in other databases flagged `moved` (or incoming copies flagged because the
    /// page already lives elsewhere).
    pub flagged: u64,
    /// Table version after the commit; `None` when nothing was committed.
    pub committed_version: Option<u64>,
}

/// What a content write (blocks, comments, users) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentStats {
    /// Rows inserted or updated.
    pub written: u64,
    /// Rows equal to the stored ones.
    pub unchanged: u64,
    /// Stored rows flagged deleted because the new read no longer has them.
    pub flagged: u64,
}

impl ContentStats {
    /// Adds another write's counts.
    pub fn add(&mut self, o: ContentStats) {
        self.written += o.written;
        self.unchanged += o.unchanged;
        self.flagged += o.flagged;
    }
}

/// What bronze holds for one page row, for delete detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageState {
    /// Stored `last_edited_time`.
    pub last_edited_time: DateTime<Utc>,
    /// Row is flagged deleted.
    pub is_deleted: bool,
    /// Row is in the archived partition.
    pub is_archived: bool,
}

/// A page a query listed, as delete detection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The page.
    pub page: PageKey,
    /// Its `last_edited_time`.
    pub last_edited_time: DateTime<Utc>,
    /// Its archive flag.
    pub is_archived: bool,
}

/// Pages delete detection reads again one by one, with what bronze holds for each (`None`: no row).
pub type Candidates = Vec<(PageKey, Option<PageState>)>;

/// Row counts of one database in `notion_raw_pages`, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Rows not flagged deleted.
    pub live: u64,
    /// Rows flagged `is_deleted`.
    pub deleted: u64,
}

/// Errors from a sink. `Conflict`, `Transient` and `Busy` are safe to retry.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// Another run is syncing this database into the same lake.
    #[error(
        "database {database_id} is being synced by {holder}; its lease ({lock}) runs until {expires_at} and \
         is renewed while that run is alive; rerun later: once the lease expires (NOTION_SYNC_LOCK_TTL) it \
         is taken over, nothing needs deleting"
    )]
    Busy {
        /// The database.
        database_id: String,
        /// Who holds it.
        holder: String,
        /// When the holder's lease expires unless renewed.
        expires_at: String,
        /// The lease's location.
        lock: String,
    },
    /// This run's lease of a database was taken over or expired; it stopped before committing more.
    #[error(
        "the lease of database {database_id} was lost ({reason}); stopped before the next commit; rerun \
         (what was committed before is kept)"
    )]
    LeaseLost {
        /// The database.
        database_id: String,
        /// What happened to the lease.
        reason: String,
    },
    /// The object store refused the lake's credentials (401/403).
    #[error("the object store refused access to {table}: {reason}; {hint}")]
    Denied {
        /// Table name.
        table: String,
        /// Details (secrets removed).
        reason: String,
        /// The variables to fix.
        hint: &'static str,
    },
    /// The object store cannot be reached, or the lake's bucket does not exist.
    #[error("object store error on {table}: {reason}; {hint}")]
    Store {
        /// Table name.
        table: String,
        /// Details (secrets removed).
        reason: String,
        /// What to fix.
        hint: &'static str,
        /// Whether it may pass by itself (an unreachable endpoint) or needs a fix (a missing bucket).
        transient: bool,
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

impl SinkError {
    /// Who must act: the operator (`Config`), nobody but a later rerun (`Transient`), or a developer.
    pub fn class(&self) -> crate::notion::ErrorClass {
        use crate::notion::ErrorClass;
        match self {
            SinkError::Location { .. } => ErrorClass::Config,
            SinkError::Conflict { .. }
            | SinkError::Transient { .. }
            | SinkError::Busy { .. }
            | SinkError::LeaseLost { .. } => ErrorClass::Transient,
            SinkError::Internal { .. } => ErrorClass::Internal,
            SinkError::Denied { .. } => ErrorClass::Auth,
            SinkError::Store { transient, .. } => {
                if *transient {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Config
                }
            }
        }
    }
}

/// Where the bytes of one copied file are written.
pub struct FileWriter {
    /// The bytes go here; shut it down to complete the copy.
    pub writer: Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
    /// Where the copy is, relative to the schema folder.
    pub object_path: String,
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWriter")
            .field("object_path", &self.object_path)
            .finish()
    }
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
    /// is ≥ the stored one and the payload or deleted flag differs; otherwise leave the row alone. Commits
    /// nothing (no new table version) when no row changes. Duplicate keys in `rows` are allowed; the newest
    /// wins. A page stored live under another database is a move: the older copy is flagged `moved`.
    /// Every `(page_id, payload_sha256)` not yet in `notion_raw_page_versions` is appended there first.
    fn upsert_pages(
        &self,
        rows: Vec<PageRecord>,
    ) -> impl Future<Output = Result<UpsertStats, SinkError>> + Send;

    /// The page ids among `rows` that [`BronzeSink::upsert_pages`] would insert or update now.
    fn changed_pages(
        &self,
        rows: &[PageRecord],
    ) -> impl Future<Output = Result<HashSet<String>, SinkError>> + Send;

    /// Stores the content read for pages: each page's blocks (and comments, when read) are written where
    /// new or different, and its stored blocks (comments) the read no longer has are flagged deleted at
    /// `at` (not when the read was cut by a depth cap). Nothing is committed when nothing changed.
    fn replace_content(
        &self,
        content: Vec<PageContent>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ContentStats, SinkError>> + Send;

    /// Stores the workspace's user list: new or different users are written, users no longer listed are
    /// flagged deleted at `at`.
    fn replace_users(
        &self,
        users: Vec<UserRecord>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ContentStats, SinkError>> + Send;

    /// The newest stored schema hash of every data source.
    fn latest_schemas(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, String>, SinkError>> + Send;

    /// Appends the snapshots whose hash differs from the newest stored one of their data source (a schema
    /// that changes back is recorded again); returns how many were appended.
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

    /// Appends the rejects whose `raw_sha256` is not stored yet; returns how many.
    fn record_rejects(
        &self,
        rows: Vec<RejectRecord>,
    ) -> impl Future<Output = Result<u64, SinkError>> + Send;

    /// Takes the one-writer lease of `database_id` for `run_id` and renews it until released;
    /// `SinkError::Busy` names the run holding it. Commits for a database whose lease was lost fail with
    /// `SinkError::LeaseLost`.
    fn lock_database(
        &self,
        database_id: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Releases the lease taken by `lock_database`.
    fn unlock_database(&self, database_id: &str, run_id: &str) -> impl Future<Output = ()> + Send;

    /// The keys of the Notion-hosted files already copied into the lake.
    fn copied_files(&self) -> impl Future<Output = Result<HashSet<String>, SinkError>> + Send;

    /// A writer of the copy of hosted file `key`; the copy is complete once the writer is shut down,
    /// and counts as copied once [`BronzeSink::record_files`] stored its row.
    fn file_writer(&self, key: &str) -> Result<FileWriter, SinkError>;

    /// Appends the rows of copied files.
    fn record_files(
        &self,
        rows: Vec<crate::bronze::FileRecord>,
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

    /// The pages of `database_id` delete detection must read again: every stored live row `listing`
    /// (all the pages the queries list now) lacks, and, with `refetch_stale`, every listed page whose row is
    /// absent, flagged, older or in the other partition ([`plan::delete_candidates`]). Sorted by page.
    fn delete_candidates(
        &self,
        database_id: &str,
        listing: &HashMap<PageKey, Listed>,
        refetch_stale: bool,
    ) -> impl Future<Output = Result<Candidates, SinkError>> + Send;

    /// Flags live rows of `database_id` deleted (`is_deleted`, `deleted_at = at`, `deleted_reason`);
    /// rows already flagged keep their first `deleted_at`. Returns how many rows were flagged.
    fn flag_deleted(
        &self,
        database_id: &str,
        flags: Vec<(String, DeletedReason)>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, SinkError>> + Send;
}
