//! What the service knows about its runs, and the two views of it: `/health` (JSON) and `/metrics`
//! (Prometheus text).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::bronze::{RunRecord, RunStatus};
use crate::extract::DatabaseOutcome;
use crate::metrics::{self, DatabaseMetrics};

/// 1 while the service runs.
pub const UP: &str = "notion_sync_serve_up";
/// Scheduled runs finished, by `result` (`ok`: every database synced, `failed`: some did not).
pub const RUNS_TOTAL: &str = "notion_sync_serve_runs_total";
/// Slots passed over because the previous run was still going.
pub const SKIPPED_TOTAL: &str = "notion_sync_serve_skipped_runs_total";
/// 1 while a run is in flight.
pub const RUNNING: &str = "notion_sync_serve_running";
/// Unix time the service started.
pub const START_TIME: &str = "notion_sync_serve_start_time_seconds";

/// The last error of a database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastError {
    /// The error as printed for operators.
    pub message: String,
    /// Its fault class (`auth`, `transient`, `config`, `internal`).
    pub class: &'static str,
    /// When the failed run finished.
    pub at: DateTime<Utc>,
}

/// What the service knows about one database.
#[derive(Debug, Clone, Default)]
struct DatabaseState {
    /// When its last successful run finished (read from the runs table at start, then kept up to date).
    last_success: Option<DateTime<Utc>>,
    /// Its latest error, kept after later successes (with its time) so that flapping shows.
    last_error: Option<LastError>,
    /// Its row and error class from the latest run of this service.
    last_run: Option<(RunRecord, Option<&'static str>)>,
}

/// The service's state, shared by the scheduler and the HTTP handlers.
#[derive(Debug)]
pub struct ServiceState {
    databases: BTreeMap<String, DatabaseState>,
    started_at: DateTime<Utc>,
    running: bool,
    runs_ok: u64,
    runs_failed: u64,
    skipped: u64,
}

/// One database in `/health`.
#[derive(Debug, Serialize)]
pub struct DatabaseHealth {
    /// Configured name.
    pub name: String,
    /// Whether its last success is younger than the staleness bound.
    pub healthy: bool,
    /// When its last successful run finished (RFC 3339).
    pub last_success: Option<String>,
    /// Seconds since then.
    pub last_success_age_seconds: Option<f64>,
    /// Status of its latest run in this service (`succeeded`, `unchanged`, `failed`).
    pub last_status: Option<&'static str>,
    /// Its latest error.
    pub last_error: Option<LastError>,
}

/// The `/health` document.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when every database is healthy, else `stale`.
    pub status: &'static str,
    /// Whether a run is in flight.
    pub running: bool,
    /// Runs finished since the service started.
    pub runs: u64,
    /// The staleness bound in seconds.
    pub stale_after_seconds: u64,
    /// Per database, by name.
    pub databases: Vec<DatabaseHealth>,
}

impl ServiceState {
    /// The state of a service starting now for `names`, with the last successes recorded in `history`
    /// (run rows of earlier runs, any order).
    pub fn new(names: &[String], history: &[RunRecord], now: DateTime<Utc>) -> ServiceState {
        let databases = names
            .iter()
            .map(|name| {
                let last_success = history
                    .iter()
                    .filter(|r| &r.database_name == name && r.status != RunStatus::Failed)
                    .map(|r| r.finished_at)
                    .max();
                let state = DatabaseState {
                    last_success,
                    ..DatabaseState::default()
                };
                (name.clone(), state)
            })
            .collect();
        ServiceState {
            databases,
            started_at: now,
            running: false,
            runs_ok: 0,
            runs_failed: 0,
            skipped: 0,
        }
    }

    /// Marks a run as started.
    pub fn begin_run(&mut self) {
        self.running = true;
    }

    /// Records a finished run's outcomes.
    pub fn finish_run(&mut self, outcomes: &[DatabaseOutcome]) {
        self.running = false;
        if metrics::any_failed(outcomes) {
            self.runs_failed += 1;
        } else {
            self.runs_ok += 1;
        }
        for o in outcomes {
            let db = self.databases.entry(o.database.name.clone()).or_default();
            let class = o.error.as_ref().map(|e| e.class().as_str());
            match &o.error {
                None => db.last_success = Some(o.run.finished_at),
                Some(e) => {
                    db.last_error = Some(LastError {
                        message: e.to_string(),
                        class: e.class().as_str(),
                        at: o.run.finished_at,
                    })
                }
            }
            db.last_run = Some((o.run.clone(), class));
        }
    }

    /// Counts slots passed over while a run was in flight.
    pub fn skip(&mut self, slots: u64) {
        self.skipped += slots;
    }

    /// The `/health` document at `now`: healthy when every database's last success is younger than
    /// `stale_after` (so never before the first success).
    pub fn health(&self, now: DateTime<Utc>, stale_after: Duration) -> Health {
        let databases: Vec<DatabaseHealth> = self
            .databases
            .iter()
            .map(|(name, db)| {
                let age = db
                    .last_success
                    .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                DatabaseHealth {
                    name: name.clone(),
                    healthy: age.is_some_and(|a| a < stale_after.as_secs_f64()),
                    last_success: db
                        .last_success
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                    last_success_age_seconds: age,
                    last_status: db.last_run.as_ref().map(|(r, _)| r.status.as_str()),
                    last_error: db.last_error.clone(),
                }
            })
            .collect();
        let healthy = !databases.is_empty() && databases.iter().all(|d| d.healthy);
        Health {
            status: if healthy { "ok" } else { "stale" },
            running: self.running,
            runs: self.runs_ok + self.runs_failed,
            stale_after_seconds: stale_after.as_secs(),
            databases,
        }
    }

    /// The `/metrics` text: every database's last run (as `sync --metrics-file` writes it), then the
    /// service's own series.
    pub fn metrics(&self) -> String {
        let databases: Vec<DatabaseMetrics> = self
            .databases
            .values()
            .filter_map(|db| {
                let (run, error_class) = db.last_run.clone()?;
                Some(DatabaseMetrics {
                    run,
                    error_class,
                    last_success: db.last_success,
                })
            })
            .collect();
        let mut out = metrics::render(&databases);
        out.push_str(&self.service_metrics());
        out
    }

    /// The `notion_sync_serve_*` series.
    fn service_metrics(&self) -> String {
        let start = self.started_at.timestamp_millis() as f64 / 1000.0;
        [
            family(UP, "gauge", "1 while notion-sync serve runs.", &[("", 1.0)]),
            family(
                RUNS_TOTAL,
                "counter",
                "Scheduled runs finished since the service started, by result (failed: some database failed).",
                &[
                    ("result=\"ok\"", self.runs_ok as f64),
                    ("result=\"failed\"", self.runs_failed as f64),
                ],
            ),
            family(
                SKIPPED_TOTAL,
                "counter",
                "Scheduled runs skipped because the previous run was still going.",
                &[("", self.skipped as f64)],
            ),
            family(
                RUNNING,
                "gauge",
                "1 while a run is in flight.",
                &[("", if self.running { 1.0 } else { 0.0 })],
            ),
            family(START_TIME, "gauge", "Unix time the service started.", &[("", start)]),
        ]
        .concat()
    }
}

/// One family in the text format: HELP, TYPE and one sample per `(labels, value)`; `labels` is the
/// inside of the braces, empty for none.
fn family(name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) -> String {
    let mut out = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
    for (labels, value) in samples {
        if labels.is_empty() {
            out.push_str(&format!("{name} {value}\n"));
        } else {
            out.push_str(&format!("{name}{{{labels}}} {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_health_is_stale_before_the_first_success() {
        let now = Utc::now();
        let state = ServiceState::new(&["tasks".into()], &[], now);
        let health = state.health(now, Duration::from_secs(3600));
        assert_eq!(health.status, "stale");
        assert!(!health.databases[0].healthy);
        assert_eq!(health.databases[0].last_success, None);
    }

    #[test]
    fn serve_metrics_have_the_service_series_before_any_run() {
        let state = ServiceState::new(&["tasks".into()], &[], Utc::now());
        let text = state.metrics();
        assert!(text.contains("\nnotion_sync_serve_up 1\n"), "{text}");
        assert!(
            text.contains("notion_sync_serve_runs_total{result=\"ok\"} 0\n"),
            "{text}"
        );
        assert!(
            text.lines()
                .all(|l| l.starts_with("# ") || l.starts_with("notion_sync_"))
        );
    }
}
