//! `notion-sync sync`.

use std::path::Path;

use chrono::SecondsFormat;

use super::{Prepared, prepare, report_config, table};
use crate::cli::SyncArgs;
use crate::config::{Include, Pushgateway, Settings};
use crate::exit;
use crate::extract::{DatabaseOutcome, SyncPlan, sync_all};
use crate::metrics;
use crate::notion::Client;
use crate::progress::Progress;
use crate::sink::BronzeSink;

/// Runs `sync` and prints the summary.
pub async fn run(settings: &Settings, args: &SyncArgs) -> u8 {
    let include = match args
        .include
        .as_deref()
        .map(|raw| Include::parse(raw, "--include"))
    {
        Some(Err(e)) => return report_config(&e),
        Some(Ok(include)) => include,
        None => Include::default(),
    };
    let Prepared {
        mut databases,
        client,
        sink,
    } = match prepare(settings, &args.databases).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    for d in &mut databases {
        d.include = d.include.union(include);
    }
    let plan = SyncPlan {
        databases,
        full_refresh: args.full_refresh,
        detect_deletes: args.detect_deletes,
        run_id: crate::lineage::new_run_id(),
        lookback: settings.lookback,
        pacing: settings.pacing,
        concurrency: settings.concurrency,
        content_depth: settings.content_depth,
        requests_per_minute: settings.requests_per_minute,
    };
    let lineage = crate::lineage::Lineage::start(settings, &plan).await;
    let outcomes = run_sync(&client, &sink, &plan, &Progress::auto()).await;
    print_summary(&outcomes);
    if args.metrics_file.is_some() || settings.pushgateway.is_some() {
        let text = render_metrics(&sink, &outcomes).await;
        publish_metrics(
            &text,
            args.metrics_file.as_deref(),
            settings.pushgateway.as_ref(),
        )
        .await;
    }
    let code = outcome_code(&outcomes);
    if settings.views.on_sync {
        let names: Vec<String> = plan.databases.iter().map(|d| d.name.clone()).collect();
        super::views::refresh(settings, &sink, &names).await;
    }
    lineage.finish(&outcomes, code).await;
    code
}

/// The run's metrics in the Prometheus text format. A database that failed keeps the last success recorded
/// in the runs table; when that table cannot be read its last-success series is left out (never faked).
async fn render_metrics<S: BronzeSink>(sink: &S, outcomes: &[DatabaseOutcome]) -> String {
    let history = if metrics::any_failed(outcomes) {
        sink.recent_runs(usize::MAX).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the runs table could not be read for the metrics' last successes");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    metrics::render(&metrics::from_outcomes(outcomes, &history))
}

/// Writes the metrics file and pushes to the Pushgateway, as configured. Neither failure changes the exit
/// code: the run's data is committed either way, and stale metrics raise the staleness alert.
async fn publish_metrics(text: &str, file: Option<&Path>, gateway: Option<&Pushgateway>) {
    if let Some(path) = file {
        match metrics::write_atomic(path, text) {
            Ok(()) => tracing::info!(path = %path.display(), "metrics written"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the metrics file could not be written");
                eprintln!(
                    "warning: the metrics file {} could not be written: {e}",
                    path.display()
                );
            }
        }
    }
    if let Some(gateway) = gateway {
        match metrics::push(gateway, text.to_string()).await {
            Ok(()) => tracing::info!(integration = %gateway.integration, "metrics pushed"),
            Err(e) => {
                tracing::warn!(integration = %gateway.integration, error = %e, "the metrics push failed");
                eprintln!("warning: the metrics push failed: {e}");
            }
        }
    }
}

/// Runs a planned sync, logging each database's result.
pub async fn run_sync<S: BronzeSink>(
    client: &Client,
    sink: &S,
    plan: &SyncPlan,
    progress: &Progress,
) -> Vec<DatabaseOutcome> {
    tracing::info!(run_id = %plan.run_id, databases = plan.databases.len(), full_refresh = plan.full_refresh,
        api_version = %client.api_version(), "sync started");
    let mut outcomes = sync_all(client, sink, plan, progress).await;
    outcomes.sort_by(|a, b| a.database.name.cmp(&b.database.name));
    for o in &outcomes {
        let r = &o.run;
        match &o.error {
            None => {
                tracing::info!(database = %o.database.name, status = r.status.as_str(), fetched = r.fetched,
                inserted = r.inserted, updated = r.updated, unchanged = r.unchanged, api_requests = r.api_requests,
                throttled_429 = r.throttled_429, retries = r.retries, "database synced")
            }
            Some(e) => {
                tracing::error!(database = %o.database.name, error_class = e.class().as_str(), error = %e,
                    "database failed");
                eprintln!(
                    "error: database '{}' ({}): {e}",
                    o.database.name, o.database.id
                );
            }
        }
    }
    outcomes
}

/// The exit code for a set of outcomes.
pub fn outcome_code(outcomes: &[DatabaseOutcome]) -> u8 {
    let failures: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(|e| e.class()))
        .collect();
    exit::for_outcomes(outcomes.len(), &failures)
}

/// Prints one line per database to stdout.
pub fn print_summary(outcomes: &[DatabaseOutcome]) {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let r = &o.run;
            vec![
                o.database.name.clone(),
                r.status.as_str().to_string(),
                r.fetched.to_string(),
                r.inserted.to_string(),
                r.updated.to_string(),
                r.unchanged.to_string(),
                r.soft_deleted.to_string(),
                r.hydration_requests.to_string(),
                r.restarts.to_string(),
                r.api_requests.to_string(),
                r.throttled_429.to_string(),
                r.retries.to_string(),
                r.watermark_after
                    .map(|w| w.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "database",
                "status",
                "fetched",
                "inserted",
                "updated",
                "unchanged",
                "deleted",
                "hydrations",
                "restarts",
                "requests",
                "429s",
                "retries",
                "watermark"
            ],
            &rows
        )
    );
}
