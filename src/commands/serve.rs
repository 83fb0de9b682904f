//! `notion-sync serve`: sets the service up like `sync` (databases, client, lake), then hands it to
//! [`crate::serve`].

use super::{Prepared, prepare, report_config, run_sync};
use crate::cli::ServeArgs;
use crate::config::{ConfigError, DatabaseConfig, Settings};
use crate::exit;
use crate::extract::SyncPlan;
use crate::progress::Progress;
use crate::serve::{self, ServeOptions};
use crate::sink::BronzeSink;

/// Runs `serve` until SIGTERM or Ctrl-C.
pub async fn run(settings: &Settings, args: &ServeArgs) -> u8 {
    let options = ServeOptions {
        every: args.every,
        full_refresh_every: args.full_refresh_every,
        stale_after: args.stale_after,
        listen: args.listen,
    };
    // Installed first, so that a signal during the setup already means "stop after what is in flight".
    let shutdown = match serve::watch_signals() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("error: cannot install the signal handlers: {e}");
            return exit::INTERNAL;
        }
    };
    let Prepared {
        databases,
        client,
        sink,
    } = match prepare(settings, &[]).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(e) => {
            return report_config(&ConfigError::new(
                "--listen",
                format!("cannot listen on {}: {e}", options.listen),
            ));
        }
    };
    if !serve::is_loopback(&options.listen) {
        tracing::warn!(listen = %options.listen, "serving /health and /metrics beyond this machine");
    }
    let history = sink.recent_runs(usize::MAX).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the runs table could not be read; last successes start unknown");
        Vec::new()
    });
    let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
    tracing::info!(listen = %options.listen, every_ms = options.every.as_millis() as u64,
        databases = names.len(), "serve started");
    let sync = |full_refresh: bool| {
        let plan = plan(settings, &databases, full_refresh);
        let (client, sink) = (&client, &sink);
        async move { run_sync(client, sink, &plan, &Progress::hidden()).await }
    };
    serve::run(sync, &names, &history, listener, shutdown, &options).await
}

/// The plan of one scheduled run, with a fresh run id.
fn plan(settings: &Settings, databases: &[DatabaseConfig], full_refresh: bool) -> SyncPlan {
    SyncPlan {
        databases: databases.to_vec(),
        full_refresh,
        detect_deletes: false,
        run_id: uuid::Uuid::new_v4().to_string(),
        lookback: settings.lookback,
        pacing: settings.pacing,
        concurrency: settings.concurrency,
        content_depth: settings.content_depth,
        requests_per_minute: settings.requests_per_minute,
    }
}
