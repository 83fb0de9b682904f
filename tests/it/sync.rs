//! The sync spine: full and incremental syncs land exactly what Notion holds.

use std::collections::BTreeMap;

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, WorkspaceKind};
use notion_sync::sink::{BronzeSink, tables};
use serde_json::Value;

use crate::support::{
    World, assert_bronze_matches, assert_exit, assert_first_runs, optimize_report, stderr,
};

async fn full_sync_matches(version: &str) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_VERSION", version);
    assert_exit(&w.run(&["init-tables"]).await, 0);
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert_bronze_matches(&w, version, None).await;
    assert_first_runs(&w, version).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_equals_simulator_2026_03_11() {
    full_sync_matches("2026-03-11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_equals_simulator_2025_09_03() {
    full_sync_matches("2025-09-03").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_workspace_keeps_every_property_type_and_unknown_ones_raw() {
    let w = World::start(WorkspaceKind::Full).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
    // The made-up property type survives verbatim in both JSON columns.
    let dump = w.sim.state_dump("2026-03-11");
    let mut unknown_types = Vec::new();
    let known = [
        "title",
        "rich_text",
        "number",
        "select",
        "multi_select",
        "status",
        "date",
        "people",
        "files",
        "checkbox",
        "url",
        "email",
        "phone_number",
        "relation",
        "rollup",
        "formula",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
        "verification",
        "place",
        "button",
    ];
    for p in dump["pages"].as_array().unwrap() {
        for (_, prop) in p["page"]["properties"].as_object().unwrap() {
            let t = prop["type"].as_str().unwrap().to_string();
            if !known.contains(&t.as_str()) {
                unknown_types.push((p["id"].as_str().unwrap().to_string(), t));
            }
        }
    }
    assert!(
        !unknown_types.is_empty(),
        "the full workspace has a property type unknown to the connector"
    );
    let pages = w.pages().await;
    for (id, t) in unknown_types {
        let row = pages
            .iter()
            .find(|p| p.record.page_id == id)
            .expect("page stored");
        let props: Value = serde_json::from_str(&row.record.properties).unwrap();
        assert!(
            props
                .as_object()
                .unwrap()
                .values()
                .any(|v| v["type"] == t.as_str()),
            "{t} kept in {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_resync_creates_no_delta_version() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let sink = w.sink();
    let v1 = sink.table_version("notion_raw_pages").await.unwrap();
    assert_exit(&w.run(&["sync"]).await, 0);
    let v2 = sink.table_version("notion_raw_pages").await.unwrap();
    assert_eq!(v1, v2, "re-reading unchanged pages must not commit");
    let runs = sink.recent_runs(100).await.unwrap();
    let n = w.sim.databases().len();
    let second: Vec<_> = runs.iter().take(n).collect();
    assert!(
        second
            .iter()
            .all(|r| r.status.as_str() == "unchanged" && r.inserted == 0 && r.updated == 0),
        "{second:?}"
    );
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_in_the_watermark_minute_are_picked_up_with_few_requests() {
    let w = World::large(3_000).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    // A sync in the minute of 150 edits, then 150 more edits in that same minute, after the sync: a strict
    // `after` filter on the watermark (or a watermark taken from the clock) would miss them.
    w.sim.advance_clock(chrono::Duration::minutes(20));
    let ds = &w.sim.databases()[0].data_sources[0].id;
    w.sim.edit_pages(ds, 150);
    assert_exit(&w.run(&["sync"]).await, 0);
    let edited = w.sim.edit_pages(ds, 150);
    assert_eq!(edited.len(), 150);
    let before = w.query_requests();
    assert_exit(&w.run(&["sync"]).await, 0);
    let queries = w.query_requests() - before;
    assert!(
        (2..=4).contains(&queries),
        "the minute's 300 edits need ~3 query pages, not 30; got {queries}"
    );
    assert_bronze_matches(&w, "2026-03-11", None).await;
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.updated, 150, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_with_d_and_full_refresh_rereads_everything() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", Some(&["tasks"])).await;
    let tasks_rows = w.pages().await.len() as i64;
    assert_exit(&w.run(&["sync", "-d", "tasks", "-d", "notes"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", Some(&["tasks", "notes"])).await;
    let before = w.query_requests();
    assert_exit(&w.run(&["sync", "--full-refresh", "-d", "tasks"]).await, 0);
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.database_name, "tasks");
    assert_eq!(run.mode.as_str(), "full_refresh");
    assert_eq!(run.fetched, tasks_rows, "full refresh re-reads every page");
    assert_eq!(run.unchanged, tasks_rows);
    assert!(w.query_requests() > before);
    let marks = w.sink().load_watermarks().await.unwrap();
    assert!(
        marks
            .iter()
            .any(|m| m.database_name == "tasks" && m.last_full_refresh_at.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_without_extra_requests() {
    let w = World::start(WorkspaceKind::Demo).await;
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::Status(429),
            mode: FaultMode::Sequence(vec![true]),
        }],
    });
    let started = std::time::Instant::now();
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let c = w.sim.counters();
    assert_eq!(c.rate_limited_429, 1);
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.throttled_429, 1);
    assert_eq!(run.retries, 0, "a 429 is a wait, not a failure");
    // Every request the connector sent is accounted for: one extra query for the throttled one.
    assert_eq!(run.api_requests as u64, c.total_requests);
    assert_bronze_matches(&w, "2026-03-11", Some(&["tasks"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let w = World::start(WorkspaceKind::Demo).await;
    w.sim.set_faults(FaultPlan {
        rules: vec![
            FaultRule {
                endpoint: Some("query_data_source".into()),
                kind: FaultKind::Status(503),
                mode: FaultMode::Sequence(vec![true, true]),
            },
            FaultRule {
                endpoint: Some("retrieve_data_source".into()),
                kind: FaultKind::Status(502),
                mode: FaultMode::Sequence(vec![true]),
            },
        ],
    });
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.retries, 3);
    assert_bronze_matches(&w, "2026-03-11", Some(&["tasks"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_exit_75_and_keep_the_watermark() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    let before = w.sink().load_watermarks().await.unwrap();
    w.sim.advance_clock(chrono::Duration::minutes(10));
    let ds = w.database("Tasks").data_sources[0].id.clone();
    w.sim.edit_pages(&ds, 3);
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::Status(500),
            mode: FaultMode::Always,
        }],
    });
    w.set("NOTION_MAX_RETRIES", "2");
    let out = w.run(&["sync", "-d", "tasks"]).await;
    assert_exit(&out, 75);
    assert!(stderr(&out).contains("tasks"), "{}", stderr(&out));
    assert_eq!(
        w.sink().load_watermarks().await.unwrap(),
        before,
        "watermark unchanged"
    );
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.status.as_str(), "failed");
    assert_eq!(run.error_class.as_deref(), Some("transient"));
    assert_eq!(run.retries, 2);
    w.sim.clear_faults();
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", Some(&["tasks"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_first_commit_then_rerun_converges() {
    let mut w = World::large(2_000).await;
    w.set("NOTION_SYNC_BATCH_PAGES", "100");
    // A watermark save after every commit, so the first one shows the kill lands after a commit.
    w.set("NOTION_SYNC_WATERMARK_INTERVAL", "0");
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    // Slow every query page down so the kill lands mid-run.
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::Delay(std::time::Duration::from_millis(150)),
            mode: FaultMode::Always,
        }],
    });
    assert_exit(&w.run(&["init-tables"]).await, 0);
    let mut child = w.command(&["sync"]).spawn().unwrap();
    let sink = w.sink();
    let deadline = std::time::Instant::now() + crate::support::HANG_GUARD;
    loop {
        let marks = sink.load_watermarks().await.unwrap_or_default();
        if marks.iter().any(|m| m.watermark.is_some()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no batch committed within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    // The killed run's lease expires before the rerun takes it over.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let partial = w.pages().await.len();
    assert!(
        partial > 0 && partial < 2_000,
        "killed mid-run with {partial} rows"
    );
    w.sim.clear_faults();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_nothing_to_do_costs_two_requests_per_data_source() {
    let w = World::start(WorkspaceKind::Full).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    w.assert_idle_run().await;
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minute_of_the_last_read_is_read_once_more_then_runs_are_idle() {
    use notion_sync::sink::BronzeSink;
    let w = World::start(WorkspaceKind::Full).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let sources = w.data_source_count();
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    // Edits before and after a sync, all in one minute of Notion's clock.
    w.sim.advance_clock(chrono::Duration::minutes(20));
    let edited = w.sim.edit_pages(&ds, 150);
    assert_exit(&w.run(&["sync"]).await, 0);
    let late = w.sim.edit_pages(&ds, 1);
    // Fifteen minutes later the last read's minute is read again, which finds the late edit.
    w.sim.advance_clock(chrono::Duration::minutes(15));
    w.sim.reset_counters();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert!(w.sim.counters().total_requests > 2 * sources);
    let runs = w.sink().recent_runs(100).await.unwrap();
    let fetched: i64 = runs
        .iter()
        .filter(|r| r.run_id == runs[0].run_id)
        .map(|r| r.fetched)
        .sum();
    assert!(
        fetched >= edited.len() as i64,
        "the minute re-read: {fetched} pages"
    );
    assert_bronze_matches(&w, "2026-03-11", None).await;
    let stored = w.pages().await;
    assert!(stored.iter().any(|p| p.record.page_id == late[0]));
    // That run began 15 minutes after the edits, so the next one reads nothing old.
    w.assert_idle_run().await;
    let marks = w.sink().load_watermarks().await.unwrap();
    assert!(
        marks.iter().all(|m| m.query_started_at.is_some()),
        "every data source records Notion's clock at its last read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_checkpoints_and_vacuums_without_changing_rows() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    // Small files in every table: a sync of new pages appends a file to the pages table, one of edits
    // MERGEs (rewriting the files it touches, so the old ones stay on disk unreferenced); each adds
    // history, watermark and run files.
    let tasks = w.database("Tasks").data_sources[0].id.clone();
    for _ in 0..3 {
        w.sim.advance_clock(chrono::Duration::minutes(2));
        w.sim.edit_pages(&tasks, 5);
        assert_exit(&w.run(&["sync"]).await, 0);
        w.sim.advance_clock(chrono::Duration::minutes(2));
        w.sim.create_pages(&tasks, 3);
        assert_exit(&w.run(&["sync"]).await, 0);
    }
    let mut files = BTreeMap::new();
    for table in tables::ALL {
        files.insert(table, w.data_files(table).await);
    }
    // Properties only: the rejects, content and file tables stay empty, and no restore ran.
    let empty = [
        tables::REJECTS,
        tables::BLOCKS,
        tables::USERS,
        tables::COMMENTS,
        tables::RESTORE_LOG,
        tables::FILES,
    ];
    let with_rows: Vec<&str> = tables::ALL
        .into_iter()
        .filter(|t| !empty.contains(t))
        .collect();
    for table in with_rows.iter().copied() {
        let f = &files[table];
        assert!(
            f.per_partition().values().any(|n| *n > 1),
            "{table} has several files in a partition: {f:?}"
        );
        assert!(f.active.is_subset(&f.on_disk), "{table}: {f:?}");
    }
    for table in [tables::PAGES, tables::WATERMARKS] {
        let f = &files[table];
        assert!(
            f.on_disk.len() > f.active.len(),
            "MERGEs left {table} files the table no longer references: {f:?}"
        );
    }
    let before = w.pages().await;
    let versions = w.sink().read_versions().await.unwrap().len();
    let out = w.run(&["optimize", "--retention-hours", "0"]).await;
    assert_exit(&out, 0);
    let report = optimize_report(&out);
    for table in tables::ALL {
        let (was, now) = (&files[table], w.data_files(table).await);
        let r = report
            .get(table)
            .unwrap_or_else(|| panic!("optimize reports {table}: {report:?}"));
        // What the binary reports is what the snapshot shows.
        assert_eq!(
            now.active.len() + r.removed,
            was.active.len() + r.added,
            "{table}: {r:?}, before {was:?}, after {now:?}"
        );
        // Compacted: one file per partition, fewer than before.
        assert!(
            now.per_partition().values().all(|n| *n == 1),
            "{table} compacted to one file per partition: {now:?}"
        );
        if with_rows.contains(&table) {
            assert!(
                now.active.len() < was.active.len(),
                "{table}: {was:?} {now:?}"
            );
        }
        // A retention of 0 vacuums every file the snapshot does not reference, and nothing else.
        assert_eq!(now.on_disk, now.active, "{table}: only active files remain");
        let vacuumed: Vec<_> = was.on_disk.difference(&now.active).collect();
        assert!(
            vacuumed.iter().all(|f| !f.exists()),
            "{table}: {vacuumed:?}"
        );
        assert_eq!(
            r.vacuumed,
            was.on_disk.len() + r.added - now.on_disk.len(),
            "{table}: the vacuum count is the files gone"
        );
    }
    assert!(report[tables::PAGES].vacuumed > 0, "{report:?}");
    let mut after = w.pages().await;
    let mut before = before;
    let key = |p: &notion_sync::sink::delta::StoredPage| {
        (p.record.page_id.clone(), p.record.database_id.clone())
    };
    before.sort_by_key(key);
    after.sort_by_key(key);
    assert_eq!(after, before, "rows unchanged");
    assert_eq!(w.sink().read_versions().await.unwrap().len(), versions);
    let log = w.table_dir(tables::PAGES).join("_delta_log");
    assert!(
        std::fs::read_dir(&log).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".checkpoint.parquet")),
        "a checkpoint was written"
    );
    // The next sync works on the optimized tables.
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hydrated_payload_keeps_formula_and_number_digits_exact() {
    let w = World::start(WorkspaceKind::Full).await;
    let everything = w.database("Everything");
    let dump = w.sim.state_dump("2026-03-11");
    let page = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["database_id"] == everything.id.as_str() && p["page"] != p["page_full"])
        .expect("a truncated page")["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Doubles whose shortest text a lax float parser does not read back exactly.
    let formula = serde_json::json!({"type": "number", "number": 15.545454545454545});
    assert!(w.sim.set_page_value(&page, "F number", formula));
    assert!(
        w.sim
            .set_page_value(&page, "Number", serde_json::json!(0.30000000000000004))
    );
    assert_exit(&w.run(&["sync"]).await, 0);
    let stored = w
        .pages()
        .await
        .into_iter()
        .find(|p| p.record.page_id == page)
        .expect("the page is stored");
    assert!(!stored.record.hydrated_properties.is_empty(), "hydrated");
    for digits in [
        r#""number":15.545454545454545"#,
        r#""number":0.30000000000000004"#,
    ] {
        assert!(
            stored.record.payload.contains(digits),
            "{digits} in {}",
            stored.record.payload
        );
        assert!(stored.record.properties.contains(digits), "{digits}");
    }
}
