use super::*;
use crate::bronze::{RunStatus, SyncMode};

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
    let seen: HashSet<String> = ["a".to_string()].into();
    assert_eq!(
        sink.mark_deleted_except("db1", &seen, ts(50))
            .await
            .unwrap(),
        (1, 0)
    );
    assert_eq!(
        sink.mark_deleted_except("db1", &seen, ts(51))
            .await
            .unwrap(),
        (0, 0),
        "idempotent"
    );
    let rows = stored(&sink).await;
    let b = rows.iter().find(|r| r.page_id == "b").unwrap();
    assert!(b.is_deleted);
    assert_eq!(b.deleted_at, Some(ts(50)));
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
    assert!(
        !stored(&sink)
            .await
            .iter()
            .find(|r| r.page_id == "b")
            .unwrap()
            .is_deleted
    );
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
