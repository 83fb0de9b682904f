//! Delete detection: compare the pages a database lists now with what bronze holds.
//!
//! Notion's queries never return trashed pages and return archived ones only from the archived partition,
//! so a page missing from both listings has been trashed, moved to another database, purged, or unshared.
//! Each missing page is asked for individually (`GET /v1/pages/{id}`) to tell these apart: a trashed page
//! is stored with its trashed payload and flagged `trashed`; a page whose parent is another database is
//! flagged `moved`; a 404 is flagged `not_found`. Pages that are listed but whose bronze row is older,
//! flagged, or in the other partition are re-read the same way, so a page that comes back is un-deleted.
//! Nothing is ever removed from bronze.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::value::RawValue;

use super::convert::{RowContext, page_record};
use super::hydrate::complete_row;
use super::source::{Seen, reject};
use super::{Counts, SyncError};
use crate::bronze::{DeletedReason, PageRecord, RejectRecord};
use crate::notion::ids::{PageKey, normalize_id};
use crate::notion::model::PageEnvelope;
use crate::notion::{Client, RequestStats};
use crate::sink::BronzeSink;

/// Pages one database lists now (every data source, both partitions).
pub type Listing = HashMap<PageKey, Seen>;

/// What a single page read says about a page.
enum Verdict {
    /// The page belongs here: store it (trashed pages are stored flagged).
    Store(Box<PageRecord>),
    /// The row is to be flagged without a new payload.
    Flag(DeletedReason),
    /// Notion served something that cannot be stored as the page: kept raw, the stored row left alone.
    Reject(Box<RejectRecord>),
}

/// Reconciles bronze with `listing` for the database of `ctx`. `refetch_stale` re-reads listed pages whose
/// rows disagree with the listing (needed after an id-only scan; a full read already stored them).
pub async fn reconcile<S: BronzeSink>(
    client: &Client,
    sink: &S,
    ctx: &RowContext,
    listing: &Listing,
    refetch_stale: bool,
    stats: &RequestStats,
) -> Result<Counts, SyncError> {
    let to_read = sink
        .delete_candidates(&ctx.database_id, listing, refetch_stale)
        .await?;
    let mut counts = Counts::default();
    let mut rows: Vec<PageRecord> = Vec::new();
    let mut flags: Vec<(String, DeletedReason)> = Vec::new();
    let mut rejects: Vec<RejectRecord> = Vec::new();
    for (key, stored) in to_read {
        let page_id = key.id();
        match read_page(client, ctx, &page_id, stats).await? {
            Verdict::Store(row) => {
                counts.fetched += 1;
                if row.is_deleted && stored.is_some_and(|s| !s.is_deleted) {
                    counts.soft_deleted += 1;
                }
                rows.push(*row);
            }
            Verdict::Flag(reason) => flags.push((page_id, reason)),
            Verdict::Reject(r) => rejects.push(*r),
        }
    }
    if !rejects.is_empty() {
        counts.rejected += rejects.len() as i64;
        sink.record_rejects(rejects).await?;
    }
    if !rows.is_empty() {
        let written = sink.upsert_pages(rows).await?;
        counts.inserted += written.inserted as i64;
        counts.updated += written.updated as i64;
        counts.unchanged += written.unchanged as i64;
        counts.soft_deleted += written.flagged as i64;
    }
    if !flags.is_empty() {
        crate::pause::point("deletes.before_flags").await;
        counts.soft_deleted += sink
            .flag_deleted(&ctx.database_id, flags, Utc::now())
            .await? as i64;
    }
    Ok(counts)
}

/// Reads one page and decides what bronze should hold for it.
async fn read_page(
    client: &Client,
    ctx: &RowContext,
    page_id: &str,
    stats: &RequestStats,
) -> Result<Verdict, SyncError> {
    let path = format!("/v1/pages/{page_id}");
    let raw: Box<RawValue> = match client.get(&path, &[], Some(page_id), stats).await {
        Ok(raw) => raw,
        // Purged from the trash, or no longer shared with the integration: Notion cannot tell them apart.
        Err(e) if e.status == Some(404) => return Ok(Verdict::Flag(DeletedReason::NotFound)),
        Err(e) => return Err(e.into()),
    };
    let raw = without_request_id(raw);
    let rejected = |error: String| {
        tracing::warn!(database = %ctx.database_name, page = page_id, error = %error,
            "a page read cannot be stored; kept in notion_raw_rejects, its stored row left as it is");
        Ok::<_, SyncError>(Verdict::Reject(Box::new(reject(&raw, ctx, error))))
    };
    let env: PageEnvelope = match serde_json::from_str(raw.get()) {
        Ok(env) => env,
        Err(e) => return rejected(format!("page {page_id} could not be decoded: {e}")),
    };
    let parent = env.parent();
    let database = parent.database_id.as_deref().and_then(normalize_id);
    if database.as_deref() != Some(ctx.database_id.as_str()) {
        return Ok(Verdict::Flag(DeletedReason::Moved));
    }
    let mut here = ctx.clone();
    here.data_source_id = parent
        .data_source_id
        .as_deref()
        .and_then(normalize_id)
        .unwrap_or_else(|| ctx.database_id.clone());
    let mut row = match page_record(&raw, &here) {
        Ok(Some(row)) => row,
        Ok(None) => return rejected(format!("GET /v1/pages/{page_id} did not return a page")),
        Err(e) => return rejected(e),
    };
    complete_row(client, &mut row, stats).await?;
    if row.in_trash {
        row.is_deleted = true;
        row.deleted_at = Some(Utc::now());
        row.deleted_reason = Some(DeletedReason::Trashed.as_str().to_string());
    }
    Ok(Verdict::Store(Box::new(row)))
}

/// A single-object response carries the response's `request_id` beside the page's fields; it is not part of
/// the page, and keeping it would make every read a new version.
fn without_request_id(raw: Box<RawValue>) -> Box<RawValue> {
    super::hydrate::without_member(raw.get(), "request_id")
        .and_then(|text| RawValue::from_string(text).ok())
        .unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn a_page_read_loses_only_its_request_id() {
        for (text, want) in [
            (
                r#"{"object":"page","request_id":"r1","n":15.545454545454545 , "z":1}"#,
                r#"{"object":"page","n":15.545454545454545 , "z":1}"#,
            ),
            (
                "{ \"request_id\" : \"r1\",\n  \"b\":1e-7,\"a\":[1,2]}",
                "{ \n  \"b\":1e-7,\"a\":[1,2]}",
            ),
            (
                r#"{"a":0.30000000000000004,"request_id":"r"}"#,
                r#"{"a":0.30000000000000004}"#,
            ),
            (r#"{"a":1}"#, r#"{"a":1}"#),
        ] {
            let raw = RawValue::from_string(text.to_string()).unwrap();
            assert_eq!(without_request_id(raw).get(), want);
        }
    }

    fn t(m: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-05T09:{m:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_listed_page_is_reread_only_when_bronze_disagrees() {
        use crate::sink::PageState;
        use crate::sink::plan::is_stale;
        let seen = Seen {
            page: PageKey::of("p"),
            last_edited_time: t(5),
            is_archived: true,
        };
        let state = |edited, deleted, archived| PageState {
            last_edited_time: t(edited),
            is_deleted: deleted,
            is_archived: archived,
        };
        assert!(is_stale(&seen, None), "unknown to bronze");
        assert!(!is_stale(&seen, Some(&state(5, false, true))), "in step");
        assert!(is_stale(&seen, Some(&state(4, false, true))), "older");
        assert!(is_stale(&seen, Some(&state(5, true, true))), "flagged");
        assert!(
            is_stale(&seen, Some(&state(5, false, false))),
            "archived within the minute of the last read"
        );
    }
}
