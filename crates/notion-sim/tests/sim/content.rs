//! Blocks, comments, page creation, database creation and schema updates over HTTP.

use notion_sim::{SimConfig, WorkspaceKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn children(sim: &notion_sim::SimHandle, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/v1/blocks/{id}/children?page_size=50");
    loop {
        let r = get(sim, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["type"], "block");
        out.extend(r.body["results"].as_array().cloned().unwrap_or_default());
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/blocks/{id}/children?page_size=50&start_cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn nested_block_content_and_appends() {
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    let ds = ds_of(&sim, "Everything");
    let pages = query_all(&sim, &ds, json!({})).await;
    let mut found = false;
    for p in &pages {
        let id = p["id"].as_str().expect("id");
        let top = children(&sim, id).await;
        if top.len() > 100 {
            found = true;
            let mut depth = 0;
            let mut cur = top.iter().find(|b| b["has_children"] == true).cloned();
            while let Some(b) = cur {
                depth += 1;
                let kids = children(&sim, b["id"].as_str().expect("id")).await;
                assert_eq!(kids[0]["parent"]["block_id"], b["id"]);
                cur = kids
                    .into_iter()
                    .find(|k| k["has_children"] == true)
                    .or(None);
            }
            assert!(depth >= 3, "{depth}");
        }
    }
    assert!(found, "a page with more than 100 blocks");
    let target = pages[1]["id"].as_str().expect("id");
    let r = call(&sim, Method::PATCH, &format!("/v1/blocks/{target}/children"), Some(V_NEW), Some(json!({"children": [
        {"object": "block", "type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Hello"}}],
            "children": [{"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": [{"text": {"content": "nested"}}]}}]}}
    ]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["results"][0]["has_children"], true);
    let kids = children(&sim, target).await;
    assert_eq!(
        kids.last().expect("block")["paragraph"]["rich_text"][0]["plain_text"],
        "Hello"
    );
    let r = get(&sim, "/v1/blocks/0000000000000000000000000000beef/children").await;
    assert_eq!(r.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_on_pages() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Documentation");
    let pages = query_all(&sim, &ds, json!({})).await;
    let mut total = 0;
    for p in &pages {
        let r = get(
            &sim,
            &format!("/v1/comments?block_id={}", p["id"].as_str().expect("id")),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["type"], "comment");
        for c in r.body["results"].as_array().expect("results") {
            assert_eq!(c["object"], "comment");
            assert_eq!(c["parent"]["page_id"], p["id"]);
            total += 1;
        }
    }
    assert!(total > 0);
    assert_eq!(
        get(&sim, "/v1/comments").await.body["code"],
        "validation_error"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn create_page_and_update_schema_over_http() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let r = post(
        &sim,
        "/v1/pages",
        json!({"parent": {"data_source_id": ds}, "properties": {
            "Name": {"title": [{"text": {"content": "Made over HTTP"}}]},
            "Priority": {"select": {"name": "High"}},
            "Value": {"number": 800}, "Effort": {"number": 1}
        }}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["ROI"]["formula"]["number"], json!(2.0));
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = post(&sim, "/v1/pages", json!({"parent": {"data_source_id": ds}, "properties": {"ROI": {"formula": {"number": 1}}}})).await;
    assert_eq!(r.body["code"], "validation_error");
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/data_sources/{ds}"),
        Some(V_NEW),
        Some(json!({"properties": {
            "Estimate": {"number": {"format": "number"}},
            "Priority": {"name": "Urgency"},
            "Done": null,
            "Effort": {"rich_text": {}}
        }})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let props = &r.body["properties"];
    assert_eq!(props["Estimate"]["type"], "number");
    assert_eq!(props["Urgency"]["type"], "select");
    assert!(props.get("Done").is_none() && props.get("Priority").is_none());
    assert_eq!(props["Effort"]["type"], "rich_text");
    let page = get(&sim, &format!("/v1/pages/{id}")).await;
    assert_eq!(page.body["properties"]["Urgency"]["select"]["name"], "High");
    assert_eq!(page.body["properties"]["Estimate"]["number"], Value::Null);
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/data_sources/{ds}"),
        Some(V_NEW),
        Some(json!({"properties": {"Name": {"number": {}}}})),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    sim.shutdown().await;
}

#[tokio::test]
async fn create_database_with_initial_data_source() {
    let sim = demo().await;
    let r = post(
        &sim,
        "/v1/databases",
        json!({
            "parent": {"type": "workspace", "workspace": true},
            "title": [{"type": "text", "text": {"content": "Restored"}}],
            "initial_data_source": {"properties": {
                "Title": {"title": {}},
                "Score": {"number": {"format": "percent"}},
                "Kind": {"select": {"options": [{"name": "a", "color": "red"}]}},
                "Calc": {"formula": {"expression": "prop(\"Score\") * 2"}}
            }}
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "database");
    let ds = r.body["data_sources"][0]["id"]
        .as_str()
        .expect("ds")
        .to_string();
    let s = get(&sim, &format!("/v1/data_sources/{ds}")).await;
    assert_eq!(s.body["properties"]["Title"]["id"], "title");
    assert_eq!(
        s.body["properties"]["Kind"]["select"]["options"][0]["name"],
        "a"
    );
    let expr = s.body["properties"]["Calc"]["formula"]["expression"]
        .as_str()
        .expect("expr");
    assert!(expr.starts_with("{{notion:block_property:"), "{expr}");
    assert!(sim.database_id_by_title("Restored").is_some());
    let r = post(&sim, "/v1/databases", json!({"parent": {"type": "workspace", "workspace": true}, "initial_data_source": {"properties": {"X": {"number": {}}}}})).await;
    assert_eq!(r.body["code"], "validation_error");
    sim.shutdown().await;
}
