//! `restore --into-page`: whole databases of a snapshot recreated under a page, compared with the
//! workspace they were synced from (schemas, every page's writable and computed values, content trees,
//! comments), on both API generations.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use notion_sim::{SimConfig, WorkspaceKind};
use notion_sync::restore::content;
use notion_sync::restore::write::{self, Writable};
use serde_json::{Value, json};

use crate::support::{World, assert_exit, dump_pages, stdout};

/// Types a schema request cannot create (and the simulator's unknown type).
const NOT_CREATABLE: &[&str] = &["button", "verification", "hologram"];

/// A synced Full workspace with a formula that uses a formula after it, a text over 2,000 characters, a
/// one-way relation to 150 pages and (`heavy`) a page of 5,000 blocks; returns it with the page the
/// databases are rebuilt under.
async fn synced(version: &str, heavy: bool) -> (World, String) {
    let mut w = World::with_config(SimConfig {
        seed: 7,
        workspace: WorkspaceKind::Full,
        pages: 160,
        ..SimConfig::default()
    })
    .await;
    w.set("NOTION_VERSION", version);
    w.set("NOTION_SYNC_INCLUDE", "content,comments,users");
    if version == "2022-06-28" {
        // A database of two data sources cannot be read under 2022-06-28.
        w.env.remove("NOTION_PROJECTS_DB_ID");
    }
    let every = w.database("Everything").data_sources[0].id.clone();
    // Listed before "F number" (schemas are ordered by name): created after it all the same.
    assert!(w.sim.add_property(
        &every,
        "Doubled",
        json!({"formula": {"expression": "prop(\"F number\") * 2 + prop(\"Number\")"}})
    ));
    let dump = w.sim.state_dump(version);
    let pages: Vec<&Value> = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["data_source_id"] == every.as_str())
        .collect();
    let long = "Lorem ipsum dolor sit amet. ".repeat(200);
    assert!(
        w.sim
            .set_page_value(pages[4]["id"].as_str().unwrap(), "Text", json!(long))
    );
    // A one-way relation to more pages than one request carries.
    let tasks = w.database("Tasks").data_sources[0].id.clone();
    let many: Vec<Value> = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["data_source_id"] == tasks.as_str())
        .take(150)
        .map(|p| json!({"id": p["id"]}))
        .collect();
    assert_eq!(many.len(), 150);
    assert!(
        w.sim
            .set_page_value(pages[6]["id"].as_str().unwrap(), "Tasks", json!(many))
    );
    if heavy {
        let big = pages[5]["id"].as_str().unwrap();
        assert!(w.sim.generate_content(big, 5000, 3) >= 5000);
    }
    assert_exit(&w.run(&["sync"]).await, 0);
    let notes = w.database("Notes").data_sources[0].id.clone();
    let parent = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["data_source_id"] == notes.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (w, parent)
}

/// Snapshot id → new id of every database, data source and page the rebuild created (from its journal).
async fn mapping(out: &std::process::Output, w: &World) -> HashMap<String, String> {
    let text = stdout(out);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("restore "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the restore id is printed")
        .trim_end_matches(':')
        .to_string();
    let rows = w.sink().read_restore_log(&id).await.unwrap();
    rows.into_iter()
        .filter(|r| {
            matches!(
                r.action.as_str(),
                "create_database" | "create_data_source" | "create_page" | "block_create"
            )
        })
        .filter_map(|r| Some((r.old_id, r.new_id?)))
        .collect()
}

/// Property name → (type, option names) of a data source object.
fn schema(ds: &Value) -> BTreeMap<String, (String, BTreeSet<String>)> {
    ds["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| !NOT_CREATABLE.contains(&p["type"].as_str().unwrap()))
        .map(|(name, p)| {
            let kind = p["type"].as_str().unwrap().to_string();
            let options = p[&kind]["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o["name"].as_str().unwrap().to_string())
                .collect();
            (name.clone(), (kind, options))
        })
        .collect()
}

/// Asserts every database is back under `parent` with its data sources' property names, types and
/// options (status options: the snapshot's among Notion's defaults).
fn assert_schemas(before: &Value, after: &Value, map: &HashMap<String, String>, parent: &str) {
    let now: HashMap<&str, &Value> = after["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d))
        .collect();
    let mut checked = 0;
    for db in before["databases"].as_array().unwrap() {
        let Some(new) = map.get(db["id"].as_str().unwrap()) else {
            continue;
        };
        let got = now[new.as_str()];
        assert_eq!(
            got["parent_page_id"], parent,
            "{} is under the page",
            db["title"]
        );
        let sources = db["data_sources"].as_array().unwrap();
        if sources.len() == 1 {
            assert_eq!(got["title"], db["title"]);
        }
        for s in sources {
            // Under 2022-06-28 a database is its only data source: the journal maps databases.
            let got_sources = got["data_sources"].as_array().unwrap();
            let got_ds = match map.get(s["id"].as_str().unwrap()) {
                Some(new_ds) => got_sources.iter().find(|d| d["id"] == new_ds.as_str()),
                None => got_sources.first().filter(|_| sources.len() == 1),
            }
            .unwrap_or_else(|| panic!("data source {} is in {}", s["name"], db["title"]));
            assert_eq!(got_ds["name"], s["name"]);
            let (want, have) = (schema(&s["data_source"]), schema(&got_ds["data_source"]));
            assert_eq!(
                want.keys().collect::<Vec<_>>(),
                have.keys().collect::<Vec<_>>(),
                "properties of {}",
                s["name"]
            );
            for (name, (kind, options)) in &want {
                let (got_kind, got_options) = &have[name];
                assert_eq!(kind, got_kind, "type of {name}");
                if kind == "status" {
                    assert!(options.is_subset(got_options), "{name}: {got_options:?}");
                } else {
                    assert_eq!(options, got_options, "options of {name}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} databases compared");
}

/// Writable values (hosted files left out: they are not uploaded again) and computed values (formulas,
/// rollups; unique ids by prefix) of a rendered page, by property name.
fn values(page: &Value, remap: &dyn Fn(&str) -> String) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, p) in page["properties"].as_object().unwrap() {
        let kind = p["type"].as_str().unwrap();
        let v = match (kind, write::property(p, remap)) {
            ("files", Writable::Value(Value::Array(files))) => {
                Value::Array(files.into_iter().filter(|f| f["type"] != "file").collect())
            }
            ("verification", _) => continue,
            (_, Writable::Value(v)) => v,
            ("formula" | "rollup", _) => p[kind].clone(),
            ("unique_id", _) => p[kind]["prefix"].clone(),
            _ => continue,
        };
        out.insert(name.clone(), v);
    }
    out
}

/// Relation target sets by property name.
fn relations(page: &Value, remap: &dyn Fn(&str) -> String) -> BTreeMap<String, BTreeSet<String>> {
    page["relations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let ids = v.as_array().unwrap();
            (
                k.clone(),
                ids.iter().map(|x| remap(x.as_str().unwrap())).collect(),
            )
        })
        .collect()
}

/// A page's content as (depth, type, body), without the blocks the API cannot create and what is
/// under them.
fn tree(page: &Value, remap: &dyn Fn(&str) -> String) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    let mut skipped_below: Option<i64> = None;
    for b in page["blocks"].as_array().unwrap() {
        let depth = b["depth"].as_i64().unwrap();
        if skipped_below.is_some_and(|d| depth > d) {
            continue;
        }
        skipped_below = None;
        match content::body(&b["block"], remap) {
            Ok(body) => out.push((depth, b["type"].as_str().unwrap().to_string(), body)),
            Err(_) => skipped_below = Some(depth),
        }
    }
    out
}

/// Asserts every live page of the rebuilt databases is there anew with its values, content and
/// comments.
fn assert_pages(before: &Value, after: &Value, map: &HashMap<String, String>) -> usize {
    let remap = |id: &str| map.get(id).cloned().unwrap_or_else(|| id.to_string());
    let same = |id: &str| id.to_string();
    let now = dump_pages(after);
    let mut checked = 0;
    for page in before["pages"].as_array().unwrap() {
        let db = page["database_id"].as_str().unwrap_or_default();
        if page["in_trash"] == true || page["parent_type"] != "data_source" || !map.contains_key(db)
        {
            continue;
        }
        let old = page["id"].as_str().unwrap();
        let new = map
            .get(old)
            .unwrap_or_else(|| panic!("page {old} was created anew"));
        let got = now[new.as_str()];
        assert_eq!(
            got["database_id"],
            map[db].as_str(),
            "{old} is in the new database"
        );
        if let Some(ds) = map.get(page["data_source_id"].as_str().unwrap()) {
            assert_eq!(
                got["data_source_id"],
                ds.as_str(),
                "{old} is in the new data source"
            );
        }
        assert_eq!(
            values(&page["page_full"], &remap),
            values(&got["page_full"], &same),
            "values of {old}"
        );
        assert_eq!(
            relations(page, &remap),
            relations(got, &same),
            "relations of {old}"
        );
        assert_eq!(tree(page, &remap), tree(got, &same), "content of {old}");
        checked += 1;
    }
    checked
}

/// Asserts every comment of a rebuilt page is on its new page or block, by the original author's name.
fn assert_comments(before: &Value, after: &Value, map: &HashMap<String, String>) -> usize {
    let mut checked = 0;
    for c in before["comments"].as_array().unwrap() {
        let Some(parent) = map.get(c["parent_id"].as_str().unwrap()) else {
            continue;
        };
        let text: String = c["comment"]["rich_text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["plain_text"].as_str().unwrap_or_default())
            .collect();
        let author = c["comment"]["display_name"]["resolved_name"].clone();
        let found = after["comments"].as_array().unwrap().iter().any(|n| {
            let got: String = n["comment"]["rich_text"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["plain_text"].as_str().unwrap_or_default())
                .collect();
            n["parent_id"] == parent.as_str()
                && got.starts_with(&text)
                && got.contains(c["comment"]["created_time"].as_str().unwrap())
                && n["comment"]["display_name"]["type"] == "custom"
                && n["comment"]["display_name"]["resolved_name"] == author
        });
        assert!(found, "comment {} is on {parent}", c["id"]);
        checked += 1;
    }
    checked
}

async fn rebuild(version: &str) {
    let (w, parent) = synced(version, true).await;
    let before = w.sim.state_dump(version);
    w.sim.clear_request_log();
    let dry = w.run(&["restore", "--into-page", &parent]).await;
    assert_exit(&dry, 0);
    assert!(
        w.sim.write_requests().is_empty(),
        "a dry run writes nothing: {:?}",
        w.sim.write_requests()
    );
    for phase in [
        "databases",
        "relations",
        "rollups",
        "formulas",
        "pages",
        "content",
    ] {
        assert!(stdout(&dry).contains(phase), "{phase}: {}", stdout(&dry));
    }
    let started = std::time::Instant::now();
    let applied = w
        .run(&["restore", "--into-page", &parent, "--comments", "--apply"])
        .await;
    assert_exit(&applied, 0);
    eprintln!("{version}: rebuilt in {:?}", started.elapsed());
    let text = stdout(&applied);
    assert!(text.contains("button"), "skipped types are listed: {text}");
    assert!(
        text.contains("cannot be created"),
        "uncreatable blocks are listed: {text}"
    );
    let map = mapping(&applied, &w).await;
    let after = w.sim.state_dump(version);
    assert_schemas(&before, &after, &map, &parent);
    let pages = assert_pages(&before, &after, &map);
    assert!(pages > 200, "only {pages} pages compared");
    let comments = assert_comments(&before, &after, &map);
    assert!(comments > 3, "only {comments} comments compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilds_whole_databases_under_a_page_on_the_newest_api() {
    rebuild("2026-03-11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilds_whole_databases_under_a_page_on_2022_06_28() {
    rebuild("2022-06-28").await;
}

/// How many creates a rebuild of the whole workspace sends before its comments: its databases, their
/// data sources but the first, and their live pages.
fn creates_before_comments(before: &Value) -> usize {
    let dbs = before["databases"].as_array().unwrap();
    let sources: usize = dbs
        .iter()
        .map(|d| d["data_sources"].as_array().unwrap().len())
        .sum();
    let pages = before["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in_trash"] != true && p["parent_type"] == "data_source")
        .count();
    sources + pages
}

/// Asserts nothing was made twice: as many databases under `parent`, pages in them and comments on
/// them as the snapshot had.
fn assert_made_once(before: &Value, after: &Value, map: &HashMap<String, String>, parent: &str) {
    let rebuilt: Vec<&Value> = before["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| map.contains_key(d["id"].as_str().unwrap()))
        .collect();
    let under: Vec<&str> = after["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["parent_page_id"] == parent)
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(under.len(), rebuilt.len(), "databases under the page");
    let live_in = |dump: &Value, dbs: &[&str]| {
        dump["pages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in_trash"] != true && dbs.contains(&p["database_id"].as_str().unwrap()))
            .count()
    };
    let old: Vec<&str> = rebuilt.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(live_in(after, &under), live_in(before, &old), "pages made");
    let on = |dump: &Value, parents: &dyn Fn(&str) -> bool| {
        dump["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| parents(c["parent_id"].as_str().unwrap()))
            .count()
    };
    let made: BTreeSet<&str> = map.values().map(String::as_str).collect();
    assert_eq!(
        on(after, &|p| made.contains(p)),
        on(before, &|p| map.contains_key(p)),
        "comments made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rebuild_resumes_without_creating_anything_twice() {
    let version = "2026-03-11";
    for point in [
        "restore.after_create#1",
        "restore.after_create#9",
        "restore.after_create#60",
        "restore.before_append#4",
        "comment",
    ] {
        let (mut w, parent) = synced(version, false).await;
        let before = w.sim.state_dump(version);
        let point = match point {
            // Databases, data sources and pages are created before comments: the second comment.
            "comment" => format!(
                "restore.after_create#{}",
                creates_before_comments(&before) + 2
            ),
            p => p.to_string(),
        };
        eprintln!("killed at {point}");
        let args = ["restore", "--into-page", &parent, "--comments", "--apply"];
        let id = crate::crash::kill_restore_at(&mut w, &args, &point).await;
        let resumed = w
            .run(&[
                "restore",
                "--into-page",
                &parent,
                "--comments",
                "--resume",
                &id,
                "--apply",
            ])
            .await;
        assert_exit(&resumed, 0);
        let map = mapping(&resumed, &w).await;
        let after = w.sim.state_dump(version);
        assert_made_once(&before, &after, &map, &parent);
        assert_schemas(&before, &after, &map, &parent);
        assert!(assert_pages(&before, &after, &map) > 100, "{point}");
        assert!(assert_comments(&before, &after, &map) > 3, "{point}");
    }
}
