//! Shared helpers: start a simulator and call it.

use notion_sim::{SimConfig, SimHandle, Simulator};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Newest version.
pub const V_NEW: &str = "2026-03-11";
/// Data-source version.
pub const V_DS: &str = "2025-09-03";
/// Old version.
pub const V_OLD: &str = "2022-06-28";

/// Starts a demo simulator.
pub async fn demo() -> SimHandle {
    start(SimConfig::default()).await
}

/// Starts a simulator.
pub async fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("simulator starts")
}

/// A response.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Calls the API with the simulator's token.
pub async fn call(
    sim: &SimHandle,
    method: Method,
    path: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Resp {
    raw(sim, method, path, version, Some(&sim.token()), body).await
}

/// Calls with full control over auth.
pub async fn raw(
    sim: &SimHandle,
    method: Method,
    path: &str,
    version: Option<&str>,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{}{path}", sim.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(v) = version {
        req = req.header("Notion-Version", v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp {
        status,
        headers,
        body,
    }
}

/// POST shortcut with the newest version.
pub async fn post(sim: &SimHandle, path: &str, body: Value) -> Resp {
    call(sim, Method::POST, path, Some(V_NEW), Some(body)).await
}

/// GET shortcut with the newest version.
pub async fn get(sim: &SimHandle, path: &str) -> Resp {
    get_in(sim, path, V_NEW).await
}

/// GET with a `Notion-Version`.
pub async fn get_in(sim: &SimHandle, path: &str, version: &str) -> Resp {
    call(sim, Method::GET, path, Some(version), None).await
}

/// The first data source id of a database by title.
pub fn ds_of(sim: &SimHandle, title: &str) -> String {
    sim.databases()
        .into_iter()
        .find(|d| d.title == title)
        .expect("database exists")
        .data_sources[0]
        .id
        .clone()
}

/// Pages through a data source query, returning every result.
pub async fn query_all(sim: &SimHandle, ds: &str, mut body: Value) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = post(sim, &format!("/v1/data_sources/{ds}/query"), body.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        out.extend(r.body["results"].as_array().cloned().unwrap_or_default());
        match r.body["next_cursor"].as_str() {
            Some(c) => body["start_cursor"] = Value::String(c.to_string()),
            None => return out,
        }
    }
}

/// Admin POST.
pub async fn admin(sim: &SimHandle, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/__sim/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert!(r.status().is_success(), "admin {path}: {}", r.status());
    r.json().await.expect("admin json")
}

/// PATCH shortcut with the newest version.
pub async fn patch(sim: &SimHandle, path: &str, body: Value) -> Resp {
    call(sim, Method::PATCH, path, Some(V_NEW), Some(body)).await
}

/// Asserts a 400 `validation_error` whose message contains `needle`.
pub fn assert_invalid(r: &Resp, needle: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["object"], "error", "{}", r.body);
    assert_eq!(r.body["code"], "validation_error", "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// The dump entry of a page.
pub fn dump_entry(sim: &SimHandle, id: &str) -> Value {
    sim.state_dump(V_NEW)["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A rich-text request array of one text item.
pub fn rt(content: &str) -> Value {
    serde_json::json!([{"type": "text", "text": {"content": content}}])
}

/// DELETE shortcut with the newest version.
pub async fn delete(sim: &SimHandle, path: &str) -> Resp {
    call(sim, Method::DELETE, path, Some(V_NEW), None).await
}
