//! A page's content brought back to the snapshot's tree: blocks that still exist stay and are edited in
//! place, blocks out of order or gone are created again where they belong, and blocks the snapshot does
//! not have are deleted (Notion keeps deleted blocks in its trash).
//!
//! Blocks cannot be moved through the API, so under each parent the kept blocks are the longest run of
//! the snapshot's children that are still there in the snapshot's order; the others are recreated.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::write::{self, Remap};
use crate::bronze::BlockRecord;

/// Block types a request cannot create (pages and databases are restored as pages, not blocks).
const NOT_CREATABLE: &[&str] = &[
    "child_page",
    "child_database",
    "link_preview",
    "meeting_notes",
    "transcription",
    "unsupported",
    "template",
    "ai_block",
];

/// Types whose children must be sent with them when they are created.
const CREATED_WITH_CHILDREN: &[&str] = &["column_list", "column", "table"];

/// Where a block goes: a block that exists now, or one of the snapshot's that this restore creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Ref {
    /// An existing page or block.
    Live(String),
    /// The block created for this snapshot block.
    Snapshot(String),
}

/// A block to create, with its subtree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewBlock {
    /// The snapshot's id of it.
    pub old_id: String,
    /// The request body of the block without children.
    pub body: Value,
    /// Its children.
    pub children: Vec<NewBlock>,
}

/// One write of a content restore.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BlockOp {
    /// Edit a block in place.
    Update {
        /// The block.
        block_id: String,
        /// The request body.
        body: Value,
    },
    /// Delete a block the snapshot does not have.
    Delete {
        /// The block.
        block_id: String,
    },
    /// Create blocks under `parent`, after `after` (at the start when `None`).
    Append {
        /// The parent.
        parent: Ref,
        /// The sibling to follow.
        after: Option<Ref>,
        /// The blocks, in order.
        blocks: Vec<NewBlock>,
    },
}

/// What a content diff produced: the writes, and what could not be brought back.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContentPlan {
    /// Writes in order.
    pub ops: Vec<BlockOp>,
    /// Blocks left as they are, with the reason.
    pub notes: Vec<String>,
}

impl ContentPlan {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Whether a block's children go in its own create request.
pub fn inline(body: &Value) -> bool {
    body["type"]
        .as_str()
        .is_some_and(|k| CREATED_WITH_CHILDREN.contains(&k))
}

/// The key of the Notion-hosted file a media block holds.
fn hosted_key(payload: &Value) -> Option<String> {
    let kind = payload["type"].as_str()?;
    (payload[kind]["type"] == "file")
        .then(|| {
            payload[kind]["file"]["url"]
                .as_str()
                .and_then(crate::notion::files::file_key)
        })
        .flatten()
}

/// The request body of a block from its payload (no children), or why it cannot be created.
pub fn body(payload: &Value, remap: Remap<'_>) -> Result<Value, String> {
    let kind = payload["type"].as_str().unwrap_or_default();
    if NOT_CREATABLE.contains(&kind) || kind.is_empty() {
        return Err(format!("a {kind} block cannot be created through the API"));
    }
    let mut inner: Map<String, Value> = payload[kind].as_object().cloned().unwrap_or_default();
    inner.remove("children");
    for key in ["rich_text", "caption"] {
        if let Some(v) = inner.get(key) {
            let text = write::split_rich_text(&write::rich_text(v, remap));
            inner.insert(key.into(), text);
        }
    }
    if let Some(cells) = inner.get("cells").and_then(Value::as_array) {
        let cells: Vec<Value> = cells
            .iter()
            .map(|c| write::split_rich_text(&write::rich_text(c, remap)))
            .collect();
        inner.insert("cells".into(), Value::Array(cells));
    }
    match inner.get("type").and_then(Value::as_str) {
        Some("file") => {
            // Sent back as an upload of bronze's copy, when the restore has one (`--upload-files`).
            let key = inner["file"]["url"]
                .as_str()
                .and_then(crate::notion::files::file_key)
                .unwrap_or_default();
            let wanted = super::upload::upload_ref(&key);
            let id = remap(&wanted);
            if id == wanted {
                return Err(format!(
                    "a {kind} block holds a Notion-hosted file, which a request cannot send back \
                     (sync with NOTION_SYNC_INCLUDE=files and restore with --upload-files)"
                ));
            }
            inner.remove("file");
            inner.insert("type".into(), json!("file_upload"));
            inner.insert("file_upload".into(), json!({"id": id}));
        }
        Some("page_id") if kind == "link_to_page" => {
            let id = inner["page_id"].as_str().map(remap);
            inner.insert("page_id".into(), json!(id));
        }
        _ => {}
    }
    if kind == "synced_block" && !inner["synced_from"].is_null() {
        return Err("a synced block's reference is created only with its original".into());
    }
    Ok(json!({"type": kind, kind: Value::Object(inner)}))
}

/// The body of an in-place edit: what an update may change of a block.
fn update_body(created: &Value) -> Value {
    let kind = created["type"].as_str().unwrap_or_default();
    let mut inner = created[kind].as_object().cloned().unwrap_or_default();
    for fixed in ["table_width", "synced_from"] {
        inner.remove(fixed);
    }
    json!({ kind: Value::Object(inner) })
}

/// A tree: each parent's children in order.
struct Tree<'a> {
    children: HashMap<&'a str, Vec<&'a BlockRecord>>,
}

impl<'a> Tree<'a> {
    fn of(blocks: &'a [BlockRecord]) -> Tree<'a> {
        let mut children: HashMap<&str, Vec<&BlockRecord>> = HashMap::new();
        for b in blocks {
            children.entry(b.parent_id.as_str()).or_default().push(b);
        }
        for list in children.values_mut() {
            list.sort_by_key(|b| b.position);
        }
        Tree { children }
    }

    fn under(&self, parent: &str) -> &[&'a BlockRecord] {
        self.children.get(parent).map_or(&[], Vec::as_slice)
    }
}

fn payload(b: &BlockRecord) -> Value {
    serde_json::from_str(&b.payload).unwrap_or(Value::Null)
}

/// The writes that bring the live tree of page `live_page` back to the snapshot's tree of `snap_page`.
/// `mapped` gives the block standing now for a snapshot block (a block this restore created earlier).
pub fn diff(
    snap_page: &str,
    snapshot: &[BlockRecord],
    live_page: &str,
    live: &[BlockRecord],
    mapped: &dyn Fn(&str) -> String,
    remap: Remap<'_>,
) -> ContentPlan {
    let snap = Tree::of(snapshot);
    let now = Tree::of(live);
    let mut plan = ContentPlan::default();
    level(&snap, &now, snap_page, live_page, mapped, remap, &mut plan);
    plan
}

#[allow(clippy::too_many_arguments)]
fn level(
    snap: &Tree<'_>,
    now: &Tree<'_>,
    snap_parent: &str,
    live_parent: &str,
    mapped: &dyn Fn(&str) -> String,
    remap: Remap<'_>,
    plan: &mut ContentPlan,
) {
    let wanted = snap.under(snap_parent);
    let present = now.under(live_parent);
    let position: HashMap<&str, usize> = present
        .iter()
        .enumerate()
        .map(|(i, b)| (b.block_id.as_str(), i))
        .collect();
    let ids: Vec<String> = wanted.iter().map(|b| mapped(&b.block_id)).collect();
    let matched: Vec<Option<usize>> = ids
        .iter()
        .map(|id| position.get(id.as_str()).copied())
        .collect();
    let kept = longest_in_order(&matched);
    let kept_live: HashSet<usize> = kept.iter().filter_map(|&i| matched[i]).collect();
    for (i, b) in present.iter().enumerate() {
        if kept_live.contains(&i) {
            continue;
        }
        if matches!(b.block_type.as_str(), "child_page" | "child_database") {
            plan.notes.push(format!(
                "{} {} is not in the snapshot here; pages and databases are never deleted by a restore",
                b.block_type, b.block_id
            ));
            continue;
        }
        plan.ops.push(BlockOp::Delete {
            block_id: b.block_id.clone(),
        });
    }
    let mut after: Option<Ref> = None;
    let mut run: Vec<NewBlock> = Vec::new();
    let flush = |run: &mut Vec<NewBlock>, after: &Option<Ref>, plan: &mut ContentPlan| {
        if !run.is_empty() {
            plan.ops.push(BlockOp::Append {
                parent: Ref::Live(live_parent.to_string()),
                after: after.clone(),
                blocks: std::mem::take(run),
            });
        }
    };
    for (i, b) in wanted.iter().enumerate() {
        if kept.contains(&i) {
            flush(&mut run, &after, plan);
            let live_id = ids[i].clone();
            let live_block = present[matched[i].unwrap_or_default()];
            let (snap_payload, live_payload) = (payload(b), payload(live_block));
            // A hosted file the block still holds is not uploaded again.
            let (snap_file, live_file) = (hosted_key(&snap_payload), hosted_key(&live_payload));
            let same_file = snap_file.as_ref().is_some_and(|k| {
                Some(k) == live_file.as_ref()
                    || live_file.as_deref() == Some(&*remap(&super::upload::file_ref(k)))
            });
            let identity = |x: &str| x.to_string();
            let (want, have) = (
                body(&snap_payload, if same_file { &identity } else { remap }),
                body(&live_payload, &identity),
            );
            if let Ok(want) = &want
                && want["type"] == live_block.block_type.as_str()
                && have.as_ref().ok() != Some(want)
            {
                plan.ops.push(BlockOp::Update {
                    block_id: live_id.clone(),
                    body: update_body(want),
                });
            }
            if b.has_children || live_block.has_children {
                level(snap, now, &b.block_id, &live_id, mapped, remap, plan);
            }
            after = Some(Ref::Live(live_id));
            continue;
        }
        match subtree(snap, b, remap, &mut plan.notes) {
            Some(new) => {
                let id = new.old_id.clone();
                run.push(new);
                if run.len() == write::MAX_ITEMS {
                    flush(&mut run, &after, plan);
                    after = Some(Ref::Snapshot(id));
                }
            }
            None => continue,
        }
    }
    flush(&mut run, &after, plan);
}

/// A snapshot block and its subtree as blocks to create (`None`, with a note, when it cannot be).
fn subtree(
    snap: &Tree<'_>,
    b: &BlockRecord,
    remap: Remap<'_>,
    notes: &mut Vec<String>,
) -> Option<NewBlock> {
    match body(&payload(b), remap) {
        Ok(body) => Some(NewBlock {
            old_id: b.block_id.clone(),
            body,
            children: snap
                .under(&b.block_id)
                .iter()
                .filter_map(|c| subtree(snap, c, remap, notes))
                .collect(),
        }),
        Err(why) => {
            notes.push(format!("block {} not restored: {why}", b.block_id));
            None
        }
    }
}

/// Indexes (into `matched`) of the longest subsequence whose live positions increase.
fn longest_in_order(matched: &[Option<usize>]) -> Vec<usize> {
    let items: Vec<(usize, usize)> = matched
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|p| (i, p)))
        .collect();
    // Patience sorting over live positions, keeping predecessors.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; items.len()];
    for k in 0..items.len() {
        let p = items[k].1;
        let at = tails.partition_point(|&t| items[t].1 < p);
        if at > 0 {
            prev[k] = Some(tails[at - 1]);
        }
        if at == tails.len() {
            tails.push(k);
        } else {
            tails[at] = k;
        }
    }
    let mut out = Vec::new();
    let mut cur = tails.last().copied();
    while let Some(k) = cur {
        out.push(items[k].0);
        cur = prev[k];
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: &str, parent: &str, position: i64, text: &str) -> BlockRecord {
        let payload = json!({"object": "block", "id": id, "type": "paragraph", "has_children": false,
            "paragraph": {"rich_text": [{"type": "text", "text": {"content": text, "link": null},
                "plain_text": text, "annotations": {}}], "color": "default"}});
        BlockRecord {
            block_id: id.into(),
            page_id: "p".into(),
            database_id: "d".into(),
            data_source_id: "d".into(),
            parent_id: parent.into(),
            parent_type: if parent == "p" { "page" } else { "block" }.into(),
            position,
            depth: 1,
            block_type: "paragraph".into(),
            has_children: false,
            in_trash: false,
            created_time: None,
            last_edited_time: None,
            payload: payload.to_string(),
            payload_sha256: String::new(),
            plain_text: text.into(),
            is_deleted: false,
            deleted_at: None,
            synced_at: chrono::Utc::now(),
            sync_run_id: String::new(),
        }
    }

    fn same(id: &str) -> String {
        id.to_string()
    }

    #[test]
    fn keeps_what_is_in_order_edits_in_place_and_recreates_the_rest() {
        let snap = vec![
            block("a", "p", 0, "A"),
            block("b", "p", 1, "B"),
            block("c", "p", 2, "C"),
        ];
        // Live: c moved before a (impossible to move back), b edited, x added.
        let live = vec![
            block("c", "p", 0, "C"),
            block("a", "p", 1, "A"),
            block("b", "p", 2, "B!"),
            block("x", "p", 3, "X"),
        ];
        let plan = diff("p", &snap, "p", &live, &same, &same);
        let deletes: Vec<&str> = plan
            .ops
            .iter()
            .filter_map(|o| match o {
                BlockOp::Delete { block_id } => Some(block_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deletes, ["c", "x"]);
        assert!(plan.ops.iter().any(
            |o| matches!(o, BlockOp::Update { block_id, body } if block_id == "b" && body["paragraph"]["rich_text"][0]["text"]["content"] == "B")
        ));
        assert!(plan.ops.iter().any(|o| matches!(o,
            BlockOp::Append { after: Some(Ref::Live(a)), blocks, .. } if a == "b" && blocks[0].old_id == "c")));
        let same_tree = diff("p", &snap, "p", &snap, &same, &same);
        assert!(same_tree.is_empty(), "{same_tree:?}");
    }

    #[test]
    fn longest_run_in_order() {
        assert_eq!(
            longest_in_order(&[Some(2), Some(0), Some(1), None, Some(3)]),
            vec![1, 2, 4]
        );
        assert!(longest_in_order(&[None, None]).is_empty());
    }
}
