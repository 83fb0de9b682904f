//! HTTP: authentication, versions, rate limits, faults, routing and the Notion endpoints.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Version;
use crate::errors::{ApiError, Reply, bad_url, err, invalid_cursor, validation};
use crate::faults::FaultKind;
use crate::state::Shared;

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

fn text_response(
    status: u16,
    text: String,
    request_id: &str,
    extra: &[(&str, String)],
) -> Response {
    let mut resp = Response::new(Body::from(text));
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
    let text = Reply::Json(e.body()).into_text(request_id);
    text_response(e.status, text, request_id, extra)
}

/// A resolved route: endpoint name and path parameters.
pub struct Route {
    /// Endpoint name (as counted and matched by fault rules).
    pub endpoint: &'static str,
    /// Path parameters in order.
    pub params: Vec<String>,
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
        ("POST", ["v1", "databases"]) => r("create_database", &[]),
        ("PATCH", ["v1", "databases", id]) => r("update_database", &[id]),
        ("POST", ["v1", "data_sources"]) if ds => r("create_data_source", &[]),
        ("POST", ["v1", "databases", id, "query"]) if !ds => r("query_database", &[id]),
        ("GET", ["v1", "data_sources", id]) if ds => r("retrieve_data_source", &[id]),
        ("PATCH", ["v1", "data_sources", id]) if ds => r("update_data_source", &[id]),
        ("POST", ["v1", "data_sources", id, "query"]) if ds => r("query_data_source", &[id]),
        ("GET", ["v1", "pages", id]) => r("retrieve_page", &[id]),
        ("PATCH", ["v1", "pages", id]) => r("update_page", &[id]),
        ("POST", ["v1", "pages"]) => r("create_page", &[]),
        ("POST", ["v1", "pages", id, "move"]) => r("move_page", &[id]),
        ("GET", ["v1", "pages", id, "properties", prop]) => {
            r("retrieve_page_property", &[id, prop])
        }
        ("GET", ["v1", "blocks", id]) => r("retrieve_block", &[id]),
        ("DELETE", ["v1", "blocks", id]) => r("delete_block", &[id]),
        ("PATCH", ["v1", "blocks", id]) => r("update_block", &[id]),
        ("GET", ["v1", "blocks", id, "children"]) => r("list_block_children", &[id]),
        ("PATCH", ["v1", "blocks", id, "children"]) => r("append_block_children", &[id]),
        ("GET", ["v1", "users"]) => r("list_users", &[]),
        ("GET", ["v1", "users", id]) => r("retrieve_user", &[id]),
        ("GET", ["v1", "comments"]) => r("list_comments", &[]),
        ("POST", ["v1", "comments"]) => r("create_comment", &[]),
        ("POST", ["v1", "file_uploads"]) => r("create_file_upload", &[]),
        ("POST", ["v1", "file_uploads", id, "send"]) => r("send_file_upload", &[id]),
        ("POST", ["v1", "file_uploads", id, "complete"]) => r("complete_file_upload", &[id]),
        ("GET", ["v1", "file_uploads", id]) => r("retrieve_file_upload", &[id]),
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

/// Percent-decodes a URL component (`+` as space).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
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
    let path = parts.uri.path();
    // File sends carry up to 20 MB (a part) plus the form's framing; larger ones are read far
    // enough to be refused by size.
    let limit = if path.starts_with("/v1/file_uploads/") {
        64 * 1024 * 1024
    } else {
        8 * 1024 * 1024
    };
    let body = axum::body::to_bytes(body, limit).await.unwrap_or_default();
    if path.starts_with("/__sim/") {
        return crate::admin::handle(&shared, &parts.method, &parts.uri, &body);
    }
    if path.starts_with(crate::files::PREFIX) {
        let resp = crate::files::serve(&shared, &parts.method, &parts.uri, &parts.headers).await;
        shared.count("download_file", resp.status().as_u16());
        shared.log_request(
            parts.method.as_str(),
            &parts.uri.to_string(),
            "download_file",
            resp.status().as_u16(),
            &[],
        );
        return resp;
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
    // A form send is logged by what it sent (part number, file name, type and size).
    let logged = if endpoint == "send_file_upload" {
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Bytes::from(crate::routes::send_summary(content_type, &body))
    } else {
        body
    };
    shared.log_request(
        parts.method.as_str(),
        &parts.uri.to_string(),
        endpoint,
        resp.status().as_u16(),
        &logged,
    );
    let mut resp = resp;
    // Notion's clock, as Notion sends it: clients may use it to bound their next read.
    let date = shared.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert("date", v);
    }
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
            Some(v) => err(
                400,
                "invalid_request_url",
                format!("Invalid request URL: Notion-Version `{v}` is not supported."),
            ),
        };
        return (endpoint, error_response(e, request_id, &[]));
    };
    let Some(route) = route else {
        let e = bad_url();
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
    let parsed: Value = if body.is_empty() || route.endpoint == "send_file_upload" {
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
        .pick(crate::faults::Request {
            endpoint,
            method: method.as_str(),
            write: crate::faults::is_write(method.as_str(), endpoint),
            has_cursor,
        });
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
            let c = parsed["start_cursor"].as_str().unwrap_or_default();
            return (endpoint, error_response(invalid_cursor(c), request_id, &[]));
        }
        Some(FaultKind::InvalidCursorSaying(message)) => {
            let e = validation(message.clone());
            return (endpoint, error_response(e, request_id, &[]));
        }
        _ => {}
    }
    let result = if route.endpoint == "send_file_upload" {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        crate::routes::send_file_upload(shared, &route, content_type, body)
    } else {
        crate::routes::handle(shared, &route, version, &parsed, &params)
    };
    let signer = shared.signer();
    let resp = match (result, &fault) {
        (Ok(v), Some(FaultKind::Committed(status))) => {
            let e = committed(&route, *status, &signer.text(v.into_text(request_id)));
            error_response(e, request_id, &[])
        }
        (Ok(v), _) => text_response(200, signer.text(v.into_text(request_id)), request_id, &[]),
        (Err(e), _) => error_response(e, request_id, &[]),
    };
    if let Some(FaultKind::DelayAfter(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let resp = match fault {
        Some(FaultKind::TruncatedBody) => mangle(resp, false).await,
        Some(FaultKind::DropConnection) => mangle(resp, true).await,
        _ => resp,
    };
    (endpoint, resp)
}

/// The 5xx Notion answers for a write it committed too late to answer: `retry_guidance`, and the
/// ids of what it made (`committed_resource_id`; `committed_child_ids` for appends).
fn committed(route: &Route, status: u16, served: &str) -> ApiError {
    let code = match status {
        504 => "gateway_timeout",
        502 => "bad_gateway",
        500 => "internal_server_error",
        _ => "service_unavailable",
    };
    let body: Value = serde_json::from_str(served).unwrap_or_default();
    let mut extra = json!({
        "retry_guidance": "The request may have completed. Do not retry it without checking for the committed resource."
    });
    match route.endpoint {
        "create_page" | "create_database" | "create_data_source" => {
            extra["committed_resource_id"] = body["id"].clone();
        }
        "append_block_children" => {
            extra["committed_resource_id"] = json!(route.params.first().and_then(|p| norm_id(p)));
            let ids: Vec<Value> = body["results"]
                .as_array()
                .map(|r| r.iter().map(|b| b["id"].clone()).collect())
                .unwrap_or_default();
            extra["committed_child_ids"] = json!(ids);
        }
        _ => {}
    }
    let mut e = err(
        status,
        code,
        "Notion is unavailable or took too long to answer; the request may have been completed.",
    );
    e.additional = Some(extra);
    e
}

/// Cuts a response body in half: as a complete short body, or as a stream that then fails.
pub async fn mangle(resp: Response, drop: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(0..bytes.len() / 2);
    if drop {
        parts
            .headers
            .insert("content-length", HeaderValue::from(bytes.len()));
        // Let the headers and the first half go out before the stream fails.
        let stream = futures::stream::unfold(0u8, move |step| {
            let half = half.clone();
            async move {
                match step {
                    0 => Some((Ok::<Bytes, std::io::Error>(half), 1)),
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Some((
                            Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "connection dropped",
                            )),
                            2,
                        ))
                    }
                    _ => None,
                }
            }
        });
        Response::from_parts(parts, Body::from_stream(stream))
    } else {
        parts.headers.remove("content-length");
        Response::from_parts(parts, Body::from(half))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_or_without_dashes_normalise() {
        let dashed = "195de922-1179-449f-ab80-75a27c979105";
        assert_eq!(
            norm_id("195DE9221179449FAB8075A27C979105").as_deref(),
            Some(dashed)
        );
        assert_eq!(norm_id(dashed).as_deref(), Some(dashed));
        assert_eq!(norm_id("nope"), None);
        assert_eq!(norm_id("195de922-1179-449f-ab80-75a27c97910z"), None);
        assert_eq!(decode("a%3Ab+c"), "a:b c");
        assert_eq!(decode("%é%"), "%é%");
    }
}
