//! Page content: the block tree under each page and the comments on pages and blocks.
//!
//! Navigation follows Notion: a synced-block reference lists its original's children, trashed blocks are
//! no longer among their parent's children, and every content edit bumps the page holding the block.

use chrono::{DateTime, Utc};

use crate::model::{Block, Comment, Workspace, plain_text};
use crate::render::text;
use crate::rng::Rng;

/// Block types that never hold children.
const LEAVES: &[&str] = &[
    "audio",
    "bookmark",
    "breadcrumb",
    "child_database",
    "child_page",
    "code",
    "divider",
    "embed",
    "equation",
    "file",
    "image",
    "link_preview",
    "link_to_page",
    "pdf",
    "table_of_contents",
    "table_row",
    "unsupported",
    "video",
];

/// Who made a change, and when (minute-floored).
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// Time of the change.
    pub at: DateTime<Utc>,
    /// User id of the author.
    pub by: &'a str,
}

/// A live block placed in its page's tree.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    /// The block.
    pub block: &'a Block,
    /// 0-based index among its parent's live children.
    pub position: usize,
    /// 1 for a direct child of the page.
    pub depth: usize,
}

/// The original a synced-block reference mirrors.
fn synced_original(b: &Block) -> Option<&str> {
    if b.kind != "synced_block" {
        return None;
    }
    b.payload["synced_from"]["block_id"].as_str()
}

/// The id whose children a page or block lists: a synced reference lists its original's children.
pub fn children_key<'a>(ws: &'a Workspace, id: &'a str) -> &'a str {
    ws.blocks
        .get(id)
        .and_then(synced_original)
        .filter(|o| ws.blocks.contains_key(*o))
        .unwrap_or(id)
}

/// Live children of a page or block, in order.
pub fn children<'a>(ws: &'a Workspace, id: &str) -> &'a [String] {
    ws.children
        .get(children_key(ws, id))
        .map_or(&[], Vec::as_slice)
}

/// Whether a page or block has live children (as `has_children` reports it).
pub fn has_children(ws: &Workspace, id: &str) -> bool {
    !children(ws, id).is_empty()
}

/// The topmost id above a block: its page, or whatever it hangs from once the page is gone. A page
/// is its own root (a child page's `child_page` block in its parent shares the page's id).
fn root_of<'a>(ws: &'a Workspace, id: &'a str) -> &'a str {
    let mut cur = id;
    while !ws.pages.contains_key(cur)
        && let Some(b) = ws.blocks.get(cur)
    {
        cur = &b.parent;
    }
    cur
}

/// The page holding a block; a page id gives itself.
pub fn page_of<'a>(ws: &'a Workspace, id: &'a str) -> Option<&'a str> {
    let root = root_of(ws, id);
    ws.pages.contains_key(root).then_some(root)
}

/// Whether `id` is `ancestor` or lies under it.
fn within(ws: &Workspace, id: &str, ancestor: &str) -> bool {
    let mut cur = id;
    loop {
        if cur == ancestor {
            return true;
        }
        match ws.blocks.get(cur) {
            Some(b) => cur = &b.parent,
            None => return false,
        }
    }
}

/// Whether a block of type `child` may sit under `parent` (`None` for a page).
fn accepts(parent: Option<&Block>, child: &str) -> bool {
    accepts_kind(
        parent.map(|p| p.kind.as_str()),
        parent.is_some_and(|p| p.payload["is_toggleable"] == true),
        child,
    )
}

/// Whether a block of type `child` may sit under a parent of type `parent` (`None` for a page;
/// `toggleable` for a heading that can hold children).
pub fn accepts_kind(parent: Option<&str>, toggleable: bool, child: &str) -> bool {
    match parent {
        None => child != "table_row" && child != "column",
        Some("table") => child == "table_row",
        Some("column_list") => child == "column",
        Some("tab") => child == "paragraph",
        Some("heading_1" | "heading_2" | "heading_3" | "heading_4") => {
            toggleable && !is_structural(child)
        }
        Some(kind) => !LEAVES.contains(&kind) && !is_structural(child),
    }
}

/// Types that only live under their own container (`table_row` in `table`, `column` in `column_list`).
fn is_structural(kind: &str) -> bool {
    kind == "table_row" || kind == "column"
}

/// A live page or live block that can take children of type `kind`; resolves synced references.
fn live_container<'a>(ws: &'a Workspace, id: &'a str, kind: &str) -> Option<&'a str> {
    if ws.pages.contains_key(id) {
        return accepts(None, kind).then_some(id);
    }
    let key = children_key(ws, id);
    let b = ws.blocks.get(key)?;
    (!b.in_trash && accepts(Some(b), kind)).then_some(key)
}

/// Places a block under its parent: at `position` among the live children (clamped), or at the end.
pub fn attach(ws: &mut Workspace, mut block: Block, position: Option<usize>) {
    block.parent_is_page = ws.pages.contains_key(&block.parent);
    let siblings = ws.children.entry(block.parent.clone()).or_default();
    let at = position.unwrap_or(siblings.len()).min(siblings.len());
    siblings.insert(at, block.id.clone());
    ws.blocks.insert(block.id.clone(), block);
}

/// Takes a block out of its parent's live children.
pub fn detach(ws: &mut Workspace, id: &str) {
    let Some(parent) = ws.blocks.get(id).map(|b| b.parent.clone()) else {
        return;
    };
    if let Some(siblings) = ws.children.get_mut(&parent) {
        siblings.retain(|c| c != id);
        if siblings.is_empty() {
            ws.children.remove(&parent);
        }
    }
}

/// Records a content edit on the page holding `id`.
pub fn touch_page(ws: &mut Workspace, id: &str, stamp: Stamp) {
    let Some(page) = page_of(ws, id).map(str::to_string) else {
        return;
    };
    if let Some(p) = ws.pages.get_mut(&page) {
        p.edited = stamp.at;
        p.edited_by = stamp.by.to_string();
    }
}

/// A new block authored by `stamp`, not yet attached.
pub fn new_block(
    id: String,
    parent: &str,
    kind: &str,
    payload: serde_json::Value,
    stamp: Stamp,
) -> Block {
    Block {
        id,
        parent: parent.to_string(),
        parent_is_page: false,
        kind: kind.to_string(),
        payload,
        created: stamp.at,
        edited: stamp.at,
        created_by: stamp.by.to_string(),
        edited_by: stamp.by.to_string(),
        in_trash: false,
        restore_after: None,
    }
}

/// The payload of a plain paragraph.
pub fn paragraph(content: &str) -> serde_json::Value {
    serde_json::json!({"rich_text": text(content), "icon": null, "color": "default"})
}

/// Appends `n` paragraphs at the end of a live page or block; returns their ids (none if the parent
/// cannot hold paragraphs).
pub fn append_paragraphs(
    ws: &mut Workspace,
    rng: &mut Rng,
    parent: &str,
    n: usize,
    stamp: Stamp,
) -> Vec<String> {
    let Some(parent) = live_container(ws, parent, "paragraph").map(str::to_string) else {
        return Vec::new();
    };
    let start = children(ws, &parent).len();
    let ids: Vec<String> = (0..n).map(|_| rng.id()).collect();
    for (i, id) in ids.iter().enumerate() {
        let payload = paragraph(&format!("Appended paragraph {}", start + i + 1));
        attach(
            ws,
            new_block(id.clone(), &parent, "paragraph", payload, stamp),
            None,
        );
    }
    if !ids.is_empty() {
        touch_page(ws, &parent, stamp);
    }
    ids
}

/// Replaces the text of a payload's main text field; `false` for types without text.
fn rewrite_text(payload: &mut serde_json::Value, label: &str) -> bool {
    let next = |old: &str| {
        let base = old.split(" · edit ").next().unwrap_or("");
        format!("{base} · edit {label}")
    };
    for key in ["rich_text", "title", "caption"] {
        match payload.get_mut(key) {
            Some(v @ serde_json::Value::Array(_)) => {
                *v = text(&next(&plain_text(Some(v))));
                return true;
            }
            Some(serde_json::Value::String(s)) => {
                *s = next(s);
                return true;
            }
            _ => {}
        }
    }
    if let Some(serde_json::Value::String(s)) = payload.get_mut("expression") {
        *s = next(s);
        return true;
    }
    if let Some(cell) = payload.pointer_mut("/cells/0") {
        *cell = text(&next(&plain_text(Some(cell))));
        return true;
    }
    false
}

/// Changes the text of a live block (`label` tells edits apart); `false` when it has none.
pub fn edit_block(ws: &mut Workspace, id: &str, label: &str, stamp: Stamp) -> bool {
    let Some(b) = ws.blocks.get_mut(id).filter(|b| !b.in_trash) else {
        return false;
    };
    if !rewrite_text(&mut b.payload, label) {
        return false;
    }
    b.edited = stamp.at;
    b.edited_by = stamp.by.to_string();
    touch_page(ws, id, stamp);
    true
}

/// Moves a live block to the trash: it leaves its parent's children and its descendants go with it.
pub fn trash_block(ws: &mut Workspace, id: &str, stamp: Stamp) -> bool {
    let Some(parent) = ws
        .blocks
        .get(id)
        .filter(|b| !b.in_trash)
        .map(|b| b.parent.clone())
    else {
        return false;
    };
    let siblings = ws.children.get(&parent).cloned().unwrap_or_default();
    let before = siblings
        .iter()
        .position(|s| s == id)
        .and_then(|i| i.checked_sub(1))
        .map(|i| siblings[i].clone());
    detach(ws, id);
    if let Some(b) = ws.blocks.get_mut(id) {
        b.in_trash = true;
        b.restore_after = before;
        b.edited = stamp.at;
        b.edited_by = stamp.by.to_string();
    }
    touch_page(ws, &parent, stamp);
    true
}

/// Takes a block out of the trash: back among its parent's children after the sibling it followed
/// (first when it was first, last when that sibling is gone); `false` when it is not in the trash or
/// its parent is gone.
pub fn restore_block(ws: &mut Workspace, id: &str, stamp: Stamp) -> bool {
    let Some(b) = ws.blocks.get(id).filter(|b| b.in_trash).cloned() else {
        return false;
    };
    let parent_live =
        ws.pages.contains_key(&b.parent) || ws.blocks.get(&b.parent).is_some_and(|p| !p.in_trash);
    if !parent_live {
        return false;
    }
    let siblings = children(ws, &b.parent);
    let at = match &b.restore_after {
        None => 0,
        Some(prev) => siblings
            .iter()
            .position(|s| s == prev)
            .map_or(siblings.len(), |i| i + 1),
    };
    let mut b = b;
    b.in_trash = false;
    b.restore_after = None;
    b.edited = stamp.at;
    b.edited_by = stamp.by.to_string();
    let parent = b.parent.clone();
    ws.blocks.remove(id);
    attach(ws, b, Some(at));
    touch_page(ws, &parent, stamp);
    true
}

/// Moves a live block under another live parent of the same page (itself excluded), at `position`
/// among that parent's children; the same parent reorders.
pub fn move_block(
    ws: &mut Workspace,
    id: &str,
    parent: &str,
    position: usize,
    stamp: Stamp,
) -> bool {
    let Some(b) = ws.blocks.get(id).filter(|b| !b.in_trash) else {
        return false;
    };
    let Some(target) = live_container(ws, parent, &b.kind).map(str::to_string) else {
        return false;
    };
    if within(ws, &target, id) || page_of(ws, &target) != page_of(ws, id) {
        return false;
    }
    detach(ws, id);
    let Some(mut b) = ws.blocks.remove(id) else {
        return false;
    };
    b.parent = target;
    b.edited = stamp.at;
    b.edited_by = stamp.by.to_string();
    attach(ws, b, Some(position));
    touch_page(ws, id, stamp);
    true
}

/// Adds a comment: a new discussion on a page or live block, or (with `discussion`) a reply to an
/// unresolved discussion. Returns the comment id. Comments leave the page's `last_edited_time` alone:
/// notion-api.md names no comment among the edits that bump it.
pub fn add_comment(
    ws: &mut Workspace,
    rng: &mut Rng,
    target: Target<'_>,
    content: &str,
    stamp: Stamp,
) -> Option<String> {
    let (parent, discussion) = match target {
        Target::Parent(parent) => {
            let live =
                ws.pages.contains_key(parent) || ws.blocks.get(parent).is_some_and(|b| !b.in_trash);
            if !live {
                return None;
            }
            (parent.to_string(), None)
        }
        Target::Discussion(d) => {
            let first = ws
                .comments
                .iter()
                .find(|c| c.discussion == d && !c.resolved)?;
            (first.parent.clone(), Some(d.to_string()))
        }
    };
    let page = page_of(ws, &parent)?.to_string();
    let id = rng.id();
    ws.comments.push(Comment {
        id: id.clone(),
        parent_is_page: parent == page,
        page,
        parent,
        discussion: discussion.unwrap_or_else(|| rng.id()),
        text: content.to_string(),
        rich: None,
        display_name: None,
        by: stamp.by.to_string(),
        created: stamp.at,
        edited: stamp.at,
        resolved: false,
    });
    Some(id)
}

/// What a new comment attaches to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A page or block id: starts a discussion.
    Parent(&'a str),
    /// A discussion id: replies to it.
    Discussion(&'a str),
}

/// Unresolved comments on a page or block, oldest first.
pub fn comments_on<'a>(ws: &'a Workspace, parent: &str) -> Vec<&'a Comment> {
    let mut out: Vec<&Comment> = ws
        .comments
        .iter()
        .filter(|c| c.parent == parent && !c.resolved)
        .collect();
    out.sort_by_key(|c| c.created);
    out
}

/// Deletes a page's blocks (live and trashed) and comments for good (with or before the page).
pub fn purge_page(ws: &mut Workspace, page: &str) {
    let doomed: Vec<String> = ws
        .blocks
        .keys()
        .filter(|id| root_of(ws, id) == page)
        .cloned()
        .collect();
    for id in &doomed {
        ws.blocks.remove(id);
        ws.children.remove(id);
    }
    ws.children.remove(page);
    ws.comments.retain(|c| c.page != page);
}

/// A page's live blocks in document order (depth first; synced references are not followed).
pub fn flatten<'a>(ws: &'a Workspace, page: &str) -> Vec<Placed<'a>> {
    let mut out = Vec::new();
    walk(ws, page, 1, &mut out);
    out
}

fn walk<'a>(ws: &'a Workspace, parent: &str, depth: usize, out: &mut Vec<Placed<'a>>) {
    let Some(ids) = ws.children.get(parent) else {
        return;
    };
    for (position, id) in ids.iter().enumerate() {
        if let Some(block) = ws.blocks.get(id) {
            out.push(Placed {
                block,
                position,
                depth,
            });
            // A child page's content is its own.
            if !ws.pages.contains_key(id) {
                walk(ws, id, depth + 1, out);
            }
        }
    }
}
