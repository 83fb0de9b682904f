//! `GET /v1/comments?block_id=`: unresolved comments on a page.

use serde_json::json;

use super::{Params, list, offset_cursor, param, query_page_size};
use crate::errors::{ApiResult, not_found, validation};
use crate::model::iso;
use crate::render;
use crate::server::norm_id;
use crate::state::Shared;

/// Lists a page's comments.
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
    let items = ws
        .comments
        .iter()
        .filter(|c| c.page == id)
        .map(|c| {
            json!({
                "object": "comment", "id": c.id,
                "parent": {"type": "page_id", "page_id": c.page},
                "discussion_id": c.discussion,
                "created_time": iso(c.created), "last_edited_time": iso(c.created),
                "created_by": {"object": "user", "id": c.by},
                "rich_text": render::text(&c.text),
                "display_name": {"type": "user", "resolved_name": ws.users.iter().find(|u| u.id == c.by).map(|u| u.name.clone())}
            })
        })
        .collect();
    let mut out = list(items, offset, size, "comment", &format!("c{id}"));
    out["request_status"] = json!({"type": "complete"});
    Ok(out.into())
}
