//! The large workspace: many rows, quick start, compact storage still queries correctly.

use notion_sim::{SimConfig, WorkspaceKind};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn large_workspace_serves_many_rows() {
    let t = std::time::Instant::now();
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Large,
        pages: 20_000,
        query_result_cap: 10_000,
        ..SimConfig::default()
    })
    .await;
    assert!(t.elapsed().as_secs() < 30);
    let dbs = sim.databases();
    assert_eq!(dbs.len(), 1);
    assert_eq!(dbs[0].title, "Items");
    assert_eq!(dbs[0].data_sources[0].page_count_live, 20_000);
    let ds = dbs[0].data_sources[0].id.clone();
    let r = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"filter": {"property": "Status", "select": {"equals": "Active"}}, "page_size": 100}),
    )
    .await;
    assert_eq!(r.status, 200);
    let first = &r.body["results"][0];
    assert_eq!(first["properties"]["Status"]["select"]["name"], "Active");
    assert!(first["properties"]["Status"]["select"]["id"].is_string());
    assert!(
        first["properties"]["Name"]["title"][0]["plain_text"]
            .as_str()
            .is_some_and(|s| s.starts_with("Item "))
    );
    assert!(first["properties"]["Updated"]["date"]["start"].is_string());
    // Windowing by created_time, as Notion recommends past the cap.
    let all = query_all(&sim, &ds, json!({"page_size": 100})).await;
    assert_eq!(all.len(), 10_000);
    let last = all.last().expect("rows")["created_time"]
        .as_str()
        .expect("time")
        .to_string();
    let rest = query_all(
        &sim,
        &ds,
        json!({"filter": {"timestamp": "created_time", "created_time": {"on_or_after": last}}}),
    )
    .await;
    assert!(!rest.is_empty());
    sim.shutdown().await;
}
