//! HTTP: authentication, versions, rate limits, faults, routing and the Notion endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Version;
use crate::faults::FaultKind;
use crate::model::{Page, floor_minute};
use crate::query::{self, Cursor};
use crate::render;
use crate::state::Shared;

/// An API error.
pub struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
    additional: Option<Value>,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
        additional: None,
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    err(400, "validation_error", message)
}

fn not_found(kind: &str, id: &str) -> ApiError {
    err(
        404,
        "object_not_found",
        format!(
            "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
        ),
    )
}

type ApiResult = Result<Value, ApiError>;

/// The router: admin routes under `/__sim/`, everything else through the Notion dispatcher.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// Normalises an id (dashes optional, any case); `None` when malformed.
pub fn norm_id(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn json_response(
    status: u16,
    mut body: Value,
    request_id: &str,
    extra: &[(&str, String)],
) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("request_id".into(), json!(request_id));
    }
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-notion-request-id", v);
    }
    for (k, v) in extra {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, value);
        }
    }
    resp
}

fn error_response(e: ApiError, request_id: &str, extra: &[(&str, String)]) -> Response {
    let mut body =
        json!({"object": "error", "status": e.status, "code": e.code, "message": e.message});
    if let Some(a) = e.additional {
        body["additional_data"] = a;
    }
    json_response(e.status, body, request_id, extra)
}

/// A resolved route.
struct Route {
    endpoint: &'static str,
    params: Vec<String>,
}

fn resolve(method: &Method, path: &str, version: Version) -> Option<Route> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let ds = version.has_data_sources();
    let r = |endpoint, params: &[&str]| {
        Some(Route {
            endpoint,
            params: params.iter().map(|s| s.to_string()).collect(),
        })
    };
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["v1", "search"]) => r("search", &[]),
        ("GET", ["v1", "databases", id]) => r("retrieve_database", &[id]),
        ("POST", ["v1", "databases", id, "query"]) if !ds => r("query_database", &[id]),
        ("GET", ["v1", "data_sources", id]) if ds => r("retrieve_data_source", &[id]),
        ("POST", ["v1", "data_sources", id, "query"]) if ds => r("query_data_source", &[id]),
        ("GET", ["v1", "pages", id]) => r("retrieve_page", &[id]),
        ("PATCH", ["v1", "pages", id]) => r("update_page", &[id]),
        ("POST", ["v1", "pages"]) => r("create_page", &[]),
        ("GET", ["v1", "pages", id, "properties", prop]) => {
            r("retrieve_page_property", &[id, prop])
        }
        ("GET", ["v1", "users"]) => r("list_users", &[]),
        ("GET", ["v1", "users", id]) => r("retrieve_user", &[id]),
        _ => None,
    }
}

fn query_params(uri: &axum::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 8 * 1024 * 1024)
        .await
        .unwrap_or_default();
    if parts.uri.path().starts_with("/__sim/") {
        return crate::admin::handle(&shared, &parts.method, &parts.uri, &body);
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let (endpoint, resp) = notion(
        &shared,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        &request_id,
    )
    .await;
    shared.count(endpoint, resp.status().as_u16());
    resp
}

async fn notion(
    shared: &Shared,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
    request_id: &str,
) -> (&'static str, Response) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let header_version = headers.get("notion-version").and_then(|v| v.to_str().ok());
    let version = header_version.and_then(Version::parse);
    let route = version.and_then(|v| resolve(method, uri.path(), v));
    let endpoint = route.as_ref().map_or("unknown", |r| r.endpoint);
    if auth != format!("Bearer {}", shared.token) {
        return (
            endpoint,
            error_response(
                err(401, "unauthorized", "API token is invalid."),
                request_id,
                &[],
            ),
        );
    }
    let Some(version) = version else {
        let e = match header_version {
            None => err(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
            ),
            Some(v) => validation(format!(
                "Notion-Version header failed validation: unsupported version `{v}`."
            )),
        };
        return (endpoint, error_response(e, request_id, &[]));
    };
    let Some(route) = route else {
        let e = err(400, "invalid_request_url", "Invalid request URL.");
        return (endpoint, error_response(e, request_id, &[]));
    };
    if let Err(wait) = shared.take_budget() {
        let mut e = err(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        );
        e.additional = Some(
            json!({"retry_after": wait.to_string(), "rate_limit_reason": "public_api_request_rate_limit"}),
        );
        return (
            endpoint,
            error_response(e, request_id, &[("retry-after", wait.to_string())]),
        );
    }
    let parsed: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return (
                    endpoint,
                    error_response(
                        err(400, "invalid_json", "Error parsing JSON body."),
                        request_id,
                        &[],
                    ),
                );
            }
        }
    };
    let params = query_params(uri);
    let has_cursor = parsed.get("start_cursor").is_some_and(|c| !c.is_null())
        || params.iter().any(|(k, _)| k == "start_cursor");
    let fault = shared
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pick(endpoint, has_cursor);
    match &fault {
        Some(FaultKind::Status(status)) => {
            let (code, retry): (&'static str, bool) = match status {
                429 => ("rate_limited", true),
                529 => ("service_overload", true),
                500 => ("internal_server_error", false),
                502 => ("bad_gateway", false),
                503 => ("service_unavailable", false),
                504 => ("gateway_timeout", false),
                _ => ("internal_server_error", false),
            };
            let mut e = err(*status, code, "Injected failure.");
            let mut extra = Vec::new();
            if retry {
                e.additional = Some(
                    json!({"retry_after": "1", "rate_limit_reason": "public_api_request_rate_limit"}),
                );
                extra.push(("retry-after", "1".to_string()));
            }
            return (endpoint, error_response(e, request_id, &extra));
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
        Some(FaultKind::InvalidCursor) => {
            let c = parsed["start_cursor"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_default();
            let e = validation(format!("The start_cursor provided is invalid: {c}"));
            return (endpoint, error_response(e, request_id, &[]));
        }
        _ => {}
    }
    let result = handle(shared, &route, version, &parsed, &params);
    let resp = match result {
        Ok(v) => json_response(200, v, request_id, &[]),
        Err(e) => error_response(e, request_id, &[]),
    };
    let resp = match fault {
        Some(FaultKind::TruncatedBody) => mangle(resp, false).await,
        Some(FaultKind::DropConnection) => mangle(resp, true).await,
        _ => resp,
    };
    (endpoint, resp)
}

/// Cuts a response body in half: as a complete short body, or as a stream that then fails.
async fn mangle(resp: Response, drop: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(0..bytes.len() / 2);
    if drop {
        parts
            .headers
            .insert("content-length", HeaderValue::from(bytes.len()));
        let stream = futures::stream::iter(vec![
            Ok::<Bytes, std::io::Error>(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection dropped",
            )),
        ]);
        Response::from_parts(parts, Body::from_stream(stream))
    } else {
        parts.headers.remove("content-length");
        Response::from_parts(parts, Body::from(half))
    }
}

fn id_param(raw: &str) -> Result<String, ApiError> {
    norm_id(raw).ok_or_else(|| err(400, "invalid_request_url", "Invalid request URL."))
}

fn handle(
    shared: &Shared,
    route: &Route,
    version: Version,
    body: &Value,
    params: &[(String, String)],
) -> ApiResult {
    let p = |i: usize| route.params.get(i).map(String::as_str).unwrap_or("");
    match route.endpoint {
        "search" => search(shared, version, body),
        "retrieve_database" => {
            let id = id_param(p(0))?;
            let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
            let db = ws
                .databases
                .get(&id)
                .ok_or_else(|| not_found("database", &id))?;
            if !version.has_data_sources() && db.sources.len() > 1 {
                return Err(multi_source(&id, &db.sources));
            }
            Ok(render::database(&ws, db, version))
        }
        "retrieve_data_source" => {
            let id = id_param(p(0))?;
            let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
            let ds = ws
                .sources
                .get(&id)
                .ok_or_else(|| not_found("data source", &id))?;
            Ok(render::data_source(&ws, ds, version))
        }
        "query_data_source" => query_source(shared, &id_param(p(0))?, version, body, params),
        "query_database" => {
            let id = id_param(p(0))?;
            let ds = {
                let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
                let db = ws
                    .databases
                    .get(&id)
                    .ok_or_else(|| not_found("database", &id))?;
                if db.sources.len() > 1 {
                    return Err(multi_source(&id, &db.sources));
                }
                db.sources.first().cloned().unwrap_or_default()
            };
            query_source(shared, &ds, version, body, params)
        }
        "retrieve_page" => {
            let id = id_param(p(0))?;
            let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
            let page = ws.pages.get(&id).ok_or_else(|| not_found("page", &id))?;
            Ok(filter_properties(
                render::page(&ws, page, version, false),
                params,
            ))
        }
        "update_page" => update_page(shared, &id_param(p(0))?, version, body),
        "create_page" => create_page(shared, version, body),
        "retrieve_page_property" => property_item(shared, &id_param(p(0))?, p(1), params),
        "list_users" => {
            let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
            let users: Vec<Value> = ws.users.iter().map(render::user).collect();
            Ok(
                json!({"object": "list", "results": users, "next_cursor": null, "has_more": false, "type": "user", "user": {}}),
            )
        }
        "retrieve_user" => {
            let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
            let id = if p(0) == "me" {
                ws.bot_id()
            } else {
                id_param(p(0))?
            };
            let user = ws
                .users
                .iter()
                .find(|u| u.id == id)
                .ok_or_else(|| not_found("user", &id))?;
            Ok(render::user(user))
        }
        _ => Err(err(400, "invalid_request_url", "Invalid request URL.")),
    }
}

fn multi_source(id: &str, sources: &[String]) -> ApiError {
    let mut e =
        validation("Databases with multiple data sources are not supported in this API version.");
    e.additional = Some(json!({
        "error_type": "multiple_data_sources_for_database", "database_id": id,
        "child_data_source_ids": sources, "minimum_api_version": "2025-09-03"
    }));
    e
}

fn filter_properties(mut page: Value, params: &[(String, String)]) -> Value {
    let wanted: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "filter_properties" || k == "filter_properties[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if wanted.is_empty() {
        return page;
    }
    if let Some(props) = page.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, v| {
            let id = v["id"].as_str().map(decode).unwrap_or_default();
            wanted.iter().any(|w| *w == name || decode(w) == id)
        });
    }
    page
}

fn page_size(v: &Value) -> Result<usize, ApiError> {
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

fn query_source(
    shared: &Shared,
    ds_id: &str,
    version: Version,
    body: &Value,
    params: &[(String, String)],
) -> ApiResult {
    for field in ["in_trash", "archived"] {
        if version >= Version::V2026_03_11 && body.get(field).is_some() {
            return Err(validation(format!(
                "body failed validation: body.{field} should be not present, instead was `{}`.",
                body[field]
            )));
        }
    }
    let size = page_size(body)?;
    let archived = body
        .get("is_archived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sorts = query::parse_sorts(body.get("sorts"))
        .map_err(|m| validation(format!("body failed validation: {m}")))?;
    let filter = body.get("filter").filter(|f| !f.is_null());
    let fp = query::fingerprint(&[
        &json!(ds_id),
        filter.unwrap_or(&Value::Null),
        body.get("sorts").unwrap_or(&Value::Null),
        &json!(archived),
    ]);
    let generation = shared.cursor_generation.load(Ordering::SeqCst);
    let cursor = match body.get("start_cursor").and_then(Value::as_str) {
        None => None,
        Some(c) => match Cursor::decode(c) {
            Some(cur) if cur.fingerprint == fp && cur.generation == generation => Some(cur),
            _ => {
                return Err(validation(format!(
                    "The start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
    let ds = ws
        .sources
        .get(ds_id)
        .ok_or_else(|| not_found("data source", ds_id))?;
    let mut rows: Vec<(Vec<query::Key>, &Page)> = Vec::new();
    for page in ws.pages.values() {
        if page.data_source_id != ds.id || page.in_trash || page.is_archived != archived {
            continue;
        }
        if let Some(f) = filter
            && !query::matches(page, ds, f, 0)
                .map_err(|m| validation(format!("body failed validation: {m}")))?
        {
            continue;
        }
        let key = query::sort_key(page, ds, &sorts);
        if let Some(c) = &cursor
            && query::compare((&key, &page.id), (&c.key, &c.id), &sorts)
                != std::cmp::Ordering::Greater
        {
            continue;
        }
        rows.push((key, page));
    }
    let served = cursor.as_ref().map_or(0, |c| c.served);
    let room = shared.cap.saturating_sub(served);
    let take = size.min(room);
    if rows.len() > take {
        rows.select_nth_unstable_by(take, |a, b| {
            query::compare((&a.0, &a.1.id), (&b.0, &b.1.id), &sorts)
        });
    }
    let more = rows.len() > take;
    let mut page_rows: Vec<_> = rows.into_iter().take(take).collect();
    page_rows.sort_by(|a, b| query::compare((&a.0, &a.1.id), (&b.0, &b.1.id), &sorts));
    let capped = more && take == room;
    let next = match (more && !capped, page_rows.last()) {
        (true, Some((key, page))) => Some(
            Cursor {
                fingerprint: fp,
                generation,
                key: key.clone(),
                id: page.id.clone(),
                served: served + take,
            }
            .encode(),
        ),
        _ => None,
    };
    let results: Vec<Value> = page_rows
        .iter()
        .map(|(_, p)| filter_properties(render::page(&ws, p, version, false), params))
        .collect();
    let list_type = if version.has_data_sources() {
        "page_or_data_source"
    } else {
        "page_or_database"
    };
    let status = if capped {
        json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"})
    } else {
        json!({"type": "complete"})
    };
    Ok(json!({
        "object": "list", "results": results, "next_cursor": next, "has_more": next.is_some(),
        "type": list_type, list_type: {}, "request_status": status
    }))
}

fn search(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    let size = page_size(body)?;
    let text = body["query"].as_str().unwrap_or("").to_lowercase();
    let object = body["filter"]["value"].as_str();
    let db_word = if version.has_data_sources() {
        "data_source"
    } else {
        "database"
    };
    if let Some(o) = object
        && o != "page"
        && o != db_word
    {
        return Err(validation(format!(
            "body failed validation: body.filter.value should be `page` or `{db_word}`, instead was `{o}`."
        )));
    }
    let offset: usize = body["start_cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("o:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<Value> = Vec::new();
    if object.is_none_or(|o| o != "page") {
        for db in ws.databases.values() {
            if !db.title.to_lowercase().contains(&text) {
                continue;
            }
            if version.has_data_sources() {
                all.extend(
                    db.sources
                        .iter()
                        .filter_map(|s| ws.sources.get(s))
                        .map(|s| render::data_source(&ws, s, version)),
                );
            } else if db.sources.len() == 1 {
                all.push(render::database(&ws, db, version));
            }
        }
    }
    if object.is_none_or(|o| o == "page") {
        for p in ws.pages.values().filter(|p| !p.in_trash) {
            let title = ws
                .sources
                .get(&p.data_source_id)
                .map(|s| p.title(s))
                .unwrap_or_default();
            if title.to_lowercase().contains(&text) {
                all.push(render::page(&ws, p, version, false));
            }
        }
    }
    let end = (offset + size).min(all.len());
    let more = end < all.len();
    let results: Vec<Value> = all
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    Ok(json!({
        "object": "list", "results": results, "next_cursor": if more { json!(format!("o:{end}")) } else { Value::Null },
        "has_more": more, "type": "page_or_data_source", "page_or_data_source": {}, "request_status": {"type": "complete"}
    }))
}

fn update_page(shared: &Shared, id: &str, version: Version, body: &Value) -> ApiResult {
    if version >= Version::V2026_03_11 && body.get("archived").is_some() {
        return Err(validation(
            "body failed validation: body.archived should be not present, instead was `true`.",
        ));
    }
    let now = floor_minute(shared.now());
    let mut ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
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
    if let Some(props) = body.get("properties").and_then(Value::as_object) {
        if page.in_trash {
            return Err(validation(
                "Can't edit block that is archived. You must unarchive the block before editing.",
            ));
        }
        for (name, v) in props {
            let (name, stored) = crate::writes::value(&ws, &ds, name, v).map_err(validation)?;
            updated.values.insert(name, stored);
        }
    }
    let trash = body
        .get("in_trash")
        .or_else(|| body.get("archived"))
        .and_then(Value::as_bool);
    if let Some(t) = trash {
        updated.in_trash = t;
    }
    if let Some(a) = body.get("is_archived").and_then(Value::as_bool) {
        updated.is_archived = a;
    }
    updated.edited = now;
    updated.edited_by = ws.bot_id();
    ws.pages.insert(id.to_string(), updated);
    let page = ws.pages.get(id).ok_or_else(|| not_found("page", id))?;
    Ok(render::page(&ws, page, version, false))
}

fn create_page(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    let parent = &body["parent"];
    let now = floor_minute(shared.now());
    let mut ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
    let ds_id = if let Some(ds) = parent["data_source_id"].as_str() {
        norm_id(ds).ok_or_else(|| {
            validation("body failed validation: body.parent.data_source_id should be a valid uuid.")
        })?
    } else if let Some(db) = parent["database_id"].as_str() {
        let db = norm_id(db).ok_or_else(|| {
            validation("body failed validation: body.parent.database_id should be a valid uuid.")
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
    let mut values = std::collections::BTreeMap::new();
    if let Some(props) = body.get("properties").and_then(Value::as_object) {
        for (name, v) in props {
            let (name, stored) = crate::writes::value(&ws, &ds, name, v).map_err(validation)?;
            values.insert(name, stored);
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
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
    let out = render::page(&ws, &page, version, false);
    ws.pages.insert(id, page);
    Ok(out)
}

fn property_item(
    shared: &Shared,
    page_id: &str,
    prop_raw: &str,
    params: &[(String, String)],
) -> ApiResult {
    let ws = shared.ws.lock().unwrap_or_else(|e| e.into_inner());
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
            json!({"object": "property_item", "id": prop.id, "type": prop.kind, prop.kind.clone(): value}),
        );
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let size = match get("page_size") {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => {
                return Err(validation(format!(
                    "query failed validation: page_size should be ≤ `100`, instead was `{s}`."
                )));
            }
        },
    };
    let offset: usize = get("start_cursor")
        .and_then(|c| c.strip_prefix("p:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let items = value.as_array().cloned().unwrap_or_default();
    let end = (offset + size).min(items.len());
    let results: Vec<Value> = items
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|it| json!({"object": "property_item", "id": prop.id, "type": prop.kind, prop.kind.clone(): it}))
        .collect();
    let more = end < items.len();
    Ok(json!({
        "object": "list", "results": results, "next_cursor": if more { json!(format!("p:{end}")) } else { Value::Null },
        "has_more": more, "type": "property_item",
        "property_item": {"id": prop.id, "next_url": null, "type": prop.kind, prop.kind.clone(): {}}
    }))
}
