//! A counting reverse proxy on loopback in front of the local S3 server: every request the connector
//! makes to the object store passes through it, so the harness can report requests per commit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// Requests seen, by kind (`GET`, `PUT`, `LIST`, ...).
#[derive(Debug, Default)]
pub struct Counts(Mutex<BTreeMap<String, u64>>);

impl Counts {
    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counts: Arc<Counts>,
}

/// Starts the proxy for `upstream` (`http://127.0.0.1:PORT`); returns its endpoint and its counts.
pub async fn start(upstream: &str) -> (String, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let proxy = Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        client: reqwest::Client::new(),
        counts: counts.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, counts)
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    let kind = if parts.method == "GET" && query.contains("list-type") {
        "LIST".to_string()
    } else {
        parts.method.to_string()
    };
    *p.counts.0.lock().unwrap().entry(kind).or_default() += 1;
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let url = format!(
        "{}{}",
        p.upstream,
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let mut upstream = p.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .unwrap();
        }
    };
    let mut out = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        out = out.header(name, value);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    out.body(Body::from(bytes)).unwrap()
}

/// Keys under `prefix` in `bucket` (ListObjectsV2, unsigned: the local server accepts it).
pub async fn keys(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("list-type", "2".to_string()),
            ("prefix", prefix.to_string()),
        ];
        if let Some(t) = &token {
            query.push(("continuation-token", t.clone()));
        }
        let body = client
            .get(format!("{endpoint}/{bucket}"))
            .query(&query)
            .send()
            .await
            .expect("the S3 server answers")
            .text()
            .await
            .unwrap_or_default();
        out.extend(between(&body, "Key"));
        token = between(&body, "NextContinuationToken").into_iter().next();
        if token.is_none() {
            return out;
        }
    }
}

fn between(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}
