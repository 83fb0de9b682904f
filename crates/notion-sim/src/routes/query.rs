//! `POST /v1/data_sources/{id}/query` and `POST /v1/databases/{id}/query` (2022-06-28).

use serde_json::{Value, json};

use super::{
    Params, body_page_size, filter_properties, multi_source, reject_at_newest, wanted_properties,
};
use crate::Version;
use crate::errors::{ApiResult, Reply, invalid_cursor, not_found, validation};
use crate::query::{self, Cursor};
use crate::render;
use crate::state::{Shared, lock};

/// Queries the single data source of a database (2022-06-28).
pub fn query_database(
    shared: &Shared,
    db_id: &str,
    version: Version,
    body: &Value,
    params: &Params,
) -> ApiResult {
    let ds = {
        let ws = shared.read();
        let db = ws
            .databases
            .get(db_id)
            .ok_or_else(|| not_found("database", db_id))?;
        if db.sources.len() > 1 {
            return Err(multi_source(db_id, &db.sources));
        }
        db.sources.first().cloned().unwrap_or_default()
    };
    query_data_source(shared, &ds, version, body, params)
}

/// Queries a data source: filters, sorts, keyset cursors and the result cap.
pub fn query_data_source(
    shared: &Shared,
    ds_id: &str,
    version: Version,
    body: &Value,
    params: &Params,
) -> ApiResult {
    if !body.is_object() {
        return Err(validation(
            "body failed validation: body should be an object.",
        ));
    }
    reject_at_newest(version, body, "in_trash")?;
    reject_at_newest(version, body, "archived")?;
    let size = body_page_size(body)?;
    let archived = match body.get("is_archived") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(validation(format!(
                "body failed validation: body.is_archived should be a boolean, instead was `{v}`."
            )));
        }
    };
    let sorts_json = body.get("sorts").filter(|s| !s.is_null());
    let sorts = query::parse_sorts(sorts_json)
        .map_err(|m| validation(format!("body failed validation: {m}")))?;
    let filter = body.get("filter").filter(|f| !f.is_null());
    let sorts_key = sorts_json.map(Value::to_string).unwrap_or_default();
    let fp = query::fingerprint(&[
        &json!(ds_id),
        filter.unwrap_or(&Value::Null),
        sorts_json.unwrap_or(&Value::Null),
        &json!(archived),
    ]);
    let generation = shared.cursor_generation();
    let cursor = match body.get("start_cursor") {
        None | Some(Value::Null) => None,
        Some(raw) => {
            let c = raw.as_str().unwrap_or_default();
            match Cursor::decode(c) {
                Some(cur)
                    if cur.fingerprint == fp
                        && cur.generation == generation
                        && cur.key.len() == sorts.len() =>
                {
                    Some(cur)
                }
                _ => return Err(invalid_cursor(c)),
            }
        }
    };
    let wanted = wanted_properties(params);
    let ws = shared.read();
    let ds = ws
        .sources
        .get(ds_id)
        .ok_or_else(|| not_found("data source", ds_id))?;
    if let Some(f) = filter {
        query::validate(ds, f).map_err(|m| validation(format!("body failed validation: {m}")))?;
    }
    let data_gen = shared.data_gen();
    let mut caches = lock(&shared.caches);
    let index = caches.index(data_gen, &ws, ds_id, archived, &sorts, &sorts_key);
    let start = match &cursor {
        None => 0,
        Some(c) => index.partition_point(|(key, id)| {
            query::compare((key, id), (&c.key, &c.id), &sorts) != std::cmp::Ordering::Greater
        }),
    }
    .max(query::seek(&index, filter, &sorts));
    let served = cursor.as_ref().map_or(0, |c| c.served);
    let room = shared.cap.saturating_sub(served);
    let take = size.min(room);
    let mut rows: Vec<usize> = Vec::with_capacity(take);
    let mut more = false;
    for (i, (_, id)) in index.iter().enumerate().skip(start) {
        let Some(page) = ws.pages.get(id) else {
            continue;
        };
        if let Some(f) = filter
            && !query::matches(page, ds, f, 0).unwrap_or(false)
        {
            continue;
        }
        if rows.len() == take {
            more = true;
            break;
        }
        rows.push(i);
    }
    let capped = more && take == room;
    let next = match (more && !capped, rows.last()) {
        (true, Some(&i)) => Some(
            Cursor {
                fingerprint: fp,
                generation,
                key: index[i].0.clone(),
                id: index[i].1.clone(),
                served: served + rows.len(),
            }
            .encode(),
        ),
        _ => None,
    };
    let list_type = if version.has_data_sources() {
        "page_or_data_source"
    } else {
        "page_or_database"
    };
    let mut out = String::with_capacity(rows.len() * 2048 + 256);
    out.push_str("{\"object\":\"list\",\"results\":[");
    for (n, &i) in rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let id = &index[i].1;
        if wanted.is_empty() {
            if let Some(text) = caches.page(data_gen, &ws, id, version) {
                out.push_str(&text);
            }
        } else if let Some(p) = ws.pages.get(id) {
            out.push_str(
                &filter_properties(render::page(&ws, p, version, false), &wanted).to_string(),
            );
        }
    }
    let status = if capped {
        json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"})
    } else {
        json!({"type": "complete"})
    };
    out.push_str(&format!(
        "],\"next_cursor\":{},\"has_more\":{},\"type\":\"{list_type}\",\"{list_type}\":{{}},\"request_status\":{status}}}",
        json!(next),
        next.is_some()
    ));
    Ok(Reply::Raw(out))
}
