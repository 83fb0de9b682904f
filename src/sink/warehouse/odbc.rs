//! The warehouse connection: one ODBC connection used off the async runtime (every call runs on a
//! blocking thread), reconnected when it died, with each unit of work one transaction where the dialect
//! has them; and the classification of ODBC errors by SQLSTATE.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use odbc_api::{Connection, ConnectionOptions, Cursor, IntoParameter};

use crate::config::{Secret, WarehouseSettings, scrub_secrets};
use crate::retry::{Class, Policy, TokioClock};
use crate::sink::SinkError;
use crate::sink::cells::Cell;
use crate::sink::spec::{Kind, TableSpec};

/// Seconds a connection attempt may take.
const LOGIN_TIMEOUT_SECS: u32 = 30;
/// Rows of one staging insert.
const STAGE_ROWS: usize = 1000;
/// Bytes of text one staging insert binds at most (its buffers are rows × longest value per column).
const STAGE_BYTES: usize = 32 << 20;
/// Parameters one statement binds at most on Databricks (the SQL warehouse's limit).
pub const MAX_PARAMETERS: usize = 256;

/// An error of one warehouse call, with what to tell the operator.
#[derive(Debug, Clone)]
pub struct OdbcFailure {
    /// The five-character SQLSTATE (empty when the driver gave none).
    pub state: String,
    /// The driver's message, secrets removed.
    pub message: String,
}

impl OdbcFailure {
    fn of(e: &odbc_api::Error) -> OdbcFailure {
        let state = match e {
            odbc_api::Error::Diagnostics { record, .. } => {
                String::from_utf8_lossy(&record.state.0).to_string()
            }
            _ => String::new(),
        };
        OdbcFailure {
            state,
            message: scrub_secrets(e.to_string()),
        }
    }

    fn internal(message: impl Into<String>) -> OdbcFailure {
        OdbcFailure {
            state: String::new(),
            message: message.into(),
        }
    }

    fn class_of_state(&self) -> &str {
        self.state.get(..2).unwrap_or("")
    }

    /// Whether trying again may succeed: a lost or refused connection, a timeout, a serialization failure
    /// or deadlock, a duplicate key from a racing writer, a concurrent Delta commit.
    pub fn transient(&self) -> bool {
        let m = self.message.to_ascii_uppercase();
        if self.auth() {
            return false;
        }
        matches!(self.class_of_state(), "08" | "40" | "53" | "57")
            || matches!(self.state.as_str(), "HYT00" | "HYT01" | "23505")
            || m.contains("DELTA_CONCURRENT")
            || m.contains("CONCURRENTAPPENDEXCEPTION")
            || m.contains("CONCURRENTDELETE")
            || m.contains("CONCURRENTTRANSACTION")
    }

    /// Whether the warehouse refused the credentials or a permission.
    pub fn auth(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        matches!(self.class_of_state(), "28")
            || self.state == "42501"
            || m.contains("password authentication failed")
            || m.contains("authentication failed")
            || m.contains("invalid credentials")
            || m.contains("permission denied")
            || m.contains("insufficient_permissions")
    }

    /// Whether the ODBC driver could not be found or loaded.
    pub fn no_driver(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        matches!(self.state.as_str(), "IM002" | "IM003" | "IM004")
            || m.contains("can't open lib")
            || m.contains("data source name not found")
    }

    /// Whether a named schema does not exist.
    pub fn missing_schema(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.state == "3F000"
            || m.contains("schema_not_found")
            || (m.contains("schema") && m.contains("does not exist"))
    }
}

/// Turns a failure into the sink's error: the operator is told what to fix, with its exit code.
pub fn sink_error(w: &WarehouseSettings, table: &str, f: OdbcFailure) -> SinkError {
    let detail = if f.state.is_empty() {
        f.message.clone()
    } else {
        format!("SQLSTATE {}: {}", f.state, f.message)
    };
    if f.no_driver() {
        return SinkError::Location {
            uri: w.describe.clone(),
            reason: format!(
                "the ODBC driver could not be loaded ({detail}); install it, or name it (or its \
                 library path) in the connection string's Driver= (DATABRICKS_ODBC_DRIVER on Databricks)"
            ),
        };
    }
    if f.auth() {
        return SinkError::Denied {
            table: table.to_string(),
            reason: detail,
            hint: match w.credentials_var {
                "DATABRICKS_TOKEN" => {
                    "check DATABRICKS_TOKEN, and that its principal may use the SQL warehouse and \
                     has USE CATALOG, USE SCHEMA, CREATE TABLE, SELECT and MODIFY on the bronze schema"
                }
                "DATABRICKS_CLIENT_SECRET" => {
                    "check DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, and that the service \
                     principal may use the SQL warehouse and has USE CATALOG, USE SCHEMA, CREATE TABLE, \
                     SELECT and MODIFY on the bronze schema"
                }
                _ => {
                    "check the user and password of WAREHOUSE_ODBC_CONNECTION_STRING, and that the \
                     user may create tables in, read and write the bronze schema"
                }
            },
        };
    }
    if f.missing_schema() {
        return SinkError::Location {
            uri: w.describe.clone(),
            reason: format!(
                "schema {} does not exist ({detail}); create it (CREATE SCHEMA {}) or set BRONZE_SCHEMA \
                 to an existing one",
                w.schema, w.schema
            ),
        };
    }
    if f.transient() {
        return SinkError::Transient {
            table: table.to_string(),
            reason: detail,
        };
    }
    if f.class_of_state() == "08" {
        return SinkError::Location {
            uri: w.describe.clone(),
            reason: detail,
        };
    }
    SinkError::Internal {
        table: table.to_string(),
        reason: detail,
    }
}

/// A statement's text values, ready to bind.
pub type TextRow = Vec<Option<String>>;

/// One transaction's access to the connection (see [`Odbc::run`]).
pub struct Session<'c> {
    conn: &'c Connection<'static>,
}

impl Session<'_> {
    /// Runs a statement without results.
    pub fn exec(&self, sql: &str) -> Result<(), OdbcFailure> {
        tracing::trace!(sql = %truncate(sql), "warehouse statement");
        self.conn
            .execute(sql, (), None)
            .map(|_| ())
            .map_err(|e| OdbcFailure::of(&e))
    }

    /// Runs a statement and returns how many rows it changed.
    pub fn exec_count(&self, sql: &str) -> Result<u64, OdbcFailure> {
        tracing::trace!(sql = %truncate(sql), "warehouse statement");
        let mut stmt = self.conn.preallocate().map_err(|e| OdbcFailure::of(&e))?;
        stmt.execute(sql, ()).map_err(|e| OdbcFailure::of(&e))?;
        let n = stmt.row_count().map_err(|e| OdbcFailure::of(&e))?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Runs a statement binding `params` as text.
    pub fn exec_params(&self, sql: &str, params: &[Option<String>]) -> Result<(), OdbcFailure> {
        let bound: Vec<_> = params
            .iter()
            .map(|p| p.as_deref().into_parameter())
            .collect();
        self.conn
            .execute(sql, &bound[..], None)
            .map(|_| ())
            .map_err(|e| OdbcFailure::of(&e))
    }

    /// Runs a query and returns every row as text (any length).
    pub fn query(&self, sql: &str) -> Result<Vec<TextRow>, OdbcFailure> {
        tracing::trace!(sql = %truncate(sql), "warehouse query");
        let Some(mut cursor) = self
            .conn
            .execute(sql, (), None)
            .map_err(|e| OdbcFailure::of(&e))?
        else {
            return Ok(Vec::new());
        };
        let width = cursor_width(&mut cursor)?;
        let mut rows = Vec::new();
        let mut buf = Vec::new();
        while let Some(mut row) = cursor.next_row().map_err(|e| OdbcFailure::of(&e))? {
            let mut out = Vec::with_capacity(width);
            for col in 1..=width as u16 {
                let present = row
                    .get_text(col, &mut buf)
                    .map_err(|e| OdbcFailure::of(&e))?;
                out.push(if present {
                    Some(String::from_utf8(std::mem::take(&mut buf)).map_err(|e| {
                        OdbcFailure::internal(format!("column {col} is not UTF-8: {e}"))
                    })?)
                } else {
                    None
                });
            }
            rows.push(out);
        }
        Ok(rows)
    }

    /// Inserts text rows with a prepared `INSERT` of one row of markers (`width` columns), in batches of
    /// bound parameter arrays bounded in rows and bytes.
    pub fn bulk_insert(
        &self,
        insert_one: &str,
        width: usize,
        rows: &[TextRow],
    ) -> Result<(), OdbcFailure> {
        let mut start = 0;
        while start < rows.len() {
            let mut longest = vec![1usize; width];
            let mut end = start;
            while end < rows.len() && end - start < STAGE_ROWS {
                let mut next = longest.clone();
                for (l, v) in next.iter_mut().zip(&rows[end]) {
                    *l = (*l).max(v.as_ref().map_or(0, String::len));
                }
                if end > start && next.iter().sum::<usize>() * (end - start + 1) > STAGE_BYTES {
                    break;
                }
                longest = next;
                end += 1;
            }
            let prepared = self
                .conn
                .prepare(insert_one)
                .map_err(|e| OdbcFailure::of(&e))?;
            let mut inserter = prepared
                .into_text_inserter(end - start, longest)
                .map_err(|e| OdbcFailure::of(&e))?;
            for row in &rows[start..end] {
                inserter
                    .append(row.iter().map(|v| v.as_deref().map(str::as_bytes)))
                    .map_err(|e| OdbcFailure::of(&e))?;
            }
            inserter.execute().map_err(|e| OdbcFailure::of(&e))?;
            start = end;
        }
        Ok(())
    }
}

fn cursor_width(cursor: &mut impl Cursor) -> Result<usize, OdbcFailure> {
    cursor
        .num_result_cols()
        .map(|n| n.max(0) as usize)
        .map_err(|e| OdbcFailure::of(&e))
}

fn truncate(sql: &str) -> &str {
    let mut end = sql.len().min(300);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    &sql[..end]
}

/// The warehouse connection.
#[derive(Clone)]
pub struct Odbc {
    settings: Arc<WarehouseSettings>,
    conn: Arc<Mutex<Option<Connection<'static>>>>,
    policy: Policy,
}

impl std::fmt::Debug for Odbc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Odbc")
            .field("warehouse", &self.settings.describe)
            .finish()
    }
}

impl Odbc {
    /// A connection to the configured warehouse, opened at first use.
    pub fn new(settings: Arc<WarehouseSettings>) -> Odbc {
        Odbc {
            settings,
            conn: Arc::new(Mutex::new(None)),
            policy: Policy::new(Duration::from_millis(200), Duration::from_secs(10), 6),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &WarehouseSettings {
        &self.settings
    }

    fn connect(secret: &Secret, transactional: bool) -> Result<Connection<'static>, OdbcFailure> {
        let env = odbc_api::environment().map_err(|e| OdbcFailure::of(&e))?;
        let conn = env
            .connect_with_connection_string(
                secret.expose(),
                ConnectionOptions {
                    login_timeout_sec: Some(LOGIN_TIMEOUT_SECS),
                    ..ConnectionOptions::default()
                },
            )
            .map_err(|e| OdbcFailure::of(&e))?;
        if transactional {
            conn.set_autocommit(false)
                .map_err(|e| OdbcFailure::of(&e))?;
        }
        Ok(conn)
    }

    /// Runs `work` as one unit on a blocking thread: one transaction where the dialect has them
    /// (committed when it succeeds, rolled back when it fails). Transient failures are retried under the
    /// one retry policy, so `work` must be safe to repeat (every write is guarded or idempotent).
    pub async fn run<T, F>(&self, table: &str, transactional: bool, work: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: Fn(&Session<'_>) -> Result<T, OdbcFailure> + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        let result = self
            .policy
            .run(
                &TokioClock,
                || {
                    let work = work.clone();
                    let conn = self.conn.clone();
                    let settings = self.settings.clone();
                    async move {
                        tokio::task::spawn_blocking(move || {
                            Self::attempt(&conn, &settings.connection, transactional, &*work)
                        })
                        .await
                        .unwrap_or_else(|e| Err(OdbcFailure::internal(e.to_string())))
                    }
                },
                |f: &OdbcFailure| {
                    if f.transient() {
                        Class::Transient
                    } else {
                        Class::Permanent
                    }
                },
                |f, decision| {
                    tracing::debug!(table, state = %f.state, error = %f.message, ?decision,
                        "warehouse call failed; retrying")
                },
            )
            .await;
        result.map_err(|f| sink_error(&self.settings, table, f))
    }

    fn attempt<T>(
        slot: &Mutex<Option<Connection<'static>>>,
        secret: &Secret,
        transactional: bool,
        work: &dyn Fn(&Session<'_>) -> Result<T, OdbcFailure>,
    ) -> Result<T, OdbcFailure> {
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|c| c.is_dead().unwrap_or(true)) {
            *guard = None;
        }
        if guard.is_none() {
            *guard = Some(Self::connect(secret, transactional)?);
        }
        let conn = guard
            .as_ref()
            .ok_or_else(|| OdbcFailure::internal("no connection"))?;
        let result = work(&Session { conn });
        let result = match result {
            Ok(v) if transactional => conn.commit().map(|()| v).map_err(|e| OdbcFailure::of(&e)),
            other => other,
        };
        if result.is_err() {
            if transactional {
                let _ = conn.rollback();
            }
            if conn.is_dead().unwrap_or(true) {
                *guard = None;
            }
        }
        result
    }
}

/// Text values of a row of cells, as staged (timestamps in RFC 3339 with microseconds, UTC); the text
/// cells are moved, not copied (payloads are the bulk of a batch).
pub fn text_row(cells: Vec<Cell>, flag_only: bool) -> TextRow {
    let mut out: TextRow = cells
        .into_iter()
        .map(|c| match c {
            Cell::Str(s) => s,
            Cell::Ts(t) => t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Cell::Bool(b) => b.map(|b| b.to_string()),
            Cell::I64(n) => n.map(|n| n.to_string()),
        })
        .collect();
    out.push(Some(flag_only.to_string()));
    out
}

/// Cells of a row read with [`super::dialect::Sql::select`] of `columns` of `spec`.
pub fn cells_of(
    spec: &TableSpec,
    columns: &[&str],
    row: &TextRow,
) -> Result<Vec<Cell>, OdbcFailure> {
    columns
        .iter()
        .zip(row)
        .map(|(name, value)| {
            let kind = spec
                .columns
                .iter()
                .find(|c| c.name == *name)
                .map_or(Kind::Str, |c| c.kind);
            let bad = |v: &str| {
                OdbcFailure::internal(format!("{}.{name}: unexpected value {v:?}", spec.name))
            };
            Ok(match (kind, value.as_deref()) {
                (Kind::Str, v) => Cell::Str(v.map(str::to_string)),
                (Kind::Ts, None) => Cell::Ts(None),
                (Kind::Ts, Some(v)) => {
                    let micros: i64 = v.trim().parse().map_err(|_| bad(v))?;
                    Cell::Ts(Some(
                        chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| bad(v))?,
                    ))
                }
                (Kind::Bool, None) => Cell::Bool(None),
                (Kind::Bool, Some("true")) => Cell::Bool(Some(true)),
                (Kind::Bool, Some("false")) => Cell::Bool(Some(false)),
                (Kind::Bool, Some(v)) => return Err(bad(v)),
                (Kind::I64, None) => Cell::I64(None),
                (Kind::I64, Some(v)) => Cell::I64(Some(v.trim().parse().map_err(|_| bad(v))?)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dialect, Secret};
    use crate::notion::ErrorClass;

    fn settings(credentials_var: &'static str) -> WarehouseSettings {
        WarehouseSettings {
            dialect: Dialect::Databricks,
            connection: Secret::new("Driver=x;PWD=secret"),
            credentials_var,
            describe: "Databricks host/sql/1.0/warehouses/w".into(),
            catalog: None,
            schema: "bronze".into(),
            staging_volume: None,
            secrets: Vec::new(),
        }
    }

    fn failure(state: &str, message: &str) -> OdbcFailure {
        OdbcFailure {
            state: state.into(),
            message: message.into(),
        }
    }

    #[test]
    fn sqlstates_decide_who_must_act() {
        let cases = [
            (
                "08001",
                "could not connect to server",
                ErrorClass::Transient,
            ),
            ("08S01", "communication link failure", ErrorClass::Transient),
            ("HYT00", "timeout expired", ErrorClass::Transient),
            ("40001", "could not serialize access", ErrorClass::Transient),
            ("40P01", "deadlock detected", ErrorClass::Transient),
            (
                "23505",
                "duplicate key value violates unique constraint",
                ErrorClass::Transient,
            ),
            (
                "HY000",
                "[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added",
                ErrorClass::Transient,
            ),
            (
                "28000",
                "invalid authorization specification",
                ErrorClass::Auth,
            ),
            (
                "08001",
                "FATAL: password authentication failed for user \"u\"",
                ErrorClass::Auth,
            ),
            (
                "42501",
                "permission denied for schema bronze",
                ErrorClass::Auth,
            ),
            (
                "3F000",
                "schema \"bronze\" does not exist",
                ErrorClass::Config,
            ),
            ("IM002", "Data source name not found", ErrorClass::Config),
            (
                "01000",
                "Can't open lib 'x' : file not found",
                ErrorClass::Config,
            ),
            (
                "42601",
                "syntax error at or near \"BY\"",
                ErrorClass::Internal,
            ),
            (
                "42P01",
                "relation \"x\" does not exist",
                ErrorClass::Internal,
            ),
        ];
        for (state, message, class) in cases {
            let e = sink_error(&settings("DATABRICKS_TOKEN"), "t", failure(state, message));
            assert_eq!(e.class(), class, "{state} {message}: {e}");
        }
    }

    #[test]
    fn refused_credentials_name_the_variable_to_fix() {
        for var in [
            "DATABRICKS_TOKEN",
            "DATABRICKS_CLIENT_SECRET",
            "WAREHOUSE_ODBC_CONNECTION_STRING",
        ] {
            let e = sink_error(&settings(var), "t", failure("28000", "refused")).to_string();
            assert!(e.contains(var), "{e}");
        }
        let e = sink_error(
            &settings("DATABRICKS_TOKEN"),
            "t",
            failure("3F000", "no schema"),
        );
        assert!(e.to_string().contains("CREATE SCHEMA bronze"), "{e}");
    }

    #[test]
    fn rows_read_back_become_typed_cells() {
        let spec = &crate::sink::spec::PAGES;
        let row: TextRow = vec![
            Some("p".into()),
            Some("1767225600000123".into()),
            Some("true".into()),
            None,
        ];
        let cells = cells_of(
            spec,
            &["page_id", "last_edited_time", "is_deleted", "deleted_at"],
            &row,
        )
        .unwrap();
        assert_eq!(cells[0], Cell::Str(Some("p".into())));
        assert_eq!(
            cells[1].ts().unwrap().to_rfc3339(),
            "2026-01-01T00:00:00.000123+00:00"
        );
        assert!(cells[2].flag());
        assert_eq!(cells[3], Cell::Ts(None));
        assert!(cells_of(spec, &["is_deleted"], &vec![Some("t".into())]).is_err());
        let staged = text_row(cells.clone(), true);
        assert_eq!(
            staged[1].as_deref(),
            Some("2026-01-01T00:00:00.000123Z"),
            "timestamps are staged in RFC 3339 with microseconds"
        );
        assert_eq!(staged.last().unwrap().as_deref(), Some("true"));
    }
}
