//! `POST /v1/search`: pages and data sources (databases under 2022-06-28) by title.

use serde_json::{Value, json};

use super::{body_page_size, offset_cursor};
use crate::Version;
use crate::errors::{ApiResult, validation};
use crate::render;
use crate::state::Shared;

enum Hit<'a> {
    Source(&'a crate::model::DataSource),
    Database(&'a crate::model::Database),
    Page(&'a crate::model::Page),
}

/// Searches titles.
pub fn search(shared: &Shared, version: Version, body: &Value) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    let size = body_page_size(body)?;
    let text = body["query"].as_str().unwrap_or("").to_lowercase();
    let filter = &body["filter"];
    let object = filter["value"].as_str();
    let in_trash = filter["in_trash"].as_bool().unwrap_or(false);
    let db_word = if version.has_data_sources() {
        "data_source"
    } else {
        "database"
    };
    if let Some(o) = object
        && o != "page"
        && o != db_word
    {
        return Err(validation(format!(
            "body failed validation: body.filter.value should be `page` or `{db_word}`, instead was `\"{o}\"`."
        )));
    }
    let descending = match body["sort"]["direction"].as_str() {
        None | Some("descending") => true,
        Some("ascending") => false,
        Some(d) => {
            return Err(validation(format!(
                "body failed validation: body.sort.direction should be `ascending` or `descending`, instead was `\"{d}\"`."
            )));
        }
    };
    let fingerprint = format!(
        "s{}",
        crate::query::fingerprint(&[&json!(text), filter, &body["sort"]])
    );
    let offset = offset_cursor(body["start_cursor"].as_str(), &fingerprint)?;
    let ws = shared.read();
    let mut hits: Vec<(i64, &str, Hit)> = Vec::new();
    if object.is_none_or(|o| o != "page") && !in_trash {
        for db in ws.databases.values() {
            let db_match = db.title.to_lowercase().contains(&text);
            if version.has_data_sources() {
                for s in db.sources.iter().filter_map(|s| ws.sources.get(s)) {
                    if db_match || s.name.to_lowercase().contains(&text) {
                        hits.push((s.edited.timestamp(), &s.id, Hit::Source(s)));
                    }
                }
            } else if db.sources.len() == 1 && db_match {
                hits.push((db.created.timestamp(), &db.id, Hit::Database(db)));
            }
        }
    }
    if object.is_none_or(|o| o == "page") {
        for p in ws.pages.values().filter(|p| p.in_trash == in_trash) {
            let matched = text.is_empty()
                || ws
                    .source_of(p)
                    .is_some_and(|s| p.title(s).to_lowercase().contains(&text));
            if matched {
                hits.push((p.edited.timestamp(), &p.id, Hit::Page(p)));
            }
        }
    }
    hits.sort_by(|a, b| {
        let o = a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1));
        if descending { o.reverse() } else { o }
    });
    let end = (offset + size).min(hits.len());
    let more = end < hits.len();
    let results: Vec<Value> = hits
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|(_, _, h)| match h {
            Hit::Source(s) => render::data_source(&ws, s, version),
            Hit::Database(d) => render::database(&ws, d, version),
            Hit::Page(p) => render::page(&ws, p, version, false),
        })
        .collect();
    let list_type = if version.has_data_sources() {
        "page_or_data_source"
    } else {
        "page_or_database"
    };
    let next = more.then(|| crate::query::encode_offset(end, &fingerprint));
    Ok(json!({
        "object": "list", "results": results, "next_cursor": next,
        "has_more": more, "type": list_type, list_type: {}, "request_status": {"type": "complete"}
    })
    .into())
}
