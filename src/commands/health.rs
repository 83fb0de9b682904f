//! `notion-sync health`: one real call per dependency.

use serde_json::Value;

use super::{open_client, open_sink};
use crate::config::Settings;
use crate::exit;
use crate::notion::{ErrorClass, RequestStats};
use crate::sink::BronzeSink;

/// Checks the token, every configured database and the lake; prints one line per check.
pub async fn run(settings: &Settings) -> u8 {
    let client = match open_client(settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let stats = RequestStats::default();
    let mut failures = Vec::new();
    let mut checks = 0usize;
    let mut report = |name: String, result: Result<String, (ErrorClass, String)>| {
        checks += 1;
        match result {
            Ok(detail) => println!("ok    {name}: {detail}"),
            Err((class, message)) => {
                println!("FAIL  {name}: {message}");
                failures.push(class);
            }
        }
    };
    let me = client.get::<Value>("/v1/users/me", &[], None, &stats).await;
    let token_ok = me.is_ok();
    report(
        "token".into(),
        me.map(|v| {
            format!(
                "authenticated as {}",
                v.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("the integration")
            )
        })
        .map_err(|e| (e.class, e.to_string())),
    );
    if token_ok {
        for db in &settings.databases {
            let r = client
                .get::<Value>(
                    &format!("/v1/databases/{}", db.id),
                    &[],
                    Some(&db.id),
                    &stats,
                )
                .await;
            report(
                format!("database '{}'", db.name),
                r.map(|v| {
                    let title = crate::notion::model::plain_text(v.get("title").unwrap_or(&Value::Null));
                    format!("reachable ({title})")
                })
                .map_err(|e| {
                    let hint = if e.status == Some(404) {
                        format!(
                            ". Share the database with the integration (... > Connections) or fix NOTION_{}_DB_ID",
                            db.name.to_ascii_uppercase()
                        )
                    } else {
                        String::new()
                    };
                    (e.class, format!("{e}{hint}"))
                }),
            );
        }
    }
    let (name, lake) = match open_sink(settings) {
        Ok(sink) => (
            sink.describe(),
            sink.with_write_probe().check_writable().await,
        ),
        Err(e) => (format!("lakehouse {}", settings.lakehouse_uri), Err(e)),
    };
    report(
        name,
        lake.map(|_| "writable".to_string())
            .map_err(|e| (e.class(), e.to_string())),
    );
    exit::for_outcomes(checks, &failures)
}
