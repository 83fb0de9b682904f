//! Schema changes: property definitions from request JSON, and add/rename/remove/retype on a data source.

use serde_json::{Map, Value, json};

use crate::model::{Computed, PropSchema, Workspace};
use crate::rng::Rng;

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

fn options(cfg: &Value, rng: &mut Rng) -> Vec<Value> {
    cfg["options"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| {
                    let name = o["name"].as_str()?;
                    let color = o["color"]
                        .as_str()
                        .filter(|c| COLORS.contains(c))
                        .unwrap_or(COLORS[rng.below(COLORS.len() as u64) as usize]);
                    Some(json!({"id": rng.id()[..8].to_string(), "name": name, "color": color, "description": null}))
                })
                .collect()
        })
        .unwrap_or_default()
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

/// Builds a schema entry from a request value such as `{"number": {"format": "dollar"}}`.
pub fn parse_property(
    ws: &Workspace,
    existing: &[PropSchema],
    ds_id: &str,
    name: &str,
    v: &Value,
    id: String,
    rng: &mut Rng,
) -> Result<PropSchema, String> {
    let kind = requested_type(v).ok_or_else(|| {
        format!("body failed validation: body.properties.{name} should define a property type.")
    })?;
    let cfg = v.get(&kind).cloned().unwrap_or(json!({}));
    let mut computed = None;
    let config = match kind.as_str() {
        "number" => json!({"format": cfg["format"].as_str().unwrap_or("number")}),
        "select" | "multi_select" => json!({"options": options(&cfg, rng)}),
        "status" => {
            let mut opts = options(&cfg, rng);
            if opts.is_empty() {
                opts = options(
                    &json!({"options": [{"name": "Not started", "color": "default"}, {"name": "In progress", "color": "blue"}, {"name": "Done", "color": "green"}]}),
                    rng,
                );
            }
            let ids: Vec<Value> = opts.iter().map(|o| o["id"].clone()).collect();
            let groups: Vec<Value> = [("To-do", "gray"), ("In progress", "blue"), ("Complete", "green")]
                .iter()
                .enumerate()
                .map(|(i, (name, color))| {
                    // Extra options land in the To-do group.
                    let option_ids: Vec<Value> = match i {
                        0 => ids.iter().enumerate().filter(|(j, _)| *j == 0 || *j > 2).map(|(_, v)| v.clone()).collect(),
                        _ => ids.get(i).cloned().into_iter().collect(),
                    };
                    json!({"id": rng.id()[..8].to_string(), "name": name, "color": color, "option_ids": option_ids})
                })
                .collect();
            json!({"options": opts, "groups": groups})
        }
        "formula" => {
            let expr = cfg["expression"].as_str().unwrap_or_default();
            computed = Some(Computed::Fixed(json!({"type": "string", "string": null})));
            json!({"expression": tokenise(expr, existing, ds_id)})
        }
        "relation" => {
            let target = cfg["data_source_id"]
                .as_str()
                .and_then(crate::server::norm_id)
                .filter(|t| ws.sources.contains_key(t))
                .ok_or_else(|| {
                    format!(
                        "body failed validation: body.properties.{name}.relation.data_source_id should be a data source shared with the integration."
                    )
                })?;
            let db = ws
                .sources
                .get(&target)
                .map(|s| s.database_id.clone())
                .unwrap_or_default();
            if cfg.get("dual_property").is_some() {
                json!({"database_id": db, "data_source_id": target, "type": "dual_property",
                       "dual_property": {"synced_property_name": "Related", "synced_property_id": ""}})
            } else {
                json!({"database_id": db, "data_source_id": target, "type": "single_property", "single_property": {}})
            }
        }
        "rollup" => {
            let function = cfg["function"].as_str().unwrap_or("count").to_string();
            let relation = cfg["relation_property_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let target = cfg["rollup_property_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            computed = Some(Computed::Rollup {
                relation: relation.clone(),
                target: target.clone(),
                function: function.clone(),
            });
            json!({"function": function, "relation_property_name": relation, "rollup_property_name": target,
                   "relation_property_id": "", "rollup_property_id": ""})
        }
        "unique_id" => json!({"prefix": cfg.get("prefix").cloned().unwrap_or(Value::Null)}),
        k if KNOWN.contains(&k) => json!({}),
        other => {
            return Err(format!(
                "body failed validation: body.properties.{name}.type `{other}` is not a supported property type."
            ));
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

/// Applies a `properties` patch to a data source: `null` removes, `{name}` renames, a typed config
/// adds or changes the type. Page values follow renames and are dropped on removal or type change.
pub fn apply(
    ws: &mut Workspace,
    ds_id: &str,
    patch: &Map<String, Value>,
    rng: &mut Rng,
) -> Result<bool, String> {
    let Some(mut ds) = ws.sources.get(ds_id).cloned() else {
        return Ok(false);
    };
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for (key, v) in patch {
        let pos = ds.props.iter().position(|p| &p.name == key || &p.id == key);
        match (pos, v) {
            (Some(i), Value::Null) => {
                if ds.props[i].kind == "title" {
                    return Err("Cannot delete the title property.".into());
                }
                dropped.push(ds.props[i].name.clone());
                ds.props.remove(i);
            }
            (None, Value::Null) => {
                return Err(format!("{key} is not a property that exists."));
            }
            (Some(i), v) => {
                if let Some(new_name) = v.get("name").and_then(Value::as_str)
                    && new_name != ds.props[i].name
                {
                    if ds.props.iter().any(|p| p.name == new_name) {
                        return Err(format!("A property named {new_name} already exists."));
                    }
                    renames.push((ds.props[i].name.clone(), new_name.to_string()));
                    ds.props[i].name = new_name.to_string();
                }
                if let Some(kind) = requested_type(v) {
                    if ds.props[i].kind == "title" && kind != "title" {
                        return Err("Cannot change the type of the title property.".into());
                    }
                    let name = ds.props[i].name.clone();
                    let id = ds.props[i].id.clone();
                    let others = ds.props.clone();
                    let entry = parse_property(ws, &others, ds_id, &name, v, id, rng)?;
                    if entry.kind != ds.props[i].kind {
                        dropped.push(name);
                    }
                    ds.props[i] = entry;
                }
            }
            (None, v) => {
                let name = v.get("name").and_then(Value::as_str).unwrap_or(key);
                if v.get("title").is_some() && ds.props.iter().any(|p| p.kind == "title") {
                    return Err("A data source can have only one title property.".into());
                }
                let id = new_prop_id(rng);
                let entry = parse_property(ws, &ds.props, ds_id, name, v, id, rng)?;
                ds.props.push(entry);
            }
        }
    }
    for page in ws.pages.values_mut().filter(|p| p.data_source_id == ds_id) {
        for (old, new) in &renames {
            if let Some(v) = page.values.remove(old) {
                page.values.insert(new.clone(), v);
            }
        }
        for d in &dropped {
            page.values.remove(d);
        }
    }
    for p in ds.props.iter_mut() {
        if let Some(Computed::Rollup { relation, .. }) = &mut p.computed {
            for (old, new) in &renames {
                if relation == old {
                    *relation = new.clone();
                }
            }
        }
    }
    // Formulas may name properties added later in the same patch.
    let snapshot = ds.props.clone();
    for p in ds.props.iter_mut().filter(|p| p.kind == "formula") {
        if let Some(expr) = p.config["expression"].as_str() {
            let tokenised = tokenise(expr, &snapshot, ds_id);
            p.config["expression"] = Value::String(tokenised);
        }
    }
    ws.sources.insert(ds_id.to_string(), ds);
    Ok(true)
}
