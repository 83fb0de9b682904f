//! The warehouse scenarios' access to the test PostgreSQL (`scripts/services.sh`): a schema per world,
//! and PostgreSQL's own row counters to tell whether a run wrote anything.

use odbc_api::{ConnectionOptions, Cursor, ResultSetMetadata};

/// The connection string `scripts/services.sh` exports, if the services are up.
pub fn connection() -> Option<String> {
    std::env::var("NOTION_SYNC_TEST_POSTGRES").ok()
}

/// Runs a query; every row as text.
pub fn query(connection: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let env = odbc_api::environment().expect("ODBC environment");
    let conn = env
        .connect_with_connection_string(connection, ConnectionOptions::default())
        .expect("the test PostgreSQL accepts a connection");
    let Some(mut cursor) = conn.execute(sql, (), None).expect("statement runs") else {
        return Vec::new();
    };
    let width = cursor.num_result_cols().expect("columns") as u16;
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row().expect("row") {
        let mut out = Vec::new();
        for col in 1..=width {
            let present = row.get_text(col, &mut buf).expect("text");
            out.push(present.then(|| String::from_utf8_lossy(&buf).to_string()));
        }
        rows.push(out);
    }
    rows
}

/// A new schema; its name.
pub fn new_schema(connection: &str) -> String {
    let schema = format!("bench_{}_{}", std::process::id(), fastrand_suffix());
    query(connection, &format!("CREATE SCHEMA {schema}"));
    schema
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_007)
        .unwrap_or(0)
}

/// A transaction id now: every row version written later has a larger `xmin`.
pub fn xid_now(connection: &str) -> i64 {
    query(connection, "SELECT pg_current_xact_id()::text")[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MAX)
}

/// Row versions of the data tables of `schema` (pages, history, schemas) written after `xid`.
pub fn data_written_since(connection: &str, schema: &str, xid: i64) -> i64 {
    [
        "notion_raw_pages",
        "notion_raw_page_versions",
        "notion_raw_databases",
    ]
    .iter()
    .map(|t| {
        query(
            connection,
            &format!("SELECT count(*) FROM {schema}.{t} WHERE xmin::text::bigint > {xid}"),
        )[0][0]
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    })
    .sum()
}
