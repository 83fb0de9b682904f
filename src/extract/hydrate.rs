//! Completing truncated properties.
//!
//! Page objects carry at most 25 references per property: a relation is cut with `has_more: true`, a people
//! list or a title/rich_text's inline mentions stop at 25. The property-item endpoint returns the full value,
//! paginated. Only properties that may be truncated are fetched, so a page with short lists costs nothing.
//!
//! Both steps work on the page's text, as Notion sent it. Which properties are cut is read from a borrowed
//! parse of each property (its type, `has_more` and list lengths), whatever the spacing or key order. A
//! completed page is the received text with only each cut list (and `has_more`) replaced by the items the
//! property-item endpoint returned, in their own text: no other byte changes, so numbers keep every digit.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::convert::payload_sha256;
use crate::bronze::PageRecord;
use crate::notion::model::title_of;
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
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
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

/// A page object whose truncated properties were completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hydrated {
    /// The page's text, completed.
    pub payload: String,
    /// Ids of the properties completed.
    pub completed: Vec<String>,
}

/// Completes every truncated property of `page` (a page object's text); `None` when nothing in it was
/// truncated. Each request is counted in `stats.hydration_requests`.
pub async fn hydrate_page(
    client: &Client,
    page_id: &str,
    page: &str,
    stats: &RequestStats,
) -> Result<Option<Hydrated>, NotionError> {
    let targets = truncated_in_page(page);
    if targets.is_empty() {
        return Ok(None);
    }
    let mut fetched = Vec::with_capacity(targets.len());
    for prop in targets {
        let items = fetch_items(client, page_id, &prop.id, stats).await?;
        fetched.push((prop, items));
    }
    Ok(Some(Hydrated {
        payload: completed_page(page, &fetched),
        completed: fetched.into_iter().map(|(prop, _)| prop.id).collect(),
    }))
}

/// `page` (a page object's text) with each truncated property given all its items: the property-item
/// results of each, as returned for it. Only a property's list and its `has_more` (now `false`) change;
/// every other byte of the page is kept as received, so numbers keep every digit and keys their order.
pub fn completed_page(page: &str, fetched: &[(Truncated, Vec<Box<RawValue>>)]) -> String {
    let mut edits: Vec<(Range<usize>, Cow<'_, str>)> = Vec::with_capacity(2 * fetched.len());
    for (prop, items) in fetched {
        edits.push((prop.list.clone(), Cow::Owned(item_list(&prop.kind, items))));
        if let Some(has_more) = &prop.has_more {
            edits.push((has_more.clone(), Cow::Borrowed("false")));
        }
    }
    splice(page, edits)
}

/// The JSON array of the `kind` values of property items, each as Notion wrote it.
fn item_list(kind: &str, items: &[Box<RawValue>]) -> String {
    let values: Vec<&str> = items
        .iter()
        .filter_map(|item| Members::parse(item.get())?.get(kind))
        .map(RawValue::get)
        .collect();
    format!("[{}]", values.join(","))
}

/// `text`, a JSON object, without its top-level member `key` (every other byte kept); `None` when it has
/// no such member or is not an object.
pub fn without_member(text: &str, key: &str) -> Option<String> {
    let members = Members::parse(text)?;
    let value = span(text, members.get(key)?)?;
    // Back over `"key"` and the colon, then over the comma before it (or, for a first member, the comma
    // after the value).
    let head = text[..value.start].trim_end().strip_suffix(':')?.trim_end();
    let key_start = head.rfind('"').and_then(|close| head[..close].rfind('"'))?;
    let before = text[..key_start].trim_end();
    let range = match before.strip_suffix(',') {
        Some(kept) => kept.len()..value.end,
        None => {
            let after = &text[value.end..];
            let comma = after.find(|c: char| !c.is_whitespace())?;
            let end = if after[comma..].starts_with(',') {
                value.end + comma + 1
            } else {
                value.end
            };
            key_start..end
        }
    };
    Some(splice(text, vec![(range, Cow::Borrowed(""))]))
}

/// `text` with each range replaced by its text; ranges overlapping an earlier one are dropped.
fn splice(text: &str, mut edits: Vec<(Range<usize>, Cow<'_, str>)>) -> String {
    edits.sort_by_key(|(range, _)| range.start);
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|(_, t)| t.len()).sum::<usize>());
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at || range.end > text.len() {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Completes a row's truncated properties in place (payload, properties, title and hash follow); returns
/// the ids of the properties completed (empty when nothing was truncated: the row is untouched).
pub async fn complete_row(
    client: &Client,
    row: &mut PageRecord,
    stats: &RequestStats,
) -> Result<Vec<String>, NotionError> {
    let Some(hydrated) = hydrate_page(client, &row.page_id, &row.payload, stats).await? else {
        return Ok(Vec::new());
    };
    set_payload(row, hydrated.payload);
    row.hydrated_properties = hydrated.completed.clone();
    Ok(hydrated.completed)
}

/// Gives a row a new payload, with the columns taken from it: `properties` (the payload's own text of it),
/// the title and the hash.
fn set_payload(row: &mut PageRecord, payload: String) {
    if let Some(properties) = properties_of(&payload) {
        row.title = title_of(properties);
        row.properties = properties.get().to_string();
    }
    row.payload_sha256 = payload_sha256(&payload);
    row.payload = payload;
}

/// Every item of a property, as the property-item endpoint returned them.
async fn fetch_items(
    client: &Client,
    page_id: &str,
    prop_id: &str,
    stats: &RequestStats,
) -> Result<Vec<Box<RawValue>>, NotionError> {
    // Property ids arrive URL-encoded already; they go into the path as they are.
    let path = format!("/v1/pages/{page_id}/properties/{prop_id}");
    client
        .get_all(&path, Some(page_id), stats, &stats.hydration_requests)
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

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

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn completing_a_property_keeps_every_other_byte_of_the_page() {
        // Doubles a lax float parser rounds, integers beyond 64 bits, a negative zero, odd key orders and
        // the spacing a pretty-printing server may send.
        let page = concat!(
            "{\"object\":\"page\",  \"id\":\"p\",\n \"properties\" : {\n",
            "  \"Score\":{\"formula\":{\"number\":15.545454545454545,\"type\":\"number\"},\"type\":\"formula\",\"id\":\"f\"},\n",
            "  \"Rel\" : { \"has_more\" : true , \"relation\" : [ {\"id\":\"a\"} ] , \"type\":\"relation\", \"id\":\"r%3A\" },\r\n",
            "  \"N\":{\"id\":\"n\",\"type\":\"number\",\"number\":0.30000000000000004},\"Tiny\":{\"id\":\"t\",\"type\":\"number\",\"number\":1e-7},\n",
            "  \"Big\":{\"id\":\"b\",\"type\":\"number\",\"number\":123456789012345678901234567890},\"Neg\":{\"id\":\"z\",\"type\":\"number\",\"number\":-0.0}\n",
            " },\"url\":\"https://www.notion.so/x\",\"last_edited_time\":\"2026-01-02T11:03:00.000Z\"}"
        );
        let items = [
            raw(
                r#"{"object":"property_item","id":"r%3A","type":"relation","relation":{"id":"a"}}"#,
            ),
            raw(
                r#"{"relation" : { "id" : "b", "w": 2.2250738585072011e-308 },"type":"relation","object":"property_item"}"#,
            ),
        ];
        let targets = truncated_in_page(page);
        assert_eq!(targets.len(), 1, "{targets:?}");
        let fetched = vec![(targets[0].clone(), items.to_vec())];
        let list = r#"[{"id":"a"},{ "id" : "b", "w": 2.2250738585072011e-308 }]"#;
        let want = page
            .replacen("\"has_more\" : true", "\"has_more\" : false", 1)
            .replacen("[ {\"id\":\"a\"} ]", list, 1);
        assert_eq!(completed_page(page, &fetched), want);
    }

    #[test]
    fn every_truncated_list_of_a_page_is_completed_in_place() {
        let user = |i: usize| format!(r#"{{"object":"user","id":"u{i}"}}"#);
        let people = format!("[{}]", (0..25).map(user).collect::<Vec<_>>().join(", "));
        let page = format!(
            r#"{{"properties":{{"Who":{{"people":{people},"id":"p","type":"people"}},"Name":{{"id":"title","type":"title","title":[{{"plain_text":"Caf\u00e9"}}]}},"Rel":{{"id":"r","type":"relation","relation":[],"has_more":true}},"X":{{"type":"number","number":1.10}}}},"id":"195de9221179449fab8075a27c979105","last_edited_time":"2026-01-02T11:03:00.000Z","object":"page"}}"#
        );
        let fetched: Vec<_> = truncated_in_page(&page)
            .into_iter()
            .map(|prop| {
                let items = match prop.kind.as_str() {
                    "people" => (0..27)
                        .map(|i| raw(&format!(r#"{{"type":"people","people":{}}}"#, user(i))))
                        .collect(),
                    _ => vec![raw(r#"{"type":"relation","relation":{"id":"a"}}"#)],
                };
                (prop, items)
            })
            .collect();
        assert_eq!(fetched.len(), 2);
        let all = format!("[{}]", (0..27).map(user).collect::<Vec<_>>().join(","));
        let want = page.replacen(&people, &all, 1).replacen(
            r#""relation":[],"has_more":true"#,
            r#""relation":[{"id":"a"}],"has_more":false"#,
            1,
        );
        let out = completed_page(&page, &fetched);
        assert_eq!(out, want);

        let ctx = super::super::convert::RowContext {
            database_id: "d".into(),
            data_source_id: "s".into(),
            database_name: "n".into(),
            api_version: crate::notion::ApiVersion::default(),
            run_id: "r".into(),
            synced_at: chrono::Utc::now(),
        };
        let mut row = super::super::convert::page_record(&raw(&page), &ctx)
            .unwrap()
            .unwrap();
        set_payload(&mut row, out.clone());
        let start = want.find(r#"{"Who""#).unwrap();
        let end = want.find(r#","id":"195de"#).unwrap();
        assert_eq!(row.properties, want[start..end]);
        assert_eq!(row.title, "Café");
        assert_eq!(row.payload, out);
        assert_eq!(row.payload_sha256, payload_sha256(&out));
    }
}
