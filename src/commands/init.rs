//! `notion-sync init-tables`.

use super::{open_sink, report_sink};
use crate::config::Settings;
use crate::exit;
use crate::sink::{BronzeSink, tables};

/// Creates the missing bronze tables and says which exist.
pub async fn run(settings: &Settings) -> u8 {
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    match sink.init_tables().await {
        Ok(created) => {
            for name in tables::ALL {
                let state = if created.iter().any(|c| c == name) {
                    "created"
                } else {
                    "exists"
                };
                println!(
                    "{}/{}/{name}: {state}",
                    settings.lakehouse_uri.trim_end_matches('/'),
                    settings.bronze_schema
                );
            }
            exit::OK
        }
        Err(e) => report_sink(&e),
    }
}
