//! Schema writes: databases with their initial data source, more data sources, property changes,
//! dual relations with their back-relations, rollups and formulas recomputed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Creates a database under the newest version; returns (database, its data source).
async fn create_db(sim: &notion_sim::SimHandle, body: Value) -> (Value, String) {
    let r = post(sim, "/v1/databases", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ds = r.body["data_sources"][0]["id"]
        .as_str()
        .expect("data source")
        .to_string();
    (r.body, ds)
}

async fn patch_ds(sim: &notion_sim::SimHandle, ds: &str, body: Value) -> Resp {
    patch(sim, &format!("/v1/data_sources/{ds}"), body).await
}

/// A page as served.
async fn served(sim: &notion_sim::SimHandle, id: &Value) -> Value {
    get(sim, &format!("/v1/pages/{}", id.as_str().expect("id")))
        .await
        .body
}

async fn schema(sim: &notion_sim::SimHandle, ds: &str) -> Value {
    let r = get(sim, &format!("/v1/data_sources/{ds}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["properties"].clone()
}

#[tokio::test]
async fn a_database_with_every_kind_of_initial_property() {
    let sim = demo().await;
    let notes = ds_of(&sim, "Notes");
    let sprints = ds_of(&sim, "Sprints");
    let page = query_all(&sim, &ds_of(&sim, "Documentation"), json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    sim.advance_clock(chrono::Duration::minutes(4));
    let (db, ds) = create_db(&sim, json!({
        "parent": {"type": "page_id", "page_id": page},
        "title": rt("Restored"),
        "description": rt("From a snapshot"),
        "icon": {"type": "emoji", "emoji": "📦"},
        "is_inline": true,
        "initial_data_source": {"properties": {
            "Name": {"title": {}},
            "Score": {"number": {"format": "percent"}},
            "Kind": {"select": {"options": [{"name": "a", "color": "red"}, {"name": "b"}]}},
            "Tags": {"multi_select": {"options": [{"name": "t1", "color": "blue", "description": "first"}]}},
            "Stage": {"status": {}},
            "Link": {"relation": {"data_source_id": notes, "type": "single_property", "single_property": {}}},
            "Pair": {"relation": {"data_source_id": sprints, "type": "dual_property", "dual_property": {"synced_property_name": "ignored"}}},
            "Count": {"rollup": {"function": "count", "relation_property_name": "Link", "rollup_property_name": "Name"}},
            "Calc": {"formula": {"expression": "prop(\"Score\") * 2"}},
            "Label": {"formula": {"expression": "prop(\"Name\") + \"!\""}},
            "Code": {"unique_id": {"prefix": "RS"}},
            "Btn": {"button": {}}
        }}
    }))
    .await;
    assert_eq!(db["parent"], json!({"type": "page_id", "page_id": page}));
    assert_eq!(db["is_inline"], true);
    assert_eq!(db["icon"]["emoji"], "📦");
    assert_eq!(db["description"][0]["plain_text"], "From a snapshot");
    let db_id = db["id"].as_str().expect("id").to_string();
    let props = schema(&sim, &ds).await;
    assert_eq!(props["Name"]["id"], "title");
    assert_eq!(props["Score"]["number"]["format"], "percent");
    assert_eq!(props["Kind"]["select"]["options"][0]["color"], "red");
    assert_eq!(
        props["Tags"]["multi_select"]["options"][0]["description"],
        "first"
    );
    let stage: Vec<&str> = props["Stage"]["status"]["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(stage, ["Not started", "In progress", "Done"]);
    let groups: Vec<&str> = props["Stage"]["status"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(groups, ["To-do", "In progress", "Complete"]);
    assert_eq!(props["Link"]["relation"]["type"], "single_property");
    assert!(props.get("Btn").is_none(), "buttons are not created");
    assert_eq!(props["Count"]["rollup"]["relation_property_name"], "Link");
    assert_eq!(
        props["Count"]["rollup"]["relation_property_id"],
        props["Link"]["id"]
    );
    assert_eq!(props["Count"]["rollup"]["rollup_property_id"], "title");
    let expr = props["Calc"]["formula"]["expression"]
        .as_str()
        .expect("expr");
    assert!(
        expr.contains(&format!(
            "{{{{notion:block_property:{}:",
            props["Score"]["id"].as_str().expect("id")
        )),
        "{expr}"
    );
    // The dual relation made its back-relation on Sprints, named as Notion names it.
    let target = get(&sim, &format!("/v1/data_sources/{sprints}")).await.body;
    assert_eq!(
        target["last_edited_time"], "2026-01-05T09:04:00.000Z",
        "the target's schema changed"
    );
    let back = schema(&sim, &sprints).await;
    let related = &back["Related to Restored (Pair)"];
    assert_eq!(related["type"], "relation", "{back}");
    assert_eq!(related["relation"]["data_source_id"], ds);
    assert_eq!(
        related["relation"]["dual_property"]["synced_property_id"],
        props["Pair"]["id"]
    );
    assert_eq!(
        props["Pair"]["relation"]["dual_property"]["synced_property_id"],
        related["id"]
    );
    assert_eq!(
        props["Pair"]["relation"]["dual_property"]["synced_property_name"],
        "Related to Restored (Pair)"
    );
    // Renamed through the target's synced property id.
    let rename =
        json!({"properties": {related["id"].as_str().expect("id"): {"name": "Restored items"}}});
    let r = patch_ds(&sim, &sprints, rename).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        schema(&sim, &ds).await["Pair"]["relation"]["dual_property"]["synced_property_name"],
        "Restored items"
    );
    // The parent page shows the database; the dump knows its parent.
    let kids = get(&sim, &format!("/v1/blocks/{page}/children")).await.body;
    let last = kids["results"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("block");
    assert_eq!(
        (last["id"].clone(), last["type"].clone()),
        (json!(db_id), json!("child_database"))
    );
    assert_eq!(last["child_database"]["title"], "Restored");
    let dump = sim.state_dump(V_NEW);
    let entry = dump["databases"]
        .as_array()
        .expect("dbs")
        .iter()
        .find(|d| d["id"] == db_id.as_str())
        .cloned()
        .expect("db");
    assert_eq!(entry["parent_page_id"], page);
    // Rows compute formulas and rollups; the back-relation follows.
    let note = query_all(&sim, &notes, json!({})).await[0]["id"].clone();
    let sprint = query_all(&sim, &sprints, json!({})).await[0]["id"].clone();
    let r = post(&sim, "/v1/pages", json!({"parent": {"data_source_id": ds}, "properties": {
        "Name": {"title": rt("Row")}, "Score": {"number": 3}, "Link": {"relation": [{"id": note}]},
        "Pair": {"relation": [{"id": sprint}]}, "Stage": {"status": {"name": "In progress"}}
    }}))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let row = &r.body["properties"];
    assert_eq!(
        row["Calc"]["formula"],
        json!({"type": "number", "number": 6.0})
    );
    assert_eq!(
        row["Label"]["formula"],
        json!({"type": "string", "string": "Row!"})
    );
    assert_eq!(row["Count"]["rollup"]["number"], 1);
    assert_eq!(
        row["Code"]["unique_id"],
        json!({"prefix": "RS", "number": 1})
    );
    let s = dump_entry(&sim, sprint.as_str().expect("id"));
    assert_eq!(s["relations"]["Restored items"], json!([r.body["id"]]));
    sim.shutdown().await;
}

#[tokio::test]
async fn schema_requests_notion_rejects() {
    let sim = demo().await;
    let tasks = ds_of(&sim, "Tasks");
    let tasks_db = sim.database_id_by_title("Tasks").expect("db");
    let body = |props: Value| json!({"parent": {"type": "workspace", "workspace": true}, "title": rt("Bad"), "initial_data_source": {"properties": props}});
    let cases = [
        (
            json!({"N": {"title": {}}, "F": {"formula": {"expression": "prop(\"Missing\") + 1"}}}),
            "references a property that does not exist: Missing",
        ),
        (
            json!({"N": {"title": {}}, "R": {"rollup": {"function": "total", "relation_property_name": "N", "rollup_property_name": "N"}}}),
            "body.properties.R.rollup.function should be one of",
        ),
        (
            json!({"N": {"title": {}}, "R": {"rollup": {"function": "count", "relation_property_name": "N", "rollup_property_name": "N"}}}),
            "is not a relation property",
        ),
        (
            json!({"N": {"title": {}}, "L": {"relation": {"database_id": tasks_db, "single_property": {}}}}),
            "body.properties.L.relation.data_source_id should be defined",
        ),
        (
            json!({"N": {"title": {}}, "S": {"select": {"options": [{"name": "a,b"}]}}}),
            "should not contain commas",
        ),
        (json!({"X": {"number": {}}}), "exactly one title property"),
        (
            json!({"A": {"title": {}}, "B": {"title": {}}}),
            "exactly one title property",
        ),
    ];
    let before = sim.databases().len();
    for (props, needle) in cases {
        let r = post(&sim, "/v1/databases", body(props)).await;
        assert_invalid(&r, needle);
    }
    assert_eq!(sim.databases().len(), before, "nothing was created");
    // Tokens of another data source's properties do not resolve in a new one.
    let roi = schema(&sim, &tasks).await["ROI"]["formula"]["expression"].clone();
    let r = post(
        &sim,
        "/v1/databases",
        body(json!({"N": {"title": {}}, "F": {"formula": {"expression": roi}}})),
    )
    .await;
    assert_invalid(&r, "references a property that does not exist");
    // A two-way relation of a data source to itself answers 500.
    let r = patch_ds(&sim, &tasks, json!({"properties": {"Self": {"relation": {"data_source_id": tasks, "dual_property": {}}}}})).await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (500, json!("internal_server_error"))
    );
    assert!(schema(&sim, &tasks).await.get("Self").is_none());
    let r = patch_ds(&sim, &tasks, json!({"properties": {"Nope": null}})).await;
    assert_invalid(&r, "Nope is not a property that exists.");
    sim.shutdown().await;
}

#[tokio::test]
async fn more_data_sources_and_property_changes() {
    let sim = demo().await;
    let sprints = ds_of(&sim, "Sprints");
    let (db, ds) = create_db(
        &sim,
        json!({
            "parent": {"type": "workspace", "workspace": true}, "title": rt("Board"),
            "initial_data_source": {"properties": {
                "Name": {"title": {}},
                "Kind": {"select": {"options": [{"name": "a"}, {"name": "b"}]}},
                "Pair": {"relation": {"data_source_id": sprints, "dual_property": {}}}
            }}
        }),
    )
    .await;
    let db_id = db["id"].as_str().expect("id").to_string();
    let r = post(&sim, "/v1/data_sources", json!({"parent": {"type": "database_id", "database_id": db_id}, "title": rt("Board 2027"), "properties": {"Title": {"title": {}}, "Due": {"date": {}}}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "data_source");
    assert_eq!(r.body["properties"]["Due"]["type"], "date");
    let second = r.body["id"].clone();
    let container = get(&sim, &format!("/v1/databases/{db_id}")).await.body;
    assert_eq!(
        container["data_sources"][1],
        json!({"id": second, "name": "Board 2027"})
    );
    let old = call(
        &sim,
        Method::GET,
        &format!("/v1/databases/{db_id}"),
        Some(V_OLD),
        None,
    )
    .await;
    assert_eq!(
        old.body["additional_data"]["error_type"],
        "multiple_data_sources_for_database"
    );
    let r = call(
        &sim,
        Method::POST,
        "/v1/data_sources",
        Some(V_OLD),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.body["code"], "invalid_request_url");
    let r = post(&sim, "/v1/data_sources", json!({"parent": {"database_id": "0123456789abcdef0123456789abcdef"}, "properties": {"T": {"title": {}}}})).await;
    assert_eq!(r.status, 404);
    // A row with a select value, then options changed: kept ids stay, an omitted option goes with
    // its values.
    let row = post(&sim, "/v1/pages", json!({"parent": {"data_source_id": ds}, "properties": {"Name": {"title": rt("r")}, "Kind": {"select": {"name": "b"}}}})).await.body;
    let before = schema(&sim, &ds).await;
    let a_id = before["Kind"]["select"]["options"][0]["id"].clone();
    let r = patch_ds(
        &sim,
        &ds,
        json!({"properties": {
            "Kind": {"select": {"options": [{"name": "a"}, {"name": "c", "color": "green"}]}},
            "Points": {"number": {"format": "number"}},
            "Name": {"name": "Title"}
        }}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = &r.body["properties"];
    assert_eq!(after["Kind"]["select"]["options"][0]["id"], a_id);
    assert_eq!(after["Kind"]["select"]["options"][1]["name"], "c");
    assert_eq!(after["Points"]["type"], "number");
    assert_eq!(after["Title"]["id"], "title");
    let page = get(
        &sim,
        &format!("/v1/pages/{}", row["id"].as_str().expect("id")),
    )
    .await
    .body;
    assert_eq!(page["properties"]["Kind"]["select"], Value::Null);
    assert_eq!(page["properties"]["Title"]["title"][0]["plain_text"], "r");
    // Status options may be added later; they land in To-do, the groups stay.
    let tasks = ds_of(&sim, "Tasks");
    let old = schema(&sim, &tasks).await["Status"]["status"].clone();
    let mut options = old["options"].as_array().cloned().expect("options");
    options.push(json!({"name": "Blocked", "color": "red"}));
    let r = patch_ds(
        &sim,
        &tasks,
        json!({"properties": {"Status": {"status": {"options": options}}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = &r.body["properties"]["Status"]["status"];
    let blocked = new["options"][3]["id"].clone();
    assert_eq!(new["options"][3]["name"], "Blocked");
    assert_eq!(new["groups"][0]["id"], old["groups"][0]["id"]);
    assert!(
        new["groups"][0]["option_ids"]
            .as_array()
            .expect("ids")
            .contains(&blocked)
    );
    assert_eq!(new["groups"][2], old["groups"][2]);
    // Removing one side of a dual relation removes the other.
    assert!(
        schema(&sim, &sprints)
            .await
            .get("Related to Board (Pair)")
            .is_some()
    );
    let r = patch_ds(&sim, &ds, json!({"properties": {"Pair": null}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        schema(&sim, &sprints)
            .await
            .get("Related to Board (Pair)")
            .is_none()
    );
    let r = patch_ds(&sim, &ds, json!({"properties": {"Title": null}})).await;
    assert_invalid(&r, "Cannot delete the title property.");
    sim.shutdown().await;
}

#[tokio::test]
async fn old_version_schema_writes_go_through_databases() {
    let sim = demo().await;
    let notes_db = sim.database_id_by_title("Notes").expect("db");
    let r = call(&sim, Method::POST, "/v1/databases", Some(V_OLD), Some(json!({
        "parent": {"type": "workspace", "workspace": true}, "title": rt("Legacy"),
        "properties": {"Name": {"title": {}}, "Note": {"relation": {"database_id": notes_db, "single_property": {}}}}
    })))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["properties"]["Note"]["relation"]["database_id"],
        notes_db
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/databases/{id}"),
        Some(V_OLD),
        Some(json!({"title": rt("Legacy 2"), "properties": {"Size": {"number": {}}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"][0]["plain_text"], "Legacy 2");
    assert_eq!(r.body["properties"]["Size"]["type"], "number");
    let r = patch(
        &sim,
        &format!("/v1/databases/{id}"),
        json!({"properties": {"More": {"number": {}}}}),
    )
    .await;
    assert_invalid(&r, "body.properties should be not present");
    let r = patch(
        &sim,
        &format!("/v1/databases/{id}"),
        json!({"title": rt("Legacy 3"), "icon": {"emoji": "🗄"}}),
    )
    .await;
    assert_eq!(
        (
            r.body["title"][0]["plain_text"].clone(),
            r.body["icon"]["emoji"].clone()
        ),
        (json!("Legacy 3"), json!("🗄"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_formulas_and_rollups_recompute_when_recreated() {
    let sim = demo().await;
    let tasks = ds_of(&sim, "Tasks");
    let (_, projects) = create_db(&sim, json!({
        "parent": {"type": "workspace", "workspace": true}, "title": rt("Copy"),
        "initial_data_source": {"properties": {
            "Name": {"title": {}}, "Value": {"number": {}}, "Effort": {"number": {}},
            "ROI": {"formula": {"expression": "round(prop(\"Value\")/(prop(\"Effort\")*400)*10)/10"}},
            "Work": {"relation": {"data_source_id": tasks, "single_property": {}}},
            "Total": {"rollup": {"function": "sum", "relation_property_name": "Work", "rollup_property_name": "Value"}},
            "Top": {"rollup": {"function": "max", "relation_property_name": "Work", "rollup_property_name": "Value"}}
        }}
    }))
    .await;
    let rows = query_all(&sim, &tasks, json!({})).await;
    let (a, b) = (&rows[0], &rows[1]);
    let num = |p: &Value, k: &str| p["properties"][k]["number"].as_f64().expect("number");
    let r = post(&sim, "/v1/pages", json!({"parent": {"data_source_id": projects}, "properties": {
        "Name": {"title": rt("c")}, "Value": {"number": num(a, "Value")}, "Effort": {"number": num(a, "Effort")},
        "Work": {"relation": [{"id": a["id"]}, {"id": b["id"]}]}
    }}))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["properties"]["ROI"]["formula"],
        a["properties"]["ROI"]["formula"]
    );
    assert_eq!(
        r.body["properties"]["Total"]["rollup"]["number"].as_f64(),
        Some(num(a, "Value") + num(b, "Value"))
    );
    assert_eq!(
        r.body["properties"]["Top"]["rollup"]["number"].as_f64(),
        Some(num(a, "Value").max(num(b, "Value")))
    );
    // A change of the related page shows in the rollup.
    let r2 = patch(
        &sim,
        &format!("/v1/pages/{}", a["id"].as_str().expect("id")),
        json!({"properties": {"Value": {"number": 1_000_000}}}),
    )
    .await;
    assert_eq!(r2.status, 200);
    let again = served(&sim, &r.body["id"]).await;
    assert_eq!(
        again["properties"]["Top"]["rollup"]["number"].as_f64(),
        Some(1_000_000.0)
    );
    // Renaming a property keeps formulas working (they hold ids).
    let r3 = patch_ds(
        &sim,
        &projects,
        json!({"properties": {"Value": {"name": "Worth"}}}),
    )
    .await;
    assert_eq!(r3.status, 200);
    let again = served(&sim, &r.body["id"]).await;
    assert_eq!(
        again["properties"]["ROI"]["formula"],
        a["properties"]["ROI"]["formula"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn removing_a_property_a_formula_uses_changes_the_schema_and_every_page() {
    let sim = demo().await;
    let db = sim
        .databases()
        .into_iter()
        .find(|d| d.title == "Tasks")
        .expect("a Tasks database");
    let ds = db.data_sources[0].id.clone();
    let before = schema(&sim, &ds).await;
    assert!(before.get("Effort").is_some(), "{before}");
    // A patch that fails as a whole changes no page either.
    let title = before
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["type"] == "title")
        .map(|(name, _)| name.clone())
        .unwrap();
    let refused = patch_ds(
        &sim,
        &ds,
        json!({"properties": {"Effort": null, title.as_str(): null}}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let kept = sim.state_dump(V_NEW);
    let with_effort = kept["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["data_source_id"] == Value::String(ds.clone()))
        .filter(|p| p["page_full"]["properties"]["Effort"]["number"].is_number())
        .count();
    assert!(with_effort > 0, "page values survive a refused patch");
    assert!(sim.remove_property(&ds, "Effort"));
    let after = schema(&sim, &ds).await;
    assert!(after.get("Effort").is_none(), "{after}");
    assert_ne!(before, after);
    let dump = sim.state_dump(V_NEW);
    for page in dump["pages"].as_array().unwrap() {
        if page["data_source_id"] == Value::String(ds.clone()) {
            assert!(page["page_full"]["properties"].get("Effort").is_none());
        }
    }
}
