//! The SQL warehouse sink: bronze tables in Databricks SQL (or PostgreSQL) reached over ODBC.
//!
//! It keeps every rule the Delta sink keeps ([`crate::sink::plan`]), but never loads a table into the
//! process: for each batch it reads back only what is stored for the batch's own keys, plans the change
//! with the shared rules, stages the rows (text) in a staging table and moves them into bronze with one
//! guarded MERGE, so a concurrent or replayed write can never replace a newer row. History rows are
//! de-duplicated by the warehouse (`INSERT … WHERE NOT EXISTS`) and committed before the page rows.
//! Leases are rows of `notion_sync_leases`.

pub mod ddl;
pub mod dialect;
mod leases;
pub mod odbc;
pub mod statements;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use self::dialect::Sql;
use self::odbc::{Odbc, OdbcFailure, Session, TextRow, cells_of, text_row};
use super::cells::Cell;
use super::lease::{DEFAULT_TTL, Leases};
use super::plan::entities::{self as plan_entities, EntityChange, EntityIndex, Group, Keyed};
use super::plan::pages::{self as plan_pages, PageChange, PageIndex};
use super::records::{self, StoredPage, StoredVersion};
use super::spec::{self, TableSpec};
use super::{
    BronzeSink, ContentStats, FileWriter, PageCounts, PageState, SinkError, UpsertStats,
    content_records, sql_str,
};
use crate::bronze::{
    DatabaseRecord, DeletedReason, FileRecord, PageContent, PageRecord, RejectRecord,
    RestoreLogRecord, RunRecord, UserRecord, WatermarkRecord,
};
use crate::config::{Dialect, WarehouseSettings};
use crate::notion::ids::PageKey;
use crate::sink::delta::TableAt;

/// Keys per `IN (…)` list of a lookup.
const LOOKUP_CHUNK: usize = 500;

/// Bronze in a SQL warehouse.
#[derive(Debug)]
pub struct WarehouseSink {
    odbc: Odbc,
    sql: Sql,
    leases: Leases,
    /// Whether [`BronzeSink::check_writable`] creates and drops a probe table (`health`), or only checks
    /// the connection and the schema (every other command: a write permission missing then fails the
    /// first write, with the same exit code).
    probe_writes: bool,
}

impl WarehouseSink {
    /// A sink writing through `settings`' connection (opened at first use).
    pub fn new(settings: WarehouseSettings) -> WarehouseSink {
        let session = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let sql = Sql::new(
            settings.dialect,
            settings.catalog.as_deref(),
            &settings.schema,
            &session,
        );
        let settings = Arc::new(settings);
        let odbc = Odbc::new(settings.clone());
        // Leases renew on a connection of their own, never queued behind a long MERGE.
        let store = leases::WarehouseLeaseStore::new(Odbc::new(settings), sql.clone());
        WarehouseSink {
            leases: Leases::new(Arc::new(store), DEFAULT_TTL),
            odbc,
            sql,
            probe_writes: false,
        }
    }

    /// `check_writable` also proves the right to create tables, with a probe table it drops again.
    pub fn with_write_probe(mut self) -> Self {
        self.probe_writes = true;
        self
    }

    /// Leases live `ttl` unless renewed (`NOTION_SYNC_LOCK_TTL`).
    pub fn with_lock_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.leases = Leases::new(self.leases.store(), ttl);
        self
    }

    /// The dialect's SQL.
    pub fn sql(&self) -> &Sql {
        &self.sql
    }

    /// The warehouse as named in messages.
    pub fn describe(&self) -> &str {
        &self.odbc.settings().describe
    }

    /// Runs `statements` as one unit (one transaction on PostgreSQL): the typed views' DDL.
    pub async fn apply(&self, what: &str, statements: Vec<String>) -> Result<(), SinkError> {
        self.run(what, move |s, _| {
            statements.iter().try_for_each(|stmt| s.exec(stmt))
        })
        .await
    }

    /// The `properties` text of up to `limit` live pages of `database_id` (formula and rollup result
    /// types are read from them).
    pub async fn sample_properties(
        &self,
        database_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, SinkError> {
        let sql = self.sql.sample_properties(database_id, limit);
        let rows = self
            .run(spec::PAGES.name, move |s, _| s.query(&sql))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    async fn guard(&self, databases: &[&str]) -> Result<(), SinkError> {
        for db in databases {
            self.leases.check(db).await?;
        }
        Ok(())
    }

    /// Runs `work` as one unit (see [`Odbc::run`]).
    async fn run<T, F>(&self, table: &str, work: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: Fn(&Session<'_>, &Sql) -> Result<T, OdbcFailure> + Send + Sync + 'static,
    {
        let sql = self.sql.clone();
        self.odbc
            .run(table, self.sql.transactional(), move |s| work(s, &sql))
            .await
    }

    /// Reads `columns` of `spec` as cells, filtered by `filter`.
    async fn read(
        &self,
        spec: &'static TableSpec,
        columns: &[&'static str],
        filter: Option<String>,
        order: Option<&'static str>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        self.read_at(spec, columns, filter, order, TableAt::Latest)
            .await
    }

    /// [`Self::read`] of the table as it was at `at` (Databricks' time travel).
    async fn read_at(
        &self,
        spec: &'static TableSpec,
        columns: &[&'static str],
        filter: Option<String>,
        order: Option<&'static str>,
        at: TableAt,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let columns: Vec<&'static str> = columns.to_vec();
        self.run(spec.name, move |s, sql| {
            let text = sql.select_at(spec, &columns, filter.as_deref(), order, &at);
            s.query(&text)?
                .iter()
                .map(|r| cells_of(spec, &columns, r))
                .collect()
        })
        .await
    }

    /// Reads `columns` of the rows of `spec` whose `column` is one of `keys`, a chunk of keys at a time.
    async fn read_keys(
        &self,
        spec: &'static TableSpec,
        columns: &[&'static str],
        column: &'static str,
        keys: &[String],
        extra: Option<&str>,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let list: Vec<String> = chunk.iter().map(|k| sql_str(k)).collect();
            let mut filter = format!("{column} IN ({})", list.join(", "));
            if let Some(e) = extra {
                filter = format!("{filter} AND {e}");
            }
            out.extend(self.read(spec, columns, Some(filter), None).await?);
        }
        Ok(out)
    }

    /// What is stored for the pages of `page_ids` (every database) and their history keys.
    async fn page_index(&self, page_ids: Vec<String>) -> Result<PageIndex, SinkError> {
        let mut index = PageIndex::default();
        if page_ids.is_empty() {
            return Ok(index);
        }
        let pages = self
            .read_keys(
                &spec::PAGES,
                &plan_pages::INDEX_COLUMNS,
                "page_id",
                &page_ids,
                None,
            )
            .await?;
        index.add_pages(pages);
        let versions = self
            .read_keys(
                &spec::VERSIONS,
                &plan_pages::VERSION_KEY_COLUMNS,
                "page_id",
                &page_ids,
                None,
            )
            .await?;
        index.add_versions(versions);
        Ok(index)
    }

    async fn rows_index(&self, rows: &[PageRecord]) -> Result<PageIndex, SinkError> {
        let mut ids: Vec<String> = rows.iter().map(|r| r.page_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        self.page_index(ids).await
    }

    /// Stages `rows` of `spec` and runs `statements` against the staging table, as one unit.
    async fn write_staged(
        &self,
        spec: &'static TableSpec,
        rows: Vec<TextRow>,
        statement: impl Fn(&Sql) -> String + Send + Sync + 'static,
    ) -> Result<u64, SinkError> {
        let volume = self.odbc.settings().staging_volume.clone();
        self.run(spec.name, move |s, sql| {
            stage(s, sql, spec, &rows, volume.as_deref())?;
            let n = s.exec_count(&statement(sql))?;
            if sql.dialect == Dialect::Databricks {
                s.exec(&sql.drop_stage(spec))?;
            }
            Ok(n)
        })
        .await
    }

    /// Writes a planned page change: history rows first, then one MERGE of rows and flags.
    async fn commit_change(&self, change: &PageChange) -> Result<(), SinkError> {
        let databases = change.databases();
        if !change.versions.is_empty() {
            crate::pause::point("sink.before_versions").await;
            self.guard(&databases).await?;
            let rows = change
                .versions
                .iter()
                .map(|r| text_row(records::version_cells(r), false))
                .collect();
            self.write_staged(&spec::VERSIONS, rows, statements::versions_insert)
                .await?;
            crate::pause::point("sink.after_versions").await;
        }
        if !change.touches_pages() {
            return Ok(());
        }
        crate::pause::point("sink.before_pages").await;
        self.guard(&databases).await?;
        let rows: Vec<TextRow> = change
            .rows
            .iter()
            .map(|r| text_row(records::page_cells(r), false))
            .chain(
                change
                    .flags
                    .iter()
                    .map(|f| text_row(records::page_cells(&f.placeholder()), true)),
            )
            .collect();
        self.write_staged(&spec::PAGES, rows, statements::pages_merge)
            .await?;
        crate::pause::point("sink.after_pages").await;
        Ok(())
    }

    async fn commit_entities(
        &self,
        keyed: &'static Keyed,
        change: &EntityChange,
    ) -> Result<(), SinkError> {
        if change.is_empty() {
            return Ok(());
        }
        let databases: Vec<&str> = change.databases.iter().map(String::as_str).collect();
        self.guard(&databases).await?;
        let rows: Vec<TextRow> = change
            .write
            .iter()
            .map(|r| text_row(r.clone(), false))
            .chain(change.flags.iter().map(|r| text_row(r.clone(), true)))
            .collect();
        self.write_staged(keyed.spec, rows, move |sql| {
            statements::content_merge(sql, keyed)
        })
        .await
        .map(|_| ())
    }

    /// Appends rows to `spec`'s table.
    async fn append(
        &self,
        spec: &'static TableSpec,
        rows: Vec<Vec<Cell>>,
    ) -> Result<u64, SinkError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let rows = rows.into_iter().map(|r| text_row(r, false)).collect();
        self.write_staged(spec, rows, move |sql| sql.insert_all(spec))
            .await
    }

    /// Every row of `spec`, decoded by `decode`.
    async fn read_all<T>(
        &self,
        spec: &'static TableSpec,
        order: Option<&'static str>,
        decode: fn(&[Cell]) -> T,
    ) -> Result<Vec<T>, SinkError> {
        self.read_all_at(spec, None, order, TableAt::Latest, decode)
            .await
    }

    /// Every row of `spec` matching `filter` at `at`, decoded by `decode`.
    async fn read_all_at<T>(
        &self,
        spec: &'static TableSpec,
        filter: Option<String>,
        order: Option<&'static str>,
        at: TableAt,
        decode: fn(&[Cell]) -> T,
    ) -> Result<Vec<T>, SinkError> {
        let names = spec.names();
        Ok(self
            .read_at(spec, &names, filter, order, at)
            .await?
            .iter()
            .map(|r| decode(r))
            .collect())
    }

    /// Every page row at `at` (a table version or time: Databricks only).
    pub async fn read_pages_at(&self, at: TableAt) -> Result<Vec<StoredPage>, SinkError> {
        self.read_all_at(&spec::PAGES, None, None, at, records::page_from)
            .await
    }

    /// Every block row at `at` (Databricks only).
    pub async fn read_blocks_at(
        &self,
        at: TableAt,
    ) -> Result<Vec<crate::bronze::BlockRecord>, SinkError> {
        self.read_all_at(&spec::BLOCKS, None, None, at, content_records::block_from)
            .await
    }

    /// Every comment row at `at` (Databricks only).
    pub async fn read_comments_at(
        &self,
        at: TableAt,
    ) -> Result<Vec<crate::bronze::CommentRecord>, SinkError> {
        self.read_all_at(
            &spec::COMMENTS,
            None,
            None,
            at,
            content_records::comment_from,
        )
        .await
    }

    /// Every user row at `at` (Databricks only).
    pub async fn read_users_at(&self, at: TableAt) -> Result<Vec<UserRecord>, SinkError> {
        self.read_all_at(&spec::USERS, None, None, at, content_records::user_from)
            .await
    }

    /// Appends journal rows of a restore.
    pub async fn append_restore_log(&self, rows: &[RestoreLogRecord]) -> Result<(), SinkError> {
        let cells = rows.iter().map(records::restore_log_cells).collect();
        self.append(&spec::RESTORE_LOG, cells).await.map(|_| ())
    }

    /// Every journal row of `restore_id`, in step order.
    pub async fn read_restore_log(
        &self,
        restore_id: &str,
    ) -> Result<Vec<RestoreLogRecord>, SinkError> {
        let filter = format!("restore_id = {}", sql_str(restore_id));
        self.read_all_at(
            &spec::RESTORE_LOG,
            Some(filter),
            Some("step"),
            TableAt::Latest,
            records::restore_log_from,
        )
        .await
    }

    /// Every journal row of every restore.
    pub async fn read_restore_log_all(&self) -> Result<Vec<RestoreLogRecord>, SinkError> {
        self.read_all(&spec::RESTORE_LOG, None, records::restore_log_from)
            .await
    }

    /// Every page row.
    pub async fn read_pages(&self) -> Result<Vec<StoredPage>, SinkError> {
        self.read_all(&spec::PAGES, None, records::page_from).await
    }

    /// Every history row.
    pub async fn read_versions(&self) -> Result<Vec<StoredVersion>, SinkError> {
        self.read_all(&spec::VERSIONS, None, records::version_from)
            .await
    }

    /// Every schema snapshot.
    pub async fn read_schemas(&self) -> Result<Vec<DatabaseRecord>, SinkError> {
        self.read_all(&spec::DATABASES, None, records::database_from)
            .await
    }

    /// Every reject.
    pub async fn read_rejects(&self) -> Result<Vec<RejectRecord>, SinkError> {
        self.read_all(&spec::REJECTS, None, records::reject_from)
            .await
    }

    /// Every block row.
    pub async fn read_blocks(&self) -> Result<Vec<crate::bronze::BlockRecord>, SinkError> {
        self.read_all(&spec::BLOCKS, None, content_records::block_from)
            .await
    }

    /// Every comment row.
    pub async fn read_comments(&self) -> Result<Vec<crate::bronze::CommentRecord>, SinkError> {
        self.read_all(&spec::COMMENTS, None, content_records::comment_from)
            .await
    }

    /// Every user row.
    pub async fn read_users(&self) -> Result<Vec<UserRecord>, SinkError> {
        self.read_all(&spec::USERS, None, content_records::user_from)
            .await
    }
}

/// Creates (if needed) and fills the staging table of `spec` with `rows`: PostgreSQL binds parameter
/// arrays into a temporary table; Databricks stages a large batch as a file in the Volume and loads it
/// with `COPY INTO`, and a small one with multi-row inserts of at most 256 parameters.
fn stage(
    s: &Session<'_>,
    sql: &Sql,
    spec: &TableSpec,
    rows: &[TextRow],
    volume: Option<&str>,
) -> Result<(), OdbcFailure> {
    s.exec(&sql.create_stage(spec))?;
    s.exec(&sql.clear_stage(spec))?;
    let width = spec.columns.len() + 1;
    match sql.dialect {
        Dialect::Postgres => s.bulk_insert(&sql.insert_stage(spec, 1), width, rows),
        Dialect::Databricks => {
            let per_statement = (odbc::MAX_PARAMETERS / width).max(1);
            match volume {
                Some(volume) if rows.len() > per_statement * 4 => {
                    stage_through_volume(s, sql, spec, rows, volume)
                }
                _ => {
                    for chunk in rows.chunks(per_statement) {
                        let params: Vec<Option<String>> = chunk.iter().flatten().cloned().collect();
                        s.exec_params(&sql.insert_stage(spec, chunk.len()), &params)?;
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Writes `rows` as NDJSON, `PUT`s the file into the Volume, `COPY INTO`s the staging table and removes
/// both copies of the file.
fn stage_through_volume(
    s: &Session<'_>,
    sql: &Sql,
    spec: &TableSpec,
    rows: &[TextRow],
    volume: &str,
) -> Result<(), OdbcFailure> {
    let dir = std::env::temp_dir().join("notion-sync-staging");
    let name = format!("{}-{}.json", spec.name, uuid::Uuid::new_v4().simple());
    let local = dir.join(&name);
    let io = |e: std::io::Error| OdbcFailure {
        state: String::new(),
        message: format!("staging file {}: {e}", local.display()),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut text = String::new();
    let mut names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    names.push(dialect::FLAG_COLUMN);
    for row in rows {
        let object: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(row)
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String),
                )
            })
            .collect();
        text.push_str(&serde_json::Value::Object(object).to_string());
        text.push('\n');
    }
    std::fs::write(&local, text).map_err(io)?;
    let remote = format!("{volume}/{name}");
    let result = s
        .exec(&sql.put(&local.display().to_string(), &remote))
        .and_then(|()| s.exec(&sql.copy_into_stage(spec, &remote)));
    let _ = s.exec(&sql.remove(&remote));
    let _ = std::fs::remove_file(&local);
    result
}

fn not_stored(kind: &str) -> SinkError {
    SinkError::Location {
        uri: "NOTION_SYNC_SINK=warehouse".into(),
        reason: format!(
            "{kind} are kept in a Delta lake (its _files folder); the warehouse sink does not store \
             them: turn files off for these databases or sync into a lake (NOTION_SYNC_SINK=delta)"
        ),
    }
}

impl BronzeSink for WarehouseSink {
    async fn init_tables(&self) -> Result<Vec<String>, SinkError> {
        self.run("init-tables", |s, sql| {
            let existing: HashSet<String> = s
                .query(&sql.existing_tables())?
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .map(|t| t.to_ascii_lowercase())
                .collect();
            // Every table there: no DDL at all (a run sends no statement it does not need).
            if ddl::tables().iter().any(|t| !existing.contains(t.name)) {
                for statement in ddl::statements(sql) {
                    s.exec(&statement)?;
                }
            }
            Ok(ddl::tables()
                .into_iter()
                .map(|t| t.name.to_string())
                .filter(|t| !existing.contains(t))
                .collect())
        })
        .await
    }

    async fn check_writable(&self) -> Result<(), SinkError> {
        let found = self
            .run("schema", |s, sql| s.query(&sql.schema_exists()))
            .await?;
        if found.is_empty() {
            let schema = &self.sql.schema;
            return Err(SinkError::Location {
                uri: self.describe().to_string(),
                reason: format!(
                    "schema {schema} does not exist; create it (CREATE SCHEMA {schema}) and grant the \
                     sink's user the right to create tables in it, or set BRONZE_SCHEMA to an existing one"
                ),
            });
        }
        if !self.probe_writes {
            return Ok(());
        }
        let name = format!("notion_sync_probe_{}", self.sql.session);
        self.run("probe", move |s, sql| {
            let [create, drop] = sql.probe(&name);
            s.exec(&create)?;
            s.exec(&drop)
        })
        .await
    }

    async fn upsert_pages(&self, rows: Vec<PageRecord>) -> Result<UpsertStats, SinkError> {
        let index = self.rows_index(&rows).await?;
        let change = plan_pages::plan_upsert(&index, &rows);
        if !change.versions.is_empty() || change.touches_pages() {
            self.commit_change(&change).await?;
        }
        Ok(change.stats)
    }

    async fn changed_pages(&self, rows: &[PageRecord]) -> Result<HashSet<String>, SinkError> {
        let index = self.rows_index(rows).await?;
        Ok(plan_pages::plan_upsert(&index, rows)
            .rows
            .into_iter()
            .map(|r| r.page_id)
            .collect())
    }

    async fn replace_content(
        &self,
        content: Vec<PageContent>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        plan_entities::replace_content(self, content, at).await
    }

    async fn replace_users(
        &self,
        users: Vec<UserRecord>,
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        plan_entities::replace_users(self, users, at).await
    }

    async fn latest_schemas(&self) -> Result<HashMap<String, String>, SinkError> {
        let rows = self
            .run(spec::DATABASES.name, |s, sql| {
                s.query(&sql.latest_schemas())
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone()?, r.get(1)?.clone()?)))
            .collect())
    }

    async fn record_schemas(&self, rows: Vec<DatabaseRecord>) -> Result<u64, SinkError> {
        let latest = self.latest_schemas().await?;
        let new: Vec<Vec<Cell>> = super::plan::new_schemas(&latest, &rows)
            .into_iter()
            .map(records::database_cells)
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let databases: Vec<&str> = rows.iter().map(|r| r.database_id.as_str()).collect();
        self.guard(&databases).await?;
        let n = new.len() as u64;
        self.append(&spec::DATABASES, new).await?;
        Ok(n)
    }

    async fn load_watermarks(&self) -> Result<Vec<WatermarkRecord>, SinkError> {
        self.read_all(
            &spec::WATERMARKS,
            Some("database_id, data_source_id"),
            records::watermark_from,
        )
        .await
    }

    async fn save_watermark(&self, row: WatermarkRecord) -> Result<(), SinkError> {
        self.guard(&[row.database_id.as_str()]).await?;
        let rows = vec![text_row(records::watermark_cells(&row), false)];
        self.write_staged(&spec::WATERMARKS, rows, statements::watermark_merge)
            .await
            .map(|_| ())
    }

    async fn record_rejects(&self, rows: Vec<RejectRecord>) -> Result<u64, SinkError> {
        // The warehouse drops the ones already stored; the batch's own duplicates go here.
        let new: Vec<Vec<Cell>> = super::plan::new_rejects(HashSet::new(), &rows)
            .into_iter()
            .map(records::reject_cells)
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let databases: Vec<&str> = rows.iter().map(|r| r.database_id.as_str()).collect();
        self.guard(&databases).await?;
        let rows = new.into_iter().map(|r| text_row(r, false)).collect();
        self.write_staged(&spec::REJECTS, rows, statements::rejects_insert)
            .await
    }

    async fn lock_database(&self, database_id: &str, run_id: &str) -> Result<(), SinkError> {
        self.leases.acquire(database_id, run_id).await
    }

    async fn unlock_database(&self, database_id: &str, run_id: &str) {
        self.leases.release(database_id, run_id).await;
    }

    async fn copied_files(&self) -> Result<HashSet<String>, SinkError> {
        Ok(self
            .read(&spec::FILES, &["file_key"], None, None)
            .await?
            .into_iter()
            .map(|r| r[0].text())
            .collect())
    }

    fn file_writer(&self, _key: &str) -> Result<FileWriter, SinkError> {
        Err(not_stored(
            "copies of Notion-hosted files (NOTION_SYNC_INCLUDE=files)",
        ))
    }

    async fn record_files(&self, rows: Vec<FileRecord>) -> Result<(), SinkError> {
        if rows.is_empty() {
            return Ok(());
        }
        Err(not_stored(
            "copies of Notion-hosted files (NOTION_SYNC_INCLUDE=files)",
        ))
    }

    async fn append_run(&self, row: RunRecord) -> Result<(), SinkError> {
        self.append(&spec::RUNS, vec![records::run_cells(&row)])
            .await
            .map(|_| ())
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, SinkError> {
        let mut runs = self
            .read_all(
                &spec::RUNS,
                Some("finished_at DESC, started_at DESC"),
                records::run_from,
            )
            .await?;
        runs.truncate(limit);
        Ok(runs)
    }

    async fn page_counts(&self) -> Result<HashMap<String, PageCounts>, SinkError> {
        let rows = self
            .run(spec::PAGES.name, |s, sql| s.query(&sql.page_counts()))
            .await?;
        let num = |v: &Option<String>| v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let db = r.first()?.clone()?;
                Some((
                    db,
                    PageCounts {
                        live: num(r.get(1)?),
                        deleted: num(r.get(2)?),
                    },
                ))
            })
            .collect())
    }

    async fn delete_candidates(
        &self,
        database_id: &str,
        listing: &HashMap<PageKey, super::Listed>,
        refetch_stale: bool,
    ) -> Result<super::Candidates, SinkError> {
        // The listing is staged and the warehouse finds what is missing or stale: no row is loaded.
        let rows: Vec<TextRow> = listing
            .values()
            .map(|l| {
                text_row(
                    vec![
                        Cell::Str(Some(l.page.id())),
                        Cell::Ts(Some(l.last_edited_time)),
                        Cell::Bool(Some(l.is_archived)),
                    ],
                    false,
                )
            })
            .collect();
        let volume = self.odbc.settings().staging_volume.clone();
        let database_id = database_id.to_string();
        let found = self
            .run(spec::PAGES.name, move |s, sql| {
                let listing = &statements::LISTING;
                stage(s, sql, listing, &rows, volume.as_deref())?;
                let mut found = s.query(&statements::delete_missing(sql, &database_id))?;
                if refetch_stale {
                    found.extend(s.query(&statements::delete_stale(sql, &database_id))?);
                }
                if sql.dialect == Dialect::Databricks {
                    s.exec(&sql.drop_stage(listing))?;
                }
                Ok(found)
            })
            .await?;
        // Read back as page_id and the state columns (null without a stored row).
        let columns = ["page_id", "last_edited_time", "is_deleted", "is_archived"];
        let state_of = |row: &TextRow| -> Result<Option<PageState>, SinkError> {
            let cells = cells_of(&spec::PAGES, &columns, row)
                .map_err(|f| odbc::sink_error(self.odbc.settings(), spec::PAGES.name, f))?;
            Ok(cells[1].ts().map(|last_edited_time| PageState {
                last_edited_time,
                is_deleted: cells[2].flag(),
                is_archived: cells[3].flag(),
            }))
        };
        let mut out: super::Candidates = Vec::with_capacity(found.len());
        for row in &found {
            let key = PageKey::of(row[0].as_deref().unwrap_or_default());
            out.push((key, state_of(row)?));
        }
        out.sort_unstable_by_key(|(key, _)| *key);
        out.dedup_by_key(|(key, _)| *key);
        Ok(out)
    }

    async fn flag_deleted(
        &self,
        database_id: &str,
        flags: Vec<(String, DeletedReason)>,
        at: DateTime<Utc>,
    ) -> Result<u64, SinkError> {
        let ids: Vec<String> = flags.iter().map(|(id, _)| id.clone()).collect();
        let index = self.page_index(ids).await?;
        let change = plan_pages::plan_flags(&index, database_id, &flags, at);
        if change.touches_pages() {
            self.commit_change(&change).await?;
        }
        Ok(change.stats.flagged)
    }
}

impl plan_entities::EntityWriter for WarehouseSink {
    /// Plans rows of a content table replacing `groups` against what is stored for those groups, and
    /// writes the change with one MERGE.
    async fn write_entities(
        &self,
        keyed: &'static Keyed,
        rows: Vec<Vec<Cell>>,
        groups: &[Group<'_>],
        at: DateTime<Utc>,
    ) -> Result<ContentStats, SinkError> {
        let columns = keyed.index_columns();
        let stored = match keyed.group {
            Some(group) => {
                let ids: Vec<String> = groups
                    .iter()
                    .filter_map(|g| g.id.map(str::to_string))
                    .collect();
                self.read_keys(keyed.spec, &columns, group, &ids, None)
                    .await?
            }
            None => self.read(keyed.spec, &columns, None, None).await?,
        };
        let mut index = EntityIndex::default();
        index.add(keyed, stored);
        let change = plan_entities::plan(keyed, &index, &rows, groups, at);
        self.commit_entities(keyed, &change).await?;
        Ok(ContentStats {
            written: change.inserted + change.updated,
            unchanged: change.unchanged,
            flagged: change.flags.len() as u64,
        })
    }
}
