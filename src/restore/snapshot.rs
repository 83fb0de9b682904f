//! What a restore brings back: every selected database as bronze knew it at one point, read from the lake
//! (time travel or the history table) or from an export.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RestoreError;
use super::point::AsOf;
use crate::bronze::{BlockRecord, CommentRecord, DatabaseRecord, UserRecord};
use crate::config::DatabaseConfig;
#[cfg(feature = "warehouse")]
use crate::config::Dialect;
use crate::sink::Sink;
use crate::sink::delta::{DeltaSink, StoredPage, StoredVersion, TableAt, TableCommit};
use crate::sink::tables;
#[cfg(feature = "warehouse")]
use crate::sink::warehouse::WarehouseSink;

/// One page as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPage {
    /// Page id.
    pub page_id: String,
    /// The data source it was in.
    pub data_source_id: String,
    /// Its `last_edited_time` then.
    pub last_edited_time: DateTime<Utc>,
    /// Whether it was in the trash then.
    pub in_trash: bool,
    /// The page object as read (truncated properties completed).
    pub payload: String,
}

/// One database at the snapshot's point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DatabaseSnapshot {
    /// Database id.
    pub database_id: String,
    /// Configured name.
    pub name: String,
    /// The newest schema snapshot of each data source at the point.
    pub sources: Vec<DatabaseRecord>,
    /// Its pages (trashed ones flagged), by page id.
    pub pages: Vec<SnapshotPage>,
    /// The live blocks of its pages, each page's in document order.
    pub blocks: Vec<BlockRecord>,
    /// The comments listed for its pages.
    pub comments: Vec<CommentRecord>,
}

impl DatabaseSnapshot {
    /// Each page's blocks in document order, by page id (pages without any are absent).
    pub fn blocks_by_page(&self) -> HashMap<&str, Vec<&BlockRecord>> {
        let mut out: HashMap<&str, Vec<&BlockRecord>> = HashMap::new();
        for b in &self.blocks {
            out.entry(b.page_id.as_str()).or_default().push(b);
        }
        out
    }
}

/// Everything a restore brings back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The point asked for.
    pub as_of: Option<AsOf>,
    /// The version of `notion_raw_pages` it reads (`None` for a timestamp: the history table answers).
    pub pages_version: Option<u64>,
    /// The time of the state: the version's commit time, or the timestamp asked for.
    pub at: Option<DateTime<Utc>>,
    /// The selected databases.
    pub databases: Vec<DatabaseSnapshot>,
    /// The workspace's users then.
    pub users: Vec<UserRecord>,
    /// Why content is missing, when bronze could not give it for this point.
    pub content_gap: Option<String>,
}

/// Reads the snapshot of `databases` at `as_of` from the lake.
///
/// A version reads `notion_raw_pages` at that version; a timestamp reads the newest history row of each
/// page observed at or before it (pages flagged deleted by then are left out), which still works after
/// `optimize` vacuumed the old files. Schemas are the newest snapshot of each data source at the point;
/// content, comments and users come from their tables at the point, when their files are still there.
pub async fn from_lake(
    sink: &Sink,
    databases: &[DatabaseConfig],
    as_of: AsOf,
) -> Result<Snapshot, RestoreError> {
    let parts = match sink {
        Sink::Delta(lake) => from_delta(lake, as_of).await?,
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(warehouse) => from_warehouse(warehouse, as_of).await?,
    };
    Ok(assemble(databases, as_of, parts))
}

/// What a snapshot is assembled from.
struct Parts {
    pages: Vec<(String, SnapshotPage)>,
    pages_version: Option<u64>,
    at: Option<DateTime<Utc>>,
    schemas: Vec<DatabaseRecord>,
    blocks: Vec<BlockRecord>,
    comments: Vec<CommentRecord>,
    users: Vec<UserRecord>,
    content_gap: Option<String>,
}

async fn from_delta(sink: &DeltaSink, as_of: AsOf) -> Result<Parts, RestoreError> {
    let latest = sink.table_version(tables::PAGES).await?;
    let (pages, pages_version, at, content_at) = match as_of {
        AsOf::Latest => {
            let at = match latest {
                Some(v) => sink.committed_at(tables::PAGES, v).await?,
                None => None,
            };
            let pages = current(sink.pages_at(TableAt::Latest).await?);
            (pages, latest, at, TableAt::Latest)
        }
        AsOf::Version(v) => {
            if latest.is_none_or(|l| v > l) {
                return Err(RestoreError::Point(format!(
                    "--as-of {v}: notion_raw_pages has no version {v} (latest: {}); list the restore points \
                     with `notion-sync snapshots`",
                    latest.map_or("none".into(), |l| l.to_string())
                )));
            }
            let pages = sink.pages_at(TableAt::Version(v)).await.map_err(|e| {
                RestoreError::Point(format!(
                    "--as-of {v}: version {v} of notion_raw_pages cannot be read ({e}); `optimize` may have \
                     vacuumed its files: give a timestamp instead (the history table keeps every version)"
                ))
            })?;
            // One read of the log answers both: the version's time and where its content stands.
            let log = sink.commits(tables::PAGES).await?;
            let at = log
                .iter()
                .find(|c| c.version == v)
                .and_then(|c| c.committed_at);
            let content_at = content_after(sink, &log, v).await?;
            (current(pages), Some(v), at, content_at)
        }
        AsOf::Time(t) => {
            let versions = sink.read_versions().await?;
            let rows = sink.pages_at(TableAt::Latest).await?;
            (
                history_at(versions, &rows, t)?,
                None,
                Some(t),
                TableAt::Time(t),
            )
        }
    };
    let schemas = sink.read_schemas().await?;
    let mut content_gap = None;
    let (blocks, comments) = match tokio::try_join!(
        sink.blocks_at(content_at),
        sink.comments_at(content_at)
    ) {
        Ok(v) => v,
        Err(e) => {
            content_gap = Some(format!(
                "content and comments at {as_of} cannot be read ({e}): `optimize` vacuumed the files of \
                     that version; properties are restored, content is left as it is"
            ));
            (Vec::new(), Vec::new())
        }
    };
    let users = sink.users_at(content_at).await.unwrap_or_default();
    Ok(Parts {
        pages,
        pages_version,
        at,
        schemas,
        blocks,
        comments,
        users,
        content_gap,
    })
}

/// The snapshot from a warehouse: the latest state, or the history table at a timestamp (both dialects);
/// a table version and content at a past point through Databricks' time travel (`VERSION AS OF`,
/// `TIMESTAMP AS OF`). PostgreSQL keeps no table versions: content is restored only from the latest state.
#[cfg(feature = "warehouse")]
async fn from_warehouse(sink: &WarehouseSink, as_of: AsOf) -> Result<Parts, RestoreError> {
    let travels = sink.sql().dialect == Dialect::Databricks;
    let (pages, pages_version, at, content_at) = match as_of {
        AsOf::Latest => (
            current(sink.read_pages().await?),
            None,
            None,
            TableAt::Latest,
        ),
        AsOf::Version(v) if travels => {
            let rows = sink.read_pages_at(TableAt::Version(v)).await.map_err(|e| {
                RestoreError::Point(format!(
                    "--as-of {v}: version {v} of notion_raw_pages cannot be read ({e}); give a timestamp \
                     instead (the history table keeps every version)"
                ))
            })?;
            (current(rows), Some(v), None, TableAt::Version(v))
        }
        AsOf::Version(v) => {
            return Err(RestoreError::Point(format!(
                "--as-of {v}: a table version is a Delta version, and this warehouse (PostgreSQL) keeps \
                 none; give a timestamp instead (the history table notion_raw_page_versions answers)"
            )));
        }
        AsOf::Time(t) => {
            let versions = sink.read_versions().await?;
            let rows = sink.read_pages().await?;
            (
                history_at(versions, &rows, t)?,
                None,
                Some(t),
                TableAt::Time(t),
            )
        }
    };
    let schemas = sink.read_schemas().await?;
    let (blocks, comments, users, content_gap) = match content_at {
        TableAt::Latest => (
            sink.read_blocks().await?,
            sink.read_comments().await?,
            sink.read_users().await?,
            None,
        ),
        TableAt::Time(t) if travels => (
            sink.read_blocks_at(TableAt::Time(t)).await?,
            sink.read_comments_at(TableAt::Time(t)).await?,
            sink.read_users_at(TableAt::Time(t)).await?,
            None,
        ),
        _ => (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Some(format!(
                "content and comments at {as_of} are not kept by this warehouse (only the history of \
                 page properties is): properties are restored, content is left as it is"
            )),
        ),
    };
    Ok(Parts {
        pages,
        pages_version,
        at,
        schemas,
        blocks,
        comments,
        users,
        content_gap,
    })
}

/// The snapshot of `databases` from what was read.
fn assemble(databases: &[DatabaseConfig], as_of: AsOf, parts: Parts) -> Snapshot {
    let Parts {
        pages,
        pages_version,
        at,
        schemas,
        blocks,
        comments,
        users,
        content_gap,
    } = parts;
    let users = users.into_iter().filter(|u| !u.is_deleted).collect();
    let mut by_db: BTreeMap<&str, DatabaseSnapshot> = databases
        .iter()
        .map(|d| {
            (
                d.id.as_str(),
                DatabaseSnapshot {
                    database_id: d.id.clone(),
                    name: d.name.clone(),
                    ..DatabaseSnapshot::default()
                },
            )
        })
        .collect();
    for (db, page) in pages {
        if let Some(s) = by_db.get_mut(db.as_str()) {
            s.pages.push(page);
        }
    }
    for schema in newest_schemas(schemas, at) {
        if let Some(s) = by_db.get_mut(schema.database_id.as_str()) {
            s.sources.push(schema);
        }
    }
    for b in blocks.into_iter().filter(|b| !b.is_deleted && !b.in_trash) {
        if let Some(s) = by_db.get_mut(b.database_id.as_str()) {
            s.blocks.push(b);
        }
    }
    for c in comments.into_iter().filter(|c| !c.is_deleted) {
        if let Some(s) = by_db.get_mut(c.database_id.as_str()) {
            s.comments.push(c);
        }
    }
    let mut out: Vec<DatabaseSnapshot> = by_db.into_values().collect();
    for db in &mut out {
        db.pages.sort_by(|a, b| a.page_id.cmp(&b.page_id));
        db.sources
            .sort_by(|a, b| a.data_source_id.cmp(&b.data_source_id));
        sort_blocks(&mut db.blocks);
        db.comments
            .sort_by(|a, b| (a.created_time, &a.comment_id).cmp(&(b.created_time, &b.comment_id)));
    }
    Snapshot {
        as_of: Some(as_of),
        pages_version,
        at,
        databases: out,
        users,
        content_gap,
    }
}

/// Content as it stood when the runs that wrote pages version `v` were done: just before the first
/// commit (to pages, blocks or comments) of the next run that wrote pages, or the latest.
async fn content_after(
    sink: &DeltaSink,
    commits: &[TableCommit],
    v: u64,
) -> Result<TableAt, RestoreError> {
    let runs: Vec<&String> = commits
        .iter()
        .filter(|c| c.version == v)
        .flat_map(|c| &c.run_ids)
        .collect();
    let next: Vec<String> = commits
        .iter()
        .filter(|c| c.version > v)
        .find(|c| {
            c.run_ids
                .iter()
                .any(|r| !r.is_empty() && !runs.contains(&r))
        })
        .map(|c| c.run_ids.clone())
        .unwrap_or_default();
    if next.is_empty() {
        return Ok(TableAt::Latest);
    }
    let mut first: Option<DateTime<Utc>> = None;
    let mut logs = vec![commits.to_vec()];
    for table in [tables::BLOCKS, tables::COMMENTS] {
        logs.push(sink.commits(table).await?);
    }
    for log in logs {
        for c in log {
            if c.run_ids.iter().any(|r| !r.is_empty() && next.contains(r)) {
                first = match (first, c.committed_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    Ok(match first {
        Some(t) => TableAt::Time(t - chrono::Duration::microseconds(1)),
        None => TableAt::Latest,
    })
}

/// Blocks grouped by page, each page's in document order (depth-first, by position under each parent).
pub fn sort_blocks(blocks: &mut Vec<BlockRecord>) {
    let mut children: HashMap<(String, String), Vec<BlockRecord>> = HashMap::new();
    let mut pages: Vec<String> = Vec::new();
    for b in blocks.drain(..) {
        if b.parent_type == "page" && !pages.contains(&b.page_id) {
            pages.push(b.page_id.clone());
        }
        children
            .entry((b.page_id.clone(), b.parent_id.clone()))
            .or_default()
            .push(b);
    }
    for list in children.values_mut() {
        list.sort_by_key(|b| b.position);
    }
    pages.sort();
    for page in pages {
        let mut stack: Vec<std::vec::IntoIter<BlockRecord>> = Vec::new();
        if let Some(top) = children.remove(&(page.clone(), page.clone())) {
            stack.push(top.into_iter());
        }
        while let Some(level) = stack.last_mut() {
            let Some(b) = level.next() else {
                stack.pop();
                continue;
            };
            let below = children.remove(&(page.clone(), b.block_id.clone()));
            blocks.push(b);
            if let Some(below) = below {
                stack.push(below.into_iter());
            }
        }
    }
}

/// The rows that were live pages (trashed ones included), keyed by database.
fn current(rows: Vec<StoredPage>) -> Vec<(String, SnapshotPage)> {
    rows.into_iter()
        .filter(|r| !r.record.is_deleted)
        .map(|r| {
            let r = r.record;
            (
                r.database_id,
                SnapshotPage {
                    page_id: r.page_id,
                    data_source_id: r.data_source_id,
                    last_edited_time: r.last_edited_time,
                    in_trash: r.in_trash,
                    payload: r.payload,
                },
            )
        })
        .collect()
}

/// Each page's newest history row observed at or before `t`, unless the page was flagged deleted by then
/// and not observed again before `t`.
fn history_at(
    versions: Vec<StoredVersion>,
    rows: &[StoredPage],
    t: DateTime<Utc>,
) -> Result<Vec<(String, SnapshotPage)>, RestoreError> {
    if !versions.iter().any(|v| v.observed_at <= t) {
        let first = versions.iter().map(|v| v.observed_at).min();
        return Err(RestoreError::Point(format!(
            "--as-of {}: bronze observed nothing before it (first observation: {})",
            AsOf::Time(t),
            first.map_or("none".into(), |f| AsOf::Time(f).to_string())
        )));
    }
    let deleted: HashMap<(&str, &str), DateTime<Utc>> = rows
        .iter()
        .filter(|r| r.record.is_deleted)
        .filter_map(|r| {
            let at = r.record.deleted_at?;
            Some((
                (r.record.page_id.as_str(), r.record.database_id.as_str()),
                at,
            ))
        })
        .collect();
    let mut newest: BTreeMap<(String, String), StoredVersion> = BTreeMap::new();
    for v in versions.into_iter().filter(|v| v.observed_at <= t) {
        let key = (v.database_id.clone(), v.page_id.clone());
        match newest.get(&key) {
            Some(old)
                if (old.observed_at, old.last_edited_time)
                    > (v.observed_at, v.last_edited_time) => {}
            _ => {
                newest.insert(key, v);
            }
        }
    }
    Ok(newest
        .into_values()
        .filter(|v| !v.is_deleted)
        .filter(|v| {
            deleted
                .get(&(v.page_id.as_str(), v.database_id.as_str()))
                .is_none_or(|&at| at > t || v.observed_at > at)
        })
        .map(|v| {
            (
                v.database_id,
                SnapshotPage {
                    page_id: v.page_id,
                    data_source_id: v.data_source_id,
                    last_edited_time: v.last_edited_time,
                    in_trash: v.in_trash,
                    payload: v.payload,
                },
            )
        })
        .collect())
}

/// The newest schema of each data source observed at or before `at` (every newest one without `at`).
fn newest_schemas(schemas: Vec<DatabaseRecord>, at: Option<DateTime<Utc>>) -> Vec<DatabaseRecord> {
    let mut newest: BTreeMap<String, DatabaseRecord> = BTreeMap::new();
    for s in schemas
        .into_iter()
        .filter(|s| at.is_none_or(|t| s.observed_at <= t))
    {
        match newest.get(&s.data_source_id) {
            Some(old) if old.observed_at > s.observed_at => {}
            _ => {
                newest.insert(s.data_source_id.clone(), s);
            }
        }
    }
    newest.into_values().collect()
}

/// The snapshot of `databases` to restore: from the export at `from` (decrypted with `identity` when
/// given) when there is one, else from the lake at `as_of`.
pub async fn load(
    sink: &Sink,
    databases: &[DatabaseConfig],
    as_of: AsOf,
    from: Option<&str>,
    identity: Option<&std::path::Path>,
    storage: &std::collections::HashMap<String, String>,
) -> Result<Snapshot, RestoreError> {
    match from {
        Some(location) => {
            let mut snap = super::archive::from_export_at(location, identity, storage).await?;
            snap.databases
                .retain(|d| databases.iter().any(|c| c.id == d.database_id));
            Ok(snap)
        }
        None => from_lake(sink, databases, as_of).await,
    }
}
