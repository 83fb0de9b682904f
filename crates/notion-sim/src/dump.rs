//! The state dump: every object rendered exactly as the API serves it under one version, the oracle
//! tests compare a connector's output against.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::Version;
use crate::content;
use crate::model::{Block, Comment, Page, Workspace, iso};
use crate::render;

/// The whole state under `version`.
pub fn state(ws: &Workspace, now: DateTime<Utc>, version: Version) -> Value {
    let databases: Vec<Value> = ws
        .databases
        .values()
        .map(|db| {
            let sources: Vec<Value> = db
                .sources
                .iter()
                .filter_map(|s| ws.sources.get(s))
                .map(|s| json!({"id": s.id, "name": s.name, "data_source": render::data_source(ws, s, version)}))
                .collect();
            json!({"id": db.id, "title": db.title, "parent_page_id": db.meta.parent_page,
                   "database": render::database(ws, db, version), "data_sources": sources})
        })
        .collect();
    let trashed = trashed_by_page(ws);
    let pages: Vec<Value> = ws
        .pages
        .values()
        .map(|p| page_entry(ws, p, trashed.get(p.id.as_str()), version))
        .collect();
    json!({
        "now": iso(now),
        "databases": databases,
        "pages": pages,
        "purged_page_ids": ws.purged,
        "comments": comments(ws),
        "users": users(ws),
    })
}

/// Each relation property of a page with its complete target set (sorted ids).
fn relations(ws: &Workspace, p: &Page) -> Value {
    let mut out = serde_json::Map::new();
    for prop in ws
        .source_of(p)
        .into_iter()
        .flat_map(|s| &s.props)
        .filter(|prop| prop.kind == "relation")
    {
        let ids: BTreeSet<&str> = p
            .values
            .get(&prop.name)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_str())
            .collect();
        out.insert(prop.name.clone(), json!(ids));
    }
    Value::Object(out)
}

/// One page: its parent, flags, title, relation target sets, renderings, live content tree and
/// trashed blocks.
fn page_entry(ws: &Workspace, p: &Page, trashed: Option<&Vec<&Block>>, version: Version) -> Value {
    let db = ws
        .sources
        .get(&p.data_source_id)
        .map(|s| s.database_id.clone());
    let (parent_kind, parent_id) = match &p.meta.parent_page {
        Some(page) => ("page", page.clone()),
        None => ("data_source", p.data_source_id.clone()),
    };
    let title = ws.source_of(p).map(|s| p.title(s)).unwrap_or_default();
    let trashed: Vec<Value> = trashed
        .into_iter()
        .flatten()
        .map(|b| {
            json!({
                "id": b.id, "parent_id": b.parent, "parent_type": parent_type(b),
                "type": render::block_type(&b.kind, version),
                "block": render::block(ws, b, version),
            })
        })
        .collect();
    json!({
        "id": p.id, "database_id": db,
        "data_source_id": db.as_ref().map(|_| p.data_source_id.clone()),
        "parent_type": parent_kind, "parent_id": parent_id, "title": title,
        "in_trash": p.in_trash, "is_archived": p.is_archived, "purged": false,
        "relations": relations(ws, p),
        "page": render::page(ws, p, version, false),
        "page_full": render::page(ws, p, version, true),
        "blocks": blocks(ws, &p.id, version),
        "trashed_blocks": trashed,
    })
}

/// `page` or `block`.
fn parent_type(b: &Block) -> &'static str {
    if b.parent_is_page { "page" } else { "block" }
}

/// A page's live blocks in document order, each placed in the tree and rendered.
fn blocks(ws: &Workspace, page: &str, version: Version) -> Vec<Value> {
    content::flatten(ws, page)
        .into_iter()
        .map(|placed| {
            let b = placed.block;
            json!({
                "id": b.id, "parent_id": b.parent, "parent_type": parent_type(b),
                "position": placed.position, "depth": placed.depth,
                "type": render::block_type(&b.kind, version),
                "has_children": content::has_children(ws, &b.id),
                "block": render::block(ws, b, version),
            })
        })
        .collect()
}

/// Trashed blocks by the page holding them, in id order.
fn trashed_by_page(ws: &Workspace) -> BTreeMap<&str, Vec<&Block>> {
    let mut out: BTreeMap<&str, Vec<&Block>> = BTreeMap::new();
    for b in ws.blocks.values().filter(|b| b.in_trash) {
        if let Some(page) = content::page_of(ws, &b.parent) {
            out.entry(page).or_default().push(b);
        }
    }
    out
}

/// The comments the API lists for each page and for each live block of it: by page id, the page's own
/// first, then its blocks' in document order, each parent's oldest first.
fn comments(ws: &Workspace) -> Vec<Value> {
    let mut by_parent: BTreeMap<&str, Vec<&Comment>> = BTreeMap::new();
    for c in ws.comments.iter().filter(|c| !c.resolved) {
        by_parent.entry(c.parent.as_str()).or_default().push(c);
    }
    for list in by_parent.values_mut() {
        list.sort_by_key(|c| c.created);
    }
    let pages: BTreeSet<&str> = by_parent
        .values()
        .flatten()
        .map(|c| c.page.as_str())
        .filter(|p| ws.pages.contains_key(*p))
        .collect();
    let mut out = Vec::new();
    for page in pages {
        let tree = content::flatten(ws, page);
        // A child page's block stands in its parent's tree; its comments are the child's own.
        let blocks = tree
            .iter()
            .map(|p| p.block.id.as_str())
            .filter(|id| !ws.pages.contains_key(*id));
        let parents = std::iter::once(page).chain(blocks);
        for c in parents.filter_map(|p| by_parent.get(p)).flatten() {
            out.push(json!({
                "id": c.id, "page_id": c.page, "parent_id": c.parent,
                "parent_type": if c.parent_is_page { "page" } else { "block" },
                "discussion_id": c.discussion,
                "comment": render::comment(ws, c),
            }));
        }
    }
    out
}

/// Users as `GET /v1/users` lists them.
fn users(ws: &Workspace) -> Vec<Value> {
    ws.users
        .iter()
        .map(|u| render::user(u, !ws.hide_emails))
        .collect()
}
