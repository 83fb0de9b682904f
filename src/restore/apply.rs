//! Carrying out a plan: un-trash, recreate (journaled before each create), write properties (relations
//! remapped to recreated pages), bring content back, and trash new pages when asked.
//!
//! Writes go through the client's limiter and retry policy: a write is repeated only when Notion said it
//! did not apply it. A create whose answer was lost is left open in the journal and found again by
//! `--resume` before anything is created for it.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::RestoreError;
use super::content::{BlockOp, ContentPlan, NewBlock, Ref, inline};
use super::journal::Journal;
use super::plan::{ActionKind, PageAction, Plan, PropWrite, RECREATED};
use super::upload::Uploads;
use super::write::{self, MAX_ITEMS};
use crate::notion::{Client, ErrorClass, NotionError, RequestStats};

/// Creates journaled together: one intent commit, then the creates.
const CREATE_BATCH: usize = 20;

/// What an `--apply` run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Pages per action kind written.
    pub pages: BTreeMap<String, usize>,
    /// Blocks created, edited and deleted.
    pub blocks_created: usize,
    /// Blocks edited in place.
    pub blocks_updated: usize,
    /// Blocks deleted.
    pub blocks_deleted: usize,
}

/// The ids of what this restore created, by snapshot id.
pub type Created = HashMap<String, String>;

/// Runs every write of `plan`. `created` holds what earlier runs of the restore made.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    journal: &mut Journal<'_>,
    mut created: Created,
    uploads: Option<&Uploads<'_>>,
    stats: &RequestStats,
) -> Result<Applied, RestoreError> {
    let mut done = Applied::default();
    let bar = crate::progress::Progress::auto().database("restore");
    let count = |kind: ActionKind, done: &mut Applied| {
        *done.pages.entry(kind.as_str().to_string()).or_default() += 1;
        bar.pages(done.pages.values().sum::<usize>() as u64);
        bar.requests(
            RequestStats::get(&stats.requests),
            RequestStats::get(&stats.throttled),
        );
    };
    // Each phase runs over every database before the next, so a relation across databases finds the
    // page recreated for its target.
    let each = || {
        plan.databases
            .iter()
            .flat_map(|db| db.actions.iter().map(move |a| (db.database_id.as_str(), a)))
    };
    for db in &plan.databases {
        for add in &db.add_properties {
            let path = if client.api_version().has_data_sources() {
                format!("/v1/data_sources/{}", add.data_source_id)
            } else {
                format!("/v1/databases/{}", add.data_source_id)
            };
            let body = json!({"properties": {add.name.clone(): add.config.clone()}});
            client
                .write_idempotent::<Value>(
                    Method::PATCH,
                    &path,
                    &body,
                    Some(&add.data_source_id),
                    stats,
                )
                .await?;
            journal
                .outcome(
                    &db.database_id,
                    "add_property",
                    &add.name,
                    "done",
                    None,
                    None,
                    None,
                )
                .await?;
        }
    }
    for (id, a) in each().filter(|(_, a)| a.untrash) {
        let live = a.live_id.as_deref().unwrap_or(&a.page_id);
        write_page(client, live, &json!({"in_trash": false}), stats).await?;
        journal
            .outcome(id, "untrash", &a.page_id, "done", Some(live), None, None)
            .await?;
    }
    let creates: Vec<(&str, &PageAction)> = each()
        .filter(|(_, a)| a.kind == ActionKind::Recreate)
        .collect();
    for batch in creates.chunks(CREATE_BATCH) {
        for (id, a) in batch {
            journal
                .intend(id, "recreate", &[a.page_id.as_str()])
                .await?;
        }
        for (id, a) in batch {
            crate::pause::point("restore.before_create").await;
            let answer = create_page(client, a, stats).await;
            crate::pause::point("restore.after_create").await;
            let (new_id, request) = match answer {
                Ok(v) => v,
                Err(e) if e.committed_id.is_some() => (
                    e.committed_id.clone().unwrap_or_default(),
                    e.request_id.clone(),
                ),
                Err(e) if e.class == ErrorClass::Transient && e.status.is_none_or(|s| s >= 500) => {
                    journal.flush().await?;
                    let hint = format!(
                        "the create of page {} may have been applied; rerun with --resume {} (it is found \
                         again, not created twice)",
                        a.page_id,
                        journal.id()
                    );
                    return Err(e.with_hint(hint).into());
                }
                Err(e) => {
                    let why = Some(e.to_string());
                    journal
                        .outcome(
                            id,
                            "recreate",
                            &a.page_id,
                            "failed",
                            None,
                            e.request_id.as_deref(),
                            why,
                        )
                        .await?;
                    journal.flush().await?;
                    return Err(e.into());
                }
            };
            journal
                .outcome(
                    id,
                    "recreate",
                    &a.page_id,
                    "done",
                    Some(&new_id),
                    request.as_deref(),
                    None,
                )
                .await?;
            created.insert(a.page_id.clone(), new_id);
            count(ActionKind::Recreate, &mut done);
        }
        journal.flush().await?;
    }
    for (id, a) in each() {
        let props: BTreeMap<&String, &PropWrite> = a
            .properties
            .iter()
            .filter(|(_, p)| a.kind != ActionKind::Recreate || points_at(p))
            .collect();
        if props.is_empty() {
            if a.untrash {
                count(ActionKind::Untrash, &mut done);
            }
            continue;
        }
        let start = a.live_id.as_deref().unwrap_or(&a.page_id);
        let target = created
            .get(start)
            .cloned()
            .unwrap_or_else(|| start.to_string());
        let sent = json!({"properties": properties(props.into_iter())});
        if let Some(u) = uploads {
            u.prepare(client, &sent, &mut created, stats).await?;
        }
        let body = resolve(&sent, &created);
        crate::pause::point("restore.before_update").await;
        let answer = write_page(client, &target, &body, stats).await?;
        if let Some(u) = uploads {
            u.record(&sent, &answer, id, journal, &mut created).await?;
        }
        journal
            .outcome(id, "update", &a.page_id, "done", Some(&target), None, None)
            .await?;
        if a.kind != ActionKind::Recreate {
            count(a.kind, &mut done);
        }
    }
    for (id, a) in each() {
        let Some(content) = &a.content else { continue };
        let start = a.live_id.as_deref().unwrap_or(&a.page_id);
        let page = created
            .get(start)
            .cloned()
            .unwrap_or_else(|| start.to_string());
        let target = ContentTarget {
            uploads,
            snap_page: &a.page_id,
            live_page: &page,
            database_id: id,
        };
        run_content(
            client,
            content,
            &target,
            journal,
            &mut created,
            &mut done,
            stats,
        )
        .await?;
        if a.kind == ActionKind::Content {
            count(ActionKind::Content, &mut done);
        }
    }
    for (id, a) in each().filter(|(_, a)| a.trash) {
        write_page(client, &a.page_id, &json!({"in_trash": true}), stats).await?;
        journal
            .outcome(id, "trash", &a.page_id, "done", None, None, None)
            .await?;
        count(ActionKind::NewSinceSnapshot, &mut done);
    }
    journal.flush().await?;
    bar.finish(done.pages.values().sum::<usize>() as u64);
    Ok(done)
}

/// Whether a property write refers to a page this restore recreates (written after the creates).
fn points_at(p: &PropWrite) -> bool {
    p.value.to_string().contains(RECREATED)
}

/// `v` with every reference to a recreated page ([`RECREATED`] and the snapshot id) replaced by the id
/// of the page made for it.
pub fn resolve(v: &Value, created: &Created) -> Value {
    match v {
        Value::String(s) => match s.strip_prefix(RECREATED) {
            Some(old) => {
                Value::String(created.get(old).cloned().unwrap_or_else(|| old.to_string()))
            }
            None => v.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|x| resolve(x, created)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve(x, created)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The request's `properties` object, relations remapped to what this restore created.
fn properties<'p>(props: impl Iterator<Item = (&'p String, &'p PropWrite)>) -> Value {
    let mut out = Map::new();
    for (id, p) in props {
        out.insert(id.clone(), write::request(&p.kind, &p.value));
    }
    Value::Object(out)
}

async fn write_page(
    client: &Client,
    page_id: &str,
    body: &Value,
    stats: &RequestStats,
) -> Result<Value, NotionError> {
    client
        .write_idempotent(
            Method::PATCH,
            &format!("/v1/pages/{page_id}"),
            body,
            Some(page_id),
            stats,
        )
        .await
}

/// Creates a page for a snapshot page; relations to pages still to be recreated are written later.
async fn create_page(
    client: &Client,
    a: &PageAction,
    stats: &RequestStats,
) -> Result<(String, Option<String>), NotionError> {
    let parent = if client.api_version().has_data_sources() {
        json!({"type": "data_source_id", "data_source_id": a.data_source_id})
    } else {
        json!({"type": "database_id", "database_id": a.data_source_id})
    };
    let props = a.properties.iter().filter(|(_, p)| !points_at(p));
    let body = json!({"parent": parent, "properties": properties(props)});
    let page: Value = client
        .write(Method::POST, "/v1/pages", &body, None, stats)
        .await?;
    Ok((
        page["id"].as_str().unwrap_or_default().to_string(),
        page["request_id"].as_str().map(str::to_string),
    ))
}

/// The page a content plan is carried out on.
pub struct ContentTarget<'a> {
    /// The page's id in the snapshot.
    pub snap_page: &'a str,
    /// Bronze's copies of hosted files, uploaded for the blocks that hold them (`--upload-files`).
    pub uploads: Option<&'a Uploads<'a>>,
    /// The page standing for it now.
    pub live_page: &'a str,
    /// Its database (for the journal).
    pub database_id: &'a str,
}

/// Runs a page's block writes in order (journaling every block created, in `created` too).
pub async fn run_content(
    client: &Client,
    content: &ContentPlan,
    target: &ContentTarget<'_>,
    journal: &mut Journal<'_>,
    created: &mut Created,
    done: &mut Applied,
    stats: &RequestStats,
) -> Result<(), RestoreError> {
    let mut w = BlockWrites {
        client,
        database_id: target.database_id,
        journal,
        created,
        done,
        stats,
    };
    for op in &content.ops {
        w.run(op, target).await?;
    }
    w.journal.flush().await?;
    Ok(())
}

/// What block writes share: where they go, and what they record.
struct BlockWrites<'a, 'j> {
    client: &'a Client,
    database_id: &'a str,
    journal: &'a mut Journal<'j>,
    created: &'a mut Created,
    done: &'a mut Applied,
    stats: &'a RequestStats,
}

impl BlockWrites<'_, '_> {
    async fn run(&mut self, op: &BlockOp, target: &ContentTarget<'_>) -> Result<(), RestoreError> {
        let place = |r: &Ref, created: &Created| match r {
            Ref::Live(id) if id == target.snap_page => target.live_page.to_string(),
            Ref::Live(id) => id.clone(),
            Ref::Snapshot(id) => created.get(id).cloned().unwrap_or_else(|| id.clone()),
        };
        match op {
            BlockOp::Update { block_id, body } => {
                if let Some(u) = target.uploads {
                    u.prepare(self.client, body, self.created, self.stats)
                        .await?;
                }
                let sent = body;
                let body = &resolve(sent, self.created);
                let path = format!("/v1/blocks/{block_id}");
                let answer = self
                    .client
                    .write_idempotent::<Value>(
                        Method::PATCH,
                        &path,
                        body,
                        Some(block_id),
                        self.stats,
                    )
                    .await?;
                if let Some(u) = target.uploads {
                    u.record(sent, &answer, self.database_id, self.journal, self.created)
                        .await?;
                }
                self.done.blocks_updated += 1;
            }
            BlockOp::Delete { block_id } => {
                let path = format!("/v1/blocks/{block_id}");
                let sent = self
                    .client
                    .write_idempotent::<Value>(
                        Method::DELETE,
                        &path,
                        &json!({}),
                        Some(block_id),
                        self.stats,
                    )
                    .await;
                match sent {
                    Ok(_) => {}
                    // Already gone (a rerun): the goal is reached.
                    Err(e) if e.status == Some(404) => {}
                    Err(e) => return Err(e.into()),
                }
                self.done.blocks_deleted += 1;
            }
            BlockOp::Append {
                parent,
                after,
                blocks,
            } => {
                let parent = place(parent, self.created);
                let after = after.as_ref().map(|r| place(r, self.created));
                self.append(&parent, after, blocks, target.uploads).await?;
            }
        }
        Ok(())
    }

    /// Creates `blocks` under `parent` (after `after`), up to 100 per request, then their children.
    async fn append(
        &mut self,
        parent: &str,
        mut after: Option<String>,
        blocks: &[NewBlock],
        uploads: Option<&Uploads<'_>>,
    ) -> Result<(), RestoreError> {
        let mut todo: Vec<(String, &NewBlock)> = Vec::new();
        for chunk in blocks.chunks(MAX_ITEMS) {
            let children: Vec<Value> = chunk.iter().map(with_inline_children).collect();
            if let Some(u) = uploads {
                let all = Value::Array(children.clone());
                u.prepare(self.client, &all, self.created, self.stats)
                    .await?;
            }
            let sent = Value::Array(children);
            let children: Vec<Value> = sent
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| resolve(b, self.created))
                .collect();
            let mut body = json!({"children": children});
            if let Some(a) = &after {
                body["position"] = json!({"type": "after_block", "after_block": {"id": a}});
            }
            crate::pause::point("restore.before_append").await;
            let path = format!("/v1/blocks/{parent}/children");
            let answered = self
                .client
                .write::<Value>(Method::PATCH, &path, &body, Some(parent), self.stats)
                .await;
            let ids: Vec<String> = match answered {
                Ok(answer) => {
                    if let Some(u) = uploads {
                        u.record(&sent, &answer, self.database_id, self.journal, self.created)
                            .await?;
                    }
                    answer["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b["id"].as_str().map(str::to_string))
                        .collect()
                }
                // Saved although the answer failed: Notion lists the new blocks in order.
                Err(e) if e.committed_children.len() == chunk.len() => e.committed_children,
                Err(e) => return Err(e.into()),
            };
            for (b, id) in chunk.iter().zip(&ids) {
                self.made(&b.old_id, id).await?;
                if !b.children.is_empty() {
                    todo.push((id.clone(), b));
                }
            }
            after = ids.last().cloned().or(after);
        }
        for (id, b) in todo {
            if !inline(&b.body) {
                Box::pin(self.append(&id, None, &b.children, uploads)).await?;
                continue;
            }
            // Sent with the block; map the created children by order to go further down.
            let listed = crate::restore::live::children_ids(self.client, &id, self.stats).await?;
            for (child, child_id) in b.children.iter().zip(listed) {
                self.made(&child.old_id, &child_id).await?;
                let below =
                    crate::restore::live::children_ids(self.client, &child_id, self.stats).await?;
                for (g, gid) in child.children.iter().zip(below) {
                    self.made(&g.old_id, &gid).await?;
                    if !g.children.is_empty() {
                        Box::pin(self.append(&gid, None, &g.children, uploads)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Records (and journals) the block made for a snapshot block.
    async fn made(&mut self, old: &str, new: &str) -> Result<(), RestoreError> {
        self.journal
            .outcome(
                self.database_id,
                "block_create",
                old,
                "done",
                Some(new),
                None,
                None,
            )
            .await?;
        self.created.insert(old.to_string(), new.to_string());
        self.done.blocks_created += 1;
        Ok(())
    }
}

/// A block's create body; tables and column lists carry their children (and theirs) with them.
fn with_inline_children(b: &NewBlock) -> Value {
    let mut body = b.body.clone();
    if inline(&b.body) {
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        let children: Vec<Value> = b
            .children
            .iter()
            .map(|c| {
                let mut cb = c.body.clone();
                let ck = cb["type"].as_str().unwrap_or_default().to_string();
                if !c.children.is_empty() {
                    cb[&ck]["children"] =
                        Value::Array(c.children.iter().map(|g| g.body.clone()).collect());
                }
                cb
            })
            .collect();
        body[&kind]["children"] = Value::Array(children);
    }
    body
}
