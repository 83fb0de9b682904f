//! Completeness and fidelity: bronze equals Notion after any workload (see [`crate::oracle`]).

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, SimConfig, WorkspaceKind};
use notion_sync::sink::BronzeSink;
use serde_json::json;

use crate::oracle::{Memory, Promise, check};
use crate::support::{Lake, World, assert_exit};
use crate::workload;

const V: &str = "2026-03-11";

async fn sync(w: &World, promise: Promise) {
    let args: &[&str] = match promise {
        Promise::Incremental => &["sync"],
        Promise::DetectDeletes => &["sync", "--detect-deletes"],
        Promise::FullRefresh => &["sync", "--full-refresh"],
    };
    assert_exit(&w.run(args).await, 0);
}

/// A random workload interleaved with incremental, delete-detecting and full syncs; bronze is checked
/// against the simulator after every sync.
async fn oracle(seed: u64) {
    oracle_into(seed, Lake::Local).await;
}

/// [`oracle`] with bronze on `lake`.
async fn oracle_into(seed: u64, lake: Lake) {
    // A small result cap makes every data source "over the cap", so capped queries, created_time
    // windows and restarts happen in every round.
    oracle_on(
        seed,
        SimConfig {
            seed,
            workspace: WorkspaceKind::Full,
            query_result_cap: 30,
            ..SimConfig::default()
        },
        6,
        lake,
    )
    .await;
}

async fn oracle_on(seed: u64, cfg: SimConfig, rounds: usize, lake: Lake) {
    let cap = cfg.query_result_cap.min(30);
    let version = if seed.is_multiple_of(2) {
        V
    } else {
        "2025-09-03"
    };
    let mut w = World::with_config(cfg).await;
    w.on(lake).await;
    w.set("NOTION_VERSION", version);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut memory = Memory::default();
    let mut log = Vec::new();
    sync(&w, Promise::Incremental).await;
    check(&w, version, None, Promise::Incremental, &mut memory).await;
    for round in 0..rounds {
        log.push(workload::round(&w.sim, &mut rng, cap - 5));
        // Sometimes sync within the minute of the last changes (same-minute edits follow).
        if rng.bool() {
            w.sim.advance_clock(chrono::Duration::seconds(20));
        }
        let promise = match rng.u8(..5) {
            0 | 1 => Promise::Incremental,
            2 | 3 => Promise::DetectDeletes,
            _ => Promise::FullRefresh,
        };
        sync(&w, promise).await;
        eprintln!(
            "seed {seed} round {round} ({promise:?}): {}",
            log.join(" | ")
        );
        check(&w, version, None, promise, &mut memory).await;
        if rng.bool() {
            // Edits in the same minute as the sync: the next sync must still see them.
            for ds in w.sim.databases().iter().flat_map(|d| d.data_sources.iter()) {
                w.sim.edit_pages(&ds.id, 1);
            }
        }
    }
    // Whatever happened, a final full refresh makes bronze exact, derived values included.
    sync(&w, Promise::FullRefresh).await;
    check(&w, version, None, Promise::FullRefresh, &mut memory).await;
}

/// The same workload on a data source of 10,100 rows under Notion's real 10,000-result cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_over_the_real_result_cap() {
    oracle_on(
        21,
        SimConfig {
            seed: 21,
            workspace: WorkspaceKind::Large,
            pages: 10_100,
            ..SimConfig::default()
        },
        3,
        Lake::Local,
    )
    .await;
}

macro_rules! oracle_seeds {
    ($($name:ident = $seed:expr),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            oracle($seed).await;
        }
    )*};
}

macro_rules! postgres_oracle_seeds {
    ($($name:ident = $seed:expr),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            oracle_into($seed, Lake::Postgres).await;
        }
    )*};
}

// The same workloads with bronze in PostgreSQL through the warehouse sink (both API versions).
postgres_oracle_seeds!(
    postgres_oracle_seed_01 = 1,
    postgres_oracle_seed_02 = 2,
    postgres_oracle_seed_03 = 3,
    postgres_oracle_seed_04 = 4,
    postgres_oracle_seed_05 = 5,
);

oracle_seeds!(
    oracle_seed_01 = 1,
    oracle_seed_02 = 2,
    oracle_seed_03 = 3,
    oracle_seed_04 = 4,
    oracle_seed_05 = 5,
    oracle_seed_06 = 6,
    oracle_seed_07 = 7,
    oracle_seed_08 = 8,
    oracle_seed_09 = 9,
    oracle_seed_10 = 10,
    oracle_seed_11 = 11,
    oracle_seed_12 = 12,
    oracle_seed_13 = 13,
    oracle_seed_14 = 14,
    oracle_seed_15 = 15,
    oracle_seed_16 = 16,
    oracle_seed_17 = 17,
    oracle_seed_18 = 18,
    oracle_seed_19 = 19,
    oracle_seed_20 = 20,
);

/// The first live page of the database titled `title` (in its first data source).
fn first_page(w: &World, title: &str) -> (String, String) {
    let db = w.sim.database_id_by_title(title).expect("database");
    let dump = w.sim.state_dump(V);
    let page = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["database_id"] == db.as_str())
        .find(|p| p["in_trash"] == false && p["is_archived"] == false)
        .expect("a live page");
    (page["id"].as_str().unwrap().to_string(), db)
}

async fn row(w: &World, page: &str, db: &str) -> notion_sync::bronze::PageRecord {
    w.pages()
        .await
        .into_iter()
        .map(|p| p.record)
        .find(|r| r.page_id == page && r.database_id == db)
        .expect("row")
}

async fn last_run(w: &World, db_name: &str) -> notion_sync::bronze::RunRecord {
    w.sink()
        .recent_runs(100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.database_name == db_name)
        .expect("run row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trashed_page_is_flagged_not_dropped_and_a_restore_undeletes_it() {
    let w = World::start(WorkspaceKind::Demo).await;
    let mut memory = Memory::default();
    sync(&w, Promise::Incremental).await;
    let (page, db) = first_page(&w, "Tasks");
    w.sim.advance_clock(chrono::Duration::minutes(2));
    w.sim.trash_page(&page);
    sync(&w, Promise::Incremental).await;
    assert!(
        !row(&w, &page, &db).await.is_deleted,
        "queries never list trashed pages"
    );
    sync(&w, Promise::DetectDeletes).await;
    check(&w, V, None, Promise::DetectDeletes, &mut memory).await;
    let r = row(&w, &page, &db).await;
    assert!(r.is_deleted && r.in_trash && r.deleted_at.is_some());
    assert_eq!(r.deleted_reason.as_deref(), Some("trashed"));
    assert_eq!(last_run(&w, "tasks").await.soft_deleted, 1);
    w.sim.advance_clock(chrono::Duration::minutes(2));
    w.sim.restore_page(&page);
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::DetectDeletes, &mut memory).await;
    let r = row(&w, &page, &db).await;
    assert!(!r.is_deleted && !r.in_trash);
    assert_eq!((r.deleted_at, r.deleted_reason), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_page_stays_live_with_its_archive_flag() {
    let w = World::start(WorkspaceKind::Demo).await;
    sync(&w, Promise::Incremental).await;
    let (page, db) = first_page(&w, "Notes");
    // Archived in the same minute as the last read: only the flag tells it apart.
    w.sim.archive_page(&page);
    sync(&w, Promise::DetectDeletes).await;
    check(&w, V, None, Promise::DetectDeletes, &mut Memory::default()).await;
    let r = row(&w, &page, &db).await;
    assert!(r.is_archived && !r.is_deleted && !r.in_trash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_or_unshared_page_is_flagged_not_found_and_kept() {
    let w = World::start(WorkspaceKind::Demo).await;
    sync(&w, Promise::Incremental).await;
    let (page, db) = first_page(&w, "Tasks");
    let before = row(&w, &page, &db).await;
    w.sim.purge_page(&page);
    sync(&w, Promise::FullRefresh).await;
    check(&w, V, None, Promise::FullRefresh, &mut Memory::default()).await;
    let r = row(&w, &page, &db).await;
    assert!(r.is_deleted);
    assert_eq!(r.deleted_reason.as_deref(), Some("not_found"));
    assert_eq!(r.payload, before.payload, "the last known payload stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_moved_to_another_database_never_has_two_live_rows() {
    let w = World::start(WorkspaceKind::Demo).await;
    sync(&w, Promise::Incremental).await;
    let (page, from) = first_page(&w, "Notes");
    let to = w.database("Documentation");
    w.sim.advance_clock(chrono::Duration::minutes(2));
    assert!(w.sim.move_page(&page, &to.data_sources[0].id));
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::DetectDeletes, &mut Memory::default()).await;
    let old = row(&w, &page, &from).await;
    assert!(old.is_deleted);
    assert_eq!(old.deleted_reason.as_deref(), Some("moved"));
    assert!(!row(&w, &page, &to.id).await.is_deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_keep_the_sync_working_and_are_snapshotted() {
    let w = World::start(WorkspaceKind::Demo).await;
    let mut memory = Memory::default();
    sync(&w, Promise::Incremental).await;
    let tasks = w.database("Tasks");
    let ds = tasks.data_sources[0].id.clone();
    let snapshots = |rows: &[notion_sync::bronze::DatabaseRecord]| {
        rows.iter().filter(|r| r.data_source_id == ds).count()
    };
    let first = w.sink().read_schemas().await.unwrap();
    assert_eq!(snapshots(&first), 1);
    let tasks_schema = first.iter().find(|r| r.data_source_id == ds).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&tasks_schema.schema).unwrap();
    let (old_name, old_id) = schema
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| {
            !matches!(
                p["type"].as_str().unwrap_or(""),
                "title"
                    | "relation"
                    | "rollup"
                    | "formula"
                    | "created_time"
                    | "created_by"
                    | "last_edited_time"
                    | "last_edited_by"
                    | "unique_id"
                    | "button"
            )
        })
        .map(|(n, p)| (n.clone(), p["id"].as_str().unwrap().to_string()))
        .expect("a plain property");
    // Renames rewrite every page without touching last_edited_time.
    assert!(w.sim.rename_property(&ds, &old_name, "Renamed"));
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::Incremental, &mut memory).await;
    let rows: Vec<_> = w
        .pages()
        .await
        .into_iter()
        .filter(|p| p.record.database_id == tasks.id)
        .collect();
    let props: serde_json::Value = serde_json::from_str(&rows[0].record.properties).unwrap();
    assert_eq!(
        props["Renamed"]["id"],
        old_id.as_str(),
        "the property id survives the rename"
    );
    assert!(
        w.sim
            .add_property(&ds, "Extra", json!({"type": "number", "number": {}}))
    );
    sync(&w, Promise::Incremental).await;
    assert!(
        w.sim
            .change_property_type(&ds, "Extra", json!({"type": "checkbox", "checkbox": {}}))
    );
    sync(&w, Promise::Incremental).await;
    assert!(w.sim.remove_property(&ds, "Renamed"));
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::Incremental, &mut memory).await;
    assert_eq!(snapshots(&w.sink().read_schemas().await.unwrap()), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_source_over_the_10000_result_cap_is_read_completely() {
    let w = World::large(10_250).await;
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::Incremental, &mut Memory::default()).await;
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.inserted, 10_250);
    assert!(run.restarts >= 1, "the capped query continued: {run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cursor_restarts_the_query_and_is_counted() {
    let w = World::large(450).await;
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("query_data_source".into()),
            kind: FaultKind::InvalidCursor,
            mode: FaultMode::Sequence(vec![false, false, true]),
        }],
    });
    sync(&w, Promise::Incremental).await;
    check(&w, V, None, Promise::Incremental, &mut Memory::default()).await;
    let run = &w.sink().recent_runs(1).await.unwrap()[0];
    assert_eq!(run.restarts, 1, "{run:?}");
    assert_eq!(run.inserted, 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rereading_unchanged_pages_adds_no_history() {
    let w = World::start(WorkspaceKind::Full).await;
    sync(&w, Promise::Incremental).await;
    let sink = w.sink();
    let versions = sink
        .table_version("notion_raw_page_versions")
        .await
        .unwrap();
    let pages = sink.table_version("notion_raw_pages").await.unwrap();
    sync(&w, Promise::FullRefresh).await;
    sync(&w, Promise::DetectDeletes).await;
    assert_eq!(
        sink.table_version("notion_raw_page_versions")
            .await
            .unwrap(),
        versions
    );
    assert_eq!(sink.table_version("notion_raw_pages").await.unwrap(), pages);
    let rows = w.pages().await.len();
    assert_eq!(sink.read_versions().await.unwrap().len(), rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_properties_are_completed_and_flagged() {
    let w = World::start(WorkspaceKind::Full).await;
    sync(&w, Promise::Incremental).await;
    // The oracle compares every row with the untruncated page and checks the hydration flags.
    check(&w, V, None, Promise::FullRefresh, &mut Memory::default()).await;
    let hydrated: Vec<_> = w
        .pages()
        .await
        .into_iter()
        .filter(|p| !p.record.hydrated_properties.is_empty())
        .collect();
    assert!(
        !hydrated.is_empty(),
        "the full workspace has >25-item properties"
    );
    let runs = w.sink().recent_runs(100).await.unwrap();
    let requests: i64 = runs.iter().map(|r| r.hydration_requests).sum();
    assert!(
        requests >= hydrated.len() as i64,
        "{requests} hydration requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_source_of_a_database_is_synced_with_its_own_watermark() {
    let w = World::start(WorkspaceKind::Full).await;
    sync(&w, Promise::Incremental).await;
    let multi = w
        .sim
        .databases()
        .into_iter()
        .find(|d| d.data_sources.len() > 1)
        .expect("a database with several data sources");
    let marks = w.sink().load_watermarks().await.unwrap();
    for ds in &multi.data_sources {
        assert!(
            marks
                .iter()
                .any(|m| m.database_id == multi.id && m.data_source_id == ds.id),
            "watermark of {}",
            ds.id
        );
    }
    check(&w, V, None, Promise::Incremental, &mut Memory::default()).await;
}
