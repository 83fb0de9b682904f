//! Property-based test of the decoder and the Arrow conversion: random page-like JSON — unknown types,
//! missing and mistyped fields, odd ids, deep nesting, long and non-ASCII strings — never panics, and every
//! accepted page converts to a bronze row whose payload parses back to the same JSON and fits the pages
//! table's Arrow schema.
//!
//! Each document is written as Notion might send it: keys in a random order, spaces, tabs and line breaks
//! between tokens, and characters escaped in any of JSON's ways. Its payload hash must equal SHA-256 of the
//! parsed document's sorted compact text (`Value::to_string`), be the same for another such rendering of
//! the document, and differ for a document with one value, key or array order changed.
//!
//! `NOTION_SYNC_FUZZ_CASES` (default 100,000) and `NOTION_SYNC_FUZZ_SEED` run it longer or elsewhere:
//! `NOTION_SYNC_FUZZ_CASES=5000000 cargo test --lib fuzz -- --nocapture`.

use std::fmt::Write;

use chrono::Utc;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::convert::{RowContext, json_sha256, page_record, sha256_hex};
use super::hydrate::{may_be_truncated, truncated_properties};
use crate::notion::ApiVersion;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Gen {
    rng: fastrand::Rng,
}

impl Gen {
    fn text(&mut self) -> String {
        let pool = [
            "",
            "a",
            "Ünïcödé ✓",
            "日本語",
            "🚀🔥",
            "\"quoted\"",
            "back\\slash",
            "line\nbreak",
            "\u{0}",
            "ends with space ",
        ];
        let mut s = pool[self.rng.usize(..pool.len())].to_string();
        if self.rng.u8(..50) == 0 {
            s.push_str(&"x".repeat(self.rng.usize(1_000..100_000)));
        }
        s
    }

    fn scalar(&mut self) -> Value {
        match self.rng.u8(..6) {
            0 => Value::Null,
            1 => json!(self.rng.bool()),
            2 => json!(self.rng.i64(..)),
            3 => json!(self.rng.f64() * 1e9),
            _ => json!(self.text()),
        }
    }

    fn any(&mut self, depth: usize) -> Value {
        if depth == 0 || self.rng.u8(..3) == 0 {
            return self.scalar();
        }
        if self.rng.bool() {
            Value::Array(
                (0..self.rng.usize(..4))
                    .map(|_| self.any(depth - 1))
                    .collect(),
            )
        } else {
            let mut m = Map::new();
            for _ in 0..self.rng.usize(..4) {
                m.insert(self.text(), self.any(depth - 1));
            }
            Value::Object(m)
        }
    }

    fn nested(&self, depth: usize) -> Value {
        (0..depth).fold(json!("bottom"), |v, _| json!({ "child": [v] }))
    }

    fn uuid(&mut self) -> String {
        let hex: String = (0..32)
            .map(|_| char::from_digit(self.rng.u32(..16), 16).unwrap_or('0'))
            .collect();
        if self.rng.bool() {
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        } else {
            hex
        }
    }

    fn id(&mut self) -> Option<Value> {
        match self.rng.u8(..12) {
            0 => None,
            1 => Some(json!(42)),
            2 => Some(json!("not-an-id")),
            3 => Some(json!(self.uuid().to_uppercase())),
            _ => Some(json!(self.uuid())),
        }
    }

    fn time(&mut self) -> Option<Value> {
        match self.rng.u8(..15) {
            0 => None,
            1 => Some(json!("yesterday")),
            2 => Some(json!(1_700_000_000)),
            3 => Some(Value::Null),
            _ => Some(json!(format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:00.000Z",
                self.rng.u8(..99),
                self.rng.u8(1..13),
                self.rng.u8(1..29),
                self.rng.u8(..24),
                self.rng.u8(..60)
            ))),
        }
    }

    fn property(&mut self) -> Value {
        let kinds = [
            "title",
            "rich_text",
            "number",
            "select",
            "multi_select",
            "people",
            "relation",
            "rollup",
            "formula",
            "date",
            "files",
            "checkbox",
            "hologram",
            "x-unknown",
            "",
        ];
        let kind = kinds[self.rng.usize(..kinds.len())];
        let value = match (kind, self.rng.u8(..4)) {
            ("relation", 0) => json!(
                (0..25)
                    .map(|_| json!({"id": self.uuid()}))
                    .collect::<Vec<_>>()
            ),
            ("people", 0) => json!(
                (0..25)
                    .map(|_| json!({"object": "user", "id": self.uuid()}))
                    .collect::<Vec<_>>()
            ),
            ("title" | "rich_text", 0) => json!(
                (0..25)
                    .map(|_| json!({"type": "mention", "plain_text": self.text()}))
                    .collect::<Vec<_>>()
            ),
            ("title" | "rich_text", 1) => json!([{"type": "text", "plain_text": self.text()}]),
            _ => self.any(4),
        };
        let mut p = json!({"id": self.text(), "type": kind});
        p[kind] = value;
        if kind == "relation" && self.rng.bool() {
            p["has_more"] = json!(self.rng.bool());
        }
        if self.rng.u8(..20) == 0 {
            p = self.scalar();
        }
        p
    }

    fn page(&mut self) -> Value {
        let mut page = Map::new();
        let object = match self.rng.u8(..20) {
            0 => json!("data_source"),
            1 => json!(7),
            2 => Value::Null,
            _ => json!("page"),
        };
        if self.rng.u8(..30) != 0 {
            page.insert("object".into(), object);
        }
        if let Some(id) = self.id() {
            page.insert("id".into(), id);
        }
        for key in ["created_time", "last_edited_time"] {
            if let Some(t) = self.time() {
                page.insert(key.into(), t);
            }
        }
        for key in ["in_trash", "archived", "is_archived"] {
            if self.rng.bool() {
                let v = if self.rng.u8(..20) == 0 {
                    json!("yes")
                } else {
                    json!(self.rng.bool())
                };
                page.insert(key.into(), v);
            }
        }
        if self.rng.bool() {
            page.insert("url".into(), self.scalar());
        }
        page.insert(
            "created_by".into(),
            json!({"object": "user", "id": self.uuid()}),
        );
        page.insert("parent".into(), self.any(2));
        if self.rng.u8(..10) != 0 {
            let mut props = Map::new();
            for _ in 0..self.rng.usize(..8) {
                props.insert(self.text(), self.property());
            }
            page.insert("properties".into(), Value::Object(props));
        }
        if self.rng.u8(..100) == 0 {
            let depth = self.rng.usize(20..60);
            page.insert("deep".into(), self.nested(depth));
        }
        for _ in 0..self.rng.usize(..3) {
            page.insert(self.text(), self.any(3));
        }
        Value::Object(page)
    }

    /// Whitespace JSON allows between tokens: none half the time, else a short run of it.
    fn whitespace(&mut self) -> &'static str {
        const RUNS: [&str; 7] = [" ", "\n", "\t", "\r\n", "  ", "\n\t\t", " \r \t"];
        if self.rng.bool() {
            ""
        } else {
            RUNS[self.rng.usize(..RUNS.len())]
        }
    }

    /// `v` as JSON text: object keys shuffled, random whitespace between tokens, random string escapes.
    fn render(&mut self, v: &Value) -> String {
        let mut out = String::new();
        self.render_into(v, &mut out);
        out
    }

    fn render_into(&mut self, v: &Value, out: &mut String) {
        match v {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(self.whitespace());
                    self.render_into(item, out);
                    out.push_str(self.whitespace());
                }
                if items.is_empty() {
                    out.push_str(self.whitespace());
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                self.rng.shuffle(&mut entries);
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(self.whitespace());
                    self.render_string(key, out);
                    out.push_str(self.whitespace());
                    out.push(':');
                    out.push_str(self.whitespace());
                    self.render_into(value, out);
                    out.push_str(self.whitespace());
                }
                if map.is_empty() {
                    out.push_str(self.whitespace());
                }
                out.push('}');
            }
            Value::String(s) => self.render_string(s, out),
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    /// A JSON string literal of `s`: the shortest escapes half the time (and always for long strings),
    /// else each character possibly written as `\uXXXX` (surrogate pairs beyond the BMP) or `\/`.
    fn render_string(&mut self, s: &str, out: &mut String) {
        if s.len() > 1_000 || self.rng.bool() {
            out.push_str(&Value::from(s).to_string());
            return;
        }
        out.push('"');
        for c in s.chars() {
            match (c, self.rng.u8(..4)) {
                (_, 0) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{unit:04x}");
                    }
                }
                ('/', 1) => out.push_str("\\/"),
                ('"' | '\\' | '\u{0}'..='\u{1f}', _) => {
                    let quoted = Value::from(c.to_string()).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                _ => out.push(c),
            }
        }
        out.push('"');
    }

    /// A document unequal to `v`: somewhere in it one scalar changed, one key renamed or added, or two
    /// unequal array items swapped.
    fn mutate(&mut self, v: &Value) -> Value {
        let mut out = v.clone();
        self.mutate_in(&mut out);
        out
    }

    fn mutate_in(&mut self, v: &mut Value) {
        match v {
            Value::Object(map) if !map.is_empty() && self.rng.u8(..4) != 0 => {
                let key = map.keys().nth(self.rng.usize(..map.len())).cloned();
                let key = key.unwrap_or_default();
                if self.rng.u8(..4) == 0 {
                    let value = map.remove(&key).unwrap_or_default();
                    map.insert(unused_key(map, &key), value);
                } else if let Some(value) = map.get_mut(&key) {
                    self.mutate_in(value);
                }
            }
            Value::Object(map) => {
                map.insert(unused_key(map, "added"), Value::Null);
            }
            Value::Array(items) if items.len() >= 2 && items[0] != items[1] && self.rng.bool() => {
                items.swap(0, 1)
            }
            Value::Array(items) if !items.is_empty() => {
                let i = self.rng.usize(..items.len());
                self.mutate_in(&mut items[i]);
            }
            Value::Array(items) => items.push(Value::Null),
            Value::Null => *v = json!(false),
            Value::Bool(b) => *b = !*b,
            Value::Number(n) => *v = other_number(n),
            Value::String(s) => s.push('x'),
        }
    }
}

/// `base` with underscores appended until `map` has no such key.
fn unused_key(map: &Map<String, Value>, base: &str) -> String {
    let mut key = format!("{base}_");
    while map.contains_key(&key) {
        key.push('_');
    }
    key
}

/// A number unequal to `n`, of the same kind.
fn other_number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        json!(i.wrapping_add(1))
    } else if let Some(u) = n.as_u64() {
        json!(u - 1)
    } else {
        json!(n.as_f64().unwrap_or_default() + 1.0)
    }
}

fn ctx() -> RowContext {
    RowContext {
        database_id: "00000000-0000-0000-0000-000000000001".into(),
        data_source_id: "00000000-0000-0000-0000-000000000002".into(),
        database_name: "fuzz".into(),
        api_version: ApiVersion::default(),
        run_id: "fuzz".into(),
        synced_at: Utc::now(),
    }
}

/// `hash`, the payload hash of a rendering of `page`, is the same for another rendering and different
/// for a changed document. (Renderings write numbers alike: serde_json parses a float to the nearest
/// value only with `float_roundtrip`, so the canonical text of a document is that of its parsed text.)
fn assert_hashes(g: &mut Gen, page: &Value, hash: &str, case: u64, seed: u64) {
    let again = g.render(page);
    assert_eq!(
        json_sha256(&again),
        hash,
        "case {case} (seed {seed}): another rendering of the same document: {again}"
    );
    let changed = g.mutate(page);
    assert_ne!(
        &changed, page,
        "case {case}: the mutation changes the document"
    );
    assert_ne!(
        json_sha256(&g.render(&changed)),
        hash,
        "case {case} (seed {seed}): a changed document hashes differently: {changed}"
    );
}

#[test]
fn fuzz_decoder_and_arrow_conversion() {
    let cases = env_u64("NOTION_SYNC_FUZZ_CASES", 100_000);
    let seed = env_u64("NOTION_SYNC_FUZZ_SEED", 20_261_129);
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
    };
    let ctx = ctx();
    let (mut accepted, mut refused, mut skipped) = (0u64, 0u64, 0u64);
    let mut batch = Vec::new();
    for case in 0..cases {
        let page = g.page();
        let text = g.render(&page);
        let raw = RawValue::from_string(text.clone()).expect("generated JSON is valid");
        match page_record(&raw, &ctx) {
            Ok(Some(row)) => {
                accepted += 1;
                // Verbatim text: the same bytes, so the same JSON value for any reader.
                assert_eq!(
                    row.payload, text,
                    "case {case} (seed {seed}): payload verbatim"
                );
                let value: Value = serde_json::from_str(&row.payload).expect("payload is JSON");
                assert_eq!(
                    row.payload_sha256,
                    sha256_hex(&value.to_string()),
                    "case {case} (seed {seed}): canonical hash"
                );
                assert_hashes(&mut g, &page, &row.payload_sha256, case, seed);
                let props: Value = serde_json::from_str(&row.properties).expect("properties JSON");
                let reparsed: Value = serde_json::from_str(&text).expect("generated JSON");
                assert_eq!(
                    props,
                    reparsed.get("properties").cloned().unwrap_or(json!({})),
                    "case {case}"
                );
                assert_eq!(row.page_id.len(), 36, "case {case}: normalised id");
                may_be_truncated(&row.properties);
                truncated_properties(&row.properties);
                batch.push(row);
            }
            Ok(None) => skipped += 1,
            Err(message) => {
                refused += 1;
                assert!(!message.is_empty(), "case {case}: a refusal says why");
            }
        }
        if batch.len() == 500 || (case + 1 == cases && !batch.is_empty()) {
            let rows = std::mem::take(&mut batch);
            let arrow = crate::sink::delta::pages_batch(&rows)
                .unwrap_or_else(|e| panic!("seed {seed}: Arrow conversion failed: {e}"));
            assert_eq!(arrow.num_rows(), rows.len());
        }
    }
    eprintln!(
        "fuzz: {cases} cases (seed {seed}): {accepted} pages, {refused} refused, {skipped} not pages"
    );
    assert!(
        accepted > cases / 5 && refused > 0,
        "the generator covers both paths"
    );
}

#[test]
fn a_five_megabyte_page_converts() {
    let mut page = json!({
        "object": "page", "id": "195de922-1179-449f-ab80-75a27c979105",
        "created_time": "2026-01-01T10:00:00.000Z", "last_edited_time": "2026-01-02T11:03:00.000Z",
        "properties": {"Name": {"id": "title", "type": "title", "title": [{"plain_text": "big"}]}}
    });
    page["properties"]["Body"] = json!({"id": "b", "type": "rich_text",
        "rich_text": [{"type": "text", "plain_text": "y".repeat(5 << 20)}]});
    let raw = RawValue::from_string(page.to_string()).unwrap();
    let row = page_record(&raw, &ctx()).unwrap().unwrap();
    assert!(row.payload.len() > 5 << 20);
    let batch = crate::sink::delta::pages_batch(&[row]).unwrap();
    assert_eq!(batch.num_rows(), 1);
}
