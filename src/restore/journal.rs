//! The journal of a restore in `notion_restore_log`: an intent row before every create (whose answer may
//! be lost: Notion has no idempotency key) and an outcome row after every write, so a rerun with
//! `--resume` knows what was made for which snapshot page or block.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::RestoreError;
use crate::bronze::RestoreLogRecord;
use crate::sink::Sink;
use crate::sink::SinkError;

/// Outcome rows buffered before they are committed together.
const FLUSH_EVERY: usize = 50;

/// A restore's journal.
pub struct Journal<'a> {
    sink: &'a Sink,
    restore_id: String,
    step: i64,
    pending: Vec<RestoreLogRecord>,
}

/// What the journal of an earlier run of a restore says.
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    /// Snapshot id → what was created for it.
    pub created: HashMap<String, String>,
    /// Creates sent without a known outcome.
    pub unknown: Vec<Unknown>,
    /// The first row's detail: how the restore was started.
    pub started_with: Option<String>,
    /// Rows so far.
    pub steps: i64,
}

impl<'a> Journal<'a> {
    /// A new journal, or the continuation of `resumed`.
    pub fn new(sink: &'a Sink, restore_id: &str, resumed: Option<&Resumed>) -> Journal<'a> {
        Journal {
            sink,
            restore_id: restore_id.to_string(),
            step: resumed.map_or(0, |r| r.steps),
            pending: Vec::new(),
        }
    }

    /// The restore's id.
    pub fn id(&self) -> &str {
        &self.restore_id
    }

    fn row(
        &mut self,
        database_id: &str,
        action: &str,
        old_id: &str,
        status: &str,
    ) -> RestoreLogRecord {
        self.step += 1;
        RestoreLogRecord {
            restore_id: self.restore_id.clone(),
            step: self.step,
            database_id: database_id.to_string(),
            action: action.to_string(),
            old_id: old_id.to_string(),
            new_id: None,
            status: status.to_string(),
            request_id: None,
            detail: None,
            at: Utc::now(),
        }
    }

    /// Records intents durably (with everything buffered before them), before their writes are sent.
    pub async fn intend(
        &mut self,
        database_id: &str,
        action: &str,
        old_ids: &[&str],
    ) -> Result<(), SinkError> {
        for id in old_ids {
            let row = self.row(database_id, action, id, "started");
            self.pending.push(row);
        }
        self.flush().await
    }

    /// Records how the restore was started (the `begin` row, at point `as_of`, with `started_with`
    /// as its detail) and commits it.
    pub async fn begin(
        &mut self,
        as_of: &str,
        started_with: &serde_json::Value,
    ) -> Result<(), SinkError> {
        let detail = Some(started_with.to_string());
        self.outcome("", "begin", as_of, "done", None, None, detail)
            .await?;
        self.flush().await
    }

    /// Buffers an outcome (committed every few rows and at [`Journal::flush`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn outcome(
        &mut self,
        database_id: &str,
        action: &str,
        old_id: &str,
        status: &str,
        new_id: Option<&str>,
        request_id: Option<&str>,
        detail: Option<String>,
    ) -> Result<(), SinkError> {
        let mut row = self.row(database_id, action, old_id, status);
        row.new_id = new_id.map(str::to_string);
        row.request_id = request_id.map(str::to_string);
        row.detail = detail;
        self.pending.push(row);
        if self.pending.len() >= FLUSH_EVERY {
            self.flush().await?;
        }
        Ok(())
    }

    /// Commits what is buffered.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        let rows = std::mem::take(&mut self.pending);
        self.sink.append_restore_log(&rows).await
    }
}

/// Reads the journal of `restore_id` (`None` when there is none).
pub async fn resume(sink: &Sink, restore_id: &str) -> Result<Option<Resumed>, SinkError> {
    let rows = sink.read_restore_log(restore_id).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = Resumed {
        steps: rows.iter().map(|r| r.step).max().unwrap_or(0),
        started_with: rows
            .iter()
            .find(|r| r.action == "begin")
            .and_then(|r| r.detail.clone()),
        ..Resumed::default()
    };
    let mut open: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    for r in &rows {
        let key = (r.action.clone(), r.old_id.clone());
        match r.status.as_str() {
            "started" => {
                open.insert(key, r.at);
            }
            _ => {
                open.remove(&key);
                if let Some(new) = &r.new_id {
                    out.created.insert(r.old_id.clone(), new.clone());
                }
            }
        }
    }
    for ((action, old), at) in open {
        if CREATES.contains(&action.as_str()) {
            let database_id = rows
                .iter()
                .find(|r| r.old_id == old)
                .map(|r| r.database_id.clone())
                .unwrap_or_default();
            out.unknown.push(Unknown {
                action,
                database_id,
                old_id: old,
                at,
            });
        }
    }
    Ok(Some(out))
}

/// The journal of restore `id` to continue (`--resume ID`), or the error naming the unknown id.
pub async fn resumed(sink: &Sink, id: Option<&str>) -> Result<Option<Resumed>, RestoreError> {
    let Some(id) = id else { return Ok(None) };
    resume(sink, id).await?.map(Some).ok_or_else(|| {
        RestoreError::Point(format!(
            "--resume {id}: notion_restore_log has no restore with this id"
        ))
    })
}

/// A create whose intent was journaled but whose outcome was not: it may have been applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// The journal's action (`recreate`, `create_page`, `create_database`, ...).
    pub action: String,
    /// The configured database it belongs to.
    pub database_id: String,
    /// The snapshot id it stands for.
    pub old_id: String,
    /// When the intent was recorded.
    pub at: DateTime<Utc>,
}

/// The journal's actions that create something Notion gives no idempotency key for.
const CREATES: &[&str] = &[
    "recreate",
    "create_page",
    "create_database",
    "create_data_source",
    "create_comment",
];

/// What every earlier restore created, by snapshot id (the newest creation of each): a new restore of
/// the same point finds the pages made for it instead of making them again.
pub async fn earlier_creations(sink: &Sink) -> Result<HashMap<String, String>, SinkError> {
    let mut rows = sink.read_restore_log_all().await?;
    rows.sort_by_key(|r| (r.at, r.step));
    Ok(rows
        .into_iter()
        .filter(|r| {
            matches!(r.action.as_str(), "recreate" | "block_create" | "upload")
                && r.status != "started"
        })
        .filter_map(|r| Some((r.old_id, r.new_id?)))
        .collect())
}
