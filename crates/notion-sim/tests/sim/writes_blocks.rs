//! Block writes: append (limits, nesting, positions, types and structure), update, trash and
//! restore.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

fn para(text: &str) -> Value {
    json!({"type": "paragraph", "paragraph": {"rich_text": rt(text)}})
}

/// A demo simulator and the id of its first note.
async fn noted() -> (notion_sim::SimHandle, String) {
    let sim = demo().await;
    let page = query_all(&sim, &ds_of(&sim, "Notes"), json!({})).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    (sim, page)
}

/// The ids of the blocks an append made, in order.
fn result_ids(r: &Resp) -> Vec<String> {
    r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect()
}

async fn update(sim: &notion_sim::SimHandle, id: &str, body: Value) -> Resp {
    patch(sim, &format!("/v1/blocks/{id}"), body).await
}

async fn append(sim: &notion_sim::SimHandle, parent: &str, body: Value) -> Resp {
    patch(sim, &format!("/v1/blocks/{parent}/children"), body).await
}

/// The plain text of each block of a page's dump tree, in order.
fn texts(sim: &notion_sim::SimHandle, page: &str) -> Vec<String> {
    dump_entry(sim, page)["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| {
            let kind = b["type"].as_str().unwrap_or_default();
            b["block"][kind]["rich_text"][0]["plain_text"]
                .as_str()
                .unwrap_or(kind)
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn appends_keep_order_and_positions() {
    let (sim, page) = noted().await;
    let start = texts(&sim, &page);
    let r = append(
        &sim,
        &page,
        json!({"children": [para("one"), para("three")]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids = result_ids(&r);
    assert_eq!(ids.len(), 2);
    let r = append(&sim, &page, json!({"children": [para("two")], "position": {"type": "after_block", "after_block": {"id": ids[0]}}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = append(
        &sim,
        &page,
        json!({"children": [para("zero")], "position": {"type": "start"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut want = vec!["zero".to_string()];
    want.extend(start);
    want.extend(["one", "two", "three"].map(String::from));
    assert_eq!(texts(&sim, &page), want);
    // The older `after` before 2026-03-11 only, never beside `position`.
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/blocks/{page}/children"),
        Some(V_DS),
        Some(json!({"children": [para("two and a half")], "after": ids[0]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(texts(&sim, &page)[want.len() - 2], "two and a half");
    let r = append(
        &sim,
        &page,
        json!({"children": [para("x")], "after": ids[0]}),
    )
    .await;
    assert_invalid(&r, "body.after should be not present");
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/blocks/{page}/children"),
        Some(V_DS),
        Some(json!({"children": [para("x")], "after": ids[0], "position": {"type": "end"}})),
    )
    .await;
    assert_invalid(&r, "should not be used together");
    let r = append(&sim, &page, json!({"children": [para("x")], "position": {"type": "after_block", "after_block": {"id": "0123456789abcdef0123456789abcdef"}}})).await;
    assert_invalid(&r, "is not a child of the parent block");
    // Two levels of nesting in one request, then no more.
    let nested = |depth: usize| {
        let mut b = json!({"type": "toggle", "toggle": {"rich_text": rt("leaf")}});
        for _ in 0..depth {
            b = json!({"type": "toggle", "toggle": {"rich_text": rt("t"), "children": [b]}});
        }
        b
    };
    let r = append(&sim, &page, json!({"children": [nested(2)]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = append(&sim, &page, json!({"children": [nested(3)]})).await;
    assert_invalid(&r, "maximum nesting depth");
    sim.shutdown().await;
}

#[tokio::test]
async fn appends_are_validated_whole() {
    let (sim, page) = noted().await;
    let before = texts(&sim, &page);
    let many: Vec<Value> = (0..101).map(|i| para(&i.to_string())).collect();
    let cases = [
        (
            json!({"children": many}),
            "body.children.length should be ≤ `100`, instead was `101`.",
        ),
        (
            json!({"children": [para("fine"), {"type": "child_page", "child_page": {"title": "x"}}]}),
            "`child_page` is not a block type that can be created",
        ),
        (
            json!({"children": [{"type": "link_preview", "link_preview": {"url": "https://x"}}]}),
            "`link_preview` is not a block type",
        ),
        (
            json!({"children": [{"type": "paragraph", "paragraph": {}}]}),
            "body.children[0].paragraph.rich_text should be defined",
        ),
        (
            json!({"children": [{"type": "paragraph", "paragraph": {"rich_text": rt(&"x".repeat(2001))}}]}),
            "body.children[0].paragraph.rich_text[0].text.content.length should be ≤ `2000`",
        ),
        (
            json!({"children": [{"type": "column_list", "column_list": {"children": [{"type": "column", "column": {"children": [para("a")]}}]}}]}),
            "at least 2 columns",
        ),
        (
            json!({"children": [{"type": "column_list", "column_list": {"children": [{"type": "column", "column": {"children": [para("a")]}}, {"type": "column", "column": {}}]}}]}),
            "a column needs at least 1 child",
        ),
        (
            json!({"children": [{"type": "table", "table": {"table_width": 2, "children": [{"type": "table_row", "table_row": {"cells": [rt("a")]}}]}}]}),
            "cells.length should be 2",
        ),
        (
            json!({"children": [{"type": "table", "table": {"table_width": 2}}]}),
            "at least 1 table_row",
        ),
        (
            json!({"children": [{"type": "table_row", "table_row": {"cells": []}}]}),
            "cannot be a child of a page",
        ),
        (
            json!({"children": [{"type": "image", "image": {"type": "file", "file": {"url": "https://s3/x.png"}}}]}),
            "body.children[0].image.external should be defined",
        ),
        (
            json!({"children": [{"type": "image", "image": {"type": "file_upload", "file_upload": {"id": "abc"}}}]}),
            "Could not find file_upload with ID: abc.",
        ),
        (
            json!({"children": [{"type": "tab", "tab": {"children": [{"type": "to_do", "to_do": {"rich_text": rt("x")}}]}}]}),
            "a to_do block cannot be a child of a tab block",
        ),
        (
            json!({"children": [{"type": "synced_block", "synced_block": {"synced_from": {"block_id": "0123456789abcdef0123456789abcdef"}}}]}),
            "should be a synced block original",
        ),
    ];
    for (body, needle) in cases {
        let r = append(&sim, &page, body).await;
        assert_invalid(&r, needle);
    }
    assert_eq!(texts(&sim, &page), before, "nothing was appended");
    // Well-formed structures go in whole.
    let r = append(&sim, &page, json!({"children": [
        {"type": "column_list", "column_list": {"children": [
            {"type": "column", "column": {"children": [para("left")]}},
            {"type": "column", "column": {"children": [para("right")]}}]}},
        {"type": "table", "table": {"table_width": 2, "has_column_header": true, "children": [
            {"type": "table_row", "table_row": {"cells": [rt("a"), rt("b")]}}]}},
        {"type": "image", "image": {"type": "external", "external": {"url": "https://example.com/i.png"}}},
        {"type": "code", "code": {"rich_text": rt("fn x() {}"), "language": "rust"}},
        {"type": "heading_2", "heading_2": {"rich_text": rt("H"), "is_toggleable": true, "children": [para("under")]}}
    ]}))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(5));
    assert_eq!(r.body["results"][1]["table"]["has_row_header"], false);
    assert_eq!(r.body["results"][2]["image"]["caption"], json!([]));
    let tree = dump_entry(&sim, &page)["blocks"].clone();
    let kinds: Vec<&str> = tree
        .as_array()
        .expect("blocks")
        .iter()
        .skip(before.len())
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "column_list",
            "column",
            "paragraph",
            "column",
            "paragraph",
            "table",
            "table_row",
            "image",
            "code",
            "heading_2",
            "paragraph"
        ]
    );
    // Rows appended to a table later are as wide as it.
    let table = r.body["results"][1]["id"].as_str().expect("id");
    let row = |n: usize| json!({"children": [{"type": "table_row", "table_row": {"cells": vec![rt("c"); n]}}]});
    assert_invalid(
        &append(&sim, table, row(3)).await,
        "body.children[0].table_row.cells.length should be 2",
    );
    assert_eq!(append(&sim, table, row(2)).await.status, 200);
    // A leaf takes no children.
    let image = r.body["results"][2]["id"].as_str().expect("id");
    let r = append(&sim, image, json!({"children": [para("x")]})).await;
    assert_invalid(&r, "cannot be a child of a image block");
    sim.shutdown().await;
}

#[tokio::test]
async fn blocks_update_trash_and_restore() {
    let (sim, page) = noted().await;
    let r = append(
        &sim,
        &page,
        json!({"children": [
            para("first"),
            {"type": "to_do", "to_do": {"rich_text": rt("task")}},
            para("last")
        ]}),
    )
    .await;
    let ids = result_ids(&r);
    let todo = &ids[1];
    sim.advance_clock(chrono::Duration::minutes(5));
    let r = update(&sim, todo, json!({"to_do": {"checked": true}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["to_do"]["checked"], true);
    assert_eq!(
        r.body["to_do"]["rich_text"][0]["plain_text"], "task",
        "omitted fields are kept"
    );
    assert_eq!(r.body["last_edited_time"], "2026-01-05T09:05:00.000Z");
    let me = get(&sim, "/v1/users/me").await.body["id"].clone();
    assert_eq!(r.body["last_edited_by"]["id"], me);
    let p = get(&sim, &format!("/v1/pages/{page}")).await.body;
    assert_eq!(
        p["last_edited_time"], "2026-01-05T09:05:00.000Z",
        "the page is edited too"
    );
    let r = update(
        &sim,
        todo,
        json!({"to_do": {"rich_text": rt("renamed"), "color": "red"}}),
    )
    .await;
    assert_eq!(r.body["to_do"]["rich_text"][0]["plain_text"], "renamed");
    let r = update(&sim, todo, json!({"paragraph": {"rich_text": rt("x")}})).await;
    assert_invalid(&r, "body.paragraph should be not present");
    let r = update(
        &sim,
        todo,
        json!({"to_do": {"rich_text": rt(&"y".repeat(2001))}}),
    )
    .await;
    assert_invalid(
        &r,
        "body.to_do.rich_text[0].text.content.length should be ≤ `2000`",
    );
    // Trash through update (and `archived` before 2026-03-11), restore in place.
    let r = update(&sim, todo, json!({"in_trash": true})).await;
    assert_eq!(r.body["in_trash"], true);
    let dump = dump_entry(&sim, &page);
    assert!(
        dump["trashed_blocks"]
            .as_array()
            .expect("trashed")
            .iter()
            .any(|b| b["id"] == todo.as_str())
    );
    let r = update(&sim, todo, json!({"to_do": {"checked": false}})).await;
    assert_invalid(&r, "You must unarchive");
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/blocks/{todo}"),
        Some(V_DS),
        Some(json!({"archived": false})),
    )
    .await;
    assert_eq!(
        (r.body["in_trash"].clone(), r.body["archived"].clone()),
        (json!(false), json!(false))
    );
    let order: Vec<String> = texts(&sim, &page).into_iter().rev().take(3).collect();
    assert_eq!(order, ["last", "renamed", "first"]);
    let r = update(&sim, todo, json!({"archived": true})).await;
    assert_invalid(&r, "body.archived should be not present");
    // DELETE trashes; a second DELETE is an edit of a trashed block.
    let r = delete(&sim, &format!("/v1/blocks/{}", ids[0])).await;
    assert_eq!(r.body["in_trash"], true);
    let r = delete(&sim, &format!("/v1/blocks/{}", ids[0])).await;
    assert_invalid(&r, "You must unarchive");
    // Synced-block content cannot be updated.
    let r = append(&sim, &page, json!({"children": [{"type": "synced_block", "synced_block": {"synced_from": null, "children": [para("shared")]}}]})).await;
    let synced = r.body["results"][0]["id"].as_str().expect("id").to_string();
    let r = append(&sim, &page, json!({"children": [{"type": "synced_block", "synced_block": {"synced_from": {"block_id": synced}}}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = update(
        &sim,
        &synced,
        json!({"synced_block": {"synced_from": null}}),
    )
    .await;
    assert_invalid(&r, "Synced-block content cannot be updated.");
    let r = patch(
        &sim,
        "/v1/blocks/0123456789abcdef0123456789abcdef",
        json!({"in_trash": true}),
    )
    .await;
    assert_eq!(r.status, 404);
    sim.shutdown().await;
}
