//! Row types of page content, users and comments: `notion_raw_blocks`, `notion_raw_users`,
//! `notion_raw_comments`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One block of a page's content tree, as read in document order.
///
/// Keyed on `(block_id, page_id)`: a block belongs to one page, but the key keeps a block listed under
/// two pages (a synced block's original children) apart. `first_synced_at` is set by the sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Block id, dashed lower-case.
    pub block_id: String,
    /// The page whose content the block is.
    pub page_id: String,
    /// The page's database.
    pub database_id: String,
    /// The page's data source.
    pub data_source_id: String,
    /// The block's parent: the page, or another block of it.
    pub parent_id: String,
    /// `page` or `block`.
    pub parent_type: String,
    /// 0-based order among its siblings.
    pub position: i64,
    /// 1 for a direct child of the page.
    pub depth: i64,
    /// Block type (`paragraph`, `toggle`, ...; unknown types as Notion names them).
    pub block_type: String,
    /// Whether Notion says it has children.
    pub has_children: bool,
    /// Notion's trash flag.
    pub in_trash: bool,
    /// Notion `created_time`.
    pub created_time: Option<DateTime<Utc>>,
    /// Notion `last_edited_time`.
    pub last_edited_time: Option<DateTime<Utc>>,
    /// The block JSON exactly as received.
    pub payload: String,
    /// Canonical SHA-256 of `payload`.
    pub payload_sha256: String,
    /// Plain text of the block's rich text (for search), empty when it has none.
    pub plain_text: String,
    /// The block is gone from its page (soft delete).
    pub is_deleted: bool,
    /// When it was first seen gone.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When this sync wrote the row.
    pub synced_at: DateTime<Utc>,
    /// The run that wrote the row.
    pub sync_run_id: String,
}

/// One workspace user, keyed on `user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// User id.
    pub user_id: String,
    /// `person` or `bot`.
    pub user_type: String,
    /// Display name.
    pub name: Option<String>,
    /// `person.email`, when the integration may read it.
    pub email: Option<String>,
    /// The user JSON exactly as received.
    pub payload: String,
    /// Canonical SHA-256 of `payload`.
    pub payload_sha256: String,
    /// The user is no longer listed.
    pub is_deleted: bool,
    /// When this sync wrote the row.
    pub synced_at: DateTime<Utc>,
    /// The run that wrote the row.
    pub sync_run_id: String,
}

/// One comment of a page or of one of its blocks, keyed on `comment_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentRecord {
    /// Comment id.
    pub comment_id: String,
    /// The page it belongs to.
    pub page_id: String,
    /// The page's database.
    pub database_id: String,
    /// Its discussion thread.
    pub discussion_id: String,
    /// `page_id` or `block_id`.
    pub parent_type: String,
    /// The page or block commented on.
    pub parent_id: String,
    /// Notion `created_time`.
    pub created_time: Option<DateTime<Utc>>,
    /// Notion `last_edited_time`.
    pub last_edited_time: Option<DateTime<Utc>>,
    /// `created_by.id`.
    pub created_by: Option<String>,
    /// Plain text of the comment.
    pub plain_text: String,
    /// The comment JSON exactly as received.
    pub payload: String,
    /// Canonical SHA-256 of `payload`.
    pub payload_sha256: String,
    /// The comment is no longer listed (resolved or deleted).
    pub is_deleted: bool,
    /// When this sync wrote the row.
    pub synced_at: DateTime<Utc>,
    /// The run that wrote the row.
    pub sync_run_id: String,
}

/// The content read for one page: its whole block tree, and its comments when asked for. A sink stores
/// these rows and flags the page's stored blocks (and comments) that are no longer among them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageContent {
    /// The page.
    pub page_id: String,
    /// Its database.
    pub database_id: String,
    /// Every block, in document order.
    pub blocks: Vec<BlockRecord>,
    /// Its comments; `None` when comments were not read.
    pub comments: Option<Vec<CommentRecord>>,
    /// Whether the whole tree was read; a tree cut by the depth cap flags nothing as deleted.
    pub complete: bool,
}
