//! Truncation at 25, the property-item endpoint, computed properties and write validation.

use notion_sim::{SimConfig, WorkspaceKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Every item of a property via the property-item endpoint.
async fn all_items(
    sim: &notion_sim::SimHandle,
    page: &str,
    prop_id: &str,
    size: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/pages/{page}/properties/{prop_id}?page_size={size}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&start_cursor={c}"));
        }
        let r = get(sim, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["object"], "list");
        assert_eq!(r.body["type"], "property_item");
        out.extend(r.body["results"].as_array().cloned().unwrap_or_default());
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(r.body["property_item"]["next_url"].as_str().is_some());
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
}

#[tokio::test]
async fn relations_over_25_are_truncated_and_complete_via_property_items() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Sprints");
    let sprints = query_all(&sim, &ds, json!({})).await;
    let big = sprints
        .iter()
        .find(|p| p["properties"]["Tasks"]["has_more"] == true)
        .expect("a sprint with more than 25 tasks");
    assert_eq!(
        big["properties"]["Tasks"]["relation"]
            .as_array()
            .map(Vec::len),
        Some(25)
    );
    let small = sprints
        .iter()
        .find(|p| p["properties"]["Tasks"]["has_more"] == false)
        .expect("small sprint");
    assert!(
        small["properties"]["Tasks"]["relation"]
            .as_array()
            .map_or(0, Vec::len)
            <= 25
    );
    let id = big["id"].as_str().expect("id");
    let prop_id = big["properties"]["Tasks"]["id"].as_str().expect("prop id");
    let items = all_items(&sim, id, prop_id, 7).await;
    assert_eq!(items.len(), 30);
    assert_eq!(items[0]["type"], "relation");
    assert_eq!(items[0]["object"], "property_item");
    // Count rollup sees all 30.
    assert_eq!(
        big["properties"]["Task count"]["rollup"],
        json!({"type": "number", "number": 30, "function": "count"})
    );
    let r = get(
        &sim,
        &format!("/v1/pages/{id}/properties/{prop_id}?page_size=101"),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    // A single-value property answers one item.
    let r = get(&sim, &format!("/v1/pages/{id}/properties/title")).await;
    assert_eq!(r.body["type"], "property_item");
    let dates_id = big["properties"]["Dates"]["id"].as_str().expect("dates id");
    let r = get(&sim, &format!("/v1/pages/{id}/properties/{dates_id}")).await;
    assert_eq!(r.body["object"], "property_item");
    assert_eq!(r.body["date"], big["properties"]["Dates"]["date"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn people_and_mentions_over_25_are_truncated_in_full() {
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    let ds = ds_of(&sim, "Everything");
    let pages = query_all(&sim, &ds, json!({})).await;
    let people = pages
        .iter()
        .map(|p| {
            p["properties"]["People"]["people"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .max();
    assert_eq!(people, Some(25));
    let wide = pages
        .iter()
        .find(|p| {
            p["properties"]["People"]["people"]
                .as_array()
                .map_or(0, Vec::len)
                == 25
        })
        .expect("wide");
    let pid = wide["properties"]["People"]["id"].as_str().expect("id");
    assert_eq!(
        all_items(&sim, wide["id"].as_str().expect("id"), pid, 100)
            .await
            .len(),
        30
    );
    let mentions = |p: &Value| {
        p["properties"]["Name"]["title"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|t| t["type"] == "mention").count())
    };
    let m = pages
        .iter()
        .find(|p| mentions(p) == 25)
        .expect("title with truncated mentions");
    let items = all_items(&sim, m["id"].as_str().expect("id"), "title", 100).await;
    assert_eq!(
        items
            .iter()
            .filter(|i| i["title"]["type"] == "mention")
            .count(),
        30
    );
    let rel = pages
        .iter()
        .find(|p| p["properties"]["Items"]["has_more"] == true)
        .expect("relation > 25");
    let rid = rel["properties"]["Items"]["id"].as_str().expect("id");
    let n = all_items(&sim, rel["id"].as_str().expect("id"), rid, 100)
        .await
        .len();
    assert!(n == 120 || n == 30, "{n}");
    assert!(
        pages
            .iter()
            .any(|p| p["properties"]["Hologram"]["type"] == "hologram"
                && p["properties"]["Hologram"]["hologram"].is_object())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn formulas_and_rollups_are_computed_and_read_only() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let tasks = query_all(&sim, &ds, json!({})).await;
    for t in &tasks {
        let v = t["properties"]["Value"]["number"].as_f64().expect("value");
        let e = t["properties"]["Effort"]["number"]
            .as_f64()
            .expect("effort");
        let roi = ((v / (e * 400.0)) * 10.0).round() / 10.0;
        assert_eq!(
            t["properties"]["ROI"]["formula"],
            json!({"type": "number", "number": roi})
        );
    }
    let schema = get(&sim, &format!("/v1/data_sources/{ds}")).await;
    let expr = schema.body["properties"]["ROI"]["formula"]["expression"]
        .as_str()
        .expect("expr");
    assert!(expr.contains("{{notion:block_property:"), "{expr}");
    assert!(
        expr.contains(":00000000-0000-0000-0000-000000000000:"),
        "{expr}"
    );
    // Sum rollup over Tasks.Value on Sprints.
    let sprints = query_all(&sim, &ds_of(&sim, "Sprints"), json!({})).await;
    let by_id: std::collections::BTreeMap<&str, f64> = tasks
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default(),
                t["properties"]["Value"]["number"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    for s in &sprints {
        let pid = s["properties"]["Tasks"]["id"].as_str().expect("id");
        let items = all_items_quick(&sim, s["id"].as_str().expect("id"), pid).await;
        let sum: f64 = items
            .iter()
            .filter_map(|i| by_id.get(i["relation"]["id"].as_str().unwrap_or_default()))
            .sum();
        assert_eq!(
            s["properties"]["Total value"]["rollup"]["number"].as_f64(),
            Some(sum)
        );
        assert_eq!(s["properties"]["Total value"]["rollup"]["function"], "sum");
    }
    let id = tasks[0]["id"].as_str().expect("id");
    for (name, value) in [
        ("ROI", json!({"formula": {"number": 1}})),
        (
            "Created",
            json!({"created_time": "2026-01-01T00:00:00.000Z"}),
        ),
        (
            "Last edited",
            json!({"last_edited_time": "2026-01-01T00:00:00.000Z"}),
        ),
    ] {
        let r = call(
            &sim,
            Method::PATCH,
            &format!("/v1/pages/{id}"),
            Some(V_NEW),
            Some(json!({"properties": {name: value}})),
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some("validation_error")),
            "{name}"
        );
    }
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{}", sprints[0]["id"].as_str().expect("id")),
        Some(V_NEW),
        Some(json!({"properties": {"Task count": {"rollup": {"number": 3}}}})),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    // Changing Value changes ROI.
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{id}"),
        Some(V_NEW),
        Some(json!({"properties": {"Value": {"number": 4000}, "Effort": {"number": 2}}})),
    )
    .await;
    assert_eq!(r.body["properties"]["ROI"]["formula"]["number"], json!(5.0));
    sim.shutdown().await;
}

async fn all_items_quick(sim: &notion_sim::SimHandle, page: &str, prop: &str) -> Vec<Value> {
    all_items(sim, page, prop, 100).await
}

#[tokio::test]
async fn writes_are_size_validated() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Notes");
    let page = query_all(&sim, &ds, json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let long = "x".repeat(2345);
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{page}"),
        Some(V_NEW),
        Some(json!({"properties": {"Text": {"rich_text": [{"text": {"content": long}}]}}})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "body failed validation: body.properties.Text.rich_text[0].text.content.length should be ≤ `2000`, instead was `2345`."
    );
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"text": {"content": "a"}}))
        .collect();
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{page}"),
        Some(V_NEW),
        Some(json!({"properties": {"Text": {"rich_text": many}}})),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{page}"),
        Some(V_NEW),
        Some(json!({"properties": {"Text": {"rich_text": [{"text": {"content": "fine"}}]}}})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["properties"]["Text"]["rich_text"][0]["plain_text"],
        "fine"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stored_formula_result_is_served_digit_for_digit() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let page = query_all(&sim, &ds, json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // The shortest text that reads back as this double; a lax float parser rounds it to ...543.
    let result = json!({"type": "number", "number": 15.545454545454545});
    assert!(sim.set_page_value(&page, "ROI", result.clone()));
    let text = reqwest::Client::new()
        .get(format!("{}/v1/pages/{page}", sim.base_url()))
        .bearer_auth(sim.token())
        .header("Notion-Version", V_NEW)
        .send()
        .await
        .expect("request sent")
        .text()
        .await
        .expect("body read");
    assert!(text.contains(r#""number":15.545454545454545"#), "{text}");
    assert!(!sim.set_page_value("0123456789abcdef0123456789abcdef", "ROI", result));
}
