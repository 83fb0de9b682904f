//! Restores in place, round trips on the simulator: sync, change Notion (edits, trash, purge, content),
//! sync again, restore the first sync's version, and compare Notion's state with the snapshot's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use notion_sim::{SimConfig, WorkspaceKind};
use notion_sync::restore::content;
use notion_sync::restore::write::{self, Writable};
use serde_json::Value;

use crate::support::{World, assert_exit, stdout};

/// A synced Demo workspace (content included) under `version`, with the pages table's version after it.
async fn synced(seed: u64, version: &str) -> (World, u64) {
    let mut w = World::with_config(SimConfig {
        seed,
        workspace: WorkspaceKind::Demo,
        ..SimConfig::default()
    })
    .await;
    w.set("NOTION_VERSION", version);
    w.set("NOTION_SYNC_INCLUDE", "content");
    assert_exit(&w.run(&["sync"]).await, 0);
    let v = w
        .sink()
        .table_version("notion_raw_pages")
        .await
        .unwrap()
        .expect("a version");
    (w, v)
}

/// Edits, trashes, purges and content changes in every database; returns the purged page ids.
fn workload(w: &World, seed: u64) -> Vec<String> {
    let mut purged = Vec::new();
    for (i, db) in w.sim.databases().iter().enumerate() {
        let ds = &db.data_sources[0].id;
        let edited = w.sim.edit_pages(ds, 3 + (seed as usize + i) % 3);
        let Some(first) = edited.first() else {
            continue;
        };
        w.sim.trash_page(first);
        if let Some(p) = edited.get(1) {
            assert!(w.sim.purge_page(p));
            purged.push(p.clone());
        }
        if let Some(p) = edited.get(2) {
            w.sim.append_blocks(p, 2);
        }
    }
    let dump = w.sim.state_dump("2026-03-11");
    let mut n = 0;
    for page in dump["pages"].as_array().unwrap() {
        let blocks = page["blocks"].as_array().unwrap();
        if blocks.len() < 3 || page["in_trash"] == true {
            continue;
        }
        w.sim.edit_block(blocks[0]["id"].as_str().unwrap());
        w.sim
            .delete_block(blocks[blocks.len() - 1]["id"].as_str().unwrap());
        n += 1;
        if n == 3 {
            break;
        }
    }
    w.sim.advance_clock(chrono::Duration::minutes(2));
    purged
}

/// The id of the page restored for `old`: itself, or what the journal says was created for it.
fn mapping(out: &std::process::Output, w: &World) -> HashMap<String, String> {
    let text = stdout(out);
    let id = text
        .split_whitespace()
        .skip_while(|t| *t != "restore")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_string();
    let rows = futures::executor::block_on(w.sink().read_restore_log(&id)).unwrap();
    rows.into_iter()
        .filter(|r| r.action == "recreate" && r.new_id.is_some())
        .map(|r| (r.old_id, r.new_id.unwrap()))
        .collect()
}

/// Writable properties of a rendered page, canonical, by property id (relations as remapped sets).
fn writable(page: &Value, remap: &dyn Fn(&str) -> String) -> BTreeMap<String, Value> {
    page["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, p)| match write::property(p, remap) {
            Writable::Value(v) => Some((p["id"].as_str().unwrap_or(name).to_string(), v)),
            _ => None,
        })
        .collect()
}

/// A page's content as (depth, type, body) in document order, without the blocks the API cannot create
/// (a restore leaves those as they are and says so in its plan).
fn tree(page: &Value, remap: &dyn Fn(&str) -> String) -> Vec<(i64, String, Value)> {
    page["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            let body = content::body(&b["block"], remap).ok()?;
            let kind = b["type"].as_str().unwrap().to_string();
            Some((b["depth"].as_i64().unwrap(), kind, body))
        })
        .collect()
}

/// Asserts every live page of `before` is back in `after`: same trash state, writable values and content.
fn assert_restored(before: &Value, after: &Value, map: &HashMap<String, String>, content: bool) {
    let remap = |id: &str| map.get(id).cloned().unwrap_or_else(|| id.to_string());
    let same = |id: &str| id.to_string();
    let now: HashMap<&str, &Value> = after["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let mut checked = 0;
    for page in before["pages"].as_array().unwrap() {
        if page["in_trash"] == true || page["parent_type"] != "data_source" {
            continue;
        }
        let old = page["id"].as_str().unwrap();
        let new = remap(old);
        let got = now
            .get(new.as_str())
            .unwrap_or_else(|| panic!("page {old} (now {new}) is not in Notion"));
        assert_eq!(got["in_trash"], false, "{old} is out of the trash");
        assert_eq!(
            writable(&page["page_full"], &remap),
            writable(&got["page_full"], &same),
            "writable properties of {old}"
        );
        let rel = |p: &Value, f: &dyn Fn(&str) -> String| -> BTreeMap<String, BTreeSet<String>> {
            p["relations"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|x| f(x.as_str().unwrap()))
                            .collect(),
                    )
                })
                .collect()
        };
        assert_eq!(rel(page, &remap), rel(got, &same), "relations of {old}");
        if content {
            assert_eq!(tree(page, &remap), tree(got, &same), "content of {old}");
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} pages compared");
}

/// `content`: also compare every page's content, and expect no block write from a second restore.
async fn round_trip(seed: u64, version: &str, content: bool) {
    let (w, v) = synced(seed, version).await;
    let before = w.sim.state_dump(version);
    let purged = workload(&w, seed);
    assert!(!purged.is_empty());
    assert_exit(&w.run(&["sync"]).await, 0);
    let as_of = v.to_string();
    w.sim.clear_request_log();
    let plan_file = w.lake.path().join("plan.json");
    let dry = w
        .run(&[
            "restore",
            "--as-of",
            &as_of,
            "--plan-json",
            plan_file.to_str().unwrap(),
        ])
        .await;
    assert_exit(&dry, 0);
    assert!(
        w.sim.write_requests().is_empty(),
        "a dry run writes nothing: {:?}",
        w.sim.write_requests()
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let count = |kind: &str| -> usize {
        plan["databases"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["actions"].as_array().unwrap())
            .filter(|a| a["kind"] == kind)
            .count()
    };
    assert_eq!(count("recreate"), purged.len(), "{}", stdout(&dry));
    assert!(count("untrash") >= 1);
    assert!(count("update") >= 1);
    let applied = w.run(&["restore", "--as-of", &as_of, "--apply"]).await;
    assert_exit(&applied, 0);
    let map = mapping(&applied, &w);
    let after = w.sim.state_dump(version);
    assert_restored(&before, &after, &map, content);
    // A second restore of the same point finds nothing left to do.
    w.sim.clear_request_log();
    let again = w.run(&["restore", "--as-of", &as_of, "--apply"]).await;
    assert_exit(&again, 0);
    let writes: Vec<_> = w
        .sim
        .write_requests()
        .into_iter()
        .filter(|r| content || matches!(r.endpoint.as_str(), "create_page" | "update_page"))
        .collect();
    assert!(
        writes.is_empty(),
        "nothing left to write: {writes:?}\n{}",
        stdout(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_properties_trash_and_purged_pages_of_a_version_on_both_apis() {
    for seed in 1..=5 {
        round_trip(seed, "2026-03-11", false).await;
        round_trip(seed + 5, "2022-06-28", false).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_content_of_a_version_on_both_apis() {
    for seed in 1..=5 {
        round_trip(seed, "2026-03-11", true).await;
        round_trip(seed + 5, "2022-06-28", true).await;
    }
}
