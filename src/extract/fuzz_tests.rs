//! Property-based test of the decoder and the Arrow conversion: random page-like JSON — unknown types,
//! missing and mistyped fields, odd ids, deep nesting, long and non-ASCII strings — never panics, and every
//! accepted page converts to a bronze row whose payload parses back to the same JSON and fits the pages
//! table's Arrow schema.
//!
//! `NOTION_SYNC_FUZZ_CASES` (default 100,000) and `NOTION_SYNC_FUZZ_SEED` run it longer or elsewhere:
//! `NOTION_SYNC_FUZZ_CASES=5000000 cargo test --lib fuzz -- --nocapture`.

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
        let text = page.to_string();
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
                assert_eq!(row.payload_sha256, json_sha256(&row.payload));
                assert_eq!(
                    row.payload_sha256,
                    sha256_hex(&value.to_string()),
                    "case {case}: canonical hash"
                );
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
