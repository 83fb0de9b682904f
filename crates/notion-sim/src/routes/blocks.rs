//! Block children: list (one level, paginated) and append (≤100 per call, ≤2 nesting levels).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Params, list, offset_cursor, param, query_page_size};
use crate::Version;
use crate::errors::{ApiError, ApiResult, not_found, validation};
use crate::model::{Block, Workspace, floor_minute};
use crate::render;
use crate::state::Shared;

/// `GET /v1/blocks/{id}/children` (a page id lists the page's content).
pub fn list_children(shared: &Shared, id: &str, version: Version, params: &Params) -> ApiResult {
    let size = query_page_size(params)?;
    let offset = offset_cursor(param(params, "start_cursor"), &format!("b{id}"))?;
    let ws = shared.read();
    if !ws.pages.contains_key(id) && !ws.blocks.contains_key(id) {
        return Err(not_found("block", id));
    }
    let ids = ws.children.get(id).cloned().unwrap_or_default();
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
    let is_page = ws.pages.contains_key(id);
    if !is_page && !ws.blocks.contains_key(id) {
        return Err(not_found("block", id));
    }
    let children = body.get("children").ok_or_else(|| {
        validation(
            "body failed validation: body.children should be defined, instead was `undefined`.",
        )
    })?;
    let created = insert_children(shared, &mut ws, id, is_page, children, now)?;
    let rendered: Vec<Value> = created
        .iter()
        .filter_map(|b| ws.blocks.get(b))
        .map(|b| render::block(&ws, b, version))
        .collect();
    let n = rendered.len();
    Ok(list(rendered, 0, n.max(1), "block", "appended").into())
}

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
    }
    Ok(out)
}

/// Creates blocks from a request `children` array under a page or block; returns first-level ids.
pub fn insert_children(
    shared: &Shared,
    ws: &mut Workspace,
    parent: &str,
    parent_is_page: bool,
    children: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let bot = ws.bot_id();
    let mut created = Vec::new();
    insert_level(
        shared,
        ws,
        parent,
        parent_is_page,
        children,
        now,
        &bot,
        "body.children",
        0,
        &mut created,
    )?;
    // Content edits bump the owning page.
    let mut owner = parent.to_string();
    while let Some(b) = ws.blocks.get(&owner) {
        owner = b.parent.clone();
    }
    if let Some(p) = ws.pages.get_mut(&owner) {
        p.edited = now;
        p.edited_by = bot;
    }
    Ok(created)
}

#[allow(clippy::too_many_arguments)]
fn insert_level(
    shared: &Shared,
    ws: &mut Workspace,
    parent: &str,
    parent_is_page: bool,
    children: &Value,
    now: DateTime<Utc>,
    bot: &str,
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
        let kind = item
            .get("type")
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
                    "body failed validation: {item_path}.type should be defined, instead was `undefined`."
                ))
            })?;
        let payload = item.get(&kind).cloned().unwrap_or(json!({}));
        let stored = validate_payload(&item_path, &kind, &payload)?;
        let id = shared.new_id();
        ws.blocks.insert(
            id.clone(),
            Block {
                id: id.clone(),
                parent: parent.to_string(),
                parent_is_page,
                kind: kind.clone(),
                payload: stored,
                created: now,
                edited: now,
                by: bot.to_string(),
            },
        );
        ws.children
            .entry(parent.to_string())
            .or_default()
            .push(id.clone());
        if depth == 0 {
            created.push(id.clone());
        }
        if let Some(nested) = payload.get("children") {
            insert_level(
                shared,
                ws,
                &id,
                false,
                nested,
                now,
                bot,
                &format!("{item_path}.{kind}.children"),
                depth + 1,
                created,
            )?;
        }
    }
    Ok(())
}
