//! Page content, comments and users over HTTP, checked against the state dump.

use std::collections::BTreeSet;

use notion_sim::{SimConfig, SimHandle, WorkspaceKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Block types in the recorded Notion payloads (`meeting_notes` is `transcription` before 2026-03-11).
const RECORDED_TYPES: &[&str] = &[
    "audio",
    "bookmark",
    "breadcrumb",
    "bulleted_list_item",
    "callout",
    "child_database",
    "child_page",
    "code",
    "column",
    "column_list",
    "divider",
    "embed",
    "equation",
    "file",
    "heading_1",
    "heading_2",
    "heading_3",
    "image",
    "link_preview",
    "link_to_page",
    "meeting_notes",
    "numbered_list_item",
    "paragraph",
    "pdf",
    "quote",
    "synced_block",
    "tab",
    "table",
    "table_of_contents",
    "table_row",
    "to_do",
    "toggle",
    "unsupported",
    "video",
];

async fn full() -> SimHandle {
    start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await
}

/// Every item of a paginated GET list, `page_size` at a time.
async fn list_all(sim: &SimHandle, version: &str, path: &str, page_size: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{sep}page_size={page_size}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&start_cursor={c}"));
        }
        let r = call(sim, Method::GET, &url, Some(version), None).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let results = r.body["results"].as_array().cloned().unwrap_or_default();
        assert!(results.len() <= page_size);
        out.extend(results);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// The parent id of a rendered block or comment.
fn parent_id(v: &Value) -> &str {
    let p = &v["parent"];
    p["page_id"]
        .as_str()
        .or_else(|| p["block_id"].as_str())
        .unwrap_or_default()
}

/// Whether a rendered block is a synced-block reference (its children are the original's).
fn is_reference(b: &Value) -> bool {
    b["type"] == "synced_block" && !b["synced_block"]["synced_from"].is_null()
}

/// A page's live tree read over HTTP the way the dump describes it: depth first, each block placed by
/// parent, position and depth; synced references are not followed.
async fn read_tree(sim: &SimHandle, version: &str, page: &str, page_size: usize) -> Vec<Value> {
    let placed = |kids: Vec<Value>, depth: usize| -> Vec<Value> {
        kids.into_iter()
            .enumerate()
            .map(|(position, b)| {
                json!({
                    "id": b["id"], "parent_id": parent_id(&b),
                    "parent_type": if b["parent"]["type"] == "page_id" { "page" } else { "block" },
                    "position": position, "depth": depth, "type": b["type"],
                    "has_children": b["has_children"], "block": b,
                })
            })
            .rev()
            .collect()
    };
    let path = |id: &str| format!("/v1/blocks/{id}/children");
    let mut stack = placed(list_all(sim, version, &path(page), page_size).await, 1);
    let mut out = Vec::new();
    while let Some(entry) = stack.pop() {
        if entry["has_children"] == true && !is_reference(&entry["block"]) {
            let id = entry["id"].as_str().expect("id");
            let kids = list_all(sim, version, &path(id), page_size).await;
            let depth = entry["depth"].as_u64().expect("depth") as usize + 1;
            stack.extend(placed(kids, depth));
        }
        out.push(entry);
    }
    out
}

/// A served object without its `request_id`, as the dump holds it.
fn without_request_id(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("request_id");
    }
    v
}

/// The dump entry of a page.
fn dump_page<'a>(dump: &'a Value, id: &str) -> &'a Value {
    dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .find(|p| p["id"] == id)
        .expect("page in dump")
}

/// Asserts the HTTP tree of every page equals the dump's, block by block as serialized text.
async fn assert_trees_match(sim: &SimHandle, version: &str, page_size: usize) -> usize {
    let dump = sim.state_dump(version);
    let mut blocks = 0;
    for p in dump["pages"].as_array().expect("pages") {
        let id = p["id"].as_str().expect("id");
        let want = p["blocks"].as_array().expect("blocks");
        if want.is_empty() {
            continue;
        }
        let got = read_tree(sim, version, id, page_size).await;
        assert_eq!(got.len(), want.len(), "page {id}");
        for (g, w) in got.iter().zip(want) {
            let text = |v: &Value| serde_json::to_string(v).expect("json");
            assert_eq!(text(&g["block"]), text(&w["block"]), "block {}", w["id"]);
            assert_eq!(g, w);
        }
        blocks += want.len();
    }
    blocks
}

#[tokio::test]
async fn generated_content_covers_every_recorded_block_type() {
    let sim = full().await;
    for version in [V_NEW, V_DS, V_OLD] {
        let dump = sim.state_dump(version);
        let mut types = BTreeSet::new();
        let mut deepest = 0;
        for p in dump["pages"].as_array().expect("pages") {
            for b in p["blocks"].as_array().expect("blocks") {
                types.insert(b["type"].as_str().expect("type").to_string());
                deepest = deepest.max(b["depth"].as_u64().expect("depth"));
                let block = &b["block"];
                assert_eq!(block["object"], "block");
                assert_eq!(block["in_trash"], false);
                assert_eq!(block.get("archived").is_some(), version != V_NEW);
                for field in ["created_time", "last_edited_time"] {
                    let t = block[field].as_str().expect("time");
                    assert!(t.ends_with(":00.000Z"), "minute-floored {t}");
                }
            }
        }
        for t in RECORDED_TYPES {
            let t = match (*t, version) {
                ("meeting_notes", V_NEW) => "meeting_notes",
                ("meeting_notes", _) => "transcription",
                (t, _) => t,
            };
            assert!(types.contains(t), "{version}: no {t} block");
        }
        assert!(deepest >= 4, "nested {deepest} levels");
    }
    // Payload shapes as Notion serves them.
    let dump = sim.state_dump(V_NEW);
    let all: Vec<&Value> = dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|p| p["blocks"].as_array().expect("blocks"))
        .map(|b| &b["block"])
        .collect();
    let of = |t: &'static str| all.iter().copied().filter(move |b| b["type"] == t);
    assert!(of("to_do").any(|b| b["to_do"]["checked"] == true));
    assert!(
        of("heading_2")
            .any(|b| b["heading_2"]["is_toggleable"] == true && b["has_children"] == true)
    );
    assert!(of("code").all(|b| b["code"]["language"].is_string()));
    assert!(of("callout").all(|b| b["callout"]["icon"]["type"] == "emoji"));
    assert!(of("image").any(|b| b["image"]["type"] == "external"));
    assert!(of("image").any(|b| b["image"]["file"]["expiry_time"].is_string()));
    let table = of("table").next().expect("table");
    assert_eq!(table["table"]["table_width"], 3);
    assert_eq!(table["has_children"], true);
    assert!(of("table_row").all(|b| b["table_row"]["cells"].as_array().map(Vec::len) == Some(3)));
    assert!(of("child_page").all(|b| b["child_page"]["title"].is_string()));
    assert!(of("child_database").all(|b| b["child_database"]["title"].is_string()));
    let rich: BTreeSet<&str> = of("paragraph")
        .flat_map(|b| b["paragraph"]["rich_text"].as_array().expect("rich text"))
        .map(|t| t["type"].as_str().expect("type"))
        .collect();
    assert_eq!(rich, BTreeSet::from(["mention", "text"]));
    let originals: Vec<&Value> = of("synced_block")
        .filter(|b| b["synced_block"]["synced_from"].is_null())
        .collect();
    assert!(!originals.is_empty());
    assert!(of("synced_block").filter(|b| is_reference(b)).count() >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn block_trees_over_http_match_the_dump() {
    let sim = full().await;
    for (version, size) in [(V_NEW, 100), (V_DS, 7), (V_OLD, 100)] {
        let n = assert_trees_match(&sim, version, size).await;
        assert!(n > 500, "{n} blocks");
    }
    // Children of a block are paginated too: 105 under one list item.
    let dump = sim.state_dump(V_NEW);
    let many = dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|p| p["blocks"].as_array().expect("blocks"))
        .find(|b| b["block"]["bulleted_list_item"]["rich_text"][0]["plain_text"] == "Many items")
        .expect("the long list");
    let id = many["id"].as_str().expect("id");
    let r = get(&sim, &format!("/v1/blocks/{id}/children")).await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(100));
    assert_eq!(r.body["has_more"], true);
    assert_eq!(
        list_all(&sim, V_NEW, &format!("/v1/blocks/{id}/children"), 100)
            .await
            .len(),
        105
    );
    let r = get(&sim, &format!("/v1/blocks/{id}/children?page_size=101")).await;
    assert_eq!(r.body["code"], "validation_error");
    sim.shutdown().await;
}

#[tokio::test]
async fn synced_references_list_their_original_children() {
    let sim = demo().await;
    let dump = sim.state_dump(V_NEW);
    let blocks: Vec<&Value> = dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|p| p["blocks"].as_array().expect("blocks"))
        .collect();
    let refs: Vec<&Value> = blocks
        .iter()
        .copied()
        .filter(|b| is_reference(&b["block"]))
        .collect();
    let pages: BTreeSet<String> = refs
        .iter()
        .map(|r| {
            dump["pages"]
                .as_array()
                .expect("pages")
                .iter()
                .find(|p| {
                    p["blocks"]
                        .as_array()
                        .expect("blocks")
                        .iter()
                        .any(|b| b["id"] == r["id"])
                })
                .expect("page")["id"]
                .to_string()
        })
        .collect();
    assert_eq!(
        pages.len(),
        2,
        "references on the original's page and on another"
    );
    for r in refs {
        let original = r["block"]["synced_block"]["synced_from"]["block_id"]
            .as_str()
            .expect("original");
        assert_eq!(
            r["block"]["synced_block"]["synced_from"]["type"],
            "block_id"
        );
        assert_eq!(r["has_children"], true);
        let via_ref = list_all(
            &sim,
            V_NEW,
            &format!("/v1/blocks/{}/children", r["id"].as_str().expect("id")),
            100,
        )
        .await;
        let direct = list_all(&sim, V_NEW, &format!("/v1/blocks/{original}/children"), 100).await;
        assert!(!direct.is_empty());
        assert_eq!(via_ref, direct);
        assert!(via_ref.iter().all(|b| b["parent"]["block_id"] == original));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn retrieve_block_serves_blocks_and_pages() {
    let sim = demo().await;
    for version in [V_NEW, V_DS] {
        let dump = sim.state_dump(version);
        let page = dump["pages"]
            .as_array()
            .expect("pages")
            .iter()
            .find(|p| p["blocks"].as_array().is_some_and(|b| b.len() > 50))
            .expect("the showcase page");
        for b in page["blocks"].as_array().expect("blocks") {
            let id = b["id"].as_str().expect("id");
            let r = get_in(&sim, &format!("/v1/blocks/{id}"), version).await;
            assert_eq!(r.status, 200);
            assert_eq!(without_request_id(r.body), b["block"]);
        }
        let id = page["id"].as_str().expect("id");
        let r = get_in(&sim, &format!("/v1/blocks/{id}"), version).await;
        assert_eq!(r.body["type"], "child_page");
        assert_eq!(r.body["id"], id);
        assert_eq!(r.body["has_children"], true);
        assert_eq!(r.body["parent"], page["page"]["parent"]);
        assert_eq!(r.body["last_edited_time"], page["page"]["last_edited_time"]);
    }
    let r = get(&sim, "/v1/blocks/0000000000000000000000000000beef").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "object_not_found");
    assert_eq!(
        get(&sim, "/v1/blocks/nope").await.body["code"],
        "invalid_request_url"
    );
    sim.shutdown().await;
}

/// A page's `last_edited_time` as served.
async fn page_edited(sim: &SimHandle, page: &str) -> Value {
    get(sim, &format!("/v1/pages/{page}")).await.body["last_edited_time"].clone()
}

/// User objects carrying `person.email` anywhere in a value.
fn emails(v: &Value) -> usize {
    match v {
        Value::Object(o) => {
            let here = usize::from(o.get("person").is_some_and(|p| p.get("email").is_some()));
            here + o.values().map(emails).sum::<usize>()
        }
        Value::Array(a) => a.iter().map(emails).sum(),
        _ => 0,
    }
}

/// The showcase page's id and its dump entry.
fn showcase(sim: &SimHandle) -> (String, Value) {
    let dump = sim.state_dump(V_NEW);
    let page = dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .find(|p| p["blocks"].as_array().is_some_and(|b| b.len() > 50))
        .expect("the showcase page")
        .clone();
    (page["id"].as_str().expect("id").to_string(), page)
}

/// The first live block of a type on a page entry.
fn first_of(page: &Value, kind: &str) -> String {
    page["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|b| b["type"] == kind)
        .and_then(|b| b["id"].as_str())
        .expect("block of that type")
        .to_string()
}

#[tokio::test]
async fn content_edits_bump_the_page_like_notion() {
    let sim = demo().await;
    let (page, entry) = showcase(&sim);
    sim.set_clock(
        chrono::DateTime::parse_from_rfc3339("2026-02-01T10:15:42Z")
            .expect("t")
            .to_utc(),
    );
    let stamp = json!("2026-02-01T10:15:00.000Z");

    // Append at the end of the page and under a block.
    let before = entry["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter(|b| b["depth"] == 1)
        .count();
    let ids = sim.append_blocks(&page, 2);
    assert_eq!(ids.len(), 2);
    let top = list_all(&sim, V_NEW, &format!("/v1/blocks/{page}/children"), 100).await;
    assert_eq!(top.len(), before + 2);
    assert_eq!(top[before]["id"], ids[0].as_str());
    assert_eq!(top[before + 1]["created_time"], stamp);
    assert_eq!(
        top[before]["paragraph"]["rich_text"][0]["plain_text"],
        format!("Appended paragraph {}", before + 1)
    );
    assert_eq!(page_edited(&sim, &page).await, stamp);
    let toggle = first_of(&entry, "toggle");
    let nested = sim.append_blocks(&toggle, 1);
    let r = get(&sim, &format!("/v1/blocks/{}", nested[0])).await;
    assert_eq!(
        r.body["parent"],
        json!({"type": "block_id", "block_id": toggle})
    );
    assert!(
        sim.append_blocks(&first_of(&entry, "divider"), 1)
            .is_empty()
    );
    assert!(
        sim.append_blocks("0000000000000000000000000000beef", 1)
            .is_empty()
    );

    // Edit text.
    sim.advance_clock(chrono::Duration::minutes(5));
    let later = json!("2026-02-01T10:20:00.000Z");
    let quote = first_of(&entry, "quote");
    assert!(sim.edit_block(&quote));
    let r = get(&sim, &format!("/v1/blocks/{quote}")).await;
    assert!(
        r.body["quote"]["rich_text"][0]["plain_text"]
            .as_str()
            .expect("text")
            .contains(" · edit ")
    );
    assert_eq!(r.body["last_edited_time"], later);
    assert_eq!(page_edited(&sim, &page).await, later);
    assert!(!sim.edit_block(&first_of(&entry, "divider")));

    // Move under a toggle, at the front; reorder; refuse cycles, other pages and leaves.
    sim.advance_clock(chrono::Duration::minutes(5));
    assert!(sim.move_block(&quote, &toggle, 0));
    let kids = list_all(&sim, V_NEW, &format!("/v1/blocks/{toggle}/children"), 100).await;
    assert_eq!(kids[0]["id"], quote.as_str());
    assert_eq!(kids[0]["parent"]["block_id"], toggle.as_str());
    assert_eq!(
        page_edited(&sim, &page).await,
        json!("2026-02-01T10:25:00.000Z")
    );
    assert!(sim.move_block(&quote, &toggle, 99));
    let kids = list_all(&sim, V_NEW, &format!("/v1/blocks/{toggle}/children"), 100).await;
    assert_eq!(kids.last().expect("kid")["id"], quote.as_str());
    let inner = kids[0]["id"].as_str().expect("id").to_string();
    assert!(!sim.move_block(&toggle, &inner, 0), "under its own child");
    assert!(!sim.move_block(&toggle, &toggle, 0), "under itself");
    assert!(
        !sim.move_block(&quote, &first_of(&entry, "divider"), 0),
        "under a leaf"
    );
    let tree_before = dump_page(&sim.state_dump(V_NEW), &page)["blocks"].clone();
    let elsewhere = sim.state_dump(V_NEW)["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .find(|p| p["id"] != page.as_str() && !p["blocks"].as_array().expect("blocks").is_empty())
        .map(|p| p["id"].as_str().expect("id").to_string())
        .expect("another page with content");
    assert!(!sim.move_block(&quote, &elsewhere, 0), "to another page");
    assert_eq!(
        dump_page(&sim.state_dump(V_NEW), &page)["blocks"],
        tree_before
    );
    let dump = sim.state_dump(V_NEW);
    let moved = dump_page(&dump, &page)["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|b| b["id"] == quote.as_str())
        .expect("moved block")
        .clone();
    assert_eq!(moved["parent_id"], toggle.as_str());
    assert_eq!(moved["parent_type"], "block");
    assert_eq!(moved["depth"], 2);
    assert_eq!(moved["position"], kids.len() - 1);

    // Delete: out of the tree, served as trashed, listed among the page's trashed blocks.
    sim.advance_clock(chrono::Duration::minutes(5));
    assert!(sim.delete_block(&toggle));
    assert!(!sim.delete_block(&toggle));
    let top = list_all(&sim, V_NEW, &format!("/v1/blocks/{page}/children"), 100).await;
    assert!(top.iter().all(|b| b["id"] != toggle.as_str()));
    let r = call(
        &sim,
        Method::GET,
        &format!("/v1/blocks/{toggle}"),
        Some(V_DS),
        None,
    )
    .await;
    assert_eq!(r.body["in_trash"], true);
    assert_eq!(r.body["archived"], true);
    assert_eq!(
        page_edited(&sim, &page).await,
        json!("2026-02-01T10:30:00.000Z")
    );
    assert!(!sim.edit_block(&toggle));
    assert!(sim.append_blocks(&toggle, 1).is_empty());
    let dump = sim.state_dump(V_DS);
    let entry = dump_page(&dump, &page);
    let trashed = entry["trashed_blocks"].as_array().expect("trashed");
    assert_eq!(trashed.len(), 1);
    assert_eq!(trashed[0]["id"], toggle.as_str());
    assert_eq!(trashed[0]["block"], without_request_id(r.body));
    let live: Vec<&Value> = entry["blocks"].as_array().expect("blocks").iter().collect();
    assert!(
        live.iter()
            .all(|b| b["id"] != toggle.as_str() && b["id"] != quote.as_str())
    );
    assert_trees_match(&sim, V_DS, 100).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_on_pages_and_blocks_match_the_dump() {
    let sim = demo().await;
    let dump = sim.state_dump(V_NEW);
    let want = dump["comments"].as_array().expect("comments");
    let mut got = Vec::new();
    for p in dump["pages"].as_array().expect("pages") {
        let parents = std::iter::once(&p["id"]).chain(
            p["blocks"]
                .as_array()
                .expect("blocks")
                .iter()
                .map(|b| &b["id"]),
        );
        for parent in parents {
            let path = format!("/v1/comments?block_id={}", parent.as_str().expect("id"));
            for c in list_all(&sim, V_NEW, &path, 2).await {
                assert_eq!(parent_id(&c), parent.as_str().expect("id"));
                got.push(c);
            }
        }
    }
    let rendered: Vec<&Value> = want.iter().map(|c| &c["comment"]).collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), rendered);
    assert!(want.iter().any(|c| c["parent_type"] == "page"));
    assert!(want.iter().any(|c| c["parent_type"] == "block"));
    assert!(
        rendered
            .iter()
            .any(|c| c["display_name"]["type"] == "integration")
    );
    let mut discussions = std::collections::BTreeMap::new();
    for c in want {
        *discussions
            .entry(c["discussion_id"].as_str().expect("d"))
            .or_insert(0) += 1;
        assert_eq!(
            c["comment"]["parent"]["type"],
            if c["parent_type"] == "page" {
                "page_id"
            } else {
                "block_id"
            }
        );
        assert!(
            c["comment"]["created_time"]
                .as_str()
                .expect("t")
                .ends_with(":00.000Z")
        );
    }
    assert!(
        discussions.values().any(|n| *n >= 3),
        "a multi-comment discussion"
    );
    // Resolved discussions are not listed: the showcase's quote has one.
    let (page, entry) = showcase(&sim);
    let quote = first_of(&entry, "quote");
    assert!(
        get(&sim, &format!("/v1/comments?block_id={quote}"))
            .await
            .body["results"]
            .as_array()
            .expect("r")
            .is_empty()
    );

    // New discussions and replies; the page is not bumped.
    let edited = get(&sim, &format!("/v1/pages/{page}")).await.body["last_edited_time"].clone();
    sim.advance_clock(chrono::Duration::minutes(90));
    let first = sim.add_comment(&quote, "A block comment");
    assert!(!first.is_empty());
    let listed = get(&sim, &format!("/v1/comments?block_id={quote}"))
        .await
        .body["results"]
        .clone();
    let discussion = listed[0]["discussion_id"].as_str().expect("d").to_string();
    assert_eq!(
        listed[0]["parent"],
        json!({"type": "block_id", "block_id": quote})
    );
    let reply = sim.reply_comment(&discussion, "A reply");
    assert!(!reply.is_empty());
    let listed = get(&sim, &format!("/v1/comments?block_id={quote}"))
        .await
        .body["results"]
        .clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(listed[1]["discussion_id"], discussion.as_str());
    assert_eq!(listed[1]["rich_text"][0]["plain_text"], "A reply");
    let on_page = sim.add_comment(&page, "A page comment");
    let r = get(&sim, &format!("/v1/comments?block_id={page}")).await;
    assert!(
        r.body["results"]
            .as_array()
            .expect("r")
            .iter()
            .any(|c| c["id"] == on_page.as_str())
    );
    assert_eq!(
        get(&sim, &format!("/v1/pages/{page}")).await.body["last_edited_time"],
        edited
    );
    assert!(
        sim.add_comment("0000000000000000000000000000beef", "x")
            .is_empty()
    );
    assert!(
        sim.reply_comment("0000000000000000000000000000beef", "x")
            .is_empty()
    );
    // Over HTTP the integration is the author.
    let r = post(
        &sim,
        "/v1/comments",
        json!({"parent": {"page_id": page}, "rich_text": [{"text": {"content": "From the API"}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"]["type"], "integration");
    let r = post(
        &sim,
        "/v1/comments",
        json!({"discussion_id": discussion, "rich_text": [{"text": {"content": "API reply"}}]}),
    )
    .await;
    assert_eq!(r.body["discussion_id"], discussion.as_str());
    let r = post(&sim, "/v1/comments", json!({"rich_text": []})).await;
    assert_eq!(r.body["code"], "validation_error");
    let dump = sim.state_dump(V_NEW);
    let ids: Vec<&str> = dump["comments"]
        .as_array()
        .expect("c")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        ids.contains(&first.as_str())
            && ids.contains(&reply.as_str())
            && ids.contains(&on_page.as_str())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn users_paginate_and_emails_follow_the_capability() {
    let sim = full().await;
    let users = list_all(&sim, V_NEW, "/v1/users", 10).await;
    assert!(users.len() > 30);
    let ids: BTreeSet<&str> = users.iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(ids.len(), users.len());
    assert_eq!(
        &users,
        sim.state_dump(V_NEW)["users"].as_array().expect("users")
    );
    assert!(
        users
            .iter()
            .any(|u| u["type"] == "bot" && u["bot"].is_object())
    );
    assert!(
        users
            .iter()
            .filter(|u| u["type"] == "person")
            .all(|u| u["person"]["email"].is_string())
    );
    assert!(emails(&sim.state_dump(V_NEW)["pages"]) > 0);
    let person = users
        .iter()
        .find(|u| u["type"] == "person")
        .expect("person");
    let r = get(
        &sim,
        &format!("/v1/users/{}", person["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(r.body["person"]["email"], person["person"]["email"]);
    sim.shutdown().await;

    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        user_emails: false,
        ..SimConfig::default()
    })
    .await;
    let users = list_all(&sim, V_NEW, "/v1/users", 100).await;
    for u in users.iter().filter(|u| u["type"] == "person") {
        assert_eq!(u["person"], json!({}));
        let r = get(
            &sim,
            &format!("/v1/users/{}", u["id"].as_str().expect("id")),
        )
        .await;
        assert_eq!(r.body["person"], json!({}));
    }
    let dump = sim.state_dump(V_NEW);
    assert_eq!(&users, dump["users"].as_array().expect("users"));
    assert_eq!(emails(&dump), 0, "no emails in people values");
    let everything = query_all(&sim, &ds_of(&sim, "Everything"), json!({})).await;
    let people = everything.iter().flat_map(|p| {
        p["properties"]["People"]["people"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    });
    for u in people {
        assert_eq!(u["person"], json!({}));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_generated_large_tree_is_served_whole() {
    let sim = demo().await;
    let page = query_all(&sim, &ds_of(&sim, "Tasks"), json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let before = dump_page(&sim.state_dump(V_NEW), &page)["blocks"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(sim.generate_content(&page, 5_000, 8), 5_000);
    assert_eq!(
        sim.generate_content("0000000000000000000000000000beef", 10, 2),
        0
    );
    let dump = sim.state_dump(V_NEW);
    let blocks = dump_page(&dump, &page)["blocks"]
        .as_array()
        .expect("blocks");
    assert_eq!(blocks.len(), before + 5_000);
    let deepest = blocks.iter().filter_map(|b| b["depth"].as_u64()).max();
    assert_eq!(deepest, Some(8));
    sim.reset_counters();
    let tree = read_tree(&sim, V_NEW, &page, 100).await;
    assert_eq!(tree.len(), blocks.len());
    assert_eq!(&tree, blocks);
    let c = sim.counters();
    assert!(c.by_endpoint["list_block_children"] > 100);
    // Admin HTTP routes drive the same operation.
    let r = admin(
        &sim,
        &format!("pages/{page}/content"),
        json!({"blocks": 30, "depth": 3}),
    )
    .await;
    assert_eq!(r["count"], 30);
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_content_routes_and_endpoint_counters() {
    let sim = demo().await;
    let (page, entry) = showcase(&sim);
    let toggle = first_of(&entry, "toggle");
    let r = admin(&sim, &format!("blocks/{page}/append"), json!({"count": 2})).await;
    let ids: Vec<String> = r["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        admin(&sim, &format!("blocks/{}/edit", ids[0]), json!({})).await["ok"],
        true
    );
    assert_eq!(
        admin(
            &sim,
            &format!("blocks/{}/move", ids[0]),
            json!({"parent_id": toggle, "position": 0})
        )
        .await["ok"],
        true
    );
    assert_eq!(
        admin(&sim, &format!("blocks/{}/delete", ids[1]), json!({})).await["ok"],
        true
    );
    let c = admin(
        &sim,
        "comments/add",
        json!({"parent_id": ids[0], "text": "hi"}),
    )
    .await;
    let id = c["id"].as_str().expect("comment id");
    let listed = get(&sim, &format!("/v1/comments?block_id={}", ids[0]))
        .await
        .body;
    let discussion = listed["results"][0]["discussion_id"]
        .as_str()
        .expect("d")
        .to_string();
    assert_eq!(listed["results"][0]["id"], id);
    let r = admin(
        &sim,
        "comments/reply",
        json!({"discussion_id": discussion, "text": "hello"}),
    )
    .await;
    assert!(r["id"].is_string());

    sim.reset_counters();
    get(&sim, &format!("/v1/blocks/{toggle}")).await;
    get(&sim, &format!("/v1/blocks/{toggle}/children")).await;
    get(&sim, &format!("/v1/comments?block_id={page}")).await;
    get(&sim, "/v1/users").await;
    get(&sim, "/v1/users/me").await;
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/v1/blocks/{}", ids[0]),
        Some(V_NEW),
        None,
    )
    .await;
    assert_eq!(r.body["in_trash"], true);
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/v1/blocks/{}", ids[0]),
        Some(V_NEW),
        None,
    )
    .await;
    assert_eq!(r.body["code"], "validation_error");
    post(
        &sim,
        "/v1/comments",
        json!({"parent": {"page_id": page}, "rich_text": [{"text": {"content": "x"}}]}),
    )
    .await;
    let c = sim.counters();
    let names: BTreeSet<&str> = c.by_endpoint.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "create_comment",
            "delete_block",
            "list_block_children",
            "list_comments",
            "list_users",
            "retrieve_block",
            "retrieve_user",
        ])
    );
    assert_eq!(c.by_endpoint["delete_block"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn purging_a_page_removes_its_content_and_comments() {
    let sim = demo().await;
    let (page, entry) = showcase(&sim);
    let block = first_of(&entry, "toggle");
    assert!(sim.delete_block(&first_of(&entry, "quote")));
    assert!(sim.purge_page(&page));
    assert_eq!(get(&sim, &format!("/v1/blocks/{block}")).await.status, 404);
    assert_eq!(
        get(&sim, &format!("/v1/blocks/{page}/children"))
            .await
            .status,
        404
    );
    let dump = sim.state_dump(V_NEW);
    let comments = dump["comments"].as_array().expect("comments");
    assert!(!comments.is_empty());
    assert!(comments.iter().all(|c| c["page_id"] != page.as_str()));
    assert!(sim.add_comment(&block, "gone").is_empty());
    sim.shutdown().await;
}
