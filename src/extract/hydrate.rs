//! Completing truncated properties.
//!
//! Page objects carry at most 25 references per property: a relation is cut with `has_more: true`, a people
//! list or a title/rich_text's inline mentions stop at 25. The property-item endpoint returns the full value,
//! paginated. Only properties that may be truncated are fetched, so a page with short lists costs nothing.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::convert::json_sha256;
use crate::bronze::PageRecord;
use crate::notion::model::ListPage;
use crate::notion::{Client, NotionError, RequestStats};

/// Items Notion keeps in a page object before truncating.
pub const TRUNCATION_LIMIT: usize = 25;

/// A property of a page object that may hold only the first part of its value, and where that part is in
/// the text it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// Property name.
    pub name: String,
    /// Property id, URL-encoded as Notion gives it.
    pub id: String,
    /// Property type (`relation`, `people`, `title` or `rich_text`).
    pub kind: String,
    /// Byte range of the property's value list.
    pub list: Range<usize>,
    /// Byte range of the value of the property's `has_more`, when it has one.
    pub has_more: Option<Range<usize>>,
}

/// Whether anything in `properties` (a page's `properties` object, as text) may have been truncated.
pub fn may_be_truncated(properties: &str) -> bool {
    !truncated_properties(properties).is_empty()
}

/// Every property of `properties` (a page's `properties` object, as text) that may have been truncated,
/// with byte ranges into `properties`. Text that is not a JSON object has none.
pub fn truncated_properties(properties: &str) -> Vec<Truncated> {
    scan(properties, properties)
}

/// Every property of the page object `page` (as text) that may have been truncated, with byte ranges into
/// `page`.
pub fn truncated_in_page(page: &str) -> Vec<Truncated> {
    properties_of(page).map_or_else(Vec::new, |properties| scan(page, properties.get()))
}

/// The `properties` member of a page object, as its text.
pub fn properties_of(page: &str) -> Option<&RawValue> {
    Members::parse(page)?.get("properties")
}

/// The truncated properties of `properties`, a slice of `text`; ranges are into `text`.
fn scan(text: &str, properties: &str) -> Vec<Truncated> {
    let Some(members) = Members::parse(properties) else {
        return Vec::new();
    };
    members
        .unique()
        .filter_map(|(name, value)| truncated(text, name, value))
        .collect()
}

/// The property `name` (its value `value`, a slice of `text`) if it may be truncated. Decided from the
/// parsed property, so spacing and key order do not matter: a relation says `has_more`; a people list, or a
/// title or rich text's mentions, stop at [`TRUNCATION_LIMIT`].
fn truncated(text: &str, name: &str, value: &RawValue) -> Option<Truncated> {
    let fields = Members::parse(value.get())?;
    let kind = string(fields.get("type")?)?;
    let list = fields.get(&kind)?;
    let has_more = fields.get("has_more");
    let cut = match kind.as_ref() {
        "relation" => has_more.is_some_and(is_true),
        "people" => elements(list)?.len() >= TRUNCATION_LIMIT,
        "title" | "rich_text" => mentions(list) >= TRUNCATION_LIMIT,
        _ => false,
    };
    if !cut {
        return None;
    }
    Some(Truncated {
        name: name.to_string(),
        id: string(fields.get("id")?)?.into_owned(),
        kind: kind.into_owned(),
        list: span(text, list)?,
        has_more: has_more.and_then(|h| span(text, h)),
    })
}

/// The elements of a JSON array, as their text.
fn elements(list: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(list.get()).ok()
}

/// How many elements of a rich-text array are mentions (0 below [`TRUNCATION_LIMIT`] elements, uncounted).
fn mentions(list: &RawValue) -> usize {
    let items = elements(list).unwrap_or_default();
    if items.len() < TRUNCATION_LIMIT {
        return 0;
    }
    items
        .into_iter()
        .filter(|item| {
            Members::parse(item.get())
                .and_then(|m| m.get("type"))
                .and_then(string)
                .is_some_and(|t| t == "mention")
        })
        .count()
}

/// Whether a JSON value is `true`.
fn is_true(value: &RawValue) -> bool {
    serde_json::from_str::<bool>(value.get()).unwrap_or(false)
}

/// A JSON string's content, borrowed unless it has escapes.
fn string(value: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(value.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(value.get())
            .ok()
            .map(Cow::Owned),
    }
}

/// Byte range of `part`, a value borrowed from `text`, within `text`.
fn span(text: &str, part: &RawValue) -> Option<Range<usize>> {
    let start = (part.get().as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start + part.get().len();
    (end <= text.len()).then_some(start..end)
}

/// The members of a JSON object, borrowed from its text, in order (duplicates kept).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// Parses `text` if it is a JSON object.
    fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The value of `key`; of duplicates the last, as JSON readers take it.
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    /// Every member but those whose key appears again later.
    fn unique(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (key, _))| !self.0[i + 1..].iter().any(|(k, _)| k == key))
            .map(|(_, (key, value))| (key.as_ref(), *value))
    }
}

/// An object key, borrowed from the text unless it has escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Replaces every truncated property of `page` (a page object) with its full value; returns the ids of the
/// properties completed. Each request is counted in `stats.hydration_requests`.
pub async fn hydrate_page(
    client: &Client,
    page_id: &str,
    page: &mut Value,
    stats: &RequestStats,
) -> Result<Vec<String>, NotionError> {
    let targets = truncated_in_page(&page.to_string());
    let mut done = Vec::with_capacity(targets.len());
    for Truncated {
        name,
        id: prop_id,
        kind,
        ..
    } in targets
    {
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
        let mut got: Vec<_> = truncated_properties(&props.to_string())
            .into_iter()
            .map(|t| t.name)
            .collect();
        got.sort();
        assert_eq!(got, vec!["Name", "Rel", "Who"]);
        assert!(may_be_truncated(&props.to_string()));
        assert!(!may_be_truncated(
            r#"{"Few":{"type":"people","people":[]}}"#
        ));
    }

    #[test]
    fn has_more_is_read_from_the_parsed_property_whatever_the_spacing() {
        for text in [
            r#"{"Rel":{"id":"r","type":"relation","relation":[{"id":"a"}],"has_more" : true}}"#,
            r#"{"Rel":{"has_more":true,"relation":[{"id":"a"}],"type":"relation","id":"r"}}"#,
            "{\n  \"Rel\" : {\n    \"relation\" : [ { \"id\" : \"a\" } ],\n    \"has_more\"\t:\ttrue,\n    \"id\" : \"r\",\n    \"type\" : \"relation\"\n  }\n}",
        ] {
            assert!(may_be_truncated(text), "{text}");
        }
        for text in [
            r#"{"Rel":{"id":"r","type":"relation","relation":[],"has_more" : false}}"#,
            r#"{"Odd":{"id":"o","type":"hologram","hologram":{"has_more" : true}}}"#,
            r#"{"Rel":{"id":"r","type":"rich_text","rich_text":[{"plain_text":"\"has_more\":true"}]}}"#,
        ] {
            assert!(!may_be_truncated(text), "{text}");
        }
    }
}
