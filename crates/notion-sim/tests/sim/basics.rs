//! Auth, versions, route gating, ids, request ids, timestamps and the clock.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn auth_and_version_are_enforced() {
    let sim = demo().await;
    let r = raw(
        &sim,
        Method::GET,
        "/v1/users",
        Some(V_NEW),
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], "unauthorized");
    assert_eq!(r.body["message"], "API token is invalid.");
    assert_eq!(r.body["object"], "error");
    let r = raw(
        &sim,
        Method::GET,
        "/v1/users",
        None,
        Some(&sim.token()),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "missing_version");
    let r = call(&sim, Method::GET, "/v1/users", Some("2099-01-01"), None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "invalid_request_url");
    let r = get(&sim, "/v1/nothing/here").await;
    assert_eq!(r.body["code"], "invalid_request_url");
    assert!(sim.token().starts_with("ntn_"));
    sim.shutdown().await;
}

#[tokio::test]
async fn routes_are_gated_by_version() {
    let sim = demo().await;
    let db = sim.database_id_by_title("Tasks").expect("tasks");
    let ds = ds_of(&sim, "Tasks");
    let q = |v: &'static str, path: String| {
        let sim = sim.clone();
        async move { call(&sim, Method::POST, &path, Some(v), Some(json!({}))).await }
    };
    let r = q(V_OLD, format!("/v1/data_sources/{ds}/query")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_request_url"))
    );
    let r = q(V_DS, format!("/v1/databases/{db}/query")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_request_url"))
    );
    let r = q(V_OLD, format!("/v1/databases/{db}/query")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["type"], "page_or_database");
    assert_eq!(r.body["results"][0]["parent"]["type"], "database_id");
    assert_eq!(r.body["results"][0]["archived"], false);
    let r = q(V_DS, format!("/v1/data_sources/{ds}/query")).await;
    assert_eq!(r.body["type"], "page_or_data_source");
    assert_eq!(r.body["page_or_data_source"], json!({}));
    assert_eq!(
        r.body["results"][0]["parent"]["data_source_id"],
        ds.as_str()
    );
    assert_eq!(r.body["results"][0]["archived"], false);
    let r = q(V_NEW, format!("/v1/data_sources/{ds}/query")).await;
    assert!(r.body["results"][0].get("archived").is_none());
    // Database shapes per version.
    let old = call(
        &sim,
        Method::GET,
        &format!("/v1/databases/{db}"),
        Some(V_OLD),
        None,
    )
    .await;
    assert!(old.body["properties"]["ROI"].is_object());
    assert!(old.body.get("data_sources").is_none());
    let new = get(&sim, &format!("/v1/databases/{db}")).await;
    assert!(new.body.get("properties").is_none());
    assert_eq!(new.body["data_sources"][0]["id"], ds.as_str());
    let r = call(
        &sim,
        Method::GET,
        &format!("/v1/data_sources/{ds}"),
        Some(V_OLD),
        None,
    )
    .await;
    assert_eq!(r.body["code"], "invalid_request_url");
    sim.shutdown().await;
}

#[tokio::test]
async fn ids_are_normalised_and_errors_are_notion_shaped() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let page = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"page_size": 1}),
    )
    .await;
    let id = page.body["results"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let undashed = id.replace('-', "").to_uppercase();
    let r = get(&sim, &format!("/v1/pages/{undashed}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    let r = get(&sim, "/v1/pages/not-an-id").await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_request_url"))
    );
    let missing = "0000000000000000000000000000abcd";
    let r = get(&sim, &format!("/v1/pages/{missing}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "object_not_found");
    assert_eq!(
        r.body["message"],
        "Could not find page with ID: 00000000-0000-0000-0000-00000000abcd. Make sure the relevant pages and databases are shared with your integration."
    );
    // request_id in bodies and headers, success and error alike.
    for resp in [&page, &r] {
        let rid = resp.body["request_id"].as_str().expect("request_id");
        assert!(uuid::Uuid::parse_str(rid).is_ok());
        assert_eq!(resp.headers["x-notion-request-id"], rid);
    }
    let r = post(&sim, "/v1/search", json!({"page_size": 0})).await;
    assert_eq!(r.body["code"], "validation_error");
    sim.shutdown().await;
}

#[tokio::test]
async fn timestamps_are_minute_floored_from_the_clock() {
    let sim = demo().await;
    let t0: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().expect("time");
    assert_eq!(sim.now(), t0);
    sim.advance_clock(Duration::seconds(95));
    let ds = ds_of(&sim, "Tasks");
    let ids = sim.edit_pages(&ds, 3);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        let r = get(&sim, &format!("/v1/pages/{id}")).await;
        assert_eq!(r.body["last_edited_time"], "2026-01-05T09:01:00.000Z");
        assert_eq!(
            r.body["properties"]["Last edited"]["last_edited_time"],
            "2026-01-05T09:01:00.000Z"
        );
    }
    sim.set_clock("2026-02-01T10:20:59Z".parse().expect("time"));
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{}", ids[0]),
        Some(V_NEW),
        Some(json!({"properties": {"Done": {"checkbox": true}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["last_edited_time"], "2026-02-01T10:20:00.000Z");
    assert_eq!(r.body["properties"]["Done"]["checkbox"], true);
    // Every served timestamp has zero seconds and millis.
    let all = query_all(&sim, &ds, json!({})).await;
    for p in &all {
        for f in ["created_time", "last_edited_time"] {
            assert!(
                p[f].as_str().expect("time").ends_with(":00.000Z"),
                "{}",
                p[f]
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn users_list_and_me() {
    let sim = demo().await;
    let r = get(&sim, "/v1/users?page_size=2").await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["has_more"], true);
    let mut all = r.body["results"].as_array().cloned().unwrap_or_default();
    let c = r.body["next_cursor"].as_str().expect("cursor").to_string();
    let r = get(&sim, &format!("/v1/users?start_cursor={c}")).await;
    all.extend(r.body["results"].as_array().cloned().unwrap_or_default());
    assert!(all.iter().any(|u| u["type"] == "bot"));
    assert!(all.iter().filter(|u| u["type"] == "person").count() >= 3);
    let me = get(&sim, "/v1/users/me").await;
    assert_eq!(me.body["type"], "bot");
    let id = all[0]["id"].as_str().expect("id");
    assert_eq!(get(&sim, &format!("/v1/users/{id}")).await.body["id"], id);
    sim.shutdown().await;
}

#[tokio::test]
async fn search_by_object_and_title() {
    let sim = demo().await;
    let r = post(
        &sim,
        "/v1/search",
        json!({"filter": {"property": "object", "value": "data_source"}}),
    )
    .await;
    let names: Vec<&str> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|d| d["title"][0]["plain_text"].as_str())
        .collect();
    for t in ["Documentation", "Tasks", "Notes", "Sprints"] {
        assert!(names.contains(&t), "{names:?}");
    }
    assert!(r.body["results"][0]["properties"].is_object());
    let r = post(&sim, "/v1/search", json!({"query": "Sprint", "filter": {"property": "object", "value": "page"}, "page_size": 3})).await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(3));
    assert_eq!(r.body["has_more"], true);
    let next = r.body["next_cursor"].as_str().expect("cursor");
    let r2 = post(&sim, "/v1/search", json!({"query": "Sprint", "filter": {"property": "object", "value": "page"}, "page_size": 3, "start_cursor": next})).await;
    assert_eq!(r2.status, 200);
    assert_ne!(r.body["results"][0]["id"], r2.body["results"][0]["id"]);
    let r = post(
        &sim,
        "/v1/search",
        json!({"filter": {"property": "object", "value": "database"}}),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    let r = call(
        &sim,
        Method::POST,
        "/v1/search",
        Some(V_OLD),
        Some(json!({"filter": {"property": "object", "value": "database"}})),
    )
    .await;
    assert_eq!(r.body["type"], "page_or_database");
    assert_eq!(r.body["results"][0]["object"], "database");
    sim.shutdown().await;
}
