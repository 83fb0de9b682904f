//! `notion_raw_pages` and `notion_raw_page_versions`: what the sink knows about stored pages, how a batch
//! is classified against it, and the rows one guarded MERGE applies.
//!
//! Each process loads, once, an index of the pages table (per database: page id → hash, `last_edited_time`,
//! deleted and archived flags) and the set of history keys. A batch is reduced to the rows that would
//! change bronze; rows that would not change anything are counted and dropped, so an identical re-read
//! commits nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::bronze::{DeletedReason, PageRecord};
use crate::notion::ids::PageKey;
use crate::sink::cells::Cell;
use crate::sink::{PageState, UpsertStats};

/// What the sink knows about a stored page row (32 bytes: the index holds one per row of the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    /// The first 128 bits of `payload_sha256`.
    pub hash: u128,
    pub edited_micros: i64,
    pub deleted: bool,
    pub archived: bool,
}

/// The first 128 bits of a hex SHA-256.
fn hash128(sha: &str) -> u128 {
    u128::from_str_radix(sha.get(..32).unwrap_or(""), 16).unwrap_or(0)
}

impl Known {
    fn of(row: &PageRecord) -> Known {
        Known {
            hash: hash128(&row.payload_sha256),
            edited_micros: row.last_edited_time.timestamp_micros(),
            deleted: row.is_deleted,
            archived: row.is_archived,
        }
    }

    /// The public view.
    pub fn state(&self) -> PageState {
        PageState {
            last_edited_time: DateTime::from_timestamp_micros(self.edited_micros)
                .unwrap_or_default(),
            is_deleted: self.deleted,
            is_archived: self.archived,
        }
    }
}

/// Columns the index is loaded from.
pub(crate) const INDEX_COLUMNS: [&str; 6] = [
    "page_id",
    "database_id",
    "payload_sha256",
    "last_edited_time",
    "is_deleted",
    "is_archived",
];

/// Columns the history key set is loaded from.
pub(crate) const VERSION_KEY_COLUMNS: [&str; 2] = ["page_id", "payload_sha256"];

/// The in-memory view of the pages and history tables.
#[derive(Debug, Default)]
pub(crate) struct PageIndex {
    /// database id → page → stored state.
    pub by_db: HashMap<String, HashMap<PageKey, Known>>,
    /// Keys of every (page id, payload hash) in the history table.
    pub versions: HashSet<u128>,
}

/// A compact key for `(page_id, payload_sha256)`: both are already uniformly distributed hex, so folding
/// 128 bits of each keeps collisions out of reach while the set stays small (16 bytes per version).
pub(crate) fn version_key(page_id: &str, payload_sha256: &str) -> u128 {
    PageKey::of(page_id).0.rotate_left(64) ^ hash128(payload_sha256)
}

impl PageIndex {
    /// Adds scanned `INDEX_COLUMNS` rows of the pages table.
    pub fn add_pages(&mut self, pages: Vec<Vec<Cell>>) {
        for r in pages {
            self.by_db.entry(r[1].text()).or_default().insert(
                PageKey::of(&r[0].text()),
                Known {
                    hash: hash128(&r[2].text()),
                    edited_micros: r[3].ts().map(|t| t.timestamp_micros()).unwrap_or_default(),
                    deleted: r[4].flag(),
                    archived: r[5].flag(),
                },
            );
        }
    }

    /// Adds scanned `VERSION_KEY_COLUMNS` rows of the history table.
    pub fn add_versions(&mut self, versions: Vec<Vec<Cell>>) {
        self.versions.extend(
            versions
                .iter()
                .map(|r| version_key(&r[0].text(), &r[1].text())),
        );
    }

    fn get(&self, database_id: &str, page_id: &str) -> Option<&Known> {
        self.by_db
            .get(database_id)
            .and_then(|m| m.get(&PageKey::of(page_id)))
    }

    /// Live rows of `page_id` in databases other than `database_id`.
    fn live_elsewhere<'a>(
        &'a self,
        database_id: &'a str,
        page_id: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Known)> + 'a {
        let key = PageKey::of(page_id);
        self.by_db
            .iter()
            .filter(move |(db, _)| db.as_str() != database_id)
            .filter_map(move |(db, pages)| pages.get(&key).map(|k| (db, k)))
            .filter(|(_, k)| !k.deleted)
    }

    /// Applies a committed change.
    pub fn apply(&mut self, change: &PageChange) {
        for v in &change.versions {
            self.versions
                .insert(version_key(&v.page_id, &v.payload_sha256));
        }
        for row in &change.rows {
            self.by_db
                .entry(row.database_id.clone())
                .or_default()
                .insert(PageKey::of(&row.page_id), Known::of(row));
        }
        for flag in &change.flags {
            if let Some(k) = self
                .by_db
                .get_mut(&flag.database_id)
                .and_then(|m| m.get_mut(&PageKey::of(&flag.page_id)))
            {
                k.deleted = true;
            }
        }
    }
}

/// A row flagged deleted without a new payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flag {
    pub page_id: String,
    pub database_id: String,
    pub reason: DeletedReason,
    pub at: DateTime<Utc>,
    /// The stored row is flagged only if it is not newer than this.
    pub not_after: DateTime<Utc>,
}

impl Flag {
    /// The flag as a pages row: its key, deletion columns and bounds; every payload column is a placeholder
    /// a MERGE never writes.
    pub fn placeholder(&self) -> PageRecord {
        let f = self;
        PageRecord {
            page_id: f.page_id.clone(),
            database_id: f.database_id.clone(),
            data_source_id: String::new(),
            database_name: String::new(),
            created_time: f.not_after,
            last_edited_time: f.not_after,
            created_by: None,
            last_edited_by: None,
            in_trash: f.reason == DeletedReason::Trashed,
            is_archived: false,
            is_deleted: true,
            deleted_at: Some(f.at),
            deleted_reason: Some(f.reason.as_str().to_string()),
            url: None,
            public_url: None,
            title: String::new(),
            properties: String::new(),
            payload: String::new(),
            payload_sha256: String::new(),
            hydrated_properties: Vec::new(),
            api_version: String::new(),
            synced_at: f.at,
            sync_run_id: String::new(),
        }
    }
}

/// What one upsert writes: full rows (inserted or updated), flags, and history rows.
#[derive(Debug, Default)]
pub(crate) struct PageChange {
    pub rows: Vec<PageRecord>,
    pub flags: Vec<Flag>,
    pub versions: Vec<PageRecord>,
    pub stats: UpsertStats,
}

impl PageChange {
    /// Whether the pages table would change.
    pub fn touches_pages(&self) -> bool {
        !self.rows.is_empty() || !self.flags.is_empty()
    }

    /// Whether every row is a new key and nothing is flagged.
    pub fn only_inserts(&self) -> bool {
        self.flags.is_empty() && self.stats.updated == 0 && !self.rows.is_empty()
    }

    /// Every page the change writes a row, flag or version of.
    pub fn page_keys(&self) -> Vec<PageKey> {
        let mut keys: Vec<PageKey> = self
            .rows
            .iter()
            .chain(&self.versions)
            .map(|r| PageKey::of(&r.page_id))
            .chain(self.flags.iter().map(|f| PageKey::of(&f.page_id)))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Every database the change writes to, sorted.
    pub fn databases(&self) -> Vec<&str> {
        let mut dbs: Vec<&str> = self
            .rows
            .iter()
            .chain(&self.versions)
            .map(|r| r.database_id.as_str())
            .chain(self.flags.iter().map(|f| f.database_id.as_str()))
            .collect();
        dbs.sort_unstable();
        dbs.dedup();
        dbs
    }
}

/// Keeps the newest row of each `(page_id, database_id)`.
fn newest_per_key(rows: &[PageRecord]) -> Vec<&PageRecord> {
    let mut latest: HashMap<(&str, &str), &PageRecord> = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.page_id.as_str(), row.database_id.as_str());
        match latest.get(&key) {
            Some(old) if old.last_edited_time > row.last_edited_time => {}
            _ => {
                latest.insert(key, row);
            }
        }
    }
    latest.into_values().collect()
}

/// Classifies a batch against the index.
///
/// A row is written when its key is new, or when it is not older than the stored row and differs from it
/// (payload or deleted flag). A page stored live under another database is a move: the older location is
/// flagged `moved`, so a page never has two live rows.
pub(crate) fn plan_upsert(index: &PageIndex, rows: &[PageRecord]) -> PageChange {
    let total = rows.len() as u64;
    let mut change = PageChange::default();
    for row in newest_per_key(rows) {
        let mut row = std::borrow::Cow::Borrowed(row);
        let edited = row.last_edited_time.timestamp_micros();
        if !row.is_deleted {
            let mut newer_elsewhere = false;
            for (db, k) in index.live_elsewhere(&row.database_id, &row.page_id) {
                if k.edited_micros > edited {
                    newer_elsewhere = true;
                } else {
                    change.flags.push(Flag {
                        page_id: row.page_id.clone(),
                        database_id: db.clone(),
                        reason: DeletedReason::Moved,
                        at: row.synced_at,
                        not_after: row.last_edited_time,
                    });
                }
            }
            if newer_elsewhere {
                // This copy was read before the page moved away: keep it, flagged.
                let row = row.to_mut();
                row.is_deleted = true;
                row.deleted_at = Some(row.synced_at);
                row.deleted_reason = Some(DeletedReason::Moved.as_str().to_string());
            }
        }
        let key = version_key(&row.page_id, &row.payload_sha256);
        if !index.versions.contains(&key) {
            change.versions.push(row.clone().into_owned());
        }
        match index.get(&row.database_id, &row.page_id) {
            Some(k)
                if edited < k.edited_micros
                    || (k.hash == hash128(&row.payload_sha256) && k.deleted == row.is_deleted) => {}
            Some(_) => {
                change.stats.updated += 1;
                change.rows.push(row.into_owned());
            }
            None => {
                change.stats.inserted += 1;
                change.rows.push(row.into_owned());
            }
        }
    }
    // Two copies of one version in a batch (two keys can share a page only across databases) are one.
    let mut seen = HashSet::new();
    change
        .versions
        .retain(|r| seen.insert(version_key(&r.page_id, &r.payload_sha256)));
    change.stats.flagged = change.flags.len() as u64;
    change.stats.unchanged = total - change.stats.inserted - change.stats.updated;
    change
}

/// Flags for stored rows of `database_id` that are live now; rows already flagged keep their first
/// `deleted_at`.
pub(crate) fn plan_flags(
    index: &PageIndex,
    database_id: &str,
    flags: &[(String, DeletedReason)],
    at: DateTime<Utc>,
) -> PageChange {
    let mut change = PageChange::default();
    for (page_id, reason) in flags {
        if let Some(k) = index.get(database_id, page_id).filter(|k| !k.deleted) {
            change.flags.push(Flag {
                page_id: page_id.clone(),
                database_id: database_id.to_string(),
                reason: *reason,
                at,
                not_after: k.state().last_edited_time,
            });
        }
    }
    change.stats.flagged = change.flags.len() as u64;
    change
}

/// Flag rows set only the deletion columns, and only on a live row that is not newer than the flag.
pub(crate) const FLAG_GUARD: &str =
    "s.flag_only AND NOT t.is_deleted AND t.last_edited_time <= s.last_edited_time";
/// Full rows replace an older-or-equal stored row that differs.
pub(crate) const ROW_GUARD: &str = "NOT s.flag_only AND s.last_edited_time >= t.last_edited_time \
     AND (s.payload_sha256 <> t.payload_sha256 OR s.is_deleted <> t.is_deleted)";
/// Columns a flag sets.
pub(crate) const FLAG_COLUMNS: [&str; 3] = ["is_deleted", "deleted_at", "deleted_reason"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_separate_pages_and_payloads() {
        let a = "195de922-1179-449f-ab80-75a27c979105";
        let b = "195de922-1179-449f-ab80-75a27c979106";
        let h1 = crate::extract::convert::sha256_hex("one");
        let h2 = crate::extract::convert::sha256_hex("two");
        assert_ne!(version_key(a, &h1), version_key(a, &h2));
        assert_ne!(version_key(a, &h1), version_key(b, &h1));
        assert_eq!(version_key(a, &h1), version_key(a, &h1));
        assert_ne!(version_key("not-a-uuid", &h1), version_key("other", &h1));
    }
}
