//! Completing truncated properties.
//!
//! Page objects carry at most 25 references per property: a relation is cut with `has_more: true`, a people
//! list or a title/rich_text's inline mentions stop at 25. The property-item endpoint returns the full value,
//! paginated. Only properties that may be truncated are fetched, so a page with short lists costs nothing.

use serde_json::{Value, json};

use super::convert::json_sha256;
use crate::bronze::PageRecord;
use crate::notion::model::ListPage;
use crate::notion::{Client, NotionError, RequestStats};

/// Items Notion keeps in a page object before truncating.
pub const TRUNCATION_LIMIT: usize = 25;

/// Cheap test on the raw properties text: can anything in it be truncated?
pub fn may_be_truncated(properties: &str) -> bool {
    properties.contains("\"has_more\":true")
        || properties.matches("\"object\":\"user\"").count() >= TRUNCATION_LIMIT
        || properties.matches("\"type\":\"mention\"").count() >= TRUNCATION_LIMIT
}

/// `(name, property id, type)` of every property of `properties` that may have been truncated.
pub fn truncated_properties(properties: &Value) -> Vec<(String, String, String)> {
    let Some(map) = properties.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, prop) in map {
        let kind = prop.get("type").and_then(Value::as_str).unwrap_or("");
        let items = prop.get(kind).and_then(Value::as_array);
        let truncated = match kind {
            "relation" => prop
                .get("has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            "people" => items.is_some_and(|a| a.len() >= TRUNCATION_LIMIT),
            "title" | "rich_text" => items.is_some_and(|a| {
                a.iter()
                    .filter(|t| t.get("type").and_then(Value::as_str) == Some("mention"))
                    .count()
                    >= TRUNCATION_LIMIT
            }),
            _ => false,
        };
        if let (true, Some(id)) = (truncated, prop.get("id").and_then(Value::as_str)) {
            out.push((name.clone(), id.to_string(), kind.to_string()));
        }
    }
    out
}

/// Replaces every truncated property of `page` (a page object) with its full value; returns the ids of the
/// properties completed. Each request is counted in `stats.hydration_requests`.
pub async fn hydrate_page(
    client: &Client,
    page_id: &str,
    page: &mut Value,
    stats: &RequestStats,
) -> Result<Vec<String>, NotionError> {
    let targets = truncated_properties(page.get("properties").unwrap_or(&Value::Null));
    let mut done = Vec::with_capacity(targets.len());
    for (name, prop_id, kind) in targets {
        let items = fetch_items(client, page_id, &prop_id, stats).await?;
        let full: Vec<Value> = items
            .into_iter()
            .filter_map(|mut item| item.get_mut(&kind).map(Value::take))
            .collect();
        if let Some(prop) = page.pointer_mut(&format!("/properties/{}", escape_pointer(&name))) {
            prop[&kind] = Value::Array(full);
            if kind == "relation" {
                prop["has_more"] = json!(false);
            }
            done.push(prop_id);
        }
    }
    Ok(done)
}

/// Completes a row's truncated properties in place (payload, properties, title and hash are recomputed);
/// returns the ids of the properties completed (empty when nothing was truncated: the row is untouched
/// and its payload stays byte-for-byte what Notion sent).
pub async fn complete_row(
    client: &Client,
    row: &mut PageRecord,
    stats: &RequestStats,
) -> Result<Vec<String>, NotionError> {
    if !may_be_truncated(&row.properties) {
        return Ok(Vec::new());
    }
    let Ok(mut page) = serde_json::from_str::<Value>(&row.payload) else {
        return Ok(Vec::new());
    };
    let done = hydrate_page(client, &row.page_id, &mut page, stats).await?;
    if !done.is_empty() {
        let properties = page.get("properties").cloned().unwrap_or(Value::Null);
        if let Some(title) = properties.as_object().and_then(|m| {
            m.values()
                .find(|p| p.get("type").and_then(Value::as_str) == Some("title"))
        }) {
            row.title = crate::notion::model::plain_text(&title["title"]);
        }
        row.properties = properties.to_string();
        row.payload = page.to_string();
        row.payload_sha256 = json_sha256(&row.payload);
        row.hydrated_properties = done.clone();
    }
    Ok(done)
}

async fn fetch_items(
    client: &Client,
    page_id: &str,
    prop_id: &str,
    stats: &RequestStats,
) -> Result<Vec<Value>, NotionError> {
    // Property ids arrive URL-encoded already; they go into the path as they are.
    let path = format!("/v1/pages/{page_id}/properties/{prop_id}");
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("page_size", "100".to_string())];
        if let Some(c) = &cursor {
            query.push(("start_cursor", c.clone()));
        }
        RequestStats::bump(&stats.hydration_requests);
        let page: ListPage = client.get(&path, &query, Some(page_id), stats).await?;
        for raw in page.results {
            items.push(serde_json::from_str(raw.get()).unwrap_or(Value::Null));
        }
        match (page.has_more, page.next_cursor) {
            (true, Some(next)) => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_truncated_properties_are_selected() {
        let people: Vec<Value> = (0..25)
            .map(|i| json!({"object":"user","id":format!("u{i}")}))
            .collect();
        let mentions: Vec<Value> = (0..25)
            .map(|_| json!({"type":"mention","mention":{}}))
            .collect();
        let props = json!({
            "Rel": {"id":"r%3A", "type":"relation", "relation":[{"id":"a"}], "has_more": true},
            "Short": {"id":"s", "type":"relation", "relation":[], "has_more": false},
            "Who": {"id":"p", "type":"people", "people": people},
            "Name": {"id":"title", "type":"title", "title": mentions},
            "Few": {"id":"f", "type":"people", "people": [{"object":"user","id":"x"}]},
            "Odd": {"id":"o", "type":"hologram", "hologram": {"has_more": true}}
        });
        let mut got: Vec<_> = truncated_properties(&props)
            .into_iter()
            .map(|t| t.0)
            .collect();
        got.sort();
        assert_eq!(got, vec!["Name", "Rel", "Who"]);
        assert!(may_be_truncated(&props.to_string()));
        assert!(!may_be_truncated(
            r#"{"Few":{"type":"people","people":[]}}"#
        ));
    }
}
