//! The plan of a restore in place: the snapshot against live Notion, one action per page.
//!
//! Planning sends no write. It reads each database's pages (the query requests of a full read), one
//! `GET` per snapshot page the queries no longer list, and the content of pages whose snapshot holds
//! content and whose last edit differs.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::RestoreError;
use super::content::{self, ContentPlan};
use super::live::{self, LiveDatabase, LivePage};
use super::snapshot::{DatabaseSnapshot, Snapshot, SnapshotPage};
use super::write::{self, Writable};
use crate::config::DatabaseConfig;
use crate::notion::{Client, RequestStats};

/// What a restore does to one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Created again in its data source (the page is gone); it gets a new id.
    Recreate,
    /// Taken out of the trash (and its properties written where they differ).
    Untrash,
    /// Its writable properties that differ are written.
    Update,
    /// Only its content differs: brought back to the snapshot's tree.
    Content,
    /// Nothing to write, with the reasons (e.g. only read-only values differ).
    Skipped,
    /// Equal to the snapshot.
    Unchanged,
    /// Made after the snapshot: reported, trashed only with `--trash-new`.
    NewSinceSnapshot,
}

impl ActionKind {
    /// Every kind, in the order the plan's table shows them.
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Update,
        ActionKind::Untrash,
        ActionKind::Recreate,
        ActionKind::Content,
        ActionKind::Unchanged,
        ActionKind::Skipped,
        ActionKind::NewSinceSnapshot,
    ];

    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Recreate => "recreate",
            ActionKind::Untrash => "untrash",
            ActionKind::Update => "update",
            ActionKind::Content => "content",
            ActionKind::Skipped => "skipped",
            ActionKind::Unchanged => "unchanged",
            ActionKind::NewSinceSnapshot => "new_since_snapshot",
        }
    }
}

/// A property value to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropWrite {
    /// Its name (today's).
    pub name: String,
    /// Its type.
    pub kind: String,
    /// The canonical value (see [`write`]).
    pub value: Value,
}

/// One page's action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageAction {
    /// What is done.
    pub kind: ActionKind,
    /// The page's id in the snapshot (for a new page: its id now).
    pub page_id: String,
    /// The page standing for it now, when there is one (a page recreated by an earlier run of this
    /// restore has a new id).
    pub live_id: Option<String>,
    /// Its data source.
    pub data_source_id: String,
    /// Its title in the snapshot.
    pub title: String,
    /// Take it out of the trash first.
    pub untrash: bool,
    /// Properties to write, by property id.
    pub properties: BTreeMap<String, PropWrite>,
    /// Content writes.
    pub content: Option<ContentPlan>,
    /// Trash it (a new page, with `--trash-new`).
    pub trash: bool,
    /// Why something is not written.
    pub notes: Vec<String>,
}

/// The actions of one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabasePlan {
    /// Database id.
    pub database_id: String,
    /// Configured name.
    pub name: String,
    /// One per page.
    pub actions: Vec<PageAction>,
    /// Properties the snapshot has and today's schema lacks, added back first
    /// (`--add-missing-properties`).
    pub add_properties: Vec<AddProperty>,
}

/// A property to add back to a data source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddProperty {
    /// The data source.
    pub data_source_id: String,
    /// Its name in the snapshot.
    pub name: String,
    /// Its configuration in the snapshot (`{"type": ..., <type>: {...}}`).
    pub config: Value,
}

impl DatabasePlan {
    /// Pages per action kind.
    pub fn counts(&self) -> BTreeMap<ActionKind, usize> {
        let mut out = BTreeMap::new();
        for a in &self.actions {
            *out.entry(a.kind).or_default() += 1;
        }
        out
    }
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The restore's id.
    pub restore_id: String,
    /// The point restored.
    pub as_of: String,
    /// Why content is not restored, when bronze cannot give it.
    pub content_gap: Option<String>,
    /// Notion's clock when the plan was read (what a resumed restore looks for lost creates after).
    pub notion_clock: Option<chrono::DateTime<chrono::Utc>>,
    /// Per database.
    pub databases: Vec<DatabasePlan>,
}

/// What narrows and shapes a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these pages (snapshot ids).
    pub pages: Option<HashSet<String>>,
    /// Trash pages made after the snapshot.
    pub trash_new: bool,
    /// Write select options and properties today's schema lacks (Notion adds select options on write).
    pub add_missing: bool,
    /// Snapshot id → the id of what this restore created for it (pages and blocks), from the journal.
    pub created: HashMap<String, String>,
    /// Keys of the hosted files bronze copied, sent back as uploads (`--upload-files`; empty without).
    pub uploads: HashSet<String>,
}

/// Plans the restore of `snapshot` against Notion now.
pub async fn plan(
    client: &Client,
    snapshot: &Snapshot,
    databases: &[DatabaseConfig],
    restore_id: &str,
    opts: &PlanOptions,
    stats: &RequestStats,
) -> Result<Plan, RestoreError> {
    let mut read = Vec::new();
    let mut clock = None;
    for snap in &snapshot.databases {
        let Some(db) = databases.iter().find(|d| d.id == snap.database_id) else {
            continue;
        };
        let mut live = live::read_database(client, db, stats).await?;
        let mut found = HashMap::new();
        for page in snap.pages.iter().filter(|p| opts.selected(&p.page_id)) {
            let now_id = opts.remap(&page.page_id);
            let now = match live.pages.remove(&now_id) {
                Some(p) => Some(p),
                None => live::read_page(client, &now_id, stats).await?,
            };
            found.insert(page.page_id.clone(), now);
        }
        clock = clock.max(live.clock);
        read.push((db, snap, live, found));
    }
    // Pages to recreate get new ids: every reference to one (relations, mentions, links) is written
    // with a marker the executor replaces by the new id.
    let recreated: HashSet<String> = read
        .iter()
        .flat_map(|(_, snap, _, found)| {
            snap.pages
                .iter()
                .filter(|p| !p.in_trash && found.get(&p.page_id).is_some_and(Option::is_none))
                .map(|p| p.page_id.clone())
        })
        .collect();
    let mut out = Vec::new();
    for (db, snap, live, found) in read {
        let with_content = snapshot.content_gap.is_none();
        let ctx = Context {
            client,
            db,
            opts,
            recreated: &recreated,
            with_content,
            snapshot_at: snapshot.at,
            stats,
        };
        out.push(plan_database(&ctx, snap, live, found).await?);
    }
    Ok(Plan {
        restore_id: restore_id.to_string(),
        as_of: snapshot
            .as_of
            .map_or_else(|| "export".to_string(), |a| a.to_string()),
        content_gap: snapshot.content_gap.clone(),
        notion_clock: clock,
        databases: out,
    })
}

/// What planning one database needs besides its own state.
struct Context<'a> {
    client: &'a Client,
    db: &'a DatabaseConfig,
    opts: &'a PlanOptions,
    recreated: &'a HashSet<String>,
    with_content: bool,
    snapshot_at: Option<chrono::DateTime<chrono::Utc>>,
    stats: &'a RequestStats,
}

/// The prefix of a reference to a page this restore recreates; the executor replaces it (and the id
/// after it) by the new page's id.
pub const RECREATED: &str = "recreated:";

impl PlanOptions {
    fn selected(&self, id: &str) -> bool {
        self.pages.as_ref().is_none_or(|p| p.contains(id))
    }

    fn remap(&self, id: &str) -> String {
        self.created
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

async fn plan_database(
    ctx: &Context<'_>,
    snap: &DatabaseSnapshot,
    live: LiveDatabase,
    mut found: HashMap<String, Option<LivePage>>,
) -> Result<DatabasePlan, RestoreError> {
    let (client, db, opts, stats) = (ctx.client, ctx.db, ctx.opts, ctx.stats);
    let (with_content, snapshot_at) = (ctx.with_content, ctx.snapshot_at);
    let created = &opts.created;
    let remap = |id: &str| match created.get(id) {
        Some(new) => new.clone(),
        None if ctx.recreated.contains(id) => format!("{RECREATED}{id}"),
        None if id
            .strip_prefix("upload:")
            .is_some_and(|k| ctx.opts.uploads.contains(k)) =>
        {
            format!("{RECREATED}{id}")
        }
        None => id.to_string(),
    };
    let blocks = snap.blocks_by_page();
    // Content is restored only for databases whose content bronze synced; there, a page without blocks
    // was empty at the snapshot.
    let with_content = with_content && !snap.blocks.is_empty();
    let none = Vec::new();
    let schema = LiveSchema::of(&live);
    let mut actions = Vec::new();
    for page in snap.pages.iter().filter(|p| opts.selected(&p.page_id)) {
        let found = found.remove(&page.page_id).flatten();
        let mut action = page_action(page, found.as_ref(), &schema, &remap, opts);
        if with_content
            && let Some(now) = &found
            && matches!(
                action.kind,
                ActionKind::Update
                    | ActionKind::Untrash
                    | ActionKind::Unchanged
                    | ActionKind::Skipped
            )
            && (content_may_differ(page, now, snapshot_at)
                || mentions_any(blocks.get(page.page_id.as_str()), ctx.recreated))
        {
            let snap_blocks = blocks.get(page.page_id.as_str()).unwrap_or(&none);
            let owned: Vec<_> = snap_blocks.iter().map(|b| (*b).clone()).collect();
            let live_blocks = live::read_content(client, db, &now.page_id, stats)
                .await
                .map_err(|e| RestoreError::Source(e.to_string()))?;
            let diff = content::diff(
                &page.page_id,
                &owned,
                &now.page_id,
                &live_blocks,
                &remap,
                &remap,
            );
            action.notes.extend(diff.notes.iter().cloned());
            if !diff.is_empty() {
                if matches!(action.kind, ActionKind::Unchanged | ActionKind::Skipped) {
                    action.kind = ActionKind::Content;
                }
                action.content = Some(diff);
            }
        }
        if action.kind == ActionKind::Recreate && with_content {
            action.content = blocks.get(page.page_id.as_str()).map(|b| {
                let owned: Vec<_> = b.iter().map(|x| (*x).clone()).collect();
                content::diff(&page.page_id, &owned, &page.page_id, &[], &remap, &remap)
            });
        }
        actions.push(action);
    }
    if opts.pages.is_none() {
        // The snapshot's pages were taken out of `live` as they were matched: what is left is new.
        for (id, now) in live.pages {
            if now.in_trash {
                continue;
            }
            actions.push(PageAction {
                kind: ActionKind::NewSinceSnapshot,
                page_id: id.clone(),
                live_id: Some(id),
                data_source_id: now.data_source_id.clone().unwrap_or_default(),
                title: live::page_title(&now.page),
                untrash: false,
                properties: BTreeMap::new(),
                content: None,
                trash: opts.trash_new,
                notes: Vec::new(),
            });
        }
    }
    let add_properties = if opts.add_missing {
        missing_properties(snap, &schema)
    } else {
        Vec::new()
    };
    Ok(DatabasePlan {
        database_id: db.id.clone(),
        name: db.name.clone(),
        actions,
        add_properties,
    })
}

/// The snapshot's writable properties (relations excepted when their target is gone) that today's
/// schema lacks, with their configuration.
fn missing_properties(snap: &DatabaseSnapshot, schema: &LiveSchema) -> Vec<AddProperty> {
    let mut out = Vec::new();
    for source in &snap.sources {
        let props: Map<String, Value> = serde_json::from_str(&source.schema).unwrap_or_default();
        for (name, p) in props {
            let id = p["id"].as_str().unwrap_or(&name);
            let kind = p["type"].as_str().unwrap_or_default();
            if schema.props.contains_key(id) || write::READ_ONLY.contains(&kind) {
                continue;
            }
            let mut config = serde_json::json!({"type": kind, kind: p[kind].clone()});
            if let Some(options) = config[kind]["options"].as_array_mut() {
                for o in options.iter_mut() {
                    o.as_object_mut().map(|m| m.remove("id"));
                }
            }
            out.push(AddProperty {
                data_source_id: source.data_source_id.clone(),
                name,
                config,
            });
        }
    }
    out
}

/// Whether any of the blocks refers to a page this restore recreates (its mention or link must be
/// rewritten with the new id, though the page itself did not change).
fn mentions_any(
    blocks: Option<&Vec<&crate::bronze::BlockRecord>>,
    recreated: &HashSet<String>,
) -> bool {
    blocks
        .into_iter()
        .flatten()
        .any(|b| recreated.iter().any(|id| b.payload.contains(id.as_str())))
}

/// Whether a page's content may have changed since the snapshot. Edit times have minute precision: an
/// equal one proves nothing changed only when that minute ended before the snapshot was taken.
fn content_may_differ(
    page: &SnapshotPage,
    now: &LivePage,
    snapshot_at: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    let settled =
        snapshot_at.is_some_and(|at| page.last_edited_time + chrono::Duration::minutes(1) <= at);
    now.page_id != page.page_id || now.last_edited_time != Some(page.last_edited_time) || !settled
}

/// Today's schema, by property id, with select and status option names.
struct LiveSchema {
    props: HashMap<String, (String, String, HashSet<String>)>,
    sources: HashSet<String>,
}

impl LiveSchema {
    fn of(live: &LiveDatabase) -> LiveSchema {
        let mut props = HashMap::new();
        for s in &live.sources {
            let schema: Map<String, Value> = serde_json::from_str(&s.schema).unwrap_or_default();
            for (name, p) in schema {
                let kind = p["type"].as_str().unwrap_or_default().to_string();
                let options = p[&kind]["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["name"].as_str().map(str::to_string))
                    .collect();
                let id = p["id"].as_str().unwrap_or(&name).to_string();
                props.insert(id, (name, kind, options));
            }
        }
        LiveSchema {
            props,
            sources: live
                .sources
                .iter()
                .map(|s| s.data_source_id.clone())
                .collect(),
        }
    }
}

/// Properties of a page object by id.
fn by_id(page: &Value) -> HashMap<String, &Value> {
    page["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| (p["id"].as_str().unwrap_or(name).to_string(), p))
        .collect()
}

fn page_action(
    page: &SnapshotPage,
    now: Option<&LivePage>,
    schema: &LiveSchema,
    remap: write::Remap<'_>,
    opts: &PlanOptions,
) -> PageAction {
    let snap: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
    let mut action = PageAction {
        kind: ActionKind::Unchanged,
        page_id: page.page_id.clone(),
        live_id: now.map(|n| n.page_id.clone()),
        data_source_id: page.data_source_id.clone(),
        title: live::page_title(&snap),
        untrash: false,
        properties: BTreeMap::new(),
        content: None,
        trash: false,
        notes: Vec::new(),
    };
    if page.in_trash {
        if now.is_some_and(|n| !n.in_trash) {
            action.kind = ActionKind::Skipped;
            action.notes.push(
                "in the trash at the snapshot; a restore never trashes a page it did not make"
                    .into(),
            );
        }
        return action;
    }
    let Some(now) = now else {
        action.kind = ActionKind::Recreate;
        action.properties = writes(&snap, None, schema, remap, opts, &mut action.notes);
        return action;
    };
    if now
        .data_source_id
        .as_ref()
        .is_some_and(|ds| !schema.sources.contains(ds))
    {
        action.kind = ActionKind::Skipped;
        action.notes.push(format!(
            "moved to another data source ({}) since the snapshot; move it back in Notion to restore it here",
            now.data_source_id.as_deref().unwrap_or_default()
        ));
        return action;
    }
    action.untrash = now.in_trash;
    action.properties = writes(
        &snap,
        Some(&now.page),
        schema,
        remap,
        opts,
        &mut action.notes,
    );
    action.kind = if action.untrash {
        ActionKind::Untrash
    } else if !action.properties.is_empty() {
        ActionKind::Update
    } else if read_only_differs(&snap, &now.page) {
        action
            .notes
            .push("only values Notion computes differ (formulas, rollups, edit times)".into());
        ActionKind::Skipped
    } else if !action.notes.is_empty() {
        ActionKind::Skipped
    } else {
        ActionKind::Unchanged
    };
    action
}

fn read_only_differs(snap: &Value, now: &Value) -> bool {
    let now = by_id(now);
    by_id(snap).into_iter().any(|(id, p)| {
        let kind = p["type"].as_str().unwrap_or_default();
        write::READ_ONLY.contains(&kind) && now.get(&id).is_some_and(|n| n[kind] != p[kind])
    })
}

/// The property writes that bring `now` (or a new page) to `snap`, by property id; what cannot be
/// written goes to `notes`.
fn writes(
    snap: &Value,
    now: Option<&Value>,
    schema: &LiveSchema,
    remap: write::Remap<'_>,
    opts: &PlanOptions,
    notes: &mut Vec<String>,
) -> BTreeMap<String, PropWrite> {
    let now = now.map(by_id).unwrap_or_default();
    let mut out = BTreeMap::new();
    let snap_name: HashMap<String, String> = snap["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| (p["id"].as_str().unwrap_or(name).to_string(), name.clone()))
        .collect();
    for (id, p) in by_id(snap) {
        let kind = p["type"].as_str().unwrap_or_default().to_string();
        let name = snap_name.get(&id).cloned().unwrap_or_default();
        let want = match write::property(p, remap) {
            Writable::Value(v) => v,
            Writable::ReadOnly => continue,
            Writable::Unsupported(why) => {
                notes.push(format!("property '{name}': {why}"));
                continue;
            }
        };
        let Some((live_name, live_kind, options)) = schema.props.get(&id) else {
            if opts.add_missing && !empty(&want) {
                // Added back first (see `DatabasePlan::add_properties`), then written by name.
                let value = want;
                out.insert(name.clone(), PropWrite { name, kind, value });
            } else if !opts.add_missing {
                notes.push(format!(
                    "property '{name}' no longer exists in the data source (restore with --add-missing-properties)"
                ));
            }
            continue;
        };
        if *live_kind != kind {
            notes.push(format!(
                "property '{name}' is now a {live_kind}, not a {kind}: not written"
            ));
            continue;
        }
        let mut have = now.get(&id).map(|n| write::property(n, &|x| x.to_string()));
        if kind == "files"
            && let Some(Writable::Value(v)) = &mut have
        {
            super::upload::as_uploaded_from(v, &want, &opts.created);
        }
        let empty = empty(&want);
        match &have {
            Some(Writable::Value(v)) if *v == want => continue,
            None if empty => continue,
            _ => {}
        }
        if let Some(n) = write::over_limit(&kind, &want) {
            notes.push(format!(
                "property '{name}' holds {n} items, more than the {} one request may carry: not written",
                write::MAX_ITEMS
            ));
            continue;
        }
        let missing: Vec<String> = option_names(&kind, &want)
            .into_iter()
            .filter(|o| !options.contains(o))
            .collect();
        if !missing.is_empty() && (kind == "status" || !opts.add_missing) {
            notes.push(format!(
                "property '{name}': option(s) {} no longer exist{}",
                missing.join(", "),
                if kind == "status" {
                    " (status options are added in Notion's app)"
                } else {
                    " (restore with --add-missing-properties)"
                }
            ));
            continue;
        }
        let value = match kind.as_str() {
            "files" => {
                let kept = match &have {
                    Some(Writable::Value(v)) => super::upload::hosted_keys(v),
                    _ => HashSet::new(),
                };
                let mut lost = Vec::new();
                let value = super::upload::files_value(&want, &kept, remap, &mut lost);
                if !lost.is_empty() {
                    notes.push(format!(
                        "property '{name}': Notion-hosted file(s) {} left out: a request cannot send a \
                         hosted file back; sync with NOTION_SYNC_INCLUDE=files and restore with \
                         --upload-files to upload bronze's copy",
                        lost.join(", ")
                    ));
                }
                value
            }
            _ => want,
        };
        out.insert(
            id,
            PropWrite {
                name: live_name.clone(),
                kind,
                value,
            },
        );
    }
    out
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn option_names(kind: &str, v: &Value) -> Vec<String> {
    match kind {
        "select" | "status" => v["name"].as_str().map(str::to_string).into_iter().collect(),
        "multi_select" => v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["name"].as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
