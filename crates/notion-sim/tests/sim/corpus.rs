//! Property value shapes in simulator pages match recorded real Notion payloads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use notion_sim::{SimConfig, WorkspaceKind};
use serde_json::Value;

use crate::common::*;

/// The recorded responses checked into the repository: `tests/fixtures/notion-corpus` of the workspace.
fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/notion-corpus")
}

/// The body of every recorded response. Panics when the corpus is missing or empty, or a file of it does
/// not parse: the comparison below must never pass for want of recordings.
fn recorded_bodies() -> Vec<Value> {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the Notion corpus is missing at {}: {e}", dir.display()));
    let mut bodies = Vec::new();
    for entry in entries {
        let path = entry.expect("corpus directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !name.ends_with(".json") || name == "SOURCES.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let file: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        bodies.push(file["body"].clone());
    }
    assert!(
        !bodies.is_empty(),
        "the Notion corpus at {} holds no recorded responses",
        dir.display()
    );
    bodies
}

/// Dotted key paths of a value (`[]` for array items).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = format!("{prefix}{k}");
                out.insert(p.clone());
                paths(x, &format!("{p}."), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(x, &format!("{prefix}[]."), out);
            }
        }
        _ => {}
    }
}

/// Collects property key paths per type from page objects, and rich-text item paths from anywhere.
fn collect(
    v: &Value,
    by_type: &mut BTreeMap<String, BTreeSet<String>>,
    rich: &mut BTreeSet<String>,
) {
    match v {
        Value::Object(o) => {
            if o.get("object").and_then(Value::as_str) == Some("page")
                && let Some(props) = o.get("properties").and_then(Value::as_object)
            {
                for p in props.values() {
                    if let Some(t) = p.get("type").and_then(Value::as_str) {
                        let mut set = BTreeSet::new();
                        if let Some(inner) = p.get(t) {
                            paths(inner, "", &mut set);
                        }
                        for k in p.as_object().into_iter().flat_map(|m| m.keys()) {
                            if k != t {
                                set.insert(format!("^{k}"));
                            }
                        }
                        by_type.entry(t.to_string()).or_default().extend(set);
                    }
                }
            }
            if o.contains_key("plain_text") && o.contains_key("annotations") {
                paths(v, "", rich);
            }
            for x in o.values() {
                collect(x, by_type, rich);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, by_type, rich)),
        _ => {}
    }
}

#[tokio::test]
async fn property_shapes_match_recorded_payloads() {
    let mut real: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut real_rich = BTreeSet::new();
    for body in recorded_bodies() {
        collect(&body, &mut real, &mut real_rich);
    }
    assert!(real.len() > 15, "corpus has page properties");
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    let dump = sim.state_dump("2025-09-03");
    let mut ours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ours_rich = BTreeSet::new();
    for p in dump["pages"].as_array().expect("pages") {
        collect(&p["page"], &mut ours, &mut ours_rich);
    }
    let mut checked = 0;
    for (kind, keys) in &ours {
        let Some(theirs) = real.get(kind) else {
            println!("note: no recorded values of type {kind}; not compared");
            continue;
        };
        checked += 1;
        for k in keys {
            // Rich-text items are compared against every recorded rich-text item.
            let item = k.split_once("[].").map(|(_, rest)| rest);
            let ok = theirs.contains(k)
                || (matches!(kind.as_str(), "title" | "rich_text")
                    && item.is_some_and(|i| real_rich.contains(i)));
            assert!(ok, "{kind}: key path `{k}` not seen in recorded payloads");
        }
    }
    assert!(checked >= 20, "compared {checked} types");
    for k in &ours_rich {
        assert!(
            real_rich.contains(k),
            "rich text item path `{k}` not seen in recorded payloads"
        );
    }
    sim.shutdown().await;
}

/// Recorded block objects: payload key paths per block type, top-level key sets, and rich-text items.
#[derive(Default)]
struct BlockShapes {
    payloads: BTreeMap<String, BTreeSet<String>>,
    tops: BTreeSet<BTreeSet<String>>,
    rich: BTreeSet<String>,
}

impl BlockShapes {
    fn collect(&mut self, v: &Value, skip_request_id: bool) {
        match v {
            Value::Object(o) => {
                if o.get("object").and_then(Value::as_str) == Some("block")
                    && let Some(t) = o.get("type").and_then(Value::as_str)
                {
                    let mut set = BTreeSet::new();
                    if let Some(payload) = o.get(t) {
                        paths(payload, "", &mut set);
                    }
                    self.payloads.entry(t.to_string()).or_default().extend(set);
                    let top = o
                        .keys()
                        .filter(|k| *k != t && !(skip_request_id && *k == "request_id"))
                        .cloned()
                        .collect();
                    self.tops.insert(top);
                }
                if o.contains_key("plain_text") && o.contains_key("annotations") {
                    paths(v, "", &mut self.rich);
                }
                o.values().for_each(|x| self.collect(x, skip_request_id));
            }
            Value::Array(a) => a.iter().for_each(|x| self.collect(x, skip_request_id)),
            _ => {}
        }
    }
}

#[tokio::test]
async fn block_shapes_match_recorded_payloads() {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("note: corpus not found at {}; skipping", dir.display());
        return;
    };
    let mut real = BlockShapes::default();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Some(v) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            continue;
        };
        real.collect(&v["body"], true);
    }
    assert!(real.payloads.len() > 30, "corpus has block types");
    let sim = start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    for version in [V_NEW, V_DS] {
        let dump = sim.state_dump(version);
        let mut ours = BlockShapes::default();
        for p in dump["pages"].as_array().expect("pages") {
            for b in p["blocks"].as_array().expect("blocks") {
                ours.collect(&b["block"], false);
            }
        }
        for top in &ours.tops {
            assert!(
                real.tops.contains(top),
                "{version}: block keys {top:?} not recorded"
            );
        }
        for (kind, keys) in &ours.payloads {
            let theirs = real
                .payloads
                .get(kind)
                .unwrap_or_else(|| panic!("no recorded {kind} blocks"));
            for k in keys {
                // Rich-text items (also in table cells) are compared against every recorded item.
                let item = k
                    .split_once("[].")
                    .map(|(_, rest)| rest.trim_start_matches("[]."));
                let ok = theirs.contains(k) || item.is_some_and(|i| real.rich.contains(i));
                assert!(
                    ok,
                    "{version} {kind}: key path `{k}` not seen in recorded payloads"
                );
            }
        }
        for k in &ours.rich {
            assert!(
                real.rich.contains(k),
                "rich text item path `{k}` not recorded"
            );
        }
    }
    sim.shutdown().await;
}
