//! `notion-sync snapshots`: the restore points of the lake.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::{open_lake, report_config, report_sink, table};
use crate::cli::SnapshotsArgs;
use crate::config::Settings;
use crate::exit;
use crate::sink::tables;

/// Prints the versions of the pages table and, per database, the time range its history covers.
pub async fn run(settings: &Settings, args: &SnapshotsArgs) -> u8 {
    let selected = match settings.select_databases(&args.databases) {
        Ok(d) => d,
        Err(e) => return report_config(&e),
    };
    let sink = match open_lake(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let (commits, ranges) =
        match tokio::try_join!(sink.commits(tables::PAGES), sink.history_ranges()) {
            Ok(v) => v,
            Err(e) => return report_sink(&e),
        };
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
    };
    let name_of = |id: &str| {
        settings
            .databases
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
    };
    // A table version holds every database, so `-d` narrows only the history ranges.
    let databases: Vec<Value> = ranges
        .iter()
        .filter(|r| args.databases.is_empty() || selected.iter().any(|d| d.id == r.database_id))
        .map(|r| {
            json!({
                "database_name": name_of(&r.database_id),
                "database_id": r.database_id,
                "history_rows": r.rows,
                "observed_from": ts(r.observed_from),
                "observed_to": ts(r.observed_to),
            })
        })
        .collect();
    let versions: Vec<Value> = commits
        .iter()
        .map(|c| {
            json!({
                "version": c.version,
                "committed_at": ts(c.committed_at),
                "operation": c.operation,
                "run_ids": c.run_ids,
            })
        })
        .collect();
    if args.json {
        let report = json!({"table": tables::PAGES, "versions": versions, "databases": databases});
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return exit::OK;
    }
    let cell = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let rows = |values: &[Value], keys: &[&str]| -> Vec<Vec<String>> {
        values
            .iter()
            .map(|v| keys.iter().map(|k| cell(&v[*k])).collect())
            .collect()
    };
    println!("{} versions (restore with --as-of VERSION):", tables::PAGES);
    let keys = ["version", "committed_at", "operation", "run_ids"];
    print!(
        "{}",
        table::render(
            &["version", "committed", "operation", "runs"],
            &rows(&versions, &keys)
        )
    );
    println!(
        "\n{} per database (restore with --as-of TIMESTAMP):",
        tables::VERSIONS
    );
    let keys = [
        "database_name",
        "history_rows",
        "observed_from",
        "observed_to",
    ];
    print!(
        "{}",
        table::render(
            &["database", "rows", "from", "to"],
            &rows(&databases, &keys)
        )
    );
    exit::OK
}
