//! The admin API, counters, determinism and the state dump oracle.

use notion_sim::{SimConfig, SimHandle, WorkspaceKind};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn admin_routes_drive_the_same_operations() {
    let sim = demo().await;
    let client = reqwest::Client::new();
    let ds = ds_of(&sim, "Tasks");
    let now = admin(&sim, "clock", json!({"set": "2026-03-01T12:00:30Z"})).await;
    assert_eq!(now["now"], "2026-03-01T12:00:30.000Z");
    admin(&sim, "clock", json!({"advance_seconds": 60})).await;
    assert_eq!(sim.now().to_rfc3339(), "2026-03-01T12:01:30+00:00");
    let created = admin(
        &sim,
        "pages/create",
        json!({"data_source_id": ds, "count": 3}),
    )
    .await;
    let ids: Vec<String> = created["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 3);
    let page = get(&sim, &format!("/v1/pages/{}", ids[0])).await;
    assert_eq!(page.body["created_time"], "2026-03-01T12:01:00.000Z");
    assert!(
        page.body["properties"]["Value"]["number"].is_number(),
        "generated values"
    );
    let edited = admin(
        &sim,
        "pages/edit",
        json!({"ids": [ids[1].replace('-', "")]}),
    )
    .await;
    assert_eq!(edited["ids"].as_array().map(Vec::len), Some(1));
    let edited = admin(
        &sim,
        "pages/edit",
        json!({"data_source_id": ds, "count": 4}),
    )
    .await;
    assert_eq!(edited["ids"].as_array().map(Vec::len), Some(4));
    for action in ["trash", "restore", "archive", "restore"] {
        assert_eq!(
            admin(&sim, &format!("pages/{}/{action}", ids[0]), json!({})).await["ok"],
            true
        );
    }
    let notes = ds_of(&sim, "Notes");
    assert_eq!(
        admin(
            &sim,
            &format!("pages/{}/move", ids[2]),
            json!({"data_source_id": notes})
        )
        .await["ok"],
        true
    );
    let moved = get(&sim, &format!("/v1/pages/{}", ids[2])).await;
    assert_eq!(moved.body["parent"]["data_source_id"], notes.as_str());
    assert_eq!(
        admin(&sim, &format!("pages/{}/purge", ids[2]), json!({})).await["ok"],
        true
    );
    assert_eq!(
        admin(
            &sim,
            &format!("schema/{ds}/add"),
            json!({"name": "Budget", "schema": {"type": "number", "number": {"format": "euro"}}})
        )
        .await["ok"],
        true
    );
    assert_eq!(
        admin(
            &sim,
            &format!("schema/{ds}/rename"),
            json!({"name": "Budget", "new_name": "Spend"})
        )
        .await["ok"],
        true
    );
    let schema = get(&sim, &format!("/v1/data_sources/{ds}")).await;
    assert_eq!(
        schema.body["properties"]["Spend"]["number"]["format"],
        "euro"
    );
    assert_eq!(
        admin(
            &sim,
            &format!("schema/{ds}/remove"),
            json!({"name": "Spend"})
        )
        .await["ok"],
        true
    );
    admin(
        &sim,
        "faults",
        json!({"rules": [{"endpoint": "list_users", "kind": {"status": 503}, "mode": "always"}]}),
    )
    .await;
    assert_eq!(get(&sim, "/v1/users").await.status, 503);
    admin(&sim, "faults", json!({"rules": []})).await;
    assert_eq!(get(&sim, "/v1/users").await.status, 200);
    admin(
        &sim,
        "rate_limit",
        json!({"requests_per_minute": 1, "window_seconds": 30}),
    )
    .await;
    get(&sim, "/v1/users").await;
    assert_eq!(get(&sim, "/v1/users").await.status, 429);
    admin(
        &sim,
        "rate_limit",
        json!({"requests_per_minute": 0, "window_seconds": 60}),
    )
    .await;
    let first = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"page_size": 2}),
    )
    .await;
    admin(&sim, "cursors/invalidate", json!({})).await;
    let r = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"page_size": 2, "start_cursor": first.body["next_cursor"]}),
    )
    .await;
    assert_eq!(r.status, 400);
    let counters: Value = client
        .get(format!("{}/__sim/counters", sim.base_url()))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert!(counters["total_requests"].as_u64().unwrap_or(0) > 5);
    assert!(
        counters["by_endpoint"]["retrieve_page"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    );
    assert!(counters["by_status"]["503"].as_u64().is_some());
    admin(&sim, "counters/reset", json!({})).await;
    assert_eq!(sim.counters().total_requests, 0);
    let state: Value = client
        .get(format!("{}/__sim/state?version=2025-09-03", sim.base_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state, sim.state_dump("2025-09-03"));
    assert_eq!(
        sim.counters().total_requests,
        0,
        "admin routes are not counted"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_workspace() {
    for kind in [WorkspaceKind::Demo, WorkspaceKind::Full] {
        let a = start(SimConfig {
            workspace: kind,
            ..SimConfig::default()
        })
        .await;
        let b = start(SimConfig {
            workspace: kind,
            ..SimConfig::default()
        })
        .await;
        // Identical but for the port in hosted files' URLs.
        let dump = |sim: &SimHandle, v: &str| {
            sim.state_dump(v)
                .to_string()
                .replace(&sim.base_url(), "http://sim")
        };
        assert_eq!(dump(&a, V_NEW), dump(&b, V_NEW));
        assert_eq!(a.token(), b.token());
        let ds = ds_of(&a, "Tasks");
        assert_eq!(a.create_pages(&ds, 2), b.create_pages(&ds, 2));
        assert_eq!(a.edit_pages(&ds, 5), b.edit_pages(&ds, 5));
        assert_eq!(dump(&a, V_DS), dump(&b, V_DS));
        let c = start(SimConfig {
            workspace: kind,
            seed: 7,
            ..SimConfig::default()
        })
        .await;
        assert_ne!(a.state_dump(V_NEW)["pages"], c.state_dump(V_NEW)["pages"]);
        for s in [a, b, c] {
            s.shutdown().await;
        }
    }
}

#[tokio::test]
async fn state_dump_matches_served_objects() {
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    let ds = ds_of(&sim, "Tasks");
    let some = query_all(&sim, &ds, json!({})).await;
    sim.trash_page(some[0]["id"].as_str().expect("id"));
    sim.archive_page(some[1]["id"].as_str().expect("id"));
    sim.purge_page(some[2]["id"].as_str().expect("id"));
    for version in [V_NEW, V_DS] {
        let dump = sim.state_dump(version);
        assert!(dump["now"].is_string());
        let pages = dump["pages"].as_array().expect("pages");
        let mut prev = String::new();
        for p in pages {
            let id = p["id"].as_str().expect("id").to_string();
            assert!(id > prev, "ordered by id");
            prev = id.clone();
            let mut served = call(
                &sim,
                reqwest::Method::GET,
                &format!("/v1/pages/{id}"),
                Some(version),
                None,
            )
            .await
            .body;
            served.as_object_mut().expect("object").remove("request_id");
            assert_eq!(served, p["page"], "{id}");
            assert_eq!(p["purged"], false);
        }
        assert!(pages.iter().any(|p| p["in_trash"] == true));
        assert!(pages.iter().any(|p| p["is_archived"] == true));
        assert_eq!(dump["purged_page_ids"], json!([some[2]["id"]]));
        // Queried pages are byte-identical to the dump's.
        let every = ds_of(&sim, "Everything");
        let r = call(
            &sim,
            reqwest::Method::POST,
            &format!("/v1/data_sources/{every}/query"),
            Some(version),
            Some(json!({})),
        )
        .await;
        for q in r.body["results"].as_array().expect("results") {
            let d = pages.iter().find(|p| p["id"] == q["id"]).expect("in dump");
            assert_eq!(&d["page"], q);
            assert!(
                d["page_full"]["properties"]["Items"]["relation"]
                    .as_array()
                    .map_or(0, Vec::len)
                    >= q["properties"]["Items"]["relation"]
                        .as_array()
                        .map_or(0, Vec::len)
            );
        }
        for db in dump["databases"].as_array().expect("dbs") {
            let id = db["id"].as_str().expect("id");
            let mut served = call(
                &sim,
                reqwest::Method::GET,
                &format!("/v1/databases/{id}"),
                Some(version),
                None,
            )
            .await
            .body;
            served.as_object_mut().expect("object").remove("request_id");
            assert_eq!(served, db["database"]);
            for s in db["data_sources"].as_array().expect("sources") {
                let sid = s["id"].as_str().expect("id");
                let mut served = call(
                    &sim,
                    reqwest::Method::GET,
                    &format!("/v1/data_sources/{sid}"),
                    Some(version),
                    None,
                )
                .await
                .body;
                served.as_object_mut().expect("object").remove("request_id");
                assert_eq!(served, s["data_source"]);
            }
        }
    }
    sim.shutdown().await;
}
