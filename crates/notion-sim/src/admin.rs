//! The admin API under `/__sim/`: not part of Notion's surface, not authenticated, not counted.

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Version;
use crate::content::Target;
use crate::faults::FaultPlan;
use crate::state::Shared;

fn reply(status: StatusCode, body: Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn nid(s: &str) -> String {
    crate::server::norm_id(s).unwrap_or_else(|| s.to_string())
}

fn ok(body: Value) -> Response {
    reply(StatusCode::OK, body)
}

fn bad(message: &str) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({"error": message}))
}

/// Handles one admin request.
pub fn handle(shared: &Shared, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    let body: Value = serde_json::from_slice(body).unwrap_or(json!({}));
    let segs: Vec<&str> = uri
        .path()
        .trim_end_matches('/')
        .split('/')
        .skip(2)
        .collect();
    let flag = |b: bool| ok(json!({"ok": b}));
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["state"]) => {
            let version = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("version=")))
                .and_then(Version::parse)
                .unwrap_or(Version::V2026_03_11);
            ok(shared.state_dump(version))
        }
        ("GET", ["requests"]) => {
            let writes_only = uri
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "writes=true"));
            let list = if writes_only {
                shared.write_requests()
            } else {
                shared.requests()
            };
            ok(json!({"requests": list}))
        }
        ("POST", ["requests", "clear"]) => {
            shared.clear_request_log();
            flag(true)
        }
        ("GET", ["counters"]) => ok(serde_json::to_value(shared.counters()).unwrap_or_default()),
        ("POST", ["counters", "reset"]) => {
            shared.reset_counters();
            flag(true)
        }
        ("POST", ["clock"]) => {
            if let Some(t) = body["set"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            {
                shared.set_clock(t.to_utc());
            } else if let Some(s) = body["advance_seconds"].as_i64() {
                shared.advance_clock(chrono::Duration::seconds(s));
            } else {
                return bad("give {\"set\": rfc3339} or {\"advance_seconds\": n}");
            }
            ok(json!({"now": crate::model::iso(shared.now())}))
        }
        ("POST", ["faults"]) => match serde_json::from_value::<FaultPlan>(body) {
            Ok(plan) => {
                shared
                    .faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(plan);
                flag(true)
            }
            Err(e) => bad(&e.to_string()),
        },
        ("POST", ["rate_limit"]) => {
            let rpm = body["requests_per_minute"].as_u64().unwrap_or(0) as u32;
            let secs = body["window_seconds"].as_u64().unwrap_or(60);
            shared.set_rate_limit(rpm, std::time::Duration::from_secs(secs));
            flag(true)
        }
        ("POST", ["cursors", "invalidate"]) => {
            shared
                .cursor_generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            flag(true)
        }
        ("POST", ["pages", "create"]) => {
            let ds = &nid(body["data_source_id"].as_str().unwrap_or_default());
            let n = body["count"].as_u64().unwrap_or(1) as usize;
            ok(json!({"ids": shared.create_pages(ds, n)}))
        }
        ("POST", ["pages", "edit"]) => {
            let ids: Vec<String> = match body["ids"].as_array() {
                Some(ids) => ids
                    .iter()
                    .filter_map(Value::as_str)
                    .map(nid)
                    .filter(|id| shared.edit_page(id))
                    .collect(),
                None => shared.edit_pages(
                    &nid(body["data_source_id"].as_str().unwrap_or_default()),
                    body["count"].as_u64().unwrap_or(1) as usize,
                ),
            };
            ok(json!({"ids": ids}))
        }
        ("POST", ["pages", id, action]) => {
            let id = &nid(id);
            match *action {
                "trash" => flag(shared.set_flags(id, Some(true), None)),
                "archive" => flag(shared.set_flags(id, None, Some(true))),
                "restore" => flag(shared.set_flags(id, Some(false), Some(false))),
                "purge" => flag(shared.purge(id)),
                "content" => ok(json!({"count": shared.generate_content(
                    id,
                    body["blocks"].as_u64().unwrap_or(0) as usize,
                    body["depth"].as_u64().unwrap_or(1) as usize,
                )})),
                "move" => flag(shared.move_page(
                    id,
                    &nid(body["data_source_id"].as_str().unwrap_or_default()),
                )),
                _ => bad("unknown page action"),
            }
        }
        ("POST", ["blocks", id, action]) => {
            let id = &nid(id);
            match *action {
                "append" => {
                    let n = body["count"].as_u64().unwrap_or(1) as usize;
                    ok(json!({"ids": shared.append_blocks(id, n)}))
                }
                "edit" => flag(shared.edit_block(id)),
                "delete" => flag(shared.delete_block(id)),
                "move" => flag(shared.move_block(
                    id,
                    &nid(body["parent_id"].as_str().unwrap_or_default()),
                    body["position"].as_u64().unwrap_or(0) as usize,
                )),
                _ => bad("unknown block action"),
            }
        }
        ("POST", ["comments", "add"]) => {
            let parent = nid(body["parent_id"].as_str().unwrap_or_default());
            let text = body["text"].as_str().unwrap_or_default();
            ok(json!({"id": shared.add_comment(Target::Parent(&parent), text)}))
        }
        ("POST", ["comments", "reply"]) => {
            let discussion = nid(body["discussion_id"].as_str().unwrap_or_default());
            let text = body["text"].as_str().unwrap_or_default();
            ok(json!({"id": shared.add_comment(Target::Discussion(&discussion), text)}))
        }
        ("POST", ["schema", ds, action]) => {
            let ds = &nid(ds);
            let name = body["name"].as_str().unwrap_or_default();
            match *action {
                "add" => flag(shared.add_property(ds, name, body["schema"].clone())),
                "rename" => flag(shared.rename_property(
                    ds,
                    name,
                    body["new_name"].as_str().unwrap_or_default(),
                )),
                "remove" => flag(shared.remove_property(ds, name)),
                _ => bad("unknown schema action"),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "unknown admin route"}),
        ),
    }
}
