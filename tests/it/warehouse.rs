//! The warehouse sink against a real PostgreSQL 15 through a real ODBC driver (psqlODBC): bronze read
//! back through ODBC equals the simulator, idle runs write nothing, and bad connections exit with the
//! code and the fix, never showing the connection string.

use notion_sim::WorkspaceKind;

use crate::support::{
    Lake, World, assert_bronze_matches, assert_exit, assert_first_runs, postgres_query, stderr,
    stdout,
};

/// A transaction id of the test PostgreSQL now: every row version written later has a larger `xmin`.
fn xid_now() -> i64 {
    postgres_query("SELECT pg_current_xact_id()::text")[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// Row versions of `tables` in `schema` inserted or updated by transactions after `xid` (the sink never
/// deletes rows).
fn written_since(schema: &str, tables: &[&str], xid: i64) -> i64 {
    tables
        .iter()
        .map(|t| {
            postgres_query(&format!(
                "SELECT count(*) FROM {schema}.{t} WHERE xmin::text::bigint > {xid}"
            ))[0][0]
                .as_deref()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum()
}

async fn full_sync_into_postgres(version: &str) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(Lake::Postgres).await;
    w.set("NOTION_VERSION", version);
    let out = w.run(&["init-tables"]).await;
    assert_exit(&out, 0);
    let schema = w.env["BRONZE_SCHEMA"].clone();
    assert!(
        stdout(&out).contains(&format!("{schema}.notion_raw_pages: created")),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&format!("{schema}.notion_sync_leases: created")));
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, version, None).await;
    assert_first_runs(&w, version).await;
    let sink = w.bronze();
    let schemas = sink.read_schemas().await.unwrap();
    assert_eq!(schemas.len(), w.data_source_count() as usize);
    // The tables are typed in the warehouse: times are timestamptz, flags boolean.
    let types = postgres_query(&format!(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{schema}' \
         AND table_name = 'notion_raw_pages' AND column_name IN ('last_edited_time', 'is_deleted')"
    ));
    let mut types: Vec<(String, String)> = types
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("is_deleted".to_string(), "boolean".to_string()),
            (
                "last_edited_time".to_string(),
                "timestamp with time zone".to_string()
            )
        ]
    );
    // A second init-tables finds every table.
    let out = w.run(&["init-tables"]).await;
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("created"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_into_postgres_equals_the_simulator_2026_03_11() {
    full_sync_into_postgres("2026-03-11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_into_postgres_equals_the_simulator_2025_09_03() {
    full_sync_into_postgres("2025-09-03").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_run_into_postgres_writes_no_bronze_row_and_edits_land() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(Lake::Postgres).await;
    w.set("NOTION_SYNC_INCLUDE", "content,comments");
    assert_exit(&w.run(&["sync"]).await, 0);
    // The minute of the last read is read once more; after that runs are idle.
    w.sim.advance_clock(chrono::Duration::minutes(10));
    assert_exit(&w.run(&["sync"]).await, 0);
    let schema = w.env["BRONZE_SCHEMA"].clone();
    let tables = [
        "notion_raw_pages",
        "notion_raw_page_versions",
        "notion_raw_blocks",
        "notion_raw_comments",
        "notion_raw_databases",
    ];
    let start = xid_now();
    w.assert_idle_run().await;
    assert_eq!(
        written_since(&schema, &tables, start),
        0,
        "an idle run inserts and updates no row of {tables:?}"
    );
    // The check sees writes: the last run's own run rows were written after `start`.
    assert!(written_since(&schema, &["notion_sync_runs"], start) > 0);
    // Edits, a trash and a move between databases land as in the lake.
    let tasks = w.database("Tasks");
    let ds = tasks.data_sources[0].id.clone();
    w.sim.advance_clock(chrono::Duration::minutes(1));
    let edited = w.sim.edit_pages(&ds, 3);
    w.sim.trash_page(&edited[0]);
    assert_exit(&w.run(&["sync", "--detect-deletes"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
    let pages = w.pages().await;
    let trashed = pages
        .iter()
        .find(|p| p.record.page_id == edited[0])
        .expect("the trashed page keeps its row");
    assert!(trashed.record.is_deleted && trashed.record.in_trash);
    let status = w.run(&["status", "--json"]).await;
    assert_exit(&status, 0);
    assert!(
        stdout(&status).contains("\"rows_live\""),
        "{}",
        stdout(&status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_the_warehouse_and_names_what_to_fix() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(Lake::Postgres).await;
    let good = w.env["WAREHOUSE_ODBC_CONNECTION_STRING"].clone();
    let out = w.run(&["health"]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("writable"), "{}", stdout(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("nsync-pg-test-pw"));

    // A wrong password: exit 3, naming the variable, never the connection string or the password.
    let wrong = good.replace("Pwd=nsync-pg-test-pw", "Pwd=wrong-pw-Xy7");
    w.set("WAREHOUSE_ODBC_CONNECTION_STRING", &wrong);
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 3);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("WAREHOUSE_ODBC_CONNECTION_STRING"), "{text}");
    assert!(
        !text.contains("wrong-pw-Xy7") && !text.contains(&wrong),
        "{text}"
    );

    // A driver that is not installed: exit 2, saying so.
    let missing = good.replace("{PostgreSQL Unicode}", "{No Such Driver}");
    w.set("WAREHOUSE_ODBC_CONNECTION_STRING", &missing);
    let out = w.run(&["init-tables"]).await;
    assert_exit(&out, 2);
    let text = stderr(&out);
    assert!(text.contains("ODBC driver"), "{text}");
    assert!(!text.contains("nsync-pg-test-pw"), "{text}");

    // Not a connection string at all: exit 2 before any connection.
    w.set("WAREHOUSE_ODBC_CONNECTION_STRING", "nsync-pg-test-pw");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 2);
    assert!(
        !stderr(&out).contains("nsync-pg-test-pw"),
        "{}",
        stderr(&out)
    );

    // A user who may use the schema but not create tables in it: health's write probe fails, exit 3.
    let schema = w.env["BRONZE_SCHEMA"].clone();
    let reader = format!("reader_{schema}");
    crate::support::postgres_exec(&format!(
        "CREATE ROLE {reader} LOGIN PASSWORD 'reader-pw-Q4'; GRANT USAGE ON SCHEMA {schema} TO {reader}"
    ));
    let as_reader = good
        .replace("Uid=postgres", &format!("Uid={reader}"))
        .replace("Pwd=nsync-pg-test-pw", "Pwd=reader-pw-Q4");
    w.set("WAREHOUSE_ODBC_CONNECTION_STRING", &as_reader);
    let out = w.run(&["health"]).await;
    assert_exit(&out, 3);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("permission denied"), "{text}");
    assert!(!text.contains("reader-pw-Q4"), "{text}");

    // A schema that does not exist: exit 2, naming it and how to create it.
    w.set("WAREHOUSE_ODBC_CONNECTION_STRING", &good);
    w.set("BRONZE_SCHEMA", "no_such_schema");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 2);
    let text = stderr(&out);
    assert!(
        text.contains("no_such_schema") && text.contains("CREATE SCHEMA"),
        "{text}"
    );
    assert!(!text.contains("nsync-pg-test-pw"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_into_the_same_warehouse_is_refused_while_the_first_holds_the_lease() {
    let mut w = World::large(3_000).await;
    w.on(Lake::Postgres).await;
    w.set("NOTION_REQUESTS_PER_MINUTE", "600");
    let first = w
        .command(&["sync"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lease (its row is in the warehouse).
    let schema = w.env["BRONZE_SCHEMA"].clone();
    let mut held = false;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let exists = postgres_query(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}' \
             AND table_name = 'notion_sync_leases'"
        ));
        if exists[0][0].as_deref() == Some("1")
            && postgres_query(&format!("SELECT count(*) FROM {schema}.notion_sync_leases"))[0][0]
                .as_deref()
                != Some("0")
        {
            held = true;
            break;
        }
    }
    assert!(held, "the first run took a lease");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 75);
    assert!(
        stderr(&out).contains("is being synced by"),
        "{}",
        stderr(&out)
    );
    let first = first.wait_with_output().await.unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_bronze_matches(&w, "2026-03-11", None).await;
}
