//! Databases and data sources: retrieve, create, schema updates.

use serde_json::{Map, Value, json};

use super::multi_source;
use crate::Version;
use crate::errors::{ApiResult, not_found, validation};
use crate::model::{DataSource, Database, floor_minute};
use crate::render;
use crate::state::Shared;

/// `GET /v1/databases/{id}`.
pub fn retrieve_database(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let ws = shared.read();
    let db = ws
        .databases
        .get(id)
        .ok_or_else(|| not_found("database", id))?;
    if !version.has_data_sources() && db.sources.len() > 1 {
        return Err(multi_source(id, &db.sources));
    }
    Ok(render::database(&ws, db, version).into())
}

/// `GET /v1/data_sources/{id}`.
pub fn retrieve_data_source(shared: &Shared, id: &str, version: Version) -> ApiResult {
    let ws = shared.read();
    let ds = ws
        .sources
        .get(id)
        .ok_or_else(|| not_found("data source", id))?;
    Ok(render::data_source(&ws, ds, version).into())
}

fn plain_title(v: &Value) -> Option<String> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|t| {
                t["text"]["content"]
                    .as_str()
                    .or_else(|| t["plain_text"].as_str())
            })
            .collect()
    })
}

/// `PATCH /v1/data_sources/{id}`: `title` and `properties` (add, rename, retype, remove).
pub fn update_data_source(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    super::reject_at_newest(version, body, "archived")?;
    if !shared.read().sources.contains_key(id) {
        return Err(not_found("data source", id));
    }
    if let Some(props) = body.get("properties").filter(|p| !p.is_null()) {
        let props = props.as_object().ok_or_else(|| {
            validation("body failed validation: body.properties should be an object.")
        })?;
        shared.patch_schema(id, props).map_err(validation)?;
    }
    if let Some(title) = body.get("title").and_then(plain_title) {
        let now = floor_minute(shared.now());
        let mut ws = shared.write();
        if let Some(ds) = ws.sources.get_mut(id) {
            ds.name = title;
            ds.edited = now;
        }
    }
    let ws = shared.read();
    let ds = ws
        .sources
        .get(id)
        .ok_or_else(|| not_found("data source", id))?;
    Ok(render::data_source(&ws, ds, version).into())
}

/// `POST /v1/databases`: a database with its first data source.
pub fn create_database(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    let props = if version.has_data_sources() {
        body["initial_data_source"]["properties"].as_object()
    } else {
        body["properties"].as_object()
    };
    let field = if version.has_data_sources() {
        "initial_data_source.properties"
    } else {
        "properties"
    };
    let props: Map<String, Value> = props.cloned().ok_or_else(|| {
        validation(format!(
            "body failed validation: body.{field} should be defined, instead was `undefined`."
        ))
    })?;
    let titles = props.values().filter(|v| v.get("title").is_some()).count();
    if titles != 1 {
        return Err(validation(
            "Title is not provided. A database must have exactly one title property.",
        ));
    }
    if body["parent"].get("page_id").is_none() && body["parent"].get("workspace").is_none() {
        return Err(validation(
            "body failed validation: body.parent.page_id should be defined, instead was `undefined`.",
        ));
    }
    let title = plain_title(&body["title"]).unwrap_or_default();
    let now = floor_minute(shared.now());
    let db_id = shared.new_id();
    let ds_id = shared.new_id();
    {
        let mut ws = shared.write();
        ws.sources.insert(
            ds_id.clone(),
            DataSource {
                id: ds_id.clone(),
                name: title.clone(),
                database_id: db_id.clone(),
                props: Vec::new(),
                created: now,
                edited: now,
            },
        );
        ws.databases.insert(
            db_id.clone(),
            Database {
                id: db_id.clone(),
                title,
                sources: vec![ds_id.clone()],
                created: now,
            },
        );
    }
    // Title first, as Notion lists it.
    let mut ordered = Map::new();
    for (k, v) in props.iter().filter(|(_, v)| v.get("title").is_some()) {
        let mut v = v.clone();
        v["type"] = json!("title");
        ordered.insert(k.clone(), v);
    }
    for (k, v) in props.iter().filter(|(_, v)| v.get("title").is_none()) {
        ordered.insert(k.clone(), v.clone());
    }
    if let Err(e) = shared.patch_schema(&ds_id, &ordered) {
        let mut ws = shared.write();
        ws.sources.remove(&ds_id);
        ws.databases.remove(&db_id);
        return Err(validation(e));
    }
    {
        let mut ws = shared.write();
        if let Some(ds) = ws.sources.get_mut(&ds_id) {
            for p in ds.props.iter_mut().filter(|p| p.kind == "title") {
                p.id = "title".into();
            }
            ds.edited = now;
        }
    }
    let ws = shared.read();
    let db = ws
        .databases
        .get(&db_id)
        .ok_or_else(|| not_found("database", &db_id))?;
    Ok(render::database(&ws, db, version).into())
}
