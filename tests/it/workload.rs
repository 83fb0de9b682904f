//! Random Notion workloads for the oracle: creates, edits, trash, archive, restore, purge, moves and
//! schema changes, driven by a seed.

use notion_sim::SimHandle;
use serde_json::{Value, json};

/// A page as the workload sees it.
struct PageInfo {
    id: String,
    data_source_id: String,
    in_trash: bool,
    is_archived: bool,
}

fn pages(sim: &SimHandle) -> Vec<PageInfo> {
    let dump = sim.state_dump("2026-03-11");
    dump["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| PageInfo {
            id: p["id"].as_str().unwrap().to_string(),
            data_source_id: p["data_source_id"].as_str().unwrap().to_string(),
            in_trash: p["in_trash"].as_bool().unwrap_or(false),
            is_archived: p["is_archived"].as_bool().unwrap_or(false),
        })
        .collect()
}

fn data_sources(sim: &SimHandle) -> Vec<String> {
    sim.databases()
        .into_iter()
        .flat_map(|d| d.data_sources.into_iter().map(|s| s.id))
        .collect()
}

/// Writable, non-title properties of a data source, by name.
fn plain_properties(sim: &SimHandle, ds: &str) -> Vec<String> {
    let dump = sim.state_dump("2026-03-11");
    let mut out = Vec::new();
    for db in dump["databases"].as_array().expect("databases") {
        for s in db["data_sources"].as_array().expect("sources") {
            if s["id"] != ds {
                continue;
            }
            if let Some(props) = s["data_source"]["properties"].as_object() {
                for (name, p) in props {
                    let kind = p["type"].as_str().unwrap_or("");
                    if matches!(kind, "rich_text" | "number" | "checkbox" | "url" | "email") {
                        out.push(name.clone());
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.usize(..items.len())])
}

/// Applies one round of random changes; returns a line describing them. At most `per_minute` pages
/// change in any one minute, so no minute holds more rows than the simulator's result cap.
pub fn round(sim: &SimHandle, rng: &mut fastrand::Rng, per_minute: usize) -> String {
    let sources = data_sources(sim);
    let mut log = Vec::new();
    // New pages, in bursts of at most `per_minute` per minute; sometimes enough to pass the cap.
    let bursts = if rng.u8(..10) == 0 { 3 } else { 1 };
    for _ in 0..bursts {
        if let Some(ds) = pick(rng, &sources) {
            let n = rng.usize(0..=per_minute.min(8));
            sim.create_pages(ds, n);
            log.push(format!("create {n}"));
        }
        sim.advance_clock(chrono::Duration::minutes(1));
    }
    let all = pages(sim);
    let live: Vec<&PageInfo> = all
        .iter()
        .filter(|p| !p.in_trash && !p.is_archived)
        .collect();
    let mut budget = per_minute;
    let mut take = |rng: &mut fastrand::Rng, max: usize| {
        let n = rng.usize(0..=max).min(budget);
        budget -= n;
        n
    };
    for _ in 0..take(rng, 6) {
        if let Some(p) = pick(rng, &live) {
            sim.edit_page(&p.id);
        }
    }
    for _ in 0..take(rng, 2) {
        if let Some(p) = pick(rng, &live) {
            sim.trash_page(&p.id);
            log.push("trash".into());
        }
    }
    for _ in 0..take(rng, 2) {
        if let Some(p) = pick(rng, &live) {
            sim.archive_page(&p.id);
            log.push("archive".into());
        }
    }
    let gone: Vec<&PageInfo> = all.iter().filter(|p| p.in_trash || p.is_archived).collect();
    for _ in 0..take(rng, 2) {
        if let Some(p) = pick(rng, &gone) {
            sim.restore_page(&p.id);
            log.push("restore".into());
        }
    }
    if rng.u8(..3) == 0
        && let Some(p) = pick(rng, &all)
    {
        sim.purge_page(&p.id);
        log.push("purge".into());
    }
    for _ in 0..take(rng, 2) {
        if let (Some(p), Some(to)) = (pick(rng, &live), pick(rng, &sources))
            && *to != p.data_source_id
        {
            sim.move_page(&p.id, to);
            log.push("move".into());
        }
    }
    if rng.u8(..4) == 0
        && let Some(ds) = pick(rng, &sources)
    {
        log.push(schema_change(sim, rng, ds));
    }
    log.join(", ")
}

fn schema_change(sim: &SimHandle, rng: &mut fastrand::Rng, ds: &str) -> String {
    let props = plain_properties(sim, ds);
    let fresh = format!("Field {}", rng.u32(..100_000));
    match (rng.u8(..4), pick(rng, &props)) {
        (0, _) | (_, None) => {
            sim.add_property(ds, &fresh, json!({"type": "rich_text", "rich_text": {}}));
            "add property".into()
        }
        (1, Some(name)) => {
            sim.rename_property(ds, name, &fresh);
            format!("rename property {name} to {fresh}")
        }
        (2, Some(name)) => {
            sim.remove_property(ds, name);
            format!("remove property {name}")
        }
        (_, Some(name)) => {
            let schema: Value = json!({"type": "checkbox", "checkbox": {}});
            sim.change_property_type(ds, name, schema);
            format!("change the type of {name} to checkbox")
        }
    }
}
