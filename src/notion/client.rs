//! The HTTP client: one per token, cheap to clone, shared by every database task.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::ApiVersion;
use super::error::{ErrorClass, NotionError, classify};
use super::limiter::TokenLimiter;
use super::model::ErrorBody;
use super::retry::{Transport, classify_status, classify_transport};
use super::stats::RequestStats;
use crate::config::Secret;
use crate::retry::{Class, Decision, Operation, Policy};

/// How to reach Notion.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// API root.
    pub base_url: Url,
    /// Integration token.
    pub token: Secret,
    /// `Notion-Version`.
    pub api_version: ApiVersion,
    /// Request budget per minute.
    pub requests_per_minute: u32,
    /// Retries of a failed read.
    pub max_retries: u32,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// First backoff ceiling (doubles per retry).
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_cap: Duration,
}

impl ClientOptions {
    /// Options from validated settings, with the default backoff (0.5 s doubling to 30 s); fails when no
    /// token is configured.
    pub fn from_settings(s: &crate::config::Settings) -> Result<Self, crate::config::ConfigError> {
        Ok(ClientOptions {
            base_url: s.base_url.clone(),
            token: s.require_token()?.clone(),
            api_version: s.api_version,
            requests_per_minute: s.requests_per_minute,
            max_retries: s.max_retries,
            request_timeout: s.request_timeout,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
        })
    }
}

/// A Notion API client. All clones share one rate limiter (the token's budget).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// For Notion-hosted files' signed URLs: no token (the URL carries its own credential).
    files: reqwest::Client,
    base: Url,
    version: ApiVersion,
    limiter: TokenLimiter,
    policy: Policy,
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
pub(super) enum Body<'a> {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(&'a Value),
    /// A file's bytes as `multipart/form-data` (a file upload's `send`).
    Part(&'a super::files::FilePart),
}

/// One failed attempt, before the retry decision.
struct Failure {
    status: Option<u16>,
    code: String,
    message: String,
    request_id: Option<String>,
    class: Class,
    committed_id: Option<String>,
    committed_children: Vec<String>,
}

impl Client {
    /// Builds a client; fails only if the TLS stack or the token header cannot be set up.
    pub fn new(opts: ClientOptions) -> Result<Client, NotionError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", opts.token.expose())).map_err(|_| {
                local_error(
                    "setup",
                    "NOTION_API_KEY contains characters not allowed in an HTTP header",
                    ErrorClass::Config,
                )
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            "Notion-Version",
            HeaderValue::from_static(opts.api_version.as_str()),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("notion-sync/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| {
                local_error("setup", &format!("HTTP client: {e}"), ErrorClass::Internal)
            })?;
        let files = reqwest::Client::builder()
            .user_agent(concat!("notion-sync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(opts.request_timeout)
            .build()
            .map_err(|e| {
                local_error("setup", &format!("HTTP client: {e}"), ErrorClass::Internal)
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                files,
                base: opts.base_url,
                version: opts.api_version,
                limiter: TokenLimiter::new(opts.requests_per_minute),
                policy: Policy::new(opts.backoff_base, opts.backoff_cap, opts.max_retries),
            }),
        })
    }

    /// The client for hosted files' signed URLs and the retry policy.
    pub(super) fn files_http(&self) -> (&reqwest::Client, &Policy) {
        (&self.inner.files, &self.inner.policy)
    }

    /// The `Notion-Version` in use.
    pub fn api_version(&self) -> ApiVersion {
        self.inner.version
    }

    /// `GET path?query`, decoded as `T`. Retries per the policy in [`super::retry`].
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<T, NotionError> {
        self.call(
            Operation::Read,
            Method::GET,
            path,
            query,
            Body::Empty,
            object_id,
            stats,
        )
        .await
        .map(|(value, _)| value)
    }

    /// Every item of a paginated `GET` list (`results`, `next_cursor`, `has_more`), 100 per request, each
    /// request also counted in `counter`.
    pub async fn get_all(
        &self,
        path: &str,
        object_id: Option<&str>,
        stats: &RequestStats,
        counter: &std::sync::atomic::AtomicU64,
    ) -> Result<Vec<Box<serde_json::value::RawValue>>, NotionError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("page_size", "100".to_string())];
            if let Some(c) = &cursor {
                query.push(("start_cursor", c.clone()));
            }
            RequestStats::bump(counter);
            let page: super::model::ListPage = self.get(path, &query, object_id, stats).await?;
            items.extend(page.results);
            match (page.has_more, page.next_cursor) {
                (true, Some(next)) => cursor = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// `POST path?query` with a JSON body, for read-only endpoints (query, search), which are retried like
    /// GETs. Also returns Notion's clock when it answered (its `Date` header, to the second), when it sent
    /// one.
    pub async fn post_read<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &Value,
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<(T, Option<DateTime<Utc>>), NotionError> {
        self.call(
            Operation::Read,
            Method::POST,
            path,
            query,
            Body::Json(body),
            object_id,
            stats,
        )
        .await
    }

    /// A write (`POST`, `PATCH`, `DELETE` that changes Notion), decoded as `T`. Retried only when Notion
    /// answered that it did not apply it (throttled, transaction collision) or it never left this host.
    pub async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<T, NotionError> {
        self.send(Operation::Write, method, path, body, object_id, stats)
            .await
    }

    /// A write that repeating cannot change further (setting properties, the trash flag, a block's
    /// text; deleting a block): retried after any transient failure, like a read.
    pub async fn write_idempotent<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<T, NotionError> {
        self.send(Operation::Read, method, path, body, object_id, stats)
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        op: Operation,
        method: Method,
        path: &str,
        body: &Value,
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<T, NotionError> {
        self.call(op, method, path, &[], Body::Json(body), object_id, stats)
            .await
            .map(|(value, _)| value)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        op: Operation,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body<'_>,
        object_id: Option<&str>,
        stats: &RequestStats,
    ) -> Result<(T, Option<DateTime<Utc>>), NotionError> {
        let endpoint = format!("{method} {path}");
        let url = self
            .inner
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| local_error(&endpoint, &format!("bad URL: {e}"), ErrorClass::Internal))?;
        let mut attempts = self.inner.policy.start();
        loop {
            self.inner.limiter.acquire().await;
            RequestStats::bump(&stats.requests);
            let failure = match self.attempt::<T>(op, &method, &url, query, body).await {
                Ok(value) => return Ok(value),
                Err(f) => f,
            };
            let give_up = |f: Failure, hint: Option<String>, class: ErrorClass| NotionError {
                status: f.status,
                code: f.code,
                message: f.message,
                request_id: f.request_id,
                endpoint: endpoint.clone(),
                object_id: object_id.map(str::to_string),
                hint,
                class,
                committed_id: f.committed_id,
                committed_children: f.committed_children,
            };
            let decision = attempts.next(failure.class);
            if let Some(wait) = decision.wait() {
                stats.wait_ms.fetch_add(
                    wait.as_millis() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            match decision {
                Decision::Throttle(wait) => {
                    RequestStats::bump(&stats.throttled);
                    tracing::info!(endpoint = %endpoint, wait_s = wait.as_secs(), status = ?failure.status,
                        "throttled by Notion; waiting out Retry-After");
                    // Every task sharing the token waits, not only this one.
                    self.inner.limiter.pause_for(wait);
                }
                Decision::Backoff { delay, attempt } => {
                    RequestStats::bump(&stats.retries);
                    tracing::warn!(endpoint = %endpoint, status = ?failure.status, code = %failure.code,
                        attempt, delay_ms = delay.as_millis() as u64, "retrying after a transient failure");
                    tokio::time::sleep(delay).await;
                }
                Decision::Exhausted(retries) => {
                    let hint = format!(
                        "Notion kept failing after {retries} retries; rerun later (safe: nothing past the \
                         last committed batch was recorded)"
                    );
                    return Err(give_up(failure, Some(hint), ErrorClass::Transient));
                }
                Decision::Permanent => {
                    let (class, hint) = match failure.status {
                        Some(status) => classify(status, &failure.code),
                        None => (ErrorClass::Internal, None),
                    };
                    let hint = hint.map(str::to_string).or_else(|| {
                        (op == Operation::Write && class == ErrorClass::Transient).then(|| {
                            "the write may have been applied; check Notion before repeating it"
                                .to_string()
                        })
                    });
                    return Err(give_up(failure, hint, class));
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        op: Operation,
        method: &Method,
        url: &Url,
        query: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<(T, Option<DateTime<Utc>>), Failure> {
        let mut req = self.inner.http.request(method.clone(), url.clone());
        if !query.is_empty() {
            req = req.query(query);
        }
        match body {
            Body::Empty => {}
            Body::Json(v) => req = req.json(v),
            Body::Part(p) => req = req.multipart(p.form().map_err(|e| Failure::local(&e))?),
        }
        let resp = req.send().await.map_err(|e| transport_failure(op, e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("x-notion-request-id");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let date = header("date").and_then(|d| DateTime::parse_from_rfc2822(&d).ok());
        let bytes = resp.bytes().await.map_err(|e| transport_failure(op, e))?;
        if (200..300).contains(&status) {
            let date = date.map(|d| d.to_utc());
            return serde_json::from_slice::<T>(&bytes)
                .map(|v| (v, date))
                .map_err(|e| Failure {
                    status: Some(status),
                    code: "invalid_json".into(),
                    message: format!("response body could not be decoded: {e}"),
                    request_id: request_id.clone(),
                    committed_id: None,
                    committed_children: Vec::new(),
                    // A cut-off or garbled body is a transport fault; a well-formed body of the wrong shape is not.
                    class: if e.is_eof() || e.is_syntax() {
                        classify_transport(op, Transport::Garbled)
                    } else {
                        Class::Permanent
                    },
                });
        }
        let err: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let reason = err
            .additional_data
            .as_ref()
            .and_then(|d| d.get("rate_limit_reason"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let class = classify_status(op, status, retry_after, &err.code, reason);
        let committed_id = err
            .additional_data
            .as_ref()
            .and_then(|d| d.get("committed_resource_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let committed_children = err
            .additional_data
            .as_ref()
            .and_then(|d| d.get("committed_child_ids"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Err(Failure {
            status: Some(status),
            code: if err.code.is_empty() {
                format!("http_{status}")
            } else {
                err.code
            },
            message: if err.message.is_empty() {
                format!("HTTP {status} without a Notion error body")
            } else {
                err.message
            },
            request_id: err.request_id.or(request_id),
            class,
            committed_id,
            committed_children,
        })
    }
}

impl Failure {
    /// A request that could not be built here.
    fn local(e: &reqwest::Error) -> Failure {
        Failure {
            status: None,
            code: "local".into(),
            message: e.to_string(),
            request_id: None,
            class: Class::Permanent,
            committed_id: None,
            committed_children: Vec::new(),
        }
    }
}

fn transport_failure(op: Operation, e: reqwest::Error) -> Failure {
    let kind = if e.is_connect() {
        Transport::Refused
    } else {
        Transport::Interrupted
    };
    let code = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    Failure {
        status: None,
        code: code.into(),
        message: error_chain(&e),
        request_id: None,
        class: classify_transport(op, kind),
        committed_id: None,
        committed_children: Vec::new(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn local_error(endpoint: &str, message: &str, class: ErrorClass) -> NotionError {
    NotionError {
        status: None,
        code: "local".into(),
        message: message.into(),
        request_id: None,
        endpoint: endpoint.into(),
        object_id: None,
        hint: None,
        class,
        committed_id: None,
        committed_children: Vec::new(),
    }
}
