//! `notion-sync list-databases`: configured databases and those the token can see.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{open_client, table};
use crate::config::Settings;
use crate::exit;
use crate::notion::ids::normalize_id;
use crate::notion::model::{ListPage, plain_text};
use crate::notion::{Client, RequestStats};

/// Most search pages read (100 results each).
const MAX_SEARCH_PAGES: usize = 100;

/// Lists databases: configured ones (and whether the token sees them) and every other visible one.
pub async fn run(settings: &Settings) -> u8 {
    let client = match open_client(settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let visible = match search_databases(&client).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::for_class(e.class);
        }
    };
    let mut rows = Vec::new();
    for db in &settings.databases {
        let state = if visible.contains_key(&db.id) {
            "configured"
        } else {
            "configured, NOT visible to the token"
        };
        let title = visible.get(&db.id).cloned().unwrap_or_default();
        rows.push(vec![db.name.clone(), db.id.clone(), title, state.into()]);
    }
    for (id, title) in &visible {
        if !settings.databases.iter().any(|d| &d.id == id) {
            rows.push(vec![
                "-".into(),
                id.clone(),
                title.clone(),
                "visible, not configured".into(),
            ]);
        }
    }
    print!(
        "{}",
        table::render(&["name", "database_id", "title", "state"], &rows)
    );
    exit::OK
}

/// Database id → title of every database the token can find through search.
async fn search_databases(
    client: &Client,
) -> Result<BTreeMap<String, String>, crate::notion::NotionError> {
    let stats = RequestStats::default();
    let value = if client.api_version().has_data_sources() {
        "data_source"
    } else {
        "database"
    };
    let mut found = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_SEARCH_PAGES {
        let mut body = json!({"filter": {"property": "object", "value": value}, "page_size": 100});
        if let Some(c) = &cursor {
            body["start_cursor"] = json!(c);
        }
        let (page, _): (ListPage, _) = client
            .post_read("/v1/search", &[], &body, None, &stats)
            .await?;
        for raw in &page.results {
            let Ok(v) = serde_json::from_str::<Value>(raw.get()) else {
                continue;
            };
            let id = if value == "data_source" {
                v.pointer("/parent/database_id").and_then(Value::as_str)
            } else {
                v.get("id").and_then(Value::as_str)
            };
            if let Some(id) = id.and_then(normalize_id) {
                found
                    .entry(id)
                    .or_insert_with(|| plain_text(v.get("title").unwrap_or(&Value::Null)));
            }
        }
        match (page.has_more, page.next_cursor) {
            (true, Some(next)) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(found)
}
