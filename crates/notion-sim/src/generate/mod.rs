//! Seeded workspace generators.

pub mod content;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::WorkspaceKind;
use crate::model::{
    Computed, DataSource, Database, Page, PropSchema, User, Workspace, floor_minute,
};
use crate::render::{mention_item, rich_text_item, text};
use crate::rng::Rng;

const WORDS: &[&str] = &[
    "alpha",
    "budget",
    "cache",
    "delta",
    "export",
    "forecast",
    "gateway",
    "harbor",
    "index",
    "journal",
    "kernel",
    "ledger",
    "migration",
    "network",
    "onboarding",
    "pipeline",
    "quarterly",
    "review",
    "schema",
    "timeline",
];

struct Gen {
    /// Schemas, pages and values.
    rng: Rng,
    /// Page content and comments: a stream of its own, so content never shifts page values.
    content: Rng,
    now: DateTime<Utc>,
    ws: Workspace,
    next_prop: u32,
}

/// `n` random words, the first capitalised.
fn phrase(rng: &mut Rng, n: usize) -> String {
    let words: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
    let mut s = words.join(" ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

fn opt(name: &str, color: &str, rng: &mut Rng) -> Value {
    json!({"id": rng.id()[..8].to_string(), "name": name, "color": color, "description": null})
}

impl Gen {
    fn words(&mut self, n: usize) -> String {
        phrase(&mut self.rng, n)
    }

    fn prop(&mut self, name: &str, kind: &str, config: Value) -> PropSchema {
        let id = if kind == "title" {
            "title".to_string()
        } else {
            self.next_prop += 1;
            let a = (b'a' + (self.next_prop % 26) as u8) as char;
            let b = (b'A' + ((self.next_prop / 26) % 26) as u8) as char;
            format!("{a}%3A{b}{}", self.next_prop)
        };
        PropSchema {
            id,
            name: name.into(),
            kind: kind.into(),
            config,
            computed: None,
        }
    }

    fn select(&mut self, names: &[&str]) -> Value {
        let colors = ["green", "yellow", "red", "blue", "purple", "gray"];
        let options: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| opt(n, colors[i % colors.len()], &mut self.rng))
            .collect();
        json!({"options": options})
    }

    fn database(
        &mut self,
        title: &str,
        sources: Vec<(String, Vec<PropSchema>)>,
    ) -> (String, Vec<String>) {
        let db_id = self.rng.id();
        let created = floor_minute(self.now - Duration::days(120));
        let mut ids = Vec::new();
        for (name, props) in sources {
            let id = self.rng.id();
            self.ws.sources.insert(
                id.clone(),
                DataSource {
                    id: id.clone(),
                    name,
                    database_id: db_id.clone(),
                    props,
                    created,
                    edited: created,
                },
            );
            ids.push(id);
        }
        self.ws.databases.insert(
            db_id.clone(),
            Database {
                id: db_id.clone(),
                title: title.into(),
                sources: ids.clone(),
                created,
                meta: Default::default(),
            },
        );
        (db_id, ids)
    }

    /// A page with times spread over the past `days` days.
    fn page(&mut self, ds: &str, days: i64, values: BTreeMap<String, Value>) -> String {
        let id = self.rng.id();
        let span = (days * 24 * 60).max(2) as u64;
        let created = floor_minute(self.now - Duration::minutes(1 + self.rng.below(span) as i64));
        let since = (self.now - created).num_minutes().max(1) as u64;
        let edited = floor_minute(created + Duration::minutes(self.rng.below(since) as i64));
        let people: Vec<String> = self
            .ws
            .users
            .iter()
            .filter(|u| u.email.is_some())
            .map(|u| u.id.clone())
            .collect();
        let created_by = self.rng.pick(&people).clone();
        let edited_by = self.rng.pick(&people).clone();
        self.ws.pages.insert(
            id.clone(),
            Page {
                id: id.clone(),
                data_source_id: ds.into(),
                created,
                edited,
                created_by,
                edited_by,
                in_trash: false,
                is_archived: false,
                values,
                meta: Default::default(),
            },
        );
        id
    }

    fn option_value(&mut self, config: &Value) -> Value {
        let options = config["options"].as_array().cloned().unwrap_or_default();
        if options.is_empty() {
            return Value::Null;
        }
        let o = self.rng.pick(&options);
        json!({"id": o["id"], "name": o["name"], "color": o["color"]})
    }

    fn user_value(&mut self, n: usize) -> Value {
        let people: Vec<User> = self
            .ws
            .users
            .iter()
            .filter(|u| u.email.is_some())
            .cloned()
            .collect();
        let mut out = Vec::new();
        for u in people.iter().take(n) {
            out.push(crate::render::user(u, true));
        }
        Value::Array(out)
    }

    fn set_relation(&mut self, page: &str, prop: &str, targets: &[String]) {
        let value = Value::Array(targets.iter().map(|t| json!({"id": t})).collect());
        if let Some(p) = self.ws.pages.get_mut(page) {
            p.values.insert(prop.into(), value);
        }
    }

    /// Links `from` pages to `to` pages through a dual relation, writing both sides.
    fn link(&mut self, links: &[(String, Vec<String>)], from_prop: &str, to_prop: &str) {
        let mut reverse: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, targets) in links {
            self.set_relation(from, from_prop, targets);
            for t in targets {
                reverse.entry(t.clone()).or_default().push(from.clone());
            }
        }
        for (to, sources) in reverse {
            self.set_relation(&to, to_prop, &sources);
        }
    }
}

/// Adds Notion's three status groups (To-do, In progress, Complete), one option each in order.
fn with_groups(mut cfg: Value, rng: &mut Rng) -> Value {
    let ids: Vec<Value> = cfg["options"]
        .as_array()
        .map(|o| o.iter().map(|o| o["id"].clone()).collect())
        .unwrap_or_default();
    let groups: Vec<Value> = [("To-do", "gray"), ("In progress", "blue"), ("Complete", "green")]
        .iter()
        .enumerate()
        .map(|(i, (name, color))| {
            let option_ids: Vec<Value> = ids.get(i).cloned().into_iter().collect();
            json!({"id": rng.id()[..8].to_string(), "name": name, "color": color, "option_ids": option_ids})
        })
        .collect();
    cfg["groups"] = Value::Array(groups);
    cfg
}

fn relation_config(target_ds: &str, target_db: &str, synced: &str) -> Value {
    json!({"database_id": target_db, "data_source_id": target_ds, "type": "dual_property",
           "dual_property": {"synced_property_name": synced, "synced_property_id": ""}})
}

/// Builds a workspace.
pub fn workspace(kind: WorkspaceKind, seed: u64, pages: usize, now: DateTime<Utc>) -> Workspace {
    let mut g = Gen {
        rng: Rng::new(seed),
        content: Rng::new(seed.rotate_left(32) ^ 0xC047_E47C_047E_47C0),
        now,
        ws: Workspace::default(),
        next_prop: 0,
    };
    let names = [
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Katherine Johnson",
        "Edsger Dijkstra",
    ];
    for n in names {
        let id = g.rng.id();
        let email = format!(
            "{}@example.com",
            n.split(' ').next().unwrap_or(n).to_lowercase()
        );
        g.ws.users.push(User {
            id,
            name: n.into(),
            email: Some(email),
        });
    }
    if kind == WorkspaceKind::Full {
        for i in 0..30 {
            let id = g.rng.id();
            g.ws.users.push(User {
                id,
                name: format!("Member {i:02}"),
                email: Some(format!("member{i:02}@example.com")),
            });
        }
    }
    let bot = g.rng.id();
    g.ws.users.push(User {
        id: bot,
        name: "Sync integration".into(),
        email: None,
    });
    match kind {
        WorkspaceKind::Large => large(&mut g, if pages == 0 { 10_000 } else { pages }),
        WorkspaceKind::Wide => wide(&mut g, if pages == 0 { 64 } else { pages }),
        WorkspaceKind::Demo => {
            demo(&mut g, pages);
        }
        WorkspaceKind::Full => {
            let tasks = demo(&mut g, pages);
            full(&mut g, &tasks);
        }
    }
    link_properties(&mut g.ws);
    g.ws
}

/// Swaps the property names the generator gives rollups for ids, and points each dual relation at
/// its synced property.
fn link_properties(ws: &mut Workspace) {
    let find = |ws: &Workspace, ds: &str, name: &str| {
        ws.sources
            .get(ds)
            .and_then(|s| s.props.iter().find(|p| p.name == name))
            .map(|p| p.id.clone())
            .unwrap_or_default()
    };
    let ids: Vec<String> = ws.sources.keys().cloned().collect();
    for ds in ids {
        let props = ws.sources[&ds].props.clone();
        let mut linked = props.clone();
        for (i, p) in props.iter().enumerate() {
            let target_ds = |rel: &str| {
                props
                    .iter()
                    .find(|r| r.name == rel)
                    .and_then(|r| r.config["data_source_id"].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            if let Some(Computed::Rollup {
                relation,
                target,
                function,
            }) = &p.computed
            {
                linked[i].computed = Some(Computed::Rollup {
                    relation: find(ws, &ds, relation),
                    target: find(ws, &target_ds(relation), target),
                    function: function.clone(),
                });
            }
            if p.config["type"] == "dual_property" {
                let target = p.config["data_source_id"].as_str().unwrap_or_default();
                let synced = p.config["dual_property"]["synced_property_name"]
                    .as_str()
                    .unwrap_or_default();
                linked[i].config["dual_property"]["synced_property_id"] =
                    json!(find(ws, target, synced));
            }
        }
        if let Some(s) = ws.sources.get_mut(&ds) {
            s.props = linked;
        }
    }
}

fn large(g: &mut Gen, n: usize) {
    let status = g.select(&["Backlog", "Active", "Closed"]);
    let props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Status", "select", status.clone()),
        g.prop("Score", "number", json!({"format": "number"})),
        g.prop("Done", "checkbox", json!({})),
        g.prop("Updated", "date", json!({})),
    ];
    let (_, ids) = g.database("Items", vec![("Items".into(), props)]);
    for i in 0..n {
        let mut v = BTreeMap::new();
        let title = format!("Item {i:07} {}", g.words(2));
        v.insert("Name".into(), Value::String(title));
        let status_name = g.option_value(&status)["name"].clone();
        v.insert("Status".into(), status_name);
        v.insert("Score".into(), json!(g.rng.below(1000)));
        v.insert("Done".into(), json!(g.rng.below(2) == 1));
        let day = (g.now - Duration::days(g.rng.below(365) as i64))
            .format("%Y-%m-%d")
            .to_string();
        v.insert("Updated".into(), Value::String(day));
        g.page(&ids[0], 365, v);
    }
}

/// `n` databases `Team 00`, `Team 01`, ... of five pages each.
fn wide(g: &mut Gen, n: usize) {
    for d in 0..n {
        let props = vec![
            g.prop("Name", "title", json!({})),
            g.prop("Score", "number", json!({"format": "number"})),
        ];
        let name = format!("Team {d:02}");
        let (_, ids) = g.database(&name, vec![(name.clone(), props)]);
        for i in 0..5 {
            let mut v = BTreeMap::new();
            v.insert("Name".into(), Value::String(format!("{name} item {i}")));
            v.insert("Score".into(), json!(g.rng.below(1000)));
            g.page(&ids[0], 30, v);
        }
    }
}

/// The demo workspace; returns (tasks data source id, tasks database id, task page ids).
fn demo(g: &mut Gen, scale: usize) -> (String, String, Vec<String>) {
    let k = if scale == 0 {
        1
    } else {
        scale.div_ceil(60).max(1)
    };
    let category = g.select(&["Guide", "Reference", "Runbook"]);
    let tags = g.select(&["backend", "frontend", "data", "ops"]);
    let priority = g.select(&["High", "Medium", "Low"]);
    let status_cfg = json!({
        "options": [opt("Not started", "default", &mut g.rng), opt("In progress", "blue", &mut g.rng), opt("Done", "green", &mut g.rng)],
        "groups": []
    });
    let status_cfg = with_groups(status_cfg, &mut g.rng);
    // Ids first, so relations can name their targets.
    let docs_props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Category", "select", category.clone()),
        g.prop("Tags", "multi_select", tags.clone()),
        g.prop("Owner", "people", json!({})),
        g.prop("Created", "created_time", json!({})),
        g.prop("Last edited", "last_edited_time", json!({})),
    ];
    let (docs_db, docs) = g.database("Documentation", vec![("Documentation".into(), docs_props)]);
    let tasks_props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Status", "status", status_cfg.clone()),
        g.prop("Priority", "select", priority.clone()),
        g.prop("Value", "number", json!({"format": "number"})),
        g.prop("Effort", "number", json!({"format": "number"})),
        g.prop("Assignee", "people", json!({})),
        g.prop("Due", "date", json!({})),
        g.prop("Done", "checkbox", json!({})),
        g.prop("Created", "created_time", json!({})),
        g.prop("Last edited", "last_edited_time", json!({})),
    ];
    let (tasks_db, tasks) = g.database("Tasks", vec![("Tasks".into(), tasks_props)]);
    let notes_props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Text", "rich_text", json!({})),
        g.prop("URL", "url", json!({})),
    ];
    let (notes_db, notes) = g.database("Notes", vec![("Notes".into(), notes_props)]);
    let sprint_props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Dates", "date", json!({})),
    ];
    let (sprints_db, sprints) = g.database("Sprints", vec![("Sprints".into(), sprint_props)]);
    let (docs, tasks, notes, sprints) = (
        docs[0].clone(),
        tasks[0].clone(),
        notes[0].clone(),
        sprints[0].clone(),
    );

    // Relations, ROI formula and rollups.
    let rel = |g: &mut Gen, ds: &str, name: &str, target: &str, target_db: &str, synced: &str| {
        let p = g.prop(name, "relation", relation_config(target, target_db, synced));
        if let Some(s) = g.ws.sources.get_mut(ds) {
            s.props.push(p);
        }
    };
    rel(g, &tasks, "Documentation", &docs, &docs_db, "Tasks");
    rel(g, &docs, "Tasks", &tasks, &tasks_db, "Documentation");
    rel(g, &tasks, "Notes", &notes, &notes_db, "Tasks");
    rel(g, &notes, "Tasks", &tasks, &tasks_db, "Notes");
    rel(g, &tasks, "Sprint", &sprints, &sprints_db, "Tasks");
    rel(g, &sprints, "Tasks", &tasks, &tasks_db, "Sprint");
    let value_id = g.ws.sources[&tasks]
        .props
        .iter()
        .find(|p| p.name == "Value")
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let effort_id = g.ws.sources[&tasks]
        .props
        .iter()
        .find(|p| p.name == "Effort")
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let token = |id: &str| {
        format!("{{{{notion:block_property:{id}:00000000-0000-0000-0000-000000000000:{tasks}}}}}")
    };
    let mut roi = g.prop(
        "ROI",
        "formula",
        json!({"expression": format!("round({}/({}*400)*10)/10", token(&value_id), token(&effort_id))}),
    );
    roi.computed = Some(Computed::Formula);
    let mut count = g.prop("Task count", "rollup", json!({"function": "count", "relation_property_name": "Tasks", "rollup_property_name": "Name"}));
    count.computed = Some(Computed::Rollup {
        relation: "Tasks".into(),
        target: "Name".into(),
        function: "count".into(),
    });
    let mut sum = g.prop("Total value", "rollup", json!({"function": "sum", "relation_property_name": "Tasks", "rollup_property_name": "Value"}));
    sum.computed = Some(Computed::Rollup {
        relation: "Tasks".into(),
        target: "Value".into(),
        function: "sum".into(),
    });
    if let Some(s) = g.ws.sources.get_mut(&tasks) {
        s.props.push(roi);
    }
    if let Some(s) = g.ws.sources.get_mut(&sprints) {
        s.props.push(count);
        s.props.push(sum);
    }

    let mut doc_ids = Vec::new();
    for _ in 0..30 * k {
        let mut v = BTreeMap::new();
        let t = g.words(3);
        v.insert("Name".into(), text(&t));
        v.insert("Category".into(), g.option_value(&category));
        let tag = g.option_value(&tags);
        v.insert("Tags".into(), json!([tag]));
        let n = 1 + g.rng.below(2) as usize;
        v.insert("Owner".into(), g.user_value(n));
        doc_ids.push(g.page(&docs, 90, v));
    }
    let mut sprint_ids = Vec::new();
    for i in 0..6 * k {
        let mut v = BTreeMap::new();
        v.insert("Name".into(), text(&format!("Sprint {}", i + 1)));
        let start = (g.now - Duration::days(14 * (6 - i as i64 % 6)))
            .format("%Y-%m-%d")
            .to_string();
        let end = (g.now - Duration::days(14 * (6 - i as i64 % 6) - 13))
            .format("%Y-%m-%d")
            .to_string();
        v.insert(
            "Dates".into(),
            json!({"start": start, "end": end, "time_zone": null}),
        );
        sprint_ids.push(g.page(&sprints, 90, v));
    }
    let mut task_ids = Vec::new();
    for _ in 0..60 * k {
        let mut v = BTreeMap::new();
        let t = g.words(4);
        v.insert("Name".into(), text(&t));
        v.insert("Status".into(), g.option_value(&status_cfg));
        v.insert("Priority".into(), g.option_value(&priority));
        v.insert("Value".into(), json!(100 * (1 + g.rng.below(50))));
        v.insert("Effort".into(), json!(1 + g.rng.below(8)));
        v.insert("Assignee".into(), g.user_value(1));
        let due = (g.now + Duration::days(g.rng.below(60) as i64 - 30))
            .format("%Y-%m-%d")
            .to_string();
        v.insert(
            "Due".into(),
            json!({"start": due, "end": null, "time_zone": null}),
        );
        v.insert("Done".into(), json!(g.rng.below(3) == 0));
        task_ids.push(g.page(&tasks, 90, v));
    }
    let mut note_ids = Vec::new();
    for i in 0..40 * k {
        let mut v = BTreeMap::new();
        v.insert("Name".into(), text(&g.words(2)));
        let target = task_ids[i % task_ids.len()].clone();
        let body = json!([
            rich_text_item(&format!("{} see ", g.words(6))),
            mention_item(&target, "a task")
        ]);
        v.insert("Text".into(), body);
        v.insert(
            "URL".into(),
            json!(format!("https://example.com/notes/{i}")),
        );
        note_ids.push(g.page(&notes, 90, v));
    }
    // Sprint 1 holds 30 tasks and Documentation page 1 is linked from 28: both exceed the 25-item limit.
    let sprint_links: Vec<(String, Vec<String>)> = task_ids
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                t.clone(),
                vec![
                    sprint_ids[if i < 30 {
                        0
                    } else {
                        1 + i % (sprint_ids.len() - 1)
                    }]
                    .clone(),
                ],
            )
        })
        .collect();
    g.link(&sprint_links, "Sprint", "Tasks");
    let doc_links: Vec<(String, Vec<String>)> = task_ids
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                t.clone(),
                vec![
                    doc_ids[if i < 28 {
                        0
                    } else {
                        1 + i % (doc_ids.len() - 1)
                    }]
                    .clone(),
                ],
            )
        })
        .collect();
    g.link(&doc_links, "Documentation", "Tasks");
    let note_links: Vec<(String, Vec<String>)> = note_ids
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), vec![task_ids[(i * 7) % task_ids.len()].clone()]))
        .collect();
    g.link(&note_links, "Tasks", "Notes");
    content::demo(g, &doc_ids, &task_ids, &note_ids, &sprint_ids);
    (tasks, tasks_db, task_ids)
}

fn full(g: &mut Gen, tasks: &(String, String, Vec<String>)) {
    let inv_props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Qty", "number", json!({"format": "number"})),
    ];
    let (inv_db, inv) = g.database("Inventory", vec![("Inventory".into(), inv_props)]);
    let mut items = Vec::new();
    for i in 0..150 {
        let mut v = BTreeMap::new();
        v.insert("Name".into(), text(&format!("Part {i:03}")));
        v.insert("Qty".into(), json!(g.rng.below(100)));
        items.push(g.page(&inv[0], 60, v));
    }
    let select = g.select(&["One", "Two", "Three"]);
    let multi = g.select(&["x", "y", "z"]);
    let status = json!({"options": [opt("Todo", "default", &mut g.rng), opt("Doing", "blue", &mut g.rng), opt("Done", "green", &mut g.rng)], "groups": []});
    let status = with_groups(status, &mut g.rng);
    let mut props = vec![
        g.prop("Name", "title", json!({})),
        g.prop("Text", "rich_text", json!({})),
        g.prop("Number", "number", json!({"format": "dollar"})),
        g.prop("Select", "select", select.clone()),
        g.prop("Multi", "multi_select", multi.clone()),
        g.prop("Status", "status", status.clone()),
        g.prop("Date", "date", json!({})),
        g.prop("People", "people", json!({})),
        g.prop("Files", "files", json!({})),
        g.prop("Checkbox", "checkbox", json!({})),
        g.prop("URL", "url", json!({})),
        g.prop("Email", "email", json!({})),
        g.prop("Phone", "phone_number", json!({})),
        g.prop("Items", "relation", json!({"database_id": inv_db, "data_source_id": inv[0], "type": "single_property", "single_property": {}})),
        g.prop("Tasks", "relation", json!({"database_id": tasks.1, "data_source_id": tasks.0, "type": "single_property", "single_property": {}})),
        g.prop("Created", "created_time", json!({})),
        g.prop("Created by", "created_by", json!({})),
        g.prop("Edited", "last_edited_time", json!({})),
        g.prop("Edited by", "last_edited_by", json!({})),
        g.prop("ID", "unique_id", json!({"prefix": "EV"})),
        g.prop("Verification", "verification", json!({})),
        g.prop("Place", "place", json!({})),
        g.prop("Button", "button", json!({})),
        g.prop("Hologram", "hologram", json!({"beam": "coherent"})),
    ];
    // Expressions whose results are the four formula types (Notion evaluates them; so does a
    // recreated schema).
    for (name, expression) in [
        ("F string", "\"computed\""),
        ("F number", "42"),
        ("F boolean", "true"),
        ("F date", "parseDate(\"2026-01-01\")"),
    ] {
        let mut p = g.prop(name, "formula", json!({"expression": expression}));
        p.computed = Some(Computed::Formula);
        props.push(p);
    }
    let mut roll = g.prop("Item count", "rollup", json!({"function": "count", "relation_property_name": "Items", "rollup_property_name": "Name"}));
    roll.computed = Some(Computed::Rollup {
        relation: "Items".into(),
        target: "Qty".into(),
        function: "count".into(),
    });
    props.push(roll);
    let mut roll = g.prop("Item qty", "rollup", json!({"function": "sum", "relation_property_name": "Items", "rollup_property_name": "Qty"}));
    roll.computed = Some(Computed::Rollup {
        relation: "Items".into(),
        target: "Qty".into(),
        function: "sum".into(),
    });
    props.push(roll);
    let (_, every) = g.database("Everything", vec![("Everything".into(), props)]);
    let mut everything = Vec::new();
    for i in 0..20usize {
        let mut v = BTreeMap::new();
        let title = if i == 1 {
            let mut t = vec![rich_text_item("Mentions: ")];
            for it in items.iter().take(30) {
                t.push(mention_item(it, "part"));
            }
            Value::Array(t)
        } else {
            text(&format!("Everything {i}"))
        };
        v.insert("Name".into(), title);
        v.insert(
            "Text".into(),
            json!([
                rich_text_item("See "),
                mention_item(&tasks.2[i], "task"),
                rich_text_item(" for context.")
            ]),
        );
        v.insert("Number".into(), json!(i as f64 * 1.5));
        v.insert("Select".into(), g.option_value(&select));
        let m = g.option_value(&multi);
        v.insert("Multi".into(), json!([m]));
        v.insert("Status".into(), g.option_value(&status));
        let date = match i % 3 {
            0 => json!({"start": "2026-02-01", "end": null, "time_zone": null}),
            1 => json!({"start": "2026-02-01T10:30:00.000+00:00", "end": null, "time_zone": null}),
            _ => json!({"start": "2026-02-01", "end": "2026-02-05", "time_zone": null}),
        };
        v.insert("Date".into(), date);
        let n = if i == 2 { 30 } else { 2 };
        v.insert("People".into(), g.user_value(n));
        let spec = g.rng.id();
        let spec = crate::files::generated(&mut g.ws, &format!("{spec}/spec.pdf"));
        v.insert("Files".into(), json!([
            {"name": "spec.pdf", "type": "file", "file": spec},
            {"name": "site", "type": "external", "external": {"url": "https://example.com/spec"}}
        ]));
        v.insert("Checkbox".into(), json!(i % 2 == 0));
        v.insert("URL".into(), json!(format!("https://example.com/{i}")));
        v.insert("Email".into(), json!(format!("user{i}@example.com")));
        v.insert("Phone".into(), json!(format!("+1 555 01{i:02}")));
        let n_items = match i {
            0 => 120,
            3 => 30,
            _ => 3,
        };
        let targets: Vec<Value> = items
            .iter()
            .take(n_items)
            .map(|t| json!({"id": t}))
            .collect();
        v.insert("Items".into(), Value::Array(targets));
        v.insert("Tasks".into(), json!([{"id": tasks.2[i]}]));
        v.insert("ID".into(), json!({"prefix": "EV", "number": i + 1}));
        let verifier = g.ws.users[0].id.clone();
        v.insert("Verification".into(), json!({"state": "verified", "date": {"start": "2026-01-02T00:00:00.000Z", "end": null, "time_zone": null}, "verified_by": {"object": "user", "id": verifier}}));
        v.insert("Place".into(), json!({"lat": 48.8584, "lon": 2.2945, "name": "Tour Eiffel", "address": "Paris", "aws_place_id": null, "google_place_id": null}));
        v.insert(
            "Hologram".into(),
            json!({"beam": "coherent", "intensity": i}),
        );
        everything.push(g.page(&every[0], 30, v));
    }
    g.ws.next_unique.insert(every[0].clone(), 21);
    let stage = g.select(&["Idea", "Build", "Ship"]);
    let mk = |g: &mut Gen| {
        vec![
            g.prop("Name", "title", json!({})),
            g.prop("Stage", "select", stage.clone()),
        ]
    };
    let sources = vec![
        ("Projects 2025".to_string(), mk(g)),
        ("Projects 2026".to_string(), mk(g)),
    ];
    let (_, ds) = g.database("Projects", sources);
    let mut projects = Vec::new();
    for d in &ds {
        for i in 0..8 {
            let mut v = BTreeMap::new();
            v.insert("Name".into(), text(&format!("Project {i}")));
            v.insert("Stage".into(), g.option_value(&stage));
            projects.push(g.page(d, 60, v));
        }
    }
    content::full(g, &everything, &projects);
}

/// Plausible values for every writable property of a data source (relations left empty).
pub fn sample_values(
    ws: &mut Workspace,
    ds_id: &str,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(ds) = ws.sources.get(ds_id).cloned() else {
        return out;
    };
    let people: Vec<User> = ws
        .users
        .iter()
        .filter(|u| u.email.is_some())
        .cloned()
        .collect();
    let pick_option = |rng: &mut Rng, cfg: &Value| -> Value {
        match cfg["options"].as_array() {
            Some(o) if !o.is_empty() => {
                let o = rng.pick(o);
                json!({"id": o["id"], "name": o["name"], "color": o["color"]})
            }
            _ => Value::Null,
        }
    };
    for p in &ds.props {
        let v = match p.kind.as_str() {
            "title" => Value::String(phrase(rng, 3)),
            "rich_text" => Value::String(phrase(rng, 8)),
            "number" => json!(rng.below(1000)),
            "select" | "status" => pick_option(rng, &p.config),
            "multi_select" => {
                let o = pick_option(rng, &p.config);
                if o.is_null() { json!([]) } else { json!([o]) }
            }
            "date" => {
                let d = (now + Duration::days(rng.below(60) as i64 - 30))
                    .format("%Y-%m-%d")
                    .to_string();
                json!({"start": d, "end": null, "time_zone": null})
            }
            "people" if !people.is_empty() => json!([crate::render::user(rng.pick(&people), true)]),
            "checkbox" => json!(rng.below(2) == 1),
            "url" => json!(format!("https://example.com/{}", rng.below(100_000))),
            "email" => json!(format!("user{}@example.com", rng.below(1000))),
            "phone_number" => json!(format!("+1 555 {:04}", rng.below(10_000))),
            "unique_id" => {
                let n = ws.next_unique.entry(ds.id.clone()).or_insert(1);
                let v = json!({"prefix": p.config.get("prefix").cloned().unwrap_or(Value::Null), "number": *n});
                *n += 1;
                v
            }
            _ => continue,
        };
        out.insert(p.name.clone(), v);
    }
    out
}
