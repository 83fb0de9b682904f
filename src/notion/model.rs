//! Payload decoding in two steps: a few typed envelope fields, everything else kept verbatim.
//!
//! List responses keep each result as the exact JSON text Notion sent ([`RawValue`]), so bronze stores the
//! payload byte for byte and a property or block type this code has never seen is never dropped.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One page of a paginated list (`query`, `search`, property items, users).
#[derive(Debug, Deserialize)]
pub struct ListPage {
    /// Results, verbatim.
    pub results: Vec<Box<RawValue>>,
    /// Cursor of the next page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: bool,
    /// Present on queries and searches; `incomplete` when the result cap was reached.
    #[serde(default)]
    pub request_status: Option<RequestStatus>,
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl ListPage {
    /// Whether Notion stopped this query at its result cap (more rows exist than it will page through).
    pub fn is_capped(&self) -> bool {
        self.request_status
            .as_ref()
            .is_some_and(|s| s.kind == "incomplete")
    }
}

/// `request_status` of a list response.
#[derive(Debug, Deserialize)]
pub struct RequestStatus {
    /// `complete` or `incomplete`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Why it is incomplete (`query_result_limit_reached`).
    #[serde(default)]
    pub incomplete_reason: Option<String>,
}

/// A partial user reference (`{"object":"user","id":…}`).
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    /// User id.
    pub id: String,
}

/// The envelope fields of a page object; properties stay raw.
#[derive(Debug, Deserialize)]
pub struct PageEnvelope {
    /// `page` (query results on wikis may also hold `data_source` objects; some lists hold objects
    /// without this field).
    #[serde(default)]
    pub object: String,
    /// Page id.
    pub id: String,
    /// Creation time (minute precision).
    #[serde(default)]
    pub created_time: Option<DateTime<Utc>>,
    /// Last edit time (minute precision).
    #[serde(default)]
    pub last_edited_time: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default)]
    pub created_by: Option<UserRef>,
    /// Last editor.
    #[serde(default)]
    pub last_edited_by: Option<UserRef>,
    /// In trash.
    #[serde(default)]
    pub in_trash: bool,
    /// Pre-2026-03-11 alias of `in_trash`.
    #[serde(default)]
    pub archived: bool,
    /// Archived (distinct from trash).
    #[serde(default)]
    pub is_archived: bool,
    /// Page URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Public URL.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Parent reference, verbatim.
    #[serde(default)]
    pub parent: Option<Box<RawValue>>,
    /// The `properties` object, verbatim.
    #[serde(default)]
    pub properties: Option<Box<RawValue>>,
}

/// Where a page lives: its database and data source ids, as given by `parent` (`database_id` parents of
/// 2022-06-28 have no data source; the database id stands in for it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Parent {
    /// `database_id`, `data_source_id`, `page_id`, `workspace`, `block_id`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Database id, when the parent is a database or data source.
    #[serde(default)]
    pub database_id: Option<String>,
    /// Data source id, when the parent is a data source.
    #[serde(default)]
    pub data_source_id: Option<String>,
}

impl PageEnvelope {
    /// The decoded parent (empty when absent or unreadable).
    pub fn parent(&self) -> Parent {
        self.parent
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default()
    }
}

/// Just enough of a property value to render the title; every other field is skipped, not lost (the raw
/// text is kept elsewhere).
#[derive(Debug, Deserialize)]
struct PropertyHead {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    title: Option<Vec<PlainText>>,
}

#[derive(Debug, Deserialize)]
struct PlainText {
    #[serde(default)]
    plain_text: Option<String>,
}

/// Plain text of the page's `title` property ("" when there is none).
pub fn title_of(properties: &RawValue) -> String {
    let Ok(map) =
        serde_json::from_str::<std::collections::HashMap<String, PropertyHead>>(properties.get())
    else {
        return String::new();
    };
    map.into_values()
        .find(|p| p.kind.as_deref() == Some("title"))
        .and_then(|p| p.title)
        .map(|items| items.into_iter().filter_map(|t| t.plain_text).collect())
        .unwrap_or_default()
}

/// Plain text of a rich-text array given as JSON (e.g. a data source `title`).
pub fn plain_text(items: &serde_json::Value) -> String {
    items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("plain_text").and_then(|p| p.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_found_and_unknown_types_do_not_matter() {
        let raw = RawValue::from_string(
            r#"{"Name":{"id":"title","type":"title","title":[{"plain_text":"Hello "},{"plain_text":"world"}]},
                "Weird":{"id":"x","type":"hologram","hologram":{"beam":[1,2,3]}}}"#
                .to_string(),
        )
        .unwrap();
        assert_eq!(title_of(&raw), "Hello world");
    }

    #[test]
    fn list_page_keeps_results_verbatim() {
        let body = r#"{"object":"list","results":[{"object":"page","id":"a",  "x" : 1}],"next_cursor":null,"has_more":false,
                       "request_status":{"type":"incomplete","incomplete_reason":"query_result_limit_reached"}}"#;
        let page: ListPage = serde_json::from_str(body).unwrap();
        assert_eq!(
            page.results[0].get(),
            r#"{"object":"page","id":"a",  "x" : 1}"#
        );
        assert!(page.is_capped());
    }
}

/// Notion's error body.
#[derive(Debug, Deserialize, Default)]
pub struct ErrorBody {
    /// Error code (`object_not_found`, `rate_limited`, ...).
    #[serde(default)]
    pub code: String,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Request id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Extra details (e.g. `retry_guidance`).
    #[serde(default)]
    pub additional_data: Option<serde_json::Value>,
}

/// The fields every Notion object has, for bodies this connector keeps raw (blocks, users, comments, ...).
#[derive(Debug, Deserialize)]
pub struct ObjectHead {
    /// Object type (empty when the body has none).
    #[serde(default)]
    pub object: String,
    /// Id, when the object has one.
    #[serde(default)]
    pub id: Option<String>,
}
