//! Metrics of a `sync` run, in the Prometheus text exposition format.
//!
//! A sync is a batch job: nothing is scraped while it runs. It writes its metrics once, at exit, to a file
//! (`sync --metrics-file`, for node_exporter's textfile collector or a sidecar) and/or pushes them to a
//! Pushgateway (`NOTION_SYNC_PUSHGATEWAY_URL`). Each run replaces the previous run's values, so every
//! series is a gauge describing the last run; the one that matters most is the last successful
//! completion time, which survives failed runs (it is read back from `notion_sync_runs`).
//!
//! Labels are low-cardinality on purpose: `database` (the configured name) and, on the failure series,
//! `error_class`. Run ids, page ids, URLs and error messages never become labels.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::bronze::{RunRecord, RunStatus};
use crate::config::Pushgateway;
use crate::extract::DatabaseOutcome;

/// Unix time of the database's last successful run (this one or an earlier one).
pub const LAST_SUCCESS_TIMESTAMP: &str = "notion_sync_last_success_timestamp_seconds";
/// Unix time this run finished the database, successfully or not.
pub const LAST_RUN_TIMESTAMP: &str = "notion_sync_last_run_timestamp_seconds";
/// Wall time of this run for the database.
pub const RUN_DURATION: &str = "notion_sync_run_duration_seconds";
/// 1 when the database failed in this run (with `error_class`), else 0.
pub const RUN_FAILED: &str = "notion_sync_run_failed";
/// Pages received from Notion.
pub const PAGES_FETCHED: &str = "notion_sync_run_pages_fetched";
/// Page rows inserted or updated.
pub const PAGES_WRITTEN: &str = "notion_sync_run_pages_written";
/// Page rows newly flagged deleted.
pub const ROWS_DELETED: &str = "notion_sync_run_rows_deleted";
/// Results kept in the reject table.
pub const REJECTED: &str = "notion_sync_run_rejected";
/// HTTP requests sent to Notion.
pub const API_REQUESTS: &str = "notion_sync_run_api_requests";
/// 429 responses waited out.
pub const THROTTLED: &str = "notion_sync_run_throttled_responses";
/// Retries of failed requests.
pub const RETRIES: &str = "notion_sync_run_retries";
/// Block-children, comment and user list requests.
pub const CONTENT_REQUESTS: &str = "notion_sync_run_content_requests";

/// The `job` grouping label of pushed metrics.
pub const JOB: &str = "notion_sync";

/// How long a push may take before it is given up.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// One metric family: its name, help text and the value it takes for a database (`None`: no sample).
struct Family {
    name: &'static str,
    help: &'static str,
    value: fn(&DatabaseMetrics) -> Option<f64>,
}

/// Every family written, in output order.
const FAMILIES: &[Family] = &[
    Family {
        name: LAST_SUCCESS_TIMESTAMP,
        help: "Unix time the last successful sync of the database finished (kept across failed runs).",
        value: |d| d.last_success.map(unix_seconds),
    },
    Family {
        name: LAST_RUN_TIMESTAMP,
        help: "Unix time the last sync of the database finished, successful or not.",
        value: |d| Some(unix_seconds(d.run.finished_at)),
    },
    Family {
        name: RUN_DURATION,
        help: "Duration of the last sync of the database in seconds.",
        value: |d| {
            Some(
                (d.run.finished_at - d.run.started_at)
                    .num_milliseconds()
                    .max(0) as f64
                    / 1000.0,
            )
        },
    },
    Family {
        name: RUN_FAILED,
        help: "1 when the last sync of the database failed (error_class says why), else 0.",
        value: |d| Some(if d.error_class.is_some() { 1.0 } else { 0.0 }),
    },
    Family {
        name: PAGES_FETCHED,
        help: "Pages received from Notion in the last sync of the database.",
        value: |d| Some(d.run.fetched as f64),
    },
    Family {
        name: PAGES_WRITTEN,
        help: "Page rows inserted or updated in the last sync of the database.",
        value: |d| Some((d.run.inserted + d.run.updated) as f64),
    },
    Family {
        name: ROWS_DELETED,
        help: "Page rows newly flagged deleted in the last sync of the database.",
        value: |d| Some(d.run.soft_deleted as f64),
    },
    Family {
        name: REJECTED,
        help: "Results kept in notion_raw_rejects in the last sync of the database.",
        value: |d| Some(d.run.rejected as f64),
    },
    Family {
        name: API_REQUESTS,
        help: "HTTP requests sent to Notion in the last sync of the database.",
        value: |d| Some(d.run.api_requests as f64),
    },
    Family {
        name: THROTTLED,
        help: "Throttled (429) responses waited out in the last sync of the database.",
        value: |d| Some(d.run.throttled_429 as f64),
    },
    Family {
        name: RETRIES,
        help: "Retries of failed requests in the last sync of the database.",
        value: |d| Some(d.run.retries as f64),
    },
    Family {
        name: CONTENT_REQUESTS,
        help: "Block-children, comment and user list requests in the last sync of the database.",
        value: |d| Some(d.run.content.requests as f64),
    },
];

/// The names of every metric the connector writes.
pub fn names() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|f| f.name)
}

/// What one database contributes to the metrics of a run.
#[derive(Debug, Clone)]
pub struct DatabaseMetrics {
    /// This run's row for the database.
    pub run: RunRecord,
    /// The error class when the database failed in this run.
    pub error_class: Option<&'static str>,
    /// When its last successful run finished (this run, or an earlier one when this one failed).
    pub last_success: Option<DateTime<Utc>>,
}

/// Whether some database failed, so that the earlier successes must be read from the runs table.
pub fn any_failed(outcomes: &[DatabaseOutcome]) -> bool {
    outcomes.iter().any(|o| o.error.is_some())
}

/// The metrics of a run's outcomes. `history` holds earlier run rows (any order, any databases): a
/// database that failed in this run takes its last success from there.
pub fn from_outcomes(outcomes: &[DatabaseOutcome], history: &[RunRecord]) -> Vec<DatabaseMetrics> {
    outcomes
        .iter()
        .map(|o| {
            let error_class = o.error.as_ref().map(|e| e.class().as_str());
            let last_success = match error_class {
                None => Some(o.run.finished_at),
                Some(_) => previous_success(&o.run, history),
            };
            DatabaseMetrics {
                run: o.run.clone(),
                error_class,
                last_success,
            }
        })
        .collect()
}

/// When the latest successful run of `run`'s database finished, among the rows of other runs.
fn previous_success(run: &RunRecord, history: &[RunRecord]) -> Option<DateTime<Utc>> {
    history
        .iter()
        .filter(|r| r.database_name == run.database_name && r.run_id != run.run_id)
        .filter(|r| r.status != RunStatus::Failed)
        .map(|r| r.finished_at)
        .max()
}

/// Renders the metrics in the Prometheus text exposition format (version 0.0.4).
pub fn render(databases: &[DatabaseMetrics]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        out.push_str(&format!("# HELP {} {}\n", family.name, family.help));
        out.push_str(&format!("# TYPE {} gauge\n", family.name));
        for d in databases {
            if let Some(value) = (family.value)(d) {
                out.push_str(&format!(
                    "{}{} {value}\n",
                    family.name,
                    labels(family.name, d)
                ));
            }
        }
    }
    out
}

/// The label set of a database's sample: `database`, plus `error_class` on a failure.
fn labels(family: &str, d: &DatabaseMetrics) -> String {
    let mut pairs = vec![("database", d.run.database_name.as_str())];
    if let (RUN_FAILED, Some(class)) = (family, d.error_class) {
        pairs.push(("error_class", class));
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Escapes a label value as the text format requires (backslash, double quote, line feed).
fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Unix time in seconds, to the millisecond.
fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Writes `text` to `path` atomically: to a temporary file in the same directory first, then renamed over
/// `path`, so a reader (a textfile collector) never sees a half-written file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    // A leading dot and a suffix other than `.prom`: collectors skip the temporary file.
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let result = written.and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The Pushgateway URL of this integration's group: `<root>/metrics/job/notion_sync/integration/<name>`.
pub fn push_url(gateway: &Pushgateway) -> Result<url::Url, String> {
    let mut url = gateway.url.clone();
    url.path_segments_mut()
        .map_err(|()| format!("{} cannot take a path", gateway.url))?
        .pop_if_empty()
        .extend(["metrics", "job", JOB, "integration", &gateway.integration]);
    Ok(url)
}

/// Replaces this integration's group on the Pushgateway with `body` (HTTP PUT).
pub async fn push(gateway: &Pushgateway, body: String) -> Result<(), String> {
    let url = push_url(gateway)?;
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .put(url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("PUT {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("PUT {url}: the Pushgateway answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::bronze::SyncMode;

    fn run(name: &str, run_id: &str, finished_minute: u32, status: RunStatus) -> RunRecord {
        let at = |m| Utc.with_ymd_and_hms(2026, 5, 1, 10, m, 0).unwrap();
        RunRecord {
            run_id: run_id.into(),
            database_name: name.into(),
            database_id: "id".into(),
            started_at: at(0),
            finished_at: at(finished_minute) + chrono::Duration::milliseconds(250),
            status,
            mode: SyncMode::Incremental,
            fetched: 7,
            inserted: 2,
            updated: 3,
            unchanged: 2,
            soft_deleted: 1,
            hydration_requests: 0,
            api_requests: 9,
            throttled_429: 4,
            retries: 5,
            restarts: 0,
            rejected: 6,
            wait_ms: 0,
            watermark_before: None,
            watermark_after: None,
            error_class: None,
            error_message: None,
            tool_version: "0".into(),
            api_version: "2026-03-11".into(),
            content: Default::default(),
        }
    }

    fn metrics(name: &str, error_class: Option<&'static str>) -> DatabaseMetrics {
        let run = run(name, "now", 2, RunStatus::Succeeded);
        DatabaseMetrics {
            last_success: Some(run.finished_at),
            run,
            error_class,
        }
    }

    #[test]
    fn metrics_render_help_type_and_one_sample_per_database() {
        let text = render(&[metrics("projects", None), metrics("tasks", Some("auth"))]);
        for name in names() {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }
        assert!(text.contains("notion_sync_run_pages_written{database=\"projects\"} 5\n"));
        assert!(text.contains("notion_sync_run_failed{database=\"projects\"} 0\n"));
        assert!(
            text.contains("notion_sync_run_failed{database=\"tasks\",error_class=\"auth\"} 1\n")
        );
        assert!(text.contains("notion_sync_run_duration_seconds{database=\"tasks\"} 120.25\n"));
        assert!(text.contains(
            "notion_sync_last_success_timestamp_seconds{database=\"tasks\"} 1777629720.25\n"
        ));
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            2 * FAMILIES.len()
        );
    }

    #[test]
    fn metrics_names_are_prefixed_and_unique() {
        let mut all: Vec<&str> = names().collect();
        assert!(all.iter().all(|n| n.starts_with("notion_sync_")));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), FAMILIES.len());
    }

    #[test]
    fn metrics_escape_label_values() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn metrics_last_success_of_a_failure_is_the_latest_earlier_success() {
        let current = run("tasks", "now", 9, RunStatus::Failed);
        let history = [
            run("tasks", "a", 1, RunStatus::Succeeded),
            run("tasks", "b", 3, RunStatus::Unchanged),
            run("tasks", "c", 5, RunStatus::Failed),
            run("projects", "d", 7, RunStatus::Succeeded),
            run("tasks", "now", 9, RunStatus::Succeeded),
        ];
        assert_eq!(
            previous_success(&current, &history),
            Some(history[1].finished_at)
        );
        assert_eq!(previous_success(&current, &history[2..4]), None);
    }

    #[test]
    fn metrics_without_a_success_have_no_last_success_sample() {
        let mut d = metrics("tasks", Some("config"));
        d.last_success = None;
        let text = render(&[d]);
        assert!(
            !text.contains(&format!("{LAST_SUCCESS_TIMESTAMP}{{")),
            "{text}"
        );
        assert!(text.contains(&format!("# TYPE {LAST_SUCCESS_TIMESTAMP} gauge")));
    }

    #[test]
    fn metrics_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notion_sync.prom");
        write_atomic(&path, "old\n").unwrap();
        write_atomic(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file is left behind");
        assert!(write_atomic(&dir.path().join("missing/x.prom"), "x").is_err());
    }

    #[test]
    fn metrics_push_url_groups_by_job_and_integration() {
        for root in [
            "https://push.example.com",
            "https://push.example.com/prefix/",
        ] {
            let gateway = Pushgateway {
                url: root.parse().unwrap(),
                integration: "marketing".into(),
            };
            let url = push_url(&gateway).unwrap();
            assert!(
                url.as_str()
                    .ends_with("/metrics/job/notion_sync/integration/marketing"),
                "{url}"
            );
            assert!(!url.as_str().contains("//metrics"), "{url}");
        }
    }
}
