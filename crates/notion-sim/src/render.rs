//! JSON rendering of objects exactly as the API serves them, per `Notion-Version`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Version;
use crate::content;
use crate::model::{Block, Comment, Computed, DataSource, Database, Page, User, Workspace, iso};

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
fn computed_value(ws: &Workspace, page: &Page, computed: &Computed) -> Value {
    match computed {
        Computed::Roi { value, effort } => {
            let v = page.values.get(value).and_then(Value::as_f64);
            let e = page.values.get(effort).and_then(Value::as_f64);
            let n = match (v, e) {
                (Some(v), Some(e)) if e != 0.0 => Some(((v / (e * 400.0)) * 10.0).round() / 10.0),
                _ => None,
            };
            json!({"type": "number", "number": n})
        }
        Computed::Fixed(v) => v.clone(),
        Computed::Rollup {
            relation,
            target,
            function,
        } => {
            let ids: Vec<&str> = page
                .values
                .get(relation)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
                .unwrap_or_default();
            let n = if function == "count" {
                json!(ids.len())
            } else {
                let sum: f64 = ids
                    .iter()
                    .filter_map(|id| ws.pages.get(*id))
                    .filter_map(|p| p.values.get(target).and_then(Value::as_f64))
                    .sum();
                json!(sum)
            };
            json!({"type": "number", "number": n, "function": function})
        }
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
        "formula" | "rollup" => match (page.values.get(name), &prop.computed) {
            (Some(stored), _) => stored.clone(),
            (None, Some(c)) => computed_value(ws, page, c),
            (None, None) => Value::Null,
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

/// The `parent` of a page (a data-source row) under `version`.
fn page_parent(ds: &DataSource, version: Version) -> Value {
    if version.has_data_sources() {
        json!({"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id})
    } else {
        json!({"type": "database_id", "database_id": ds.database_id})
    }
}

/// Renders a page object; `full` gives untruncated values.
pub fn page(ws: &Workspace, page: &Page, version: Version, full: bool) -> Value {
    let Some(ds) = ws.sources.get(&page.data_source_id) else {
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
        "cover": null,
        "icon": null,
        "parent": page_parent(ds, version),
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

/// The schema `properties` object of a data source.
pub fn schema(ds: &DataSource) -> Value {
    let mut props = Map::new();
    for p in &ds.props {
        props.insert(
            p.name.clone(),
            json!({"id": p.id, "name": p.name, "description": "", "type": p.kind, p.kind.clone(): p.config}),
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

/// A data source object (2025-09-03+).
pub fn data_source(ws: &Workspace, ds: &DataSource, version: Version) -> Value {
    let db = ws.databases.get(&ds.database_id);
    let mut out = json!({
        "object": "data_source",
        "id": ds.id,
        "title": title_rt(&ds.name),
        "description": [],
        "parent": {"type": "database_id", "database_id": ds.database_id},
        "database_parent": {"type": "workspace", "workspace": true},
        "is_inline": false,
        "in_trash": false,
        "properties": schema(ds),
        "icon": null,
        "cover": null,
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
        .max()
        .unwrap_or(db.created);
    let mut out = json!({
        "object": "database",
        "id": db.id,
        "title": title_rt(&db.title),
        "description": [],
        "parent": {"type": "workspace", "workspace": true},
        "is_inline": false,
        "in_trash": false,
        "is_locked": false,
        "icon": null,
        "cover": null,
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
        out["properties"] = schema(ds);
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

/// A block object.
pub fn block(ws: &Workspace, b: &Block, version: Version) -> Value {
    let fields = BlockFields {
        id: &b.id,
        parent: content_parent(&b.parent, b.parent_is_page),
        created: b.created,
        edited: b.edited,
        created_by: &b.created_by,
        edited_by: &b.edited_by,
        in_trash: b.in_trash,
        kind: &b.kind,
        payload: b.payload.clone(),
    };
    block_object(ws, fields, version)
}

/// A page retrieved as a block: Notion serves it as a `child_page` block.
pub fn page_block(ws: &Workspace, page: &Page, version: Version) -> Value {
    let Some(ds) = ws.sources.get(&page.data_source_id) else {
        return Value::Null;
    };
    let fields = BlockFields {
        id: &page.id,
        parent: page_parent(ds, version),
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

/// A comment object; `display_name` names the author (`integration` for the bot).
pub fn comment(ws: &Workspace, c: &Comment) -> Value {
    let author = ws.users.iter().find(|u| u.id == c.by);
    let kind = if author.is_some_and(|u| u.email.is_none()) {
        "integration"
    } else {
        "user"
    };
    json!({
        "object": "comment",
        "id": c.id,
        "parent": content_parent(&c.parent, c.parent_is_page),
        "discussion_id": c.discussion,
        "created_time": iso(c.created),
        "last_edited_time": iso(c.edited),
        "created_by": partial_user(&c.by),
        "rich_text": text(&c.text),
        "display_name": {"type": kind, "resolved_name": author.map(|u| u.name.clone())},
    })
}
