//! The Delta Lake sink: bronze tables under `<lake>/<schema>/<table>`, written with delta-rs.
//!
//! Pages are MERGEd on `(page_id, database_id)`. Before merging, each batch is compared with an in-memory
//! index of what the table holds (page id → payload hash, `last_edited_time`, deleted flag, loaded once per
//! process), so rows that would not change are dropped and a batch with nothing new commits nothing: no
//! file, no version. The MERGE itself is still guarded (`s.last_edited_time >= t.last_edited_time` and a
//! different hash), so a concurrent writer's newer row is never overwritten.

mod cells;
mod records;
pub mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use tokio::sync::Mutex;
use url::Url;

use super::{BronzeSink, PageCounts, SinkError, UpsertStats};
use crate::bronze::{DatabaseRecord, PageRecord, RunRecord, WatermarkRecord};
use cells::{Cell, from_batches, to_batch};
pub use records::StoredPage;
use schema::TableSpec;

/// Attempts of one commit when concurrent writers keep winning.
const COMMIT_ATTEMPTS: u32 = 6;

/// What the sink knows about a stored page.
#[derive(Debug, Clone)]
struct Known {
    hash: String,
    edited_micros: i64,
    deleted: bool,
}

/// database id → page id → what is stored.
type KeyIndex = HashMap<String, HashMap<String, Known>>;

/// A Delta Lake bronze layer.
#[derive(Debug)]
pub struct DeltaSink {
    uri: String,
    root: Root,
    storage_options: HashMap<String, String>,
    index: Mutex<Option<KeyIndex>>,
}

#[derive(Debug, Clone)]
enum Root {
    Local(std::path::PathBuf),
    Remote(String),
}

impl DeltaSink {
    /// A sink for tables under `<lake_uri>/<schema>/`; `lake_uri` is a local path or a URL (`file://`,
    /// `s3://`, `abfss://`, `gs://`, `memory://`). Nothing is touched until the first operation.
    pub fn new(lake_uri: &str, schema: &str) -> Result<Self, SinkError> {
        let location = |reason: String| SinkError::Location {
            uri: lake_uri.to_string(),
            reason,
        };
        let root = if let Some(path) = lake_uri.strip_prefix("file://") {
            Root::Local(std::path::PathBuf::from(path).join(schema))
        } else if lake_uri.contains("://") {
            Url::parse(lake_uri).map_err(|e| location(format!("not a URL: {e}")))?;
            Root::Remote(format!("{}/{schema}", lake_uri.trim_end_matches('/')))
        } else {
            let abs = std::path::absolute(lake_uri).map_err(|e| location(e.to_string()))?;
            Root::Local(abs.join(schema))
        };
        Ok(DeltaSink {
            uri: lake_uri.to_string(),
            root,
            storage_options: HashMap::new(),
            index: Mutex::new(None),
        })
    }

    /// Storage options for object stores (credentials, endpoints), as delta-rs keys.
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.storage_options = options;
        self
    }

    fn table_url(&self, table: &str) -> Result<Url, SinkError> {
        let location = |reason: String| SinkError::Location {
            uri: self.uri.clone(),
            reason,
        };
        match &self.root {
            Root::Local(dir) => {
                let path = dir.join(table);
                std::fs::create_dir_all(&path)
                    .map_err(|e| location(format!("cannot create {}: {e}", path.display())))?;
                Url::from_directory_path(&path)
                    .map_err(|_| location(format!("bad path {}", path.display())))
            }
            Root::Remote(root) => {
                Url::parse(&format!("{root}/{table}")).map_err(|e| location(e.to_string()))
            }
        }
    }

    async fn handle(&self, table: &str) -> Result<DeltaTable, SinkError> {
        let url = self.table_url(table)?;
        DeltaTable::try_from_url_with_storage_options(url, self.storage_options.clone())
            .await
            .map_err(|e| map_err(table, e))
    }

    async fn open(&self, spec: &TableSpec) -> Result<DeltaTable, SinkError> {
        let table = self.handle(spec.name).await?;
        if table.version().is_none() {
            return Err(SinkError::Internal {
                table: spec.name.to_string(),
                reason: "table does not exist; run `notion-sync init-tables`".into(),
            });
        }
        Ok(table)
    }

    async fn scan_table(
        &self,
        table: DeltaTable,
        spec: &TableSpec,
        columns: Option<&[&str]>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        // Projection by name through DataFusion (partition columns come back last and dictionary-encoded;
        // `from_batches` finds columns by name and normalises their types).
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| map_err(spec.name, e))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| internal(spec.name, e))?;
        let names: Vec<&str> = columns
            .map(<[&str]>::to_vec)
            .unwrap_or_else(|| spec.names());
        let batches = ctx
            .read_table(provider)
            .and_then(|df| df.select_columns(&names))
            .map_err(|e| internal(spec.name, e))?
            .collect()
            .await
            .map_err(|e| internal(spec.name, e))?;
        from_batches(spec, columns, &batches).map_err(|e| internal(spec.name, e))
    }

    async fn scan(
        &self,
        spec: &TableSpec,
        columns: Option<&[&str]>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let table = self.open(spec).await?;
        self.scan_table(table, spec, columns).await
    }

    async fn append(
        &self,
        spec: &TableSpec,
        rows: &[Vec<Cell>],
        operation: &str,
    ) -> Result<(), SinkError> {
        let batch = to_batch(spec, rows).map_err(|e| internal(spec.name, e))?;
        let table = self.open(spec).await?;
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(commit_props(operation))
            .await
            .map_err(|e| map_err(spec.name, e))?;
        Ok(())
    }

    /// MERGE `batch` into `spec`'s table on `on`; matched rows (where `guard` holds) get `update` columns
    /// from the source; unmatched source rows are inserted when `insert` is set. Retries commit conflicts
    /// against the new table state. Returns the new version.
    async fn merge(
        &self,
        spec: &TableSpec,
        batch: RecordBatch,
        on: &str,
        guard: Option<&str>,
        update: &[&str],
        insert: bool,
    ) -> Result<Option<u64>, SinkError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let table = self.open(spec).await?;
            let source = SessionContext::new()
                .read_batch(batch.clone())
                .map_err(|e| internal(spec.name, e))?;
            let mut builder = table
                .merge(source, on)
                .with_source_alias("s")
                .with_target_alias("t")
                .with_commit_properties(commit_props(&format!("notion-sync.merge.{}", spec.name)))
                .when_matched_update(|mut u| {
                    if let Some(g) = guard {
                        u = u.predicate(g);
                    }
                    for col in update {
                        u = u.update(*col, format!("s.{col}"));
                    }
                    u
                })
                .map_err(|e| map_err(spec.name, e))?;
            if insert {
                builder = builder
                    .when_not_matched_insert(|mut i| {
                        for col in spec.columns {
                            i = i.set(col.name, format!("s.{}", col.name));
                        }
                        i
                    })
                    .map_err(|e| map_err(spec.name, e))?;
            }
            match builder.await {
                Ok((table, _metrics)) => return Ok(table.version()),
                Err(e) if is_conflict(&e) && attempt < COMMIT_ATTEMPTS => {
                    tracing::warn!(
                        table = spec.name,
                        attempt,
                        "concurrent commit; retrying the merge"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(
                        50 * u64::from(attempt) + fastrand::u64(0..100),
                    ))
                    .await;
                }
                Err(e) if is_conflict(&e) => {
                    return Err(SinkError::Conflict {
                        table: spec.name.into(),
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(map_err(spec.name, e)),
            }
        }
    }

    async fn load_index(&self) -> Result<KeyIndex, SinkError> {
        let cols = [
            "page_id",
            "database_id",
            "payload_sha256",
            "last_edited_time",
            "is_deleted",
        ];
        let rows = self.scan(&schema::PAGES, Some(&cols)).await?;
        let mut index: KeyIndex = HashMap::new();
        for r in rows {
            index.entry(r[1].text()).or_default().insert(
                r[0].text(),
                Known {
                    hash: r[2].text(),
                    edited_micros: r[3].ts().map(|t| t.timestamp_micros()).unwrap_or_default(),
                    deleted: r[4].flag(),
                },
            );
        }
        Ok(index)
    }

    /// Every stored page (at `version` when given, else the latest), for tests, `status` and restore.
    pub async fn read_pages(&self, version: Option<u64>) -> Result<Vec<StoredPage>, SinkError> {
        let spec = &schema::PAGES;
        let mut table = self.open(spec).await?;
        if let Some(v) = version {
            table
                .load_version(v)
                .await
                .map_err(|e| map_err(spec.name, e))?;
        }
        let rows = self.scan_table(table, spec, None).await?;
        Ok(rows.iter().map(|r| records::page_from(r)).collect())
    }

    /// Every schema snapshot.
    pub async fn read_schemas(&self) -> Result<Vec<DatabaseRecord>, SinkError> {
        let rows = self.scan(&schema::DATABASES, None).await?;
        Ok(rows.iter().map(|r| records::database_from(r)).collect())
    }

    /// The latest version of a table (`None` when it does not exist).
    pub async fn table_version(&self, table: &str) -> Result<Option<u64>, SinkError> {
        Ok(self.handle(table).await?.version())
    }
}

impl BronzeSink for DeltaSink {
    async fn init_tables(&self) -> Result<Vec<String>, SinkError> {
        let mut created = Vec::new();
        for spec in schema::ALL {
            let table = self.handle(spec.name).await?;
            if table.version().is_some() {
                continue;
            }
            let mut builder = table
                .create()
                .with_columns(spec.delta_fields())
                .with_table_name(spec.name)
                .with_comment(spec.comment)
                .with_save_mode(SaveMode::Ignore);
            if let Some(p) = spec.partition {
                builder = builder.with_partition_columns([p]);
            }
            builder.await.map_err(|e| map_err(spec.name, e))?;
            created.push(spec.name.to_string());
        }
        Ok(created)
    }

    async fn check_writable(&self) -> Result<(), SinkError> {
        match &self.root {
            Root::Local(dir) => {
                let location = |reason: String| SinkError::Location {
                    uri: self.uri.clone(),
                    reason,
                };
                std::fs::create_dir_all(dir)
                    .map_err(|e| location(format!("cannot create {}: {e}", dir.display())))?;
                let probe = dir.join(format!(".notion-sync-probe-{}", uuid::Uuid::new_v4()));
                std::fs::write(&probe, b"probe")
                    .map_err(|e| location(format!("cannot write in {}: {e}", dir.display())))?;
                std::fs::remove_file(&probe).map_err(|e| location(e.to_string()))?;
                Ok(())
            }
            Root::Remote(_) => self.handle(schema::PAGES.name).await.map(|_| ()),
        }
    }

    async fn upsert_pages(&self, rows: Vec<PageRecord>) -> Result<UpsertStats, SinkError> {
        // Newest version of each key wins within the batch (MERGE rejects duplicate source keys).
        let mut latest: HashMap<(String, String), PageRecord> = HashMap::with_capacity(rows.len());
        let total = rows.len() as u64;
        for row in rows {
            let key = (row.page_id.clone(), row.database_id.clone());
            match latest.get(&key) {
                Some(old) if old.last_edited_time > row.last_edited_time => {}
                _ => {
                    latest.insert(key, row);
                }
            }
        }
        let mut guard = self.index.lock().await;
        if guard.is_none() {
            *guard = Some(self.load_index().await?);
        }
        let index = guard
            .as_mut()
            .ok_or_else(|| internal(schema::PAGES.name, "index"))?;
        let mut stats = UpsertStats::default();
        let mut changed: Vec<PageRecord> = Vec::new();
        for row in latest.into_values() {
            match index
                .get(&row.database_id)
                .and_then(|m| m.get(&row.page_id))
            {
                Some(k)
                    if row.last_edited_time.timestamp_micros() < k.edited_micros
                        || (k.hash == row.payload_sha256 && !k.deleted && !row.is_deleted) => {}
                Some(_) => {
                    stats.updated += 1;
                    changed.push(row);
                }
                None => {
                    stats.inserted += 1;
                    changed.push(row);
                }
            }
        }
        stats.unchanged = total - stats.inserted - stats.updated;
        if changed.is_empty() {
            return Ok(stats);
        }
        let spec = &schema::PAGES;
        let cells: Vec<Vec<Cell>> = changed.iter().map(records::page_cells).collect();
        let batch = to_batch(spec, &cells).map_err(|e| internal(spec.name, e))?;
        let databases: HashSet<&str> = changed.iter().map(|r| r.database_id.as_str()).collect();
        let on = format!(
            "t.database_id = s.database_id AND t.page_id = s.page_id AND t.database_id IN ({})",
            databases
                .iter()
                .map(|d| sql_str(d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let update: Vec<&str> = spec
            .names()
            .into_iter()
            .filter(|c| *c != "first_synced_at")
            .collect();
        let result = self
            .merge(
                spec,
                batch,
                &on,
                Some("s.last_edited_time >= t.last_edited_time AND (s.payload_sha256 <> t.payload_sha256 OR s.is_deleted <> t.is_deleted)"),
                &update,
                true,
            )
            .await;
        match result {
            Ok(version) => {
                for row in changed {
                    index.entry(row.database_id).or_default().insert(
                        row.page_id,
                        Known {
                            hash: row.payload_sha256,
                            edited_micros: row.last_edited_time.timestamp_micros(),
                            deleted: row.is_deleted,
                        },
                    );
                }
                stats.committed_version = version;
                Ok(stats)
            }
            Err(e) => {
                // The table may hold rows this process did not write: reload before the next batch.
                *guard = None;
                Err(e)
            }
        }
    }

    async fn record_schemas(&self, rows: Vec<DatabaseRecord>) -> Result<u64, SinkError> {
        let spec = &schema::DATABASES;
        let stored: HashSet<(String, String)> = self
            .scan(spec, Some(&["data_source_id", "schema_sha256"]))
            .await?
            .into_iter()
            .map(|r| (r[0].text(), r[1].text()))
            .collect();
        let mut seen = HashSet::new();
        let new: Vec<Vec<Cell>> = rows
            .iter()
            .filter(|r| {
                let key = (r.data_source_id.clone(), r.schema_sha256.clone());
                !stored.contains(&key) && seen.insert(key)
            })
            .map(records::database_cells)
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        self.append(spec, &new, "notion-sync.record_schemas")
            .await?;
        Ok(new.len() as u64)
    }

    async fn load_watermarks(&self) -> Result<Vec<WatermarkRecord>, SinkError> {
        let rows = self.scan(&schema::WATERMARKS, None).await?;
        let mut out: Vec<WatermarkRecord> =
            rows.iter().map(|r| records::watermark_from(r)).collect();
        out.sort_by(|a, b| {
            (&a.database_id, &a.data_source_id).cmp(&(&b.database_id, &b.data_source_id))
        });
        Ok(out)
    }

    async fn save_watermark(&self, row: WatermarkRecord) -> Result<(), SinkError> {
        let spec = &schema::WATERMARKS;
        let batch = to_batch(spec, &[records::watermark_cells(&row)])
            .map_err(|e| internal(spec.name, e))?;
        let update: Vec<&str> = spec.names();
        self.merge(
            spec,
            batch,
            "t.database_id = s.database_id AND t.data_source_id = s.data_source_id",
            None,
            &update,
            true,
        )
        .await
        .map(|_| ())
    }

    async fn append_run(&self, row: RunRecord) -> Result<(), SinkError> {
        self.append(
            &schema::RUNS,
            &[records::run_cells(&row)],
            "notion-sync.append_run",
        )
        .await
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, SinkError> {
        let rows = self.scan(&schema::RUNS, None).await?;
        let mut runs: Vec<RunRecord> = rows.iter().map(|r| records::run_from(r)).collect();
        runs.sort_by(|a, b| {
            b.finished_at
                .cmp(&a.finished_at)
                .then(b.started_at.cmp(&a.started_at))
        });
        runs.truncate(limit);
        Ok(runs)
    }

    async fn page_counts(&self) -> Result<HashMap<String, PageCounts>, SinkError> {
        let rows = self
            .scan(&schema::PAGES, Some(&["database_id", "is_deleted"]))
            .await?;
        let mut counts: HashMap<String, PageCounts> = HashMap::new();
        for r in rows {
            let c = counts.entry(r[0].text()).or_default();
            if r[1].flag() {
                c.deleted += 1;
            } else {
                c.live += 1;
            }
        }
        Ok(counts)
    }

    async fn mark_deleted_except(
        &self,
        database_id: &str,
        seen: &HashSet<String>,
        at: DateTime<Utc>,
    ) -> Result<(u64, u64), SinkError> {
        let mut guard = self.index.lock().await;
        if guard.is_none() {
            *guard = Some(self.load_index().await?);
        }
        let index = guard
            .as_mut()
            .ok_or_else(|| internal(schema::PAGES.name, "index"))?;
        let Some(pages) = index.get_mut(database_id) else {
            return Ok((0, 0));
        };
        let mut flips: Vec<(String, bool)> = Vec::new();
        for (id, known) in pages.iter() {
            let present = seen.contains(id);
            if known.deleted == present {
                flips.push((id.clone(), !present));
            }
        }
        if flips.is_empty() {
            return Ok((0, 0));
        }
        let batch =
            flag_batch(database_id, &flips, at).map_err(|e| internal(schema::PAGES.name, e))?;
        let on = format!(
            "t.database_id = s.database_id AND t.page_id = s.page_id AND t.database_id = {}",
            sql_str(database_id)
        );
        if let Err(e) = self
            .merge(
                &schema::PAGES,
                batch,
                &on,
                None,
                &["is_deleted", "deleted_at"],
                false,
            )
            .await
        {
            *guard = None;
            return Err(e);
        }
        let mut result = (0, 0);
        for (id, deleted) in flips {
            if let Some(k) = pages.get_mut(&id) {
                k.deleted = deleted;
            }
            if deleted {
                result.0 += 1;
            } else {
                result.1 += 1;
            }
        }
        Ok(result)
    }
}

/// A batch of `(page_id, database_id, is_deleted, deleted_at)` for flag updates.
fn flag_batch(
    database_id: &str,
    flips: &[(String, bool)],
    at: DateTime<Utc>,
) -> Result<RecordBatch, String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("page_id", ArrowType::Utf8, false),
        Field::new("database_id", ArrowType::Utf8, false),
        Field::new("is_deleted", ArrowType::Boolean, false),
        Field::new(
            "deleted_at",
            ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                flips.iter().map(|f| f.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                flips.iter().map(|_| database_id),
            )),
            Arc::new(BooleanArray::from_iter(flips.iter().map(|f| Some(f.1)))),
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    flips.iter().map(|f| f.1.then(|| at.timestamp_micros())),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|e| e.to_string())
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn commit_props(operation: &str) -> CommitProperties {
    CommitProperties::default().with_metadata([
        ("operation_source".to_string(), serde_json::json!(operation)),
        (
            "engine".to_string(),
            serde_json::json!(concat!("notion-sync/", env!("CARGO_PKG_VERSION"))),
        ),
    ])
}

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::VersionAlreadyExists(_)
            }
    )
}

fn internal(table: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Internal {
        table: table.to_string(),
        reason: e.to_string(),
    }
}

fn map_err(table: &str, e: DeltaTableError) -> SinkError {
    let reason = e.to_string();
    match e {
        DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } => SinkError::Transient {
            table: table.to_string(),
            reason,
        },
        e if is_conflict(&e) => SinkError::Conflict {
            table: table.to_string(),
            reason,
        },
        DeltaTableError::Transaction {
            source: TransactionError::ObjectStore { .. },
        } => SinkError::Transient {
            table: table.to_string(),
            reason,
        },
        _ => SinkError::Internal {
            table: table.to_string(),
            reason,
        },
    }
}

#[cfg(test)]
mod tests;
