//! Blocks: retrieve, update, delete (to the trash), list children (one level, paginated) and append
//! children (≤100 per call, ≤2 nesting levels, a position).
//!
//! A request's blocks are validated whole (types Notion creates, payloads, structure) before any is
//! made, so a rejected request changes nothing.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Params, list, offset_cursor, param, query_page_size, reject_at_newest};
use crate::Version;
use crate::content::{self, Stamp};
use crate::errors::{ApiError, ApiResult, not_found, validation};
use crate::model::{Workspace, floor_minute};
use crate::render;
use crate::state::Shared;
use crate::writes::{file_source, icon, invalid, rich_text, union_failure};

/// Block types the API creates (child pages and databases are made through their own endpoints).
const CREATABLE: &str = "audio bookmark breadcrumb bulleted_list_item numbered_list_item callout code \
    column_list column divider embed equation file heading_1 heading_2 heading_3 heading_4 image \
    link_to_page paragraph pdf quote synced_block table table_row table_of_contents tab to_do toggle video";

/// Whether the API creates blocks of this type.
fn creatable(kind: &str) -> bool {
    CREATABLE.split_whitespace().any(|k| k == kind)
}

/// Types whose main field is `rich_text`.
const TEXT: &[&str] = &[
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "heading_4",
    "bulleted_list_item",
    "numbered_list_item",
    "quote",
    "to_do",
    "toggle",
    "callout",
    "code",
];

const MEDIA: &[&str] = &["audio", "file", "image", "pdf", "video"];

/// Most block elements one request may carry.
const MAX_BLOCKS: usize = 1000;

/// The answer for an edit of a trashed page or block.
pub fn archived_error() -> ApiError {
    validation("Can't edit block that is archived. You must unarchive the block before editing.")
}

/// The bot's stamp for a write now.
fn bot_stamp(shared: &Shared, ws: &Workspace) -> (DateTime<Utc>, String) {
    (floor_minute(shared.now()), ws.bot_id())
}

/// `GET /v1/blocks/{id}`: a block, or a page as a `child_page` block.
pub fn retrieve_block(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let ws = shared.read();
    if let Some(b) = ws.blocks.get(id).filter(|_| !ws.pages.contains_key(id)) {
        return Ok(render::block(&ws, b, version).into());
    }
    let page = ws.pages.get(id).ok_or_else(|| not_found("block", id))?;
    Ok(render::page_block(&ws, page, version).into())
}

/// `DELETE /v1/blocks/{id}`: moves a block (or a page) to the trash and returns it.
pub fn delete_block(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let mut ws = shared.write();
    let (at, bot) = bot_stamp(shared, &ws);
    let stamp = Stamp { at, by: &bot };
    if ws.pages.contains_key(id) {
        if ws.pages.get(id).is_some_and(|p| p.in_trash) {
            return Err(archived_error());
        }
        super::pages::set_trash(&mut ws, id, true, stamp);
        let page = ws.pages.get(id).ok_or_else(|| not_found("block", id))?;
        return Ok(render::page_block(&ws, page, version).into());
    }
    let b = ws.blocks.get(id).ok_or_else(|| not_found("block", id))?;
    if b.in_trash {
        return Err(archived_error());
    }
    content::trash_block(&mut ws, id, stamp);
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

/// Where appended blocks go among the parent's children: `position` (`start`, `end`,
/// `after_block`), or the older `after` (removed in 2026-03-11; never with `position`).
fn insert_index(
    ws: &Workspace,
    parent: &str,
    version: Version,
    body: &Value,
) -> Result<usize, ApiError> {
    let after = body.get("after").filter(|a| !a.is_null());
    let position = body.get("position").filter(|p| !p.is_null());
    if version >= Version::V2026_03_11 && after.is_some() {
        return Err(invalid(format!(
            "body.after should be not present, instead was `{}`.",
            after.cloned().unwrap_or_default()
        )));
    }
    if after.is_some() && position.is_some() {
        return Err(validation(
            "body failed validation: body.after and body.position should not be used together.",
        ));
    }
    let siblings = content::children(ws, parent);
    let after_id = match (after, position) {
        (Some(a), _) => Some(a.as_str().unwrap_or_default().to_string()),
        (None, Some(p)) => match p["type"].as_str() {
            Some("start") => return Ok(0),
            Some("end") => return Ok(siblings.len()),
            Some("after_block") => Some(
                p["after_block"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => {
                return Err(invalid(format!(
                    "body.position.type should be `start`, `end` or `after_block`, instead was `{}`.",
                    p["type"]
                )));
            }
        },
        (None, None) => None,
    };
    let Some(raw) = after_id else {
        return Ok(siblings.len());
    };
    let id = crate::server::norm_id(&raw).unwrap_or(raw.clone());
    siblings
        .iter()
        .position(|s| *s == id)
        .map(|i| i + 1)
        .ok_or_else(|| {
            validation(format!(
                "Block {raw} is not a child of the parent block {parent}."
            ))
        })
}

/// `PATCH /v1/blocks/{id}/children`.
pub fn append_children(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    let children = body.get("children").ok_or_else(|| {
        validation(
            "body failed validation: body.children should be defined, instead was `undefined`.",
        )
    })?;
    let mut ws = shared.write();
    let (parent_kind, toggleable, width) = match (ws.pages.get(id), ws.blocks.get(id)) {
        (Some(p), _) if p.in_trash => return Err(archived_error()),
        (Some(_), _) => (None, false, None),
        (None, Some(b)) if b.in_trash => return Err(archived_error()),
        (None, Some(_)) => {
            let key = content::children_key(&ws, id);
            let b = ws.blocks.get(key).ok_or_else(|| not_found("block", id))?;
            let width = b.payload["table_width"].as_u64().map(|w| w as usize);
            (
                Some(b.kind.clone()),
                b.payload["is_toggleable"] == true,
                width,
            )
        }
        (None, None) => return Err(not_found("block", id)),
    };
    let plan = plan(&ws, parent_kind.as_deref(), toggleable, children)?;
    if let (Some("table"), Some(width)) = (parent_kind.as_deref(), width) {
        row_widths("body", width, &plan)?;
    }
    let parent = content::children_key(&ws, id).to_string();
    let at = insert_index(&ws, &parent, version, body)?;
    let (now, bot) = bot_stamp(shared, &ws);
    let created = insert(
        shared,
        &mut ws,
        &parent,
        plan,
        at,
        Stamp { at: now, by: &bot },
    );
    let rendered: Vec<Value> = created
        .iter()
        .filter_map(|b| ws.blocks.get(b))
        .map(|b| render::block(&ws, b, version))
        .collect();
    let n = rendered.len();
    Ok(list(rendered, 0, n.max(1), "block", "appended").into())
}

/// A block of a request, validated and ready to make.
#[derive(Debug, Clone)]
pub struct Planned {
    kind: String,
    payload: Value,
    children: Vec<Planned>,
}

/// Validates a request `children` array for a parent of type `parent` (`None` for a page): at most
/// 100 per array, two levels of nesting, 1,000 blocks in all.
pub fn plan(
    ws: &Workspace,
    parent: Option<&str>,
    toggleable: bool,
    children: &Value,
) -> Result<Vec<Planned>, ApiError> {
    let planned = plan_level(ws, parent, toggleable, children, "body.children", 0)?;
    fn count(p: &[Planned]) -> usize {
        p.iter().map(|b| 1 + count(&b.children)).sum()
    }
    let n = count(&planned);
    if n > MAX_BLOCKS {
        return Err(validation(format!(
            "body failed validation: the request holds {n} block elements, more than the limit of {MAX_BLOCKS}."
        )));
    }
    Ok(planned)
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
            invalid(format!(
                "{path}.type should be defined, instead was `undefined`."
            ))
        })
}

fn plan_level(
    ws: &Workspace,
    parent: Option<&str>,
    toggleable: bool,
    children: &Value,
    path: &str,
    depth: usize,
) -> Result<Vec<Planned>, ApiError> {
    let items = children.as_array().ok_or_else(|| {
        invalid(format!(
            "{path} should be an array, instead was `{children}`."
        ))
    })?;
    crate::writes::check_len(path, items)?;
    if depth > 2 {
        return Err(validation(format!(
            "body failed validation: {path} exceeds the maximum nesting depth of two levels per request."
        )));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let kind = requested_type(item, &at)?;
        if !creatable(&kind) {
            return Err(validation(format!(
                "body failed validation: {at}.type `{kind}` is not a block type that can be created through the API."
            )));
        }
        if !content::accepts_kind(parent, toggleable, &kind) {
            return Err(validation(format!(
                "{at}: a {kind} block cannot be a child of {}.",
                parent.map_or("a page".to_string(), |p| format!("a {p} block"))
            )));
        }
        let raw = item.get(&kind).cloned().unwrap_or(json!({}));
        let payload = normalize(ws, &format!("{at}.{kind}"), &kind, &raw, false)?;
        let nested_path = format!("{at}.{kind}.children");
        let holds = raw["is_toggleable"] == true;
        let nested = match raw.get("children") {
            Some(c) if kind == "synced_block" && !raw["synced_from"].is_null() => {
                let _ = c;
                return Err(validation(format!(
                    "{nested_path}: a synced block reference cannot have children."
                )));
            }
            Some(c) => plan_level(ws, Some(&kind), holds, c, &nested_path, depth + 1)?,
            None => Vec::new(),
        };
        structure(&at, &kind, &payload, &nested)?;
        out.push(Planned {
            kind,
            payload,
            children: nested,
        });
    }
    Ok(out)
}

/// Structural rules: a column list holds two or more columns each with content; a table holds rows
/// as wide as `table_width`; a column needs content.
fn structure(at: &str, kind: &str, payload: &Value, nested: &[Planned]) -> Result<(), ApiError> {
    match kind {
        "column_list" if nested.len() < 2 => Err(validation(format!(
            "{at}: a column_list needs at least 2 columns, instead had {}.",
            nested.len()
        ))),
        "column" if nested.is_empty() => Err(validation(format!(
            "{at}: a column needs at least 1 child block."
        ))),
        "table" => {
            if nested.is_empty() {
                return Err(validation(format!(
                    "{at}: a table needs at least 1 table_row."
                )));
            }
            let width = payload["table_width"].as_u64().unwrap_or(0) as usize;
            row_widths(&format!("{at}.table"), width, nested)
        }
        _ => Ok(()),
    }
}

/// Table rows have as many cells as the table is wide (`table_width` is fixed at creation).
fn row_widths(at: &str, width: usize, rows: &[Planned]) -> Result<(), ApiError> {
    for (r, row) in rows.iter().enumerate() {
        let cells = row.payload["cells"].as_array().map_or(0, Vec::len);
        if cells != width {
            return Err(validation(format!(
                "{at}.children[{r}].table_row.cells.length should be {width} (the table_width), instead was {cells}."
            )));
        }
    }
    Ok(())
}

/// A rich-text field: required when `required`, else kept when absent.
fn text_field(
    ws: &Workspace,
    out: &mut Map<String, Value>,
    raw: &Value,
    path: &str,
    field: &str,
    required: bool,
) -> Result<(), ApiError> {
    match raw.get(field) {
        Some(v) => {
            out.insert(field.into(), rich_text(ws, &format!("{path}.{field}"), v)?);
        }
        None if required => {
            return Err(invalid(format!(
                "{path}.{field} should be defined, instead was `undefined`."
            )));
        }
        None => {}
    }
    Ok(())
}

fn string_field(
    out: &mut Map<String, Value>,
    raw: &Value,
    path: &str,
    field: &str,
    max: usize,
    required: bool,
) -> Result<(), ApiError> {
    match raw.get(field) {
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n > max {
                return Err(invalid(format!(
                    "{path}.{field}.length should be ≤ `{max}`, instead was `{n}`."
                )));
            }
            out.insert(field.into(), json!(s));
        }
        Some(v) => {
            return Err(invalid(format!(
                "{path}.{field} should be a string, instead was `{v}`."
            )));
        }
        None if required => {
            return Err(invalid(format!(
                "{path}.{field} should be defined, instead was `undefined`."
            )));
        }
        None => {}
    }
    Ok(())
}

/// Copies the listed plain fields (booleans, colors, languages) when given.
fn copy(out: &mut Map<String, Value>, raw: &Value, fields: &[&str]) {
    for f in fields {
        if let Some(v) = raw.get(*f) {
            out.insert((*f).into(), v.clone());
        }
    }
}

/// The stored payload of a requested block type: validated, with the defaults Notion fills in. With
/// `partial` (an update), required fields may be absent and no defaults are added.
fn normalize(
    ws: &Workspace,
    path: &str,
    kind: &str,
    raw: &Value,
    partial: bool,
) -> Result<Value, ApiError> {
    let mut out = Map::new();
    let full = !partial;
    if TEXT.contains(&kind) {
        text_field(ws, &mut out, raw, path, "rich_text", full)?;
        copy(
            &mut out,
            raw,
            &["color", "checked", "is_toggleable", "language"],
        );
        if kind == "callout"
            && let Some(i) = raw.get("icon")
        {
            out.insert("icon".into(), icon(ws, &format!("{path}.icon"), i)?);
        }
        if kind == "code" {
            text_field(ws, &mut out, raw, path, "caption", false)?;
        }
        if full {
            let defaults: &[(&str, Value)] = match kind {
                "to_do" => &[("checked", json!(false)), ("color", json!("default"))],
                k if k.starts_with("heading_") => {
                    &[("is_toggleable", json!(false)), ("color", json!("default"))]
                }
                "code" => &[("caption", json!([])), ("language", json!("plain text"))],
                "callout" => &[("icon", Value::Null), ("color", json!("default"))],
                "paragraph" => &[("icon", Value::Null), ("color", json!("default"))],
                _ => &[("color", json!("default"))],
            };
            for (k, v) in defaults {
                out.entry(*k).or_insert_with(|| v.clone());
            }
        }
    } else if MEDIA.contains(&kind) {
        if full
            || raw.get("external").is_some()
            || raw.get("file_upload").is_some()
            || raw.get("file").is_some()
        {
            let source = file_source(ws, path, raw)?;
            // A file block shows its upload's file name unless the request names it.
            if kind == "file"
                && let Some(key) = crate::files::stored_key(&source["file"])
            {
                out.insert("name".into(), json!(crate::files::name_of(key)));
            }
            out.extend(source.as_object().cloned().unwrap_or_default());
        }
        text_field(ws, &mut out, raw, path, "caption", false)?;
        copy(&mut out, raw, &["name"]);
        if full {
            out.entry("caption").or_insert(json!([]));
        }
    } else {
        match kind {
            "bookmark" | "embed" => {
                string_field(&mut out, raw, path, "url", 2000, full)?;
                text_field(ws, &mut out, raw, path, "caption", false)?;
                if full {
                    out.entry("caption").or_insert(json!([]));
                }
            }
            "equation" => string_field(&mut out, raw, path, "expression", 1000, full)?,
            "table_of_contents" | "breadcrumb" | "divider" | "column_list" | "column" | "tab" => {
                copy(&mut out, raw, &["color", "width_ratio"]);
                if full && kind == "table_of_contents" {
                    out.entry("color").or_insert(json!("default"));
                }
            }
            "link_to_page" => {
                let target = match raw["type"].as_str() {
                    Some(t @ ("page_id" | "database_id")) => t,
                    _ if raw.get("page_id").is_some() => "page_id",
                    _ if raw.get("database_id").is_some() => "database_id",
                    _ => return Err(union_failure(path, &["page_id", "database_id"])),
                };
                let id = raw[target]
                    .as_str()
                    .and_then(crate::server::norm_id)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{path}.{target} should be a valid uuid, instead was `{}`.",
                            raw[target]
                        ))
                    })?;
                out.insert("type".into(), json!(target));
                out.insert(target.into(), json!(id));
            }
            "synced_block" => {
                if partial {
                    return Err(validation("Synced-block content cannot be updated."));
                }
                let from = match &raw["synced_from"] {
                    Value::Null => Value::Null,
                    f => {
                        let id = f["block_id"]
                            .as_str()
                            .and_then(crate::server::norm_id)
                            .unwrap_or_default();
                        let original = ws.blocks.get(&id).filter(|b| {
                            b.kind == "synced_block"
                                && b.payload["synced_from"].is_null()
                                && !b.in_trash
                        });
                        if original.is_none() {
                            return Err(validation(format!(
                                "{path}.synced_from.block_id should be a synced block original, instead was `{}`.",
                                f["block_id"]
                            )));
                        }
                        json!({"type": "block_id", "block_id": id})
                    }
                };
                out.insert("synced_from".into(), from);
            }
            "table" => {
                match raw.get("table_width") {
                    Some(w) if w.as_u64().is_some_and(|w| w >= 1) => {
                        if partial {
                            return Err(validation(
                                "The table_width of a table cannot be changed.",
                            ));
                        }
                        out.insert("table_width".into(), w.clone());
                    }
                    None if partial => {}
                    w => {
                        return Err(invalid(format!(
                            "{path}.table_width should be a positive integer, instead was `{}`.",
                            w.cloned().unwrap_or_default()
                        )));
                    }
                }
                copy(&mut out, raw, &["has_column_header", "has_row_header"]);
                if full {
                    out.entry("has_column_header").or_insert(json!(false));
                    out.entry("has_row_header").or_insert(json!(false));
                }
            }
            "table_row" => match raw.get("cells") {
                Some(Value::Array(cells)) => {
                    let mut norm = Vec::new();
                    for (c, cell) in cells.iter().enumerate() {
                        norm.push(rich_text(ws, &format!("{path}.cells[{c}]"), cell)?);
                    }
                    out.insert("cells".into(), Value::Array(norm));
                }
                None if partial => {}
                _ => {
                    return Err(invalid(format!(
                        "{path}.cells should be an array, instead was `{}`.",
                        raw.get("cells").cloned().unwrap_or_default()
                    )));
                }
            },
            other => {
                return Err(validation(format!(
                    "Block type {other} cannot be updated through the API."
                )));
            }
        }
    }
    Ok(Value::Object(out))
}

/// Makes planned blocks under `parent` from index `at` (stamped by the bot, bumping the page);
/// returns the first-level ids in order.
pub fn insert(
    shared: &Shared,
    ws: &mut Workspace,
    parent: &str,
    plan: Vec<Planned>,
    at: usize,
    stamp: Stamp,
) -> Vec<String> {
    let mut created = Vec::new();
    for (i, p) in plan.into_iter().enumerate() {
        created.push(make(shared, ws, parent, p, Some(at + i), stamp));
    }
    content::touch_page(ws, parent, stamp);
    created
}

fn make(
    shared: &Shared,
    ws: &mut Workspace,
    parent: &str,
    p: Planned,
    at: Option<usize>,
    stamp: Stamp,
) -> String {
    let id = shared.new_id();
    content::attach(
        ws,
        content::new_block(id.clone(), parent, &p.kind, p.payload, stamp),
        at,
    );
    for child in p.children {
        make(shared, ws, &id, child, None, stamp);
    }
    id
}

/// `PATCH /v1/blocks/{id}`: the type's content (merged over the stored payload), and `in_trash`
/// (or `archived` before 2026-03-11) to trash or restore.
pub fn update_block(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(invalid("body should be an object."));
    }
    reject_at_newest(version, body, "archived")?;
    let trash = super::pages::trash_flag(body)?;
    let mut ws = shared.write();
    let (at, bot) = bot_stamp(shared, &ws);
    let stamp = Stamp { at, by: &bot };
    let content_keys: Vec<&String> = body
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !matches!(k.as_str(), "in_trash" | "archived" | "type" | "object"))
                .collect()
        })
        .unwrap_or_default();
    if ws.pages.contains_key(id) {
        if let Some(k) = content_keys.first() {
            return Err(validation(format!(
                "body failed validation: body.{k} should be not present, instead was defined."
            )));
        }
        if let Some(t) = trash {
            super::pages::set_trash(&mut ws, id, t, stamp);
        }
        let page = ws.pages.get(id).ok_or_else(|| not_found("block", id))?;
        return Ok(render::page_block(&ws, page, version).into());
    }
    let b = ws
        .blocks
        .get(id)
        .cloned()
        .ok_or_else(|| not_found("block", id))?;
    let served = render::block_type(&b.kind, version).to_string();
    if let Some(k) = content_keys.iter().find(|k| ***k != served) {
        return Err(validation(format!(
            "body failed validation: body.{k} should be not present: the block is a {served} block."
        )));
    }
    let patch = body.get(&served);
    if b.in_trash && trash != Some(false) && patch.is_some() {
        return Err(archived_error());
    }
    let merged = match patch {
        Some(raw) => {
            if raw.get("children").is_some() {
                return Err(invalid(format!(
                    "body.{served}.children should be not present, instead was defined."
                )));
            }
            let norm = normalize(&ws, &format!("body.{served}"), &b.kind, raw, true)?;
            let mut payload = b.payload.clone();
            if let (Some(p), Value::Object(n)) = (payload.as_object_mut(), norm) {
                // A media source replaces the old one.
                if n.contains_key("type") {
                    for k in ["external", "file", "file_upload"] {
                        p.remove(k);
                    }
                }
                p.extend(n);
            }
            Some(payload)
        }
        None => None,
    };
    match trash {
        Some(false) if b.in_trash && !content::restore_block(&mut ws, id, stamp) => {
            return Err(archived_error());
        }
        Some(true) if !b.in_trash => {
            content::trash_block(&mut ws, id, stamp);
        }
        _ => {}
    }
    if let Some(payload) = merged
        && let Some(block) = ws.blocks.get_mut(id)
    {
        block.payload = payload;
        block.edited = stamp.at;
        block.edited_by = bot.clone();
        content::touch_page(&mut ws, id, stamp);
    }
    let b = ws.blocks.get(id).ok_or_else(|| not_found("block", id))?;
    Ok(render::block(&ws, b, version).into())
}
