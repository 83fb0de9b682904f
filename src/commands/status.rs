//! `notion-sync status`: watermarks, last runs and row counts per database.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::{open_sink, report_sink, table};
use crate::cli::StatusArgs;
use crate::config::Settings;
use crate::exit;
use crate::sink::BronzeSink;

/// Prints the state of every configured or previously synced database.
pub async fn run(settings: &Settings, args: &StatusArgs) -> u8 {
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let (watermarks, runs, counts) = match tokio::try_join!(
        sink.load_watermarks(),
        sink.recent_runs(10_000),
        sink.page_counts()
    ) {
        Ok(v) => v,
        Err(e) => return report_sink(&e),
    };
    // database id → name, from configuration first, then from what the tables remember.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for w in &watermarks {
        names.insert(w.database_id.clone(), w.database_name.clone());
    }
    for db in &settings.databases {
        names.insert(db.id.clone(), db.name.clone());
    }
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    };
    let mut report: Vec<Value> = Vec::new();
    for (id, name) in &names {
        let wm = watermarks.iter().filter(|w| &w.database_id == id);
        let watermark = wm.clone().filter_map(|w| w.watermark).max();
        let last_full = wm.filter_map(|w| w.last_full_refresh_at).max();
        let last_run = runs.iter().find(|r| &r.database_id == id);
        let c = counts.get(id).cloned().unwrap_or_default();
        report.push(json!({
            "database_name": name,
            "database_id": id,
            "configured": settings.databases.iter().any(|d| &d.id == id),
            "watermark": ts(watermark),
            "last_full_refresh_at": ts(last_full),
            "last_run": last_run.map(|r| json!({
                "run_id": r.run_id, "status": r.status.as_str(), "mode": r.mode.as_str(),
                "finished_at": ts(Some(r.finished_at)), "fetched": r.fetched, "inserted": r.inserted,
                "updated": r.updated, "unchanged": r.unchanged, "api_requests": r.api_requests,
                "error_class": r.error_class, "error_message": r.error_message,
            })),
            "rows_live": c.live,
            "rows_deleted": c.deleted,
        }));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(report)).unwrap_or_default()
        );
        return exit::OK;
    }
    let cell = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|r| {
            vec![
                cell(&r["database_name"]),
                cell(&r["watermark"]),
                cell(&r["last_run"]["status"]),
                cell(&r["last_run"]["finished_at"]),
                cell(&r["rows_live"]),
                cell(&r["rows_deleted"]),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "database",
                "watermark",
                "last run",
                "finished",
                "rows",
                "deleted"
            ],
            &rows
        )
    );
    exit::OK
}
