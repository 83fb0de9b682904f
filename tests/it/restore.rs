//! Restores in place, round trips on the simulator: sync, change Notion (edits, trash, purge, content),
//! sync again, restore the first sync's version, and compare Notion's state with the snapshot's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use notion_sim::{SimConfig, WorkspaceKind};
use notion_sync::restore::content;
use notion_sync::restore::write::{self, Writable};
use serde_json::Value;

use crate::support::{Lake, World, assert_exit, dump_page, dump_pages, stdout};

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
    // A bulk edit, a relation changed by hand, a number set, and a renamed property.
    let tasks = w.database("Tasks").data_sources[0].id.clone();
    w.sim.edit_pages(&tasks, 20);
    let schema = dump["databases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["data_sources"].as_array().unwrap())
        .find(|s| s["id"] == tasks.as_str())
        .unwrap()["data_source"]["properties"]
        .clone();
    let named = |kind: &str| {
        schema
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, p)| p["type"] == kind)
            .map(|(name, _)| name.clone())
    };
    let live: Vec<&str> = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["data_source_id"] == tasks.as_str() && p["in_trash"] == false)
        .filter(|p| !purged.iter().any(|x| p["id"] == x.as_str()))
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    if let (Some(rel), [a, b, ..]) = (named("relation"), live.as_slice()) {
        let target = dump_page(&dump, b)["relations"].as_object().and_then(|r| {
            r.values()
                .flat_map(|v| v.as_array().unwrap())
                .next()
                .cloned()
        });
        if let Some(t) = target {
            w.sim
                .set_page_value(a, &rel, serde_json::json!([{"id": t}]));
        }
    }
    if let (Some(num), Some(a)) = (named("number"), live.get(2)) {
        w.sim.set_page_value(a, &num, serde_json::json!(12345));
    }
    if let Some(text) = named("rich_text") {
        assert!(
            w.sim
                .rename_property(&tasks, &text, &format!("{text} (renamed)"))
        );
    }
    w.sim.advance_clock(chrono::Duration::minutes(2));
    purged
}

/// What every restore so far created, snapshot id → new id (from `notion_restore_log`).
async fn mapping(w: &World) -> HashMap<String, String> {
    let rows = w.bronze().read_restore_log_all().await.unwrap();
    rows.into_iter()
        .filter(|r| r.action == "recreate" && r.new_id.is_some())
        .map(|r| (r.old_id, r.new_id.unwrap()))
        .collect()
}

/// Counts of a `--plan-json` file by action kind.
fn plan_counts(path: &std::path::Path) -> BTreeMap<String, usize> {
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for a in plan["databases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["actions"].as_array().unwrap())
    {
        *out.entry(a["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// The pages an `--apply` run wrote, by action kind (its `done:` line).
fn applied_counts(out: &std::process::Output) -> BTreeMap<String, usize> {
    let text = stdout(out);
    let json = text
        .lines()
        .find_map(|l| l.split_once("; pages ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_once("; blocks").map(|(j, _)| j))
        .unwrap_or_else(|| panic!("no done line in:\n{text}"));
    serde_json::from_str(json).unwrap()
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
/// and their subtrees (a restore leaves those as they are and says so in its plan).
fn tree(page: &Value, remap: &dyn Fn(&str) -> String) -> Vec<(i64, String, Value)> {
    let mut skipped = std::collections::HashSet::new();
    let mut out = Vec::new();
    for b in page["blocks"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let body = content::body(&b["block"], remap);
        if skipped.contains(b["parent_id"].as_str().unwrap()) || body.is_err() {
            skipped.insert(id.to_string());
            continue;
        }
        let kind = b["type"].as_str().unwrap().to_string();
        out.push((b["depth"].as_i64().unwrap(), kind, body.unwrap()));
    }
    out
}

/// Asserts every live page of `before` is back in `after`: same trash state, writable values and content.
fn assert_restored(before: &Value, after: &Value, map: &HashMap<String, String>, content: bool) {
    let remap = |id: &str| map.get(id).cloned().unwrap_or_else(|| id.to_string());
    let same = |id: &str| id.to_string();
    let now = dump_pages(after);
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

/// Restore `as_of` (dry run, then `--apply`) and check Notion against `before`; returns the apply's output.
async fn restore_and_check(w: &World, as_of: &str, before: &Value, version: &str, content: bool) {
    w.sim.clear_request_log();
    let plan_file = w.lake.path().join("plan.json");
    let dry = w
        .run(&[
            "restore",
            "--as-of",
            as_of,
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
    let planned = plan_counts(&plan_file);
    let applied = w.run(&["restore", "--as-of", as_of, "--apply"]).await;
    assert_exit(&applied, 0);
    let done = applied_counts(&applied);
    for kind in ["update", "untrash", "recreate", "content"] {
        assert_eq!(
            planned.get(kind),
            done.get(kind),
            "{kind}: planned {planned:?}, applied {done:?}\n{}",
            stdout(&applied)
        );
    }
    let after = w.sim.state_dump(version);
    assert_restored(before, &after, &mapping(w).await, content);
}

/// Sync, change Notion, sync again, restore the first sync's version; then a second restore of it finds
/// nothing to write.
async fn round_trip(seed: u64, version: &str) {
    let (w, v) = synced(seed, version).await;
    let before = w.sim.state_dump(version);
    let purged = workload(&w, seed);
    assert!(!purged.is_empty());
    assert_exit(&w.run(&["sync"]).await, 0);
    let as_of = v.to_string();
    let plan_file = w.lake.path().join("first.json");
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
    let planned = plan_counts(&plan_file);
    assert_eq!(
        planned.get("recreate"),
        Some(&purged.len()),
        "{}",
        stdout(&dry)
    );
    assert!(planned.get("untrash") >= Some(&1), "{planned:?}");
    assert!(planned.get("update") >= Some(&1), "{planned:?}");
    restore_and_check(&w, &as_of, &before, version, true).await;
    assert_eq!(
        mapping(&w).await.len(),
        purged.len(),
        "one page per purged page"
    );
    w.sim.clear_request_log();
    let again = w.run(&["restore", "--as-of", &as_of, "--apply"]).await;
    assert_exit(&again, 0);
    let writes = w.sim.write_requests();
    assert!(
        writes.is_empty(),
        "nothing left to write: {writes:?}\n{}",
        stdout(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_a_version_in_place_on_both_apis() {
    for seed in 1..=10 {
        round_trip(seed, "2026-03-11").await;
        round_trip(seed + 10, "2022-06-28").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timestamp_restores_the_state_from_a_postgres_warehouse() {
    let version = "2026-03-11";
    let mut w = World::with_config(SimConfig {
        seed: 31,
        workspace: WorkspaceKind::Demo,
        ..SimConfig::default()
    })
    .await;
    w.on(Lake::Postgres).await;
    w.set("NOTION_VERSION", version);
    w.set("NOTION_SYNC_INCLUDE", "content");
    assert_exit(&w.run(&["sync"]).await, 0);
    let before = w.sim.state_dump(version);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let purged = workload(&w, 31);
    assert!(!purged.is_empty());
    assert_exit(&w.run(&["sync"]).await, 0);
    // The history table answers for properties; PostgreSQL keeps no past content.
    let out = w.run(&["restore", "--as-of", &t]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("not kept by this warehouse"),
        "{}",
        stdout(&out)
    );
    restore_and_check(&w, &t, &before, version, false).await;
    assert_eq!(
        mapping(&w).await.len(),
        purged.len(),
        "one page per purged page"
    );
    // A table version is Delta's: refused, naming the fix.
    let out = w.run(&["restore", "--as-of", "3"]).await;
    assert_exit(&out, 2);
    assert!(
        crate::support::stderr(&out).contains("give a timestamp"),
        "{}",
        crate::support::stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timestamp_restores_the_state_then_even_after_vacuum() {
    let version = "2026-03-11";
    let (w, _) = synced(21, version).await;
    let before = w.sim.state_dump(version);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    workload(&w, 21);
    assert_exit(&w.run(&["sync"]).await, 0);
    restore_and_check(&w, &t, &before, version, true).await;
    // Later edits, then every old file vacuumed: the history table still knows the state at `t`.
    workload(&w, 22);
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_exit(&w.run(&["optimize", "--retention-hours", "0"]).await, 0);
    let out = w.run(&["restore", "--as-of", &t]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("vacuumed"),
        "content is said to be gone:\n{}",
        stdout(&out)
    );
    restore_and_check(&w, &t, &before, version, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_and_databases_narrow_a_restore_and_new_pages_are_trashed_only_when_asked() {
    let version = "2026-03-11";
    let (w, v) = synced(31, version).await;
    let tasks = w.database("Tasks");
    let ds = tasks.data_sources[0].id.clone();
    let edited = w.sim.edit_pages(&ds, 3);
    let made = w.sim.create_pages(&ds, 2);
    w.sim.advance_clock(chrono::Duration::minutes(2));
    let as_of = v.to_string();
    // One page: only it is written.
    w.sim.clear_request_log();
    let one = w
        .run(&[
            "restore", "--as-of", &as_of, "--pages", &edited[0], "--apply",
        ])
        .await;
    assert_exit(&one, 0);
    let writes = w.sim.write_requests();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|r| r.path.contains(&edited[0])),
        "{writes:?}"
    );
    // One database: pages elsewhere are untouched, new pages are reported but kept.
    let other = w.database("Notes").data_sources[0].id.clone();
    let elsewhere = w.sim.edit_pages(&other, 1);
    w.sim.clear_request_log();
    let db = w
        .run(&["restore", "--as-of", &as_of, "-d", "tasks", "--apply"])
        .await;
    assert_exit(&db, 0);
    let writes = w.sim.write_requests();
    assert!(
        writes.iter().all(|r| !r.path.contains(&elsewhere[0])),
        "{writes:?}"
    );
    assert!(
        writes.iter().any(|r| r.path.contains(&edited[1])),
        "{writes:?}"
    );
    let dump = w.sim.state_dump(version);
    let trashed = |id: &str| dump_page(&dump, id)["in_trash"] == true;
    assert!(
        made.iter().all(|id| !trashed(id)),
        "new pages stay without --trash-new"
    );
    let trash = w
        .run(&[
            "restore",
            "--as-of",
            &as_of,
            "-d",
            "tasks",
            "--trash-new",
            "--apply",
        ])
        .await;
    assert_exit(&trash, 0);
    let dump = w.sim.state_dump(version);
    let trashed = |id: &str| dump_page(&dump, id)["in_trash"] == true;
    assert!(
        made.iter().all(|id| trashed(id)),
        "--trash-new trashes the pages made since"
    );
}

/// Asserts Notion is back at `before`, with no page made twice (`case` names the run in failures).
async fn assert_restored_once(w: &World, before: &Value, version: &str, case: &str) {
    let after = w.sim.state_dump(version);
    let map = mapping(w).await;
    let twice = strays(before, &after, &map);
    assert!(twice.is_empty(), "{case}: pages made twice: {twice:?}");
    assert_restored(before, &after, &map, true);
}

/// Pages of `after` that `before` does not have and no restore made: duplicates.
fn strays(before: &Value, after: &Value, map: &HashMap<String, String>) -> Vec<String> {
    let known: std::collections::HashSet<&str> = before["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .chain(map.values().map(String::as_str))
        .collect();
    after["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .filter(|id| !known.contains(id))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_restore_resumes_without_creating_anything_twice() {
    let version = "2026-03-11";
    for (seed, point) in [
        (41, "restore.before_create#1"),
        (42, "restore.after_create#2"),
        (43, "restore.before_update#3"),
        (44, "restore.before_append#2"),
    ] {
        eprintln!("killed at {point}");
        let (mut w, v) = synced(seed, version).await;
        let before = w.sim.state_dump(version);
        workload(&w, seed);
        assert_exit(&w.run(&["sync"]).await, 0);
        let as_of = v.to_string();
        let args = ["restore", "--as-of", &as_of, "--apply"];
        let id = crate::crash::kill_restore_at(&mut w, &args, point).await;
        let resumed = w.run(&["restore", "--resume", &id, "--apply"]).await;
        assert_exit(&resumed, 0);
        assert_restored_once(&w, &before, version, point).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttles_and_lost_answers_during_a_restore_are_handled_safely() {
    use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule};
    let version = "2026-03-11";
    let (w, v) = synced(51, version).await;
    let before = w.sim.state_dump(version);
    workload(&w, 51);
    assert_exit(&w.run(&["sync"]).await, 0);
    let rule = |endpoint: &str, kind, mode| FaultRule {
        endpoint: Some(endpoint.into()),
        kind,
        mode,
    };
    w.sim.set_faults(FaultPlan {
        rules: vec![
            // Saved, but answered 503 with the new page's id: adopted, not created again.
            rule("create_page", FaultKind::Committed(503), FaultMode::Nth(2)),
            // Saved, but answered 504 with the new blocks' ids.
            rule(
                "append_block_children",
                FaultKind::Committed(504),
                FaultMode::Nth(1),
            ),
            // Not applied: an update is safe to repeat.
            rule("update_page", FaultKind::Status(500), FaultMode::Nth(2)),
            rule(
                "writes",
                FaultKind::Status(429),
                FaultMode::Sequence(vec![false, true, false, true]),
            ),
        ],
    });
    let out = w
        .run(&["restore", "--as-of", &v.to_string(), "--apply"])
        .await;
    assert_exit(&out, 0);
    w.sim.clear_faults();
    assert_restored_once(&w, &before, version, "faults").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_property_is_reported_and_added_back_when_asked() {
    let version = "2026-03-11";
    let (w, v) = synced(61, version).await;
    let before = w.sim.state_dump(version);
    let tasks = w.database("Tasks");
    let ds = tasks.data_sources[0].id.clone();
    let schema = before["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == tasks.id.as_str())
        .unwrap()["data_sources"][0]["data_source"]["properties"]
        .clone();
    let (name, _) = schema
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["type"] == "select")
        .expect("Tasks has a select");
    assert!(w.sim.remove_property(&ds, name));
    w.sim.advance_clock(chrono::Duration::minutes(2));
    let as_of = v.to_string();
    let plain = w.run(&["restore", "--as-of", &as_of, "-d", "tasks"]).await;
    assert_exit(&plain, 0);
    assert!(
        stdout(&plain).contains(&format!("property '{name}' no longer exists")),
        "{}",
        stdout(&plain)
    );
    let out = w
        .run(&[
            "restore",
            "--as-of",
            &as_of,
            "-d",
            "tasks",
            "--add-missing-properties",
            "--apply",
        ])
        .await;
    assert_exit(&out, 0);
    let after = w.sim.state_dump(version);
    let value = |dump: &Value, page: &str| {
        dump_page(dump, page)["page_full"]["properties"][name.as_str()]["select"]["name"].clone()
    };
    let mut compared = 0;
    for p in before["pages"].as_array().unwrap() {
        if p["data_source_id"] == ds.as_str() && p["in_trash"] == false {
            assert_eq!(
                value(&before, p["id"].as_str().unwrap()),
                value(&after, p["id"].as_str().unwrap())
            );
            compared += 1;
        }
    }
    assert!(compared > 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_from_an_export_equals_one_from_the_lake() {
    let version = "2022-06-28";
    let (w, v) = synced(71, version).await;
    let before = w.sim.state_dump(version);
    workload(&w, 71);
    assert_exit(&w.run(&["sync"]).await, 0);
    let as_of = v.to_string();
    let backup = w.lake.path().join("backup");
    let export = w
        .run(&[
            "export",
            "--to",
            backup.to_str().unwrap(),
            "--as-of",
            &as_of,
        ])
        .await;
    assert_exit(&export, 0);
    let plan_of = |name: &str| w.lake.path().join(name);
    let (lake_plan, file_plan) = (plan_of("lake.json"), plan_of("file.json"));
    let from_lake = w
        .run(&[
            "restore",
            "--as-of",
            &as_of,
            "--plan-json",
            lake_plan.to_str().unwrap(),
        ])
        .await;
    assert_exit(&from_lake, 0);
    let from_file = w
        .run(&[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--plan-json",
            file_plan.to_str().unwrap(),
        ])
        .await;
    assert_exit(&from_file, 0);
    let actions = |path: &std::path::Path| {
        let plan: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut dbs = plan["databases"].as_array().unwrap().clone();
        dbs.sort_by_key(|d| d["database_id"].as_str().unwrap().to_string());
        dbs
    };
    assert_eq!(actions(&lake_plan), actions(&file_plan), "the same actions");
    let applied = w
        .run(&["restore", "--from", backup.to_str().unwrap(), "--apply"])
        .await;
    assert_exit(&applied, 0);
    let after = w.sim.state_dump(version);
    assert_restored(&before, &after, &mapping(&w).await, true);
}
