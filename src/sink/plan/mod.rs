//! The rules every sink keeps, planned the same way whatever executes them: the newest row per key wins,
//! a page moving between databases flags its older copy, history is written before the page row, and a
//! batch that changes nothing plans nothing (so nothing is written). Each sink loads what the plan needs
//! to know of stored rows (all of them, or only the batch's keys) and executes the plan its own way.

pub mod entities;
pub mod merge;
pub mod pages;

use std::collections::{HashMap, HashSet};

use crate::bronze::{DatabaseRecord, RejectRecord};

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
