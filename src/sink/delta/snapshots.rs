//! The restore points of a lake: the versions of a table (from its Delta log) and, per database, the time
//! range the append-only history covers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;

use super::{DeltaSink, RUN_IDS_KEY, schema};
use crate::sink::SinkError;

/// One committed version of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCommit {
    /// The Delta version.
    pub version: u64,
    /// When it was committed (the commit's own timestamp).
    pub committed_at: Option<DateTime<Utc>>,
    /// The Delta operation (`WRITE`, `MERGE`, `OPTIMIZE`, ...).
    pub operation: Option<String>,
    /// The sync runs whose rows it wrote (empty for maintenance commits).
    pub run_ids: Vec<String>,
}

/// What the history table holds of one database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRange {
    /// The database.
    pub database_id: String,
    /// History rows (distinct payloads observed).
    pub rows: u64,
    /// The first observation.
    pub observed_from: Option<DateTime<Utc>>,
    /// The last observation.
    pub observed_to: Option<DateTime<Utc>>,
}

impl DeltaSink {
    /// Every version of `table` whose commit file is still in its log, oldest first.
    pub async fn commits(&self, table: &str) -> Result<Vec<TableCommit>, SinkError> {
        let delta = self.handle(table).await?;
        let store = delta.object_store();
        let log = object_store::path::Path::from("_delta_log");
        let listed: Vec<_> = store
            .list(Some(&log))
            .try_collect()
            .await
            .map_err(|e| self.fail(table, e.into()))?;
        let mut versions: Vec<(u64, object_store::path::Path)> = listed
            .into_iter()
            .filter_map(|m| {
                let version = m.location.filename()?.strip_suffix(".json")?.parse().ok()?;
                Some((version, m.location))
            })
            .collect();
        versions.sort_by_key(|(v, _)| *v);
        let mut out = Vec::with_capacity(versions.len());
        for (version, path) in versions {
            let bytes = store
                .get(&path)
                .await
                .map_err(|e| self.fail(table, e.into()))?
                .bytes()
                .await
                .map_err(|e| self.fail(table, e.into()))?;
            out.push(parse_commit(version, &bytes));
        }
        Ok(out)
    }

    /// Per database, the rows and time range of the history table.
    pub async fn history_ranges(&self) -> Result<Vec<HistoryRange>, SinkError> {
        let table = self.open(&schema::VERSIONS).await?;
        let mut ranges: BTreeMap<String, HistoryRange> = BTreeMap::new();
        let columns = ["database_id", "observed_at"];
        self.scan_batches(table, &schema::VERSIONS, Some(&columns), |rows| {
            for row in rows {
                let db = row[0].text();
                let at = match &row[1] {
                    super::Cell::Ts(t) => *t,
                    _ => None,
                };
                let r = ranges.entry(db.clone()).or_insert(HistoryRange {
                    database_id: db,
                    rows: 0,
                    observed_from: None,
                    observed_to: None,
                });
                r.rows += 1;
                r.observed_from = match (r.observed_from, at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                r.observed_to = r.observed_to.max(at);
            }
        })
        .await?;
        Ok(ranges.into_values().collect())
    }
}

/// The commit of `version` from its log file (one JSON action per line).
fn parse_commit(version: u64, bytes: &[u8]) -> TableCommit {
    let info = String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("commitInfo").cloned())
        .unwrap_or_default();
    TableCommit {
        version,
        committed_at: info["timestamp"]
            .as_i64()
            .and_then(DateTime::<Utc>::from_timestamp_millis),
        operation: info["operation"].as_str().map(str::to_string),
        run_ids: info[RUN_IDS_KEY]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_line_gives_time_operation_and_runs() {
        let log = concat!(
            r#"{"add":{"path":"x.parquet"}}"#,
            "\n",
            r#"{"commitInfo":{"timestamp":1764590400000,"operation":"MERGE","notion_sync.run_ids":["r1","r2"]}}"#,
            "\n"
        );
        let c = parse_commit(7, log.as_bytes());
        assert_eq!(c.version, 7);
        assert_eq!(c.operation.as_deref(), Some("MERGE"));
        assert_eq!(c.run_ids, vec!["r1", "r2"]);
        assert_eq!(
            c.committed_at.unwrap().to_rfc3339(),
            "2025-12-01T12:00:00+00:00"
        );
        assert_eq!(parse_commit(1, b"not json").run_ids, Vec::<String>::new());
    }
}
