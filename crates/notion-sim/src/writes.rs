//! Property writes (create/update page) with Notion's validation rules.

use serde_json::{Value, json};

use crate::model::{DataSource, Workspace};
use crate::render::rich_text_item;

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

fn invalid(msg: String) -> String {
    format!("body failed validation: {msg}")
}

fn check_len(path: &str, items: &[Value]) -> Result<(), String> {
    if items.len() > 100 {
        return Err(invalid(format!(
            "{path}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        )));
    }
    Ok(())
}

/// Validates a rich-text array from a request and normalises it to the response shape.
pub fn rich_text(path: &str, v: &Value) -> Result<Value, String> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid(format!("{path} should be an array, instead was `{v}`.")))?;
    check_len(path, items)?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let content = item["text"]["content"].as_str().ok_or_else(|| {
            invalid(format!(
                "{path}[{i}].text.content should be defined, instead was `undefined`."
            ))
        })?;
        let n = content.chars().count();
        if n > 2000 {
            return Err(invalid(format!(
                "{path}[{i}].text.content.length should be ≤ `2000`, instead was `{n}`."
            )));
        }
        out.push(rich_text_item(content));
    }
    Ok(Value::Array(out))
}

fn option(ds_prop: &Value, v: &Value, path: &str) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let options = ds_prop["options"].as_array().cloned().unwrap_or_default();
    let found = options.iter().find(|o| {
        (v.get("name").is_some() && o["name"] == v["name"])
            || (v.get("id").is_some() && o["id"] == v["id"])
    });
    match found {
        Some(o) => Ok(json!({"id": o["id"], "name": o["name"], "color": o["color"]})),
        None => Err(invalid(format!(
            "{path} should be an existing option, instead was `{v}`."
        ))),
    }
}

/// Converts a request's property value into the stored inner value.
pub fn value(
    ws: &Workspace,
    ds: &DataSource,
    name: &str,
    v: &Value,
) -> Result<(String, Value), String> {
    let prop = ds
        .props
        .iter()
        .find(|p| p.name == name || p.id == name)
        .ok_or_else(|| format!("{name} is not a property that exists."))?;
    let path = format!("body.properties.{}", prop.name);
    if READ_ONLY.contains(&prop.kind.as_str()) {
        return Err(invalid(format!(
            "{path}.{} is a read-only property and cannot be updated.",
            prop.kind
        )));
    }
    let inner = v.get(&prop.kind).unwrap_or(v);
    let stored = match prop.kind.as_str() {
        "title" | "rich_text" => rich_text(&format!("{path}.{}", prop.kind), inner)?,
        "number" => match inner {
            Value::Null | Value::Number(_) => inner.clone(),
            _ => {
                return Err(invalid(format!(
                    "{path}.number should be a number or `null`, instead was `{inner}`."
                )));
            }
        },
        "checkbox" => match inner {
            Value::Bool(_) => inner.clone(),
            _ => {
                return Err(invalid(format!(
                    "{path}.checkbox should be a boolean, instead was `{inner}`."
                )));
            }
        },
        "url" | "email" | "phone_number" => match inner {
            Value::Null => Value::Null,
            Value::String(s) if s.chars().count() <= 2000 => inner.clone(),
            _ => {
                return Err(invalid(format!(
                    "{path}.{} should be a string or `null`.",
                    prop.kind
                )));
            }
        },
        "select" | "status" => option(&prop.config, inner, &format!("{path}.{}", prop.kind))?,
        "multi_select" => {
            let items = inner
                .as_array()
                .ok_or_else(|| invalid(format!("{path}.multi_select should be an array.")))?;
            check_len(&format!("{path}.multi_select"), items)?;
            Value::Array(
                items
                    .iter()
                    .map(|o| option(&prop.config, o, &format!("{path}.multi_select")))
                    .collect::<Result<_, _>>()?,
            )
        }
        "date" => match inner {
            Value::Null => Value::Null,
            Value::Object(o) if o.get("start").is_some_and(Value::is_string) => json!({
                "start": o["start"], "end": o.get("end").cloned().unwrap_or(Value::Null),
                "time_zone": o.get("time_zone").cloned().unwrap_or(Value::Null)}),
            _ => {
                return Err(invalid(format!(
                    "{path}.date.start should be defined, instead was `undefined`."
                )));
            }
        },
        "people" => {
            let items = inner
                .as_array()
                .ok_or_else(|| invalid(format!("{path}.people should be an array.")))?;
            check_len(&format!("{path}.people"), items)?;
            let mut out = Vec::new();
            for u in items {
                let id = u["id"].as_str().unwrap_or_default();
                let user = ws.users.iter().find(|x| x.id == id).ok_or_else(|| {
                    invalid(format!("{path}.people contains an unknown user `{id}`."))
                })?;
                out.push(crate::render::user(user, true));
            }
            Value::Array(out)
        }
        "relation" => {
            let items = inner
                .as_array()
                .ok_or_else(|| invalid(format!("{path}.relation should be an array.")))?;
            check_len(&format!("{path}.relation"), items)?;
            Value::Array(items.iter().map(|r| json!({"id": r["id"]})).collect())
        }
        "files" => {
            let items = inner
                .as_array()
                .ok_or_else(|| invalid(format!("{path}.files should be an array.")))?;
            check_len(&format!("{path}.files"), items)?;
            inner.clone()
        }
        _ => inner.clone(),
    };
    Ok((prop.name.clone(), stored))
}
