//! The HTTP endpoints: `GET /health` and `GET /metrics`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;

use super::state::ServiceState;

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers read.
#[derive(Clone)]
pub struct Shared {
    /// The service's state.
    pub state: Arc<Mutex<ServiceState>>,
    /// A database whose last success is at least this old makes `/health` answer 503.
    pub stale_after: Duration,
}

/// The router of the service's endpoints.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// `GET /health`: 200 when every database synced successfully within the staleness bound, else 503.
async fn health(State(shared): State<Shared>) -> Response {
    let health = lock(&shared.state).health(chrono::Utc::now(), shared.stale_after);
    let code = if health.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health)).into_response()
}

/// `GET /metrics`: the Prometheus text of the last run of every database and of the service.
async fn metrics(State(shared): State<Shared>) -> Response {
    let text = lock(&shared.state).metrics();
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response()
}

/// Locks the state; a panic elsewhere while it was held leaves it readable.
pub fn lock(state: &Mutex<ServiceState>) -> std::sync::MutexGuard<'_, ServiceState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
