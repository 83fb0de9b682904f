//! Page content, comments and users: bronze rebuilds the simulator's content tree of every live page,
//! flags what was deleted, and an incremental run reads the content of exactly the pages that changed.

use std::collections::{BTreeMap, HashSet};

use notion_sync::bronze::BlockRecord;
use notion_sync::notion::files::unsigned;
use notion_sync::sink::BronzeSink;
use serde_json::Value;

use crate::support::{Lake, World, assert_exit, stderr};
use notion_sim::{SimConfig, WorkspaceKind};

const VERSION: &str = "2026-03-11";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Asserts bronze's blocks equal the simulator's content of every live page (and its comments when
/// `comments_exact`, which holds after a full refresh: comments do not bump a page), users included.
async fn check_content(w: &World, comments_exact: bool) {
    let dump = w.sim.state_dump(VERSION);
    let sink = w.bronze();
    let blocks = sink.read_blocks().await.unwrap();
    let mut keys = HashSet::new();
    for b in &blocks {
        assert!(
            keys.insert((b.block_id.clone(), b.page_id.clone())),
            "one row per (block_id, page_id): {} twice",
            b.block_id
        );
    }
    let mut by_page: BTreeMap<&str, Vec<&BlockRecord>> = BTreeMap::new();
    for b in &blocks {
        by_page.entry(b.page_id.as_str()).or_default().push(b);
    }
    let stored_pages: BTreeMap<String, bool> = w
        .pages()
        .await
        .into_iter()
        .map(|p| (p.record.page_id, p.record.is_deleted))
        .collect();
    for page in dump["pages"].as_array().unwrap() {
        let id = page["id"].as_str().unwrap();
        if page["in_trash"] == true || stored_pages.get(id) != Some(&false) {
            continue;
        }
        let stored = by_page.get(id).cloned().unwrap_or_default();
        let live: Vec<&&BlockRecord> = stored.iter().filter(|b| !b.is_deleted).collect();
        let want = page["blocks"].as_array().unwrap();
        assert_eq!(live.len(), want.len(), "page {id}: live block rows");
        for b in want {
            let bid = b["id"].as_str().unwrap();
            let row = live
                .iter()
                .find(|r| r.block_id == bid)
                .unwrap_or_else(|| panic!("page {id}: block {bid} missing"));
            assert_eq!(
                row.parent_id,
                b["parent_id"].as_str().unwrap(),
                "{bid} parent"
            );
            assert_eq!(row.parent_type, b["parent_type"].as_str().unwrap(), "{bid}");
            assert_eq!(
                row.position,
                b["position"].as_i64().unwrap(),
                "{bid} position"
            );
            assert_eq!(row.depth, b["depth"].as_i64().unwrap(), "{bid} depth");
            assert_eq!(row.block_type, b["type"].as_str().unwrap(), "{bid} type");
            assert_eq!(Value::Bool(row.has_children), b["has_children"], "{bid}");
            // Hosted files are signed anew at every read: compared without their signatures.
            assert_eq!(
                unsigned(&json(&row.payload)),
                unsigned(&b["block"]),
                "{bid} payload"
            );
        }
        for t in page["trashed_blocks"].as_array().unwrap() {
            let bid = t["id"].as_str().unwrap();
            if let Some(row) = stored.iter().find(|r| r.block_id == bid) {
                assert!(row.is_deleted, "page {id}: deleted block {bid} is flagged");
                assert!(row.deleted_at.is_some());
            }
        }
    }
    if comments_exact {
        let stored = sink.read_comments().await.unwrap();
        let live_pages: HashSet<&str> = stored_pages
            .iter()
            .filter(|(_, deleted)| !**deleted)
            .map(|(id, _)| id.as_str())
            .collect();
        let want: Vec<&Value> = dump["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| live_pages.contains(c["page_id"].as_str().unwrap()))
            .collect();
        let live: Vec<_> = stored
            .iter()
            .filter(|c| !c.is_deleted && live_pages.contains(c.page_id.as_str()))
            .collect();
        assert_eq!(live.len(), want.len(), "live comments");
        for c in want {
            let cid = c["id"].as_str().unwrap();
            let row = live
                .iter()
                .find(|r| r.comment_id == cid)
                .unwrap_or_else(|| panic!("comment {cid} missing"));
            assert_eq!(json(&row.payload), c["comment"], "{cid}");
            assert_eq!(row.discussion_id, c["discussion_id"].as_str().unwrap());
            assert_eq!(row.parent_id, c["parent_id"].as_str().unwrap());
        }
    }
    let users = sink.read_users().await.unwrap();
    if !w
        .env
        .get("NOTION_SYNC_INCLUDE")
        .is_some_and(|i| i.contains("users"))
    {
        assert!(users.is_empty(), "users are synced only when asked for");
        return;
    }
    let want = dump["users"].as_array().unwrap();
    let live: Vec<_> = users.iter().filter(|u| !u.is_deleted).collect();
    assert_eq!(live.len(), want.len(), "users");
    for u in want {
        let row = live
            .iter()
            .find(|r| r.user_id == u["id"].as_str().unwrap())
            .expect("user stored");
        assert_eq!(json(&row.payload), *u);
    }
}

/// A world syncing content, comments and users of every database.
async fn content_world(seed: u64) -> World {
    let mut w = World::with_config(SimConfig {
        seed,
        workspace: WorkspaceKind::Demo,
        ..SimConfig::default()
    })
    .await;
    w.set("NOTION_SYNC_INCLUDE", "content,comments,users");
    w
}

/// Live block ids of a page in the dump.
fn live_blocks(dump: &Value, page: &str) -> Vec<(String, String)> {
    dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == page)
        .map(|p| {
            p["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    (
                        b["id"].as_str().unwrap().to_string(),
                        b["type"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Live pages (not trashed) of the dump that have content.
fn pages_with_content(dump: &Value) -> Vec<String> {
    dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in_trash"] == false && !p["blocks"].as_array().unwrap().is_empty())
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// One random content edit.
fn mutate(w: &World, rng: &mut fastrand::Rng) {
    let dump = w.sim.state_dump(VERSION);
    let pages = pages_with_content(&dump);
    if pages.is_empty() {
        return;
    }
    let page = &pages[rng.usize(..pages.len())];
    let blocks = live_blocks(&dump, page);
    let pick = |rng: &mut fastrand::Rng| blocks[rng.usize(..blocks.len())].0.clone();
    match rng.u8(..6) {
        0 => {
            w.sim.append_blocks(page, 1 + rng.usize(..3));
        }
        1 => {
            w.sim.edit_block(&pick(rng));
        }
        2 => {
            w.sim.delete_block(&pick(rng));
        }
        3 => {
            let b = pick(rng);
            w.sim.move_block(&b, page, rng.usize(..4));
        }
        4 => {
            // Nest under a toggle or any block that can hold it.
            let target = blocks
                .iter()
                .find(|(_, t)| t == "toggle" || t == "bulleted_list_item")
                .map(|(id, _)| id.clone());
            if let Some(t) = target {
                w.sim.move_block(&pick(rng), &t, 0);
            }
        }
        _ => {
            let target = if rng.bool() { page.clone() } else { pick(rng) };
            w.sim.add_comment(&target, "a comment");
        }
    }
}

async fn content_oracle(seed: u64) {
    content_oracle_into(seed, Lake::Local).await;
}

/// [`content_oracle`] with bronze on `lake`.
async fn content_oracle_into(seed: u64, lake: Lake) {
    let mut w = content_world(seed).await;
    w.on(lake).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    check_content(&w, true).await;
    let mut rng = fastrand::Rng::with_seed(seed);
    for round in 0..4 {
        w.sim.advance_clock(chrono::Duration::minutes(2));
        for _ in 0..(2 + rng.usize(..5)) {
            mutate(&w, &mut rng);
        }
        w.sim.advance_clock(chrono::Duration::minutes(1));
        let full = round == 3 || rng.u8(..4) == 0;
        let args: &[&str] = if full {
            &["sync", "--full-refresh"]
        } else {
            &["sync"]
        };
        assert_exit(&w.run(args).await, 0);
        check_content(&w, full).await;
    }
}

macro_rules! content_seeds {
    ($($name:ident: $seed:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            content_oracle($seed).await;
        }
    )*};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_oracle_into_postgres_seed_01() {
    content_oracle_into(1, Lake::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_oracle_into_postgres_seed_02() {
    content_oracle_into(2, Lake::Postgres).await;
}

content_seeds! {
    content_oracle_seed_01: 1;
    content_oracle_seed_02: 2;
    content_oracle_seed_03: 3;
    content_oracle_seed_04: 4;
    content_oracle_seed_05: 5;
    content_oracle_seed_06: 6;
    content_oracle_seed_07: 7;
    content_oracle_seed_08: 8;
    content_oracle_seed_09: 9;
    content_oracle_seed_10: 10;
}

/// Block-children requests the simulator served.
fn children_requests(w: &World) -> u64 {
    w.sim
        .counters()
        .by_endpoint
        .get("list_block_children")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_run_reads_the_content_of_exactly_the_edited_pages() {
    let mut w = content_world(42).await;
    w.set("NOTION_SYNC_INCLUDE", "content");
    assert_exit(&w.run(&["sync"]).await, 0);
    // Nothing changed: no content is read.
    w.sim.advance_clock(chrono::Duration::minutes(10));
    w.sim.reset_counters();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_eq!(children_requests(&w), 0, "an idle run reads no content");
    let dump = w.sim.state_dump(VERSION);
    let edited: Vec<String> = pages_with_content(&dump).into_iter().take(3).collect();
    for page in &edited {
        let (block, _) = live_blocks(&dump, page)[0].clone();
        assert!(w.sim.edit_block(&block));
    }
    w.sim.advance_clock(chrono::Duration::minutes(1));
    let dump = w.sim.state_dump(VERSION);
    // One request per 100 children of the page and of every block whose children are read (not child
    // pages or databases, not synced references).
    let expected: u64 = edited
        .iter()
        .map(|page| {
            let p = dump["pages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == page.as_str())
                .unwrap();
            let blocks = p["blocks"].as_array().unwrap();
            let listed =
                |parent: &str| blocks.iter().filter(|b| b["parent_id"] == parent).count() as u64;
            let pages_of = |n: u64| n.div_ceil(100).max(1);
            pages_of(listed(page))
                + blocks
                    .iter()
                    .filter(|b| b["has_children"] == true && descends(b))
                    .map(|b| pages_of(listed(b["id"].as_str().unwrap())))
                    .sum::<u64>()
        })
        .sum();
    w.sim.reset_counters();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_eq!(children_requests(&w), expected);
    let runs = w.sink().recent_runs(100).await.unwrap();
    let latest = &runs[0].run_id;
    let pages: i64 = runs
        .iter()
        .filter(|r| &r.run_id == latest)
        .map(|r| r.content.pages)
        .sum();
    assert_eq!(pages, 3, "content read for exactly the edited pages");
    check_content(&w, false).await;
}

fn descends(block: &Value) -> bool {
    match block["type"].as_str().unwrap_or("") {
        "child_page" | "child_database" => false,
        "synced_block" => block["block"]["synced_block"]["synced_from"].is_null(),
        _ => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_5000_blocks_nested_8_deep_lands_whole_and_a_depth_cap_is_reported() {
    let mut w = content_world(7).await;
    w.set("NOTION_SYNC_INCLUDE", "content");
    let dump = w.sim.state_dump(VERSION);
    let page = pages_with_content(&dump).remove(0);
    let made = w.sim.generate_content(&page, 5_000, 8);
    assert_eq!(made, 5_000);
    assert_exit(&w.run(&["sync"]).await, 0);
    check_content(&w, false).await;
    let blocks = w.sink().read_blocks().await.unwrap();
    let on_page: Vec<_> = blocks.iter().filter(|b| b.page_id == page).collect();
    assert!(on_page.len() >= 5_000, "{}", on_page.len());
    assert!(on_page.iter().any(|b| b.depth >= 8));
    // A fresh lake with a cap of 3: the cut is counted and logged, never silent.
    let mut capped = content_world(7).await;
    capped.set("NOTION_SYNC_INCLUDE", "content");
    capped.set("NOTION_SYNC_CONTENT_DEPTH", "3");
    capped.sim.generate_content(&page, 5_000, 8);
    let out = capped.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("depth cap"), "{}", stderr(&out));
    let runs = capped.sink().recent_runs(100).await.unwrap();
    assert!(runs.iter().map(|r| r.content.depth_cuts).sum::<i64>() > 0);
    let deepest = capped
        .sink()
        .read_blocks()
        .await
        .unwrap()
        .iter()
        .map(|b| b.depth)
        .max();
    assert_eq!(deepest, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_content_read_the_rerun_converges() {
    let mut w = content_world(3).await;
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    let mut child = w
        .command(&["sync"])
        .env("NOTION_SYNC_PAUSE_AT", "write.content#2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let reached = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("paused at write.content") {
                return;
            }
        }
        panic!("the run ended before its second content write");
    };
    tokio::time::timeout(crate::support::HANG_GUARD, reached)
        .await
        .expect("reached the pause point");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    check_content(&w, true).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    check_content(&w, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_only_by_default_and_no_content_tables_written() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let sink = w.sink();
    assert!(sink.read_blocks().await.unwrap().is_empty());
    assert!(sink.read_users().await.unwrap().is_empty());
    assert!(sink.read_comments().await.unwrap().is_empty());
    assert_eq!(children_requests(&w), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_content_backfill_of_over_1000_pages_announces_its_requests() {
    let mut w = World::large(1_200).await;
    w.set("NOTION_SYNC_INCLUDE", "content");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("content backfill of items: 1200 pages"))
        .unwrap_or_else(|| panic!("no estimate: {err}"));
    assert!(line.contains("requests per minute"), "{line}");
    // The next run is incremental: nothing to announce.
    let again = w.run(&["sync"]).await;
    assert!(!stderr(&again).contains("content backfill"));
}
