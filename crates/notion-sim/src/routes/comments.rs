//! Comments: list the unresolved comments on a page or block, and create one.

use serde_json::{Value, json};

use super::{Params, list, offset_cursor, param, query_page_size};
use crate::content::{self, Stamp, Target};
use crate::errors::{ApiError, ApiResult, not_found, validation};
use crate::model::{floor_minute, plain_text};
use crate::render;
use crate::server::norm_id;
use crate::state::Shared;

/// `GET /v1/comments?block_id=`: unresolved comments whose parent is that page or block, oldest first.
pub fn list_comments(shared: &Shared, params: &Params) -> ApiResult {
    let raw = param(params, "block_id").ok_or_else(|| {
        validation(
            "query failed validation: query.block_id should be defined, instead was `undefined`.",
        )
    })?;
    let id = norm_id(raw).ok_or_else(|| {
        validation(format!(
            "query failed validation: query.block_id should be a valid uuid, instead was `\"{raw}\"`."
        ))
    })?;
    let size = query_page_size(params)?;
    let offset = offset_cursor(param(params, "start_cursor"), &format!("c{id}"))?;
    let ws = shared.read();
    if !ws.pages.contains_key(&id) && !ws.blocks.contains_key(&id) {
        return Err(not_found("block", &id));
    }
    let items = content::comments_on(&ws, &id)
        .into_iter()
        .map(|c| render::comment(&ws, c))
        .collect();
    let mut out = list(items, offset, size, "comment", &format!("c{id}"));
    out["request_status"] = json!({"type": "complete"});
    Ok(out.into())
}

/// The custom author name of a comment request (`display_name: {type: "custom", custom: {name}}`);
/// `integration` (the default) gives none.
fn display_name(body: &Value) -> Result<Option<String>, ApiError> {
    let d = &body["display_name"];
    match d["type"].as_str() {
        _ if d.is_null() => Ok(None),
        Some("integration") => Ok(None),
        Some("custom") => match d["custom"]["name"].as_str() {
            Some(name) if !name.is_empty() => Ok(Some(name.to_string())),
            _ => Err(validation(
                "body failed validation: body.display_name.custom.name should be defined, instead was `undefined`.",
            )),
        },
        _ => Err(crate::writes::union_failure(
            "body.display_name",
            &["integration", "custom"],
        )),
    }
}

/// `POST /v1/comments`: `rich_text` with a `parent` (`page_id` or `block_id`) or a `discussion_id`,
/// and an optional custom `display_name`; the integration is the author.
pub fn create_comment(shared: &Shared, body: &Value) -> ApiResult {
    let parent = ["page_id", "block_id"]
        .iter()
        .find_map(|k| body["parent"][*k].as_str())
        .map(|raw| {
            norm_id(raw).ok_or_else(|| {
                validation(format!(
                    "body failed validation: body.parent should hold a valid uuid, instead was `\"{raw}\"`."
                ))
            })
        })
        .transpose()?;
    let discussion = body["discussion_id"]
        .as_str()
        .map(|d| norm_id(d).unwrap_or_else(|| d.to_string()));
    let target = match (&parent, &discussion) {
        (Some(p), None) => Target::Parent(p),
        (None, Some(d)) => Target::Discussion(d),
        _ => {
            return Err(validation(
                "body failed validation: exactly one of body.parent or body.discussion_id should be defined.",
            ));
        }
    };
    let display = display_name(body)?;
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let rich = crate::writes::rich_text(&ws, "body.rich_text", &body["rich_text"])?;
    let bot = ws.bot_id();
    let stamp = Stamp { at: now, by: &bot };
    let text = plain_text(Some(&rich));
    let mut rng = shared.rng();
    let id = content::add_comment(&mut ws, &mut rng, target, &text, stamp).ok_or_else(|| {
        let missing = parent
            .as_deref()
            .or(discussion.as_deref())
            .unwrap_or_default();
        match target {
            Target::Parent(_) => not_found("block", missing),
            Target::Discussion(_) => not_found("discussion", missing),
        }
    })?;
    let c = ws
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| not_found("comment", &id))?;
    c.rich = Some(rich);
    c.display_name = display;
    let c = ws
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| not_found("comment", &id))?;
    Ok(render::comment(&ws, c).into())
}
