//! Pages: retrieve, update, create, and the property-item endpoint.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Params, filter_properties, multi_source, offset_cursor, param, query_page_size,
    reject_at_newest, wanted_properties,
};
use crate::Version;
use crate::content::{self, Stamp};
use crate::errors::{ApiError, ApiResult, Reply, not_found, validation};
use crate::model::{Page, Workspace, floor_minute};
use crate::render;
use crate::server::{decode, norm_id};
use crate::state::Shared;

/// `GET /v1/pages/{id}`.
pub fn retrieve_page(shared: &Shared, id: &str, version: Version, params: &Params) -> ApiResult {
    let ws = shared.read();
    let page = ws.pages.get(id).ok_or_else(|| not_found("page", id))?;
    let wanted = wanted_properties(params);
    Ok(filter_properties(render::page(&ws, page, version, false), &wanted).into())
}

fn bool_field(body: &Value, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(validation(format!(
            "body failed validation: body.{field} should be a boolean, instead was `{v}`."
        ))),
    }
}

/// The trash flag of a page or block update: `in_trash`, or its deprecated alias `archived`.
pub fn trash_flag(body: &Value) -> Result<Option<bool>, ApiError> {
    Ok(match bool_field(body, "in_trash")? {
        Some(t) => Some(t),
        None => bool_field(body, "archived")?,
    })
}

fn properties_object(body: &Value) -> Result<Option<&serde_json::Map<String, Value>>, ApiError> {
    match body.get("properties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(v) => Err(validation(format!(
            "body failed validation: body.properties should be an object, instead was `{v}`."
        ))),
    }
}

/// Moves a page to the trash or back; a page under a page takes its `child_page` block along.
pub fn set_trash(ws: &mut Workspace, id: &str, trash: bool, stamp: Stamp) {
    let Some(p) = ws.pages.get_mut(id) else {
        return;
    };
    if p.in_trash == trash {
        return;
    }
    p.in_trash = trash;
    p.edited = stamp.at;
    p.edited_by = stamp.by.to_string();
    if trash {
        content::trash_block(ws, id, stamp);
    } else {
        content::restore_block(ws, id, stamp);
    }
}

/// Icon and cover of a request (`None`: not given; `null` clears).
fn looks(ws: &Workspace, body: &Value) -> Result<(Option<Value>, Option<Value>), ApiError> {
    let icon = body
        .get("icon")
        .map(|v| crate::writes::icon(ws, "body.icon", v))
        .transpose()?;
    let cover = body
        .get("cover")
        .map(|v| crate::writes::cover(ws, "body.cover", v))
        .transpose()?;
    Ok((icon, cover))
}

/// `PATCH /v1/pages/{id}`: properties, icon, cover, `erase_content`, `in_trash` (and `archived`
/// before 2026-03-11), `is_archived`.
pub fn update_page(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    reject_at_newest(version, body, "archived")?;
    let trash = trash_flag(body)?;
    let archive = bool_field(body, "is_archived")?;
    let erase = bool_field(body, "erase_content")?.unwrap_or(false);
    let props = properties_object(body)?;
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let (icon, cover) = looks(&ws, body)?;
    let page = ws
        .pages
        .get(id)
        .cloned()
        .ok_or_else(|| not_found("page", id))?;
    let ds = ws
        .source_of(&page)
        .cloned()
        .ok_or_else(|| not_found("page", id))?;
    let edits = props.is_some() || icon.is_some() || cover.is_some() || erase;
    if page.in_trash && trash != Some(false) && edits {
        return Err(super::blocks::archived_error());
    }
    let writes = match props {
        Some(props) => crate::writes::values(&ws, &ds, props, Some(&page), &mut shared.rng())?,
        None => Vec::new(),
    };
    let bot = ws.bot_id();
    let stamp = Stamp { at: now, by: &bot };
    if let Some(t) = trash {
        set_trash(&mut ws, id, t, stamp);
    }
    crate::writes::store(&mut ws, id, writes, stamp);
    if erase {
        for child in content::children(&ws, id).to_vec() {
            content::trash_block(&mut ws, &child, stamp);
        }
    }
    if let Some(p) = ws.pages.get_mut(id) {
        if let Some(a) = archive {
            p.is_archived = a;
        }
        if let Some(i) = icon {
            p.meta.icon = i;
        }
        if let Some(c) = cover {
            p.meta.cover = c;
        }
        p.edited = now;
        p.edited_by = bot.clone();
    }
    let page = ws.pages.get(id).ok_or_else(|| not_found("page", id))?;
    Ok(render::page(&ws, page, version, false).into())
}

/// Where a new or moved page goes.
enum Parent {
    /// A row of this data source.
    Source(String),
    /// A child page of this page.
    Page(String),
}

/// The parent of a create or move request: `data_source_id` (2025-09-03+), `database_id` of a
/// single-source database, or `page_id` (a page, not a block); `allow_database` for creates.
fn parent_of(ws: &Workspace, parent: &Value, allow_database: bool) -> Result<Parent, ApiError> {
    let uuid = |field: &str| -> Result<Option<String>, ApiError> {
        match parent[field].as_str() {
            None => Ok(None),
            Some(raw) => norm_id(raw).map(Some).ok_or_else(|| {
                validation(format!(
                    "body failed validation: body.parent.{field} should be a valid uuid, instead was `\"{raw}\"`."
                ))
            }),
        }
    };
    if let Some(ds) = uuid("data_source_id")? {
        if !ws.sources.contains_key(&ds) {
            return Err(not_found("data source", &ds));
        }
        return Ok(Parent::Source(ds));
    }
    if let Some(page) = uuid("page_id")? {
        let p = ws
            .pages
            .get(&page)
            .ok_or_else(|| not_found("page", &page))?;
        if p.in_trash {
            return Err(super::blocks::archived_error());
        }
        return Ok(Parent::Page(page));
    }
    if allow_database && let Some(db) = uuid("database_id")? {
        let d = ws
            .databases
            .get(&db)
            .ok_or_else(|| not_found("database", &db))?;
        if d.sources.len() > 1 {
            return Err(multi_source(&db, &d.sources));
        }
        return Ok(Parent::Source(
            d.sources.first().cloned().unwrap_or_default(),
        ));
    }
    Err(crate::writes::union_failure(
        "body.parent",
        if allow_database {
            &["page_id", "database_id", "data_source_id"]
        } else {
            &["page_id", "data_source_id"]
        },
    ))
}

/// Puts a page under its parent: a row's data source, or a page (whose content gains a
/// `child_page` block at the end).
fn place(ws: &mut Workspace, page: &mut Page, parent: &Parent, stamp: Stamp) {
    match parent {
        Parent::Source(ds) => {
            page.data_source_id = ds.clone();
            page.meta.parent_page = None;
        }
        Parent::Page(p) => {
            page.data_source_id = String::new();
            page.meta.parent_page = Some(p.clone());
            let block = content::new_block(page.id.clone(), p, "child_page", json!({}), stamp);
            content::attach(ws, block, None);
            content::touch_page(ws, p, stamp);
        }
    }
}

/// `POST /v1/pages` under a data source, a single-source database or a page; with `properties`,
/// `icon`, `cover` and `children`.
pub fn create_page(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    reject_at_newest(version, body, "archived")?;
    let props = properties_object(body)?;
    let children = body.get("children").filter(|c| !c.is_null());
    if children.is_some() && body.get("template").is_some_and(|t| !t.is_null()) {
        return Err(validation(
            "body failed validation: body.children should be not present when body.template is defined.",
        ));
    }
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let (icon, cover) = looks(&ws, body)?;
    let parent = parent_of(&ws, &body["parent"], true)?;
    let ds = match &parent {
        Parent::Source(id) => ws
            .sources
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("data source", id))?,
        Parent::Page(_) => crate::model::page_schema().clone(),
    };
    let writes = match props {
        Some(props) => crate::writes::values(&ws, &ds, props, None, &mut shared.rng())?,
        None => Vec::new(),
    };
    let plan = match children {
        Some(c) => super::blocks::plan(&ws, None, false, c)?,
        None => Vec::new(),
    };
    let mut values = BTreeMap::new();
    for p in ds.props.iter().filter(|p| p.kind == "unique_id") {
        let n = ws.next_unique.entry(ds.id.clone()).or_insert(1);
        values.insert(
            p.name.clone(),
            json!({"prefix": p.config.get("prefix").cloned().unwrap_or(Value::Null), "number": *n}),
        );
        *n += 1;
    }
    let id = shared.new_id();
    let bot = ws.bot_id();
    let stamp = Stamp { at: now, by: &bot };
    let mut page = Page {
        id: id.clone(),
        data_source_id: String::new(),
        created: now,
        edited: now,
        created_by: bot.clone(),
        edited_by: bot.clone(),
        in_trash: false,
        is_archived: false,
        values,
        meta: crate::model::PageMeta {
            parent_page: None,
            icon: icon.unwrap_or(Value::Null),
            cover: cover.unwrap_or(Value::Null),
        },
    };
    place(&mut ws, &mut page, &parent, stamp);
    ws.pages.insert(id.clone(), page);
    crate::writes::store(&mut ws, &id, writes, stamp);
    super::blocks::insert(shared, &mut ws, &id, plan, 0, stamp);
    let page = ws.pages.get(&id).ok_or_else(|| not_found("page", &id))?;
    Ok(render::page(&ws, page, version, false).into())
}

/// Whether `id` is `ancestor` or a page below it.
fn under(ws: &Workspace, id: &str, ancestor: &str) -> bool {
    let mut cur = Some(id.to_string());
    while let Some(c) = cur {
        if c == ancestor {
            return true;
        }
        cur = ws.pages.get(&c).and_then(|p| p.meta.parent_page.clone());
    }
    false
}

/// `POST /v1/pages/{id}/move`: a regular page to a page or a data source. Values of properties the
/// new schema lacks (by name and type) are dropped; the title follows.
pub fn move_page(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let mut page = ws
        .pages
        .get(id)
        .cloned()
        .ok_or_else(|| not_found("page", id))?;
    if page.in_trash {
        return Err(super::blocks::archived_error());
    }
    if body.get("parent").is_none_or(Value::is_null) {
        return Err(validation(
            "body failed validation: body.parent should be defined, instead was `undefined`.",
        ));
    }
    let parent = parent_of(&ws, &body["parent"], false)?;
    if let Parent::Page(p) = &parent
        && under(&ws, p, id)
    {
        return Err(validation(format!(
            "Cannot move page {id} under itself or one of its descendants."
        )));
    }
    let old = ws
        .source_of(&page)
        .cloned()
        .unwrap_or_else(|| crate::model::page_schema().clone());
    let bot = ws.bot_id();
    let stamp = Stamp { at: now, by: &bot };
    if page.meta.parent_page.take().is_some() {
        content::detach(&mut ws, id);
        ws.blocks.remove(id);
    }
    place(&mut ws, &mut page, &parent, stamp);
    let new = ws
        .source_of(&page)
        .cloned()
        .unwrap_or_else(|| crate::model::page_schema().clone());
    let mut values = BTreeMap::new();
    for (name, v) in std::mem::take(&mut page.values) {
        let Some(from) = old.props.iter().find(|p| p.name == name) else {
            continue;
        };
        let to = if from.kind == "title" {
            new.props.iter().find(|p| p.kind == "title")
        } else {
            new.props
                .iter()
                .find(|p| p.name == name && p.kind == from.kind)
        };
        if let Some(to) = to {
            values.insert(to.name.clone(), v);
        }
    }
    page.values = values;
    page.edited = now;
    page.edited_by = bot.clone();
    ws.pages.insert(id.to_string(), page);
    let page = ws.pages.get(id).ok_or_else(|| not_found("page", id))?;
    Ok(render::page(&ws, page, version, false).into())
}

/// `GET /v1/pages/{id}/properties/{property_id}`: full values, paginated for list types.
pub fn property_item(shared: &Shared, page_id: &str, prop_raw: &str, params: &Params) -> ApiResult {
    let ws = shared.read();
    let page = ws
        .pages
        .get(page_id)
        .ok_or_else(|| not_found("page", page_id))?;
    let ds = ws
        .source_of(page)
        .ok_or_else(|| not_found("page", page_id))?;
    let wanted = decode(prop_raw);
    let prop = ds
        .props
        .iter()
        .find(|p| p.id == prop_raw || decode(&p.id) == wanted)
        .ok_or_else(|| not_found("property", prop_raw))?;
    let full = render::page(&ws, page, Version::V2026_03_11, true);
    let value = full["properties"][&prop.name][&prop.kind].clone();
    if !matches!(
        prop.kind.as_str(),
        "title" | "rich_text" | "people" | "relation"
    ) {
        return Ok(
            json!({"object": "property_item", "id": prop.id, "type": prop.kind, prop.kind.clone(): value})
                .into(),
        );
    }
    let size = query_page_size(params)?;
    let offset = offset_cursor(param(params, "start_cursor"), &format!("p{}", prop.id))?;
    let items = value.as_array().cloned().unwrap_or_default();
    let end = (offset + size).min(items.len());
    let results: Vec<Value> = items
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|it| json!({"object": "property_item", "id": prop.id, "type": prop.kind, prop.kind.clone(): it}))
        .collect();
    let more = end < items.len();
    let next = more.then(|| crate::query::encode_offset(end, &format!("p{}", prop.id)));
    let next_url = next.as_ref().map(|c| {
        format!(
            "{}/v1/pages/{page_id}/properties/{}?start_cursor={c}",
            shared.base_url(),
            prop.id
        )
    });
    Ok(Reply::Json(json!({
        "object": "list", "results": results, "next_cursor": next,
        "has_more": more, "type": "property_item",
        "property_item": {"id": prop.id, "next_url": next_url, "type": prop.kind, prop.kind.clone(): {}}
    })))
}
