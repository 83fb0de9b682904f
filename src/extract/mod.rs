//! Extraction: for each configured database, resolve its data sources, snapshot their schemas, read pages
//! changed since the watermark and hand them to the sink. Databases run concurrently under the one token
//! budget; each gets a run row in `notion_sync_runs` whatever happens.

pub mod content;
pub mod convert;
pub mod deletes;
pub mod files;
pub mod hydrate;
pub mod resolve;
pub mod source;
pub mod writer;

#[cfg(test)]
mod fuzz_tests;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::bronze::{RunRecord, RunStatus, SyncMode, WatermarkRecord};
use crate::config::DatabaseConfig;
use crate::notion::{ApiVersion, Client, ErrorClass, NotionError, RequestStats};
use crate::progress::Progress;
use crate::sink::{BronzeSink, SinkError};
use convert::RowContext;
use source::{Partition, SourceJob, sync_source};
use writer::watermark_row;

/// Why a database's sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Notion refused or kept failing.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// The sink could not commit.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Notion returned something this connector cannot store safely.
    #[error("unexpected payload: {0}")]
    Payload(String),
    /// The database synced, but its run row could not be recorded: the audit trail would miss it.
    #[error("the run row could not be written to notion_sync_runs: {0}")]
    Audit(SinkError),
    /// The workspace's users, asked for by this database, could not be synced.
    #[error("the workspace's users could not be synced: {message}")]
    Users {
        /// Fault class of the failure.
        class: ErrorClass,
        /// What failed.
        message: String,
    },
}

impl SyncError {
    /// Fault class, for the exit code and the run row.
    pub fn class(&self) -> ErrorClass {
        match self {
            SyncError::Notion(e) => e.class,
            SyncError::Sink(e) | SyncError::Audit(e) => e.class(),
            SyncError::Payload(_) => ErrorClass::Internal,
            SyncError::Users { class, .. } => *class,
        }
    }
}

/// Row counts of one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Pages received.
    pub fetched: i64,
    /// Rows inserted.
    pub inserted: i64,
    /// Rows updated.
    pub updated: i64,
    /// Rows unchanged.
    pub unchanged: i64,
    /// Query restarts (expired cursor, result cap).
    pub restarts: i64,
    /// Rows newly flagged deleted.
    pub soft_deleted: i64,
    /// Results kept in the reject table.
    pub rejected: i64,
    /// Page content read and written.
    pub content: crate::bronze::ContentCounts,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.fetched += o.fetched;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.restarts += o.restarts;
        self.soft_deleted += o.soft_deleted;
        self.rejected += o.rejected;
        self.content.add(o.content);
    }
}

/// What to sync.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    /// Databases, already validated.
    pub databases: Vec<DatabaseConfig>,
    /// Ignore watermarks and re-read everything (both partitions), then flag what vanished.
    pub full_refresh: bool,
    /// On incremental runs, list every id (both partitions) and flag what vanished.
    pub detect_deletes: bool,
    /// Run id shared by every database.
    pub run_id: String,
    /// Overlap before the watermark.
    pub lookback: std::time::Duration,
    /// Batch sizes and how often commits and watermark saves happen.
    pub pacing: Pacing,
    /// Databases at once.
    pub concurrency: usize,
    /// Deepest block level a content read descends to (`None`: no cap).
    pub content_depth: Option<usize>,
    /// The token's request budget per minute, for cost estimates.
    pub requests_per_minute: u32,
}

/// How a data source's read is cut into commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Pages the fetcher hands to the writer at a time.
    pub batch_pages: usize,
    /// The shortest time between two commits of a data source: batches arriving within it are committed
    /// together. Zero commits every batch on its own.
    pub commit_interval: std::time::Duration,
    /// The longest time between two watermark saves of a long read (a crash re-reads at most this much).
    /// Zero saves after every commit.
    pub watermark_interval: std::time::Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            batch_pages: 1000,
            commit_interval: std::time::Duration::from_millis(250),
            watermark_interval: std::time::Duration::from_secs(10),
        }
    }
}

/// The result of one database.
#[derive(Debug)]
pub struct DatabaseOutcome {
    /// The database.
    pub database: DatabaseConfig,
    /// Its run row (already appended to the runs table when possible).
    pub run: RunRecord,
    /// The error that stopped it.
    pub error: Option<SyncError>,
}

/// Syncs every database of the plan; never fails as a whole: each outcome carries its own error.
///
/// The plan's databases are locked first, all or none (in id order, so two runs cannot each take a part):
/// a second run on the same lake fails with `SinkError::Busy` naming the first, before any request.
pub async fn sync_all<S: BronzeSink>(
    client: &Client,
    sink: &S,
    plan: &SyncPlan,
    progress: &Progress,
) -> Vec<DatabaseOutcome> {
    let fail_all = |e: SinkError| -> Vec<DatabaseOutcome> {
        plan.databases
            .iter()
            .map(|db| failed_before_start(db, plan, client.api_version(), e.clone()))
            .collect()
    };
    let mut ids: Vec<&str> = plan.databases.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut locked: Vec<&str> = Vec::new();
    for id in &ids {
        if let Err(e) = sink.lock_database(id, &plan.run_id).await {
            for held in &locked {
                sink.unlock_database(held, &plan.run_id).await;
            }
            return fail_all(e);
        }
        locked.push(id);
    }
    let users = sync_users(client, sink, plan).await;
    let mut outcomes = match sink.load_watermarks().await {
        // Without watermarks nothing can run safely; report the same error for every database.
        Err(e) => fail_all(e),
        Ok(rows) => {
            let watermarks: HashMap<(String, String), WatermarkRecord> = rows
                .into_iter()
                .map(|w| ((w.database_id.clone(), w.data_source_id.clone()), w))
                .collect();
            futures::stream::iter(plan.databases.iter())
                .map(|db| sync_database(client, sink, plan, db, &watermarks, progress))
                .buffer_unordered(plan.concurrency.max(1))
                .collect()
                .await
        }
    };
    for held in &locked {
        sink.unlock_database(held, &plan.run_id).await;
    }
    if let Some((class, message)) = users {
        for o in outcomes
            .iter_mut()
            .filter(|o| o.database.include.users && o.error.is_none())
        {
            o.error = Some(SyncError::Users {
                class,
                message: message.clone(),
            });
        }
    }
    outcomes
}

/// Reads the workspace's users once when any database asks for them; returns the failure, if any, for
/// the databases that asked.
async fn sync_users<S: BronzeSink>(
    client: &Client,
    sink: &S,
    plan: &SyncPlan,
) -> Option<(ErrorClass, String)> {
    if !plan.databases.iter().any(|d| d.include.users) {
        return None;
    }
    let stats = RequestStats::default();
    let now = Utc::now();
    let result = async {
        let users = content::read_users(client, &plan.run_id, now, &stats).await?;
        sink.replace_users(users, now).await?;
        Ok::<_, SyncError>(())
    }
    .await;
    match result {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(error = %e, "the workspace's users could not be synced");
            Some((e.class(), e.to_string()))
        }
    }
}

fn failed_before_start(
    db: &DatabaseConfig,
    plan: &SyncPlan,
    v: ApiVersion,
    error: SinkError,
) -> DatabaseOutcome {
    let now = Utc::now();
    let mut run = empty_run(db, plan, v, now);
    run.status = RunStatus::Failed;
    run.error_class = Some(error.class().as_str().into());
    run.error_message = Some(error.to_string());
    DatabaseOutcome {
        database: db.clone(),
        run,
        error: Some(SyncError::Sink(error)),
    }
}

fn empty_run(
    db: &DatabaseConfig,
    plan: &SyncPlan,
    v: ApiVersion,
    started_at: DateTime<Utc>,
) -> RunRecord {
    RunRecord {
        run_id: plan.run_id.clone(),
        database_name: db.name.clone(),
        database_id: db.id.clone(),
        started_at,
        finished_at: started_at,
        status: RunStatus::Succeeded,
        mode: if plan.full_refresh {
            SyncMode::FullRefresh
        } else {
            SyncMode::Incremental
        },
        fetched: 0,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        soft_deleted: 0,
        hydration_requests: 0,
        api_requests: 0,
        throttled_429: 0,
        retries: 0,
        restarts: 0,
        rejected: 0,
        wait_ms: 0,
        content: Default::default(),
        watermark_before: None,
        watermark_after: None,
        error_class: None,
        error_message: None,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: v.as_str().to_string(),
    }
}

async fn sync_database<S: BronzeSink>(
    client: &Client,
    sink: &S,
    plan: &SyncPlan,
    db: &DatabaseConfig,
    watermarks: &HashMap<(String, String), WatermarkRecord>,
    progress: &Progress,
) -> DatabaseOutcome {
    let started_at = Utc::now();
    let stats = RequestStats::default();
    let bar = progress.database(&db.name);
    let mut run = empty_run(db, plan, client.api_version(), started_at);
    let mut counts = Counts::default();
    let result = read_database(
        client,
        sink,
        plan,
        db,
        watermarks,
        &stats,
        &bar,
        &mut run,
        &mut counts,
    )
    .await;
    run.finished_at = Utc::now();
    run.fetched = counts.fetched;
    run.inserted = counts.inserted;
    run.updated = counts.updated;
    run.unchanged = counts.unchanged;
    run.restarts = counts.restarts;
    run.soft_deleted = counts.soft_deleted;
    run.rejected = counts.rejected;
    run.content = counts.content;
    run.content.requests = RequestStats::get(&stats.content_requests) as i64;
    run.wait_ms = RequestStats::get(&stats.wait_ms) as i64;
    run.api_requests = RequestStats::get(&stats.requests) as i64;
    run.throttled_429 = RequestStats::get(&stats.throttled) as i64;
    run.retries = RequestStats::get(&stats.retries) as i64;
    run.hydration_requests = RequestStats::get(&stats.hydration_requests) as i64;
    if run.watermark_after.is_none() {
        run.watermark_after = run.watermark_before;
    }
    let mut error = result.err();
    match &error {
        Some(e) => {
            run.status = RunStatus::Failed;
            run.error_class = Some(e.class().as_str().to_string());
            run.error_message = Some(e.to_string());
            bar.fail(&e.to_string());
        }
        None if counts.inserted
            + counts.updated
            + counts.soft_deleted
            + counts.content.written
            + counts.content.deleted
            == 0 =>
        {
            run.status = RunStatus::Unchanged
        }
        None => run.status = RunStatus::Succeeded,
    }
    if error.is_none() {
        bar.finish(counts.fetched as u64);
    }
    crate::pause::point("run.before_audit").await;
    if let Err(e) = sink.append_run(run.clone()).await {
        tracing::error!(database = %db.name, error = %e, "could not record the run row");
        // The data landed, but an operator must learn that its audit row is missing.
        error = error.or(Some(SyncError::Audit(e)));
    }
    DatabaseOutcome {
        database: db.clone(),
        run,
        error,
    }
}

/// Reads every data source of `db`: pages since the watermark (everything on a full refresh, or when the
/// data source's schema changed, because renames and removals rewrite pages without touching their
/// `last_edited_time`), then, on a full refresh or with delete detection, reconciles what vanished.
/// A schema snapshot is recorded only once its data source was read completely, so a crash before that
/// repeats the re-read.
#[allow(clippy::too_many_arguments)]
async fn read_database<S: BronzeSink>(
    client: &Client,
    sink: &S,
    plan: &SyncPlan,
    db: &DatabaseConfig,
    watermarks: &HashMap<(String, String), WatermarkRecord>,
    stats: &RequestStats,
    bar: &crate::progress::DbProgress,
    run: &mut RunRecord,
    counts: &mut Counts,
) -> Result<(), SyncError> {
    let started_at = run.started_at;
    // Incremental runs reuse the data sources earlier runs found; full refreshes and delete detection
    // read the database again, so a data source added to it is picked up there.
    let known: Vec<String> = watermarks
        .keys()
        .filter(|(d, _)| *d == db.id)
        .map(|(_, ds)| ds.clone())
        .collect();
    let reuse = !plan.full_refresh && !plan.detect_deletes;
    let sources = resolve::resolve_sources(
        client,
        db,
        reuse.then_some(known.as_slice()),
        &plan.run_id,
        started_at,
        stats,
    )
    .await?;
    let schemas = sink.latest_schemas().await?;
    let ctx = RowContext {
        database_id: db.id.clone(),
        data_source_id: db.id.clone(),
        database_name: db.name.clone(),
        api_version: client.api_version(),
        run_id: plan.run_id.clone(),
        synced_at: started_at,
    };
    let mut listing = deletes::Listing::new();
    let mut refreshed: Vec<WatermarkRecord> = Vec::new();
    for src in &sources {
        let previous = watermarks.get(&(db.id.clone(), src.data_source_id.clone()));
        let before = previous.and_then(|w| w.watermark);
        run.watermark_before = run.watermark_before.max(before);
        let reshaped = schemas.get(&src.data_source_id) != Some(&src.snapshot.schema_sha256);
        if reshaped && before.is_some() && !plan.full_refresh {
            tracing::info!(database = %db.name, data_source = %src.data_source_id,
                "schema changed since the last run; re-reading the data source");
        }
        let mut job = SourceJob {
            ctx: RowContext {
                data_source_id: src.data_source_id.clone(),
                ..ctx.clone()
            },
            watermark: before,
            last_full_refresh_at: previous.and_then(|w| w.last_full_refresh_at),
            query_started_at: previous.and_then(|w| w.query_started_at),
            full_refresh: plan.full_refresh || reshaped,
            partition: Partition::Default,
            lookback: plan.lookback,
            pacing: plan.pacing,
            stats,
            progress: bar,
            content: db
                .include
                .reads_content()
                .then_some(content::ContentOptions {
                    depth_cap: plan.content_depth,
                    comments: db.include.comments,
                }),
            backfill_pages: None,
            requests_per_minute: plan.requests_per_minute,
            files: db.include.files,
        };
        if job.content.is_some() && (job.full_refresh || before.is_none()) {
            job.backfill_pages = Some(backfill_size(client, sink, &job).await?);
        }
        let (outcome, error) = sync_source(client, sink, &job).await;
        counts.add(outcome.counts);
        run.watermark_after = run.watermark_after.max(outcome.watermark);
        if let Some(e) = error {
            return Err(e);
        }
        let (watermark, started) = (outcome.watermark, outcome.query_started_at);
        list(&mut listing, outcome.seen);
        // Archived pages come only from their own partition: read it on full refreshes, on a data
        // source's first run (so a new bronze table starts complete) and after a schema change.
        if plan.full_refresh || before.is_none() || reshaped {
            job.partition = Partition::Archived;
            job.full_refresh = true;
            let (outcome, error) = sync_source(client, sink, &job).await;
            counts.add(outcome.counts);
            if let Some(e) = error {
                return Err(e);
            }
            list(&mut listing, outcome.seen);
        }
        if plan.full_refresh {
            refreshed.push(watermark_row(&job, watermark, started));
        } else if plan.detect_deletes {
            for partition in [Partition::Default, Partition::Archived] {
                job.partition = partition;
                let (seen, restarts) = source::scan_ids(client, &job).await?;
                counts.restarts += restarts;
                list(&mut listing, seen);
            }
        }
        crate::pause::point("source.before_schema").await;
        if reshaped {
            sink.record_schemas(vec![src.snapshot.clone()]).await?;
        }
    }
    if plan.full_refresh || plan.detect_deletes {
        crate::pause::point("deletes.before").await;
        let found =
            deletes::reconcile(client, sink, &ctx, &listing, !plan.full_refresh, stats).await?;
        counts.add(found);
    }
    crate::pause::point("refresh.before_watermarks").await;
    let now = Utc::now();
    for mut row in refreshed {
        row.last_full_refresh_at = Some(now);
        row.updated_at = now;
        sink.save_watermark(row).await?;
    }
    Ok(())
}

/// Pages a content backfill of `job`'s data source reads: those bronze holds for its database, or, for a
/// database new to bronze, a listing of its ids (one request per 100 pages).
async fn backfill_size<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
) -> Result<u64, SyncError> {
    let stored = sink
        .page_counts()
        .await?
        .get(&job.ctx.database_id)
        .map_or(0, |c| c.live);
    if stored > 0 {
        return Ok(stored);
    }
    let (seen, _) = source::scan_ids(client, job).await?;
    Ok(seen.len() as u64)
}

fn list(listing: &mut deletes::Listing, seen: Vec<source::Seen>) {
    for s in seen {
        listing.insert(s.page, s);
    }
}
