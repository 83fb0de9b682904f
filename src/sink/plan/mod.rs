//! The rules every sink keeps, planned the same way whatever executes them: the newest row per key wins,
//! a page moving between databases flags its older copy, history is written before the page row, and a
//! batch that changes nothing plans nothing (so nothing is written). Each sink loads what the plan needs
//! to know of stored rows (all of them, or only the batch's keys) and executes the plan its own way.

pub mod entities;
pub mod merge;
pub mod pages;

use std::collections::{HashMap, HashSet};

use crate::bronze::{DatabaseRecord, RejectRecord};
use crate::notion::ids::PageKey;
use crate::sink::{Candidates, Listed, PageState};

/// The schema snapshots to append: those whose hash differs from the newest stored one of their data
/// source (`latest`), each once.
pub fn new_schemas<'a>(
    latest: &HashMap<String, String>,
    rows: &'a [DatabaseRecord],
) -> Vec<&'a DatabaseRecord> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter(|r| {
            latest.get(&r.data_source_id) != Some(&r.schema_sha256)
                && seen.insert((r.data_source_id.as_str(), r.schema_sha256.as_str()))
        })
        .collect()
}

/// The rejects to append: those whose `raw_sha256` is not in `stored`, each once.
pub fn new_rejects(mut stored: HashSet<String>, rows: &[RejectRecord]) -> Vec<&RejectRecord> {
    rows.iter()
        .filter(|r| stored.insert(r.raw_sha256.clone()))
        .collect()
}

/// Whether a listed page's row needs a fresh read: absent, flagged, older, or in the other partition
/// (archiving may not move `last_edited_time` past its minute).
pub fn is_stale(seen: &Listed, stored: Option<&PageState>) -> bool {
    stored.is_none_or(|s| {
        s.is_deleted
            || s.last_edited_time < seen.last_edited_time
            || s.is_archived != seen.is_archived
    })
}

/// What delete detection reads again, from every stored row's state (`states`) and the listing: stored
/// live rows the listing lacks, and (with `refetch_stale`) stale listed pages. Sorted by page.
pub fn delete_candidates(
    states: &HashMap<PageKey, PageState>,
    listing: &HashMap<PageKey, Listed>,
    refetch_stale: bool,
) -> Candidates {
    let mut out: Candidates = Vec::new();
    if refetch_stale {
        out.extend(
            listing
                .iter()
                .filter(|(key, seen)| is_stale(seen, states.get(*key)))
                .map(|(key, _)| (*key, states.get(key).copied())),
        );
    }
    out.extend(
        states
            .iter()
            .filter(|(key, s)| !s.is_deleted && !listing.contains_key(*key))
            .map(|(key, s)| (*key, Some(*s))),
    );
    out.sort_unstable_by_key(|(key, _)| *key);
    out
}
