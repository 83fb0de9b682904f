//! The Delta Lake sink: bronze tables under `<lake>/<schema>/<table>`, written with delta-rs.
//!
//! Pages are MERGEd on `(page_id, database_id)`. Before merging, each batch is compared with an in-memory
//! index of what the table holds (see [`pages`]), so rows that would not change are dropped and a batch
//! with nothing new commits nothing: no file, no version. The MERGE itself is still guarded
//! (`s.last_edited_time >= t.last_edited_time` and a different hash), so a concurrent writer's newer row is
//! never overwritten. New payloads are appended to the history table before the pages commit, so a crash
//! between the two loses nothing: the rerun finds the history row and merges the page.

mod entities;
pub mod files;
mod pages;
pub mod schema;
mod snapshots;
mod travel;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::protocol::SaveMode;
use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTable, DeltaTableError, TableProperty};
use tokio::sync::{Mutex, Notify};
use url::Url;

use super::lease::{DEFAULT_TTL, DirLeaseStore, Leases};
use super::remote::{self, ObjectLeaseStore};
use super::{BronzeSink, ContentStats, PageCounts, PageState, SinkError, UpsertStats};
use crate::bronze::{
    BlockRecord, CommentRecord, DatabaseRecord, DeletedReason, PageContent, PageRecord,
    RejectRecord, RunRecord, UserRecord, WatermarkRecord,
};
use crate::notion::ids::PageKey;
use crate::retry::{Class, Policy, TokioClock};
use crate::sink::plan::entities::{self as plan_entities, EntityChange, EntityIndex, Group, Keyed};
use crate::sink::plan::merge::{MergePlan, WATERMARK_ON};
use crate::sink::plan::pages::{self as plan_pages, PageChange, PageIndex};
use crate::sink::{cells, content_records, records};
use cells::{Cell, from_batches, to_batch};
pub use records::{StoredPage, StoredVersion};
use schema::TableSpec;
pub use snapshots::{HistoryRange, TableCommit};
pub use travel::TableAt;

/// Retries of one commit while concurrent writers keep winning (backoff from 50 ms doubling to 2 s).
const COMMIT_RETRIES: u32 = 10;

/// Commits this process runs at once per table. The small tables every database task writes (one row
/// per data source or run) take one at a time, so this process's tasks never conflict there; the pages
/// and history tables take a few, so databases commit in parallel without every commit losing the race
/// for the next table version to dozens of others.
const COMMIT_SLOTS: [(&str, usize); 11] = [
    (schema::WATERMARKS.name, 1),
    (schema::RUNS.name, 1),
    (schema::REJECTS.name, 1),
    (schema::DATABASES.name, 1),
    (schema::PAGES.name, 4),
    (schema::VERSIONS.name, 4),
    (schema::BLOCKS.name, 4),
    (schema::COMMENTS.name, 4),
    (schema::USERS.name, 1),
    (schema::RESTORE_LOG.name, 1),
    (schema::FILES.name, 2),
];

/// Commits between checkpoints (`delta.checkpointInterval`). Each commit brings a table forward by reading
/// every JSON commit since the last checkpoint, all at once; at Delta's default of 100 that replay grew
/// to over a gigabyte of decoder buffers on a long run. Ten keeps it small for a checkpoint every ten
/// commits.
const CHECKPOINT_INTERVAL: u64 = 10;

/// A Delta Lake bronze layer.
#[derive(Debug)]
pub struct DeltaSink {
    uri: String,
    root: Root,
    storage_options: HashMap<String, String>,
    /// The page index, locked only to plan a change and to apply it once committed.
    index: Mutex<Option<PageIndex>>,
    /// Pages of changes being committed: a change touching one of them waits for that commit first.
    in_flight: std::sync::Mutex<HashSet<PageKey>>,
    /// Wakes changes waiting for in-flight pages.
    committed: Notify,
    /// Indexes of the content tables, by table name; locked like the page index.
    entity_indexes: HashMap<&'static str, Mutex<Option<EntityIndex>>>,
    /// Opened tables, brought up to date before each use by reading only the commits made since.
    tables: std::sync::Mutex<HashMap<&'static str, DeltaTable>>,
    /// Commits at once per table ([`COMMIT_SLOTS`]).
    commit_slots: HashMap<&'static str, tokio::sync::Semaphore>,
    /// Retries of commits that lost to a concurrent writer.
    commit_policy: Policy,
    /// One-writer leases per database (`None`: this lake takes none).
    leases: Option<Leases>,
    /// The store kind behind `uri` (names the variables in store errors).
    store: crate::config::Store,
    /// A remote lake's object store, rooted at the schema folder ([`Self::with_storage_options`]).
    remote: Option<Arc<dyn object_store::ObjectStore>>,
    /// Test hook: every pages commit waits here first, so a test can prove commits overlap.
    #[cfg(test)]
    pages_barrier: Option<Arc<tokio::sync::Barrier>>,
}

#[derive(Debug, Clone)]
enum Root {
    Local(std::path::PathBuf),
    Remote(String),
}

/// The lock directory under a lake's schema folder.
const LOCKS: &str = "_locks";

impl DeltaSink {
    /// A sink for tables under `<lake_uri>/<schema>/`; `lake_uri` is a local path or a URL (`file://`,
    /// `s3://`, `abfss://`, `gs://`, `memory://`). Nothing is touched until the first operation.
    pub fn new(lake_uri: &str, schema: &str) -> Result<Self, SinkError> {
        let location = |reason: String| SinkError::Location {
            uri: lake_uri.to_string(),
            reason,
        };
        let root = if let Some(path) = lake_uri.strip_prefix("file://") {
            Root::Local(std::path::PathBuf::from(path).join(schema))
        } else if lake_uri.contains("://") {
            Url::parse(lake_uri).map_err(|e| location(format!("not a URL: {e}")))?;
            Root::Remote(format!("{}/{schema}", lake_uri.trim_end_matches('/')))
        } else {
            let abs = std::path::absolute(lake_uri).map_err(|e| location(e.to_string()))?;
            Root::Local(abs.join(schema))
        };
        // A remote lake's leases live in its object store, opened with the storage options
        // ([`Self::with_storage_options`]).
        let leases = match &root {
            Root::Local(dir) => Some(Leases::new(
                Arc::new(DirLeaseStore::new(dir.join(LOCKS))),
                DEFAULT_TTL,
            )),
            Root::Remote(_) => None,
        };
        Ok(DeltaSink {
            uri: lake_uri.to_string(),
            root,
            storage_options: HashMap::new(),
            index: Mutex::new(None),
            in_flight: std::sync::Mutex::new(HashSet::new()),
            committed: Notify::new(),
            entity_indexes: [
                plan_entities::BLOCKS,
                plan_entities::COMMENTS,
                plan_entities::USERS,
            ]
            .iter()
            .map(|k| (k.spec.name, Mutex::new(None)))
            .collect(),
            tables: std::sync::Mutex::new(HashMap::new()),
            commit_slots: COMMIT_SLOTS
                .iter()
                .map(|(t, n)| (*t, tokio::sync::Semaphore::new(*n)))
                .collect(),
            commit_policy: Policy::new(
                Duration::from_millis(50),
                Duration::from_secs(2),
                COMMIT_RETRIES,
            ),
            leases,
            store: crate::config::Store::of(lake_uri).unwrap_or(crate::config::Store::Local),
            remote: None,
            #[cfg(test)]
            pages_barrier: None,
        })
    }

    /// What bronze holds for every row of `database_id`, by page.
    async fn page_states(
        &self,
        database_id: &str,
    ) -> Result<HashMap<PageKey, PageState>, SinkError> {
        let guard = self.index().await?;
        Ok(guard
            .as_ref()
            .and_then(|index| index.by_db.get(database_id))
            .map(|m| m.iter().map(|(key, k)| (*key, k.state())).collect())
            .unwrap_or_default())
    }

    /// The lake root as configured.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Leases live `ttl` unless renewed (`NOTION_SYNC_LOCK_TTL`).
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        if let Some(leases) = &self.leases {
            let store = leases.store();
            self.leases = Some(Leases::new(store, ttl));
        }
        self
    }

    /// Fails with `SinkError::LeaseLost` when this process held the lease of one of `databases` and lost it.
    async fn guard(&self, databases: &[&str]) -> Result<(), SinkError> {
        if let Some(leases) = &self.leases {
            for db in databases {
                leases.check(db).await?;
            }
        }
        Ok(())
    }

    /// Whether this process holds the lease of every one of `databases`.
    fn holds_all(&self, databases: &[&str]) -> bool {
        self.leases
            .as_ref()
            .is_some_and(|l| databases.iter().all(|d| l.holds(d)))
    }

    /// A commit slot of `table` ([`COMMIT_SLOTS`]).
    async fn commit_slot(&self, table: &str) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match self.commit_slots.get(table) {
            Some(s) => s.acquire().await.ok(),
            None => None,
        }
    }

    /// Storage options for object stores (credentials, endpoints), as delta-rs keys. On a remote lake this
    /// opens the store that holds the leases.
    pub fn with_storage_options(
        mut self,
        options: HashMap<String, String>,
    ) -> Result<Self, SinkError> {
        self.storage_options = options;
        if let Root::Remote(root) = &self.root {
            let url = Url::parse(root).map_err(|e| self.location(e.to_string()))?;
            let store =
                remote::open(&url, &self.storage_options).map_err(|e| self.fail("lake", e))?;
            let ttl = self.leases.as_ref().map_or(DEFAULT_TTL, Leases::ttl);
            let locks =
                ObjectLeaseStore::new(store.clone(), LOCKS.into(), format!("{root}/{LOCKS}"));
            self.leases = Some(Leases::new(Arc::new(locks), ttl));
            self.remote = Some(store);
        }
        Ok(self)
    }

    fn location(&self, reason: String) -> SinkError {
        SinkError::Location {
            uri: self.uri.clone(),
            reason,
        }
    }

    /// A delta-rs error as the sink reports it: what the operator must fix when the object store
    /// refused or could not be reached, and never a secret.
    fn fail(&self, table: &str, e: DeltaTableError) -> SinkError {
        let reason = crate::config::scrub_secrets(e.to_string());
        match remote::fault(&e) {
            Some(fault @ remote::Fault::Denied) => SinkError::Denied {
                table: table.to_string(),
                reason,
                hint: remote::hint(self.store, fault),
            },
            Some(fault) => SinkError::Store {
                table: table.to_string(),
                reason,
                hint: remote::hint(self.store, fault),
                transient: fault == remote::Fault::Unreachable,
            },
            None => map_err(table, e, reason),
        }
    }

    fn table_url(&self, table: &str) -> Result<Url, SinkError> {
        let location = |reason: String| SinkError::Location {
            uri: self.uri.clone(),
            reason,
        };
        match &self.root {
            Root::Local(dir) => {
                let path = dir.join(table);
                std::fs::create_dir_all(&path)
                    .map_err(|e| location(format!("cannot create {}: {e}", path.display())))?;
                Url::from_directory_path(&path)
                    .map_err(|_| location(format!("bad path {}", path.display())))
            }
            Root::Remote(root) => {
                Url::parse(&format!("{root}/{table}")).map_err(|e| location(e.to_string()))
            }
        }
    }

    async fn handle(&self, table: &str) -> Result<DeltaTable, SinkError> {
        let url = self.table_url(table)?;
        DeltaTable::try_from_url_with_storage_options(url, self.storage_options.clone())
            .await
            .map_err(|e| self.fail(table, e))
    }

    /// The table at its latest version. A table opened before is brought forward from the version it was
    /// left at (only newer commits are read) instead of replaying its log again.
    async fn open(&self, spec: &TableSpec) -> Result<DeltaTable, SinkError> {
        let cached = self.cached(spec.name);
        let table = match cached {
            Some(mut table) => {
                table
                    .update_incremental(None)
                    .await
                    .map_err(|e| self.fail(spec.name, e))?;
                table
            }
            None => self.handle(spec.name).await?,
        };
        if table.version().is_none() {
            return Err(SinkError::Internal {
                table: spec.name.to_string(),
                reason: "table does not exist; run `notion-sync init-tables`".into(),
            });
        }
        self.keep(spec, &table);
        Ok(table)
    }

    fn cached(&self, name: &str) -> Option<DeltaTable> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.get(name).cloned()
    }

    /// Remembers `table` as the newest known state of its table.
    fn keep(&self, spec: &TableSpec, table: &DeltaTable) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let newer = match tables.get(spec.name) {
            Some(known) => table.version() >= known.version(),
            None => true,
        };
        if newer {
            tables.insert(spec.name, table.clone());
        }
    }

    async fn scan_table(
        &self,
        table: DeltaTable,
        spec: &TableSpec,
        columns: Option<&[&str]>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let mut rows = Vec::new();
        self.scan_batches(table, spec, columns, |batch| rows.extend(batch))
            .await?;
        Ok(rows)
    }

    /// Scans `columns` of a table one record batch at a time, so a large table is never held whole.
    async fn scan_batches(
        &self,
        table: DeltaTable,
        spec: &TableSpec,
        columns: Option<&[&str]>,
        mut each: impl FnMut(Vec<Vec<Cell>>),
    ) -> Result<(), SinkError> {
        use futures::StreamExt;
        // Projection by name through DataFusion (partition columns come back last and dictionary-encoded;
        // `from_batches` finds columns by name and normalises their types).
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| self.fail(spec.name, e))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| internal(spec.name, e))?;
        let names: Vec<&str> = columns
            .map(<[&str]>::to_vec)
            .unwrap_or_else(|| spec.names());
        let mut stream = ctx
            .read_table(provider)
            .and_then(|df| df.select_columns(&names))
            .map_err(|e| internal(spec.name, e))?
            .execute_stream()
            .await
            .map_err(|e| internal(spec.name, e))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| internal(spec.name, e))?;
            each(from_batches(spec, columns, &[batch]).map_err(|e| internal(spec.name, e))?);
        }
        Ok(())
    }

    async fn scan(
        &self,
        spec: &TableSpec,
        columns: Option<&[&str]>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let table = self.open(spec).await?;
        self.scan_table(table, spec, columns).await
    }

    async fn append(
        &self,
        spec: &TableSpec,
        rows: &[Vec<Cell>],
        operation: &str,
    ) -> Result<Option<u64>, SinkError> {
        let batch = to_batch(spec, rows).map_err(|e| internal(spec.name, e))?;
        let _slot = self.commit_slot(spec.name).await;
        let batch = &batch;
        let runs = run_ids(batch);
        let runs = &runs;
        self.retry_commit(spec, || async move {
            let table = self.open(spec).await?;
            let table = table
                .write(vec![batch.clone()])
                .with_save_mode(SaveMode::Append)
                .with_commit_properties(commit_props_with(operation, runs.clone()))
                .await
                .map_err(|e| self.fail(spec.name, e))?;
            self.keep(spec, &table);
            Ok(table.version())
        })
        .await
    }

    /// Runs one commit attempt after another while they lose to concurrent writers, under the commit
    /// policy; each attempt starts from the table's new state.
    async fn retry_commit<T, Fut>(
        &self,
        spec: &TableSpec,
        attempt: impl FnMut() -> Fut,
    ) -> Result<T, SinkError>
    where
        Fut: std::future::Future<Output = Result<T, SinkError>>,
    {
        self.commit_policy
            .run(
                &TokioClock,
                attempt,
                |e: &SinkError| match e {
                    SinkError::Conflict { .. } => Class::Transient,
                    _ => Class::Permanent,
                },
                |_, decision| {
                    tracing::debug!(table = spec.name, ?decision, "concurrent commit; retrying")
                },
            )
            .await
    }

    /// MERGE `batch` into `spec`'s table as `plan` says. Retries commit conflicts against the new table
    /// state. Returns the new version.
    async fn merge(
        &self,
        spec: &TableSpec,
        batch: RecordBatch,
        plan: &MergePlan<'_>,
    ) -> Result<Option<u64>, SinkError> {
        let _slot = self.commit_slot(spec.name).await;
        self.retry_commit(spec, || self.merge_once(spec, batch.clone(), plan))
            .await
    }

    async fn merge_once(
        &self,
        spec: &TableSpec,
        batch: RecordBatch,
        plan: &MergePlan<'_>,
    ) -> Result<Option<u64>, SinkError> {
        let table = self.open(spec).await?;
        let runs = run_ids(&batch);
        let source = SessionContext::new()
            .read_batch(batch)
            .map_err(|e| internal(spec.name, e))?;
        let props = commit_props_with(&format!("notion-sync.merge.{}", spec.name), runs);
        let mut builder = table
            .merge(source, plan.on.as_str())
            .with_source_alias("s")
            .with_target_alias("t")
            .with_commit_properties(props);
        for (guard, columns) in &plan.matched {
            builder = builder
                .when_matched_update(|mut u| {
                    if let Some(g) = guard {
                        u = u.predicate(*g);
                    }
                    for col in columns {
                        u = u.update(*col, format!("s.{col}"));
                    }
                    u
                })
                .map_err(|e| self.fail(spec.name, e))?;
        }
        if let Some(guard) = plan.insert {
            builder = builder
                .when_not_matched_insert(|mut i| {
                    if let Some(g) = guard {
                        i = i.predicate(g);
                    }
                    for col in spec.columns {
                        i = i.set(col.name, format!("s.{}", col.name));
                    }
                    i
                })
                .map_err(|e| self.fail(spec.name, e))?;
        }
        let (table, _metrics) = builder.await.map_err(|e| self.fail(spec.name, e))?;
        self.keep(spec, &table);
        Ok(table.version())
    }

    /// The page index, loaded first when needed.
    async fn index(&self) -> Result<tokio::sync::MutexGuard<'_, Option<PageIndex>>, SinkError> {
        let mut guard = self.index.lock().await;
        if guard.is_none() {
            *guard = Some(self.load_index().await?);
        }
        Ok(guard)
    }

    /// Plans a change against `index` (loaded by `load` first when needed) and claims the pages it touches.
    /// The index is locked only to plan: changes of different databases commit in parallel. A change that
    /// touches a page another change is committing waits for that commit and is planned again, so a page
    /// moving between databases is never planned against a state about to change.
    async fn plan_claimed<I, C, Fut>(
        &self,
        index: &Mutex<Option<I>>,
        load: impl Fn() -> Fut,
        plan: impl Fn(&I) -> C,
        keys: impl Fn(&C) -> Vec<PageKey>,
    ) -> Result<(C, Claim<'_>), SinkError>
    where
        Fut: std::future::Future<Output = Result<I, SinkError>>,
    {
        loop {
            let committed = self.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            {
                let mut guard = index.lock().await;
                if guard.is_none() {
                    *guard = Some(load().await?);
                }
                let loaded = guard
                    .as_ref()
                    .ok_or_else(|| internal(schema::PAGES.name, "index"))?;
                let change = plan(loaded);
                if let Some(claim) = Claim::take(self, keys(&change)) {
                    return Ok((change, claim));
                }
            }
            committed.await;
        }
    }

    /// Plans a page change and commits it. After a failed commit the index is dropped (the table may hold
    /// rows this process did not write) and reloaded by the next call.
    async fn write_change(
        &self,
        plan: impl Fn(&PageIndex) -> PageChange,
    ) -> Result<UpsertStats, SinkError> {
        let (mut change, _claim) = self
            .plan_claimed(
                &self.index,
                || self.load_index(),
                plan,
                PageChange::page_keys,
            )
            .await?;
        let result = self.commit_change(&mut change).await;
        settle(&self.index, result.is_ok(), |index| index.apply(&change)).await;
        result.map(|()| change.stats)
    }

    async fn load_entities(&self, keyed: &Keyed) -> Result<EntityIndex, SinkError> {
        let mut index = EntityIndex::default();
        let table = self.open(keyed.spec).await?;
        let columns = keyed.index_columns();
        self.scan_batches(table, keyed.spec, Some(&columns), |rows| {
            index.add(keyed, rows)
        })
        .await?;
        Ok(index)
    }

    /// Commits a planned content change: an append when it only adds rows of databases whose leases this
    /// process holds, else one guarded MERGE of rows and flags.
    async fn commit_entities(&self, keyed: &Keyed, change: &EntityChange) -> Result<(), SinkError> {
        if change.is_empty() {
            return Ok(());
        }
        let databases: Vec<&str> = change.databases.iter().map(String::as_str).collect();
        self.guard(&databases).await?;
        let spec = keyed.spec;
        let operation = format!("notion-sync.write.{}", spec.name);
        if change.only_inserts() && !databases.is_empty() && self.holds_all(&databases) {
            return self
                .append(spec, &change.write, &operation)
                .await
                .map(|_| ());
        }
        let batch = entities::flagged_batch(spec, &change.write, &change.flags)
            .map_err(|e| internal(spec.name, e))?;
        let plan = MergePlan::content(spec, plan_entities::merge_on(keyed, change));
        self.merge(spec, batch, &plan).await.map(|_| ())
    }

    /// Writes a planned change: history rows first, then one MERGE (or append) for rows and flags.
    async fn commit_change(&self, change: &mut PageChange) -> Result<(), SinkError> {
        let databases = change.databases();
        if !change.versions.is_empty() {
            crate::pause::point("sink.before_versions").await;
            self.guard(&databases).await?;
            let rows: Vec<Vec<Cell>> = change.versions.iter().map(records::version_cells).collect();
            self.append(&schema::VERSIONS, &rows, "notion-sync.append_versions")
                .await?;
            crate::pause::point("sink.after_versions").await;
        }
        if !change.touches_pages() {
            return Ok(());
        }
        crate::pause::point("sink.before_pages").await;
        #[cfg(test)]
        if let Some(barrier) = &self.pages_barrier {
            barrier.wait().await;
        }
        self.guard(&databases).await?;
        let spec = &schema::PAGES;
        if change.only_inserts() && self.holds_all(&databases) {
            // New keys only, and this process holds the lease of every database involved: a plain
            // append is the same change as the MERGE without joining against the table.
            let rows: Vec<Vec<Cell>> = change.rows.iter().map(records::page_cells).collect();
            change.stats.committed_version =
                self.append(spec, &rows, "notion-sync.insert_pages").await?;
            crate::pause::point("sink.after_pages").await;
            return Ok(());
        }
        let batch = pages::merge_source(change).map_err(|e| internal(spec.name, e))?;
        let plan = MergePlan::pages(pages::merge_on(change));
        change.stats.committed_version = self.merge(spec, batch, &plan).await?;
        crate::pause::point("sink.after_pages").await;
        Ok(())
    }

    async fn load_index(&self) -> Result<PageIndex, SinkError> {
        let mut index = PageIndex::default();
        let table = self.open(&schema::PAGES).await?;
        self.scan_batches(
            table,
            &schema::PAGES,
            Some(&plan_pages::INDEX_COLUMNS),
            |rows| index.add_pages(rows),
        )
        .await?;
        let table = self.open(&schema::VERSIONS).await?;
        let columns = Some(&plan_pages::VERSION_KEY_COLUMNS[..]);
        self.scan_batches(table, &schema::VERSIONS, columns, |rows| {
            index.add_versions(rows)
        })
        .await?;
        Ok(index)
    }

    /// Adds the spec's columns a table created by an older release lacks (always nullable ones).
    async fn add_missing_columns(
        &self,
        table: DeltaTable,
        spec: &TableSpec,
    ) -> Result<(), SinkError> {
        let present: HashSet<String> = table
            .snapshot()
            .map_err(|e| self.fail(spec.name, e))?
            .schema()
            .fields()
            .map(|f| f.name().to_string())
            .collect();
        let missing: Vec<_> = schema::delta_fields(spec)
            .into_iter()
            .filter(|f| !present.contains(f.name()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(f) = missing.iter().find(|f| !f.is_nullable()) {
            return Err(internal(
                spec.name,
                format!(
                    "column {} is missing and cannot be added to existing rows",
                    f.name()
                ),
            ));
        }
        tracing::info!(table = spec.name, columns = missing.len(), "adding columns");
        table
            .add_columns()
            .with_fields(missing)
            .with_commit_properties(commit_props("notion-sync.add_columns"))
            .await
            .map_err(|e| self.fail(spec.name, e))?;
        Ok(())
    }

    /// Sets [`CHECKPOINT_INTERVAL`] on a table created by an older release.
    async fn set_checkpoint_interval(
        &self,
        table: DeltaTable,
        spec: &TableSpec,
    ) -> Result<DeltaTable, SinkError> {
        let current = table
            .snapshot()
            .map_err(|e| self.fail(spec.name, e))?
            .table_config()
            .checkpoint_interval()
            .get();
        if current == CHECKPOINT_INTERVAL {
            return Ok(table);
        }
        let property = TableProperty::CheckpointInterval.as_ref().to_string();
        table
            .set_tbl_properties()
            .with_properties(HashMap::from([(property, CHECKPOINT_INTERVAL.to_string())]))
            .with_commit_properties(commit_props("notion-sync.set_properties"))
            .await
            .map_err(|e| self.fail(spec.name, e))
    }

    /// Compacts small files of every table, writes a checkpoint, and (with a retention) deletes files
    /// no table version newer than the retention needs.
    pub async fn optimize(
        &self,
        vacuum_retention: Option<chrono::Duration>,
    ) -> Result<Vec<Maintenance>, SinkError> {
        let mut out = Vec::new();
        for spec in schema::ALL {
            let table = self.open(&spec).await?;
            let (table, metrics) = table
                .optimize()
                .with_commit_properties(commit_props("notion-sync.optimize"))
                .await
                .map_err(|e| self.fail(spec.name, e))?;
            deltalake::checkpoints::create_checkpoint(&table, None)
                .await
                .map_err(|e| self.fail(spec.name, e))?;
            let (table, vacuumed) = match vacuum_retention {
                Some(retention) => {
                    let (table, m) = table
                        .vacuum()
                        .with_retention_period(retention)
                        .with_enforce_retention_duration(false)
                        .with_commit_properties(commit_props("notion-sync.vacuum"))
                        .await
                        .map_err(|e| self.fail(spec.name, e))?;
                    (table, m.files_deleted.len() as u64)
                }
                None => (table, 0),
            };
            out.push(Maintenance {
                table: spec.name.to_string(),
                files_removed: metrics.num_files_removed,
                files_added: metrics.num_files_added,
                files_vacuumed: vacuumed,
                version: table.version(),
            });
        }
        Ok(out)
    }

    /// The commit history of a table, newest first (proves the log is readable).
    pub async fn history(
        &self,
        table: &str,
    ) -> Result<Vec<deltalake::kernel::CommitInfo>, SinkError> {
        use futures::TryStreamExt;
        let t = self.handle(table).await?;
        t.history(None)
            .try_collect()
            .await
            .map_err(|e| self.fail(table, e))
    }

    /// Every history row, oldest observation first.
    pub async fn read_versions(&self) -> Result<Vec<StoredVersion>, SinkError> {
        let rows = self.scan(&schema::VERSIONS, None).await?;
        let mut out: Vec<StoredVersion> = rows.iter().map(|r| records::version_from(r)).collect();
        out.sort_by(|a, b| {
            (a.observed_at, &a.page_id, a.last_edited_time).cmp(&(
                b.observed_at,
                &b.page_id,
                b.last_edited_time,
            ))
        });
        Ok(out)
    }

    /// Every stored page (at `version` when given, else the latest), for tests, `status` and restore.
    pub async fn read_pages(&self, version: Option<u64>) -> Result<Vec<StoredPage>, SinkError> {
        self.pages_at(version.map_or(TableAt::Latest, TableAt::Version))
            .await
    }

    /// Every row of `spec`'s table, decoded by `from`.
    async fn read_all<T>(
        &self,
        spec: &TableSpec,
        from: fn(&[Cell]) -> T,
    ) -> Result<Vec<T>, SinkError> {
        Ok(self
            .scan(spec, None)
            .await?
            .iter()
            .map(|r| from(r))
            .collect())
    }

    /// Every block row.
    pub async fn read_blocks(&self) -> Result<Vec<BlockRecord>, SinkError> {
        self.read_all(&schema::BLOCKS, content_records::block_from)
            .await
    }

    /// Every user row.
    pub async fn read_users(&self) -> Result<Vec<UserRecord>, SinkError> {
        self.read_all(&schema::USERS, content_records::user_from)
            .await
    }

    /// Every comment row.
    pub async fn read_comments(&self) -> Result<Vec<CommentRecord>, SinkError> {
        self.read_all(&schema::COMMENTS, content_records::comment_from)
            .await
    }

    /// Every reject.
    pub async fn read_rejects(&self) -> Result<Vec<RejectRecord>, SinkError> {
        let rows = self.scan(&schema::REJECTS, None).await?;
        Ok(rows.iter().map(|r| records::reject_from(r)).collect())
    }

    /// Every schema snapshot.
    pub async fn read_schemas(&self) -> Result<Vec<DatabaseRecord>, SinkError> {
        let rows = self.scan(&schema::DATABASES, None).await?;
        Ok(rows.iter().map(|r| records::database_from(r)).collect())
    }

    /// The latest version of a table (`None` when it does not exist).
    pub async fn table_version(&self, table: &str) -> Result<Option<u64>, SinkError> {
        Ok(self.handle(table).await?.version())
    }

    /// Where this lake's lease documents live (`None` when it takes no leases).
    pub fn lease_store(&self) -> Option<Arc<dyn super::lease::LeaseStore>> {
        self.leases.as_ref().map(Leases::store)
    }

    /// Takes no one-writer leases: for writers coordinated some other way. Delta's optimistic commits
    /// still keep every table consistent; only the guarantee that one run writes a database is gone.
    pub fn without_leases(mut self) -> Self {
        self.leases = None;
        self
    }

    /// URIs of the data files of `table`'s latest version.
    pub async fn data_file_uris(&self, table: &str) -> Result<Vec<String>, SinkError> {
        let delta = self.handle(table).await?;
        delta
            .get_file_uris()
            .map(Iterator::collect)
            .map_err(|e| self.fail(table, e))
    }

    /// The protocol of `table` as Databricks reads it: (min reader, min writer, reader and writer
    /// features).
    pub async fn protocol(&self, table: &str) -> Result<TableProtocol, SinkError> {
        let delta = self.handle(table).await?;
        let snapshot = delta.snapshot().map_err(|e| self.fail(table, e))?;
        let p = snapshot.protocol();
        fn names<F: std::fmt::Debug>(features: Option<&[F]>) -> Vec<String> {
            features
                .unwrap_or_default()
                .iter()
                .map(|f| format!("{f:?}"))
                .collect()
        }
        let timestamp_ntz = snapshot.schema().fields().any(|f| {
            matches!(
                f.data_type(),
                deltalake::kernel::DataType::Primitive(
                    deltalake::kernel::PrimitiveType::TimestampNtz
                )
            )
        });
        Ok(TableProtocol {
            min_reader: p.min_reader_version(),
            min_writer: p.min_writer_version(),
            features: [names(p.reader_features()), names(p.writer_features())].concat(),
            timestamp_ntz,
        })
    }
}

/// What a reader of a table must support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProtocol {
    /// `minReaderVersion`.
    pub min_reader: i32,
    /// `minWriterVersion`.
    pub min_writer: i32,
    /// Reader and writer table features.
    pub features: Vec<String>,
    /// Whether a column is a timestamp without time zone.
    pub timestamp_ntz: bool,
}

impl BronzeSink for DeltaSink {
    async fn copied_files(&self) -> Result<HashSet<String>, SinkError> {
        self.copied_keys().await
    }

    fn file_writer(&self, key: &str) -> Result<super::FileWriter, SinkError> {
        self.open_file_writer(key)
    }

    async fn record_files(&self, rows: Vec<crate::bronze::FileRecord>) -> Result<(), SinkError> {
        self.append_files(&rows).await
    }

    async fn init_tables(&self) -> Result<Vec<String>, SinkError> {
        let mut created = Vec::new();
        for spec in schema::ALL {
            let table = self.handle(spec.name).await?;
            if table.version().is_some() {
                let table = self.set_checkpoint_interval(table, &spec).await?;
                self.add_missing_columns(table, &spec).await?;
                continue;
            }
            let mut builder = table
                .create()
                .with_configuration_property(
                    TableProperty::CheckpointInterval,
                    Some(CHECKPOINT_INTERVAL.to_string()),
                )
                .with_columns(schema::delta_fields(&spec))
                .with_table_name(spec.name)
                .with_comment(spec.comment)
                .with_save_mode(SaveMode::Ignore);
            if let Some(p) = spec.partition {
                builder = builder.with_partition_columns([p]);
            }
            builder.await.map_err(|e| self.fail(spec.name, e))?;
            created.push(spec.name.to_string());
        }
        Ok(created)
    }

    async fn check_writable(&self) -> Result<(), SinkError> {
        match &self.root {
            Root::Local(dir) => {
                let location = |reason: String| SinkError::Location {
                    uri: self.uri.clone(),
                    reason,
                };
                std::fs::create_dir_all(dir)
                    .map_err(|e| location(format!("cannot create {}: {e}", dir.display())))?;
                let probe = dir.join(format!(".notion-sync-probe-{}", uuid::Uuid::new_v4()));
                std::fs::write(&probe, b"probe")
                    .map_err(|e| location(format!("cannot write in {}: {e}", dir.display())))?;
                std::fs::remove_file(&probe).map_err(|e| location(e.to_string()))?;
                Ok(())
            }
            Root::Remote(_) => {
                // Opened by `with_storage_options`, which every remote sink goes through.
                let store = self.remote.clone().ok_or_else(|| {
                    internal("lake", "object store not opened (with_storage_options)")
                })?;
                remote::probe(store.as_ref())
                    .await
                    .map_err(|e| self.fail("lake", e.into()))
            }
        }
    }

    async fn upsert_pages(&self, rows: Vec<PageRecord>) -> Result<UpsertStats, SinkError> {
        self.write_change(|index| plan_pages::plan_upsert(index, &rows))
            .await
    }

    async fn changed_pages(&self, rows: &[PageRecord]) -> Result<HashSet<String>, SinkError> {
        let guard = self.index().await?;
        Ok(guard
            .as_ref()
            .map(|index| plan_pages::plan_upsert(index, rows))
            .map(|change| change.rows.into_iter().map(|r| r.page_id).collect())
            .unwrap_or_default())
    }

    async fn replace_content(
        &self,
        content: Vec<PageContent>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        plan_entities::replace_content(self, content, at).await
    }

    async fn replace_users(
        &self,
        users: Vec<UserRecord>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        plan_entities::replace_users(self, users, at).await
    }

    async fn latest_schemas(&self) -> Result<HashMap<String, String>, SinkError> {
        let rows = self
            .scan(
                &schema::DATABASES,
                Some(&["data_source_id", "schema_sha256", "observed_at"]),
            )
            .await?;
        let mut latest: HashMap<String, (Option<DateTime<Utc>>, String)> = HashMap::new();
        for r in rows {
            let entry = latest.entry(r[0].text()).or_insert((None, String::new()));
            if r[2].ts() >= entry.0 {
                *entry = (r[2].ts(), r[1].text());
            }
        }
        Ok(latest
            .into_iter()
            .map(|(ds, (_, hash))| (ds, hash))
            .collect())
    }

    async fn record_schemas(&self, rows: Vec<DatabaseRecord>) -> Result<u64, SinkError> {
        let latest = self.latest_schemas().await?;
        let new: Vec<Vec<Cell>> = crate::sink::plan::new_schemas(&latest, &rows)
            .into_iter()
            .map(records::database_cells)
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let databases: Vec<&str> = rows.iter().map(|r| r.database_id.as_str()).collect();
        self.guard(&databases).await?;
        let spec = &schema::DATABASES;
        self.append(spec, &new, "notion-sync.record_schemas")
            .await?;
        Ok(new.len() as u64)
    }

    async fn load_watermarks(&self) -> Result<Vec<WatermarkRecord>, SinkError> {
        let rows = self.scan(&schema::WATERMARKS, None).await?;
        let mut out: Vec<WatermarkRecord> =
            rows.iter().map(|r| records::watermark_from(r)).collect();
        out.sort_by(|a, b| {
            (&a.database_id, &a.data_source_id).cmp(&(&b.database_id, &b.data_source_id))
        });
        Ok(out)
    }

    async fn save_watermark(&self, row: WatermarkRecord) -> Result<(), SinkError> {
        self.guard(&[row.database_id.as_str()]).await?;
        let spec = &schema::WATERMARKS;
        let batch = to_batch(spec, &[records::watermark_cells(&row)])
            .map_err(|e| internal(spec.name, e))?;
        let plan = MergePlan::upsert(spec, WATERMARK_ON.into());
        self.merge(spec, batch, &plan).await.map(|_| ())
    }

    async fn record_rejects(&self, rows: Vec<RejectRecord>) -> Result<u64, SinkError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let spec = &schema::REJECTS;
        let stored: HashSet<String> = self
            .scan(spec, Some(&["raw_sha256"]))
            .await?
            .into_iter()
            .map(|r| r[0].text())
            .collect();
        let new: Vec<Vec<Cell>> = crate::sink::plan::new_rejects(stored, &rows)
            .into_iter()
            .map(records::reject_cells)
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let databases: Vec<&str> = rows.iter().map(|r| r.database_id.as_str()).collect();
        self.guard(&databases).await?;
        self.append(spec, &new, "notion-sync.record_rejects")
            .await?;
        Ok(new.len() as u64)
    }

    async fn lock_database(&self, database_id: &str, run_id: &str) -> Result<(), SinkError> {
        // Object stores take no lease yet: Delta's optimistic commits and the guarded MERGE keep
        // concurrent runs correct; only the history table may then hold a version twice.
        match &self.leases {
            Some(leases) => leases.acquire(database_id, run_id).await,
            None => Ok(()),
        }
    }

    async fn unlock_database(&self, database_id: &str, run_id: &str) {
        if let Some(leases) = &self.leases {
            leases.release(database_id, run_id).await;
        }
    }

    async fn append_run(&self, row: RunRecord) -> Result<(), SinkError> {
        self.append(
            &schema::RUNS,
            &[records::run_cells(&row)],
            "notion-sync.append_run",
        )
        .await
        .map(|_| ())
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, SinkError> {
        let rows = self.scan(&schema::RUNS, None).await?;
        let mut runs: Vec<RunRecord> = rows.iter().map(|r| records::run_from(r)).collect();
        runs.sort_by(|a, b| {
            b.finished_at
                .cmp(&a.finished_at)
                .then(b.started_at.cmp(&a.started_at))
        });
        runs.truncate(limit);
        Ok(runs)
    }

    async fn page_counts(&self) -> Result<HashMap<String, PageCounts>, SinkError> {
        let rows = self
            .scan(&schema::PAGES, Some(&["database_id", "is_deleted"]))
            .await?;
        let mut counts: HashMap<String, PageCounts> = HashMap::new();
        for r in rows {
            let c = counts.entry(r[0].text()).or_default();
            if r[1].flag() {
                c.deleted += 1;
            } else {
                c.live += 1;
            }
        }
        Ok(counts)
    }

    async fn delete_candidates(
        &self,
        database_id: &str,
        listing: &HashMap<PageKey, super::Listed>,
        refetch_stale: bool,
    ) -> Result<super::Candidates, SinkError> {
        let states = self.page_states(database_id).await?;
        Ok(crate::sink::plan::delete_candidates(
            &states,
            listing,
            refetch_stale,
        ))
    }

    async fn flag_deleted(
        &self,
        database_id: &str,
        flags: Vec<(String, DeletedReason)>,
        at: DateTime<Utc>,
    ) -> Result<u64, SinkError> {
        self.write_change(|index| plan_pages::plan_flags(index, database_id, &flags, at))
            .await
            .map(|s| s.flagged)
    }
}

/// What `optimize` did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// Table name.
    pub table: String,
    /// Small files replaced.
    pub files_removed: u64,
    /// Compacted files written.
    pub files_added: u64,
    /// Files deleted by vacuum.
    pub files_vacuumed: u64,
    /// Table version afterwards.
    pub version: Option<u64>,
}

/// Page rows as one Arrow batch in the schema of `notion_raw_pages`.
pub fn pages_batch(rows: &[PageRecord]) -> Result<RecordBatch, String> {
    let cells: Vec<Vec<Cell>> = rows.iter().map(records::page_cells).collect();
    to_batch(&schema::PAGES, &cells)
}

/// After a commit: a committed change is applied to the index; after a failed one the index is dropped
/// (the table may hold rows this process did not write) and reloaded by the next call.
async fn settle<I>(index: &Mutex<Option<I>>, committed: bool, apply: impl FnOnce(&mut I)) {
    let mut guard = index.lock().await;
    match guard.as_mut() {
        Some(loaded) if committed => apply(loaded),
        _ => *guard = None,
    }
}

/// Pages of a change being committed, released (and waiters woken) when dropped, even if the commit's
/// future is dropped half-way.
struct Claim<'a> {
    sink: &'a DeltaSink,
    keys: Vec<PageKey>,
}

impl<'a> Claim<'a> {
    /// Claims `keys`, or `None` when another change is committing one of them.
    fn take(sink: &'a DeltaSink, keys: Vec<PageKey>) -> Option<Claim<'a>> {
        let mut in_flight = sink.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if keys.iter().any(|k| in_flight.contains(k)) {
            return None;
        }
        in_flight.extend(keys.iter().copied());
        Some(Claim { sink, keys })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .sink
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            in_flight.remove(k);
        }
        drop(in_flight);
        self.sink.committed.notify_waiters();
    }
}

/// Commit metadata key listing the sync runs whose rows a commit wrote.
pub const RUN_IDS_KEY: &str = "notion_sync.run_ids";

/// `[(RUN_IDS_KEY, [run ids])]` for the distinct `sync_run_id` values of `batch` (none when it has no such
/// column), so each table version can be traced to the runs that wrote it.
fn run_ids(batch: &RecordBatch) -> Vec<(String, serde_json::Value)> {
    use deltalake::arrow::array::{Array, AsArray};
    let Some(column) = batch.column_by_name("sync_run_id") else {
        return Vec::new();
    };
    let Some(values) = column.as_string_opt::<i32>() else {
        return Vec::new();
    };
    let ids: std::collections::BTreeSet<&str> = (0..values.len())
        .filter(|i| values.is_valid(*i))
        .map(|i| values.value(i))
        .collect();
    vec![(RUN_IDS_KEY.to_string(), serde_json::json!(ids))]
}

fn commit_props(operation: &str) -> CommitProperties {
    commit_props_with(operation, Vec::new())
}

/// Commit properties naming the operation and this engine, plus `extra` metadata.
fn commit_props_with(operation: &str, extra: Vec<(String, serde_json::Value)>) -> CommitProperties {
    CommitProperties::default().with_metadata(
        [
            ("operation_source".to_string(), serde_json::json!(operation)),
            (
                "engine".to_string(),
                serde_json::json!(concat!("notion-sync/", env!("CARGO_PKG_VERSION"))),
            ),
        ]
        .into_iter()
        .chain(extra),
    )
}

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
            }
    )
}

fn internal(table: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Internal {
        table: table.to_string(),
        reason: crate::config::scrub_secrets(e.to_string()),
    }
}

fn map_err(table: &str, e: DeltaTableError, reason: String) -> SinkError {
    match e {
        DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } => SinkError::Transient {
            table: table.to_string(),
            reason,
        },
        e if is_conflict(&e) => SinkError::Conflict {
            table: table.to_string(),
            reason,
        },
        DeltaTableError::Transaction {
            source: TransactionError::ObjectStore { .. },
        } => SinkError::Transient {
            table: table.to_string(),
            reason,
        },
        _ => SinkError::Internal {
            table: table.to_string(),
            reason,
        },
    }
}

#[cfg(test)]
mod tests;

impl plan_entities::EntityWriter for DeltaSink {
    /// Plans rows of a content table replacing `groups`, and commits them like [`Self::write_change`].
    async fn write_entities(
        &self,
        keyed: &'static Keyed,
        rows: Vec<Vec<Cell>>,
        groups: &[Group<'_>],
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        let index = self
            .entity_indexes
            .get(keyed.spec.name)
            .ok_or_else(|| internal(keyed.spec.name, "no index"))?;
        let (change, _claim) = self
            .plan_claimed(
                index,
                || self.load_entities(keyed),
                |idx| plan_entities::plan(keyed, idx, &rows, groups, at),
                |c: &EntityChange| c.groups.clone(),
            )
            .await?;
        let result = self.commit_entities(keyed, &change).await;
        settle(index, result.is_ok(), |idx| idx.apply(&change)).await;
        result.map(|()| ContentStats {
            written: change.inserted + change.updated,
            unchanged: change.unchanged,
            flagged: change.flags.len() as u64,
        })
    }
}
