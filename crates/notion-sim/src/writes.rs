//! Property writes (create/update page) with Notion's validation rules, and applying them: new select
//! options join the schema, dual relations stay two-way.
//!
//! Every value of a request is validated before anything is stored, so a rejected request changes
//! nothing.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value, json};

use crate::content::Stamp;
use crate::errors::{ApiError, validation};
use crate::model::{DataSource, Page, Workspace};
use crate::rng::Rng;
use crate::server::norm_id;

/// Kinds whose values Notion computes; writes are rejected.
const READ_ONLY: &[&str] = &[
    "formula",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
    "button",
];

/// Kinds a page write may carry (the union of the create/update page bodies).
const WRITABLE: &[&str] = &[
    "title",
    "rich_text",
    "number",
    "url",
    "select",
    "multi_select",
    "people",
    "email",
    "phone_number",
    "date",
    "checkbox",
    "relation",
    "files",
    "status",
    "place",
    "verification",
];

/// Mention types a request may write (`link_preview` and `link_mention` are response-only).
const MENTIONS: &[&str] = &[
    "user",
    "date",
    "page",
    "database",
    "template_mention",
    "custom_emoji",
];

/// A `validation_error` in Notion's schema-validation wording.
pub fn invalid(msg: impl std::fmt::Display) -> ApiError {
    validation(format!("body failed validation: {msg}"))
}

/// The `validation_error` for a value matching none of a union's alternatives.
pub fn union_failure(path: &str, alternatives: &[&str]) -> ApiError {
    let lines: Vec<String> = alternatives
        .iter()
        .map(|a| format!("{path}.{a} should be defined, instead was `undefined`."))
        .collect();
    validation(format!(
        "body failed validation. Fix one:\n{}",
        lines.join("\n")
    ))
}

/// Rejects arrays over Notion's 100-element request limit.
pub fn check_len(path: &str, items: &[Value]) -> Result<(), ApiError> {
    if items.len() > 100 {
        return Err(invalid(format!(
            "{path}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        )));
    }
    Ok(())
}

/// Rejects strings longer than `max` characters.
fn check_chars(path: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n > max {
        return Err(invalid(format!(
            "{path}.length should be ≤ `{max}`, instead was `{n}`."
        )));
    }
    Ok(())
}

fn array<'a>(path: &str, v: &'a Value) -> Result<&'a Vec<Value>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid(format!("{path} should be an array, instead was `{v}`.")))?;
    check_len(path, items)?;
    Ok(items)
}

fn annotations(v: &Value) -> Value {
    let mut a = json!({"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"});
    if let Some(given) = v.as_object() {
        for (k, x) in given {
            if a.get(k).is_some() && (x.is_boolean() || x.is_string()) {
                a[k] = x.clone();
            }
        }
    }
    a
}

/// The type of a union member: its `type`, or the first of `kinds` it carries.
fn member_type<'a>(v: &'a Value, kinds: &[&'a str]) -> Option<&'a str> {
    v.get("type")
        .and_then(Value::as_str)
        .or_else(|| kinds.iter().copied().find(|k| v.get(*k).is_some()))
}

/// A mention item of a request, with the `plain_text` and `href` Notion derives.
fn mention(ws: &Workspace, path: &str, m: &Value) -> Result<(Value, String, Value), ApiError> {
    let all = [MENTIONS, &["link_preview", "link_mention"]].concat();
    let kind = member_type(m, &all).unwrap_or_default();
    if !MENTIONS.contains(&kind) {
        return Err(union_failure(path, MENTIONS));
    }
    let inner = &m[kind];
    let id = inner["id"].as_str().and_then(norm_id);
    let need_id = || {
        invalid(format!(
            "{path}.{kind}.id should be a valid uuid, instead was `{}`.",
            inner["id"]
        ))
    };
    Ok(match kind {
        "user" => {
            let id = id.ok_or_else(need_id)?;
            let name = ws.users.iter().find(|u| u.id == id).map(|u| u.name.clone());
            (
                json!({"type": "user", "user": {"object": "user", "id": id}}),
                format!("@{}", name.as_deref().unwrap_or("Anonymous")),
                Value::Null,
            )
        }
        "page" | "database" => {
            let id = id.ok_or_else(need_id)?;
            let title = match kind {
                "page" => ws
                    .pages
                    .get(&id)
                    .and_then(|p| ws.source_of(p).map(|s| p.title(s))),
                _ => ws.databases.get(&id).map(|d| d.title.clone()),
            }
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Untitled".into());
            let href = format!("https://www.notion.so/{}", id.replace('-', ""));
            (json!({"type": kind, kind: {"id": id}}), title, json!(href))
        }
        "date" => {
            let d = date(&format!("{path}.date"), inner)?;
            let mut text = d["start"].as_str().unwrap_or_default().to_string();
            if let Some(end) = d["end"].as_str() {
                text = format!("{text} → {end}");
            }
            (json!({"type": "date", "date": d}), text, Value::Null)
        }
        "custom_emoji" => {
            let name = inner["name"].as_str().unwrap_or_default();
            (
                json!({"type": "custom_emoji", "custom_emoji": inner}),
                format!(":{name}:"),
                Value::Null,
            )
        }
        _ => (
            json!({"type": kind, kind: inner}),
            String::new(),
            Value::Null,
        ),
    })
}

/// Validates a rich-text array from a request (text, equation and writable mentions, with
/// annotations) and normalises it to the response shape.
pub fn rich_text(ws: &Workspace, path: &str, v: &Value) -> Result<Value, ApiError> {
    let items = array(path, v)?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let ann = annotations(&item["annotations"]);
        let entry = match member_type(item, &["text", "mention", "equation"]) {
            Some("text") => {
                let content = item["text"]["content"].as_str().ok_or_else(|| {
                    invalid(format!(
                        "{at}.text.content should be defined, instead was `undefined`."
                    ))
                })?;
                check_chars(&format!("{at}.text.content"), content, 2000)?;
                let link = match &item["text"]["link"] {
                    Value::Null => Value::Null,
                    l => {
                        let url = l["url"].as_str().ok_or_else(|| {
                            invalid(format!(
                                "{at}.text.link.url should be defined, instead was `undefined`."
                            ))
                        })?;
                        check_chars(&format!("{at}.text.link.url"), url, 2000)?;
                        json!({"url": url})
                    }
                };
                let href = link.get("url").cloned().unwrap_or(Value::Null);
                json!({"type": "text", "text": {"content": content, "link": link},
                       "annotations": ann, "plain_text": content, "href": href})
            }
            Some("equation") => {
                let expr = item["equation"]["expression"].as_str().ok_or_else(|| {
                    invalid(format!(
                        "{at}.equation.expression should be defined, instead was `undefined`."
                    ))
                })?;
                check_chars(&format!("{at}.equation.expression"), expr, 1000)?;
                json!({"type": "equation", "equation": {"expression": expr},
                       "annotations": ann, "plain_text": expr, "href": null})
            }
            Some("mention") => {
                let (m, text, href) = mention(ws, &format!("{at}.mention"), &item["mention"])?;
                json!({"type": "mention", "mention": m, "annotations": ann,
                       "plain_text": text, "href": href})
            }
            _ => return Err(union_failure(&at, &["text", "mention", "equation"])),
        };
        out.push(entry);
    }
    Ok(Value::Array(out))
}

/// Whether a date or date-time string carries a UTC offset; `None` when it is no date.
fn parse_date(s: &str) -> Option<bool> {
    if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        return Some(false);
    }
    let with_offset = ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"];
    if DateTime::parse_from_rfc3339(s).is_ok()
        || with_offset
            .iter()
            .any(|f| DateTime::parse_from_str(&s.replace('Z', "+00:00"), f).is_ok())
    {
        return Some(true);
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(s, f).is_ok())
        .then_some(false)
}

/// Normalises a date-time with an offset as Notion serves it (`2026-02-01T10:30:00.000+00:00`).
fn normal_date(s: &str) -> String {
    let parsed = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(&s.replace('Z', "+00:00"), "%Y-%m-%dT%H:%M%#z"));
    match parsed {
        Ok(t) => t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        Err(_) => s.to_string(),
    }
}

/// A date value `{start, end?, time_zone?}`: with `time_zone`, times carry no UTC offset.
fn date(path: &str, v: &Value) -> Result<Value, ApiError> {
    let tz = match &v["time_zone"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => {
            return Err(invalid(format!(
                "{path}.time_zone should be a string or `null`, instead was `{other}`."
            )));
        }
    };
    let mut out = json!({"start": null, "end": null, "time_zone": tz});
    for field in ["start", "end"] {
        let raw = &v[field];
        if raw.is_null() && field == "end" {
            continue;
        }
        let s = raw.as_str().ok_or_else(|| {
            invalid(format!(
                "{path}.{field} should be defined, instead was `undefined`."
            ))
        })?;
        let offset = parse_date(s).ok_or_else(|| {
            invalid(format!(
                "{path}.{field} should be a valid ISO 8601 date string, instead was `\"{s}\"`."
            ))
        })?;
        if offset && tz.is_some() {
            return Err(validation(format!(
                "{path}.{field}: a date with a time_zone should not carry a UTC offset, instead was `\"{s}\"`."
            )));
        }
        out[field] = json!(normal_date(s));
    }
    Ok(out)
}

/// One validated property value of a request, ready to store.
#[derive(Debug, Clone)]
pub struct PropWrite {
    /// Property name.
    pub name: String,
    /// Stored inner value.
    pub value: Value,
    /// Options the write adds to the schema (select and multi-select names not yet known).
    pub new_options: Vec<Value>,
}

/// An option by `name` or `id`; an unknown select name becomes a new option (in `added`), an unknown
/// status is an error.
fn option(
    options: &[Value],
    added: &mut Vec<Value>,
    path: &str,
    v: &Value,
    creates: bool,
    rng: &mut Rng,
) -> Result<Value, ApiError> {
    let known = options.iter().chain(added.iter()).find(|o| {
        (v.get("name").is_some() && o["name"] == v["name"])
            || (v.get("id").is_some() && o["id"] == v["id"])
    });
    let pick = |o: &Value| json!({"id": o["id"], "name": o["name"], "color": o["color"]});
    if let Some(o) = known {
        return Ok(pick(o));
    }
    let label = v["name"].as_str().or(v["id"].as_str()).unwrap_or_default();
    if !creates || v.get("name").is_none() {
        let kind = if creates { "Select" } else { "Status" };
        return Err(validation(format!(
            "Invalid {} option. {kind} option \"{label}\" does not exist.",
            kind.to_lowercase()
        )));
    }
    let mut o = crate::schema::new_option(path, &json!({"name": label, "color": "default"}), rng)?;
    if let Some(color) = v["color"].as_str() {
        o["color"] = json!(color);
    }
    added.push(o.clone());
    Ok(pick(&o))
}

/// A file object of a request: `external` (with a `name` when `named`), an uploaded
/// `file_upload` (stored as the hosted file it became), or a Notion-hosted `file` already on the
/// page (`kept`, matched by its key: the URL's query changes with every render).
fn file(
    ws: &Workspace,
    path: &str,
    f: &Value,
    kept: &[Value],
    named: bool,
) -> Result<Value, ApiError> {
    match member_type(f, &["external", "file_upload", "file"]) {
        Some("external") => {
            let url = f["external"]["url"].as_str().ok_or_else(|| {
                invalid(format!(
                    "{path}.external.url should be defined, instead was `undefined`."
                ))
            })?;
            check_chars(&format!("{path}.external.url"), url, 2000)?;
            let mut out = json!({"type": "external", "external": {"url": url}});
            if named {
                let name = f["name"].as_str().ok_or_else(|| {
                    invalid(format!(
                        "{path}.name should be defined, instead was `undefined`."
                    ))
                })?;
                out["name"] = json!(name);
            }
            Ok(out)
        }
        Some("file_upload") => {
            let (mut out, filename) = crate::routes::attach_upload(ws, path, f)?;
            if named {
                out["name"] = json!(f["name"].as_str().unwrap_or(&filename));
            }
            Ok(out)
        }
        Some("file") => {
            let key = crate::files::key_of(f["file"]["url"].as_str().unwrap_or_default());
            kept.iter()
                .find(|k| crate::files::stored_key(&k["file"]) == Some(key.as_str()))
                .cloned()
                .ok_or_else(|| union_failure(path, &["external", "file_upload"]))
        }
        _ => Err(union_failure(path, &["external", "file_upload"])),
    }
}

/// A file source of an icon, cover or media block: `external` or `file_upload`.
pub fn file_source(ws: &Workspace, path: &str, f: &Value) -> Result<Value, ApiError> {
    file(ws, path, f, &[], false)
}

/// An icon of a request: emoji, external file, custom emoji or native icon.
pub fn icon(ws: &Workspace, path: &str, v: &Value) -> Result<Value, ApiError> {
    match member_type(
        v,
        &["emoji", "external", "file_upload", "custom_emoji", "icon"],
    ) {
        _ if v.is_null() => Ok(Value::Null),
        Some("emoji") => match v["emoji"].as_str() {
            Some(e) => Ok(json!({"type": "emoji", "emoji": e})),
            None => Err(invalid(format!(
                "{path}.emoji should be a string, instead was `{}`.",
                v["emoji"]
            ))),
        },
        Some("custom_emoji") => {
            Ok(json!({"type": "custom_emoji", "custom_emoji": v["custom_emoji"]}))
        }
        Some("icon") => Ok(json!({"type": "icon", "icon": v["icon"]})),
        Some("external" | "file_upload") => file_source(ws, path, v),
        _ => Err(union_failure(
            path,
            &["emoji", "external", "file_upload", "custom_emoji"],
        )),
    }
}

/// A cover of a request: an external file or an upload.
pub fn cover(ws: &Workspace, path: &str, v: &Value) -> Result<Value, ApiError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    file_source(ws, path, v)
}

/// Converts one property value of a request into the value to store. `page` is the page being
/// updated (`None` on create).
pub fn value(
    ws: &Workspace,
    ds: &DataSource,
    key: &str,
    v: &Value,
    page: Option<&Page>,
    rng: &mut Rng,
) -> Result<PropWrite, ApiError> {
    let prop = crate::schema::find_prop(&ds.props, key)
        .ok_or_else(|| validation(format!("{key} is not a property that exists.")))?;
    let path = format!("body.properties.{}", prop.name);
    let kind = prop.kind.as_str();
    if READ_ONLY.contains(&kind) {
        return Err(union_failure(&path, WRITABLE));
    }
    let given = member_type(v, WRITABLE);
    if given.is_some_and(|g| g != kind) && v.is_object() {
        return Err(validation(format!(
            "{} is expected to be {kind}.",
            prop.name
        )));
    }
    let inner = v.get(kind).unwrap_or(v);
    let at = format!("{path}.{kind}");
    let mut new_options = Vec::new();
    let options = prop.config["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let stored = match kind {
        "title" | "rich_text" => rich_text(ws, &at, inner)?,
        "number" => match inner {
            Value::Null => Value::Null,
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => inner.clone(),
            _ => {
                return Err(invalid(format!(
                    "{at} should be a number or `null`, instead was `{inner}`."
                )));
            }
        },
        "checkbox" => match inner {
            Value::Bool(_) => inner.clone(),
            _ => {
                return Err(invalid(format!(
                    "{at} should be a boolean, instead was `{inner}`."
                )));
            }
        },
        "url" | "email" | "phone_number" => match inner {
            Value::Null => Value::Null,
            Value::String(s) => {
                check_chars(&at, s, if kind == "url" { 2000 } else { 200 })?;
                inner.clone()
            }
            _ => {
                return Err(invalid(format!(
                    "{at} should be a string or `null`, instead was `{inner}`."
                )));
            }
        },
        "select" if inner.is_null() => Value::Null,
        "select" => option(&options, &mut new_options, &at, inner, true, rng)?,
        // `null` resets a status to its default: the first option of the To-do group.
        "status" if inner.is_null() => {
            let first = prop.config["groups"][0]["option_ids"][0].clone();
            options
                .iter()
                .find(|o| o["id"] == first)
                .or(options.first())
                .map(|o| json!({"id": o["id"], "name": o["name"], "color": o["color"]}))
                .unwrap_or(Value::Null)
        }
        "status" => option(&options, &mut new_options, &at, inner, false, rng)?,
        "multi_select" => {
            let mut out: Vec<Value> = Vec::new();
            for (i, o) in array(&at, inner)?.iter().enumerate() {
                let picked = option(
                    &options,
                    &mut new_options,
                    &format!("{at}[{i}]"),
                    o,
                    true,
                    rng,
                )?;
                if !out.contains(&picked) {
                    out.push(picked);
                }
            }
            Value::Array(out)
        }
        "date" if inner.is_null() => Value::Null,
        "date" => date(&at, inner)?,
        "people" => {
            let mut out = Vec::new();
            for (i, u) in array(&at, inner)?.iter().enumerate() {
                let id = u["id"].as_str().and_then(norm_id).unwrap_or_default();
                let user = ws.users.iter().find(|x| x.id == id).ok_or_else(|| {
                    invalid(format!(
                        "{at}[{i}].id should be a user of the workspace, instead was `{}`.",
                        u["id"]
                    ))
                })?;
                out.push(crate::render::user(user, true));
            }
            Value::Array(out)
        }
        "relation" => relation(ws, prop, &at, inner)?,
        "files" => {
            let kept = page
                .and_then(|p| p.values.get(&prop.name))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut out = Vec::new();
            for (i, f) in array(&at, inner)?.iter().enumerate() {
                out.push(file(ws, &format!("{at}[{i}]"), f, &kept, true)?);
            }
            Value::Array(out)
        }
        "place" => match inner {
            Value::Null => Value::Null,
            Value::Object(o)
                if o.get("lat").is_some_and(Value::is_number)
                    && o.get("lon").is_some_and(Value::is_number) =>
            {
                let mut out = json!({"lat": o["lat"], "lon": o["lon"], "name": null, "address": null, "aws_place_id": null, "google_place_id": null});
                for k in ["name", "address", "aws_place_id", "google_place_id"] {
                    if let Some(x) = o.get(k) {
                        out[k] = x.clone();
                    }
                }
                out
            }
            _ => {
                return Err(invalid(format!(
                    "{at}.lat should be a number, instead was `{}`.",
                    inner["lat"]
                )));
            }
        },
        "verification" => match inner["state"].as_str() {
            Some("verified") => {
                let d = match &inner["date"] {
                    Value::Null => Value::Null,
                    d => date(&format!("{at}.date"), d)?,
                };
                json!({"state": "verified", "date": d, "verified_by": {"object": "user", "id": ws.bot_id()}})
            }
            Some("unverified") => json!({"state": "unverified", "date": null, "verified_by": null}),
            _ => {
                return Err(invalid(format!(
                    "{at}.state should be `verified` or `unverified`, instead was `{}`.",
                    inner["state"]
                )));
            }
        },
        _ => inner.clone(),
    };
    Ok(PropWrite {
        name: prop.name.clone(),
        value: stored,
        new_options,
    })
}

/// A relation value: at most 100 pages per request, each a page of the related data source; the
/// list replaces the stored one (duplicates dropped).
fn relation(
    ws: &Workspace,
    prop: &crate::model::PropSchema,
    at: &str,
    inner: &Value,
) -> Result<Value, ApiError> {
    let target = prop.config["data_source_id"].as_str().unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for (i, r) in array(at, inner)?.iter().enumerate() {
        let raw = r["id"].as_str().unwrap_or_default();
        let id = norm_id(raw).ok_or_else(|| {
            invalid(format!(
                "{at}[{i}].id should be a valid uuid, instead was `{}`.",
                r["id"]
            ))
        })?;
        if ws.pages.get(&id).is_none_or(|p| p.data_source_id != target) {
            return Err(validation(format!(
                "{at}[{i}]: page {id} is not a page of the related data source {target}."
            )));
        }
        let item = json!({"id": id});
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(Value::Array(out))
}

/// Validates every property of a request object against a page's schema.
pub fn values(
    ws: &Workspace,
    ds: &DataSource,
    props: &Map<String, Value>,
    page: Option<&Page>,
    rng: &mut Rng,
) -> Result<Vec<PropWrite>, ApiError> {
    props
        .iter()
        .map(|(key, v)| value(ws, ds, key, v, page, rng))
        .collect()
}

/// Target ids of a stored relation value.
fn targets(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Stores validated writes on a page: new options join the schema, and each dual relation's change
/// shows on the synced property of the pages added or removed (which count as edited too).
pub fn store(ws: &mut Workspace, page_id: &str, writes: Vec<PropWrite>, stamp: Stamp) {
    let Some(ds_id) = ws.pages.get(page_id).map(|p| p.data_source_id.clone()) else {
        return;
    };
    for w in writes {
        let prop = ws
            .sources
            .get(&ds_id)
            .and_then(|s| s.props.iter().find(|p| p.name == w.name))
            .cloned();
        if let (Some(p), false) = (&prop, w.new_options.is_empty())
            && let Some(s) = ws.sources.get_mut(&ds_id)
            && let Some(sp) = s.props.iter_mut().find(|x| x.id == p.id)
            && let Some(opts) = sp.config["options"].as_array_mut()
        {
            for o in &w.new_options {
                if !opts.iter().any(|x| x["name"] == o["name"]) {
                    opts.push(o.clone());
                }
            }
        }
        let old = ws
            .pages
            .get(page_id)
            .map(|p| targets(p.values.get(&w.name)))
            .unwrap_or_default();
        let new = targets(Some(&w.value));
        if let Some(page) = ws.pages.get_mut(page_id) {
            page.values.insert(w.name.clone(), w.value);
        }
        if let Some((other_ds, synced)) = prop.as_ref().and_then(crate::schema::synced_of) {
            sync_back(ws, page_id, &other_ds, &synced, &old, &new, stamp);
        }
    }
}

/// Adds `page` to (or removes it from) the synced property of the targets that joined (or left).
fn sync_back(
    ws: &mut Workspace,
    page: &str,
    other_ds: &str,
    synced: &str,
    old: &[String],
    new: &[String],
    stamp: Stamp,
) {
    let Some(name) = ws
        .sources
        .get(other_ds)
        .and_then(|s| s.props.iter().find(|p| p.id == synced))
        .map(|p| p.name.clone())
    else {
        return;
    };
    let changed = old
        .iter()
        .filter(|t| !new.contains(t))
        .map(|t| (t, false))
        .chain(new.iter().filter(|t| !old.contains(t)).map(|t| (t, true)));
    for (target, joined) in changed {
        let Some(t) = ws.pages.get_mut(target) else {
            continue;
        };
        let mut list = targets(t.values.get(&name));
        list.retain(|x| x != page);
        if joined {
            list.push(page.to_string());
        }
        let value = list.iter().map(|id| json!({"id": id})).collect();
        t.values.insert(name.clone(), Value::Array(value));
        t.edited = stamp.at;
        t.edited_by = stamp.by.to_string();
    }
}
