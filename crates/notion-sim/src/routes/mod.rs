//! Notion endpoint handlers, one module per resource.

mod blocks;
mod comments;
mod databases;
mod pages;
mod query;
mod search;
mod uploads;
mod users;

pub use uploads::{attach as attach_upload, send_summary};

use serde_json::{Value, json};

use crate::Version;
use crate::errors::{ApiError, ApiResult, bad_url, invalid_cursor, validation};
use crate::server::{Route, decode, norm_id};
use crate::state::Shared;

/// Query-string parameters, decoded, in order.
pub type Params = [(String, String)];

/// Runs the handler of a resolved route.
pub fn handle(
    shared: &Shared,
    route: &Route,
    version: Version,
    body: &Value,
    params: &Params,
) -> ApiResult {
    let p = |i: usize| route.params.get(i).map(String::as_str).unwrap_or("");
    match route.endpoint {
        "search" => search::search(shared, version, body),
        "retrieve_database" => databases::retrieve_database(shared, &id_param(p(0))?, version),
        "create_database" => databases::create_database(shared, version, body),
        "update_database" => databases::update_database(shared, &id_param(p(0))?, version, body),
        "create_data_source" => databases::create_data_source(shared, version, body),
        "retrieve_data_source" => {
            databases::retrieve_data_source(shared, &id_param(p(0))?, version)
        }
        "update_data_source" => {
            databases::update_data_source(shared, &id_param(p(0))?, version, body)
        }
        "query_data_source" => {
            query::query_data_source(shared, &id_param(p(0))?, version, body, params)
        }
        "query_database" => query::query_database(shared, &id_param(p(0))?, version, body, params),
        "retrieve_page" => pages::retrieve_page(shared, &id_param(p(0))?, version, params),
        "update_page" => pages::update_page(shared, &id_param(p(0))?, version, body),
        "create_page" => pages::create_page(shared, version, body),
        "move_page" => pages::move_page(shared, &id_param(p(0))?, version, body),
        "retrieve_page_property" => pages::property_item(shared, &id_param(p(0))?, p(1), params),
        "retrieve_block" => blocks::retrieve_block(shared, &id_param(p(0))?, version),
        "delete_block" => blocks::delete_block(shared, &id_param(p(0))?, version),
        "update_block" => blocks::update_block(shared, &id_param(p(0))?, version, body),
        "list_block_children" => blocks::list_children(shared, &id_param(p(0))?, version, params),
        "append_block_children" => blocks::append_children(shared, &id_param(p(0))?, version, body),
        "list_users" => users::list_users(shared, params),
        "retrieve_user" => users::retrieve_user(shared, p(0)),
        "list_comments" => comments::list_comments(shared, params),
        "create_comment" => comments::create_comment(shared, body),
        "create_file_upload" => uploads::create(shared, body),
        "complete_file_upload" => uploads::complete(shared, &id_param(p(0))?),
        "retrieve_file_upload" => uploads::retrieve(shared, &id_param(p(0))?),
        _ => Err(bad_url()),
    }
}

/// `POST /v1/file_uploads/{id}/send`: its body is a form, not JSON.
pub fn send_file_upload(
    shared: &Shared,
    route: &Route,
    content_type: &str,
    body: &[u8],
) -> ApiResult {
    let id = id_param(route.params.first().map(String::as_str).unwrap_or(""))?;
    uploads::send(shared, &id, content_type, body)
}

/// A path id, normalised; malformed → `invalid_request_url`.
pub fn id_param(raw: &str) -> Result<String, ApiError> {
    norm_id(raw).ok_or_else(bad_url)
}

/// `page_size` from a JSON body: 1..=100, default 100.
pub fn body_page_size(v: &Value) -> Result<usize, ApiError> {
    match v.get("page_size") {
        None | Some(Value::Null) => Ok(100),
        Some(n) => match n.as_u64() {
            Some(n @ 1..=100) => Ok(n as usize),
            _ => Err(validation(format!(
                "body failed validation: body.page_size should be ≤ `100` and ≥ `1`, instead was `{n}`."
            ))),
        },
    }
}

/// A query-string parameter.
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `page_size` from the query string: 1..=100, default 100.
pub fn query_page_size(params: &Params) -> Result<usize, ApiError> {
    match param(params, "page_size") {
        None => Ok(100),
        Some(s) => match s.parse::<usize>() {
            Ok(n @ 1..=100) => Ok(n),
            _ => Err(validation(format!(
                "query failed validation: query.page_size should be ≤ `100` and ≥ `1`, instead was `{s}`."
            ))),
        },
    }
}

/// An offset cursor for simple lists (`<prefix>:<offset>`), validated.
pub fn offset_cursor(raw: Option<&str>, prefix: &str) -> Result<usize, ApiError> {
    match raw {
        None | Some("") => Ok(0),
        Some(c) => crate::query::decode_offset(c, prefix).ok_or_else(|| invalid_cursor(c)),
    }
}

/// A paginated list over already-rendered items.
pub fn list(items: Vec<Value>, offset: usize, size: usize, kind: &str, prefix: &str) -> Value {
    let end = (offset + size).min(items.len());
    let more = end < items.len();
    let results: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    json!({
        "object": "list", "results": results,
        "next_cursor": if more { json!(crate::query::encode_offset(end, prefix)) } else { Value::Null },
        "has_more": more, "type": kind, kind: {}
    })
}

/// The 400 answer for a multi-source database under an old version.
pub fn multi_source(id: &str, sources: &[String]) -> ApiError {
    let mut e =
        validation("Databases with multiple data sources are not supported in this API version.");
    e.additional = Some(json!({
        "error_type": "multiple_data_sources_for_database", "database_id": id,
        "child_data_source_ids": sources, "minimum_api_version": "2025-09-03"
    }));
    e
}

/// Names or ids listed in `filter_properties` (empty = all).
pub fn wanted_properties(params: &Params) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "filter_properties" || k == "filter_properties[]")
        .map(|(_, v)| v.clone())
        .collect()
}

/// Keeps only the properties named (by name or id) in `wanted`.
pub fn filter_properties(mut page: Value, wanted: &[String]) -> Value {
    if wanted.is_empty() {
        return page;
    }
    if let Some(props) = page.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, v| {
            let id = v["id"].as_str().map(decode).unwrap_or_default();
            wanted.iter().any(|w| w == name || decode(w) == id)
        });
    }
    page
}

/// Rejects `field` in a body under 2026-03-11.
pub fn reject_at_newest(version: Version, body: &Value, field: &str) -> Result<(), ApiError> {
    if version >= Version::V2026_03_11
        && let Some(v) = body.get(field)
    {
        return Err(validation(format!(
            "body failed validation: body.{field} should be not present, instead was `{v}`."
        )));
    }
    Ok(())
}
