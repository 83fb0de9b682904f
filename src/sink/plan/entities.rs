//! Keyed content tables (`notion_raw_blocks`, `notion_raw_comments`, `notion_raw_users`): what the sink
//! knows of their rows, and how a re-read set of rows is planned against it.
//!
//! Rows are replaced a *group* at a time: the blocks or comments of one page, or every user. A row is
//! written when its key is new or its state (payload and place) differs from the stored one; a stored row
//! of a replaced group that the new read no longer has is flagged `is_deleted` (never removed). A re-read
//! that changes nothing plans nothing, so it commits nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::bronze::{PageContent, UserRecord};
use crate::notion::ids::PageKey;
use crate::sink::cells::Cell;
use crate::sink::spec::{self as schema, Kind, TableSpec};
use crate::sink::{ContentStats, SinkError, content_records};

/// How a content table is keyed and compared.
#[derive(Debug)]
pub(crate) struct Keyed {
    /// The table.
    pub spec: &'static TableSpec,
    /// Columns of the MERGE key.
    pub key: &'static [&'static str],
    /// Column of the row's own id.
    pub id: &'static str,
    /// Column of the group rows are replaced with (the page), if any.
    pub group: Option<&'static str>,
    /// Columns whose values decide whether a stored row differs from a new read.
    pub state: &'static [&'static str],
}

/// `notion_raw_blocks`: replaced per page.
pub(crate) const BLOCKS: Keyed = Keyed {
    spec: &schema::BLOCKS,
    key: &["block_id", "page_id"],
    id: "block_id",
    group: Some("page_id"),
    state: &[
        "payload_sha256",
        "parent_id",
        "position",
        "depth",
        "in_trash",
        "is_deleted",
    ],
};

/// `notion_raw_comments`: replaced per page.
pub(crate) const COMMENTS: Keyed = Keyed {
    spec: &schema::COMMENTS,
    key: &["comment_id"],
    id: "comment_id",
    group: Some("page_id"),
    state: &["payload_sha256", "parent_id", "is_deleted"],
};

/// `notion_raw_users`: replaced as a whole.
pub(crate) const USERS: Keyed = Keyed {
    spec: &schema::USERS,
    key: &["user_id"],
    id: "user_id",
    group: None,
    state: &["payload_sha256", "is_deleted"],
};

impl Keyed {
    fn col(&self, name: &str) -> usize {
        self.spec
            .columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or(0)
    }

    /// Columns the index is loaded from: id, group, state.
    pub fn index_columns(&self) -> Vec<&'static str> {
        let mut cols = vec![self.id];
        cols.extend(self.group);
        cols.extend(self.state.iter().copied());
        cols
    }

    /// Whether the table is partitioned by database.
    fn by_database(&self) -> bool {
        self.spec.partition == Some("database_id")
    }

    fn hash_of<'a>(&self, values: impl Iterator<Item = &'a Cell>) -> u128 {
        let mut h = Sha256::new();
        for v in values {
            match v {
                Cell::Str(s) => h.update(s.as_deref().unwrap_or("\u{0}").as_bytes()),
                Cell::I64(n) => h.update(n.unwrap_or(i64::MIN).to_le_bytes()),
                Cell::Bool(b) => h.update([b.map_or(2, u8::from)]),
                Cell::Ts(t) => h.update(t.map_or(i64::MIN, |t| t.timestamp_micros()).to_le_bytes()),
            }
            h.update([0x1f]);
        }
        u128::from_be_bytes(h.finalize()[..16].try_into().unwrap_or([0; 16]))
    }

    /// Key, group and state hash of a full row.
    fn identify(&self, row: &[Cell]) -> (u128, u128, u128) {
        let id = PageKey::of(&row[self.col(self.id)].text()).0;
        let group = self
            .group
            .map_or(0, |g| PageKey::of(&row[self.col(g)].text()).0);
        let hash = self.hash_of(self.state.iter().map(|c| &row[self.col(c)]));
        (id, group, hash)
    }
}

/// What the sink knows of a stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    hash: u128,
    deleted: bool,
}

/// The in-memory view of one keyed table.
#[derive(Debug, Default)]
pub(crate) struct EntityIndex {
    rows: HashMap<(u128, u128), Known>,
    groups: HashMap<u128, HashSet<u128>>,
}

impl EntityIndex {
    /// Adds scanned rows of [`Keyed::index_columns`].
    pub fn add(&mut self, keyed: &Keyed, scanned: Vec<Vec<Cell>>) {
        let offset = 1 + usize::from(keyed.group.is_some());
        let deleted = keyed.state.iter().position(|c| *c == "is_deleted");
        for r in scanned {
            let id = PageKey::of(&r[0].text()).0;
            let group = if keyed.group.is_some() {
                PageKey::of(&r[1].text()).0
            } else {
                0
            };
            let known = Known {
                hash: keyed.hash_of(r[offset..].iter()),
                deleted: deleted.is_some_and(|i| r[offset + i].flag()),
            };
            self.insert(id, group, known);
        }
    }

    fn insert(&mut self, id: u128, group: u128, known: Known) {
        self.rows.insert((id, group), known);
        self.groups.entry(group).or_default().insert(id);
    }

    /// Applies a committed change.
    pub fn apply(&mut self, change: &EntityChange) {
        for (id, group, hash, deleted) in &change.applied {
            self.insert(
                *id,
                *group,
                Known {
                    hash: *hash,
                    deleted: *deleted,
                },
            );
        }
    }
}

/// What one content write commits.
#[derive(Debug, Default)]
pub(crate) struct EntityChange {
    /// Rows to insert or update.
    pub write: Vec<Vec<Cell>>,
    /// Rows to flag deleted (key columns set, the rest placeholders).
    pub flags: Vec<Vec<Cell>>,
    /// Index entries once committed: id, group, state hash, deleted.
    applied: Vec<(u128, u128, u128, bool)>,
    /// New keys.
    pub inserted: u64,
    /// Changed rows.
    pub updated: u64,
    /// Rows equal to the stored ones.
    pub unchanged: u64,
    /// Databases written.
    pub databases: Vec<String>,
    /// Groups replaced.
    pub groups: Vec<PageKey>,
}

impl EntityChange {
    /// Whether every row is new and nothing is flagged.
    pub fn only_inserts(&self) -> bool {
        self.updated == 0 && self.flags.is_empty()
    }

    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.write.is_empty() && self.flags.is_empty()
    }
}

/// A group to replace: its key text and database.
pub(crate) struct Group<'a> {
    /// The group id (page id), `None` for the one group of users.
    pub id: Option<&'a str>,
    /// Its database.
    pub database_id: Option<&'a str>,
    /// Whether rows missing from the new read are flagged.
    pub complete: bool,
}

/// The rows of one content table replacing some groups of it.
pub(crate) struct ContentWrite<'a> {
    /// The table.
    pub keyed: &'static Keyed,
    /// Its full rows.
    pub rows: Vec<Vec<Cell>>,
    /// The groups they replace.
    pub groups: Vec<Group<'a>>,
}

/// The writes of a content read: every page's blocks (flagging missing ones only when its read was
/// complete), then the comments of the pages read with comments.
pub(crate) fn content_writes(content: &[PageContent]) -> Vec<ContentWrite<'_>> {
    fn group(c: &PageContent, complete: bool) -> Group<'_> {
        Group {
            id: Some(c.page_id.as_str()),
            database_id: Some(c.database_id.as_str()),
            complete,
        }
    }
    let mut out = vec![ContentWrite {
        keyed: &BLOCKS,
        rows: content
            .iter()
            .flat_map(|c| c.blocks.iter().map(content_records::block_cells))
            .collect(),
        groups: content.iter().map(|c| group(c, c.complete)).collect(),
    }];
    let with_comments: Vec<&PageContent> =
        content.iter().filter(|c| c.comments.is_some()).collect();
    if !with_comments.is_empty() {
        out.push(ContentWrite {
            keyed: &COMMENTS,
            rows: with_comments
                .iter()
                .flat_map(|c| {
                    c.comments
                        .iter()
                        .flatten()
                        .map(content_records::comment_cells)
                })
                .collect(),
            groups: with_comments.iter().map(|c| group(c, true)).collect(),
        });
    }
    out
}

/// The write of the workspace's user list (one group: every user).
pub(crate) fn users_write(users: &[UserRecord]) -> ContentWrite<'static> {
    ContentWrite {
        keyed: &USERS,
        rows: users.iter().map(content_records::user_cells).collect(),
        groups: vec![Group {
            id: None,
            database_id: None,
            complete: true,
        }],
    }
}

/// A sink that plans and writes the rows of a content table replacing some of its groups.
pub(crate) trait EntityWriter: Sync {
    /// Plans `rows` of `keyed`'s table replacing `groups` at `at` against what is stored, and writes them.
    fn write_entities(
        &self,
        keyed: &'static Keyed,
        rows: Vec<Vec<Cell>>,
        groups: &[Group<'_>],
        at: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<ContentStats, SinkError>> + Send;
}

/// [`crate::sink::BronzeSink::replace_content`] through a sink's [`EntityWriter`].
pub(crate) async fn replace_content<S: EntityWriter>(
    sink: &S,
    content: Vec<PageContent>,
    at: DateTime<Utc>,
) -> Result<ContentStats, SinkError> {
    let mut stats = ContentStats::default();
    for w in content_writes(&content) {
        stats.add(sink.write_entities(w.keyed, w.rows, &w.groups, at).await?);
    }
    Ok(stats)
}

/// [`crate::sink::BronzeSink::replace_users`] through a sink's [`EntityWriter`].
pub(crate) async fn replace_users<S: EntityWriter>(
    sink: &S,
    users: Vec<UserRecord>,
    at: DateTime<Utc>,
) -> Result<ContentStats, SinkError> {
    let w = users_write(&users);
    sink.write_entities(w.keyed, w.rows, &w.groups, at).await
}

/// Plans `rows` (full rows of `keyed`'s table) replacing `groups` at `at`.
pub(crate) fn plan(
    keyed: &Keyed,
    index: &EntityIndex,
    rows: &[Vec<Cell>],
    groups: &[Group<'_>],
    at: DateTime<Utc>,
) -> EntityChange {
    let mut change = EntityChange::default();
    let mut seen: HashSet<(u128, u128)> = HashSet::with_capacity(rows.len());
    let deleted_col = keyed.col("is_deleted");
    for row in rows {
        let (id, group, hash) = keyed.identify(row);
        if !seen.insert((id, group)) {
            continue;
        }
        match index.rows.get(&(id, group)) {
            Some(k) if k.hash == hash => {
                change.unchanged += 1;
                continue;
            }
            Some(_) => change.updated += 1,
            None => change.inserted += 1,
        }
        change
            .applied
            .push((id, group, hash, row[deleted_col].flag()));
        change.write.push(row.clone());
    }
    for g in groups {
        let group = g.id.map_or(0, |id| PageKey::of(id).0);
        change.groups.push(PageKey(group));
        change.databases.extend(g.database_id.map(str::to_string));
        if !g.complete {
            continue;
        }
        let stored = index.groups.get(&group).into_iter().flatten();
        for id in stored.filter(|id| !seen.contains(&(**id, group))) {
            if index.rows.get(&(*id, group)).is_none_or(|k| k.deleted) {
                continue;
            }
            let row = flag_row(keyed, *id, g, at);
            let (_, _, hash) = keyed.identify(&row);
            change.applied.push((*id, group, hash, true));
            change.flags.push(row);
        }
    }
    change.databases.sort();
    change.databases.dedup();
    change
}

/// A placeholder row that flags the stored row `(id, group)`: its key columns, `is_deleted`, `deleted_at`;
/// every other column a placeholder the MERGE never writes.
fn flag_row(keyed: &Keyed, id: u128, group: &Group<'_>, at: DateTime<Utc>) -> Vec<Cell> {
    keyed
        .spec
        .columns
        .iter()
        .map(|c| match c.name {
            n if n == keyed.id => Cell::Str(Some(PageKey(id).id())),
            n if Some(n) == keyed.group => Cell::Str(group.id.map(str::to_string)),
            "database_id" => Cell::Str(group.database_id.map(str::to_string)),
            "is_deleted" => Cell::Bool(Some(true)),
            "deleted_at" => Cell::Ts(Some(at)),
            _ if c.nullable => placeholder_null(c.kind),
            _ => placeholder(c.kind, at),
        })
        .collect()
}

fn placeholder_null(kind: Kind) -> Cell {
    match kind {
        Kind::Str => Cell::Str(None),
        Kind::Ts => Cell::Ts(None),
        Kind::Bool => Cell::Bool(None),
        Kind::I64 => Cell::I64(None),
    }
}

fn placeholder(kind: Kind, at: DateTime<Utc>) -> Cell {
    match kind {
        Kind::Str => Cell::Str(Some(String::new())),
        Kind::Ts => Cell::Ts(Some(at)),
        Kind::Bool => Cell::Bool(Some(false)),
        Kind::I64 => Cell::I64(Some(0)),
    }
}

/// Name of the MERGE source column telling flag rows from full rows.
pub(crate) const FLAG_COLUMN: &str = "flag_only";

/// The MERGE join of a change: the key columns, pruned to the databases it touches.
pub(crate) fn merge_on(keyed: &Keyed, change: &EntityChange) -> String {
    let mut on: Vec<String> = keyed.key.iter().map(|k| format!("t.{k} = s.{k}")).collect();
    if keyed.by_database() && !change.databases.is_empty() {
        let list: Vec<String> = change
            .databases
            .iter()
            .map(|d| crate::sink::sql_str(d))
            .collect();
        on.push(format!("t.database_id IN ({})", list.join(", ")));
    }
    on.join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::UserRecord;

    fn user(id: &str, body: &str) -> Vec<Cell> {
        crate::sink::content_records::user_cells(&UserRecord {
            user_id: id.into(),
            user_type: "person".into(),
            name: Some(body.into()),
            email: None,
            payload: body.into(),
            payload_sha256: crate::extract::convert::sha256_hex(body),
            is_deleted: false,
            synced_at: Utc::now(),
            sync_run_id: "r".into(),
        })
    }

    #[test]
    fn a_reread_plans_only_what_changed_and_flags_what_vanished() {
        let a = "195de922-1179-449f-ab80-75a27c979101";
        let b = "195de922-1179-449f-ab80-75a27c979102";
        let c = "195de922-1179-449f-ab80-75a27c979103";
        let all = [Group {
            id: None,
            database_id: None,
            complete: true,
        }];
        let mut index = EntityIndex::default();
        let first = plan(
            &USERS,
            &index,
            &[user(a, "x"), user(b, "y")],
            &all,
            Utc::now(),
        );
        assert_eq!(
            (first.inserted, first.updated, first.flags.len()),
            (2, 0, 0)
        );
        index.apply(&first);
        let same = plan(
            &USERS,
            &index,
            &[user(a, "x"), user(b, "y")],
            &all,
            Utc::now(),
        );
        assert!(same.is_empty());
        assert_eq!(same.unchanged, 2);
        let next = plan(
            &USERS,
            &index,
            &[user(a, "x2"), user(c, "z")],
            &all,
            Utc::now(),
        );
        assert_eq!((next.inserted, next.updated, next.flags.len()), (1, 1, 1));
        assert_eq!(next.flags[0][0], Cell::Str(Some(b.to_string())));
        index.apply(&next);
        let again = plan(
            &USERS,
            &index,
            &[user(a, "x2"), user(c, "z")],
            &all,
            Utc::now(),
        );
        assert!(again.is_empty(), "a flagged row is not flagged twice");
        // The user comes back: un-flagged by a full row.
        let back = plan(
            &USERS,
            &index,
            &[user(a, "x2"), user(b, "y"), user(c, "z")],
            &all,
            Utc::now(),
        );
        assert_eq!(back.updated, 1);
    }
}
