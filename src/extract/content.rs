//! Page content: a page's block tree (read recursively, in document order), its comments, and the
//! workspace's users.
//!
//! `GET /v1/blocks/{id}/children` lists one level; blocks with `has_children` are read in turn, depth
//! first, so rows come out in document order. `child_page` and `child_database` blocks are stored but not
//! descended into (their pages are synced in their own right), and a synced block that references
//! another (`synced_from` set) is stored as the reference: the original's content is read once, in its
//! own page. A depth cap stops the descent; every subtree it cuts is counted and logged. Comments are
//! listed for the page and for each of its blocks (Notion lists a block's discussions only under it).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::SyncError;
use super::convert::{RowContext, json_sha256, payload_sha256};
use crate::bronze::{BlockRecord, CommentRecord, PageContent, UserRecord};
use crate::notion::ids::normalize_id;
use crate::notion::model::plain_text;
use crate::notion::{Client, RequestStats};

/// What to read besides the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContentOptions {
    /// Deepest level read (1 = the page's direct children); `None` reads everything.
    pub depth_cap: Option<usize>,
    /// Also read the comments of the page and its blocks.
    pub comments: bool,
}

/// The content of one page, and the subtrees the depth cap cut.
#[derive(Debug)]
pub struct ContentRead {
    /// Blocks (and comments).
    pub content: PageContent,
    /// Blocks with children that were not descended into because of the cap.
    pub cut: u64,
}

#[derive(Deserialize)]
struct BlockEnvelope {
    #[serde(default)]
    object: String,
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    has_children: bool,
    #[serde(default)]
    in_trash: bool,
    #[serde(default)]
    archived: bool,
    created_time: Option<DateTime<Utc>>,
    last_edited_time: Option<DateTime<Utc>>,
}

/// A level of the tree being walked.
struct Level {
    parent_id: String,
    parent_type: &'static str,
    depth: usize,
    items: std::vec::IntoIter<Box<RawValue>>,
    position: i64,
}

/// Reads the whole content of `page_id` (and its comments when asked).
pub async fn read_page_content(
    client: &Client,
    ctx: &RowContext,
    page_id: &str,
    opts: ContentOptions,
    stats: &RequestStats,
) -> Result<ContentRead, SyncError> {
    let mut blocks: Vec<BlockRecord> = Vec::new();
    let mut cut = 0u64;
    let mut stack = vec![Level {
        parent_id: page_id.to_string(),
        parent_type: "page",
        depth: 1,
        items: children(client, page_id, stats).await?.into_iter(),
        position: 0,
    }];
    while let Some(level) = stack.last_mut() {
        let Some(raw) = level.items.next() else {
            stack.pop();
            continue;
        };
        let record = block_record(&raw, ctx, page_id, level)?;
        level.position += 1;
        let depth = level.depth;
        let descend = record.has_children && descends(&record);
        let id = record.block_id.clone();
        blocks.push(record);
        if !descend {
            continue;
        }
        if opts.depth_cap.is_some_and(|cap| depth >= cap) {
            cut += 1;
            continue;
        }
        let items = children(client, &id, stats).await?.into_iter();
        stack.push(Level {
            parent_id: id,
            parent_type: "block",
            depth: depth + 1,
            items,
            position: 0,
        });
    }
    if cut > 0 {
        tracing::warn!(database = %ctx.database_name, page = page_id, subtrees = cut,
            "the content depth cap (NOTION_SYNC_CONTENT_DEPTH) cut the page's tree; deeper blocks are not stored");
    }
    let comments = if opts.comments {
        Some(read_comments(client, ctx, page_id, &blocks, stats).await?)
    } else {
        None
    };
    Ok(ContentRead {
        content: PageContent {
            page_id: page_id.to_string(),
            database_id: ctx.database_id.clone(),
            blocks,
            comments,
            complete: cut == 0,
        },
        cut,
    })
}

/// Whether the walk reads a block's children: not child pages or databases, not synced references.
fn descends(block: &BlockRecord) -> bool {
    match block.block_type.as_str() {
        "child_page" | "child_database" => false,
        "synced_block" => !synced_reference(&block.payload),
        _ => true,
    }
}

fn synced_reference(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.pointer("/synced_block/synced_from").cloned())
        .is_some_and(|from| !from.is_null())
}

async fn children(
    client: &Client,
    id: &str,
    stats: &RequestStats,
) -> Result<Vec<Box<RawValue>>, SyncError> {
    let path = format!("/v1/blocks/{id}/children");
    Ok(client
        .get_all(&path, Some(id), stats, &stats.content_requests)
        .await?)
}

fn block_record(
    raw: &RawValue,
    ctx: &RowContext,
    page_id: &str,
    level: &Level,
) -> Result<BlockRecord, SyncError> {
    let env: BlockEnvelope = serde_json::from_str(raw.get()).map_err(|e| {
        SyncError::Payload(format!(
            "a block of page {page_id} could not be decoded ({e})"
        ))
    })?;
    // Kept whatever its id looks like: a block is never dropped.
    let block_id = normalize_id(&env.id).unwrap_or(env.id);
    if env.object != "block" {
        tracing::debug!(page = page_id, object = %env.object, "a block list item is not a block object");
    }
    let payload = raw.get().to_string();
    Ok(BlockRecord {
        block_id,
        page_id: page_id.to_string(),
        database_id: ctx.database_id.clone(),
        data_source_id: ctx.data_source_id.clone(),
        parent_id: level.parent_id.clone(),
        parent_type: level.parent_type.to_string(),
        position: level.position,
        depth: level.depth as i64,
        plain_text: block_text(&payload, &env.kind),
        block_type: env.kind,
        has_children: env.has_children,
        in_trash: env.in_trash || env.archived,
        created_time: env.created_time,
        last_edited_time: env.last_edited_time,
        payload_sha256: payload_sha256(&payload),
        payload,
        is_deleted: false,
        deleted_at: None,
        synced_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    })
}

/// The rendered text of a block: its rich text, a child page's title, a table row's cells (tab-separated).
fn block_text(payload: &str, kind: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(payload) else {
        return String::new();
    };
    let body = &v[kind];
    if let Some(rich) = body.get("rich_text") {
        return plain_text(rich);
    }
    if let Some(cells) = body.get("cells").and_then(Value::as_array) {
        return cells.iter().map(plain_text).collect::<Vec<_>>().join("\t");
    }
    body.get("title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[derive(Deserialize)]
struct CommentEnvelope {
    id: String,
    #[serde(default)]
    discussion_id: String,
    #[serde(default)]
    parent: Value,
    created_time: Option<DateTime<Utc>>,
    last_edited_time: Option<DateTime<Utc>>,
    #[serde(default)]
    created_by: Option<Value>,
    #[serde(default)]
    rich_text: Value,
}

/// The comments of a page and of each of its blocks.
async fn read_comments(
    client: &Client,
    ctx: &RowContext,
    page_id: &str,
    blocks: &[BlockRecord],
    stats: &RequestStats,
) -> Result<Vec<CommentRecord>, SyncError> {
    let mut out = Vec::new();
    let targets = std::iter::once(page_id).chain(blocks.iter().map(|b| b.block_id.as_str()));
    for target in targets {
        let path = format!("/v1/comments?block_id={target}");
        let items = client
            .get_all(&path, Some(target), stats, &stats.content_requests)
            .await?;
        for raw in items {
            out.push(comment_record(&raw, ctx, page_id)?);
        }
    }
    Ok(out)
}

fn comment_record(
    raw: &RawValue,
    ctx: &RowContext,
    page_id: &str,
) -> Result<CommentRecord, SyncError> {
    let env: CommentEnvelope = serde_json::from_str(raw.get()).map_err(|e| {
        SyncError::Payload(format!(
            "a comment of page {page_id} could not be decoded ({e})"
        ))
    })?;
    let parent_type = env.parent["type"].as_str().unwrap_or_default().to_string();
    let parent_id = env.parent[parent_type.as_str()]
        .as_str()
        .and_then(normalize_id)
        .unwrap_or_else(|| page_id.to_string());
    let payload = raw.get().to_string();
    Ok(CommentRecord {
        comment_id: normalize_id(&env.id).unwrap_or(env.id),
        page_id: page_id.to_string(),
        database_id: ctx.database_id.clone(),
        discussion_id: env.discussion_id,
        parent_type,
        parent_id,
        created_time: env.created_time,
        last_edited_time: env.last_edited_time,
        created_by: env
            .created_by
            .and_then(|u| u.get("id").and_then(Value::as_str).map(str::to_string)),
        plain_text: plain_text(&env.rich_text),
        payload_sha256: json_sha256(&payload),
        payload,
        is_deleted: false,
        synced_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    })
}

/// Every user of the workspace (`GET /v1/users`).
pub async fn read_users(
    client: &Client,
    run_id: &str,
    at: DateTime<Utc>,
    stats: &RequestStats,
) -> Result<Vec<UserRecord>, SyncError> {
    let items = client
        .get_all("/v1/users", None, stats, &stats.content_requests)
        .await?;
    items
        .iter()
        .map(|raw| user_record(raw, run_id, at))
        .collect()
}

fn user_record(raw: &RawValue, run_id: &str, at: DateTime<Utc>) -> Result<UserRecord, SyncError> {
    let v: Value = serde_json::from_str(raw.get())
        .map_err(|e| SyncError::Payload(format!("a user could not be decoded ({e})")))?;
    let id = v["id"]
        .as_str()
        .ok_or_else(|| SyncError::Payload("a user has no id".into()))?;
    let payload = raw.get().to_string();
    Ok(UserRecord {
        user_id: normalize_id(id).unwrap_or_else(|| id.to_string()),
        user_type: v["type"].as_str().unwrap_or_default().to_string(),
        name: v["name"].as_str().map(str::to_string),
        email: v
            .pointer("/person/email")
            .and_then(Value::as_str)
            .map(str::to_string),
        payload_sha256: json_sha256(&payload),
        payload,
        is_deleted: false,
        synced_at: at,
        sync_run_id: run_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ctx() -> RowContext {
        super::super::convert::test_ctx()
    }

    /// Every object under `raw` whose `object` is `kind`, as its own text.
    fn objects<'a>(raw: &'a RawValue, out: &mut Vec<(String, &'a RawValue)>) {
        let text = raw.get().trim_start();
        if text.starts_with('{') {
            let Ok(map) = serde_json::from_str::<HashMap<&str, &RawValue>>(raw.get()) else {
                return;
            };
            if let Some(kind) = map
                .get("object")
                .and_then(|o| serde_json::from_str::<String>(o.get()).ok())
            {
                out.push((kind, raw));
            }
            for v in map.values() {
                objects(v, out);
            }
        } else if text.starts_with('[') {
            for v in serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default() {
                objects(v, out);
            }
        }
    }

    #[test]
    fn every_recorded_block_comment_and_user_is_stored_verbatim() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/notion-corpus");
        let mut counts: HashMap<String, usize> = HashMap::new();
        for entry in std::fs::read_dir(dir).expect("the corpus is checked in") {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(root) = serde_json::from_str::<&RawValue>(&text) else {
                continue;
            };
            let mut found = Vec::new();
            objects(root, &mut found);
            for (kind, raw) in found {
                let level = Level {
                    parent_id: "p".into(),
                    parent_type: "page",
                    depth: 1,
                    items: Vec::new().into_iter(),
                    position: 0,
                };
                let payload = match kind.as_str() {
                    "block" => block_record(raw, &ctx(), "p", &level).map(|r| r.payload),
                    "comment" => comment_record(raw, &ctx(), "p").map(|r| r.payload),
                    "user" => user_record(raw, "r", Utc::now()).map(|r| r.payload),
                    _ => continue,
                };
                let payload = payload.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(payload, raw.get(), "{}", path.display());
                *counts.entry(kind).or_default() += 1;
            }
        }
        for kind in ["block", "comment", "user"] {
            assert!(
                counts.get(kind).copied().unwrap_or(0) > 10,
                "{kind}: {counts:?}"
            );
        }
    }

    #[test]
    fn text_comes_from_rich_text_titles_and_table_cells() {
        let p = r#"{"type":"paragraph","paragraph":{"rich_text":[{"plain_text":"a"},{"plain_text":"b"}]}}"#;
        assert_eq!(block_text(p, "paragraph"), "ab");
        let t = r#"{"type":"table_row","table_row":{"cells":[[{"plain_text":"x"}],[{"plain_text":"y"}]]}}"#;
        assert_eq!(block_text(t, "table_row"), "x\ty");
        let c = r#"{"type":"child_page","child_page":{"title":"Notes"}}"#;
        assert_eq!(block_text(c, "child_page"), "Notes");
        assert_eq!(
            block_text(r#"{"type":"divider","divider":{}}"#, "divider"),
            ""
        );
    }

    #[test]
    fn synced_references_and_child_pages_are_not_descended_into() {
        let block = |kind: &str, payload: &str| BlockRecord {
            block_id: "b".into(),
            page_id: "p".into(),
            database_id: "d".into(),
            data_source_id: "s".into(),
            parent_id: "p".into(),
            parent_type: "page".into(),
            position: 0,
            depth: 1,
            block_type: kind.into(),
            has_children: true,
            in_trash: false,
            created_time: None,
            last_edited_time: None,
            payload: payload.into(),
            payload_sha256: String::new(),
            plain_text: String::new(),
            is_deleted: false,
            deleted_at: None,
            synced_at: Utc::now(),
            sync_run_id: "r".into(),
        };
        assert!(descends(&block("toggle", "{}")));
        assert!(!descends(&block("child_page", "{}")));
        assert!(!descends(&block("child_database", "{}")));
        assert!(descends(&block(
            "synced_block",
            r#"{"synced_block":{"synced_from":null}}"#
        )));
        assert!(!descends(&block(
            "synced_block",
            r#"{"synced_block":{"synced_from":{"type":"block_id","block_id":"x"}}}"#
        )));
    }
}
