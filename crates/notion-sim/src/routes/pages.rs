//! Pages: retrieve, update, create, and the property-item endpoint.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Params, filter_properties, multi_source, offset_cursor, param, query_page_size,
    reject_at_newest, wanted_properties,
};
use crate::Version;
use crate::errors::{ApiError, ApiResult, Reply, not_found, validation};
use crate::model::{Page, floor_minute};
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

fn properties_object(body: &Value) -> Result<Option<&serde_json::Map<String, Value>>, ApiError> {
    match body.get("properties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(v) => Err(validation(format!(
            "body failed validation: body.properties should be an object, instead was `{v}`."
        ))),
    }
}

/// `PATCH /v1/pages/{id}`: properties, `in_trash`, `is_archived` (and `archived` before 2026-03-11).
pub fn update_page(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    reject_at_newest(version, body, "archived")?;
    let trash = match bool_field(body, "in_trash")? {
        Some(t) => Some(t),
        None => bool_field(body, "archived")?,
    };
    let archive = bool_field(body, "is_archived")?;
    let props = properties_object(body)?;
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let page = ws
        .pages
        .get(id)
        .cloned()
        .ok_or_else(|| not_found("page", id))?;
    let ds = ws
        .sources
        .get(&page.data_source_id)
        .cloned()
        .ok_or_else(|| not_found("page", id))?;
    let mut updated = page.clone();
    if let Some(props) = props {
        if page.in_trash && trash != Some(false) {
            return Err(validation(
                "Can't edit block that is archived. You must unarchive the block before editing.",
            ));
        }
        for (name, v) in props {
            let (name, stored) = crate::writes::value(&ws, &ds, name, v).map_err(validation)?;
            updated.values.insert(name, stored);
        }
    }
    if let Some(t) = trash {
        updated.in_trash = t;
    }
    if let Some(a) = archive {
        updated.is_archived = a;
    }
    updated.edited = now;
    updated.edited_by = ws.bot_id();
    ws.pages.insert(id.to_string(), updated);
    let page = ws.pages.get(id).ok_or_else(|| not_found("page", id))?;
    Ok(render::page(&ws, page, version, false).into())
}

/// `POST /v1/pages` under a data source (or a single-source database) parent.
pub fn create_page(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    reject_at_newest(version, body, "archived")?;
    let props = properties_object(body)?;
    let parent = &body["parent"];
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let ds_id = if let Some(ds) = parent["data_source_id"].as_str() {
        norm_id(ds).ok_or_else(|| {
            validation(format!(
                "body failed validation: body.parent.data_source_id should be a valid uuid, instead was `\"{ds}\"`."
            ))
        })?
    } else if let Some(db) = parent["database_id"].as_str() {
        let db = norm_id(db).ok_or_else(|| {
            validation(format!(
                "body failed validation: body.parent.database_id should be a valid uuid, instead was `\"{db}\"`."
            ))
        })?;
        let d = ws
            .databases
            .get(&db)
            .ok_or_else(|| not_found("database", &db))?;
        if d.sources.len() > 1 {
            return Err(multi_source(&db, &d.sources));
        }
        d.sources.first().cloned().unwrap_or_default()
    } else {
        return Err(validation(
            "body failed validation: body.parent.data_source_id should be defined, instead was `undefined`.",
        ));
    };
    let ds = ws
        .sources
        .get(&ds_id)
        .cloned()
        .ok_or_else(|| not_found("data source", &ds_id))?;
    let mut values = BTreeMap::new();
    if let Some(props) = props {
        for (name, v) in props {
            let (name, stored) = crate::writes::value(&ws, &ds, name, v).map_err(validation)?;
            values.insert(name, stored);
        }
    }
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
    let page = Page {
        id: id.clone(),
        data_source_id: ds_id,
        created: now,
        edited: now,
        created_by: bot.clone(),
        edited_by: bot,
        in_trash: false,
        is_archived: false,
        values,
    };
    ws.pages.insert(id.clone(), page);
    if let Some(children) = body.get("children").filter(|c| !c.is_null()) {
        super::blocks::insert_children(shared, &mut ws, &id, children, now)?;
    }
    let page = ws.pages.get(&id).ok_or_else(|| not_found("page", &id))?;
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
        .sources
        .get(&page.data_source_id)
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
