//! Input the connector must not trip over: malformed settings (the binary exits 2 naming the variable,
//! never panics) and Notion answers worded unlike the simulator's usual ones.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, WorkspaceKind};
use notion_sync::sink::BronzeSink;

use crate::support::{World, assert_bronze_matches, assert_exit, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multibyte_database_id_exits_2_naming_the_variable() {
    for value in [
        // Each puts a character across the cut 32 bytes before the end.
        "abcdeé195de9221179449fab8075a27c97910",
        "https://www.notion.so/Projets-😀195de9221179449fab8075a27c9791?v=1",
        "ééééééééééééééééééé€",
    ] {
        let mut w = World::start(WorkspaceKind::Demo).await;
        w.set("NOTION_PROJECTS_DB_ID", value);
        let out = w.run(&["sync"]).await;
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("NOTION_PROJECTS_DB_ID"),
            "{value}: {}",
            stderr(&out)
        );
        assert_eq!(w.sim.counters().total_requests, 0, "{value}: no request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_utf8_setting_exits_2_naming_the_variable() {
    let w = World::start(WorkspaceKind::Demo).await;
    let out = w
        .command(&["sync"])
        .env("NOTION_SYNC_LOOKBACK", OsStr::from_bytes(b"5\xffm"))
        .output()
        .await
        .expect("binary runs");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("NOTION_SYNC_LOOKBACK"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.sim.counters().total_requests, 0, "no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_utf8_unrelated_variable_is_ignored() {
    let w = World::start(WorkspaceKind::Demo).await;
    let out = w
        .command(&["init-tables"])
        .env("LC_SOMETHING_ELSE", OsStr::from_bytes(b"caf\xe9"))
        .output()
        .await
        .expect("binary runs");
    assert_exit(&out, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_cursor_restarts_the_query_whatever_the_message_says() {
    let w = World::large(450).await;
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::InvalidCursorSaying("This pagination token has expired.".into()),
            mode: FaultMode::Sequence(vec![false, false, true]),
        }],
    });
    assert_exit(&w.run(&["sync"]).await, 0);
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert!(run.restarts > 0, "{run:?}");
    assert_eq!(run.inserted, 450, "{run:?}");
    assert_bronze_matches(&w, "2026-03-11", None).await;
}
