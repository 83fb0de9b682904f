//! Blocks: retrieve, delete (to the trash), list children (one level, paginated) and append children
//! (≤100 per call, ≤2 nesting levels).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Params, list, offset_cursor, param, query_page_size};
use crate::Version;
use crate::content::{self, Stamp};
use crate::errors::{ApiError, ApiResult, not_found, validation};
use crate::model::{Workspace, floor_minute};
use crate::render;
use crate::state::Shared;

/// The answer for an edit of a trashed page or block.
fn archived_error() -> ApiError {
    validation("Can't edit block that is archived. You must unarchive the block before editing.")
}

/// `GET /v1/blocks/{id}`: a block, or a page as a `child_page` block.
pub fn retrieve_block(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let ws = shared.read();
    if let Some(b) = ws.blocks.get(id) {
        return Ok(render::block(&ws, b, version).into());
    }
    let page = ws.pages.get(id).ok_or_else(|| not_found("block", id))?;
    Ok(render::page_block(&ws, page, version).into())
}

/// `DELETE /v1/blocks/{id}`: moves a block to the trash and returns it.
pub fn delete_block(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let b = ws.blocks.get(id).ok_or_else(|| not_found("block", id))?;
    if b.in_trash {
        return Err(archived_error());
    }
    let bot = ws.bot_id();
    content::trash_block(&mut ws, id, Stamp { at: now, by: &bot });
    let b = ws.blocks.get(id).ok_or_else(|| not_found("block", id))?;
    Ok(render::block(&ws, b, version).into())
}

/// `GET /v1/blocks/{id}/children` (a page id lists the page's content; a synced reference lists its
/// original's children).
pub fn list_children(shared: &Shared, id: &str, version: Version, params: &Params) -> ApiResult {
    let size = query_page_size(params)?;
    let offset = offset_cursor(param(params, "start_cursor"), &format!("b{id}"))?;
    let ws = shared.read();
    if !ws.pages.contains_key(id) && !ws.blocks.contains_key(id) {
        return Err(not_found("block", id));
    }
    let ids = content::children(&ws, id);
    let end = (offset + size).min(ids.len());
    // Render only the requested slice, then let `list` add the cursor.
    let mut items: Vec<Value> = vec![Value::Null; offset.min(end)];
    items.extend(
        ids.get(offset.min(end)..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|b| ws.blocks.get(b))
            .map(|b| render::block(&ws, b, version)),
    );
    items.extend(std::iter::repeat_n(Value::Null, ids.len() - end));
    Ok(list(items, offset, size, "block", &format!("b{id}")).into())
}

/// `PATCH /v1/blocks/{id}/children`.
pub fn append_children(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    if version >= Version::V2026_03_11 && body.get("after").is_some() {
        return Err(validation(
            "body failed validation: body.after should be not present, instead was defined.",
        ));
    }
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let trashed = match (ws.pages.get(id), ws.blocks.get(id)) {
        (Some(p), _) => p.in_trash,
        (None, Some(b)) => b.in_trash,
        (None, None) => return Err(not_found("block", id)),
    };
    if trashed {
        return Err(archived_error());
    }
    let children = body.get("children").ok_or_else(|| {
        validation(
            "body failed validation: body.children should be defined, instead was `undefined`.",
        )
    })?;
    let parent = content::children_key(&ws, id).to_string();
    let created = insert_children(shared, &mut ws, &parent, children, now)?;
    let rendered: Vec<Value> = created
        .iter()
        .filter_map(|b| ws.blocks.get(b))
        .map(|b| render::block(&ws, b, version))
        .collect();
    let n = rendered.len();
    Ok(list(rendered, 0, n.max(1), "block", "appended").into())
}

/// The stored payload of a requested block: rich text normalised, defaults Notion fills in added.
fn validate_payload(path: &str, kind: &str, payload: &Value) -> Result<Value, ApiError> {
    let mut out = payload.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("children");
        if let Some(rt) = o.get("rich_text") {
            let rt = crate::writes::rich_text(&format!("{path}.{kind}.rich_text"), rt)
                .map_err(validation)?;
            o.insert("rich_text".into(), rt);
            o.entry("color").or_insert(json!("default"));
        }
        if kind == "paragraph" {
            o.entry("icon").or_insert(Value::Null);
        }
    }
    Ok(out)
}

/// Creates blocks from a request `children` array under a page or block (stamped by the bot, bumping
/// the page); returns the first-level ids.
pub fn insert_children(
    shared: &Shared,
    ws: &mut Workspace,
    parent: &str,
    children: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let bot = ws.bot_id();
    let stamp = Stamp { at: now, by: &bot };
    let mut created = Vec::new();
    insert_level(
        shared,
        ws,
        stamp,
        parent,
        children,
        "body.children",
        0,
        &mut created,
    )?;
    content::touch_page(ws, parent, stamp);
    Ok(created)
}

/// The type of a requested block: `type`, or its only payload key.
fn requested_type(item: &Value, path: &str) -> Result<String, ApiError> {
    item.get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            item.as_object()?
                .keys()
                .find(|k| *k != "object" && *k != "type")
                .cloned()
        })
        .ok_or_else(|| {
            validation(format!(
                "body failed validation: {path}.type should be defined, instead was `undefined`."
            ))
        })
}

#[allow(clippy::too_many_arguments)]
fn insert_level(
    shared: &Shared,
    ws: &mut Workspace,
    stamp: Stamp,
    parent: &str,
    children: &Value,
    path: &str,
    depth: usize,
    created: &mut Vec<String>,
) -> Result<(), ApiError> {
    let items = children.as_array().ok_or_else(|| {
        validation(format!(
            "body failed validation: {path} should be an array."
        ))
    })?;
    if items.len() > 100 {
        return Err(validation(format!(
            "body failed validation: {path}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        )));
    }
    if depth > 2 {
        return Err(validation(format!(
            "body failed validation: {path} exceeds the maximum nesting depth of two levels."
        )));
    }
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let kind = requested_type(item, &item_path)?;
        let payload = item.get(&kind).cloned().unwrap_or(json!({}));
        let stored = validate_payload(&item_path, &kind, &payload)?;
        let id = shared.new_id();
        content::attach(
            ws,
            content::new_block(id.clone(), parent, &kind, stored, stamp),
            None,
        );
        if depth == 0 {
            created.push(id.clone());
        }
        if let Some(nested) = payload.get("children") {
            let nested_path = format!("{item_path}.{kind}.children");
            insert_level(
                shared,
                ws,
                stamp,
                &id,
                nested,
                &nested_path,
                depth + 1,
                created,
            )?;
        }
    }
    Ok(())
}
