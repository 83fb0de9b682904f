//! Which typed columns a property becomes, and how each cell is read from the page's property value.
//!
//! A column selects its property by id and type, never by name: `properties` is keyed by the name the
//! property had when the page was last synced, so a rename in Notion must not break a view, and a page
//! synced before a retype keeps a value of the old type, which reads as NULL in the new column instead of
//! failing a cast.

use std::collections::HashMap;

use serde_json::Value;

/// How one cell is read from the JSON value at a column's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A rich-text array: the concatenation of its items' `plain_text` (`''` when empty).
    Text,
    /// A JSON number, as a double.
    Number,
    /// A JSON boolean.
    Bool,
    /// A JSON string.
    Str,
    /// An ISO 8601 string as a UTC timestamp: with an offset as given, without one as UTC, a date alone
    /// at midnight UTC.
    Ts,
    /// An array of objects: each one's `name` (multi-select options, files).
    Names,
    /// An array of objects: each one's `id` (people, relations).
    Ids,
    /// A unique id `{prefix, number}` in its display form: `PREFIX-12`, or `12` without a prefix.
    UniqueId,
    /// The value as JSON text (kept raw: unknown types, places, rollup arrays).
    Json,
}

/// Where a property column's value is: the property with one of these ids and this type, then a path
/// inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extract {
    /// The property's ids (stable across renames): one per data source that has a property of this name
    /// and type (a database with several data sources gets one column for them all).
    pub ids: Vec<String>,
    /// The property's type.
    pub prop_type: String,
    /// Keys from the property object down to the value; the first is the type's own key.
    pub path: Vec<String>,
    /// How the value is read.
    pub kind: Kind,
}

/// The columns one property becomes: `(suffix, path after the type key, kind)`.
type Parts = Vec<(&'static str, Vec<&'static str>, Kind)>;

fn one(path: &[&'static str], kind: Kind) -> Parts {
    vec![("", path.to_vec(), kind)]
}

fn date(prefix: &[&'static str]) -> Parts {
    let at = |last: &'static str| {
        let mut p = prefix.to_vec();
        p.push(last);
        p
    };
    vec![
        ("", at("start"), Kind::Ts),
        ("_end", at("end"), Kind::Ts),
        ("_time_zone", at("time_zone"), Kind::Str),
    ]
}

/// The result type of a formula or rollup, from the pages bronze holds (the schema does not say).
pub fn result_parts(prop_type: &str, result: Option<&str>, function: Option<&str>) -> Parts {
    match (prop_type, result) {
        ("formula", Some("string")) => one(&["string"], Kind::Str),
        ("formula", Some("number")) | ("rollup", Some("number")) => one(&["number"], Kind::Number),
        ("formula", Some("boolean")) => one(&["boolean"], Kind::Bool),
        ("formula" | "rollup", Some("date")) => date(&["date"]),
        ("rollup", Some("array")) => one(&["array"], Kind::Json),
        // No page says yet: a rollup's function tells, a formula stays JSON.
        ("rollup", None) => match function {
            Some("earliest_date" | "latest_date" | "date_range") => date(&["date"]),
            Some("show_original" | "show_unique") => one(&["array"], Kind::Json),
            Some(_) => one(&["number"], Kind::Number),
            None => one(&[], Kind::Json),
        },
        _ => one(&[], Kind::Json),
    }
}

/// The columns of a property of `prop_type` (`None` for a button, which has no value).
pub fn parts(prop_type: &str, result: Option<&str>, function: Option<&str>) -> Option<Parts> {
    Some(match prop_type {
        "title" | "rich_text" => one(&[], Kind::Text),
        "number" => one(&[], Kind::Number),
        "checkbox" => one(&[], Kind::Bool),
        "url" | "email" | "phone_number" => one(&[], Kind::Str),
        "select" | "status" => one(&["name"], Kind::Str),
        "multi_select" | "files" => one(&[], Kind::Names),
        "people" | "relation" => one(&[], Kind::Ids),
        "date" => date(&[]),
        "created_time" | "last_edited_time" => one(&[], Kind::Ts),
        "created_by" | "last_edited_by" => one(&["id"], Kind::Str),
        "unique_id" => one(&[], Kind::UniqueId),
        "verification" => one(&["state"], Kind::Str),
        "formula" | "rollup" => result_parts(prop_type, result, function),
        "button" => return None,
        _ => one(&[], Kind::Json),
    })
}

/// The commonest result type of each formula and rollup property (by id), over sample `properties`
/// objects of pages.
pub fn result_types(samples: &[String]) -> HashMap<(String, String), String> {
    let mut counts: HashMap<(String, String), HashMap<String, usize>> = HashMap::new();
    for s in samples {
        let Ok(Value::Object(props)) = serde_json::from_str::<Value>(s) else {
            continue;
        };
        for p in props.values() {
            let (Some(id), Some(t)) = (p["id"].as_str(), p["type"].as_str()) else {
                continue;
            };
            if t != "formula" && t != "rollup" {
                continue;
            }
            if let Some(r) = p[t]["type"].as_str() {
                *counts
                    .entry((t.to_string(), id.to_string()))
                    .or_default()
                    .entry(r.to_string())
                    .or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .filter_map(|(k, c)| {
            c.into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(r, _)| (k, r))
        })
        .collect()
}

/// Reads the value at `path` of the property of `prop_type` with one of `ids` in a page's `properties`
/// object text. `None` when the page has no such property or the path leads nowhere. One pass over the
/// object borrows each property's text (no map is built); only the property found is parsed whole.
pub fn lookup(properties: &str, ids: &[&str], prop_type: &str, path: &[String]) -> Option<Value> {
    use serde::Deserializer as _;
    use serde::de::{IgnoredAny, MapAccess, Visitor};
    use serde_json::value::RawValue;

    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
        #[serde(borrow, rename = "type")]
        kind: std::borrow::Cow<'a, str>,
    }
    struct Find<'q> {
        ids: &'q [&'q str],
        kind: &'q str,
    }
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a properties object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while map.next_key::<IgnoredAny>()?.is_some() {
                let raw: &'de RawValue = map.next_value()?;
                if found.is_none()
                    && serde_json::from_str::<Head<'_>>(raw.get())
                        .is_ok_and(|h| h.kind == self.kind && self.ids.contains(&h.id.as_ref()))
                {
                    found = Some(raw);
                }
            }
            Ok(found)
        }
    }
    let raw = serde_json::Deserializer::from_str(properties)
        .deserialize_map(Find {
            ids,
            kind: prop_type,
        })
        .ok()??;
    let mut v: Value = serde_json::from_str(raw.get()).ok()?;
    for key in path {
        v = match v {
            Value::Object(mut m) => m.remove(key)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_type_has_its_columns() {
        let cols = |t: &str| {
            parts(t, None, None).map(|p| p.iter().map(|(s, _, k)| (*s, *k)).collect::<Vec<_>>())
        };
        assert_eq!(cols("number"), Some(vec![("", Kind::Number)]));
        assert_eq!(
            cols("date"),
            Some(vec![
                ("", Kind::Ts),
                ("_end", Kind::Ts),
                ("_time_zone", Kind::Str)
            ])
        );
        assert_eq!(cols("button"), None);
        assert_eq!(cols("hologram"), Some(vec![("", Kind::Json)]));
        assert_eq!(cols("formula"), Some(vec![("", Kind::Json)]));
        let p = parts("rollup", None, Some("latest_date")).unwrap();
        assert_eq!(p[0].1, vec!["date", "start"]);
    }

    #[test]
    fn result_types_take_the_commonest() {
        let page = |t: &str| {
            format!(
                r#"{{"ROI": {{"id": "a%3F", "type": "formula", "formula": {{"type": "{t}", "{t}": null}}}},
                     "Name": {{"id": "title", "type": "title", "title": []}}}}"#
            )
        };
        let samples = vec![
            page("number"),
            page("string"),
            page("number"),
            "not json".into(),
        ];
        let types = result_types(&samples);
        assert_eq!(types.len(), 1);
        assert_eq!(types[&("formula".into(), "a%3F".into())], "number");
    }

    #[test]
    fn lookup_selects_by_id_and_type_whatever_the_name() {
        let props = r#"{"Old \"name\"": {"id": "x%3F", "type": "date", "date": {"start": "2026-01-02", "end": null}},
                        "Other": {"id": "y", "type": "number", "number": 4}}"#;
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            lookup(props, &["x%3F"], "date", &path(&["date", "start"])),
            Some(Value::String("2026-01-02".into()))
        );
        assert_eq!(
            lookup(props, &["x%3F"], "date", &path(&["date", "end"])),
            Some(Value::Null)
        );
        assert_eq!(lookup(props, &["x%3F"], "number", &path(&["number"])), None);
        assert_eq!(
            lookup(props, &["z", "y"], "number", &path(&["number"])),
            Some(4.into())
        );
        assert_eq!(lookup("[]", &["y"], "number", &[]), None);
    }
}
