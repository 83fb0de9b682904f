//! One data source: query pages since the watermark, commit them in batches, advance the watermark; or
//! list the ids of a partition for delete detection.
//!
//! Fetching, converting and committing overlap: the next query page is requested while the previous one is
//! decoded on the blocking pool, and the query loop hands full batches to the writer (`writer.rs`) through a
//! bounded channel; batches that queue up while a commit runs are committed together. The watermark is saved only
//! after the sink confirmed the batches (every `watermark_interval` and at the end), and results come sorted
//! by `last_edited_time` ascending, so a crash at any point re-reads at most the tail committed since the
//! last save (the merge makes that re-read a no-op).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::convert::{RowContext, page_record, sha256_hex};
use super::hydrate::complete_row;
use super::writer::Chunk;
use super::{Counts, SyncError};
use crate::bronze::{PageRecord, RejectRecord};
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
    /// Stored Notion clock at the start of the last complete read.
    pub query_started_at: Option<DateTime<Utc>>,
    /// Re-read everything.
    pub full_refresh: bool,
    /// Which result set to read.
    pub partition: Partition,
    /// Overlap before the watermark.
    pub lookback: std::time::Duration,
    /// Batch sizes and commit timing.
    pub pacing: super::Pacing,
    /// Request counters of the database.
    pub stats: &'a RequestStats,
    /// Progress display.
    pub progress: &'a DbProgress,
    /// Read the content of pages written by this job (`None`: properties only).
    pub content: Option<super::content::ContentOptions>,
    /// Pages a content backfill of this job will read, when known beforehand (for the cost estimate).
    pub backfill_pages: Option<u64>,
    /// The token's request budget per minute (for the cost estimate).
    pub requests_per_minute: u32,
    /// Copy the Notion-hosted files of the pages (and of their content, when read) into the lake.
    pub files: bool,
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

pub use crate::sink::Listed as Seen;

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
    /// Notion's clock when this read began, once it completed (else the stored one).
    pub query_started_at: Option<DateTime<Utc>>,
    /// Every page the queries listed.
    pub seen: Vec<Seen>,
}

/// Cursor rejections in a row, each from the same position, after which a query gives up.
const MAX_STALLED_RESTARTS: u32 = 5;

/// Where fetched rows go.
enum Out {
    /// Completed rows and the rejects among them, in batches, to the writer.
    Batches(mpsc::Sender<Chunk>),
    /// Nowhere: only the ids are kept (the query asks for the title property alone).
    Ids,
}

/// What a query walk produced.
#[derive(Default)]
struct Fetched {
    fetched: i64,
    restarts: i64,
    /// Notion's clock at the first answer.
    started: Option<DateTime<Utc>>,
    seen: Vec<Seen>,
    error: Option<SyncError>,
}

/// Syncs one data source. On error, the batches committed before it stay committed and the watermark
/// reflects exactly them.
pub async fn sync_source<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
) -> (SourceOutcome, Option<SyncError>) {
    let (tx, rx) = mpsc::channel::<Chunk>(super::writer::GROUP_BATCHES);
    let start_at = if job.full_refresh {
        None
    } else {
        start_bound(job.watermark, job.query_started_at, job.lookback)
    };
    // Set by the fetcher when it read everything; the writer's last watermark save carries it.
    let completed = std::sync::OnceLock::new();
    let fetch = async {
        let fetched = fetch_pages(client, job, start_at, Out::Batches(tx)).await;
        if fetched.error.is_none() {
            let _ = completed.set(fetched.started);
        }
        fetched
    };
    let write = super::writer::write_batches(client, sink, job, rx, &completed);
    let (fetched, (mut outcome, write_err)) = tokio::join!(fetch, write);
    outcome.counts.fetched = fetched.fetched;
    outcome.counts.restarts = fetched.restarts;
    outcome.seen = fetched.seen;
    // A writer failure stops the fetcher (its channel closes), so report the writer's error first.
    (outcome, write_err.or(fetched.error))
}

/// Where an incremental read starts. Two lower bounds hold for every page the last complete read did not
/// see, and the later one is used: `watermark − lookback` (Notion floors timestamps to the minute and its
/// index lags, so the newest minutes must be read again), and the minute of `query_started_at − lookback`
/// (a page that read missed was edited after its query began, less the index lag), which keeps a data
/// source whose last edits are older than the lookback from being re-read at all.
pub fn start_bound(
    watermark: Option<DateTime<Utc>>,
    query_started_at: Option<DateTime<Utc>>,
    lookback: std::time::Duration,
) -> Option<DateTime<Utc>> {
    let lookback = ChronoDuration::from_std(lookback).unwrap_or(ChronoDuration::minutes(5));
    let by_watermark = watermark.map(|w| w - lookback);
    let by_clock = query_started_at.map(|q| floor_minute(q - lookback));
    by_watermark.max(by_clock)
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t - ChronoDuration::seconds(t.timestamp().rem_euclid(60))
        - ChronoDuration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
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

/// Where a query whose cursor was rejected starts again: from the last `last_edited_time` seen, or, when
/// that is where the window already started (a minute holding more rows than were read), through that
/// minute by `created_time` from its start, as at the result cap (rows tied on `last_edited_time` come in
/// no particular `created_time` order, so none of theirs is a safe place to resume); a minute window
/// resumes from the last `created_time` it saw.
fn restart_window(
    window: Window,
    max_edited: Option<DateTime<Utc>>,
    max_created: Option<DateTime<Utc>>,
) -> Window {
    match window {
        Window::EditedSince(since) => match max_edited {
            Some(seen) if Some(seen) == since => Window::Minute {
                minute: seen,
                created: None,
            },
            seen => Window::EditedSince(seen.or(since)),
        },
        Window::Minute { minute, created } => Window::Minute {
            minute,
            created: max_created.or(created),
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
    let mut buffer = Chunk::with_capacity(job.pacing.batch_pages);
    let mut result = Fetched::default();
    // The next query page, requested while the previous one was converted.
    type Answer = Result<(ListPage, Option<DateTime<Utc>>), crate::notion::NotionError>;
    let mut prefetched: Option<Answer> = None;
    // Cursor restarts in a row from the same position.
    let (mut stalled, mut last_restart) = (0u32, None);
    loop {
        let response = match prefetched.take() {
            Some(response) => response,
            None => {
                let body = query_body(window, job.partition, cursor.as_deref());
                let ds = Some(job.ctx.data_source_id.as_str());
                client.post_read(&path, &query, &body, ds, job.stats).await
            }
        };
        let mut page: ListPage = match response {
            Ok((page, date)) => {
                result.started = result.started.or(date);
                page
            }
            Err(mut e) if e.is_invalid_cursor(cursor.is_some()) => {
                // The cursor expired: start the window again from the last position seen. Nothing is skipped
                // because the bounds are inclusive and rows are merged idempotently. A query whose cursors
                // are rejected again and again without any progress stops, to be retried later.
                let position = (max_edited, max_created);
                stalled = if last_restart == Some(position) {
                    stalled + 1
                } else {
                    0
                };
                last_restart = Some(position);
                if stalled >= MAX_STALLED_RESTARTS {
                    e.class = crate::notion::ErrorClass::Transient;
                    e.hint = Some(format!(
                        "Notion rejected the query's cursor {MAX_STALLED_RESTARTS} times in a row without \
                         progress; rerun later"
                    ));
                    result.error = Some(e.into());
                    return result;
                }
                tracing::warn!(database = %job.ctx.database_name, "query cursor rejected; restarting the query");
                result.restarts += 1;
                cursor = None;
                let next = restart_window(window, max_edited, max_created);
                if matches!(
                    (window, next),
                    (Window::EditedSince(_), Window::Minute { .. })
                ) {
                    max_created = None;
                }
                window = next;
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
        let follow = match (page.has_more, page.is_capped(), &page.next_cursor) {
            (true, false, Some(next)) => Some(next.clone()),
            _ => None,
        };
        // Decode and hash on the blocking pool while the next page is on its way.
        let results = std::mem::take(&mut page.results);
        let ctx = job.ctx.clone();
        let convert = tokio::task::spawn_blocking(move || convert_results(results, &ctx));
        let next = async {
            let cursor = follow.as_deref()?;
            let body = query_body(window, job.partition, Some(cursor));
            let ds = Some(job.ctx.data_source_id.as_str());
            Some(client.post_read(&path, &query, &body, ds, job.stats).await)
        };
        let (converted, next) = tokio::join!(convert, next);
        prefetched = next;
        let converted = match converted {
            Ok(converted) => converted,
            Err(e) => {
                result.error = Some(SyncError::Payload(format!(
                    "converting a query page failed: {e}"
                )));
                return result;
            }
        };
        if let Out::Batches(_) = out {
            // Rejects travel with the rows read before them, so they are stored before the watermark
            // moves past them.
            buffer.rejects.extend(converted.rejects);
        }
        for mut row in converted.rows {
            max_edited = max_edited.max(Some(row.last_edited_time));
            max_created = max_created.max(Some(row.created_time));
            result.seen.push(Seen::of(&row));
            if let Out::Batches(_) = out {
                if let Err(e) = complete_row(client, &mut row, job.stats).await {
                    result.error = Some(e.into());
                    return result;
                }
                buffer.rows.push(row);
                result.fetched += 1;
            }
        }
        job.progress.pages(result.fetched as u64);
        if let Out::Batches(tx) = &out
            && buffer.rows.len() >= job.pacing.batch_pages
            && tx.send(std::mem::take(&mut buffer)).await.is_err()
        {
            return result;
        }
        if let Some(next) = follow {
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

/// One query page's results as rows, and the results that are not storable pages.
#[derive(Default)]
struct Converted {
    rows: Vec<PageRecord>,
    rejects: Vec<RejectRecord>,
}

fn convert_results(results: Vec<Box<RawValue>>, ctx: &RowContext) -> Converted {
    let mut out = Converted {
        rows: Vec::with_capacity(results.len()),
        rejects: Vec::new(),
    };
    for raw in &results {
        match page_record(raw, ctx) {
            Ok(Some(row)) => out.rows.push(row),
            Ok(None) => {}
            Err(message) => {
                // Kept raw with the reason; the rest of the data source goes on.
                tracing::warn!(database = %ctx.database_name, error = %message,
                    "a query result cannot be stored as a page; kept in notion_raw_rejects");
                out.rejects.push(reject(raw, ctx, message));
            }
        }
    }
    out
}

/// A reject row for a result that is not a storable page.
pub(super) fn reject(raw: &RawValue, ctx: &RowContext, error: String) -> RejectRecord {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-05T09:{m:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    #[test]
    fn the_start_is_the_later_of_the_watermark_and_clock_bounds() {
        let five = std::time::Duration::from_secs(300);
        let at = |m: u32, s: u32| t(m) + ChronoDuration::seconds(i64::from(s));
        assert_eq!(start_bound(None, None, five), None);
        assert_eq!(start_bound(Some(t(20)), None, five), Some(t(15)));
        // A quiet data source: edits stopped at :20, the last complete read began at :50:30.
        assert_eq!(
            start_bound(Some(t(20)), Some(at(50, 30)), five),
            Some(t(45))
        );
        // A read right after the edits: the watermark bound is the later one.
        assert_eq!(
            start_bound(Some(t(20)), Some(at(21, 10)), five),
            Some(t(16))
        );
        assert_eq!(start_bound(None, Some(at(30, 59)), five), Some(t(25)));
    }

    #[test]
    fn a_rejected_cursor_restarts_from_the_last_position_or_through_its_minute() {
        let w = Window::EditedSince(Some(t(0)));
        assert_eq!(
            restart_window(w, Some(t(7)), Some(t(1))),
            Window::EditedSince(Some(t(7)))
        );
        // Every row read so far has the window's own timestamp: go through the minute by created_time.
        let stuck = Window::EditedSince(Some(t(7)));
        assert_eq!(
            restart_window(stuck, Some(t(7)), Some(t(3))),
            Window::Minute {
                minute: t(7),
                created: None
            }
        );
        let minute = Window::Minute {
            minute: t(7),
            created: None,
        };
        assert_eq!(
            restart_window(minute, Some(t(7)), Some(t(3))),
            Window::Minute {
                minute: t(7),
                created: Some(t(3))
            }
        );
        assert_eq!(restart_window(w, None, None), w);
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
