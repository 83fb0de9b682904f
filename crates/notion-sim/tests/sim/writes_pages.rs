//! Page writes: every writable property kind, read-only kinds, request limits, select options,
//! relations (dual ones kept two-way), trash, child pages, move, icon and cover.

use chrono::Duration;
use notion_sim::{SimConfig, SimHandle, WorkspaceKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn full() -> SimHandle {
    start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await
}

async fn first_page(sim: &SimHandle, db: &str) -> Value {
    query_all(sim, &ds_of(sim, db), json!({})).await[0].clone()
}

/// Moves a page under `parent`.
async fn move_to(sim: &SimHandle, id: &str, parent: Value) -> Resp {
    post(
        sim,
        &format!("/v1/pages/{id}/move"),
        json!({ "parent": parent }),
    )
    .await
}

/// PATCHes `properties` onto the page at `path`.
async fn set(sim: &SimHandle, path: &str, properties: Value) -> Resp {
    patch(sim, path, json!({ "properties": properties })).await
}

async fn bot_id(sim: &SimHandle) -> Value {
    get(sim, "/v1/users/me").await.body["id"].clone()
}

#[tokio::test]
async fn every_writable_kind_is_stored_served_and_dumped() {
    let sim = full().await;
    let page = first_page(&sim, "Everything").await;
    let id = page["id"].as_str().expect("id").to_string();
    let people = get(&sim, "/v1/users").await.body["results"][0]["id"].clone();
    let part = first_page(&sim, "Inventory").await["id"].clone();
    let task = first_page(&sim, "Tasks").await["id"].clone();
    let hosted = page["properties"]["Files"]["files"][0].clone();
    sim.advance_clock(Duration::minutes(3));
    let body = json!({"properties": {
        "Name": {"title": [
            {"type": "text", "text": {"content": "Restored ", "link": {"url": "https://example.com"}},
             "annotations": {"bold": true}, "plain_text": "ignored", "href": "ignored"},
            {"type": "equation", "equation": {"expression": "e=mc^2"}},
            {"type": "mention", "mention": {"type": "page", "page": {"id": task}}},
            {"type": "mention", "mention": {"type": "user", "user": {"id": people}}},
            {"type": "mention", "mention": {"type": "date", "date": {"start": "2026-03-01"}}}
        ]},
        "Text": {"rich_text": rt("plain")},
        "Number": {"number": 12.5},
        "Select": {"select": {"name": "Two"}},
        "Multi": {"multi_select": [{"name": "x"}, {"name": "z"}]},
        "Status": {"status": {"name": "Doing"}},
        "Date": {"date": {"start": "2026-02-01T10:30:00Z", "end": "2026-02-02T10:30:00Z"}},
        "People": {"people": [{"id": people}]},
        "Files": {"files": [hosted, {"name": "site", "type": "external", "external": {"url": "https://example.com/x"}}]},
        "Checkbox": {"checkbox": true},
        "URL": {"url": "https://example.com/u"},
        "Email": {"email": "a@example.com"},
        "Phone": {"phone_number": "+1 555 0100"},
        "Items": {"relation": [{"id": part}]},
        "Tasks": {"relation": [{"id": task}]},
        "Verification": {"verification": {"state": "verified", "date": {"start": "2026-01-05T09:00:00.000Z"}}},
        "Place": {"place": {"lat": 1.5, "lon": 2.5, "name": "Here"}}
    }});
    let r = patch(&sim, &format!("/v1/pages/{id}"), body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let served = get(&sim, &format!("/v1/pages/{id}")).await.body;
    let p = &served["properties"];
    let title = p["Name"]["title"].as_array().expect("title");
    assert_eq!(title.len(), 5);
    assert_eq!(title[0]["plain_text"], "Restored ");
    assert_eq!(title[0]["href"], "https://example.com");
    assert_eq!(title[0]["annotations"]["bold"], true);
    assert_eq!(title[0]["annotations"]["italic"], false);
    assert_eq!(title[1]["plain_text"], "e=mc^2");
    assert_eq!(title[2]["mention"]["page"]["id"], task);
    assert_eq!(title[3]["plain_text"], "@Ada Lovelace");
    assert_eq!(title[4]["mention"]["date"]["start"], "2026-03-01");
    assert_eq!(p["Number"]["number"], 12.5);
    assert_eq!(p["Select"]["select"]["name"], "Two");
    assert_eq!(p["Multi"]["multi_select"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["Status"]["status"]["name"], "Doing");
    assert_eq!(
        p["Date"]["date"],
        json!({"start": "2026-02-01T10:30:00.000+00:00", "end": "2026-02-02T10:30:00.000+00:00", "time_zone": null})
    );
    assert_eq!(p["People"]["people"][0]["id"], people);
    // A hosted file sent back is kept: the same key (URL path) and name; only the signed query
    // and the expiry time move with the render time.
    let kept = &p["Files"]["files"][0];
    let path = |f: &Value| {
        f["file"]["url"]
            .as_str()
            .unwrap_or("")
            .split('?')
            .next()
            .map(str::to_string)
    };
    assert_eq!(path(kept), path(&hosted), "a hosted file sent back is kept");
    assert_eq!(
        (&kept["name"], &kept["type"]),
        (&hosted["name"], &hosted["type"])
    );
    assert_eq!(kept["file"]["expiry_time"], "2026-01-05T10:03:00.000Z");
    assert_eq!(
        p["Files"]["files"][1]["external"]["url"],
        "https://example.com/x"
    );
    assert_eq!(p["Checkbox"]["checkbox"], true);
    assert_eq!(p["Email"]["email"], "a@example.com");
    assert_eq!(p["Items"]["relation"], json!([{"id": part}]));
    assert_eq!(p["Item count"]["rollup"]["number"], 1, "rollup recomputed");
    assert_eq!(p["Verification"]["verification"]["state"], "verified");
    assert_eq!(
        p["Verification"]["verification"]["verified_by"]["id"],
        bot_id(&sim).await
    );
    assert_eq!(p["Place"]["place"]["name"], "Here");
    // Stamped by the integration now, and seen by queries and the dump.
    let now = "2026-01-05T09:03:00.000Z";
    assert_eq!(served["last_edited_time"], now);
    assert_eq!(served["last_edited_by"]["id"], bot_id(&sim).await);
    assert_eq!(p["Edited"]["last_edited_time"], now);
    let dump = dump_entry(&sim, &id);
    assert_eq!(dump["page_full"]["properties"], served["properties"]);
    assert_eq!(dump["relations"]["Items"], json!([part]));
    let joined: String = title
        .iter()
        .filter_map(|t| t["plain_text"].as_str())
        .collect();
    assert_eq!(dump["title"], joined);
    // Clearing as Notion documents.
    let r = patch(
        &sim,
        &format!("/v1/pages/{id}"),
        json!({"properties": {
            "Text": {"rich_text": []}, "Number": {"number": null}, "Select": {"select": null},
            "Date": {"date": null}, "Checkbox": {"checkbox": false}, "Items": {"relation": []},
            "Place": {"place": null}, "Verification": {"verification": {"state": "unverified"}}
        }}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &r.body["properties"];
    assert_eq!(p["Text"]["rich_text"], json!([]));
    assert_eq!(p["Number"]["number"], Value::Null);
    assert_eq!(p["Select"]["select"], Value::Null);
    assert_eq!(p["Items"]["relation"], json!([]));
    assert_eq!(p["Item count"]["rollup"]["number"], 0);
    assert_eq!(p["Verification"]["verification"]["state"], "unverified");
    // Keys may be property ids, sent as served.
    let number_id = page["properties"]["Number"]["id"].as_str().expect("id");
    let r = patch(
        &sim,
        &format!("/v1/pages/{id}"),
        json!({"properties": {number_id: {"number": 7}}}),
    )
    .await;
    assert_eq!(r.body["properties"]["Number"]["number"], 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn read_only_and_mistyped_values_are_rejected_and_change_nothing() {
    let sim = full().await;
    let page = first_page(&sim, "Everything").await;
    let id = page["id"].as_str().expect("id").to_string();
    let path = format!("/v1/pages/{id}");
    for (name, value) in [
        ("F number", json!({"formula": {"number": 1}})),
        ("Item count", json!({"rollup": {"number": 3}})),
        (
            "Created",
            json!({"created_time": "2026-01-01T00:00:00.000Z"}),
        ),
        ("Created by", json!({"created_by": {"id": "x"}})),
        (
            "Edited",
            json!({"last_edited_time": "2026-01-01T00:00:00.000Z"}),
        ),
        ("Edited by", json!({"last_edited_by": {"id": "x"}})),
        ("ID", json!({"unique_id": {"number": 9}})),
        ("Button", json!({"button": {}})),
    ] {
        // A valid value beside it is not stored either.
        let r = set(&sim, &path, json!({"Number": {"number": 999}, name: value})).await;
        assert_invalid(&r, "body failed validation. Fix one:");
        assert_invalid(
            &r,
            &format!("body.properties.{name}.title should be defined"),
        );
    }
    let served = get(&sim, &path).await.body;
    assert_eq!(served["properties"]["Number"], page["properties"]["Number"]);
    assert_eq!(served["last_edited_time"], page["last_edited_time"]);
    let r = set(&sim, &path, json!({"Number": {"rich_text": rt("x")}})).await;
    assert_invalid(&r, "Number is expected to be number.");
    let r = set(&sim, &path, json!({"Nope": {"number": 1}})).await;
    assert_invalid(&r, "Nope is not a property that exists.");
    let r = set(&sim, &path, json!({"Number": {"number": "1"}})).await;
    assert_invalid(&r, "body.properties.Number.number should be a number");
    let r = set(&sim, &path, json!({"Name": {"title": [{"type": "mention", "mention": {"type": "link_preview", "link_preview": {"url": "https://x"}}}]}})).await;
    assert_invalid(
        &r,
        "body.properties.Name.title[0].mention.user should be defined",
    );
    let r = set(&sim, &path, json!({"Date": {"date": {"start": "2026-02-01T10:00:00+02:00", "time_zone": "Europe/Paris"}}})).await;
    assert_invalid(&r, "should not carry a UTC offset");
    let r = set(
        &sim,
        &path,
        json!({"Date": {"date": {"start": "2026-02-01T10:30Z"}}}),
    )
    .await;
    assert_eq!(
        r.body["properties"]["Date"]["date"]["start"], "2026-02-01T10:30:00.000+00:00",
        "{}",
        r.body
    );
    let r = set(
        &sim,
        &path,
        json!({"Date": {"date": {"start": "yesterday"}}}),
    )
    .await;
    assert_invalid(
        &r,
        "body.properties.Date.date.start should be a valid ISO 8601 date string",
    );
    let r = set(
        &sim,
        &path,
        json!({"Date": {"date": {"start": "2026-02-01T10:00:00", "time_zone": "Europe/Paris"}}}),
    )
    .await;
    assert_eq!(
        r.body["properties"]["Date"]["date"]["time_zone"], "Europe/Paris",
        "{}",
        r.body
    );
    let r = set(&sim, &path, json!({"Files": {"files": [{"name": "x", "type": "file", "file": {"url": "https://elsewhere/x"}}]}})).await;
    assert_invalid(
        &r,
        "body.properties.Files.files[0].external should be defined",
    );
    let r = set(
        &sim,
        &path,
        json!({"Files": {"files": [{"type": "external", "external": {"url": "https://x"}}]}}),
    )
    .await;
    assert_invalid(&r, "body.properties.Files.files[0].name should be defined");
    // Creating with a rollup or created time is an error too.
    let ds = ds_of(&sim, "Everything");
    let r = post(&sim, "/v1/pages", json!({"parent": {"data_source_id": ds}, "properties": {"Created": {"created_time": "2026-01-01T00:00:00.000Z"}}})).await;
    assert_invalid(&r, "Fix one:");
    assert!(
        sim.write_requests()
            .iter()
            .all(|w| w.status == 400 || w.status == 200)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn request_limits_are_notions() {
    let sim = full().await;
    let page = first_page(&sim, "Everything").await;
    let path = format!("/v1/pages/{}", page["id"].as_str().expect("id"));
    let long = |n: usize| "x".repeat(n);
    let cases = [
        (
            json!({"Text": {"rich_text": rt(&long(2001))}}),
            "body.properties.Text.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`.",
        ),
        (
            json!({"Text": {"rich_text": [{"text": {"content": "a", "link": {"url": long(2001)}}}]}}),
            "body.properties.Text.rich_text[0].text.link.url.length should be ≤ `2000`",
        ),
        (
            json!({"Text": {"rich_text": [{"type": "equation", "equation": {"expression": long(1001)}}]}}),
            "body.properties.Text.rich_text[0].equation.expression.length should be ≤ `1000`",
        ),
        (
            json!({"Text": {"rich_text": vec![json!({"text": {"content": "a"}}); 101]}}),
            "body.properties.Text.rich_text.length should be ≤ `100`, instead was `101`.",
        ),
        (
            json!({"Multi": {"multi_select": vec![json!({"name": "x"}); 101]}}),
            "body.properties.Multi.multi_select.length should be ≤ `100`",
        ),
        (
            json!({"People": {"people": vec![json!({"id": "x"}); 101]}}),
            "body.properties.People.people.length should be ≤ `100`",
        ),
        (
            json!({"URL": {"url": long(2001)}}),
            "body.properties.URL.url.length should be ≤ `2000`",
        ),
        (
            json!({"Email": {"email": long(201)}}),
            "body.properties.Email.email.length should be ≤ `200`",
        ),
        (
            json!({"Phone": {"phone_number": long(201)}}),
            "body.properties.Phone.phone_number.length should be ≤ `200`",
        ),
    ];
    for (props, message) in cases {
        let r = set(&sim, &path, json!(props)).await;
        assert_invalid(&r, message);
    }
    // At the limits the writes go through.
    let r = set(
        &sim,
        &path,
        json!({"Text": {"rich_text": rt(&long(2000))}, "Email": {"email": long(200)}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Relations: 100 targets per request, the whole list replaced.
    let parts: Vec<Value> = query_all(&sim, &ds_of(&sim, "Inventory"), json!({}))
        .await
        .iter()
        .map(|p| json!({"id": p["id"]}))
        .collect();
    let r = set(&sim, &path, json!({"Items": {"relation": parts[..101]}})).await;
    assert_invalid(
        &r,
        "body.properties.Items.relation.length should be ≤ `100`, instead was `101`.",
    );
    let r = set(&sim, &path, json!({"Items": {"relation": parts[..100]}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["Items"]["has_more"], true);
    let id = page["id"].as_str().expect("id");
    assert_eq!(
        dump_entry(&sim, id)["relations"]["Items"]
            .as_array()
            .map(Vec::len),
        Some(100)
    );
    assert_eq!(r.body["properties"]["Item count"]["rollup"]["number"], 100);
    sim.shutdown().await;
}

#[tokio::test]
async fn select_names_add_options_and_status_names_must_exist() {
    let sim = full().await;
    let ds = ds_of(&sim, "Everything");
    let page = first_page(&sim, "Everything").await;
    let path = format!("/v1/pages/{}", page["id"].as_str().expect("id"));
    let r = set(&sim, &path, json!({"Select": {"select": {"name": "Four"}}, "Multi": {"multi_select": [{"name": "w"}, {"name": "x"}]}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let schema = get(&sim, &format!("/v1/data_sources/{ds}")).await.body;
    let names = |prop: &str| -> Vec<String> {
        schema["properties"][prop]["select"]
            .as_array()
            .or(schema["properties"][prop]["multi_select"]["options"].as_array())
            .or(schema["properties"][prop]["select"]["options"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|o| o["name"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        names("Select").contains(&"Four".to_string()),
        "{:?}",
        names("Select")
    );
    assert!(names("Multi").contains(&"w".to_string()));
    let four = schema["properties"]["Select"]["select"]["options"]
        .as_array()
        .expect("options")
        .iter()
        .find(|o| o["name"] == "Four")
        .expect("Four")
        .clone();
    assert_eq!(r.body["properties"]["Select"]["select"]["id"], four["id"]);
    // By id too.
    let r = set(
        &sim,
        &path,
        json!({"Select": {"select": {"id": four["id"]}}}),
    )
    .await;
    assert_eq!(r.body["properties"]["Select"]["select"]["name"], "Four");
    let r = set(&sim, &path, json!({"Select": {"select": {"name": "a,b"}}})).await;
    assert_invalid(&r, "should not contain commas");
    // One new name in two properties of one request: each schema gains it.
    let r = set(&sim, &path, json!({"Select": {"select": {"name": "Five"}}, "Multi": {"multi_select": [{"name": "Five"}]}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let props = get(&sim, &format!("/v1/data_sources/{ds}")).await.body["properties"].clone();
    for (prop, kind) in [("Select", "select"), ("Multi", "multi_select")] {
        let options = props[prop][kind]["options"].as_array().expect("options");
        let five = options.iter().find(|o| o["name"] == "Five").expect("Five");
        let value = &r.body["properties"][prop][kind];
        let id = if kind == "select" {
            &value["id"]
        } else {
            &value[0]["id"]
        };
        assert_eq!(&five["id"], id, "{prop}");
    }
    let r = set(
        &sim,
        &path,
        json!({"Status": {"status": {"name": "Blocked"}}}),
    )
    .await;
    assert_invalid(&r, "Status option \"Blocked\" does not exist.");
    let r = set(&sim, &path, json!({"Status": {"status": null}})).await;
    assert_eq!(
        r.body["properties"]["Status"]["status"]["name"], "Todo",
        "{}",
        r.body
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn relations_check_targets_and_dual_relations_stay_two_way() {
    let sim = demo().await;
    let tasks = query_all(&sim, &ds_of(&sim, "Tasks"), json!({})).await;
    let sprints = query_all(&sim, &ds_of(&sim, "Sprints"), json!({})).await;
    let task = tasks[0]["id"].as_str().expect("id").to_string();
    let old = tasks[0]["properties"]["Sprint"]["relation"][0]["id"]
        .as_str()
        .expect("sprint")
        .to_string();
    let new = sprints
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .find(|s| *s != old)
        .expect("another sprint");
    // The schema points each side at the other.
    let tasks_schema = get(&sim, &format!("/v1/data_sources/{}", ds_of(&sim, "Tasks")))
        .await
        .body;
    let sprints_schema = get(
        &sim,
        &format!("/v1/data_sources/{}", ds_of(&sim, "Sprints")),
    )
    .await
    .body;
    assert_eq!(
        tasks_schema["properties"]["Sprint"]["relation"]["dual_property"]["synced_property_id"],
        sprints_schema["properties"]["Tasks"]["id"]
    );
    assert_eq!(
        tasks_schema["properties"]["Sprint"]["relation"]["dual_property"]["synced_property_name"],
        "Tasks"
    );
    let before_new = dump_entry(&sim, &new);
    let value = |s: &Value| {
        s["page"]["properties"]["Total value"]["rollup"]["number"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let task_value = tasks[0]["properties"]["Value"]["number"]
        .as_f64()
        .expect("value");
    sim.advance_clock(Duration::minutes(2));
    let r = patch(
        &sim,
        &format!("/v1/pages/{task}"),
        json!({"properties": {"Sprint": {"relation": [{"id": new}]}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after_new = dump_entry(&sim, &new);
    let after_old = dump_entry(&sim, &old);
    let contains = |e: &Value, id: &str| {
        e["relations"]["Tasks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == id))
    };
    assert!(contains(&after_new, &task), "the new sprint lists the task");
    assert!(
        !contains(&after_old, &task),
        "the old sprint no longer does"
    );
    assert_eq!(
        value(&after_new),
        value(&before_new) + task_value,
        "sum rollup follows"
    );
    assert_eq!(
        after_new["page"]["last_edited_time"],
        "2026-01-05T09:02:00.000Z"
    );
    // Writing the other side shows on this one.
    let r = patch(
        &sim,
        &format!("/v1/pages/{old}"),
        json!({"properties": {"Tasks": {"relation": [{"id": task}]}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = dump_entry(&sim, &task);
    assert_eq!(t["relations"]["Sprint"].as_array().map(Vec::len), Some(2));
    // Targets must be pages of the related data source.
    let doc = query_all(&sim, &ds_of(&sim, "Documentation"), json!({})).await[0]["id"].clone();
    let r = patch(
        &sim,
        &format!("/v1/pages/{task}"),
        json!({"properties": {"Sprint": {"relation": [{"id": doc}]}}}),
    )
    .await;
    assert_invalid(&r, "is not a page of the related data source");
    let r = patch(
        &sim,
        &format!("/v1/pages/{task}"),
        json!({"properties": {"Sprint": {"relation": [{"id": "nope"}]}}}),
    )
    .await;
    assert_invalid(
        &r,
        "body.properties.Sprint.relation[0].id should be a valid uuid",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn trash_and_restore_with_in_trash_and_the_archived_alias() {
    let sim = demo().await;
    let ds = ds_of(&sim, "Notes");
    let id = query_all(&sim, &ds, json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/v1/pages/{id}");
    let r = patch(&sim, &path, json!({"in_trash": true})).await;
    assert_eq!((r.status, r.body["in_trash"].clone()), (200, json!(true)));
    assert_eq!(dump_entry(&sim, &id)["in_trash"], true);
    assert!(
        query_all(&sim, &ds, json!({}))
            .await
            .iter()
            .all(|p| p["id"] != id.as_str())
    );
    let r = set(&sim, &path, json!({"URL": {"url": "https://x"}})).await;
    assert_invalid(&r, "You must unarchive");
    // Restoring and editing in one request is allowed.
    let r = patch(
        &sim,
        &path,
        json!({"in_trash": false, "properties": {"URL": {"url": "https://x"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["in_trash"], false);
    // `archived` is an alias up to 2025-09-03, rejected in 2026-03-11.
    for version in [V_OLD, V_DS] {
        let r = call(
            &sim,
            Method::PATCH,
            &path,
            Some(version),
            Some(json!({"archived": true})),
        )
        .await;
        assert_eq!(
            (
                r.status,
                r.body["archived"].clone(),
                r.body["in_trash"].clone()
            ),
            (200, json!(true), json!(true)),
            "{version}"
        );
        let r = call(
            &sim,
            Method::PATCH,
            &path,
            Some(version),
            Some(json!({"archived": false})),
        )
        .await;
        assert_eq!(r.body["in_trash"], false);
    }
    let r = patch(&sim, &path, json!({"archived": true})).await;
    assert_invalid(&r, "body.archived should be not present");
    assert_eq!(dump_entry(&sim, &id)["in_trash"], false);
    // A page is a block: DELETE trashes it.
    let r = delete(&sim, &format!("/v1/blocks/{id}")).await;
    assert_eq!(
        (r.status, r.body["type"].clone(), r.body["in_trash"].clone()),
        (200, json!("child_page"), json!(true))
    );
    assert_eq!(dump_entry(&sim, &id)["in_trash"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn child_pages_move_icon_and_cover() {
    let sim = demo().await;
    let docs = query_all(&sim, &ds_of(&sim, "Documentation"), json!({})).await;
    let parent = docs[0]["id"].as_str().expect("id").to_string();
    let r = post(
        &sim,
        "/v1/pages",
        json!({
            "parent": {"type": "page_id", "page_id": parent},
            "properties": {"title": {"title": rt("Sub page")}},
            "icon": {"type": "emoji", "emoji": "🧭"},
            "cover": {"type": "external", "external": {"url": "https://example.com/c.png"}},
            "children": [{"type": "paragraph", "paragraph": {"rich_text": rt("inside")}}]
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let child = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.body["parent"],
        json!({"type": "page_id", "page_id": parent})
    );
    assert_eq!(
        r.body["properties"]["title"]["title"][0]["plain_text"],
        "Sub page"
    );
    assert_eq!(r.body["icon"], json!({"type": "emoji", "emoji": "🧭"}));
    assert_eq!(
        r.body["cover"]["external"]["url"],
        "https://example.com/c.png"
    );
    // The parent's content ends with the child page; the child has its own content.
    let kids = get(&sim, &format!("/v1/blocks/{parent}/children"))
        .await
        .body;
    let last = kids["results"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("a block");
    assert_eq!(
        (last["id"].clone(), last["type"].clone()),
        (json!(child), json!("child_page"))
    );
    assert_eq!(last["child_page"]["title"], "Sub page");
    assert_eq!(last["has_children"], true);
    let dump = dump_entry(&sim, &child);
    assert_eq!(
        (dump["parent_type"].clone(), dump["parent_id"].clone()),
        (json!("page"), json!(parent))
    );
    assert_eq!(
        dump["blocks"][0]["block"]["paragraph"]["rich_text"][0]["plain_text"],
        "inside"
    );
    assert!(
        dump_entry(&sim, &parent)["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .any(|b| b["id"] == child.as_str())
    );
    let r = post(
        &sim,
        "/v1/comments",
        json!({"parent": {"page_id": child}, "rich_text": rt("on the child")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = sim.state_dump(V_NEW)["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter(|c| c["parent_id"] == child.as_str())
        .count();
    assert_eq!(listed, 1, "a child page's comments are listed once");
    // Only a title under a page; hosted files are not accepted as icons.
    let r = post(&sim, "/v1/pages", json!({"parent": {"page_id": parent}, "properties": {"Category": {"select": {"name": "Guide"}}}})).await;
    assert_invalid(&r, "Category is not a property that exists.");
    let r = patch(
        &sim,
        &format!("/v1/pages/{child}"),
        json!({"icon": {"type": "file", "file": {"url": "https://s3/x.png"}}}),
    )
    .await;
    assert_invalid(&r, "body.icon.emoji should be defined");
    let r = patch(
        &sim,
        &format!("/v1/pages/{child}"),
        json!({"icon": null, "cover": null}),
    )
    .await;
    assert_eq!(
        (r.body["icon"].clone(), r.body["cover"].clone()),
        (Value::Null, Value::Null)
    );
    // Move under another page, then into a data source, where it becomes a row.
    let other = docs[1]["id"].as_str().expect("id").to_string();
    let r = move_to(&sim, &child, json!({"type": "page_id", "page_id": other})).await;
    assert_eq!(r.body["parent"]["page_id"], other, "{}", r.body);
    assert!(
        !dump_entry(&sim, &parent)["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .any(|b| b["id"] == child.as_str())
    );
    let r = move_to(&sim, &other, json!({"type": "page_id", "page_id": child})).await;
    assert_invalid(&r, "under itself");
    let notes = ds_of(&sim, "Notes");
    let r = move_to(
        &sim,
        &child,
        json!({"type": "data_source_id", "data_source_id": notes}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["parent"]["data_source_id"], notes);
    assert_eq!(
        r.body["properties"]["Name"]["title"][0]["plain_text"],
        "Sub page"
    );
    assert!(
        query_all(&sim, &notes, json!({}))
            .await
            .iter()
            .any(|p| p["id"] == child.as_str())
    );
    let r = move_to(
        &sim,
        &child,
        json!({"type": "block_id", "block_id": parent}),
    )
    .await;
    assert_invalid(&r, "body.parent.page_id should be defined");
    sim.shutdown().await;
}
