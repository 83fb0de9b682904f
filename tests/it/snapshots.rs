//! `snapshots`: the restore points of the lake, read back against the tables themselves.

use std::collections::BTreeSet;

use chrono::SecondsFormat;
use notion_sim::WorkspaceKind;
use notion_sync::sink::{BronzeSink, tables};
use serde_json::Value;

use crate::support::{World, assert_exit, db_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_list_every_pages_version_with_its_runs_and_each_databases_history() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    w.sim.advance_clock(chrono::Duration::minutes(3));
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    w.sim.edit_pages(&ds, 4);
    assert_exit(&w.run(&["sync"]).await, 0);

    let out = w.run(&["snapshots", "--json"]).await;
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sink = w.sink();
    let versions = report["versions"].as_array().unwrap();
    let numbers: Vec<u64> = versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    let latest = sink.table_version(tables::PAGES).await.unwrap().unwrap();
    assert_eq!(
        numbers,
        (0..=latest).collect::<Vec<_>>(),
        "every version, in order"
    );
    // Each commit's own time, taken when it was prepared: a commit that retried past a concurrent one
    // lands at a later version with an earlier time, so the times are not ordered by version.
    for v in versions {
        let at = v["committed_at"].as_str().expect("a commit time");
        chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
    }
    // The runs named are the runs that synced, and both runs wrote pages.
    let runs: BTreeSet<String> = sink
        .recent_runs(100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    let named: BTreeSet<String> = versions
        .iter()
        .flat_map(|v| v["run_ids"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(named, runs, "each run's page commits name it");
    assert_eq!(
        versions[0]["run_ids"],
        Value::Array(Vec::new()),
        "the table's creation"
    );

    // Per database: the history rows and the time range they were observed in.
    let history = sink.read_versions().await.unwrap();
    let names = w.names();
    let databases = report["databases"].as_array().unwrap();
    assert_eq!(databases.len(), names.len());
    for d in databases {
        let id = d["database_id"].as_str().unwrap();
        assert_eq!(
            d["database_name"].as_str(),
            names.get(id).map(String::as_str)
        );
        let rows: Vec<_> = history.iter().filter(|h| h.database_id == id).collect();
        assert_eq!(d["history_rows"].as_u64(), Some(rows.len() as u64), "{id}");
        let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let first = rows.iter().map(|h| h.observed_at).min().map(at);
        let last = rows.iter().map(|h| h.observed_at).max().map(at);
        assert_eq!(d["observed_from"].as_str(), first.as_deref());
        assert_eq!(d["observed_to"].as_str(), last.as_deref());
    }

    // -d narrows the history to one database; the text form shows both parts.
    let one = db_name(&w.sim.databases()[0].title);
    let out = w.run(&["snapshots", "--json", "-d", &one]).await;
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> = report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["database_name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![one.as_str()]);
    let text = w.run(&["snapshots"]).await;
    assert_exit(&text, 0);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("notion_raw_pages versions") && text.contains("MERGE"),
        "{text}"
    );
    assert_exit(&w.run(&["snapshots", "-d", "nope"]).await, 2);
}
