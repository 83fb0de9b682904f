//! The writer half of a data source's read: group commits of the batches the query loop hands over, and
//! watermark saves after confirmed commits.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use futures::StreamExt;

use super::SyncError;
use super::content::{ContentOptions, read_page_content};
use super::source::{Partition, SourceJob, SourceOutcome, start_bound};
use crate::bronze::{ContentCounts, PageRecord, RejectRecord, WatermarkRecord};
use crate::notion::{Client, RequestStats};
use crate::sink::BronzeSink;

/// Pages whose content is read at once.
const CONTENT_CONCURRENCY: usize = 16;

/// Pages whose content is stored in one commit (and held in memory at once).
const CONTENT_CHUNK_PAGES: usize = 500;

/// Batches the fetcher may run ahead of the writer; also the most a group commit takes at once.
pub const GROUP_BATCHES: usize = 8;

/// What the fetcher hands the writer: completed rows, and the query results among them that cannot be
/// stored as pages.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Rows to upsert.
    pub rows: Vec<PageRecord>,
    /// Results for the reject table.
    pub rejects: Vec<RejectRecord>,
}

impl Chunk {
    /// An empty chunk with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Chunk {
        Chunk {
            rows: Vec::with_capacity(rows),
            rejects: Vec::new(),
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.rejects.is_empty()
    }

    fn extend(&mut self, other: Chunk) {
        self.rows.extend(other.rows);
        self.rejects.extend(other.rejects);
    }
}

/// Commits batches as they arrive and advances the watermark after confirmed commits: at most every
/// `watermark_interval` of the job's [`Pacing`](super::Pacing), and once at the end. Rejects are stored
/// with the batch they arrived in, before any watermark save that covers it.
pub async fn write_batches<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
    mut rx: mpsc::Receiver<Chunk>,
    completed: &std::sync::OnceLock<Option<DateTime<Utc>>>,
) -> (SourceOutcome, Option<SyncError>) {
    let mut outcome = SourceOutcome {
        watermark: job.watermark,
        query_started_at: job.query_started_at,
        ..SourceOutcome::default()
    };
    // Greatest `last_edited_time` committed, and when the watermark was last saved.
    let mut committed = job.watermark;
    let mut saved_at = std::time::Instant::now();
    let mut last_commit = tokio::time::Instant::now();
    // Keys of the hosted files copied so far (read from the lake at the first batch that has any).
    let mut copied: Option<HashSet<String>> = None;
    while let Some(batch) = rx.recv().await {
        let Chunk { rows, rejects } = group(batch, &mut rx, &job.pacing, last_commit).await;
        last_commit = tokio::time::Instant::now();
        let batch_max = rows.iter().map(|r| r.last_edited_time).max();
        if !rejects.is_empty() {
            outcome.counts.rejected += rejects.len() as i64;
            if let Err(e) = sink.record_rejects(rejects).await {
                return (outcome, Some(e.into()));
            }
        }
        if rows.is_empty() {
            continue;
        }
        crate::pause::point("write.batch").await;
        let mut files = Vec::new();
        if let Some(opts) = job.content {
            // Content lands before its page row: a crash in between re-reads it on the rerun.
            match write_content(client, sink, job, &rows, opts, &mut files).await {
                Ok(c) => outcome.counts.content.add(c),
                Err(e) => return (outcome, Some(e)),
            }
        }
        if job.files {
            // So do the copies of hosted files, while their URLs are fresh.
            if let Err(e) = copy_files(client, sink, job, &rows, files, &mut copied).await {
                return (outcome, Some(e));
            }
        }
        let stats = match sink.upsert_pages(rows).await {
            Ok(s) => s,
            Err(e) => return (outcome, Some(e.into())),
        };
        outcome.counts.inserted += stats.inserted as i64;
        outcome.counts.updated += stats.updated as i64;
        outcome.counts.unchanged += stats.unchanged as i64;
        outcome.counts.soft_deleted += stats.flagged as i64;
        committed = committed.max(batch_max);
        if saved_at.elapsed() >= job.pacing.watermark_interval {
            let started = outcome.query_started_at;
            if let Err(e) = save_watermark(sink, job, &mut outcome, committed, started).await {
                return (outcome, Some(e));
            }
            saved_at = std::time::Instant::now();
        }
    }
    // The channel closed: the fetcher is done, and `completed` says whether it read everything.
    let started = match completed.get() {
        Some(Some(started)) => Some(*started),
        _ => outcome.query_started_at,
    };
    match save_watermark(sink, job, &mut outcome, committed, started).await {
        Ok(()) => (outcome, None),
        Err(e) => (outcome, Some(e)),
    }
}

/// Reads and stores the content of the pages of `rows` that this commit inserts or updates (every page on
/// a full refresh).
async fn write_content<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
    rows: &[PageRecord],
    opts: ContentOptions,
    files: &mut Vec<super::files::HostedFile>,
) -> Result<ContentCounts, SyncError> {
    let wanted: Vec<&PageRecord> = if job.full_refresh {
        rows.iter().collect()
    } else {
        let changed = sink.changed_pages(rows).await?;
        rows.iter()
            .filter(|r| changed.contains(&r.page_id))
            .collect()
    };
    let mut counts = ContentCounts {
        pages: wanted.len() as i64,
        ..ContentCounts::default()
    };
    // A chunk of pages at a time: what is held in memory is bounded by the chunk, not the group commit.
    for chunk in wanted.chunks(CONTENT_CHUNK_PAGES) {
        let before = RequestStats::get(&job.stats.content_requests) as i64;
        let reads: Vec<_> = futures::stream::iter(chunk)
            .map(|row| read_page_content(client, &job.ctx, &row.page_id, opts, job.stats))
            .buffered(CONTENT_CONCURRENCY)
            .collect()
            .await;
        let mut content = Vec::with_capacity(reads.len());
        for read in reads {
            let read = read?;
            counts.depth_cuts += read.cut as i64;
            if job.files {
                let hosted = read
                    .content
                    .blocks
                    .iter()
                    .filter(|b| crate::notion::files::may_hold_hosted(&b.payload));
                files.extend(hosted.filter_map(|b| {
                    let payload: serde_json::Value = serde_json::from_str(&b.payload).ok()?;
                    super::files::in_block(&b.page_id, &payload)
                }));
            }
            content.push(read.content);
        }
        let measured = ContentCounts {
            pages: chunk.len() as i64,
            requests: RequestStats::get(&job.stats.content_requests) as i64 - before,
            ..ContentCounts::default()
        };
        counts.requests += measured.requests;
        announce_backfill(job, &measured);
        job.progress.requests(
            RequestStats::get(&job.stats.requests),
            RequestStats::get(&job.stats.throttled),
        );
        crate::pause::point("write.content").await;
        let stored = sink.replace_content(content, chrono::Utc::now()).await?;
        counts.written += stored.written as i64;
        counts.deleted += stored.flagged as i64;
    }
    Ok(counts)
}

/// Copies the hosted files of `rows` (their properties, icons, covers) and `in_content` that are not
/// copied yet.
async fn copy_files<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
    rows: &[PageRecord],
    in_content: Vec<super::files::HostedFile>,
    copied: &mut Option<HashSet<String>>,
) -> Result<(), SyncError> {
    let mut found = in_content;
    let hosted = |text: &str| crate::notion::files::may_hold_hosted(text);
    for r in rows.iter().filter(|r| !r.is_deleted && hosted(&r.payload)) {
        if let Ok(page) = serde_json::from_str::<serde_json::Value>(&r.payload) {
            found.extend(super::files::in_page(&r.page_id, &page));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let known = match copied {
        Some(k) => k,
        None => copied.insert(sink.copied_files().await?),
    };
    super::files::copy(client, sink, job, found, known).await?;
    Ok(())
}

/// Pages above which a content backfill announces what it will cost.
const ANNOUNCED_BACKFILL: u64 = 1_000;

/// Before the rest of a large content backfill: the requests it will take, from the pages it reads and the
/// requests per page measured on its first batch, and the time that costs at the token's budget. Said
/// once per data source and process.
fn announce_backfill(job: &SourceJob<'_>, first: &ContentCounts) {
    static ANNOUNCED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Some(pages) = job.backfill_pages.filter(|p| *p > ANNOUNCED_BACKFILL) else {
        return;
    };
    {
        let mut said = ANNOUNCED.lock().unwrap_or_else(|e| e.into_inner());
        if said.contains(&job.ctx.data_source_id) {
            return;
        }
        said.push(job.ctx.data_source_id.clone());
    }
    let per_page = first.requests as f64 / first.pages.max(1) as f64;
    let requests = (pages as f64 * per_page).ceil() as u64;
    let minutes = requests as f64 / f64::from(job.requests_per_minute.max(1));
    eprintln!(
        "content backfill of {}: {pages} pages × {per_page:.1} requests per page (measured on the first {}) ≈ \
         {requests} requests, about {minutes:.0} minutes at {} requests per minute",
        job.ctx.database_name, first.pages, job.requests_per_minute
    );
    tracing::info!(database = %job.ctx.database_name, pages, per_page, requests, minutes,
        "content backfill: expected requests");
}

/// Group commit: a batch is joined by the batches that arrive until `commit_interval` has passed since the
/// previous commit (or [`GROUP_BATCHES`] are together, or the fetcher is done). Every commit has a fixed
/// cost in both tables' logs, so a fast fetcher gets fewer, larger commits, and a slow one still has its
/// pages committed as they come.
async fn group(
    mut batch: Chunk,
    rx: &mut mpsc::Receiver<Chunk>,
    pacing: &super::Pacing,
    last_commit: tokio::time::Instant,
) -> Chunk {
    if pacing.commit_interval.is_zero() {
        return batch;
    }
    let full = GROUP_BATCHES * pacing.batch_pages.max(1);
    let deadline = last_commit + pacing.commit_interval;
    while batch.rows.len() < full {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(more)) => batch.extend(more),
            Ok(None) | Err(_) => break,
        }
    }
    batch
}

/// Saves the watermark row when the next run's start would move: `committed` is past the saved
/// watermark, or `started` moves the clock bound to a later minute. Only the default partition has one.
async fn save_watermark<S: BronzeSink>(
    sink: &S,
    job: &SourceJob<'_>,
    outcome: &mut SourceOutcome,
    committed: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
) -> Result<(), SyncError> {
    let bound = |started| start_bound(None, started, job.lookback);
    let moved = committed != outcome.watermark || bound(started) > bound(outcome.query_started_at);
    if job.partition != Partition::Default || !moved {
        return Ok(());
    }
    crate::pause::point("write.before_watermark").await;
    sink.save_watermark(watermark_row(job, committed, started))
        .await?;
    outcome.watermark = committed;
    outcome.query_started_at = started;
    Ok(())
}

/// The watermark row for this source.
pub fn watermark_row(
    job: &SourceJob<'_>,
    watermark: Option<DateTime<Utc>>,
    query_started_at: Option<DateTime<Utc>>,
) -> WatermarkRecord {
    WatermarkRecord {
        database_id: job.ctx.database_id.clone(),
        data_source_id: job.ctx.data_source_id.clone(),
        database_name: job.ctx.database_name.clone(),
        watermark,
        last_full_refresh_at: job.last_full_refresh_at,
        last_run_id: job.ctx.run_id.clone(),
        updated_at: Utc::now(),
        query_started_at,
    }
}
