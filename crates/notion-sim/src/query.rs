//! Query semantics: filters, sorts, keyset cursors, the per-query result cap.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::model::{DataSource, Page};

/// A sort key component.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// Missing values sort last.
    Null,
    /// Numbers and timestamps (seconds).
    Num(f64),
    /// Text.
    Str(String),
}

impl Key {
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Num(a), Key::Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            (Key::Null, Key::Null) => Ordering::Equal,
            (Key::Null, _) => Ordering::Greater,
            (_, Key::Null) => Ordering::Less,
            (Key::Num(_), Key::Str(_)) => Ordering::Less,
            (Key::Str(_), Key::Num(_)) => Ordering::Greater,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Key::Null => Value::Null,
            Key::Num(n) => json!(n),
            Key::Str(s) => json!(s),
        }
    }

    fn from_json(v: &Value) -> Key {
        match v {
            Value::Number(n) => Key::Num(n.as_f64().unwrap_or_default()),
            Value::String(s) => Key::Str(s.clone()),
            _ => Key::Null,
        }
    }
}

/// One sort criterion.
#[derive(Debug, Clone)]
pub struct Sort {
    /// `timestamp:<name>` or `property:<name>`.
    pub by: String,
    /// Ascending?
    pub ascending: bool,
}

/// Parses `sorts`; no sorts → created_time ascending.
pub fn parse_sorts(v: Option<&Value>) -> Result<Vec<Sort>, String> {
    let Some(v) = v else {
        return Ok(vec![Sort {
            by: "timestamp:created_time".into(),
            ascending: true,
        }]);
    };
    let arr = v.as_array().ok_or("body.sorts should be an array")?;
    let mut out = Vec::new();
    for (i, s) in arr.iter().enumerate() {
        let ascending = match s.get("direction").and_then(Value::as_str) {
            Some("ascending") | None => true,
            Some("descending") => false,
            Some(other) => {
                return Err(format!(
                    "body.sorts[{i}].direction should be `ascending` or `descending`, instead was `{other}`."
                ));
            }
        };
        let by = if let Some(t) = s.get("timestamp").and_then(Value::as_str) {
            if t != "created_time" && t != "last_edited_time" {
                return Err(format!(
                    "body.sorts[{i}].timestamp should be `created_time` or `last_edited_time`, instead was `{t}`."
                ));
            }
            format!("timestamp:{t}")
        } else if let Some(p) = s.get("property").and_then(Value::as_str) {
            format!("property:{p}")
        } else {
            return Err(format!(
                "body.sorts[{i}].property should be defined, instead was `undefined`."
            ));
        };
        out.push(Sort { by, ascending });
    }
    if out.is_empty() {
        out.push(Sort {
            by: "timestamp:created_time".into(),
            ascending: true,
        });
    }
    Ok(out)
}

fn property_key(page: &Page, ds: &DataSource, name: &str) -> Key {
    let Some(prop) = ds.props.iter().find(|p| p.name == name || p.id == name) else {
        return Key::Null;
    };
    match prop.kind.as_str() {
        "created_time" => Key::Num(page.created.timestamp() as f64),
        "last_edited_time" => Key::Num(page.edited.timestamp() as f64),
        _ => match page.values.get(&prop.name) {
            Some(Value::Number(n)) => Key::Num(n.as_f64().unwrap_or_default()),
            Some(Value::Bool(b)) => Key::Num(f64::from(u8::from(*b))),
            Some(Value::Array(a)) if prop.kind == "title" || prop.kind == "rich_text" => {
                Key::Str(a.iter().filter_map(|t| t["plain_text"].as_str()).collect())
            }
            Some(Value::Object(o)) => match o.get("name").or_else(|| o.get("start")) {
                Some(Value::String(s)) => Key::Str(s.clone()),
                _ => Key::Null,
            },
            Some(Value::String(s)) => Key::Str(s.clone()),
            _ => Key::Null,
        },
    }
}

/// The sort key of a page.
pub fn sort_key(page: &Page, ds: &DataSource, sorts: &[Sort]) -> Vec<Key> {
    sorts
        .iter()
        .map(|s| match s.by.as_str() {
            "timestamp:created_time" => Key::Num(page.created.timestamp() as f64),
            "timestamp:last_edited_time" => Key::Num(page.edited.timestamp() as f64),
            other => property_key(page, ds, other.trim_start_matches("property:")),
        })
        .collect()
}

/// Orders two (key, id) pairs under the sorts.
pub fn compare(a: (&[Key], &str), b: (&[Key], &str), sorts: &[Sort]) -> Ordering {
    for (i, s) in sorts.iter().enumerate() {
        let o = a.0[i].cmp(&b.0[i]);
        let o = if s.ascending { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.1.cmp(b.1)
}

fn parse_time(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.to_utc(), false));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some((d.and_hms_opt(0, 0, 0)?.and_utc(), true))
}

fn date_matches(value: Option<DateTime<Utc>>, cond: &Value) -> Result<bool, String> {
    let obj = cond
        .as_object()
        .ok_or("date filter condition should be an object")?;
    let (op, arg) = obj
        .iter()
        .next()
        .ok_or("date filter condition should have one operator")?;
    match op.as_str() {
        "is_empty" => return Ok(value.is_none()),
        "is_not_empty" => return Ok(value.is_some()),
        _ => {}
    }
    let Some(v) = value else { return Ok(false) };
    let (t, date_only) = arg.as_str().and_then(parse_time).ok_or_else(|| {
        format!("body.filter.{op} should be a valid ISO 8601 date string, instead was `{arg}`.")
    })?;
    let day_end = t + chrono::Duration::days(1);
    Ok(match op.as_str() {
        "equals" if date_only => v >= t && v < day_end,
        "equals" => v == t,
        "before" => v < t,
        "after" if date_only => v >= day_end,
        "after" => v > t,
        "on_or_before" if date_only => v < day_end,
        "on_or_before" => v <= t,
        "on_or_after" => v >= t,
        other => return Err(format!("unsupported date filter operator `{other}`")),
    })
}

fn text_of(v: Option<&Value>) -> String {
    crate::model::plain_text(v)
}

fn property_matches(page: &Page, ds: &DataSource, f: &Value) -> Result<bool, String> {
    let name = f["property"].as_str().unwrap_or_default();
    let prop = ds
        .props
        .iter()
        .find(|p| p.name == name || p.id == name)
        .ok_or_else(|| format!("Could not find property with name or id: {name}"))?;
    if matches!(prop.kind.as_str(), "created_time" | "last_edited_time") {
        let t = if prop.kind == "created_time" {
            page.created
        } else {
            page.edited
        };
        let cond = f
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.as_str() != "property"))
            .map(|(_, c)| c)
            .ok_or("body.filter should define a property condition")?;
        return date_matches(Some(t), cond);
    }
    let value = page.values.get(&prop.name);
    let (kind, cond) = f
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.as_str() != "property"))
        .ok_or("body.filter should define a property condition")?;
    let obj = cond
        .as_object()
        .ok_or("filter condition should be an object")?;
    let (op, arg) = obj
        .iter()
        .next()
        .ok_or("filter condition should have one operator")?;
    let empty = match value {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    match op.as_str() {
        "is_empty" => return Ok(empty),
        "is_not_empty" => return Ok(!empty),
        _ => {}
    }
    Ok(match kind.as_str() {
        "select" | "status" => {
            let got = value
                .and_then(|v| v.as_str().or_else(|| v["name"].as_str()))
                .unwrap_or_default();
            let want = arg.as_str().unwrap_or_default();
            match op.as_str() {
                "equals" => got == want,
                "does_not_equal" => got != want,
                _ => return Err(format!("unsupported {kind} operator `{op}`")),
            }
        }
        "checkbox" => {
            let got = value.and_then(Value::as_bool).unwrap_or(false);
            let want = arg
                .as_bool()
                .ok_or("checkbox filter value should be a boolean")?;
            match op.as_str() {
                "equals" => got == want,
                "does_not_equal" => got != want,
                _ => return Err(format!("unsupported checkbox operator `{op}`")),
            }
        }
        "number" => {
            let Some(got) = value.and_then(Value::as_f64) else {
                return Ok(false);
            };
            let want = arg
                .as_f64()
                .ok_or("number filter value should be a number")?;
            match op.as_str() {
                "equals" => got == want,
                "does_not_equal" => got != want,
                "greater_than" => got > want,
                "less_than" => got < want,
                "greater_than_or_equal_to" => got >= want,
                "less_than_or_equal_to" => got <= want,
                _ => return Err(format!("unsupported number operator `{op}`")),
            }
        }
        "rich_text" | "title" => {
            let got = text_of(value);
            let want = arg.as_str().unwrap_or_default();
            match op.as_str() {
                "equals" => got == want,
                "does_not_equal" => got != want,
                "contains" => got.contains(want),
                "does_not_contain" => !got.contains(want),
                "starts_with" => got.starts_with(want),
                "ends_with" => got.ends_with(want),
                _ => return Err(format!("unsupported text operator `{op}`")),
            }
        }
        "multi_select" | "people" | "relation" => {
            let want = arg.as_str().unwrap_or_default();
            let has = value
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x["name"] == want || x["id"] == want));
            match op.as_str() {
                "contains" => has,
                "does_not_contain" => !has,
                _ => return Err(format!("unsupported {kind} operator `{op}`")),
            }
        }
        "date" => {
            let start = value
                .and_then(|v| v.as_str().or_else(|| v["start"].as_str()))
                .and_then(parse_time)
                .map(|t| t.0);
            date_matches(start, cond)?
        }
        other => return Err(format!("unsupported filter type `{other}`")),
    })
}

/// The first position of `index` (rows sorted under `sorts`) that a row passing `filter` can hold: when the
/// first sort is a timestamp ascending and the filter bounds that timestamp from below (alone or inside an
/// `and`), every earlier row fails the filter, so a query starts there instead of testing each of them.
pub fn seek(index: &[(Vec<Key>, String)], filter: Option<&Value>, sorts: &[Sort]) -> usize {
    let Some(least) = least_first_key(filter, sorts) else {
        return 0;
    };
    index.partition_point(|(key, _)| key[0].cmp(&least) == Ordering::Less)
}

fn least_first_key(filter: Option<&Value>, sorts: &[Sort]) -> Option<Key> {
    let first = sorts.first().filter(|s| s.ascending)?;
    let ts = first.by.strip_prefix("timestamp:")?;
    let filter = filter?;
    let conditions: Vec<&Value> = match filter.get("and").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![filter],
    };
    conditions
        .into_iter()
        .filter_map(|f| lower_bound(f, ts))
        .max()
        .map(|secs| Key::Num(secs as f64))
}

/// The least whole second (the sort key's unit) a timestamp passing `f` can have, if `f` bounds `ts`.
fn lower_bound(f: &Value, ts: &str) -> Option<i64> {
    if f.get("timestamp").and_then(Value::as_str) != Some(ts) {
        return None;
    }
    let (op, arg) = f.get(ts)?.as_object()?.iter().next()?;
    let (t, date_only) = arg.as_str().and_then(parse_time)?;
    match op.as_str() {
        "after" if date_only => Some((t + chrono::Duration::days(1)).timestamp()),
        "on_or_after" | "after" | "equals" => Some(t.timestamp()),
        _ => None,
    }
}

/// Whether `page` passes `filter`; `depth` counts compound nesting (Notion allows two levels).
pub fn matches(page: &Page, ds: &DataSource, filter: &Value, depth: usize) -> Result<bool, String> {
    for (op, all) in [("and", true), ("or", false)] {
        if let Some(items) = filter.get(op) {
            if depth >= 2 {
                return Err("body.filter should have at most two levels of nesting".into());
            }
            let items = items
                .as_array()
                .ok_or(format!("body.filter.{op} should be an array"))?;
            let mut result = all;
            for f in items {
                let m = matches(page, ds, f, depth + 1)?;
                result = if all { result && m } else { result || m };
            }
            return Ok(result);
        }
    }
    if let Some(ts) = filter.get("timestamp").and_then(Value::as_str) {
        let value = match ts {
            "last_edited_time" => page.edited,
            "created_time" => page.created,
            other => {
                return Err(format!(
                    "body.filter.timestamp should be `created_time` or `last_edited_time`, instead was `{other}`."
                ));
            }
        };
        return date_matches(Some(value), filter.get(ts).unwrap_or(&Value::Null));
    }
    if filter.get("property").is_some() {
        return property_matches(page, ds, filter);
    }
    Err("body.filter should be defined with a property, timestamp, `and` or `or`.".into())
}

/// The state encoded in an opaque cursor.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// Fingerprint of the query.
    pub fingerprint: u64,
    /// Cursor generation (bumped to invalidate every cursor).
    pub generation: u64,
    /// Sort key of the last served row.
    pub key: Vec<Key>,
    /// Id of the last served row.
    pub id: String,
    /// Rows served so far by this query.
    pub served: usize,
}

impl Cursor {
    /// Encodes as an opaque string.
    pub fn encode(&self) -> String {
        let v = json!({
            "f": self.fingerprint.to_string(),
            "g": self.generation,
            "k": self.key.iter().map(Key::to_json).collect::<Vec<_>>(),
            "i": self.id,
            "n": self.served,
        });
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// Decodes a cursor string.
    pub fn decode(s: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        Some(Cursor {
            fingerprint: v["f"].as_str()?.parse().ok()?,
            generation: v["g"].as_u64()?,
            key: v["k"].as_array()?.iter().map(Key::from_json).collect(),
            id: v["i"].as_str()?.to_string(),
            served: v["n"].as_u64()? as usize,
        })
    }
}

/// A stable fingerprint of what defines a query (target, filter, sorts, partition).
pub fn fingerprint(parts: &[&Value]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.to_string().hash(&mut h);
    }
    h.finish()
}

/// An opaque offset cursor for simple lists.
pub fn encode_offset(offset: usize, prefix: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}:{offset}"))
}

/// Decodes [`encode_offset`]; `None` for anything else.
pub fn decode_offset(s: &str, prefix: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(prefix)?.strip_prefix(':')?.parse().ok()
}

/// Checks a filter's structure against a schema without any rows.
pub fn validate(ds: &DataSource, filter: &Value) -> Result<(), String> {
    let probe = Page {
        id: String::new(),
        data_source_id: ds.id.clone(),
        created: DateTime::<Utc>::UNIX_EPOCH,
        edited: DateTime::<Utc>::UNIX_EPOCH,
        created_by: String::new(),
        edited_by: String::new(),
        in_trash: false,
        is_archived: false,
        values: Default::default(),
        meta: Default::default(),
    };
    matches(&probe, ds, filter, 0).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_timestamp_bound_seeks_past_earlier_rows() {
        let sorts = parse_sorts(Some(
            &json!([{"timestamp": "last_edited_time", "direction": "ascending"}]),
        ))
        .unwrap();
        let index: Vec<(Vec<Key>, String)> = [60.0, 120.0, 120.0, 180.0]
            .iter()
            .enumerate()
            .map(|(i, s)| (vec![Key::Num(*s)], i.to_string()))
            .collect();
        let at = |op: &str, t: &str| json!({"timestamp": "last_edited_time", "last_edited_time": {op: t}});
        assert_eq!(
            seek(
                &index,
                Some(&at("on_or_after", "1970-01-01T00:02:00Z")),
                &sorts
            ),
            1
        );
        assert_eq!(
            seek(&index, Some(&at("after", "1970-01-01T00:02:00Z")), &sorts),
            1
        );
        let and = json!({"and": [at("on_or_after", "1970-01-01T00:01:00Z"), at("on_or_after", "1970-01-01T00:03:00Z")]});
        assert_eq!(seek(&index, Some(&and), &sorts), 3);
        // No bound, an upper bound, another timestamp, or a descending sort: from the start.
        assert_eq!(seek(&index, None, &sorts), 0);
        assert_eq!(
            seek(&index, Some(&at("before", "1970-01-01T00:03:00Z")), &sorts),
            0
        );
        let created = json!({"timestamp": "created_time", "created_time": {"on_or_after": "1970-01-01T00:03:00Z"}});
        assert_eq!(seek(&index, Some(&created), &sorts), 0);
        let desc = parse_sorts(Some(
            &json!([{"timestamp": "last_edited_time", "direction": "descending"}]),
        ))
        .unwrap();
        assert_eq!(
            seek(
                &index,
                Some(&at("on_or_after", "1970-01-01T00:03:00Z")),
                &desc
            ),
            0
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            fingerprint: 7,
            generation: 2,
            key: vec![Key::Num(1.5), Key::Str("a".into()), Key::Null],
            id: "x".into(),
            served: 100,
        };
        let back = Cursor::decode(&c.encode()).expect("decodes");
        assert_eq!(back.key, c.key);
        assert_eq!(
            (back.fingerprint, back.generation, back.served),
            (7, 2, 100)
        );
        assert!(Cursor::decode("not a cursor").is_none());
        assert_eq!(
            decode_offset(&encode_offset(42, "users"), "users"),
            Some(42)
        );
        assert_eq!(decode_offset(&encode_offset(42, "users"), "other"), None);
    }

    #[test]
    fn date_only_bounds_cover_the_whole_day() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).ok();
        let noon = t("2026-01-05T12:00:00Z");
        assert_eq!(
            date_matches(noon, &json!({"equals": "2026-01-05"})),
            Ok(true)
        );
        assert_eq!(
            date_matches(noon, &json!({"after": "2026-01-05"})),
            Ok(false)
        );
        assert_eq!(
            date_matches(noon, &json!({"on_or_before": "2026-01-05"})),
            Ok(true)
        );
        assert_eq!(
            date_matches(noon, &json!({"before": "2026-01-05T12:00:00Z"})),
            Ok(false)
        );
        assert_eq!(date_matches(None, &json!({"is_empty": true})), Ok(true));
        assert!(date_matches(noon, &json!({"equals": "yesterday-ish"})).is_err());
    }

    #[test]
    fn default_sort_is_created_time_then_id() {
        let s = parse_sorts(None).expect("sorts");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].by, "timestamp:created_time");
        let a = [Key::Num(1.0)];
        assert_eq!(compare((&a, "a"), (&a, "b"), &s), Ordering::Less);
        assert!(parse_sorts(Some(&json!([{"timestamp": "x"}]))).is_err());
    }
}
