//! The bronze oracle: what bronze must hold after a sync, derived from the simulator's state dump.
//!
//! After any sync, every page Notion lists in its default partition has exactly one live row equal to the
//! simulator's untruncated rendering, rows are never lost, a page never has two live rows, and every
//! stored payload is in the history table once. After a full refresh or `--detect-deletes`, archived pages
//! are live rows flagged `is_archived`, and every page bronze knew that was trashed, moved away, or purged
//! is flagged deleted with the matching reason.
//!
//! Formula and rollup values are compared only after a full refresh: Notion recomputes them when a related
//! page changes without touching the page's own `last_edited_time`, so no incremental reader can see it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use notion_sync::notion::files::unsigned;
use notion_sync::sink::delta::StoredPage;
use serde_json::Value;

use crate::support::World;

/// How much a sync promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// Incremental: live pages of the default partition are exact.
    Incremental,
    /// `--detect-deletes`: also archive and delete flags.
    DetectDeletes,
    /// `--full-refresh`: also derived values.
    FullRefresh,
}

/// What earlier checks saw, to assert that nothing is ever lost.
#[derive(Debug, Default)]
pub struct Memory {
    keys: BTreeSet<(String, String)>,
    versions: BTreeSet<(String, String)>,
}

/// `page` with formula and rollup values blanked.
fn without_derived(page: &Value) -> Value {
    let mut page = page.clone();
    if let Some(props) = page.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            let kind = prop["type"].as_str().unwrap_or("").to_string();
            if kind == "formula" || kind == "rollup" {
                prop[&kind] = Value::Null;
            }
        }
    }
    page
}

/// Checks bronze against the simulator (databases named in `only`, all when `None`); panics with every
/// difference found.
pub async fn check(
    world: &World,
    api_version: &str,
    only: Option<&[&str]>,
    promise: Promise,
    memory: &mut Memory,
) {
    let problems = differences(world, api_version, only, promise, memory).await;
    assert!(
        problems.is_empty(),
        "bronze differs from Notion ({promise:?}):\n{}",
        problems.join("\n")
    );
}

async fn differences(
    world: &World,
    api_version: &str,
    only: Option<&[&str]>,
    promise: Promise,
    memory: &mut Memory,
) -> Vec<String> {
    let dump = world.sim.state_dump(api_version);
    let names = world.names();
    let wanted =
        |db: &str| only.is_none_or(|o| o.iter().any(|n| names.get(db).is_some_and(|x| x == n)));
    let sim: HashMap<&str, &Value> = dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let purged: BTreeSet<&str> = dump["purged_page_ids"]
        .as_array()
        .expect("purged ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let stored = world.pages().await;
    let mut problems = Vec::new();
    let mut rows: BTreeMap<(String, String), &StoredPage> = BTreeMap::new();
    for s in &stored {
        let key = (s.record.page_id.clone(), s.record.database_id.clone());
        if rows.insert(key.clone(), s).is_some() {
            problems.push(format!("duplicate key {key:?}"));
        }
    }
    // Nothing is ever lost, and a page has at most one live row.
    for key in &memory.keys {
        if !rows.contains_key(key) {
            problems.push(format!("row {key:?} disappeared"));
        }
    }
    let mut live_per_page: HashMap<&str, usize> = HashMap::new();
    for s in rows.values().filter(|s| !s.record.is_deleted) {
        *live_per_page.entry(s.record.page_id.as_str()).or_default() += 1;
    }
    for (page, n) in &live_per_page {
        if *n > 1 {
            problems.push(format!("page {page} has {n} live rows"));
        }
    }
    let derived = promise == Promise::FullRefresh;
    let deletions = promise != Promise::Incremental;
    // Hosted files are signed anew at every read: compared without their signatures.
    let same = |a: &Value, b: &Value| {
        let (a, b) = (unsigned(a), unsigned(b));
        if derived {
            a == b
        } else {
            without_derived(&a) == without_derived(&b)
        }
    };
    // Pages Notion holds.
    for (id, p) in &sim {
        let db = p["database_id"].as_str().unwrap();
        if !wanted(db) {
            continue;
        }
        let trashed = p["in_trash"].as_bool().unwrap_or(false);
        let archived = p["is_archived"].as_bool().unwrap_or(false);
        let full = &p["page_full"];
        let row = rows.get(&(id.to_string(), db.to_string()));
        if !trashed && (!archived || deletions) {
            let Some(row) = row else {
                problems.push(format!("page {id} of {db} missing"));
                continue;
            };
            let r = &row.record;
            let payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
            if !same(&payload, full) {
                problems.push(format!(
                    "page {id}: payload differs at {}",
                    first_difference(&payload, full)
                ));
            }
            if r.is_deleted || r.is_archived != archived || r.in_trash {
                problems.push(format!(
                    "page {id}: flags deleted={} archived={} trash={} (notion archived={archived})",
                    r.is_deleted, r.is_archived, r.in_trash
                ));
            }
            problems.extend(envelope_differences(r, &payload, &names));
            if r.data_source_id != p["data_source_id"].as_str().unwrap() {
                problems.push(format!("page {id}: data source {}", r.data_source_id));
            }
            let truncated = p["page"] != p["page_full"];
            if truncated == r.hydrated_properties.is_empty() && !r.is_deleted {
                problems.push(format!(
                    "page {id}: hydrated {:?} but truncated={truncated}",
                    r.hydrated_properties
                ));
            }
        } else if trashed
            && deletions
            && let Some(row) = row
        {
            let r = &row.record;
            // The payload is the page as found in the trash; later schema changes do not reach it.
            if !r.is_deleted || !r.in_trash || r.deleted_reason.as_deref() != Some("trashed") {
                problems.push(format!(
                    "trashed page {id}: deleted={} trash={} reason={:?}",
                    r.is_deleted, r.in_trash, r.deleted_reason
                ));
            }
        }
        if deletions {
            // Copies under databases the page left are flagged.
            for ((pid, other), row) in rows.range((id.to_string(), String::new())..) {
                if pid != id {
                    break;
                }
                if other != db && !row.record.is_deleted {
                    problems.push(format!("page {id} moved to {db} but live in {other}"));
                }
            }
        }
    }
    // Rows of pages Notion no longer has.
    for ((id, db), row) in &rows {
        if sim.contains_key(id.as_str()) {
            continue;
        }
        if !purged.contains(id.as_str()) {
            problems.push(format!("row {id} of {db} is not a page Notion ever had"));
        } else if deletions && wanted(db) && !row.record.is_deleted {
            problems.push(format!("purged page {id} is not flagged"));
        }
    }
    // History: every stored payload once, never lost.
    let versions = world.bronze().read_versions().await.expect("history reads");
    let mut history: BTreeMap<(String, String), String> = BTreeMap::new();
    for v in &versions {
        let key = (v.page_id.clone(), v.payload_sha256.clone());
        if history.insert(key.clone(), v.payload.clone()).is_some() {
            problems.push(format!("history holds {key:?} twice"));
        }
    }
    for key in &memory.versions {
        if !history.contains_key(key) {
            problems.push(format!("history lost {key:?}"));
        }
    }
    for s in rows.values() {
        let r = &s.record;
        match history.get(&(r.page_id.clone(), r.payload_sha256.clone())) {
            Some(payload) if payload == &r.payload => {}
            Some(_) => problems.push(format!("history payload of {} differs", r.page_id)),
            None => problems.push(format!("history lacks the stored version of {}", r.page_id)),
        }
    }
    memory.keys = rows.keys().cloned().collect();
    memory.versions = history.into_keys().collect();
    problems
}

/// Columns derived from the payload must agree with it.
fn envelope_differences(
    r: &notion_sync::bronze::PageRecord,
    payload: &Value,
    names: &BTreeMap<String, String>,
) -> Vec<String> {
    let ts = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.to_utc())
    };
    let props: Value = serde_json::from_str(&r.properties).unwrap_or(Value::Null);
    let mut out = Vec::new();
    let checks = [
        (
            "last_edited_time",
            Some(r.last_edited_time) == ts(&payload["last_edited_time"]),
        ),
        (
            "created_time",
            Some(r.created_time) == ts(&payload["created_time"]),
        ),
        ("url", r.url.as_deref() == payload["url"].as_str()),
        (
            "created_by",
            r.created_by.as_deref() == payload["created_by"]["id"].as_str(),
        ),
        ("properties", props == payload["properties"]),
        (
            "payload_sha256",
            r.payload_sha256 == notion_sync::extract::convert::payload_sha256(&r.payload),
        ),
        (
            "database_name",
            names.get(&r.database_id) == Some(&r.database_name),
        ),
    ];
    for (column, ok) in checks {
        if !ok {
            out.push(format!(
                "page {}: column {column} disagrees with the payload",
                r.page_id
            ));
        }
    }
    out
}

/// The path and values where two JSON documents first differ.
fn first_difference(a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                if x.get(k) != y.get(k) {
                    let inner = first_difference(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    return format!("/{k}{inner}");
                }
            }
            String::new()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return format!("/{i}{}", first_difference(p, q));
                }
            }
            String::new()
        }
        _ => format!(": bronze {a} / notion {b}"),
    }
}
