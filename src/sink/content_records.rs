//! Content rows (blocks, users, comments) ↔ cells, in the column order of their table specs.

use super::cells::Cell;
use super::records::{os, s, t};
use crate::bronze::{BlockRecord, CommentRecord, UserRecord};

fn b(v: bool) -> Cell {
    Cell::Bool(Some(v))
}

/// The columns the users and comments tables end with: `payload`, `payload_sha256`, `is_deleted`, `deleted_at`,
/// `first_synced_at` (= `synced_at`; the MERGE keeps the stored one), `synced_at`, `sync_run_id`.
fn tracked(
    payload: &str,
    sha256: &str,
    is_deleted: bool,
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    synced_at: chrono::DateTime<chrono::Utc>,
    run_id: &str,
) -> [Cell; 7] {
    [
        s(payload),
        s(sha256),
        b(is_deleted),
        Cell::Ts(deleted_at),
        t(synced_at),
        t(synced_at),
        s(run_id),
    ]
}

/// Cells of a block row (`first_synced_at` = `synced_at`; the MERGE keeps the stored one).
pub fn block_cells(r: &BlockRecord) -> Vec<Cell> {
    vec![
        s(&r.block_id),
        s(&r.page_id),
        s(&r.database_id),
        s(&r.data_source_id),
        s(&r.parent_id),
        s(&r.parent_type),
        Cell::I64(Some(r.position)),
        Cell::I64(Some(r.depth)),
        s(&r.block_type),
        b(r.has_children),
        b(r.in_trash),
        Cell::Ts(r.created_time),
        Cell::Ts(r.last_edited_time),
        s(&r.payload),
        s(&r.payload_sha256),
        s(&r.plain_text),
        b(r.is_deleted),
        Cell::Ts(r.deleted_at),
        t(r.synced_at),
        t(r.synced_at),
        s(&r.sync_run_id),
    ]
}

/// A block row from its cells.
pub fn block_from(c: &[Cell]) -> BlockRecord {
    BlockRecord {
        block_id: c[0].text(),
        page_id: c[1].text(),
        database_id: c[2].text(),
        data_source_id: c[3].text(),
        parent_id: c[4].text(),
        parent_type: c[5].text(),
        position: c[6].int(),
        depth: c[7].int(),
        block_type: c[8].text(),
        has_children: c[9].flag(),
        in_trash: c[10].flag(),
        created_time: c[11].ts(),
        last_edited_time: c[12].ts(),
        payload: c[13].text(),
        payload_sha256: c[14].text(),
        plain_text: c[15].text(),
        is_deleted: c[16].flag(),
        deleted_at: c[17].ts(),
        synced_at: c[19].ts().unwrap_or_default(),
        sync_run_id: c[20].text(),
    }
}

/// Cells of a user row.
pub fn user_cells(r: &UserRecord) -> Vec<Cell> {
    let head = [s(&r.user_id), s(&r.user_type), os(&r.name), os(&r.email)];
    let tail = tracked(
        &r.payload,
        &r.payload_sha256,
        r.is_deleted,
        None,
        r.synced_at,
        &r.sync_run_id,
    );
    head.into_iter().chain(tail).collect()
}

/// A user row from its cells.
pub fn user_from(c: &[Cell]) -> UserRecord {
    UserRecord {
        user_id: c[0].text(),
        user_type: c[1].text(),
        name: c[2].opt_text(),
        email: c[3].opt_text(),
        payload: c[4].text(),
        payload_sha256: c[5].text(),
        is_deleted: c[6].flag(),
        synced_at: c[9].ts().unwrap_or_default(),
        sync_run_id: c[10].text(),
    }
}

/// Cells of a comment row.
pub fn comment_cells(r: &CommentRecord) -> Vec<Cell> {
    let head = [
        s(&r.comment_id),
        s(&r.page_id),
        s(&r.database_id),
        s(&r.discussion_id),
        s(&r.parent_type),
        s(&r.parent_id),
        Cell::Ts(r.created_time),
        Cell::Ts(r.last_edited_time),
        os(&r.created_by),
        s(&r.plain_text),
    ];
    let tail = tracked(
        &r.payload,
        &r.payload_sha256,
        r.is_deleted,
        None,
        r.synced_at,
        &r.sync_run_id,
    );
    head.into_iter().chain(tail).collect()
}

/// A comment row from its cells.
pub fn comment_from(c: &[Cell]) -> CommentRecord {
    CommentRecord {
        comment_id: c[0].text(),
        page_id: c[1].text(),
        database_id: c[2].text(),
        discussion_id: c[3].text(),
        parent_type: c[4].text(),
        parent_id: c[5].text(),
        created_time: c[6].ts(),
        last_edited_time: c[7].ts(),
        created_by: c[8].opt_text(),
        plain_text: c[9].text(),
        payload: c[10].text(),
        payload_sha256: c[11].text(),
        is_deleted: c[12].flag(),
        synced_at: c[15].ts().unwrap_or_default(),
        sync_run_id: c[16].text(),
    }
}
