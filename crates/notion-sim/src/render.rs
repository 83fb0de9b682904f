//! JSON rendering of objects exactly as the API serves them, per `Notion-Version`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Version;
use crate::content;
use crate::model::{
    Block, Comment, Computed, DataSource, Database, Page, PropSchema, User, Workspace, iso,
};

/// Items kept per property in page objects.
pub const TRUNCATE_AT: usize = 25;

/// A rich-text array with plain text.
pub fn text(content: &str) -> Value {
    json!([rich_text_item(content)])
}

/// One rich-text item.
pub fn rich_text_item(content: &str) -> Value {
    json!({
        "type": "text",
        "text": {"content": content, "link": null},
        "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"},
        "plain_text": content,
        "href": null
    })
}

/// A page-mention rich-text item.
pub fn mention_item(page_id: &str, label: &str) -> Value {
    json!({
        "type": "mention",
        "mention": {"type": "page", "page": {"id": page_id}},
        "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"},
        "plain_text": label,
        "href": format!("https://www.notion.so/{}", page_id.replace('-', ""))
    })
}

/// A full user object; `person.email` only when the integration may read email addresses.
pub fn user(u: &User, show_email: bool) -> Value {
    match &u.email {
        Some(email) => {
            let person = if show_email {
                json!({"email": email})
            } else {
                json!({})
            };
            json!({"object": "user", "id": u.id, "name": u.name, "avatar_url": null, "type": "person", "person": person})
        }
        None => {
            json!({"object": "user", "id": u.id, "name": u.name, "avatar_url": null, "type": "bot", "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": "Simulated workspace"}})
        }
    }
}

/// Stored user objects (people values) as served: without `person.email` when emails are hidden.
fn served_users(ws: &Workspace, v: Value) -> Value {
    match v {
        Value::Array(items) if ws.hide_emails => Value::Array(
            items
                .into_iter()
                .map(|mut u| {
                    if let Some(person) = u.get_mut("person").and_then(Value::as_object_mut) {
                        person.remove("email");
                    }
                    u
                })
                .collect(),
        ),
        v => v,
    }
}

fn partial_user(id: &str) -> Value {
    json!({"object": "user", "id": id})
}

fn slug(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The page URL Notion shows.
pub fn page_url(title: &str, id: &str) -> String {
    let hex = id.replace('-', "");
    let slug = slug(title);
    if slug.is_empty() {
        format!("https://www.notion.so/{hex}")
    } else {
        format!("https://www.notion.so/{slug}-{hex}")
    }
}

/// Evaluates a computed property on a page.
fn computed_value(ws: &Workspace, page: &Page, ds: &DataSource, prop: &PropSchema) -> Value {
    match &prop.computed {
        Some(Computed::Formula) => crate::formula::evaluate(
            page,
            ds,
            prop.config["expression"].as_str().unwrap_or_default(),
        ),
        Some(Computed::Rollup {
            relation,
            target,
            function,
        }) => rollup(ws, page, ds, relation, target, function),
        None => Value::Null,
    }
}

/// The numeric reading of a rendered value (numbers, number formulas and rollups).
fn number_of(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v["number"].as_f64())
}

/// Whether a rendered value is empty, as rollups count it.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Object(o) => o
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| o.get(t).is_none_or(Value::is_null)),
        _ => false,
    }
}

thread_local! {
    /// Rollups being evaluated on this thread: rollups of rollups stop at a few levels.
    static ROLLUP_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A rollup over a relation (by property ids) with one of Notion's functions; functions the simulator
/// cannot compute, and rollups nested too deep (a cycle of rollups), give `unsupported`.
fn rollup(
    ws: &Workspace,
    page: &Page,
    ds: &DataSource,
    relation: &str,
    target: &str,
    function: &str,
) -> Value {
    let rel = ds.props.iter().find(|p| p.id == relation);
    let target_ds = rel
        .and_then(|r| r.config["data_source_id"].as_str())
        .and_then(|t| ws.sources.get(t));
    let target_prop = target_ds.and_then(|t| t.props.iter().find(|p| p.id == target));
    let ids: Vec<&str> = rel
        .and_then(|r| page.values.get(&r.name))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    let depth = ROLLUP_DEPTH.with(std::cell::Cell::get);
    if depth >= 4 {
        return json!({"type": "unsupported", "unsupported": {}, "function": function});
    }
    ROLLUP_DEPTH.with(|d| d.set(depth + 1));
    let values: Vec<Value> = match (target_ds, target_prop) {
        (Some(tds), Some(tp)) => ids
            .iter()
            .filter_map(|id| ws.pages.get(*id))
            .filter_map(|p| property_value(ws, p, tds, &tp.name, true))
            .map(|v| v[tp.kind.as_str()].clone())
            .collect(),
        _ => Vec::new(),
    };
    ROLLUP_DEPTH.with(|d| d.set(depth));
    let kind = target_prop.map_or("", |p| p.kind.as_str());
    let total = values.len().max(1) as f64;
    let empty = values.iter().filter(|v| is_empty_value(v)).count();
    let numbers: Vec<f64> = values.iter().filter_map(number_of).collect();
    let dates: Vec<&str> = values
        .iter()
        .filter_map(|v| v["start"].as_str().or_else(|| v["date"]["start"].as_str()))
        .collect();
    let checked = values.iter().filter(|v| **v == Value::Bool(true)).count();
    let number = |n: Value| json!({"type": "number", "number": n, "function": function});
    let stat = |f: fn(&[f64]) -> f64| {
        if numbers.is_empty() {
            number(Value::Null)
        } else {
            number(json!(f(&numbers)))
        }
    };
    let date = |d: Value| json!({"type": "date", "date": d, "function": function});
    let mut sorted_dates = dates.clone();
    sorted_dates.sort_unstable();
    let one_date = |d: Option<&&str>| match d {
        Some(d) => date(json!({"start": d, "end": null, "time_zone": null})),
        None => date(Value::Null),
    };
    match function {
        "count" => number(json!(ids.len())),
        "count_values" => number(json!(values.len() - empty)),
        "empty" => number(json!(empty)),
        "not_empty" => number(json!(values.len() - empty)),
        "unique" => {
            let mut seen: Vec<String> = values.iter().map(Value::to_string).collect();
            seen.sort_unstable();
            seen.dedup();
            number(json!(seen.len()))
        }
        "percent_empty" => number(json!(empty as f64 / total)),
        "percent_not_empty" => number(json!((values.len() - empty) as f64 / total)),
        "sum" => number(json!(numbers.iter().sum::<f64>())),
        "average" => stat(|n| n.iter().sum::<f64>() / n.len() as f64),
        "median" => stat(|n| {
            let mut s = n.to_vec();
            s.sort_by(f64::total_cmp);
            let m = s.len() / 2;
            if s.len() % 2 == 0 {
                (s[m - 1] + s[m]) / 2.0
            } else {
                s[m]
            }
        }),
        "min" => stat(|n| n.iter().copied().fold(f64::INFINITY, f64::min)),
        "max" => stat(|n| n.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        "range" => stat(|n| {
            n.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                - n.iter().copied().fold(f64::INFINITY, f64::min)
        }),
        "checked" => number(json!(checked)),
        "unchecked" => number(json!(values.len() - checked)),
        "percent_checked" => number(json!(checked as f64 / total)),
        "percent_unchecked" => number(json!((values.len() - checked) as f64 / total)),
        "earliest_date" => one_date(sorted_dates.first()),
        "latest_date" => one_date(sorted_dates.last()),
        "date_range" => match (sorted_dates.first(), sorted_dates.last()) {
            (Some(a), Some(b)) => date(json!({"start": a, "end": b, "time_zone": null})),
            _ => date(Value::Null),
        },
        "show_original" => {
            let items: Vec<Value> = values
                .into_iter()
                .map(|v| json!({"type": kind, kind: v}))
                .collect();
            json!({"type": "array", "array": items, "function": function})
        }
        _ => json!({"type": "unsupported", "unsupported": {}, "function": function}),
    }
}

/// Renders one property value; `full` disables the 25-item truncation.
fn property_value(
    ws: &Workspace,
    page: &Page,
    ds: &DataSource,
    name: &str,
    full: bool,
) -> Option<Value> {
    let prop = ds.props.iter().find(|p| p.name == name)?;
    let mut out = Map::new();
    out.insert("id".into(), json!(prop.id));
    out.insert("type".into(), json!(prop.kind));
    let value = match prop.kind.as_str() {
        // A result stored on the page stands in for the computed one.
        "formula" | "rollup" => match page.values.get(name) {
            Some(stored) => stored.clone(),
            None => computed_value(ws, page, ds, prop),
        },
        "created_time" => json!(iso(page.created)),
        "last_edited_time" => json!(iso(page.edited)),
        "created_by" => ws
            .users
            .iter()
            .find(|u| u.id == page.created_by)
            .map(|u| user(u, !ws.hide_emails))
            .unwrap_or_else(|| partial_user(&page.created_by)),
        "last_edited_by" => ws
            .users
            .iter()
            .find(|u| u.id == page.edited_by)
            .map(|u| user(u, !ws.hide_emails))
            .unwrap_or_else(|| partial_user(&page.edited_by)),
        "people" => served_users(
            ws,
            page.values.get(name).cloned().unwrap_or_else(|| json!([])),
        ),
        "button" => json!({}),
        // Compact storage: an option by name, a date by its start.
        "select" | "status" => match page.values.get(name) {
            Some(Value::String(n)) => prop.config["options"]
                .as_array()
                .and_then(|o| o.iter().find(|o| o["name"] == n.as_str()))
                .map(|o| json!({"id": o["id"], "name": o["name"], "color": o["color"]}))
                .unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        },
        "date" => match page.values.get(name) {
            Some(Value::String(s)) => json!({"start": s, "end": null, "time_zone": null}),
            Some(v) => v.clone(),
            None => Value::Null,
        },
        "title" | "rich_text" => match page.values.get(name) {
            Some(Value::String(s)) => text(s),
            Some(v) => v.clone(),
            None => json!([]),
        },
        _ => page
            .values
            .get(name)
            .cloned()
            .unwrap_or_else(|| empty_value(&prop.kind)),
    };
    let value = if full {
        value
    } else {
        truncate(&prop.kind, value)
    };
    if prop.kind == "relation" {
        let len = page
            .values
            .get(name)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        out.insert("relation".into(), value);
        out.insert("has_more".into(), json!(!full && len > TRUNCATE_AT));
    } else {
        out.insert(prop.kind.clone(), value);
    }
    Some(Value::Object(out))
}

/// The value of a property never set on a page.
pub fn empty_value(kind: &str) -> Value {
    match kind {
        "title" | "rich_text" | "multi_select" | "people" | "files" | "relation" => json!([]),
        "checkbox" => json!(false),
        _ => Value::Null,
    }
}

fn truncate(kind: &str, value: Value) -> Value {
    match (kind, value) {
        ("relation" | "people", Value::Array(mut a)) => {
            a.truncate(TRUNCATE_AT);
            Value::Array(a)
        }
        ("title" | "rich_text", Value::Array(a)) => {
            let mut mentions = 0;
            let kept = a
                .into_iter()
                .filter(|item| {
                    if item["type"] == "mention" {
                        mentions += 1;
                        mentions <= TRUNCATE_AT
                    } else {
                        true
                    }
                })
                .collect();
            Value::Array(kept)
        }
        (_, v) => v,
    }
}

/// The `parent` of a page (a data-source row, or a page under a page) under `version`.
fn page_parent(page: &Page, ds: &DataSource, version: Version) -> Value {
    if let Some(parent) = &page.meta.parent_page {
        json!({"type": "page_id", "page_id": parent})
    } else if version.has_data_sources() {
        json!({"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id})
    } else {
        json!({"type": "database_id", "database_id": ds.database_id})
    }
}

/// Renders a page object; `full` gives untruncated values.
pub fn page(ws: &Workspace, page: &Page, version: Version, full: bool) -> Value {
    let Some(ds) = ws.source_of(page) else {
        return Value::Null;
    };
    let mut props = Map::new();
    for p in &ds.props {
        if let Some(v) = property_value(ws, page, ds, &p.name, full) {
            props.insert(p.name.clone(), v);
        }
    }
    let mut out = json!({
        "object": "page",
        "id": page.id,
        "created_time": iso(page.created),
        "last_edited_time": iso(page.edited),
        "created_by": partial_user(&page.created_by),
        "last_edited_by": partial_user(&page.edited_by),
        "cover": page.meta.cover,
        "icon": page.meta.icon,
        "parent": page_parent(page, ds, version),
        "in_trash": page.in_trash,
        "is_archived": page.is_archived,
        "is_locked": false,
        "properties": props,
        "url": page_url(&page.title(ds), &page.id),
        "public_url": null,
    });
    if version < Version::V2026_03_11 {
        out["archived"] = json!(page.in_trash);
    }
    if let (Some(fields), Some(obj)) = (ws.overrides.get(&page.id), out.as_object_mut()) {
        for (k, v) in fields {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// The name of property `id` on data source `ds_id` (empty when unknown).
fn prop_name<'a>(ws: &'a Workspace, ds_id: &str, id: &str) -> &'a str {
    ws.sources
        .get(ds_id)
        .and_then(|s| s.props.iter().find(|p| p.id == id))
        .map_or("", |p| p.name.as_str())
}

/// A property's configuration as served: the names a relation's synced property and a rollup's
/// properties have now (they are stored by id).
fn config(ws: &Workspace, ds: &DataSource, p: &PropSchema) -> Value {
    let mut cfg = p.config.clone();
    match (p.kind.as_str(), &p.computed) {
        ("relation", _) if cfg["type"] == "dual_property" => {
            let target = cfg["data_source_id"].as_str().unwrap_or_default();
            let synced = cfg["dual_property"]["synced_property_id"]
                .as_str()
                .unwrap_or_default();
            let name = prop_name(ws, target, synced);
            if !name.is_empty() {
                cfg["dual_property"]["synced_property_name"] = json!(name);
            }
        }
        (
            "rollup",
            Some(Computed::Rollup {
                relation, target, ..
            }),
        ) => {
            let rel = ds.props.iter().find(|r| &r.id == relation);
            let target_ds = rel
                .and_then(|r| r.config["data_source_id"].as_str())
                .unwrap_or_default();
            cfg["relation_property_name"] = json!(rel.map_or("", |r| r.name.as_str()));
            cfg["relation_property_id"] = json!(relation);
            cfg["rollup_property_name"] = json!(prop_name(ws, target_ds, target));
            cfg["rollup_property_id"] = json!(target);
        }
        _ => {}
    }
    cfg
}

/// The schema `properties` object of a data source.
pub fn schema(ws: &Workspace, ds: &DataSource) -> Value {
    let mut props = Map::new();
    for p in &ds.props {
        props.insert(
            p.name.clone(),
            json!({"id": p.id, "name": p.name, "description": "", "type": p.kind, p.kind.clone(): config(ws, ds, p)}),
        );
    }
    Value::Object(props)
}

fn title_rt(title: &str) -> Value {
    text(title)
}

fn timestamps(created: DateTime<Utc>, edited: DateTime<Utc>, bot: &str) -> Value {
    json!({
        "created_time": iso(created),
        "last_edited_time": iso(edited),
        "created_by": partial_user(bot),
        "last_edited_by": partial_user(bot),
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// The parent of a database: a page or the workspace.
fn database_parent(page: Option<&str>) -> Value {
    match page {
        Some(id) => json!({"type": "page_id", "page_id": id}),
        None => json!({"type": "workspace", "workspace": true}),
    }
}

/// A data source object (2025-09-03+).
pub fn data_source(ws: &Workspace, ds: &DataSource, version: Version) -> Value {
    let db = ws.databases.get(&ds.database_id);
    let mut out = json!({
        "object": "data_source",
        "id": ds.id,
        "title": title_rt(&ds.name),
        "description": [],
        "parent": {"type": "database_id", "database_id": ds.database_id},
        "database_parent": db.map_or_else(|| database_parent(None), |d| database_parent(d.meta.parent_page.as_deref())),
        "is_inline": db.is_some_and(|d| d.meta.is_inline),
        "in_trash": false,
        "properties": schema(ws, ds),
        "icon": db.map_or(Value::Null, |d| d.meta.icon.clone()),
        "cover": db.map_or(Value::Null, |d| d.meta.cover.clone()),
        "url": page_url(db.map_or("", |d| d.title.as_str()), &ds.database_id),
        "public_url": null,
    });
    out = merge(out, timestamps(ds.created, ds.edited, &ws.bot_id()));
    if version < Version::V2026_03_11 {
        out["archived"] = json!(false);
    }
    out
}

/// A database object: a container (2025-09-03+) or a table with its schema (2022-06-28).
pub fn database(ws: &Workspace, db: &Database, version: Version) -> Value {
    let edited = db
        .sources
        .iter()
        .filter_map(|s| ws.sources.get(s))
        .map(|s| s.edited)
        .chain([db.created, db.meta.edited])
        .max()
        .unwrap_or(db.created);
    let mut out = json!({
        "object": "database",
        "id": db.id,
        "title": title_rt(&db.title),
        "description": db.meta.description.clone().unwrap_or_else(|| json!([])),
        "parent": database_parent(db.meta.parent_page.as_deref()),
        "is_inline": db.meta.is_inline,
        "in_trash": false,
        "is_locked": false,
        "icon": db.meta.icon,
        "cover": db.meta.cover,
        "url": page_url(&db.title, &db.id),
        "public_url": null,
    });
    out = merge(out, timestamps(db.created, edited, &ws.bot_id()));
    if version.has_data_sources() {
        let sources: Vec<Value> = db
            .sources
            .iter()
            .filter_map(|s| ws.sources.get(s))
            .map(|s| json!({"id": s.id, "name": s.name}))
            .collect();
        out["data_sources"] = json!(sources);
    } else if let Some(ds) = db.sources.first().and_then(|s| ws.sources.get(s)) {
        out["properties"] = schema(ws, ds);
    }
    if version < Version::V2026_03_11 {
        out["archived"] = json!(false);
    }
    out
}

/// The name a block type has under `version`: `meeting_notes` was `transcription` before 2026-03-11.
pub fn block_type(kind: &str, version: Version) -> &str {
    match kind {
        "meeting_notes" if version < Version::V2026_03_11 => "transcription",
        k => k,
    }
}

/// The `parent` of a block or comment: a page or a block.
fn content_parent(id: &str, is_page: bool) -> Value {
    if is_page {
        json!({"type": "page_id", "page_id": id})
    } else {
        json!({"type": "block_id", "block_id": id})
    }
}

/// The fields every block object has, around its type payload.
struct BlockFields<'a> {
    id: &'a str,
    parent: Value,
    created: DateTime<Utc>,
    edited: DateTime<Utc>,
    created_by: &'a str,
    edited_by: &'a str,
    in_trash: bool,
    kind: &'a str,
    payload: Value,
}

fn block_object(ws: &Workspace, f: BlockFields<'_>, version: Version) -> Value {
    let kind = block_type(f.kind, version);
    let mut out = json!({
        "object": "block",
        "id": f.id,
        "parent": f.parent,
        "created_time": iso(f.created),
        "last_edited_time": iso(f.edited),
        "created_by": partial_user(f.created_by),
        "last_edited_by": partial_user(f.edited_by),
        "has_children": content::has_children(ws, f.id),
        "in_trash": f.in_trash,
        "type": kind,
        kind: f.payload,
    });
    if version < Version::V2026_03_11 {
        out["archived"] = json!(f.in_trash);
    }
    out
}

/// A block object; the `child_page` block of a page made through the API shows that page's title (a
/// `child_database` block its database's).
pub fn block(ws: &Workspace, b: &Block, version: Version) -> Value {
    let title = match b.kind.as_str() {
        "child_page" => ws
            .pages
            .get(&b.id)
            .and_then(|p| ws.source_of(p).map(|s| p.title(s))),
        "child_database" => ws.databases.get(&b.id).map(|d| d.title.clone()),
        _ => None,
    };
    let payload = match title {
        Some(t) => json!({"title": t}),
        None => b.payload.clone(),
    };
    let fields = BlockFields {
        id: &b.id,
        parent: content_parent(&b.parent, b.parent_is_page),
        created: b.created,
        edited: b.edited,
        created_by: &b.created_by,
        edited_by: &b.edited_by,
        in_trash: b.in_trash,
        kind: &b.kind,
        payload,
    };
    block_object(ws, fields, version)
}

/// A page retrieved as a block: Notion serves it as a `child_page` block.
pub fn page_block(ws: &Workspace, page: &Page, version: Version) -> Value {
    let Some(ds) = ws.source_of(page) else {
        return Value::Null;
    };
    let fields = BlockFields {
        id: &page.id,
        parent: page_parent(page, ds, version),
        created: page.created,
        edited: page.edited,
        created_by: &page.created_by,
        edited_by: &page.edited_by,
        in_trash: page.in_trash,
        kind: "child_page",
        payload: json!({"title": page.title(ds)}),
    };
    block_object(ws, fields, version)
}

/// A comment object; `display_name` names the author (`integration` for the bot, `custom` when the
/// integration gave a name).
pub fn comment(ws: &Workspace, c: &Comment) -> Value {
    let author = ws.users.iter().find(|u| u.id == c.by);
    let display = match &c.display_name {
        Some(name) => json!({"type": "custom", "resolved_name": name}),
        None => {
            let kind = if author.is_some_and(|u| u.email.is_none()) {
                "integration"
            } else {
                "user"
            };
            json!({"type": kind, "resolved_name": author.map(|u| u.name.clone())})
        }
    };
    json!({
        "object": "comment",
        "id": c.id,
        "parent": content_parent(&c.parent, c.parent_is_page),
        "discussion_id": c.discussion,
        "created_time": iso(c.created),
        "last_edited_time": iso(c.edited),
        "created_by": partial_user(&c.by),
        "rich_text": c.rich.clone().unwrap_or_else(|| text(&c.text)),
        "display_name": display,
    })
}
