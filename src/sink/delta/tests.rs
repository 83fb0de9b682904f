use super::*;
use crate::bronze::{DeletedReason, RunStatus, SyncMode};
use crate::sink::tables;

fn ts(min: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-01-05T09:{min:02}:00Z"))
        .unwrap()
        .to_utc()
}

fn page(id: &str, db: &str, edited: u32, body: &str) -> PageRecord {
    let payload = format!(r#"{{"id":"{id}","body":"{body}"}}"#);
    PageRecord {
        page_id: id.into(),
        database_id: db.into(),
        data_source_id: format!("{db}-ds"),
        database_name: "tasks".into(),
        created_time: ts(0),
        last_edited_time: ts(edited),
        created_by: Some("u1".into()),
        last_edited_by: None,
        in_trash: false,
        is_archived: false,
        is_deleted: false,
        deleted_at: None,
        deleted_reason: None,
        hydrated_properties: Vec::new(),
        url: Some(format!("https://www.notion.so/{id}")),
        public_url: None,
        title: format!("Page {id}"),
        properties: "{}".into(),
        payload_sha256: crate::extract::convert::sha256_hex(&payload),
        payload,
        api_version: "2026-03-11".into(),
        synced_at: ts(30),
        sync_run_id: "run-1".into(),
    }
}

async fn sink() -> (tempfile::TempDir, DeltaSink) {
    let dir = tempfile::tempdir().unwrap();
    let sink = DeltaSink::new(dir.path().join("lake").to_str().unwrap(), "bronze").unwrap();
    sink.init_tables().await.unwrap();
    (dir, sink)
}

async fn stored(sink: &DeltaSink) -> Vec<PageRecord> {
    let mut rows: Vec<_> = sink
        .read_pages(None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.record)
        .collect();
    rows.sort_by(|a, b| (&a.database_id, &a.page_id).cmp(&(&b.database_id, &b.page_id)));
    rows
}

#[tokio::test]
async fn init_is_idempotent_and_tables_use_utc_timestamps() {
    let (_dir, sink) = sink().await;
    let versions: Vec<_> =
        futures::future::join_all(schema::ALL.iter().map(|s| sink.table_version(s.name))).await;
    assert!(sink.init_tables().await.unwrap().is_empty());
    let again: Vec<_> =
        futures::future::join_all(schema::ALL.iter().map(|s| sink.table_version(s.name))).await;
    assert_eq!(format!("{versions:?}"), format!("{again:?}"));
    let table = sink.open(&schema::PAGES).await.unwrap();
    let schema = table.snapshot().unwrap().schema();
    let field = schema.field("last_edited_time").unwrap();
    assert_eq!(field.data_type().to_string(), "timestamp");
}

#[tokio::test]
async fn upsert_inserts_updates_and_skips_unchanged() {
    let (_dir, sink) = sink().await;
    let rows = vec![
        page("a", "db1", 1, "x"),
        page("b", "db1", 2, "y"),
        page("c", "db2", 3, "z"),
    ];
    let s = sink.upsert_pages(rows.clone()).await.unwrap();
    assert_eq!((s.inserted, s.updated, s.unchanged), (3, 0, 0));
    assert_eq!(stored(&sink).await, rows);
    let v = sink.table_version("notion_raw_pages").await.unwrap();

    // Identical re-read: nothing committed, even from a fresh process (index reloaded from the table).
    let fresh = DeltaSink::new(&sink.uri, "bronze").unwrap();
    let s = fresh.upsert_pages(rows.clone()).await.unwrap();
    assert_eq!(
        (s.inserted, s.updated, s.unchanged, s.committed_version),
        (0, 0, 3, None)
    );
    assert_eq!(fresh.table_version("notion_raw_pages").await.unwrap(), v);

    // A newer edit updates; first_synced_at is kept.
    let mut newer = page("a", "db1", 5, "x2");
    newer.synced_at = ts(40);
    let s = fresh.upsert_pages(vec![newer.clone()]).await.unwrap();
    assert_eq!((s.inserted, s.updated), (0, 1));
    let all = fresh.read_pages(None).await.unwrap();
    let a = all.iter().find(|p| p.record.page_id == "a").unwrap();
    assert_eq!(a.record, newer);
    assert_eq!(a.first_synced_at, ts(30));

    // An older read never overwrites a newer row.
    let s = fresh
        .upsert_pages(vec![page("a", "db1", 4, "stale")])
        .await
        .unwrap();
    assert_eq!(s.unchanged, 1);
    assert_eq!(stored(&fresh).await[0].payload, newer.payload);
}

#[tokio::test]
async fn duplicate_keys_in_a_batch_keep_the_newest() {
    let (_dir, sink) = sink().await;
    let s = sink
        .upsert_pages(vec![
            page("a", "db1", 2, "new"),
            page("a", "db1", 1, "old"),
            page("a", "db2", 1, "other"),
        ])
        .await
        .unwrap();
    assert_eq!(s.inserted, 2);
    let rows = stored(&sink).await;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].payload.contains("new"));
}

#[tokio::test]
async fn watermarks_runs_schemas_and_counts_round_trip() {
    let (_dir, sink) = sink().await;
    let mut w = WatermarkRecord {
        database_id: "db1".into(),
        data_source_id: "ds1".into(),
        database_name: "tasks".into(),
        watermark: Some(ts(3)),
        last_full_refresh_at: None,
        last_run_id: "r1".into(),
        updated_at: ts(4),
        query_started_at: Some(ts(5)),
    };
    sink.save_watermark(w.clone()).await.unwrap();
    w.watermark = Some(ts(9));
    sink.save_watermark(w.clone()).await.unwrap();
    assert_eq!(sink.load_watermarks().await.unwrap(), vec![w]);

    let run = |id: &str, at: u32| RunRecord {
        run_id: id.into(),
        database_name: "tasks".into(),
        database_id: "db1".into(),
        started_at: ts(at),
        finished_at: ts(at + 1),
        status: RunStatus::Succeeded,
        mode: SyncMode::Incremental,
        fetched: 3,
        inserted: 2,
        updated: 1,
        unchanged: 0,
        soft_deleted: 0,
        hydration_requests: 4,
        api_requests: 5,
        throttled_429: 1,
        retries: 2,
        restarts: 0,
        rejected: 0,
        wait_ms: 0,
        content: Default::default(),
        watermark_before: None,
        watermark_after: Some(ts(at)),
        error_class: None,
        error_message: None,
        tool_version: "0.1.0".into(),
        api_version: "2026-03-11".into(),
    };
    sink.append_run(run("r1", 1)).await.unwrap();
    sink.append_run(run("r2", 5)).await.unwrap();
    let runs = sink.recent_runs(10).await.unwrap();
    assert_eq!(runs, vec![run("r2", 5), run("r1", 1)]);

    let snap = DatabaseRecord {
        database_id: "db1".into(),
        data_source_id: "ds1".into(),
        database_name: "tasks".into(),
        title: "Tasks".into(),
        schema: "{}".into(),
        payload: "{}".into(),
        schema_sha256: "h1".into(),
        api_version: "2026-03-11".into(),
        observed_at: ts(1),
        sync_run_id: "r1".into(),
    };
    assert_eq!(
        sink.record_schemas(vec![snap.clone(), snap.clone()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(sink.record_schemas(vec![snap.clone()]).await.unwrap(), 0);
    assert_eq!(sink.read_schemas().await.unwrap(), vec![snap]);

    sink.upsert_pages(vec![page("a", "db1", 1, "x"), page("b", "db1", 1, "y")])
        .await
        .unwrap();
    let counts = sink.page_counts().await.unwrap();
    assert_eq!(
        counts["db1"],
        PageCounts {
            live: 2,
            deleted: 0
        }
    );
}

#[tokio::test]
async fn soft_delete_flags_and_a_reappearing_page_is_restored() {
    let (_dir, sink) = sink().await;
    sink.upsert_pages(vec![
        page("a", "db1", 1, "x"),
        page("b", "db1", 1, "y"),
        page("c", "db2", 1, "z"),
    ])
    .await
    .unwrap();
    let flags = vec![("b".to_string(), DeletedReason::NotFound)];
    assert_eq!(
        sink.flag_deleted("db1", flags.clone(), ts(50))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sink.flag_deleted("db1", flags, ts(51)).await.unwrap(),
        0,
        "idempotent: the first deleted_at stays"
    );
    assert_eq!(sink.table_version(tables::PAGES).await.unwrap(), Some(2));
    let rows = stored(&sink).await;
    let b = rows.iter().find(|r| r.page_id == "b").unwrap();
    assert!(b.is_deleted);
    assert_eq!(b.deleted_at, Some(ts(50)));
    assert_eq!(b.deleted_reason.as_deref(), Some("not_found"));
    assert_eq!(b.payload, page("b", "db1", 1, "y").payload, "payload kept");
    assert!(
        !rows.iter().find(|r| r.page_id == "c").unwrap().is_deleted,
        "other databases untouched"
    );
    assert_eq!(
        sink.page_counts().await.unwrap()["db1"],
        PageCounts {
            live: 1,
            deleted: 1
        }
    );
    // The same payload read again un-deletes the row.
    let s = sink
        .upsert_pages(vec![page("b", "db1", 1, "y")])
        .await
        .unwrap();
    assert_eq!(s.updated, 1);
    let b = stored(&sink)
        .await
        .into_iter()
        .find(|r| r.page_id == "b")
        .unwrap();
    assert!(!b.is_deleted);
    assert_eq!((b.deleted_at, b.deleted_reason), (None, None));
}

#[tokio::test]
async fn a_moved_page_never_has_two_live_rows() {
    let (_dir, sink) = sink().await;
    sink.upsert_pages(vec![page("a", "db1", 1, "x")])
        .await
        .unwrap();
    // Moved to db2 at minute 5.
    let s = sink
        .upsert_pages(vec![page("a", "db2", 5, "x2")])
        .await
        .unwrap();
    assert_eq!((s.inserted, s.flagged), (1, 1));
    let rows = stored(&sink).await;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].is_deleted && rows[0].database_id == "db1");
    assert_eq!(rows[0].deleted_reason.as_deref(), Some("moved"));
    assert!(!rows[1].is_deleted && rows[1].database_id == "db2");
    // A stale copy read from db1 before the move does not come back to life.
    let s = sink
        .upsert_pages(vec![page("a", "db1", 1, "x")])
        .await
        .unwrap();
    assert_eq!(s.unchanged + s.updated, 1);
    let live: Vec<_> = stored(&sink)
        .await
        .into_iter()
        .filter(|r| !r.is_deleted)
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].database_id, "db2");
    // Moved back at minute 9: db1 is live again, db2 flagged.
    sink.upsert_pages(vec![page("a", "db1", 9, "x3")])
        .await
        .unwrap();
    let rows = stored(&sink).await;
    assert!(!rows[0].is_deleted && rows[1].is_deleted);
}

#[tokio::test]
async fn history_keeps_each_distinct_payload_once() {
    let (_dir, sink) = sink().await;
    sink.upsert_pages(vec![page("a", "db1", 1, "x"), page("b", "db1", 1, "y")])
        .await
        .unwrap();
    sink.upsert_pages(vec![page("a", "db1", 1, "x")])
        .await
        .unwrap();
    assert_eq!(sink.table_version(tables::VERSIONS).await.unwrap(), Some(1));
    sink.upsert_pages(vec![page("a", "db1", 2, "x2")])
        .await
        .unwrap();
    // Reverted to the first payload: already in history.
    sink.upsert_pages(vec![page("a", "db1", 3, "x")])
        .await
        .unwrap();
    let versions = sink.read_versions().await.unwrap();
    let keys: Vec<(String, String)> = versions
        .iter()
        .map(|v| (v.page_id.clone(), v.payload.clone()))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.contains(&("a".into(), page("a", "db1", 2, "x2").payload)));
    // A fresh process (new index) sees the same history.
    let again = DeltaSink::new(&sink.uri, "bronze").unwrap();
    again
        .upsert_pages(vec![page("a", "db1", 3, "x"), page("b", "db1", 1, "y")])
        .await
        .unwrap();
    assert_eq!(again.read_versions().await.unwrap().len(), 3);
}

#[tokio::test]
async fn tables_of_an_older_release_gain_new_columns() {
    // A pages table as the first release created it: without the columns added since.
    let old = tempfile::tempdir().unwrap();
    let uri = old.path().join("lake");
    let url = Url::from_directory_path(uri.join("bronze").join(tables::PAGES)).unwrap();
    std::fs::create_dir_all(url.to_file_path().unwrap()).unwrap();
    let legacy: Vec<_> = schema::delta_fields(&schema::PAGES)
        .into_iter()
        .filter(|f| !["deleted_reason", "hydrated_properties"].contains(&f.name().as_str()))
        .collect();
    DeltaTable::try_from_url(url.clone())
        .await
        .unwrap()
        .create()
        .with_columns(legacy)
        .with_partition_columns(["database_id"])
        .await
        .unwrap();
    let upgraded = DeltaSink::new(uri.to_str().unwrap(), "bronze").unwrap();
    upgraded.init_tables().await.unwrap();
    // It also takes the checkpoint interval new tables are created with (Delta's default is 100).
    use deltalake::table::config::TablePropertiesExt;
    let table = DeltaTable::try_from_url(url).await.unwrap();
    let config = table.snapshot().unwrap().table_config();
    assert_eq!(
        config.checkpoint_interval().get(),
        super::CHECKPOINT_INTERVAL
    );
    upgraded
        .upsert_pages(vec![page("a", "db1", 1, "x")])
        .await
        .unwrap();
    let rows = upgraded.read_pages(None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.deleted_reason, None);
}

#[tokio::test]
async fn an_unusable_location_is_a_location_error() {
    let sink = DeltaSink::new("/proc/version/lake", "bronze").unwrap();
    assert!(matches!(
        sink.check_writable().await,
        Err(SinkError::Location { .. })
    ));
    assert!(matches!(
        sink.init_tables().await,
        Err(SinkError::Location { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_of_different_databases_run_in_parallel() {
    let (_dir, mut sink) = sink().await;
    // Both commits must be inside their pages commit at once to pass the barrier: with commits one at a
    // time, the first would wait for the second for ever.
    sink.pages_barrier = Some(Arc::new(tokio::sync::Barrier::new(2)));
    let a = vec![page("a", "db1", 1, "x")];
    let b = vec![page("b", "db2", 1, "y")];
    let both = futures::future::join(sink.upsert_pages(a.clone()), sink.upsert_pages(b.clone()));
    let (ra, rb) = tokio::time::timeout(std::time::Duration::from_secs(60), both)
        .await
        .expect("the two commits overlap");
    assert_eq!(ra.unwrap().inserted, 1);
    assert_eq!(rb.unwrap().inserted, 1);
    assert_eq!(stored(&sink).await, [a, b].concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_moving_while_its_old_database_commits_is_planned_after_that_commit() {
    let (_dir, sink) = sink().await;
    // The same page lands in two databases at once: the later edit must win and the older copy be
    // flagged, exactly as if the commits had run one after the other.
    let old = vec![page("p", "db1", 1, "old")];
    let new = vec![page("p", "db2", 2, "new")];
    let (r1, r2) = futures::future::join(sink.upsert_pages(old), sink.upsert_pages(new)).await;
    r1.unwrap();
    r2.unwrap();
    let rows = stored(&sink).await;
    let live: Vec<_> = rows.iter().filter(|r| !r.is_deleted).collect();
    assert_eq!(live.len(), 1, "{rows:?}");
    assert_eq!(live[0].database_id, "db2");
}

#[tokio::test]
async fn every_table_stays_readable_by_older_databricks_runtimes() {
    let (_dir, sink) = sink().await;
    sink.upsert_pages(vec![page("p1", "db1", 1, "a")])
        .await
        .unwrap();
    for table in tables::ALL {
        let p = sink.protocol(table).await.unwrap();
        assert_eq!(
            p,
            TableProtocol {
                min_reader: 1,
                min_writer: 2,
                features: Vec::new(),
                timestamp_ntz: false,
            },
            "{table}"
        );
    }
}

#[test]
fn every_bronze_table_has_its_delta_schema_in_the_same_order() {
    assert_eq!(schema::ALL.map(|s| s.name), tables::ALL);
}
