//! Query pagination, cursors, filters, sorts, partitions and the result cap.

use std::collections::BTreeSet;

use notion_sim::SimConfig;
use serde_json::{Value, json};

use crate::common::*;

fn ids(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn pagination_covers_every_live_page_once_in_created_order() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let live = sim
        .databases()
        .into_iter()
        .find(|d| d.title == "Tasks")
        .expect("tasks")
        .data_sources[0]
        .page_count_live;
    let all = query_all(&sim, &ds, json!({"page_size": 7})).await;
    assert_eq!(all.len(), live);
    let unique: BTreeSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), live);
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|p| {
            (
                p["created_time"].as_str().unwrap_or_default().into(),
                p["id"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    for size in [json!(0), json!(101), json!("x")] {
        let r = post(
            &sim,
            &format!("/v1/data_sources/{ds}/query"),
            json!({"page_size": size}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some("validation_error"))
        );
    }
    let r = post(&sim, &format!("/v1/data_sources/{ds}/query"), json!({})).await;
    assert_eq!(r.body["request_status"]["type"], "complete");
    sim.shutdown().await;
}

#[tokio::test]
async fn cursors_are_bound_to_their_query_and_generation() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let path = format!("/v1/data_sources/{ds}/query");
    let r = post(&sim, &path, json!({"page_size": 5})).await;
    let c = r.body["next_cursor"].as_str().expect("cursor").to_string();
    let other = post(&sim, &path, json!({"page_size": 5, "start_cursor": c, "sorts": [{"timestamp": "last_edited_time", "direction": "descending"}]})).await;
    assert_eq!(other.status, 400);
    assert_eq!(
        other.body["message"],
        format!("The start_cursor provided is invalid: {c}")
    );
    let junk = post(&sim, &path, json!({"start_cursor": "garbage"})).await;
    assert_eq!(junk.body["code"], "validation_error");
    let ok = post(&sim, &path, json!({"page_size": 5, "start_cursor": c})).await;
    assert_eq!(ok.status, 200);
    sim.invalidate_cursors();
    let stale = post(&sim, &path, json!({"page_size": 5, "start_cursor": c})).await;
    assert_eq!(stale.status, 400);
    assert!(
        stale.body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("The start_cursor provided is invalid: ")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_page_edited_mid_scan_moves_later() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let path = format!("/v1/data_sources/{ds}/query");
    let body = json!({"page_size": 10, "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]});
    let first = post(&sim, &path, body.clone()).await;
    let first_ids = ids(first.body["results"].as_array().expect("results"));
    sim.advance_clock(chrono::Duration::minutes(5));
    assert!(sim.edit_page(&first_ids[0]));
    let mut rest = body.clone();
    rest["start_cursor"] = first.body["next_cursor"].clone();
    let mut seen = first_ids.clone();
    let mut b = rest;
    loop {
        let r = post(&sim, &path, b.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(ids(r.body["results"].as_array().expect("results")));
        match r.body["next_cursor"].as_str() {
            Some(c) => b["start_cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(
        seen.iter().filter(|i| **i == first_ids[0]).count(),
        2,
        "edited page re-appears at the end"
    );
    assert_eq!(seen.last(), Some(&first_ids[0]));
    sim.shutdown().await;
}

#[tokio::test]
async fn timestamp_filters_and_compounds() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let all = query_all(&sim, &ds, json!({})).await;
    let mut times: Vec<String> = all
        .iter()
        .map(|p| {
            p["last_edited_time"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    times.sort();
    let mid = times[times.len() / 2].clone();
    let count = |op: &str| {
        let sim = sim.clone();
        let ds = ds.clone();
        let mid = mid.clone();
        let op = op.to_string();
        async move {
            query_all(
                &sim,
                &ds,
                json!({"filter": {"timestamp": "last_edited_time", "last_edited_time": {op: mid}}}),
            )
            .await
            .len()
        }
    };
    let expect = |f: &dyn Fn(&str) -> bool| times.iter().filter(|t| f(t)).count();
    assert_eq!(count("on_or_after").await, expect(&|t| t >= mid.as_str()));
    assert_eq!(count("after").await, expect(&|t| t > mid.as_str()));
    assert_eq!(count("before").await, expect(&|t| t < mid.as_str()));
    assert_eq!(count("on_or_before").await, expect(&|t| t <= mid.as_str()));
    assert_eq!(count("equals").await, expect(&|t| t == mid.as_str()));
    let day = &mid[..10];
    let on_day = query_all(
        &sim,
        &ds,
        json!({"filter": {"timestamp": "last_edited_time", "last_edited_time": {"equals": day}}}),
    )
    .await;
    assert_eq!(on_day.len(), expect(&|t| t.starts_with(day)));
    let r = query_all(
        &sim,
        &ds,
        json!({"filter": {"timestamp": "created_time", "created_time": {"is_not_empty": true}}}),
    )
    .await;
    assert_eq!(r.len(), all.len());
    let r = query_all(
        &sim,
        &ds,
        json!({"filter": {"timestamp": "created_time", "created_time": {"is_empty": true}}}),
    )
    .await;
    assert!(r.is_empty());
    // and/or with nesting up to two levels.
    let nested = json!({"filter": {"or": [
        {"and": [{"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": mid}}, {"property": "Done", "checkbox": {"equals": true}}]},
        {"property": "Done", "checkbox": {"equals": false}}
    ]}});
    let n = query_all(&sim, &ds, nested).await.len();
    let done_after = all
        .iter()
        .filter(|p| {
            p["properties"]["Done"]["checkbox"] == true
                && p["last_edited_time"].as_str().unwrap_or_default() >= mid.as_str()
        })
        .count();
    let not_done = all
        .iter()
        .filter(|p| p["properties"]["Done"]["checkbox"] == false)
        .count();
    assert_eq!(n, done_after + not_done);
    let too_deep = json!({"filter": {"and": [{"or": [{"and": [{"property": "Done", "checkbox": {"equals": true}}]}]}]}});
    let r = post(&sim, &format!("/v1/data_sources/{ds}/query"), too_deep).await;
    assert_eq!(r.body["code"], "validation_error");
    // The property form of a timestamp filter.
    let r = query_all(
        &sim,
        &ds,
        json!({"filter": {"property": "Last edited", "last_edited_time": {"on_or_after": mid}}}),
    )
    .await;
    assert_eq!(r.len(), expect(&|t| t >= mid.as_str()));
    sim.shutdown().await;
}

#[tokio::test]
async fn property_filters_and_sorts() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Tasks");
    let all = query_all(&sim, &ds, json!({})).await;
    let check = |filter: Value, pred: &dyn Fn(&Value) -> bool| {
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|p| pred(p))
            .map(|p| p["id"].as_str().unwrap_or_default().to_string())
            .collect();
        let sim = sim.clone();
        let ds = ds.clone();
        async move {
            let got: BTreeSet<String> = ids(&query_all(&sim, &ds, json!({"filter": filter})).await)
                .into_iter()
                .collect();
            assert_eq!(got, expected);
            got.len()
        }
    };
    let high = |p: &Value| p["properties"]["Priority"]["select"]["name"] == "High";
    assert!(
        check(
            json!({"property": "Priority", "select": {"equals": "High"}}),
            &high
        )
        .await
            > 0
    );
    check(
        json!({"property": "Priority", "select": {"does_not_equal": "High"}}),
        &|p| !high(p),
    )
    .await;
    check(
        json!({"property": "Status", "status": {"equals": "Done"}}),
        &|p| p["properties"]["Status"]["status"]["name"] == "Done",
    )
    .await;
    check(
        json!({"property": "Status", "status": {"is_not_empty": true}}),
        &|p| !p["properties"]["Status"]["status"].is_null(),
    )
    .await;
    check(
        json!({"property": "Done", "checkbox": {"equals": true}}),
        &|p| p["properties"]["Done"]["checkbox"] == true,
    )
    .await;
    let value = |p: &Value| p["properties"]["Value"]["number"].as_f64().unwrap_or(-1.0);
    check(
        json!({"property": "Value", "number": {"greater_than": 2000}}),
        &|p| value(p) > 2000.0,
    )
    .await;
    check(
        json!({"property": "Value", "number": {"less_than_or_equal_to": 1500}}),
        &|p| value(p) <= 1500.0 && value(p) >= 0.0,
    )
    .await;
    check(
        json!({"property": "Value", "number": {"equals": 1000}}),
        &|p| value(p) == 1000.0,
    )
    .await;
    let title = |p: &Value| {
        p["properties"]["Name"]["title"][0]["plain_text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let word = title(&all[0])
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    check(
        json!({"property": "Name", "title": {"starts_with": word}}),
        &|p| title(p).starts_with(&word),
    )
    .await;
    check(
        json!({"property": "Name", "rich_text": {"contains": "review"}}),
        &|p| title(p).contains("review"),
    )
    .await;
    check(
        json!({"property": "Name", "title": {"equals": title(&all[0])}}),
        &|p| title(p) == title(&all[0]),
    )
    .await;
    // Sorts by property with id tie-break.
    let sorted = query_all(
        &sim,
        &ds,
        json!({"page_size": 13, "sorts": [{"property": "Value", "direction": "descending"}]}),
    )
    .await;
    let values: Vec<f64> = sorted.iter().map(value).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(sorted.len(), all.len());
    let r = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"filter": {"property": "Nope", "select": {"equals": "x"}}}),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    // filter_properties keeps only the named properties.
    let r = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query?filter_properties=title&filter_properties=Value"),
        json!({"page_size": 2}),
    )
    .await;
    let props = r.body["results"][0]["properties"]
        .as_object()
        .expect("props");
    assert_eq!(
        props.keys().cloned().collect::<BTreeSet<_>>(),
        ["Name".to_string(), "Value".to_string()].into()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn trashed_and_archived_pages_are_partitioned() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Notes");
    let before = query_all(&sim, &ds, json!({})).await;
    let (a, b, c) = (
        ids(&before)[0].clone(),
        ids(&before)[1].clone(),
        ids(&before)[2].clone(),
    );
    assert!(sim.trash_page(&a));
    assert!(sim.archive_page(&b));
    let r = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/v1/pages/{c}"),
        Some(V_NEW),
        Some(json!({"in_trash": true})),
    )
    .await;
    assert_eq!(r.body["in_trash"], true);
    let live = ids(&query_all(&sim, &ds, json!({})).await);
    assert_eq!(live.len(), before.len() - 3);
    assert!(!live.contains(&a) && !live.contains(&b) && !live.contains(&c));
    let archived = ids(&query_all(&sim, &ds, json!({"is_archived": true})).await);
    assert_eq!(archived, vec![b.clone()]);
    let page = get(&sim, &format!("/v1/pages/{a}")).await;
    assert_eq!(page.body["in_trash"], true);
    let r = post(
        &sim,
        &format!("/v1/data_sources/{ds}/query"),
        json!({"in_trash": false}),
    )
    .await;
    assert_eq!(
        r.body["message"],
        "body failed validation: body.in_trash should be not present, instead was `false`."
    );
    let r = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/v1/pages/{a}"),
        Some(V_NEW),
        Some(json!({"archived": false})),
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    let r = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/v1/pages/{a}"),
        Some(V_DS),
        Some(json!({"archived": false})),
    )
    .await;
    assert_eq!(r.body["in_trash"], false);
    assert!(sim.restore_page(&b));
    assert!(sim.purge_page(&c));
    assert_eq!(get(&sim, &format!("/v1/pages/{c}")).await.status, 404);
    assert_eq!(
        ids(&query_all(&sim, &ds, json!({})).await).len(),
        before.len() - 1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_result_cap_ends_a_query_with_request_status() {
    let sim = start(SimConfig {
        query_result_cap: 25,
        ..SimConfig::default()
    })
    .await;
    let ds = ds_of(&sim, "Tasks");
    let path = format!("/v1/data_sources/{ds}/query");
    let mut body = json!({"page_size": 10});
    let mut pages = Vec::new();
    loop {
        let r = post(&sim, &path, body.clone()).await;
        pages.push(r.body.clone());
        match r.body["next_cursor"].as_str() {
            Some(c) => body["start_cursor"] = json!(c),
            None => break,
        }
    }
    let total: usize = pages
        .iter()
        .map(|p| p["results"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(total, 25);
    let last = pages.last().expect("pages");
    assert_eq!(last["has_more"], false);
    assert_eq!(
        last["request_status"],
        json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"})
    );
    assert_eq!(pages[0]["request_status"]["type"], "complete");
    // A narrower query (fewer rows than the cap) completes.
    let few = post(
        &sim,
        &path,
        json!({"filter": {"property": "Priority", "select": {"equals": "High"}}}),
    )
    .await;
    assert_eq!(few.body["request_status"]["type"], "complete");
    sim.shutdown().await;
}

#[tokio::test]
async fn old_version_database_query_and_multi_source_error() {
    let sim = start(SimConfig {
        workspace: notion_sim::WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    let db = sim.database_id_by_title("Projects").expect("projects");
    let r = call(
        &sim,
        reqwest::Method::POST,
        &format!("/v1/databases/{db}/query"),
        Some(V_OLD),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["additional_data"]["error_type"],
        "multiple_data_sources_for_database"
    );
    let r = call(
        &sim,
        reqwest::Method::GET,
        &format!("/v1/databases/{db}"),
        Some(V_OLD),
        None,
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    let r = get(&sim, &format!("/v1/databases/{db}")).await;
    assert_eq!(r.body["data_sources"].as_array().map(Vec::len), Some(2));
    sim.shutdown().await;
}
