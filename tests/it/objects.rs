//! The lake on object stores: every S3 test writes to its own bucket of a real S3-compatible server (moto),
//! every Azure test to its own folder of a container of Azurite (the Azure Storage emulator), both started
//! on loopback by `scripts/services.sh`; the tables are read back from there.

use notion_sim::WorkspaceKind;
use notion_sync::bronze::PageRecord;
use notion_sync::sink::BronzeSink;
use notion_sync::sink::delta::DeltaSink;

use crate::crash::{Kill, Phase, crash_then_rerun_on};
use crate::lease::{
    killed_runs_lease_blocks_reruns_until_it_expires,
    second_run_is_refused_while_the_first_holds_the_lease, versions,
};
use crate::oracle::{Memory, Promise, check};
use crate::support::{Lake, S3_KEY_ID, S3_SECRET, World, assert_exit, s3_auth_endpoint, stderr};

/// The data tables: an idle run commits none of them (it only adds its run row).
const DATA_TABLES: [&str; 4] = [
    notion_sync::sink::tables::PAGES,
    notion_sync::sink::tables::VERSIONS,
    notion_sync::sink::tables::DATABASES,
    notion_sync::sink::tables::REJECTS,
];

/// Asserts no credential appears in a run's output.
#[track_caller]
fn assert_no_credentials(out: &std::process::Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(S3_SECRET), "the secret key leaked: {text}");
        assert!(
            !text.contains(S3_KEY_ID),
            "the access key id leaked: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_incremental_idle_optimize_and_delete_detection_on_s3() {
    full_incremental_idle_optimize_and_delete_detection(Lake::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_incremental_idle_optimize_and_delete_detection_on_azure() {
    full_incremental_idle_optimize_and_delete_detection(Lake::Azure).await;
}

/// A lake on `lake` goes through every kind of run and `optimize`, equal to the simulator throughout.
async fn full_incremental_idle_optimize_and_delete_detection(lake: Lake) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(lake).await;
    let mut memory = Memory::default();
    let first = w.run(&["sync", "--full-refresh"]).await;
    assert_exit(&first, 0);
    assert_no_credentials(&first);
    check(&w, "2026-03-11", None, Promise::FullRefresh, &mut memory).await;
    let keys = w.lake_keys("bronze/notion_raw_pages").await;
    assert!(
        keys.iter().any(|k| k.ends_with(".parquet"))
            && keys.iter().any(|k| k.contains("_delta_log/")),
        "the pages table lives in the object store: {keys:?}"
    );

    // Incremental: edits and a trashed page.
    w.sim.advance_clock(chrono::Duration::minutes(3));
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    let edited = w.sim.edit_pages(&ds, 7);
    assert_exit(&w.run(&["sync"]).await, 0);
    check(&w, "2026-03-11", None, Promise::Incremental, &mut memory).await;

    // Nothing changed: no data table gets a new version.
    w.sim.advance_clock(chrono::Duration::minutes(10));
    assert_exit(&w.run(&["sync"]).await, 0);
    let before = versions(&w).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let after = versions(&w).await;
    for table in DATA_TABLES {
        assert_eq!(before[table], after[table], "{table} got a new version");
    }

    // Delete detection flags a trashed page.
    assert!(w.sim.trash_page(&edited[0]));
    assert_exit(&w.run(&["sync", "--detect-deletes"]).await, 0);
    check(&w, "2026-03-11", None, Promise::DetectDeletes, &mut memory).await;
    let flagged = w
        .pages()
        .await
        .into_iter()
        .find(|p| p.record.page_id == edited[0])
        .expect("the trashed page keeps its row");
    assert!(flagged.record.is_deleted, "{:?}", flagged.record);

    // optimize compacts and vacuums in the bucket; the tables still hold the same state.
    let pages_before = w.pages().await.len();
    let out = w.run(&["optimize", "--retention-hours", "0"]).await;
    assert_exit(&out, 0);
    assert_eq!(w.pages().await.len(), pages_before);
    check(&w, "2026-03-11", None, Promise::DetectDeletes, &mut memory).await;
    let live: std::collections::BTreeSet<String> = w
        .sink()
        .data_file_uris(notion_sync::sink::tables::PAGES)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let stored: std::collections::BTreeSet<String> = w
        .lake_keys("bronze/notion_raw_pages")
        .await
        .into_iter()
        .filter(|k| k.ends_with(".parquet") && !k.contains("_delta_log/"))
        .map(|k| format!("{}/{k}", w.lake_uri()))
        .collect();
    assert_eq!(
        live, stored,
        "vacuum left only the files of the current version"
    );
    assert_exit(&w.run(&["sync"]).await, 0);
    check(&w, "2026-03-11", None, Promise::Incremental, &mut memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_proves_the_bucket_writable_and_leaves_nothing_behind() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on_s3().await;
    let out = w.run(&["health"]).await;
    assert_exit(&out, 0);
    assert_no_credentials(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("writable"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The probe went where the tables go, and is gone again.
    let left = w.lake_keys("").await;
    assert!(
        left.iter().all(|k| k.starts_with("bronze/notion_")),
        "only the tables are in the bucket: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_s3_is_refused_while_the_first_holds_the_lease() {
    second_run_is_refused_while_the_first_holds_the_lease(Lake::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_lease_on_s3_is_taken_over_once_it_expired() {
    killed_runs_lease_blocks_reruns_until_it_expires(Lake::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_azure_is_refused_while_the_first_holds_the_lease() {
    second_run_is_refused_while_the_first_holds_the_lease(Lake::Azure).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_lease_on_azure_is_taken_over_once_it_expired() {
    killed_runs_lease_blocks_reruns_until_it_expires(Lake::Azure).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_an_incremental_merge_on_azure() {
    crash_then_rerun_on(
        Lake::Azure,
        "azure_inside_merge",
        Some(&["sync"]),
        &["sync"],
        Kill::Inside(Phase::PagesCommit, 1),
    )
    .await;
}

/// A page row of `database` edited at `minute`.
fn page(id: usize, database: &str, minute: u32, title: &str) -> PageRecord {
    let page_id = format!("{id:08x}-0000-4000-8000-000000000000");
    let at = |m: u32| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-11-01T10:{m:02}:00Z"))
            .unwrap()
            .to_utc()
    };
    let payload = serde_json::json!({"object": "page", "id": page_id, "title": title}).to_string();
    PageRecord {
        page_id: page_id.clone(),
        database_id: database.into(),
        data_source_id: database.into(),
        database_name: "racing".into(),
        created_time: at(0),
        last_edited_time: at(minute),
        created_by: None,
        last_edited_by: None,
        in_trash: false,
        is_archived: false,
        is_deleted: false,
        deleted_at: None,
        deleted_reason: None,
        hydrated_properties: Vec::new(),
        url: None,
        public_url: None,
        title: title.into(),
        properties: "{}".into(),
        payload_sha256: notion_sync::extract::convert::sha256_hex(&payload),
        payload,
        api_version: "2026-03-11".into(),
        synced_at: at(59),
        sync_run_id: format!("run-{title}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_leases_optimistic_commits_on_s3_lose_no_page_and_duplicate_none() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on_s3().await;
    assert_exit(&w.run(&["init-tables"]).await, 0);
    let db = "11111111-2222-4333-8444-555555555555";
    // Two writers of the same table, with no lease between them: every commit races the other's.
    let writers: Vec<DeltaSink> = (0..2).map(|_| w.sink().without_leases()).collect();
    let rounds = 6;
    let per_round = 20;
    let mut tasks = Vec::new();
    for (n, sink) in writers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                // Each writer has its own pages, and both write the shared pages 0..5 (newer minute wins).
                let mut rows: Vec<PageRecord> = (0..per_round)
                    .map(|i| page(1000 * (n + 1) + round * per_round + i, db, 1, "own"))
                    .collect();
                let minute = (round * 2 + n) as u32 + 2;
                rows.extend((0..5).map(|i| page(i, db, minute, &format!("w{n} r{round}"))));
                sink.upsert_pages(rows)
                    .await
                    .expect("a racing commit lands");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let pages = w.pages().await;
    let mut keys: Vec<&str> = pages.iter().map(|p| p.record.page_id.as_str()).collect();
    keys.sort_unstable();
    let total = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), total, "no duplicate (page_id, database_id)");
    assert_eq!(total, 5 + 2 * rounds * per_round, "no page lost");
    // The shared pages hold the newest edit of either writer: round 5 of writer 1 (minute 13).
    for p in pages
        .iter()
        .filter(|p| p.record.page_id.starts_with("0000000"))
    {
        let payload = &p.record.payload;
        assert!(payload.contains("w1 r5"), "newest edit wins: {payload}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_a_missing_bucket_and_an_unreachable_endpoint_name_what_to_fix() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on_s3().await;
    w.set("NOTION_SYNC_STORAGE_RETRY_TIMEOUT", "2s");
    // `command` with one variable changed, to completion.
    let run = |command: &'static str, var: &'static str, value: String| {
        let mut cmd = w.command(&[command]);
        cmd.env(var, value);
        async move { cmd.output().await.expect("binary runs") }
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    // `sync` probes the lake first; `init-tables` meets each fault while reading a table's log.
    let cases = [
        // A server that checks credentials and knows none of these.
        (
            "AWS_ENDPOINT_URL",
            s3_auth_endpoint(),
            3,
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            "LAKEHOUSE_URI",
            "s3://nsync-no-such-bucket/lake".to_string(),
            2,
            "LAKEHOUSE_URI",
        ),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{port}"),
            75,
            "AWS_ENDPOINT_URL",
        ),
    ];
    for (var, value, code, named) in cases {
        for command in ["sync", "init-tables"] {
            let out = run(command, var, value.clone()).await;
            assert_exit(&out, code);
            assert_no_credentials(&out);
            let err = stderr(&out);
            assert!(err.contains(named), "{command} with {var}={value}: {err}");
            if code == 3 {
                assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
            }
        }
    }
    // Unsafe commit settings are refused before anything is written.
    let out = run("sync", "AWS_S3_ALLOW_UNSAFE_RENAME", "true".into()).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("AWS_S3_ALLOW_UNSAFE_RENAME"));
    // Plain http to a store that is not on this machine is refused (nothing is sent).
    let out = run(
        "sync",
        "AWS_ENDPOINT_URL",
        "http://storage.example.com".into(),
    )
    .await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("AWS_ALLOW_HTTP"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_history_and_the_pages_commit_on_s3() {
    crash_then_rerun_on(
        Lake::S3,
        "s3_between_history_and_pages",
        None,
        &["sync"],
        Kill::At("sink.before_pages", 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_an_incremental_merge_on_s3() {
    crash_then_rerun_on(
        Lake::S3,
        "s3_inside_merge",
        Some(&["sync"]),
        &["sync"],
        Kill::Inside(Phase::PagesCommit, 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_deletions_are_flagged_on_s3() {
    crash_then_rerun_on(
        Lake::S3,
        "s3_before_flags",
        Some(&["sync"]),
        &["sync", "--full-refresh"],
        Kill::At("deletes.before_flags", 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_lease_creates_on_s3_have_exactly_one_winner() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on_s3().await;
    let leases = w.lease_store();
    for round in 1..=10u64 {
        let racers: Vec<_> = (0..8)
            .map(|n| {
                let leases = leases.clone();
                tokio::spawn(async move {
                    leases
                        .create("db", round, format!("racer {n}"))
                        .await
                        .expect("the store answers")
                })
            })
            .collect();
        let mut winners = 0;
        for r in racers {
            winners += usize::from(r.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}: exactly one create wins");
        let stored = leases
            .read("db", round)
            .await
            .unwrap()
            .expect("the winner's document");
        assert!(stored.text.starts_with("racer "), "{}", stored.text);
    }
    assert_eq!(
        leases.epochs("db").await.unwrap(),
        (1..=10).collect::<Vec<u64>>()
    );
}
