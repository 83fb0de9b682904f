//! One data source: query pages since the watermark, commit them in batches, advance the watermark; or
//! list the ids of a partition for delete detection.
//!
//! Fetching and committing overlap: the query loop fills batches and hands them to the writer through a
//! bounded channel, so the next Notion page is fetched while the previous batch is merged. The watermark is
//! saved only after the sink confirmed the batch, and results come sorted by `last_edited_time` ascending,
//! so a crash at any point re-reads at most the uncommitted tail (the merge makes that re-read a no-op).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::convert::{RowContext, page_record, sha256_hex};
use super::hydrate::complete_row;
use super::{Counts, SyncError};
use crate::bronze::{PageRecord, RejectRecord, WatermarkRecord};
use crate::notion::ids::PageKey;
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
    /// Which result set to read.
    pub partition: Partition,
    /// Overlap before the watermark.
    pub lookback: std::time::Duration,
    /// Pages per commit.
    pub batch_pages: usize,
    /// Request counters of the database.
    pub stats: &'a RequestStats,
    /// Progress display.
    pub progress: &'a DbProgress,
}

/// The two result sets of a data source query: Notion returns archived pages only when asked for them
/// (`is_archived: true`), and trashed pages never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Pages neither archived nor trashed. Only this partition moves the watermark.
    Default,
    /// Archived pages.
    Archived,
}

/// A page listed by a query, as delete detection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The page.
    pub page: PageKey,
    /// Its `last_edited_time`.
    pub last_edited_time: DateTime<Utc>,
    /// Its archive flag.
    pub is_archived: bool,
}

impl Seen {
    fn of(row: &PageRecord) -> Seen {
        Seen {
            page: PageKey::of(&row.page_id),
            last_edited_time: row.last_edited_time,
            is_archived: row.is_archived,
        }
    }
}

/// What one data source's sync did.
#[derive(Debug, Default)]
pub struct SourceOutcome {
    /// Row counts.
    pub counts: Counts,
    /// Watermark after the run.
    pub watermark: Option<DateTime<Utc>>,
    /// Every page the queries listed.
    pub seen: Vec<Seen>,
}

/// Where fetched rows go.
enum Out {
    /// Completed rows, in batches, to the writer.
    Batches(mpsc::Sender<Vec<PageRecord>>),
    /// Nowhere: only the ids are kept (the query asks for the title property alone).
    Ids,
}

/// What a query walk produced.
#[derive(Default)]
struct Fetched {
    fetched: i64,
    restarts: i64,
    seen: Vec<Seen>,
    rejects: Vec<RejectRecord>,
    error: Option<SyncError>,
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
    let fetch = fetch_pages(client, job, start_at, Out::Batches(tx));
    let write = write_batches(sink, job, rx);
    let (fetched, (mut outcome, write_err)) = tokio::join!(fetch, write);
    outcome.counts.fetched = fetched.fetched;
    outcome.counts.restarts = fetched.restarts;
    outcome.counts.rejected = fetched.rejects.len() as i64;
    outcome.seen = fetched.seen;
    let reject_err = match sink.record_rejects(fetched.rejects).await {
        Ok(_) => None,
        Err(e) => Some(e.into()),
    };
    // A writer failure stops the fetcher (its channel closes), so report the writer's error first.
    (outcome, write_err.or(fetched.error).or(reject_err))
}

/// Lists every page of the job's partition, asking Notion for as little as it allows (the title property
/// only, no hydration). Returns the pages and the query restarts.
pub async fn scan_ids(client: &Client, job: &SourceJob<'_>) -> Result<(Vec<Seen>, i64), SyncError> {
    let fetched = fetch_pages(client, job, None, Out::Ids).await;
    match fetched.error {
        Some(e) => Err(e),
        None => Ok((fetched.seen, fetched.restarts)),
    }
}

fn query_path(client: &Client, data_source_id: &str) -> String {
    if client.api_version().has_data_sources() {
        format!("/v1/data_sources/{data_source_id}/query")
    } else {
        format!("/v1/databases/{data_source_id}/query")
    }
}

/// The slice of a data source one query reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Window {
    /// `last_edited_time on_or_after bound` (everything when `None`), sorted by `last_edited_time`.
    EditedSince(Option<DateTime<Utc>>),
    /// Rows last edited in `minute` and created at or after `created`, sorted by `created_time`: Notion's
    /// recommended way through a minute that holds more rows than its per-query result cap.
    Minute {
        minute: DateTime<Utc>,
        created: Option<DateTime<Utc>>,
    },
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn query_body(window: Window, partition: Partition, cursor: Option<&str>) -> Value {
    let mut body = match window {
        Window::EditedSince(since) => {
            let mut body =
                json!({"sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]});
            if let Some(since) = since {
                body["filter"] = json!({
                    "timestamp": "last_edited_time",
                    "last_edited_time": {"on_or_after": iso(since)},
                });
            }
            body
        }
        Window::Minute { minute, created } => {
            let mut and = vec![
                json!({"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": iso(minute)}}),
                json!({"timestamp": "last_edited_time",
                       "last_edited_time": {"before": iso(minute + ChronoDuration::minutes(1))}}),
            ];
            if let Some(created) = created {
                and.push(json!({"timestamp": "created_time", "created_time": {"on_or_after": iso(created)}}));
            }
            json!({
                "filter": {"and": and},
                "sorts": [{"timestamp": "created_time", "direction": "ascending"}],
            })
        }
    };
    body["page_size"] = json!(100);
    if partition == Partition::Archived {
        body["is_archived"] = json!(true);
    }
    if let Some(cursor) = cursor {
        body["start_cursor"] = json!(cursor);
    }
    body
}

/// Where to go when a query ends: `Ok(None)` when the data source is done.
fn next_window(
    window: Window,
    capped: bool,
    max_edited: Option<DateTime<Utc>>,
    max_created: Option<DateTime<Utc>>,
) -> Result<Option<Window>, String> {
    match (window, capped) {
        (Window::EditedSince(_), false) => Ok(None),
        (Window::Minute { minute, .. }, false) => Ok(Some(Window::EditedSince(Some(
            minute + ChronoDuration::minutes(1),
        )))),
        (Window::EditedSince(since), true) => match max_edited {
            Some(seen) if Some(seen) > since => Ok(Some(Window::EditedSince(Some(seen)))),
            Some(seen) => Ok(Some(Window::Minute {
                minute: seen,
                created: None,
            })),
            None => Err("Notion reported a capped query without returning rows".into()),
        },
        (Window::Minute { minute, created }, true) => match max_created {
            Some(seen) if Some(seen) > created => Ok(Some(Window::Minute {
                minute,
                created: Some(seen),
            })),
            _ => Err(format!(
                "more rows than Notion's per-query result cap were both created and last edited in the same \
                 minute ({}); Notion offers no way to page past them",
                iso(minute)
            )),
        },
    }
}

/// Pages through the queries of a data source.
async fn fetch_pages(
    client: &Client,
    job: &SourceJob<'_>,
    start_at: Option<DateTime<Utc>>,
    out: Out,
) -> Fetched {
    let path = query_path(client, &job.ctx.data_source_id);
    let query: Vec<(&str, String)> = match out {
        Out::Ids => vec![("filter_properties", "title".to_string())],
        Out::Batches(_) => Vec::new(),
    };
    let mut window = Window::EditedSince(start_at);
    let mut cursor: Option<String> = None;
    // Greatest timestamps seen in the current window, to restart from.
    let (mut max_edited, mut max_created): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        (None, None);
    let mut buffer: Vec<PageRecord> = Vec::with_capacity(job.batch_pages);
    let mut result = Fetched::default();
    loop {
        let body = query_body(window, job.partition, cursor.as_deref());
        let page: ListPage = match client
            .post_read(
                &path,
                &query,
                &body,
                Some(&job.ctx.data_source_id),
                job.stats,
            )
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_invalid_cursor() && cursor.is_some() => {
                // The cursor expired: start the window again from the last position seen. Nothing is skipped
                // because the bounds are inclusive and rows are merged idempotently.
                tracing::warn!(database = %job.ctx.database_name, "query cursor rejected; restarting the query");
                result.restarts += 1;
                cursor = None;
                window = match window {
                    Window::EditedSince(since) => Window::EditedSince(max_edited.or(since)),
                    Window::Minute { minute, created } => Window::Minute {
                        minute,
                        created: max_created.or(created),
                    },
                };
                continue;
            }
            Err(e) => {
                result.error = Some(e.into());
                return result;
            }
        };
        crate::pause::point("fetch.page").await;
        job.progress.requests(
            RequestStats::get(&job.stats.requests),
            RequestStats::get(&job.stats.throttled),
        );
        for raw in &page.results {
            let mut row = match page_record(raw, &job.ctx) {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(message) => {
                    // Kept raw with the reason; the rest of the data source goes on.
                    tracing::warn!(database = %job.ctx.database_name, error = %message,
                        "a query result cannot be stored as a page; kept in notion_raw_rejects");
                    result.rejects.push(reject(raw, &job.ctx, message));
                    continue;
                }
            };
            max_edited = max_edited.max(Some(row.last_edited_time));
            max_created = max_created.max(Some(row.created_time));
            result.seen.push(Seen::of(&row));
            if let Out::Batches(_) = out {
                if let Err(e) = complete_row(client, &mut row, job.stats).await {
                    result.error = Some(e.into());
                    return result;
                }
                buffer.push(row);
                result.fetched += 1;
            }
        }
        job.progress.pages(result.fetched as u64);
        if let Out::Batches(tx) = &out
            && buffer.len() >= job.batch_pages
            && tx.send(std::mem::take(&mut buffer)).await.is_err()
        {
            return result;
        }
        if let (true, false, Some(next)) =
            (page.has_more, page.is_capped(), page.next_cursor.clone())
        {
            cursor = Some(next);
            continue;
        }
        // The query ended, either complete or stopped at Notion's result cap (which is not an error).
        let capped = page.is_capped();
        match next_window(window, capped, max_edited, max_created) {
            Ok(Some(next)) => {
                if capped {
                    result.restarts += 1;
                    tracing::info!(database = %job.ctx.database_name, ?next, "query reached the result cap; continuing");
                }
                window = next;
                cursor = None;
                max_created = None;
            }
            Ok(None) => break,
            Err(message) => {
                result.error = Some(SyncError::Payload(message));
                return result;
            }
        }
    }
    if let Out::Batches(tx) = &out
        && !buffer.is_empty()
    {
        // A closed channel means the writer failed; it reports its own error.
        let _ = tx.send(buffer).await;
    }
    result
}

/// A reject row for a result that is not a storable page.
fn reject(raw: &RawValue, ctx: &RowContext, error: String) -> RejectRecord {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<Value>,
    }
    let page_id = serde_json::from_str::<Id>(raw.get())
        .ok()
        .and_then(|i| i.id)
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        });
    RejectRecord {
        database_id: ctx.database_id.clone(),
        data_source_id: ctx.data_source_id.clone(),
        database_name: ctx.database_name.clone(),
        page_id,
        error,
        raw: raw.get().to_string(),
        raw_sha256: sha256_hex(raw.get()),
        observed_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    }
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
        crate::pause::point("write.batch").await;
        let stats = match sink.upsert_pages(batch).await {
            Ok(s) => s,
            Err(e) => return (outcome, Some(e.into())),
        };
        outcome.counts.inserted += stats.inserted as i64;
        outcome.counts.updated += stats.updated as i64;
        outcome.counts.unchanged += stats.unchanged as i64;
        outcome.counts.soft_deleted += stats.flagged as i64;
        let advanced = outcome.watermark.max(batch_max);
        if job.partition == Partition::Default && advanced != outcome.watermark {
            crate::pause::point("write.before_watermark").await;
            outcome.watermark = advanced;
            if let Err(e) = sink
                .save_watermark(watermark_row(job, advanced, None))
                .await
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-05T09:{m:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_capped_query_continues_from_the_last_timestamp() {
        let w = Window::EditedSince(Some(t(0)));
        assert_eq!(
            next_window(w, true, Some(t(7)), None),
            Ok(Some(Window::EditedSince(Some(t(7)))))
        );
        assert_eq!(next_window(w, false, Some(t(7)), None), Ok(None));
    }

    #[test]
    fn a_minute_over_the_cap_is_windowed_by_created_time() {
        let w = Window::EditedSince(Some(t(7)));
        let minute = next_window(w, true, Some(t(7)), Some(t(1)))
            .unwrap()
            .unwrap();
        assert_eq!(
            minute,
            Window::Minute {
                minute: t(7),
                created: None
            }
        );
        let next = next_window(minute, true, Some(t(7)), Some(t(3)))
            .unwrap()
            .unwrap();
        assert_eq!(
            next,
            Window::Minute {
                minute: t(7),
                created: Some(t(3))
            }
        );
        assert!(
            next_window(next, true, Some(t(7)), Some(t(3))).is_err(),
            "no progress is an error"
        );
        assert_eq!(
            next_window(next, false, None, None),
            Ok(Some(Window::EditedSince(Some(t(8)))))
        );
        let body = query_body(next, Partition::Archived, None);
        assert_eq!(body["is_archived"], true);
        assert_eq!(body["sorts"][0]["timestamp"], "created_time");
        assert_eq!(body["filter"]["and"].as_array().unwrap().len(), 3);
    }
}
