//! `notion-sync init-tables` and `notion-sync optimize`: table setup and upkeep.

use super::{open_lake, open_sink, report_sink};
use crate::cli::OptimizeArgs;
use crate::config::Settings;
use crate::exit;
#[cfg(feature = "warehouse")]
use crate::sink::warehouse::ddl;
use crate::sink::{BronzeSink, Sink, tables};

/// Creates the missing bronze tables and says which exist.
pub async fn run(settings: &Settings) -> u8 {
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    match sink.init_tables().await {
        Ok(created) => {
            let (place, names): (String, Vec<&str>) = match &sink {
                Sink::Delta(_) => (
                    format!(
                        "{}/{}/",
                        settings.lakehouse_uri.trim_end_matches('/'),
                        settings.bronze_schema
                    ),
                    tables::ALL.to_vec(),
                ),
                #[cfg(feature = "warehouse")]
                Sink::Warehouse(w) => (
                    format!("{}.", w.sql().namespace),
                    ddl::tables().iter().map(|t| t.name).collect(),
                ),
            };
            for name in names {
                let state = if created.iter().any(|c| c == name) {
                    "created"
                } else {
                    "exists"
                };
                println!("{place}{name}: {state}");
            }
            exit::OK
        }
        Err(e) => report_sink(&e),
    }
}

/// Compacts, checkpoints and vacuums every table.
pub async fn optimize(settings: &Settings, args: &OptimizeArgs) -> u8 {
    let sink = match open_lake(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let retention = (!args.no_vacuum).then(|| chrono::Duration::hours(args.retention_hours as i64));
    match sink.optimize(retention).await {
        Ok(reports) => {
            for r in reports {
                println!(
                    "{}: {} files compacted into {}, {} files vacuumed, version {}",
                    r.table,
                    r.files_removed,
                    r.files_added,
                    r.files_vacuumed,
                    r.version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            exit::OK
        }
        Err(e) => report_sink(&e),
    }
}
