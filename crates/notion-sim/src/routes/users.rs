//! Users: list (paginated, people then bots) and retrieve (`me` = the bot).

use super::{Params, list, offset_cursor, param, query_page_size};
use crate::errors::{ApiResult, bad_url, not_found};
use crate::render;
use crate::server::norm_id;
use crate::state::Shared;

/// `GET /v1/users`.
pub fn list_users(shared: &Shared, params: &Params) -> ApiResult {
    let size = query_page_size(params)?;
    let offset = offset_cursor(param(params, "start_cursor"), "users")?;
    let ws = shared.read();
    let users = ws
        .users
        .iter()
        .map(|u| render::user(u, !ws.hide_emails))
        .collect();
    Ok(list(users, offset, size, "user", "users").into())
}

/// `GET /v1/users/{id}`.
pub fn retrieve_user(shared: &Shared, raw: &str) -> ApiResult {
    let ws = shared.read();
    let id = if raw == "me" {
        ws.bot_id()
    } else {
        norm_id(raw).ok_or_else(bad_url)?
    };
    let user = ws
        .users
        .iter()
        .find(|u| u.id == id)
        .ok_or_else(|| not_found("user", &id))?;
    Ok(render::user(user, !ws.hide_emails).into())
}
