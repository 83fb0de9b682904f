//! Reliability: faults, bad payloads. Every run ends with bronze equal to the simulator or with a clear
//! error and a documented exit code.

use std::time::Duration;

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, WorkspaceKind};
use notion_sync::sink::BronzeSink;
use serde_json::json;

use crate::support::{Lake, World, assert_bronze_matches, assert_exit};

fn rule(endpoint: Option<&str>, kind: FaultKind, p: f64) -> FaultRule {
    FaultRule {
        endpoint: endpoint.map(str::to_string),
        kind,
        mode: FaultMode::Probability(p),
    }
}

/// Syncs the demo workspace under `rules`; the run must end (no endless retrying) and bronze must equal
/// the simulator.
async fn survives(rules: Vec<FaultRule>) -> Vec<notion_sync::bronze::RunRecord> {
    survives_on(Lake::Local, rules).await
}

/// [`survives`] with bronze on `lake`.
async fn survives_on(lake: Lake, rules: Vec<FaultRule>) -> Vec<notion_sync::bronze::RunRecord> {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(lake).await;
    w.set("NOTION_TIMEOUT_SECONDS", "1");
    w.set("NOTION_MAX_RETRIES", "12");
    w.sim.set_faults(FaultPlan { rules });
    let out = tokio::time::timeout(crate::support::HANG_GUARD, w.run(&["sync"]))
        .await
        .expect("the run ends");
    assert_exit(&out, 0);
    w.sim.clear_faults();
    assert_bronze_matches(&w, "2026-03-11", None).await;
    w.bronze().recent_runs(100).await.unwrap()
}

fn total(
    runs: &[notion_sync::bronze::RunRecord],
    f: fn(&notion_sync::bronze::RunRecord) -> i64,
) -> i64 {
    runs.iter().map(f).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_529_is_waited_out() {
    let runs = survives(vec![rule(None, FaultKind::Status(529), 0.3)]).await;
    assert!(total(&runs, |r| r.throttled_429) > 0);
    assert!(total(&runs, |r| r.wait_ms) >= 1000, "waits are counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_slower_than_the_timeout_are_retried() {
    let runs = survives(vec![rule(
        None,
        FaultKind::Delay(Duration::from_millis(1500)),
        0.2,
    )])
    .await;
    assert!(total(&runs, |r| r.retries) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_mid_body_and_truncated_json_are_retried() {
    let runs = survives(vec![
        rule(None, FaultKind::DropConnection, 0.15),
        rule(None, FaultKind::TruncatedBody, 0.15),
    ])
    .await;
    assert!(total(&runs, |r| r.retries) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_still_converges() {
    every_fault_at_once(Lake::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_still_converges_into_postgres() {
    every_fault_at_once(Lake::Postgres).await;
}

async fn every_fault_at_once(lake: Lake) {
    let runs = survives_on(
        lake,
        vec![
            rule(None, FaultKind::Status(429), 0.3),
            rule(None, FaultKind::Status(503), 0.1),
            rule(None, FaultKind::Status(502), 0.1),
            rule(None, FaultKind::Status(529), 0.05),
            rule(None, FaultKind::Delay(Duration::from_millis(1500)), 0.05),
            rule(None, FaultKind::DropConnection, 0.05),
            rule(None, FaultKind::TruncatedBody, 0.05),
            rule(Some("query_data_source"), FaultKind::InvalidCursor, 0.2),
        ],
    )
    .await;
    assert!(total(&runs, |r| r.throttled_429) > 0);
    assert!(total(&runs, |r| r.retries) > 0);
    assert!(total(&runs, |r| r.wait_ms) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_page_is_kept_raw_in_the_reject_table_and_the_rest_lands() {
    malformed_pages_are_rejected(Lake::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_page_is_kept_raw_in_the_warehouse_reject_table() {
    malformed_pages_are_rejected(Lake::Postgres).await;
}

async fn malformed_pages_are_rejected(lake: Lake) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(lake).await;
    let db = w.sim.database_id_by_title("Tasks").unwrap();
    let ids = live_pages(&w, "Tasks", 2);
    let bad_time = json!({"last_edited_time": "yesterday"});
    let bad_id = json!({"id": 12345});
    w.sim
        .override_page(&ids[0], bad_time.as_object().unwrap().clone());
    w.sim
        .override_page(&ids[1], bad_id.as_object().unwrap().clone());
    assert_exit(&w.run(&["sync"]).await, 0);
    let rejects = w.bronze().read_rejects().await.unwrap();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(
        rejects
            .iter()
            .any(|r| r.raw.contains("yesterday") && r.page_id.as_deref() == Some(ids[0].as_str()))
    );
    assert!(
        rejects
            .iter()
            .any(|r| r.page_id.as_deref() == Some("12345"))
    );
    assert!(
        rejects
            .iter()
            .all(|r| !r.error.is_empty() && r.database_id == db)
    );
    let run = w
        .bronze()
        .recent_runs(100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.database_name == "tasks")
        .unwrap();
    assert_eq!(run.rejected, 2);
    let stored: Vec<String> = w
        .pages()
        .await
        .into_iter()
        .map(|p| p.record.page_id)
        .collect();
    assert!(!stored.contains(&ids[0]));
    // Read again: rejects are not stored twice.
    assert_exit(&w.run(&["sync", "--full-refresh"]).await, 0);
    assert_eq!(w.bronze().read_rejects().await.unwrap().len(), 2);
    // Fixed in Notion (and edited): the page lands.
    w.sim.override_page(&ids[0], Default::default());
    w.sim.override_page(&ids[1], Default::default());
    w.sim.advance_clock(chrono::Duration::minutes(1));
    w.sim.edit_page(&ids[0]);
    w.sim.edit_page(&ids[1]);
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

/// Ids of `n` live pages of the simulated database titled `title`.
fn live_pages(w: &World, title: &str, n: usize) -> Vec<String> {
    let db = w.sim.database_id_by_title(title).unwrap();
    let dump = w.sim.state_dump("2026-03-11");
    dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["database_id"] == db.as_str() && p["in_trash"] == false && p["is_archived"] == false
        })
        .map(|p| p["id"].as_str().unwrap().to_string())
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_page_notion_later_serves_malformed_is_rejected_and_the_rest_lands() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let id = live_pages(&w, "Tasks", 1).remove(0);
    w.sim.override_page(
        &id,
        json!({"last_edited_time": "yesterday"})
            .as_object()
            .unwrap()
            .clone(),
    );
    for args in [
        &["sync", "--full-refresh"][..],
        &["sync", "--detect-deletes"][..],
    ] {
        let out = w.run(args).await;
        assert_exit(&out, 0);
        let rejects = w.sink().read_rejects().await.unwrap();
        assert!(
            rejects
                .iter()
                .any(|r| r.page_id.as_deref() == Some(id.as_str())),
            "{args:?}: {rejects:?}"
        );
        let row = w
            .pages()
            .await
            .into_iter()
            .find(|p| p.record.page_id == id)
            .expect("the stored row is kept");
        assert!(
            !row.record.is_deleted,
            "{args:?}: a malformed read is not a deletion"
        );
    }
    w.sim.override_page(&id, Default::default());
    w.sim.advance_clock(chrono::Duration::minutes(1));
    w.sim.edit_page(&id);
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_that_cannot_be_written_hold_the_watermark_back() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["init-tables"]).await, 0);
    // The oldest page of the database: once the watermark passed it, no incremental read sees it again.
    let db = w.sim.database_id_by_title("Tasks").unwrap();
    let dump = w.sim.state_dump("2026-03-11");
    let oldest = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["database_id"] == db.as_str() && p["in_trash"] == false && p["is_archived"] == false
        })
        .min_by_key(|p| p["page"]["last_edited_time"].as_str().unwrap().to_string())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.sim
        .override_page(&oldest, json!({"id": 12345}).as_object().unwrap().clone());
    // The rejects table breaks while the run reads its first page.
    let mut cmd = w.command(&["sync", "-d", "tasks"]);
    cmd.env("NOTION_SYNC_PAUSE_AT", "fetch.page#1")
        .env("NOTION_SYNC_PAUSE_MODE", "stop")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let rejects = w.lake.path().join("lake/bronze/notion_raw_rejects");
    let stopped = async {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id().unwrap()))
                .unwrap_or_default();
            if stat.split_whitespace().nth(2) == Some("T") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(crate::support::HANG_GUARD, stopped)
        .await
        .unwrap();
    std::fs::remove_dir_all(&rejects).unwrap();
    std::fs::write(&rejects, b"not a table").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let status = child.wait().await.unwrap();
    assert_ne!(status.code(), Some(0));
    // Repaired, the next run still finds the reject.
    std::fs::remove_file(&rejects).unwrap();
    assert_exit(&w.run(&["init-tables"]).await, 0);
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    let stored = w.sink().read_rejects().await.unwrap();
    assert!(
        stored.iter().any(|r| r.page_id.as_deref() == Some("12345")),
        "{stored:?}"
    );
}

/// Every cursor of a query rejected, as when cursors expire between every two requests.
fn every_cursor_rejected() -> FaultPlan {
    FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::InvalidCursor,
            mode: FaultMode::Always,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_cursors_in_a_minute_of_many_edits_go_through_it_by_created_time() {
    let w = World::large(450).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    // 450 pages edited in one minute: restarting "from the last timestamp seen" reads the same first
    // page again, so the restart goes through the minute by created_time.
    w.sim.advance_clock(chrono::Duration::minutes(10));
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    w.sim.edit_pages(&ds, 450);
    w.sim.advance_clock(chrono::Duration::minutes(10));
    w.sim.set_faults(every_cursor_rejected());
    let out = tokio::time::timeout(crate::support::HANG_GUARD, w.run(&["sync"]))
        .await
        .expect("the run ends");
    assert_exit(&out, 0);
    w.sim.clear_faults();
    let runs = w.sink().recent_runs(100).await.unwrap();
    assert!(runs[0].restarts > 0, "{:?}", runs[0]);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_rejected_again_and_again_without_progress_stop_with_75() {
    let w = World::large(10).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    // 150 pages created (and so edited) in one minute: no window reaches past the first 100.
    w.sim.advance_clock(chrono::Duration::minutes(10));
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    w.sim.create_pages(&ds, 150);
    w.sim.advance_clock(chrono::Duration::minutes(10));
    w.sim.set_faults(every_cursor_rejected());
    let out = tokio::time::timeout(crate::support::HANG_GUARD, w.run(&["sync"]))
        .await
        .expect("the run ends instead of restarting for ever");
    assert_exit(&out, 75);
    assert!(
        crate::support::stderr(&out).contains("without progress"),
        "{}",
        crate::support::stderr(&out)
    );
}
