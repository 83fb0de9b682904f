//! Databases and data sources: retrieve, create, schema updates.

use serde_json::{Map, Value, json};

use super::multi_source;
use crate::Version;
use crate::content::{self, Stamp};
use crate::errors::{ApiResult, not_found, validation};
use crate::model::{DataSource, Database, DatabaseMeta, Workspace, floor_minute};
use crate::render;
use crate::server::norm_id;
use crate::state::Shared;

/// `GET /v1/databases/{id}`.
pub fn retrieve_database(shared: &Shared, id: &str, version: Version) -> ApiResult {
    served_database(&shared.read(), id, version)
}

/// A database as served under `version` (a multi-source one is an error before 2025-09-03).
fn served_database(ws: &Workspace, id: &str, version: Version) -> ApiResult {
    let db = ws
        .databases
        .get(id)
        .ok_or_else(|| not_found("database", id))?;
    if !version.has_data_sources() && db.sources.len() > 1 {
        return Err(multi_source(id, &db.sources));
    }
    Ok(render::database(ws, db, version).into())
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

/// Applies a schema request to a data source, relations resolved for `version`.
fn patch(
    shared: &Shared,
    ds: &str,
    version: Version,
    props: &Value,
) -> Result<(), crate::errors::ApiError> {
    let props = props.as_object().ok_or_else(|| {
        validation("body failed validation: body.properties should be an object.")
    })?;
    let props = crate::schema::normalize_relations(&shared.read(), version, props)?;
    shared.patch_schema(ds, &props).map(|_| ())
}

/// `PATCH /v1/data_sources/{id}`: `title` and `properties` (add, rename, retype, remove).
pub fn update_data_source(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    super::reject_at_newest(version, body, "archived")?;
    if !shared.read().sources.contains_key(id) {
        return Err(not_found("data source", id));
    }
    if let Some(props) = body.get("properties").filter(|p| !p.is_null()) {
        patch(shared, id, version, props)?;
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

/// The `properties` of a create request: an object with exactly one title property.
fn initial_properties<'a>(
    body: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, crate::errors::ApiError> {
    let pointer = format!("/{}", field.replace('.', "/"));
    let props = body
        .pointer(&pointer)
        .and_then(Value::as_object)
        .ok_or_else(|| {
            validation(format!(
                "body failed validation: body.{field} should be defined, instead was `undefined`."
            ))
        })?;
    let titles = props
        .values()
        .filter(|v| v.get("title").is_some() || v["type"] == "title")
        .count();
    if titles != 1 {
        return Err(validation(
            "Title is not provided. A database must have exactly one title property.",
        ));
    }
    Ok(props)
}

/// Adds a data source with `props` to a database (rolled back when the schema is rejected).
fn add_source(
    shared: &Shared,
    db_id: &str,
    name: String,
    props: &Map<String, Value>,
    version: Version,
) -> Result<String, crate::errors::ApiError> {
    let now = floor_minute(shared.now());
    let ds_id = shared.new_id();
    {
        let mut ws = shared.write();
        ws.sources.insert(
            ds_id.clone(),
            DataSource {
                id: ds_id.clone(),
                name,
                database_id: db_id.to_string(),
                props: Vec::new(),
                created: now,
                edited: now,
            },
        );
        if let Some(db) = ws.databases.get_mut(db_id) {
            db.sources.push(ds_id.clone());
        }
    }
    if let Err(e) = patch(shared, &ds_id, version, &Value::Object(props.clone())) {
        let mut ws = shared.write();
        ws.sources.remove(&ds_id);
        if let Some(db) = ws.databases.get_mut(db_id) {
            db.sources.retain(|s| s != &ds_id);
        }
        return Err(e);
    }
    Ok(ds_id)
}

/// Description, icon, cover and `is_inline` of a database request (validated; `None`: not given).
fn database_looks(
    body: &Value,
    meta: &mut DatabaseMeta,
    ws: &Workspace,
) -> Result<(), crate::errors::ApiError> {
    if let Some(d) = body.get("description").filter(|d| !d.is_null()) {
        meta.description = Some(crate::writes::rich_text(ws, "body.description", d)?);
    }
    if let Some(i) = body.get("icon") {
        meta.icon = crate::writes::icon(ws, "body.icon", i)?;
    }
    if let Some(c) = body.get("cover") {
        meta.cover = crate::writes::cover(ws, "body.cover", c)?;
    }
    match body.get("is_inline") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => meta.is_inline = *b,
        Some(v) => {
            return Err(validation(format!(
                "body failed validation: body.is_inline should be a boolean, instead was `{v}`."
            )));
        }
    }
    Ok(())
}

/// `POST /v1/databases`: a database with its first data source, under a page (whose content gains
/// a `child_database` block) or the workspace.
pub fn create_database(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    let field = if version.has_data_sources() {
        "initial_data_source.properties"
    } else {
        "properties"
    };
    let props = initial_properties(body, field)?;
    let parent_page = match body["parent"].get("page_id").and_then(Value::as_str) {
        Some(raw) => {
            let id = norm_id(raw).ok_or_else(|| {
                validation(format!(
                    "body failed validation: body.parent.page_id should be a valid uuid, instead was `\"{raw}\"`."
                ))
            })?;
            let ws = shared.read();
            let page = ws.pages.get(&id).ok_or_else(|| not_found("page", &id))?;
            if page.in_trash {
                return Err(super::blocks::archived_error());
            }
            Some(id)
        }
        None if body["parent"]["workspace"] == true => None,
        None => {
            return Err(validation(
                "body failed validation: body.parent.page_id should be defined, instead was `undefined`.",
            ));
        }
    };
    let title = plain_title(&body["title"]).unwrap_or_default();
    let mut meta = DatabaseMeta {
        parent_page: parent_page.clone(),
        ..DatabaseMeta::default()
    };
    database_looks(body, &mut meta, &shared.read())?;
    let now = floor_minute(shared.now());
    meta.edited = now;
    let db_id = shared.new_id();
    shared.write().databases.insert(
        db_id.clone(),
        Database {
            id: db_id.clone(),
            title: title.clone(),
            sources: Vec::new(),
            created: now,
            meta,
        },
    );
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
    if let Err(e) = add_source(shared, &db_id, title, &ordered, version) {
        shared.write().databases.remove(&db_id);
        return Err(e);
    }
    let mut ws = shared.write();
    if let Some(page) = parent_page {
        let bot = ws.bot_id();
        let stamp = Stamp { at: now, by: &bot };
        let block = content::new_block(db_id.clone(), &page, "child_database", json!({}), stamp);
        content::attach(&mut ws, block, None);
        content::touch_page(&mut ws, &page, stamp);
    }
    let db = ws
        .databases
        .get(&db_id)
        .ok_or_else(|| not_found("database", &db_id))?;
    Ok(render::database(&ws, db, version).into())
}

/// `POST /v1/data_sources` (2025-09-03+): another data source of an existing database.
pub fn create_data_source(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    let raw = body["parent"]["database_id"].as_str().ok_or_else(|| {
        validation(
            "body failed validation: body.parent.database_id should be defined, instead was `undefined`.",
        )
    })?;
    let db_id = norm_id(raw).ok_or_else(|| {
        validation(format!(
            "body failed validation: body.parent.database_id should be a valid uuid, instead was `\"{raw}\"`."
        ))
    })?;
    if !shared.read().databases.contains_key(&db_id) {
        return Err(not_found("database", &db_id));
    }
    let props = initial_properties(body, "properties")?;
    let name = plain_title(&body["title"]).unwrap_or_default();
    let ds_id = add_source(shared, &db_id, name, props, version)?;
    let ws = shared.read();
    let ds = ws
        .sources
        .get(&ds_id)
        .ok_or_else(|| not_found("data source", &ds_id))?;
    Ok(render::data_source(&ws, ds, version).into())
}

/// `PATCH /v1/databases/{id}`: title, description, icon, cover, `is_inline`; under 2022-06-28 also
/// `properties` (the schema of its only data source).
pub fn update_database(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    super::reject_at_newest(version, body, "archived")?;
    let sources = shared
        .read()
        .databases
        .get(id)
        .map(|d| d.sources.clone())
        .ok_or_else(|| not_found("database", id))?;
    if let Some(props) = body.get("properties").filter(|p| !p.is_null()) {
        if version.has_data_sources() {
            return Err(validation(
                "body failed validation: body.properties should be not present, instead was defined. Update a data source's properties through PATCH /v1/data_sources/{id}.",
            ));
        }
        if sources.len() > 1 {
            return Err(multi_source(id, &sources));
        }
        if let Some(ds) = sources.first() {
            patch(shared, ds, version, props)?;
        }
    }
    let now = floor_minute(shared.now());
    let mut meta = shared
        .read()
        .databases
        .get(id)
        .map(|d| d.meta.clone())
        .unwrap_or_default();
    database_looks(body, &mut meta, &shared.read())?;
    meta.edited = now;
    let mut ws = shared.write();
    if let Some(db) = ws.databases.get_mut(id) {
        if let Some(title) = body.get("title").and_then(plain_title) {
            db.title = title;
        }
        db.meta = meta;
    }
    served_database(&ws, id, version)
}
