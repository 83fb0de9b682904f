//! Schema changes: property definitions from request JSON, and add/rename/remove/retype on a data source.

use serde_json::{Map, Value, json};

use crate::Version;
use crate::errors::{ApiError, validation};
use crate::model::{Computed, DataSource, PropSchema, Workspace};
use crate::rng::Rng;
use crate::server::decode;

/// Property types a schema may define.
const KNOWN: &[&str] = &[
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "files",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "formula",
    "relation",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
    "verification",
    "place",
    "button",
];

const COLORS: &[&str] = &[
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
];

/// A fresh short property id in Notion's URL-encoded style.
pub fn new_prop_id(rng: &mut Rng) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let s: String = (0..3)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
        .collect();
    format!("{s}%3F")
}

/// Rollup functions Notion accepts.
pub const ROLLUP_FUNCTIONS: &[&str] = &[
    "count",
    "count_values",
    "empty",
    "not_empty",
    "unique",
    "show_unique",
    "percent_empty",
    "percent_not_empty",
    "sum",
    "average",
    "median",
    "min",
    "max",
    "range",
    "earliest_date",
    "latest_date",
    "date_range",
    "checked",
    "unchecked",
    "percent_checked",
    "percent_unchecked",
    "count_per_group",
    "percent_per_group",
    "show_original",
];

/// Types a request may name that Notion does not create (`button` is ignored, `verification` is
/// added to wikis by Notion itself).
const NOT_CREATED: &[&str] = &["button", "verification"];

fn invalid(msg: String) -> ApiError {
    validation(format!("body failed validation: {msg}"))
}

/// A new option object (`{id, name, color, description}`), its name checked.
pub fn new_option(path: &str, o: &Value, rng: &mut Rng) -> Result<Value, ApiError> {
    let name = o["name"].as_str().ok_or_else(|| {
        invalid(format!(
            "{path}.name should be defined, instead was `undefined`."
        ))
    })?;
    if name.contains(',') {
        return Err(invalid(format!(
            "{path}.name should not contain commas, instead was `\"{name}\"`."
        )));
    }
    let color = match o["color"].as_str() {
        Some(c) if COLORS.contains(&c) => c.to_string(),
        Some(c) => {
            return Err(invalid(format!(
                "{path}.color should be one of {}, instead was `\"{c}\"`.",
                COLORS.join(", ")
            )));
        }
        None => COLORS[rng.below(COLORS.len() as u64) as usize].to_string(),
    };
    Ok(
        json!({"id": rng.id()[..8].to_string(), "name": name, "color": color,
              "description": o.get("description").cloned().unwrap_or(Value::Null)}),
    )
}

/// The options of a select-like config: existing ones (matched by id or name) keep their id and
/// color, new ones are created, omitted ones are dropped.
fn options(path: &str, cfg: &Value, old: &[Value], rng: &mut Rng) -> Result<Vec<Value>, ApiError> {
    let Some(requested) = cfg.get("options") else {
        return Ok(old.to_vec());
    };
    let items = requested
        .as_array()
        .ok_or_else(|| invalid(format!("{path}.options should be an array.")))?;
    if items.len() > 100 {
        return Err(invalid(format!(
            "{path}.options.length should be ≤ `100`, instead was `{}`.",
            items.len()
        )));
    }
    let mut out: Vec<Value> = Vec::new();
    for (i, o) in items.iter().enumerate() {
        let kept = old.iter().find(|e| {
            (o.get("id").is_some() && e["id"] == o["id"])
                || (o.get("name").is_some() && e["name"] == o["name"])
        });
        let option = match kept {
            Some(e) => e.clone(),
            None => new_option(&format!("{path}.options[{i}]"), o, rng)?,
        };
        if out.iter().any(|x| x["name"] == option["name"]) {
            return Err(invalid(format!(
                "{path}.options[{i}].name should be unique, instead was `{}`.",
                option["name"]
            )));
        }
        out.push(option);
    }
    Ok(out)
}

/// Notion's three status groups; `extra` options (beyond the three defaults) land in To-do.
fn status_config(opts: Vec<Value>, rng: &mut Rng) -> Value {
    let ids: Vec<Value> = opts.iter().map(|o| o["id"].clone()).collect();
    let groups: Vec<Value> = [("To-do", "gray"), ("In progress", "blue"), ("Complete", "green")]
        .iter()
        .enumerate()
        .map(|(i, (name, color))| {
            let option_ids: Vec<Value> = match i {
                0 => ids
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j == 0 || *j > 2)
                    .map(|(_, v)| v.clone())
                    .collect(),
                _ => ids.get(i).cloned().into_iter().collect(),
            };
            json!({"id": rng.id()[..8].to_string(), "name": name, "color": color, "option_ids": option_ids})
        })
        .collect();
    json!({"options": opts, "groups": groups})
}

/// A status config whose options changed: groups keep their ids and members, dropped options leave
/// them, added options land in To-do (the first group).
fn regroup(old: &Value, opts: Vec<Value>) -> Value {
    let ids: Vec<&Value> = opts.iter().map(|o| &o["id"]).collect();
    let mut groups = old["groups"].as_array().cloned().unwrap_or_default();
    let grouped: Vec<Value> = groups
        .iter()
        .flat_map(|g| g["option_ids"].as_array().cloned().unwrap_or_default())
        .collect();
    for g in groups.iter_mut() {
        if let Some(members) = g["option_ids"].as_array_mut() {
            members.retain(|m| ids.contains(&m));
        }
    }
    if let Some(todo) = groups
        .first_mut()
        .and_then(|g| g["option_ids"].as_array_mut())
    {
        todo.extend(
            ids.iter()
                .filter(|id| !grouped.contains(id))
                .map(|id| (*id).clone()),
        );
    }
    json!({"options": opts, "groups": groups})
}

/// Rewrites `prop("Name")` references to Notion's internal tokens.
pub fn tokenise(expr: &str, props: &[PropSchema], ds_id: &str) -> String {
    let mut out = expr.to_string();
    for p in props {
        let needle = format!("prop(\"{}\")", p.name);
        let token = format!(
            "{{{{notion:block_property:{}:00000000-0000-0000-0000-000000000000:{ds_id}}}}}",
            p.id
        );
        out = out.replace(&needle, &token);
    }
    out
}

/// The type named by a property request (`{"type": ..}` or the single config key).
fn requested_type(v: &Value) -> Option<String> {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        return Some(t.to_string());
    }
    v.as_object()?
        .keys()
        .find(|k| KNOWN.contains(&k.as_str()))
        .cloned()
}

/// Finds a property by name or id (ids as served, URL-encoded, or decoded).
pub fn find_prop<'a>(props: &'a [PropSchema], key: &str) -> Option<&'a PropSchema> {
    props
        .iter()
        .find(|p| p.name == key || p.id == key || decode(&p.id) == decode(key))
}

/// Rewrites relation targets of a schema request to data source ids: `data_source_id` from
/// 2025-09-03 on (a `database_id` alone is rejected), `database_id` of a single-source database
/// under 2022-06-28.
pub fn normalize_relations(
    ws: &Workspace,
    version: Version,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = patch.clone();
    for (name, v) in out.iter_mut() {
        let Some(rel) = v.get_mut("relation").and_then(Value::as_object_mut) else {
            continue;
        };
        if version.has_data_sources() {
            if rel.get("data_source_id").is_none() {
                return Err(invalid(format!(
                    "body.properties.{name}.relation.data_source_id should be defined, instead was `undefined`."
                )));
            }
            continue;
        }
        let Some(db) = rel
            .get("database_id")
            .and_then(Value::as_str)
            .map(|d| crate::server::norm_id(d).unwrap_or_else(|| d.to_string()))
        else {
            return Err(invalid(format!(
                "body.properties.{name}.relation.database_id should be defined, instead was `undefined`."
            )));
        };
        let d = ws
            .databases
            .get(&db)
            .ok_or_else(|| crate::errors::not_found("database", &db))?;
        if d.sources.len() > 1 {
            return Err(crate::routes::multi_source(&db, &d.sources));
        }
        let ds = d.sources.first().cloned().unwrap_or_default();
        rel.insert("data_source_id".into(), json!(ds));
    }
    Ok(out)
}

/// Builds a schema entry from a request value such as `{"number": {"format": "dollar"}}`; `old` is
/// the entry it replaces, if any (select options keep their ids).
#[allow(clippy::too_many_arguments)]
fn parse_property(
    ws: &Workspace,
    existing: &[PropSchema],
    ds_id: &str,
    name: &str,
    v: &Value,
    id: String,
    old: Option<&PropSchema>,
    rng: &mut Rng,
) -> Result<PropSchema, ApiError> {
    let path = format!("body.properties.{name}");
    let kind = requested_type(v)
        .ok_or_else(|| invalid(format!("{path} should define a property type.")))?;
    let cfg = v.get(&kind).cloned().unwrap_or(json!({}));
    let old_options: Vec<Value> = old
        .filter(|o| o.kind == kind)
        .and_then(|o| o.config["options"].as_array().cloned())
        .unwrap_or_default();
    let mut computed = None;
    let config = match kind.as_str() {
        "number" => json!({"format": cfg["format"].as_str().unwrap_or("number")}),
        "select" | "multi_select" => {
            json!({"options": options(&format!("{path}.{kind}"), &cfg, &old_options, rng)?})
        }
        "status" => {
            let mut opts = options(&format!("{path}.status"), &cfg, &old_options, rng)?;
            if opts.is_empty() {
                let defaults = json!({"options": [{"name": "Not started", "color": "default"}, {"name": "In progress", "color": "blue"}, {"name": "Done", "color": "green"}]});
                opts = options(&path, &defaults, &[], rng)?;
            }
            match old.filter(|o| o.kind == "status") {
                Some(o) => regroup(&o.config, opts),
                None => status_config(opts, rng),
            }
        }
        "formula" => {
            let expr = cfg["expression"].as_str().ok_or_else(|| {
                invalid(format!(
                    "{path}.formula.expression should be defined, instead was `undefined`."
                ))
            })?;
            computed = Some(Computed::Formula);
            json!({"expression": tokenise(expr, existing, ds_id)})
        }
        "relation" => relation_config(ws, &path, &cfg)?,
        "rollup" => {
            let (config, c) = rollup_config(ws, existing, &path, &cfg)?;
            computed = Some(c);
            config
        }
        "unique_id" => json!({"prefix": cfg.get("prefix").cloned().unwrap_or(Value::Null)}),
        k if KNOWN.contains(&k) => json!({}),
        other => {
            return Err(invalid(format!(
                "{path}.type `{other}` is not a supported property type."
            )));
        }
    };
    Ok(PropSchema {
        id,
        name: name.to_string(),
        kind,
        config,
        computed,
    })
}

/// A relation config: the target data source must exist; a dual relation's synced property is made
/// by [`apply`].
fn relation_config(ws: &Workspace, path: &str, cfg: &Value) -> Result<Value, ApiError> {
    let raw = cfg["data_source_id"].as_str().unwrap_or_default();
    let target = crate::server::norm_id(raw)
        .filter(|t| ws.sources.contains_key(t))
        .ok_or_else(|| {
            invalid(format!(
                "{path}.relation.data_source_id should be a data source shared with the integration, instead was `\"{raw}\"`."
            ))
        })?;
    let db = ws
        .sources
        .get(&target)
        .map(|s| s.database_id.clone())
        .unwrap_or_default();
    let dual = cfg.get("dual_property").is_some() || cfg["type"] == "dual_property";
    Ok(if dual {
        json!({"database_id": db, "data_source_id": target, "type": "dual_property",
               "dual_property": {"synced_property_name": "", "synced_property_id": ""}})
    } else {
        json!({"database_id": db, "data_source_id": target, "type": "single_property", "single_property": {}})
    })
}

/// A rollup config and its evaluation: the relation (by name or id) must be a relation of this
/// data source, the rolled-up property one of the related data source, the function Notion's.
fn rollup_config(
    ws: &Workspace,
    existing: &[PropSchema],
    path: &str,
    cfg: &Value,
) -> Result<(Value, Computed), ApiError> {
    let function = cfg["function"].as_str().unwrap_or_default();
    if !ROLLUP_FUNCTIONS.contains(&function) {
        return Err(invalid(format!(
            "{path}.rollup.function should be one of {}, instead was `{}`.",
            ROLLUP_FUNCTIONS.join(", "),
            cfg["function"]
        )));
    }
    let key = |field: &str| {
        cfg[format!("{field}_name")]
            .as_str()
            .or_else(|| cfg[format!("{field}_id")].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let rel_key = key("relation_property");
    let rel = find_prop(existing, &rel_key)
        .filter(|p| p.kind == "relation")
        .ok_or_else(|| {
            validation(format!(
                "Rollup relation property {rel_key} is not a relation property of this data source."
            ))
        })?;
    let target_ds = rel.config["data_source_id"].as_str().unwrap_or_default();
    let target_key = key("rollup_property");
    let target = ws
        .sources
        .get(target_ds)
        .and_then(|s| find_prop(&s.props, &target_key))
        .ok_or_else(|| {
            validation(format!(
                "Rollup property {target_key} is not a property of the related data source."
            ))
        })?;
    let computed = Computed::Rollup {
        relation: rel.id.clone(),
        target: target.id.clone(),
        function: function.to_string(),
    };
    Ok((json!({"function": function}), computed))
}

/// Whether a property request must wait for the others of its patch (rollups name relations,
/// formulas name any property).
fn stage(v: &Value) -> u8 {
    match requested_type(v).as_deref() {
        Some("rollup") => 1,
        Some("formula") => 2,
        _ => 0,
    }
}

/// A free property name on `props`: `base`, else `base 2`, `base 3`, ...
fn free_name(props: &[PropSchema], base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while props.iter().any(|p| p.name == name) {
        name = format!("{base} {n}");
        n += 1;
    }
    name
}

/// Gives a new dual relation on `ds` its back-relation on the target data source, named as Notion
/// names it (`Related to <data source> (<property>)`).
fn add_back_relation(
    ws: &mut Workspace,
    ds: &mut DataSource,
    index: usize,
    rng: &mut Rng,
) -> Result<(), ApiError> {
    let target = ds.props[index].config["data_source_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if target == ds.id {
        return Err(crate::errors::err(
            500,
            "internal_server_error",
            "Internal server error.",
        ));
    }
    let Some(t) = ws.sources.get_mut(&target) else {
        return Ok(());
    };
    let name = free_name(
        &t.props,
        &format!("Related to {} ({})", ds.name, ds.props[index].name),
    );
    let back_id = new_prop_id(rng);
    t.props.push(PropSchema {
        id: back_id.clone(),
        name,
        kind: "relation".into(),
        config: json!({"database_id": ds.database_id, "data_source_id": ds.id, "type": "dual_property",
                       "dual_property": {"synced_property_name": "", "synced_property_id": ds.props[index].id}}),
        computed: None,
    });
    ds.props[index].config["dual_property"]["synced_property_id"] = json!(back_id);
    Ok(())
}

/// The synced property of a dual relation: (data source id, property id).
pub fn synced_of(p: &PropSchema) -> Option<(String, String)> {
    (p.kind == "relation" && p.config["type"] == "dual_property").then(|| {
        (
            p.config["data_source_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            p.config["dual_property"]["synced_property_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    })
}

/// Removes a property from another data source with its page values (the far side of a dual
/// relation being removed).
fn remove_remote(ws: &mut Workspace, ds: &str, prop_id: &str) {
    let Some(s) = ws.sources.get_mut(ds) else {
        return;
    };
    let Some(i) = s.props.iter().position(|p| p.id == prop_id) else {
        return;
    };
    let name = s.props.remove(i).name;
    for page in ws.pages.values_mut().filter(|p| p.data_source_id == ds) {
        page.values.remove(&name);
    }
}

/// Applies a `properties` patch to a data source: `null` removes, `{name}` renames, a typed config
/// adds or changes the type. Page values follow renames and are dropped on removal or type change;
/// select values whose option was removed are dropped. A new dual relation creates its
/// back-relation on the target; removing one side of a dual relation removes the other.
pub fn apply(
    ws: &mut Workspace,
    ds_id: &str,
    patch: &Map<String, Value>,
    rng: &mut Rng,
) -> Result<bool, ApiError> {
    let Some(mut ds) = ws.sources.get(ds_id).cloned() else {
        return Ok(false);
    };
    let before = ws.sources.clone();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut remote: Vec<(String, String)> = Vec::new();
    let mut entries: Vec<(&String, &Value)> = patch.iter().collect();
    entries.sort_by_key(|(_, v)| stage(v));
    for (key, v) in entries {
        let pos = ds
            .props
            .iter()
            .position(|p| &p.name == key || &p.id == key || decode(&p.id) == decode(key));
        let result = match (pos, v) {
            (Some(i), Value::Null) => {
                if ds.props[i].kind == "title" {
                    Err(validation("Cannot delete the title property."))
                } else {
                    remote.extend(synced_of(&ds.props[i]));
                    dropped.push(ds.props[i].name.clone());
                    ds.props.remove(i);
                    Ok(())
                }
            }
            (None, Value::Null) => Err(validation(format!("{key} is not a property that exists."))),
            (Some(i), v) => change(ws, &mut ds, i, v, &mut renames, &mut dropped, rng),
            (None, v) => add(ws, &mut ds, key, v, rng),
        };
        if let Err(e) = result {
            ws.sources = before;
            return Err(e);
        }
    }
    // Formulas may name properties added later in the same patch. Only expressions this patch wrote are
    // checked: removing a property an existing formula uses is allowed (as in Notion, the formula then
    // refers to a property that is gone).
    let snapshot = ds.props.clone();
    let written = |p: &crate::model::PropSchema| {
        let old = before
            .get(ds_id)
            .and_then(|s| s.props.iter().find(|o| o.id == p.id))
            .map(|o| o.config["expression"].clone());
        old.as_ref() != Some(&p.config["expression"])
    };
    for p in ds
        .props
        .iter_mut()
        .filter(|p| p.kind == "formula")
        .filter(|p| written(p))
    {
        if let Some(expr) = p.config["expression"].as_str() {
            let tokenised = tokenise(expr, &snapshot, ds_id);
            if let Some(unknown) = crate::formula::named_props(&tokenised).first() {
                ws.sources = before;
                return Err(validation(format!(
                    "Formula property {} references a property that does not exist: {unknown}.",
                    p.name
                )));
            }
            let missing = crate::formula::token_ids(&tokenised)
                .into_iter()
                .find(|id| !snapshot.iter().any(|s| decode(&s.id) == *id));
            if let Some(id) = missing {
                ws.sources = before;
                return Err(validation(format!(
                    "Formula property {} references a property that does not exist: {id}.",
                    p.name
                )));
            }
            p.config["expression"] = Value::String(tokenised);
        }
    }
    // Page values change only once the whole patch is known to apply.
    for page in ws.pages.values_mut().filter(|p| p.data_source_id == ds_id) {
        for (old, new) in &renames {
            if let Some(v) = page.values.remove(old) {
                page.values.insert(new.clone(), v);
            }
        }
        for d in &dropped {
            page.values.remove(d);
        }
        drop_removed_options(&ds, &mut page.values);
    }
    ws.sources.insert(ds_id.to_string(), ds);
    for (other, prop) in remote {
        remove_remote(ws, &other, &prop);
    }
    Ok(true)
}

/// Clears select and multi-select values whose option no longer exists.
fn drop_removed_options(ds: &DataSource, values: &mut std::collections::BTreeMap<String, Value>) {
    for p in ds
        .props
        .iter()
        .filter(|p| p.kind == "select" || p.kind == "multi_select")
    {
        let opts = p.config["options"].as_array().cloned().unwrap_or_default();
        let known = |o: &Value| {
            let name = o.as_str().or_else(|| o["name"].as_str());
            opts.iter().any(|x| x["name"].as_str() == name)
        };
        match values.get_mut(&p.name) {
            Some(Value::Array(items)) => items.retain(known),
            Some(v) if !v.is_null() && !known(v) => *v = Value::Null,
            _ => {}
        }
    }
}

/// Renames and/or retypes the property at `i`.
fn change(
    ws: &mut Workspace,
    ds: &mut DataSource,
    i: usize,
    v: &Value,
    renames: &mut Vec<(String, String)>,
    dropped: &mut Vec<String>,
    rng: &mut Rng,
) -> Result<(), ApiError> {
    if let Some(new_name) = v.get("name").and_then(Value::as_str)
        && new_name != ds.props[i].name
    {
        if ds.props.iter().any(|p| p.name == new_name) {
            return Err(validation(format!(
                "A property named {new_name} already exists."
            )));
        }
        renames.push((ds.props[i].name.clone(), new_name.to_string()));
        ds.props[i].name = new_name.to_string();
    }
    let Some(kind) = requested_type(v) else {
        return Ok(());
    };
    if ds.props[i].kind == "title" && kind != "title" {
        return Err(validation("Cannot change the type of the title property."));
    }
    let old = ds.props[i].clone();
    let others = ds.props.clone();
    let entry = parse_property(
        ws,
        &others,
        &ds.id,
        &old.name,
        v,
        old.id.clone(),
        Some(&old),
        rng,
    )?;
    let was_dual = synced_of(&old);
    if entry.kind != old.kind {
        dropped.push(old.name.clone());
    }
    // A relation keeps its synced property while it stays dual to the same target.
    let keep_synced = was_dual.as_ref().is_some_and(|(t, _)| {
        entry.config["type"] == "dual_property" && entry.config["data_source_id"] == t.as_str()
    });
    ds.props[i] = entry;
    if keep_synced {
        ds.props[i].config["dual_property"]["synced_property_id"] =
            old.config["dual_property"]["synced_property_id"].clone();
        return Ok(());
    }
    // A relation no longer two-way to that target loses its synced property there (this side keeps
    // its values).
    if let Some((target, synced)) = was_dual.filter(|(t, _)| t != &ds.id) {
        remove_remote(ws, &target, &synced);
    }
    if ds.props[i].config["type"] == "dual_property" {
        add_back_relation(ws, ds, i, rng)?;
    }
    Ok(())
}

/// Adds a property named by the request (`name` in the value wins over the key).
fn add(
    ws: &mut Workspace,
    ds: &mut DataSource,
    key: &str,
    v: &Value,
    rng: &mut Rng,
) -> Result<(), ApiError> {
    let name = v.get("name").and_then(Value::as_str).unwrap_or(key);
    let kind = requested_type(v);
    if kind.as_deref().is_some_and(|k| NOT_CREATED.contains(&k)) {
        return Ok(());
    }
    if kind.as_deref() == Some("title") && ds.props.iter().any(|p| p.kind == "title") {
        return Err(validation(
            "A data source can have only one title property.",
        ));
    }
    if ds.props.iter().any(|p| p.name == name) {
        return Err(validation(format!(
            "A property named {name} already exists."
        )));
    }
    let id = if kind.as_deref() == Some("title") {
        "title".to_string()
    } else {
        new_prop_id(rng)
    };
    let entry = parse_property(ws, &ds.props, &ds.id, name, v, id, None, rng)?;
    ds.props.push(entry);
    if ds
        .props
        .last()
        .is_some_and(|p| p.config["type"] == "dual_property")
    {
        let i = ds.props.len() - 1;
        add_back_relation(ws, ds, i, rng)?;
    }
    Ok(())
}
