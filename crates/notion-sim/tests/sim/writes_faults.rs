//! Comments written through the API, faults on writes (committed before failing), and the request
//! log that proves a dry run wrote nothing.

use std::time::Duration;

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule};
use serde_json::{Value, json};

use crate::common::*;

fn one_rule(endpoint: &str, kind: FaultKind, mode: FaultMode) -> FaultPlan {
    FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some(endpoint.into()),
            kind,
            mode,
        }],
    }
}

fn new_task(ds: &str, name: &str) -> Value {
    json!({"parent": {"data_source_id": ds}, "properties": {"Name": {"title": rt(name)}}})
}

fn page_ids(sim: &notion_sim::SimHandle) -> Vec<String> {
    sim.state_dump(V_NEW)["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn comments_on_pages_blocks_and_discussions() {
    let sim = demo().await;
    let page = query_all(&sim, &ds_of(&sim, "Notes"), json!({})).await[0].clone();
    let id = page["id"].as_str().expect("id").to_string();
    sim.advance_clock(chrono::Duration::minutes(7));
    let r = post(&sim, "/v1/comments", json!({
        "parent": {"page_id": id},
        "rich_text": [{"type": "text", "text": {"content": "Restored "}, "annotations": {"italic": true}},
                      {"type": "mention", "mention": {"type": "date", "date": {"start": "2025-12-01"}}}],
        "display_name": {"type": "custom", "custom": {"name": "Grace Hopper (original author)"}}
    }))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["display_name"],
        json!({"type": "custom", "resolved_name": "Grace Hopper (original author)"})
    );
    assert_eq!(r.body["rich_text"][0]["annotations"]["italic"], true);
    assert_eq!(r.body["created_time"], "2026-01-05T09:07:00.000Z");
    let me = get(&sim, "/v1/users/me").await.body["id"].clone();
    assert_eq!(r.body["created_by"]["id"], me);
    let discussion = r.body["discussion_id"]
        .as_str()
        .expect("discussion")
        .to_string();
    let r = post(
        &sim,
        "/v1/comments",
        json!({"discussion_id": discussion, "rich_text": rt("A reply")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["discussion_id"], discussion);
    assert_eq!(r.body["display_name"]["type"], "integration");
    let listed = get(&sim, &format!("/v1/comments?block_id={id}")).await.body;
    let texts: Vec<String> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|c| c["discussion_id"] == discussion.as_str())
        .map(|c| {
            c["rich_text"]
                .as_array()
                .expect("rt")
                .iter()
                .filter_map(|t| t["plain_text"].as_str())
                .collect()
        })
        .collect();
    assert_eq!(texts, ["Restored 2025-12-01", "A reply"]);
    let dumped: Vec<Value> = sim.state_dump(V_NEW)["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter(|c| c["discussion_id"] == discussion.as_str())
        .cloned()
        .collect();
    assert_eq!(dumped.len(), 2);
    assert_eq!(
        dumped[0]["comment"]["display_name"]["resolved_name"],
        "Grace Hopper (original author)"
    );
    // Comments leave the page's last edit alone.
    assert_eq!(
        get(&sim, &format!("/v1/pages/{id}")).await.body["last_edited_time"],
        page["last_edited_time"]
    );
    // On a block.
    let block = patch(
        &sim,
        &format!("/v1/blocks/{id}/children"),
        json!({"children": [{"paragraph": {"rich_text": rt("b")}}]}),
    )
    .await
    .body["results"][0]["id"]
        .clone();
    let r = post(
        &sim,
        "/v1/comments",
        json!({"parent": {"block_id": block}, "rich_text": rt("On a block")}),
    )
    .await;
    assert_eq!(
        r.body["parent"],
        json!({"type": "block_id", "block_id": block})
    );
    // Rejections.
    let r = post(
        &sim,
        "/v1/comments",
        json!({"parent": {"page_id": id}, "discussion_id": discussion, "rich_text": rt("x")}),
    )
    .await;
    assert_invalid(&r, "exactly one of body.parent or body.discussion_id");
    let r = post(
        &sim,
        "/v1/comments",
        json!({"parent": {"page_id": id}, "rich_text": rt(&"x".repeat(2001))}),
    )
    .await;
    assert_invalid(
        &r,
        "body.rich_text[0].text.content.length should be ≤ `2000`",
    );
    let r = post(&sim, "/v1/comments", json!({"parent": {"page_id": id}, "rich_text": rt("x"), "display_name": {"type": "someone"}})).await;
    assert_invalid(&r, "body.display_name.custom should be defined");
    let r = post(
        &sim,
        "/v1/comments",
        json!({"discussion_id": "0123456789abcdef0123456789abcdef", "rich_text": rt("x")}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (404, json!("object_not_found"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_nth_create_fails_after_committing() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    sim.set_faults(one_rule(
        "create_page",
        FaultKind::Committed(503),
        FaultMode::Nth(2),
    ));
    let mut answers = Vec::new();
    for name in ["a", "b", "c"] {
        answers.push(post(&sim, "/v1/pages", new_task(&ds, name)).await);
    }
    assert_eq!(
        answers.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 503, 200]
    );
    let failed = &answers[1].body;
    assert_eq!(failed["code"], "service_unavailable");
    assert!(failed["additional_data"]["retry_guidance"].is_string());
    let committed = failed["additional_data"]["committed_resource_id"]
        .as_str()
        .expect("committed id")
        .to_string();
    let r = get(&sim, &format!("/v1/pages/{committed}")).await;
    assert_eq!(r.body["properties"]["Name"]["title"][0]["plain_text"], "b");
    assert!(
        page_ids(&sim).contains(&committed),
        "the write is in the dump"
    );
    let log = sim.write_requests();
    assert_eq!(
        log.iter().map(|w| w.status).collect::<Vec<_>>(),
        [200, 503, 200]
    );
    // Appends name the parent and the new children in order.
    sim.set_faults(one_rule(
        "append_block_children",
        FaultKind::Committed(504),
        FaultMode::Always,
    ));
    let r = patch(
        &sim,
        &format!("/v1/blocks/{committed}/children"),
        json!({"children": [
        {"paragraph": {"rich_text": rt("p1")}}, {"paragraph": {"rich_text": rt("p2")}}]}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (504, json!("gateway_timeout"))
    );
    assert_eq!(
        r.body["additional_data"]["committed_resource_id"],
        committed
    );
    let tree: Vec<Value> = dump_entry(&sim, &committed)["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| b["id"].clone())
        .collect();
    assert_eq!(
        r.body["additional_data"]["committed_child_ids"],
        json!(tree)
    );
    // A fault before the write commits nothing; `writes` spares reads.
    sim.set_faults(one_rule(
        "writes",
        FaultKind::Status(503),
        FaultMode::Always,
    ));
    let before = page_ids(&sim).len();
    assert_eq!(
        post(&sim, "/v1/pages", new_task(&ds, "d")).await.status,
        503
    );
    assert_eq!(page_ids(&sim).len(), before);
    assert_eq!(
        post(
            &sim,
            &format!("/v1/data_sources/{ds}/query"),
            json!({"page_size": 1})
        )
        .await
        .status,
        200
    );
    // Method selectors: every PATCH.
    sim.set_faults(one_rule("PATCH", FaultKind::Status(500), FaultMode::Always));
    assert_eq!(
        patch(
            &sim,
            &format!("/v1/pages/{committed}"),
            json!({"in_trash": true})
        )
        .await
        .status,
        500
    );
    assert_eq!(
        post(&sim, "/v1/pages", new_task(&ds, "e")).await.status,
        200
    );
    sim.clear_faults();
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_responses_after_committed_writes() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let client = reqwest::Client::new();
    let send = |name: &str, timeout: Option<Duration>| {
        let mut req = client
            .post(format!("{}/v1/pages", sim.base_url()))
            .bearer_auth(sim.token())
            .header("Notion-Version", V_NEW)
            .json(&new_task(&ds, name));
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        req.send()
    };
    // The connection drops after the write.
    sim.set_faults(one_rule(
        "create_page",
        FaultKind::DropConnection,
        FaultMode::Nth(1),
    ));
    let r = send("dropped", None).await.expect("headers");
    assert!(r.bytes().await.is_err());
    // The client times out while the simulator still answers.
    sim.set_faults(one_rule(
        "writes",
        FaultKind::DelayAfter(Duration::from_millis(800)),
        FaultMode::Nth(1),
    ));
    assert!(
        send("slow", Some(Duration::from_millis(200)))
            .await
            .is_err()
    );
    // Both pages exist: the writes were applied before the responses were lost.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let titles: Vec<String> = sim.state_dump(V_NEW)["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_string))
        .collect();
    assert!(titles.contains(&"dropped".to_string()) && titles.contains(&"slow".to_string()));
    // The same plan through the admin API.
    let r = reqwest::Client::new()
        .post(format!("{}/__sim/faults", sim.base_url()))
        .json(&json!({"rules": [{"endpoint": "writes", "kind": {"committed": 503}, "mode": {"nth": 1}}]}))
        .send()
        .await
        .expect("admin");
    assert!(r.status().is_success());
    let r = post(&sim, "/v1/pages", new_task(&ds, "admin")).await;
    assert_eq!(r.status, 503);
    assert!(r.body["additional_data"]["committed_resource_id"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_request_log_proves_a_dry_run_wrote_nothing() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    // A dry run reads everything it would write against.
    let rows = query_all(&sim, &ds, json!({})).await;
    let id = rows[0]["id"].as_str().expect("id").to_string();
    get(&sim, &format!("/v1/pages/{id}")).await;
    get(&sim, &format!("/v1/blocks/{id}/children")).await;
    post(&sim, "/v1/search", json!({"query": "Tasks"})).await;
    get(&sim, &format!("/v1/data_sources/{ds}")).await;
    assert!(
        sim.write_requests().is_empty(),
        "{:?}",
        sim.write_requests()
    );
    let reads = sim.requests();
    assert!(reads.len() >= 5);
    assert!(reads.iter().all(|r| !r.write));
    assert!(
        reads
            .iter()
            .any(|r| r.endpoint == "query_data_source" && r.method == "POST")
    );
    // A real run's writes are all there, rejected ones too, with their bodies.
    sim.advance_clock(chrono::Duration::minutes(1));
    patch(
        &sim,
        &format!("/v1/pages/{id}"),
        json!({"properties": {"Value": {"number": 1}}}),
    )
    .await;
    patch(
        &sim,
        &format!("/v1/pages/{id}"),
        json!({"properties": {"ROI": {"formula": {}}}}),
    )
    .await;
    delete(&sim, &format!("/v1/blocks/{id}")).await;
    let writes = sim.write_requests();
    let seen: Vec<(&str, &str, u16)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.endpoint.as_str(), w.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("PATCH", "update_page", 200),
            ("PATCH", "update_page", 400),
            ("DELETE", "delete_block", 200)
        ]
    );
    assert_eq!(writes[0].path, format!("/v1/pages/{id}"));
    assert_eq!(writes[0].at, sim.now());
    assert_eq!(
        writes[0]
            .body
            .as_ref()
            .map(|b| b["properties"]["Value"]["number"].clone()),
        Some(json!(1))
    );
    assert!(writes.windows(2).all(|w| w[0].seq < w[1].seq));
    // Over the admin API too.
    let admin_log: Value = reqwest::Client::new()
        .get(format!("{}/__sim/requests?writes=true", sim.base_url()))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    assert_eq!(admin_log["requests"].as_array().map(Vec::len), Some(3));
    assert_eq!(admin_log["requests"][2]["method"], "DELETE");
    admin(&sim, "requests/clear", json!({})).await;
    assert!(sim.write_requests().is_empty() && sim.requests().is_empty());
    sim.shutdown().await;
}
