//! One data source: query pages since the watermark, commit them in batches, advance the watermark.
//!
//! Fetching and committing overlap: the query loop fills batches and hands them to the writer through a
//! bounded channel, so the next Notion page is fetched while the previous batch is merged. The watermark is
//! saved only after the sink confirmed the batch, and results come sorted by `last_edited_time` ascending,
//! so a crash at any point re-reads at most the uncommitted tail (the merge makes that re-read a no-op).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::convert::{page_record, RowContext};
use super::{Counts, SyncError};
use crate::bronze::{PageRecord, WatermarkRecord};
use crate::notion::model::ListPage;
use crate::notion::{Client, RequestStats};
use crate::progress::DbProgress;
use crate::sink::BronzeSink;

/// Inputs for syncing one data source.
pub struct SourceJob<'a> {
    /// Row lineage.
    pub ctx: RowContext,
    /// Stored watermark, if any.
    pub watermark: Option<DateTime<Utc>>,
    /// Stored time of the last completed full refresh, kept when the watermark moves.
    pub last_full_refresh_at: Option<DateTime<Utc>>,
    /// Re-read everything.
    pub full_refresh: bool,
    /// Overlap before the watermark.
    pub lookback: std::time::Duration,
    /// Pages per commit.
    pub batch_pages: usize,
    /// Request counters of the database.
    pub stats: &'a RequestStats,
    /// Progress display.
    pub progress: &'a DbProgress,
}

/// What one data source's sync did.
#[derive(Debug, Default)]
pub struct SourceOutcome {
    /// Row counts.
    pub counts: Counts,
    /// Watermark after the run.
    pub watermark: Option<DateTime<Utc>>,
}

/// Syncs one data source. On error, the batches committed before it stay committed and the watermark
/// reflects exactly them.
pub async fn sync_source<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
) -> (SourceOutcome, Option<SyncError>) {
    let (tx, rx) = mpsc::channel::<Vec<PageRecord>>(2);
    let start_at = if job.full_refresh {
        None
    } else {
        job.watermark.map(|w| {
            w - ChronoDuration::from_std(job.lookback).unwrap_or(ChronoDuration::minutes(5))
        })
    };
    let fetch = fetch_pages(client, job, start_at, tx);
    let write = write_batches(sink, job, rx);
    let ((fetched, restarts, fetch_err), (mut outcome, write_err)) = tokio::join!(fetch, write);
    outcome.counts.fetched = fetched;
    outcome.counts.restarts = restarts;
    // A writer failure stops the fetcher (its channel closes), so report the writer's error first.
    (outcome, write_err.or(fetch_err))
}

fn query_path(client: &Client, data_source_id: &str) -> String {
    if client.api_version().has_data_sources() {
        format!("/v1/data_sources/{data_source_id}/query")
    } else {
        format!("/v1/databases/{data_source_id}/query")
    }
}

fn query_body(since: Option<DateTime<Utc>>, cursor: Option<&str>) -> Value {
    let mut body = json!({
        "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
        "page_size": 100,
    });
    if let Some(since) = since {
        body["filter"] = json!({
            "timestamp": "last_edited_time",
            "last_edited_time": {"on_or_after": since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)},
        });
    }
    if let Some(cursor) = cursor {
        body["start_cursor"] = json!(cursor);
    }
    body
}

/// Pages through the query; returns (pages fetched, query restarts, error).
async fn fetch_pages(
    client: &Client,
    job: &SourceJob<'_>,
    start_at: Option<DateTime<Utc>>,
    tx: mpsc::Sender<Vec<PageRecord>>,
) -> (i64, i64, Option<SyncError>) {
    let path = query_path(client, &job.ctx.data_source_id);
    let mut since = start_at;
    let mut cursor: Option<String> = None;
    let mut max_seen: Option<DateTime<Utc>> = None;
    let mut buffer: Vec<PageRecord> = Vec::with_capacity(job.batch_pages);
    let (mut fetched, mut restarts) = (0i64, 0i64);
    loop {
        let body = query_body(since, cursor.as_deref());
        let page: ListPage = match client
            .post_read(&path, &body, Some(&job.ctx.data_source_id), job.stats)
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_invalid_cursor() && cursor.is_some() => {
                // The cursor expired: start a new query at the last position seen; nothing is skipped
                // because the lower bound is inclusive and rows are merged idempotently.
                tracing::warn!(database = %job.ctx.database_name, "query cursor rejected; restarting the query");
                restarts += 1;
                cursor = None;
                since = max_seen.or(since);
                continue;
            }
            Err(e) => return (fetched, restarts, Some(e.into())),
        };
        job.progress.requests(
            RequestStats::get(&job.stats.requests),
            RequestStats::get(&job.stats.throttled),
        );
        for raw in &page.results {
            match page_record(raw, &job.ctx) {
                Ok(Some(row)) => {
                    max_seen = max_seen.max(Some(row.last_edited_time));
                    buffer.push(row);
                    fetched += 1;
                }
                Ok(None) => {}
                Err(message) => return (fetched, restarts, Some(SyncError::Payload(message))),
            }
        }
        job.progress.pages(fetched as u64);
        if buffer.len() >= job.batch_pages && tx.send(std::mem::take(&mut buffer)).await.is_err() {
            return (fetched, restarts, None);
        }
        if page.is_capped() {
            // Notion stops a query at its result cap without an error: continue with a new query bounded
            // below by the last timestamp seen.
            if max_seen.is_none() || max_seen == since {
                return (
                    fetched,
                    restarts,
                    Some(SyncError::Payload(format!(
                        "more rows than Notion's per-query result cap share last_edited_time {}; \
                         run a full refresh with a smaller lookback",
                        max_seen.map(|t| t.to_rfc3339()).unwrap_or_default()
                    ))),
                );
            }
            restarts += 1;
            since = max_seen;
            cursor = None;
            continue;
        }
        match (page.has_more, page.next_cursor) {
            (true, Some(next)) => cursor = Some(next),
            _ => break,
        }
    }
    if !buffer.is_empty() && tx.send(buffer).await.is_err() {
        return (fetched, restarts, None);
    }
    (fetched, restarts, None)
}

/// Commits batches as they arrive and advances the watermark after each confirmed commit.
async fn write_batches<S: BronzeSink>(
    sink: &S,
    job: &SourceJob<'_>,
    mut rx: mpsc::Receiver<Vec<PageRecord>>,
) -> (SourceOutcome, Option<SyncError>) {
    let mut outcome = SourceOutcome {
        watermark: job.watermark,
        ..SourceOutcome::default()
    };
    while let Some(batch) = rx.recv().await {
        let batch_max = batch.iter().map(|r| r.last_edited_time).max();
        let stats = match sink.upsert_pages(batch).await {
            Ok(s) => s,
            Err(e) => return (outcome, Some(e.into())),
        };
        outcome.counts.inserted += stats.inserted as i64;
        outcome.counts.updated += stats.updated as i64;
        outcome.counts.unchanged += stats.unchanged as i64;
        let advanced = outcome.watermark.max(batch_max);
        if advanced != outcome.watermark {
            outcome.watermark = advanced;
            if let Err(e) = sink.save_watermark(watermark_row(job, advanced, None)).await {
                return (outcome, Some(e.into()));
            }
        }
    }
    (outcome, None)
}

/// The watermark row for this source.
pub fn watermark_row(
    job: &SourceJob<'_>,
    watermark: Option<DateTime<Utc>>,
    full_refresh_at: Option<DateTime<Utc>>,
) -> WatermarkRecord {
    WatermarkRecord {
        database_id: job.ctx.database_id.clone(),
        data_source_id: job.ctx.data_source_id.clone(),
        database_name: job.ctx.database_name.clone(),
        watermark,
        last_full_refresh_at: full_refresh_at.or(job.last_full_refresh_at),
        last_run_id: job.ctx.run_id.clone(),
        updated_at: Utc::now(),
    }
}
