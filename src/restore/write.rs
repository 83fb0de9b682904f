//! From a read payload to a write payload: what of a property value (or a block) Notion lets a request
//! carry, in a canonical form two values are compared in.
//!
//! Rich text is canonical when adjacent text runs with the same annotations and link are merged; it is
//! written split into runs of at most 2,000 characters, so no text or annotation is lost. Relation and
//! mention ids go through a remap (old page id → the id of the page recreated for it).

use serde_json::{Map, Value, json};

/// Longest `text.content` of one rich-text item in a request.
pub const MAX_TEXT: usize = 2000;
/// Most items of one array (rich text, multi-select, people, relation, children) in a request.
pub const MAX_ITEMS: usize = 100;

/// Property types Notion computes: never written.
pub const READ_ONLY: &[&str] = &[
    "formula",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
    "button",
];

/// What of one property a write can carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Writable {
    /// The canonical value (the member under the type's key, e.g. `{"name": "Done"}` for a select).
    Value(Value),
    /// Notion computes it.
    ReadOnly,
    /// It cannot be written, with the reason.
    Unsupported(String),
}

/// Maps a page id of the snapshot to the page that stands for it now.
pub type Remap<'a> = &'a dyn Fn(&str) -> String;

/// The canonical writable value of a property object (`{"id", "type", <type>: ...}`).
pub fn property(prop: &Value, remap: Remap<'_>) -> Writable {
    let kind = prop["type"].as_str().unwrap_or_default();
    let v = &prop[kind];
    if READ_ONLY.contains(&kind) {
        return Writable::ReadOnly;
    }
    Writable::Value(match kind {
        "title" | "rich_text" => rich_text(v, remap),
        "number" | "url" | "email" | "phone_number" => v.clone(),
        "checkbox" => json!(v.as_bool().unwrap_or(false)),
        "select" | "status" => match v {
            Value::Null => Value::Null,
            o => json!({"name": o["name"]}),
        },
        "multi_select" => Value::Array(items(v).map(|o| json!({"name": o["name"]})).collect()),
        "date" => date(v),
        "people" => Value::Array(items(v).map(|u| json!({"id": u["id"]})).collect()),
        "relation" => {
            let mut ids: Vec<String> = items(v)
                .filter_map(|r| r["id"].as_str())
                .map(remap)
                .collect();
            ids.sort();
            ids.dedup();
            Value::Array(ids.into_iter().map(|id| json!({"id": id})).collect())
        }
        "files" => Value::Array(items(v).map(file).collect()),
        "place" => match v {
            Value::Null => Value::Null,
            o => {
                let mut out = Map::new();
                for k in [
                    "lat",
                    "lon",
                    "name",
                    "address",
                    "aws_place_id",
                    "google_place_id",
                ] {
                    if let Some(x) = o.get(k).filter(|x| !x.is_null()) {
                        out.insert(k.into(), x.clone());
                    }
                }
                Value::Object(out)
            }
        },
        "verification" => match v["state"].as_str() {
            Some("verified") => json!({"state": "verified", "date": date(&v["date"])}),
            _ => json!({"state": "unverified"}),
        },
        other => {
            return Writable::Unsupported(format!(
                "a property of type `{other}` cannot be written through the API"
            ));
        }
    })
}

/// The request member for a canonical value: `{<type>: value}`, rich text split into runs Notion accepts.
pub fn request(kind: &str, canonical: &Value) -> Value {
    let value = match kind {
        "title" | "rich_text" => split_rich_text(canonical),
        _ => canonical.clone(),
    };
    json!({ kind: value })
}

/// How many items a canonical value holds beyond what one request carries (`None` when it fits).
pub fn over_limit(kind: &str, canonical: &Value) -> Option<usize> {
    let n = match kind {
        "multi_select" | "people" | "relation" | "files" => canonical.as_array()?.len(),
        "title" | "rich_text" => split_rich_text(canonical).as_array()?.len(),
        _ => return None,
    };
    (n > MAX_ITEMS).then_some(n)
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn date(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        d => {
            let mut out = json!({"start": instant(&d["start"])});
            if let Some(x) = d.get("end").filter(|x| !x.is_null()) {
                out["end"] = instant(x);
            }
            if let Some(x) = d.get("time_zone").filter(|x| !x.is_null()) {
                out["time_zone"] = x.clone();
            }
            out
        }
    }
}

/// A date or date-time as Notion may spell it, one way: a UTC offset is written `Z`
/// (`…T00:00:00.000+00:00` and `…T00:00:00.000Z` are the same instant and the same offset).
fn instant(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.ends_with("+00:00") => json!(format!("{}Z", &s[..s.len() - 6])),
        _ => v.clone(),
    }
}

/// A file entry: external files as they are; a Notion-hosted one by name and its URL without the
/// expiring signature (re-sending a hosted file on an update keeps it).
fn file(f: &Value) -> Value {
    let name = f["name"].clone();
    match f["type"].as_str() {
        Some("external") => {
            json!({"name": name, "type": "external", "external": {"url": f["external"]["url"]}})
        }
        Some("file") => {
            let url = f["file"]["url"].as_str().unwrap_or_default();
            let stable = url.split('?').next().unwrap_or_default();
            json!({"name": name, "type": "file", "file": {"url": stable}})
        }
        Some("file_upload") => {
            json!({"name": name, "type": "file_upload", "file_upload": {"id": f["file_upload"]["id"]}})
        }
        _ => f.clone(),
    }
}

/// Annotations with Notion's defaults filled in, so an omitted flag equals `false`.
fn annotations(v: &Value) -> Value {
    let mut a = json!({"bold": false, "italic": false, "strikethrough": false, "underline": false,
                       "code": false, "color": "default"});
    if let Some(given) = v.as_object() {
        for (k, x) in given {
            if a.get(k).is_some() && !x.is_null() {
                a[k] = x.clone();
            }
        }
    }
    a
}

/// Canonical rich text: writable items only, adjacent text runs with equal annotations and link merged.
pub fn rich_text(v: &Value, remap: Remap<'_>) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for item in items(v) {
        let ann = annotations(&item["annotations"]);
        let entry = match item["type"].as_str() {
            Some("text") => {
                let link = match item["text"]["link"]["url"].as_str() {
                    Some(url) => json!({"url": url}),
                    None => Value::Null,
                };
                json!({"type": "text", "text": {"content": item["text"]["content"].as_str().unwrap_or_default(), "link": link}, "annotations": ann})
            }
            Some("equation") => {
                json!({"type": "equation", "equation": {"expression": item["equation"]["expression"]}, "annotations": ann})
            }
            Some("mention") => mention(item, ann, remap),
            _ => text_run(
                item["plain_text"].as_str().unwrap_or_default(),
                Value::Null,
                ann,
            ),
        };
        match (out.last_mut(), &entry) {
            (Some(last), e) if mergeable(last, e) => {
                let joined = format!(
                    "{}{}",
                    last["text"]["content"].as_str().unwrap_or_default(),
                    e["text"]["content"].as_str().unwrap_or_default()
                );
                last["text"]["content"] = json!(joined);
            }
            _ => out.push(entry),
        }
    }
    Value::Array(out)
}

fn text_run(content: &str, link: Value, ann: Value) -> Value {
    json!({"type": "text", "text": {"content": content, "link": link}, "annotations": ann})
}

fn mergeable(a: &Value, b: &Value) -> bool {
    a["type"] == "text"
        && b["type"] == "text"
        && a["annotations"] == b["annotations"]
        && a["text"]["link"] == b["text"]["link"]
}

/// A mention as a request may write it; response-only kinds (link previews) become linked text.
fn mention(item: &Value, ann: Value, remap: Remap<'_>) -> Value {
    let m = &item["mention"];
    let kind = m["type"].as_str().unwrap_or_default();
    let inner = match kind {
        "user" => json!({"id": m["user"]["id"]}),
        "page" => json!({"id": m["page"]["id"].as_str().map(remap)}),
        "database" => json!({"id": m["database"]["id"]}),
        "date" => date(&m["date"]),
        "template_mention" | "custom_emoji" => m[kind].clone(),
        _ => {
            let url = m[kind]["url"]
                .as_str()
                .or(item["href"].as_str())
                .map(|u| json!({"url": u}))
                .unwrap_or(Value::Null);
            return text_run(item["plain_text"].as_str().unwrap_or_default(), url, ann);
        }
    };
    json!({"type": "mention", "mention": {"type": kind, kind: inner}, "annotations": ann})
}

/// Rich text as written: text runs longer than [`MAX_TEXT`] characters split at character boundaries.
pub fn split_rich_text(canonical: &Value) -> Value {
    let mut out = Vec::new();
    for item in items(canonical) {
        let content = item["text"]["content"].as_str();
        match content {
            Some(text) if item["type"] == "text" && text.chars().count() > MAX_TEXT => {
                let chars: Vec<char> = text.chars().collect();
                for chunk in chars.chunks(MAX_TEXT) {
                    let mut part = item.clone();
                    part["text"]["content"] = json!(chunk.iter().collect::<String>());
                    out.push(part);
                }
            }
            _ => out.push(item.clone()),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(id: &str) -> String {
        id.to_string()
    }

    #[test]
    fn long_text_is_split_and_merged_back() {
        let long = "é".repeat(4500);
        let prop = json!({"type": "rich_text", "rich_text": [
            {"type": "text", "text": {"content": long, "link": null}, "plain_text": long,
             "annotations": {"bold": true}}]});
        let Writable::Value(canonical) = property(&prop, &same) else {
            panic!("writable")
        };
        let written = split_rich_text(&canonical);
        let parts = written.as_array().unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p["annotations"]["bold"] == true));
        let read_back = json!({"type": "rich_text", "rich_text": written});
        assert_eq!(property(&read_back, &same), Writable::Value(canonical));
    }

    #[test]
    fn relations_are_remapped_sets_and_computed_values_read_only() {
        let prop = json!({"type": "relation", "relation": [{"id": "b"}, {"id": "a"}, {"id": "b"}]});
        let remap = |id: &str| {
            if id == "a" {
                "z".to_string()
            } else {
                id.to_string()
            }
        };
        assert_eq!(
            property(&prop, &remap),
            Writable::Value(json!([{"id": "b"}, {"id": "z"}]))
        );
        let formula = json!({"type": "formula", "formula": {"type": "number", "number": 3}});
        assert_eq!(property(&formula, &same), Writable::ReadOnly);
        let odd = json!({"type": "ai_summary", "ai_summary": {}});
        assert!(matches!(property(&odd, &same), Writable::Unsupported(_)));
    }

    #[test]
    fn link_previews_become_linked_text() {
        let prop = json!({"type": "title", "title": [{"type": "mention", "plain_text": "gh",
            "href": "https://github.com/x", "mention": {"type": "link_preview", "link_preview": {"url": "https://github.com/x"}}}]});
        let Writable::Value(v) = property(&prop, &same) else {
            panic!("writable")
        };
        assert_eq!(v[0]["type"], "text");
        assert_eq!(v[0]["text"]["link"]["url"], "https://github.com/x");
    }
}
