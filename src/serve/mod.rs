//! `notion-sync serve`: the sync as a long-running service, for deployments without an orchestrator.
//!
//! One loop runs the sync every `--every` (a full refresh every `--full-refresh-every`); a run is never
//! started while another is in flight — slots that pass during a long run are skipped and counted. Beside
//! it, an HTTP server answers `GET /health` (200 while every database synced within `--stale-after`, 503
//! otherwise) and `GET /metrics` (the Prometheus text of every database's last run plus
//! `notion_sync_serve_*`).
//!
//! SIGTERM or Ctrl-C stops the scheduling and lets the run in flight finish: it commits and saves its
//! watermarks as a `sync` does, and releases its leases; then the process exits 0. Nothing is cut
//! half-way, so nothing is lost. A second signal exits at once with [`INTERRUPTED`]; what that run
//! committed stays (each commit is atomic and idempotent), its leases expire after their TTL, and the next
//! run reads again from the last saved watermark.

pub mod http;
pub mod schedule;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::bronze::RunRecord;
use crate::exit;
use crate::extract::DatabaseOutcome;
use state::ServiceState;

/// Exit code after a second signal abandoned the run in flight (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// How long the HTTP server may take to close its connections at shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time between the starts of two scheduled runs.
    pub every: Duration,
    /// Make a run a full refresh when none finished within this long.
    pub full_refresh_every: Option<Duration>,
    /// `/health` answers 503 when a database's last success is this old.
    pub stale_after: Duration,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
}

/// Turns SIGTERM and Ctrl-C (SIGINT) into a shutdown request (the receiver turns `true`); a second
/// signal exits the process at once with [`INTERRUPTED`].
pub fn watch_signals() -> std::io::Result<watch::Receiver<bool>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            if tx.send_replace(true) {
                tracing::warn!("second signal: exiting now, abandoning the run in flight");
                eprintln!("second signal: exiting now; the run in flight is abandoned");
                std::process::exit(i32::from(INTERRUPTED));
            }
            tracing::info!(
                "shutdown requested: the run in flight finishes, then the service exits"
            );
        }
    });
    Ok(rx)
}

/// Runs the service until `shutdown` turns `true`, then returns the exit code. `sync(full_refresh)`
/// runs the configured databases once; `history` holds the run rows already in the lake, from which the
/// last successes and the last full refresh are known before the first run.
pub async fn run<F, Fut>(
    sync: F,
    names: &[String],
    history: &[RunRecord],
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    options: &ServeOptions,
) -> u8
where
    F: Fn(bool) -> Fut,
    Fut: Future<Output = Vec<DatabaseOutcome>>,
{
    let state = Arc::new(Mutex::new(ServiceState::new(
        names,
        history,
        chrono::Utc::now(),
    )));
    let (stop_http, server) = start_http(listener, &state, options.stale_after);
    let mut last_full_refresh = schedule::last_full_refresh(history);
    let mut due = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let full_refresh = schedule::full_refresh_due(
            options.full_refresh_every,
            last_full_refresh,
            chrono::Utc::now(),
        );
        http::lock(&state).begin_run();
        let outcomes = sync(full_refresh).await;
        if full_refresh && outcomes.iter().any(|o| o.error.is_none()) {
            last_full_refresh = Some(chrono::Utc::now());
        }
        http::lock(&state).finish_run(&outcomes);
        if *shutdown.borrow() {
            break;
        }
        let (next, skipped) = schedule::next_slot(due, options.every, Instant::now());
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "the run outlasted --every; the slots it overlapped were skipped"
            );
            http::lock(&state).skip(skipped);
        }
        due = next;
    }
    let _ = stop_http.send(());
    match tokio::time::timeout(HTTP_DRAIN, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server task failed"),
        Err(_) => tracing::warn!("HTTP connections still open at exit were dropped"),
    }
    tracing::info!("serve stopped");
    exit::OK
}

/// Spawns the HTTP server on `listener`; it stops when the returned sender fires (or is dropped).
fn start_http(
    listener: TcpListener,
    state: &Arc<Mutex<ServiceState>>,
    stale_after: Duration,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let router = http::router(http::Shared {
        state: Arc::clone(state),
        stale_after,
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    (stop, tokio::spawn(server.into_future()))
}

/// Whether `addr` is reachable only from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
