//! Real recorded Notion responses (tests/fixtures/notion-corpus, from public repositories): every body
//! decodes, and every page converts to a bronze row whose payload parses back to the same JSON.

use chrono::Utc;
use notion_sync::extract::convert::{RowContext, json_sha256, page_record, sha256_hex};
use notion_sync::notion::ApiVersion;
use notion_sync::notion::model::ListPage;
use serde_json::Value;
use serde_json::value::RawValue;

/// Every recorded file's name and text, by name. Panics when the corpus is missing or empty.
fn corpus_texts() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/notion-corpus");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("the Notion corpus is missing at {dir}: {e}"));
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name == "SOURCES.json" {
            continue;
        }
        out.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    assert!(
        !out.is_empty(),
        "the Notion corpus at {dir} holds no recorded responses"
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn corpus() -> Vec<(String, Value)> {
    corpus_texts()
        .into_iter()
        .map(|(name, text)| {
            let file = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, file)
        })
        .collect()
}

fn ctx() -> RowContext {
    RowContext {
        database_id: "00000000-0000-0000-0000-000000000001".into(),
        data_source_id: "00000000-0000-0000-0000-000000000002".into(),
        database_name: "corpus".into(),
        api_version: ApiVersion::default(),
        run_id: "corpus".into(),
        synced_at: Utc::now(),
    }
}

#[test]
fn every_recorded_page_round_trips_through_a_bronze_row() {
    let files = corpus();
    assert!(files.len() > 800, "corpus present ({} files)", files.len());
    let (mut pages, mut partial, mut lists) = (0, 0, 0);
    for (name, file) in &files {
        let body = &file["body"];
        let text = body.to_string();
        let mut candidates: Vec<Box<RawValue>> = Vec::new();
        match body["object"].as_str() {
            Some("list") => {
                let list: ListPage =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: list: {e}"));
                lists += 1;
                candidates.extend(list.results);
            }
            Some("page") => candidates.push(RawValue::from_string(text.clone()).unwrap()),
            _ => {}
        }
        for raw in candidates {
            let original: Value = serde_json::from_str(raw.get()).unwrap();
            if original["object"] != "page" {
                assert!(
                    page_record(&raw, &ctx()).unwrap().is_none(),
                    "{name}: non-page skipped"
                );
                continue;
            }
            match page_record(&raw, &ctx()) {
                Ok(Some(row)) => {
                    pages += 1;
                    let back: Value = serde_json::from_str(&row.payload).unwrap();
                    assert_eq!(back, original, "{name}: payload round trip");
                    assert_eq!(row.payload, raw.get(), "{name}: payload verbatim");
                    let props: Value = serde_json::from_str(&row.properties).unwrap();
                    assert_eq!(
                        props,
                        original
                            .get("properties")
                            .cloned()
                            .unwrap_or(serde_json::json!({})),
                        "{name}"
                    );
                    assert_eq!(row.page_id.len(), 36, "{name}");
                }
                Ok(None) => panic!("{name}: a page was skipped"),
                Err(message) => {
                    // Partial page objects (no timestamps) and redacted ids are refused with a message
                    // naming what is missing, never stored half-way.
                    let no_time = original.get("last_edited_time").is_none()
                        && message.contains("last_edited_time");
                    let bad_id = message.contains("malformed id");
                    assert!(no_time || bad_id, "{name}: {message}");
                    partial += 1;
                }
            }
        }
    }
    assert!(pages >= 300, "pages converted: {pages}");
    assert!(lists >= 150, "lists decoded: {lists}");
    eprintln!(
        "corpus: {pages} pages converted, {partial} partial pages refused, {lists} lists decoded"
    );
}

#[test]
fn every_recorded_body_decodes() {
    use notion_sync::extract::resolve::schema_record;
    use notion_sync::notion::model::{ErrorBody, ObjectHead};
    let mut by_kind: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, file) in corpus() {
        let body = &file["body"];
        if !body.is_object() {
            continue;
        }
        let text = body.to_string();
        let head: ObjectHead =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: object head: {e}"));
        *by_kind.entry(head.object.clone()).or_default() += 1;
        match head.object.as_str() {
            "database" | "data_source" => {
                let raw = RawValue::from_string(text.clone()).unwrap();
                let snap = schema_record(&raw, &ctx());
                let schema: Value = serde_json::from_str(&snap.schema).unwrap();
                assert_eq!(
                    schema,
                    body.get("properties").cloned().unwrap_or(Value::Null),
                    "{name}"
                );
                let back: Value = serde_json::from_str(&snap.payload).unwrap();
                assert_eq!(&back, body, "{name}: payload round trip");
            }
            "error" => {
                let err: ErrorBody = serde_json::from_str(&text).unwrap();
                assert!(!err.code.is_empty(), "{name}: error code");
            }
            "list" => {
                serde_json::from_str::<ListPage>(&text)
                    .unwrap_or_else(|e| panic!("{name}: list: {e}"));
            }
            _ => {}
        }
    }
    eprintln!("corpus bodies by object: {by_kind:?}");
    for kind in [
        "page",
        "list",
        "database",
        "data_source",
        "block",
        "user",
        "error",
    ] {
        assert!(
            by_kind.get(kind).copied().unwrap_or(0) > 0,
            "corpus has {kind} bodies"
        );
    }
}

#[test]
fn canonical_hashes_match_the_sorted_value_text() {
    // The streaming canonical hash must equal SHA-256 of `Value::to_string()` (sorted keys, no
    // whitespace) on real responses as recorded, whitespace and key order included.
    let files = corpus_texts();
    for (name, text) in &files {
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(json_sha256(text), sha256_hex(&value.to_string()), "{name}");
    }
    assert!(files.len() > 800);
}
