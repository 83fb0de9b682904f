//! Carrying out a rebuild's phases: every create journaled (intent before, new id after), every schema
//! step marked done, so a rerun with `--resume` skips what is made.

mod adopt;

use std::collections::{BTreeSet, HashSet};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::pages::{self, RelationKey};
use super::schema::{Relation, SchemaPlan, SourcePlan, Target};
use crate::notion::{Client, ErrorClass, NotionError, RequestStats};
use crate::restore::apply::{self, Applied, ContentTarget, Created};
use crate::restore::journal::{Journal, Resumed};
use crate::restore::snapshot::Snapshot;
use crate::restore::upload::Uploads;
use crate::restore::write::{self, MAX_ITEMS};
use crate::restore::{RestoreError, content};

/// Pages whose intents are committed together before they are created.
const CREATE_BATCH: usize = 20;

/// What a rebuild made.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// Requests sent (writes, and the reads that map created children).
    pub requests: u64,
    /// Databases created.
    pub databases: usize,
    /// Data sources created.
    pub sources: usize,
    /// Pages created.
    pub pages: usize,
    /// Blocks created.
    pub blocks: usize,
    /// Comments written.
    pub comments: usize,
    /// What was not kept.
    pub notes: BTreeSet<String>,
}

/// The state of a running rebuild.
pub struct Executor<'a> {
    client: &'a Client,
    stats: &'a RequestStats,
    journal: Journal<'a>,
    /// Snapshot id (or step key) → what was made for it, this run and earlier runs of it.
    created: Created,
    newest: bool,
    reads_before: u64,
    done: Done,
    applied: Applied,
    /// Continuing an earlier run: what it may have made is read back before it is made again.
    resuming: bool,
    /// Bronze's copies of hosted files, uploaded for the pages and blocks that hold them.
    uploads: Option<&'a Uploads<'a>>,
}

/// The key marking a schema step done.
fn step(data_source: &str, what: &str, name: &str) -> String {
    format!("schema:{data_source}:{what}:{name}")
}

/// The end of a rebuilt comment's text: when the original was written.
fn original_time(when: &str) -> String {
    format!(" (originally {when})")
}

fn text(content: &str) -> Value {
    json!([{"type": "text", "text": {"content": content}}])
}

impl<'a> Executor<'a> {
    /// A rebuild continuing `resumed` (when given).
    pub fn new(
        client: &'a Client,
        stats: &'a RequestStats,
        journal: Journal<'a>,
        resumed: Option<&Resumed>,
        uploads: Option<&'a Uploads<'a>>,
    ) -> Executor<'a> {
        Executor {
            client,
            stats,
            journal,
            created: resumed.map(|r| r.created.clone()).unwrap_or_default(),
            newest: client.api_version().has_data_sources(),
            reads_before: RequestStats::get(&stats.requests),
            done: Done::default(),
            applied: Applied::default(),
            resuming: resumed.is_some(),
            uploads,
        }
    }

    fn new_id(&self, old: &str) -> Option<String> {
        self.created.get(old).cloned()
    }

    /// Sends a create journaled as `action` for `old`; returns the created object (`{"id"}` alone when
    /// Notion saved it but the answer was lost).
    async fn create(
        &mut self,
        db: &str,
        action: &str,
        old: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, RestoreError> {
        self.journal.intend(db, action, &[old]).await?;
        self.send_create(db, action, old, path, body).await
    }

    /// A create whose intent is already recorded.
    async fn send_create(
        &mut self,
        db: &str,
        action: &str,
        old: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, RestoreError> {
        crate::pause::point("restore.before_create").await;
        let answer = self
            .client
            .write::<Value>(Method::POST, path, body, None, self.stats)
            .await;
        crate::pause::point("restore.after_create").await;
        let made = match answer {
            Ok(v) => v,
            Err(e) if e.committed_id.is_some() => json!({"id": e.committed_id}),
            Err(e) => return Err(self.failed(db, action, old, e).await),
        };
        let new = made["id"].as_str().unwrap_or_default().to_string();
        self.journal
            .outcome(
                db,
                action,
                old,
                "done",
                Some(&new),
                made["request_id"].as_str(),
                None,
            )
            .await?;
        self.created.insert(old.to_string(), new);
        Ok(made)
    }

    async fn failed(&mut self, db: &str, action: &str, old: &str, e: NotionError) -> RestoreError {
        if e.class == ErrorClass::Transient && e.status.is_none_or(|s| s >= 500) {
            let hint = format!(
                "the {action} for {old} may have been applied; rerun with --resume {} (it is found again, not \
                 created twice)",
                self.journal.id()
            );
            return match self.journal.flush().await {
                Ok(()) => e.with_hint(hint).into(),
                Err(s) => s.into(),
            };
        }
        let why = Some(e.to_string());
        let logged = self
            .journal
            .outcome(
                db,
                action,
                old,
                "failed",
                None,
                e.request_id.as_deref(),
                why,
            )
            .await;
        match logged.and(self.journal.flush().await) {
            Ok(()) => e.into(),
            Err(s) => s.into(),
        }
    }

    /// `PATCH`es the schema of the new data source `ds` with `properties`, once: `key` marks it done.
    async fn schema_step(
        &mut self,
        db: &str,
        key: String,
        ds: &str,
        properties: Value,
    ) -> Result<Option<Value>, RestoreError> {
        if self.created.contains_key(&key) {
            return Ok(None);
        }
        let path = self.schema_path(ds);
        let body = json!({"properties": properties});
        let answer: Value = self
            .client
            .write(Method::PATCH, &path, &body, Some(ds), self.stats)
            .await?;
        self.mark(db, &key, ds).await?;
        Ok(Some(answer))
    }

    async fn mark(&mut self, db: &str, key: &str, new: &str) -> Result<(), RestoreError> {
        self.journal
            .outcome(db, "update_schema", key, "done", Some(new), None, None)
            .await?;
        self.created.insert(key.to_string(), new.to_string());
        Ok(())
    }

    /// Where the schema of new data source `ds` is changed (the database under 2022-06-28).
    fn schema_path(&self, ds: &str) -> String {
        match self.newest {
            true => format!("/v1/data_sources/{ds}"),
            false => format!("/v1/databases/{ds}"),
        }
    }

    /// The new data source standing for snapshot data source `old` (made in phase 1).
    fn ds(&self, old: &str) -> String {
        self.new_id(old).unwrap_or_default()
    }

    /// The schema phases: databases and data sources, status options, relations, rollups, formulas.
    pub async fn schema(&mut self, plan: &SchemaPlan, parent: &str) -> Result<(), RestoreError> {
        for d in &plan.databases {
            self.database(d, parent).await?;
        }
        for (d, s) in plan.sources() {
            let ds = self.ds(&s.data_source_id);
            for (name, options) in &s.status {
                let props = json!({ name: {"status": {"options": options}} });
                let key = step(&s.data_source_id, "status", name);
                self.schema_step(&d.database_id, key, &ds, props).await?;
            }
        }
        for (d, s) in plan.sources() {
            for r in &s.relations {
                self.relation(&d.database_id, s, r).await?;
            }
        }
        self.rollups(plan, false).await?;
        for (d, s) in plan.sources() {
            let ds = self.ds(&s.data_source_id);
            for (name, expression) in &s.formulas {
                let props = json!({ name: {"formula": {"expression": expression}} });
                let key = step(&s.data_source_id, "formula", name);
                self.schema_step(&d.database_id, key, &ds, props).await?;
            }
        }
        self.rollups(plan, true).await?;
        self.journal.flush().await?;
        Ok(())
    }

    async fn database(
        &mut self,
        d: &super::schema::DatabasePlan,
        parent: &str,
    ) -> Result<(), RestoreError> {
        let Some(first) = d.sources.first() else {
            return Ok(());
        };
        if self.new_id(&d.database_id).is_none() {
            let mut body =
                json!({"parent": {"type": "page_id", "page_id": parent}, "title": text(&d.title)});
            if self.newest {
                body["initial_data_source"] = json!({"properties": first.plain});
            } else {
                body["properties"] = Value::Object(first.plain.clone());
            }
            let made = self
                .create(
                    &d.database_id,
                    "create_database",
                    &d.database_id,
                    "/v1/databases",
                    &body,
                )
                .await?;
            let new_db = made["id"].as_str().unwrap_or_default().to_string();
            let new_ds = match made["data_sources"][0]["id"].as_str() {
                Some(ds) => ds.to_string(),
                // 2022-06-28: the database is its only data source.
                None if !self.newest => new_db.clone(),
                None => self.first_source(&new_db).await?,
            };
            self.journal
                .outcome(
                    &d.database_id,
                    "create_data_source",
                    &first.data_source_id,
                    "done",
                    Some(&new_ds),
                    None,
                    None,
                )
                .await?;
            self.created
                .insert(first.data_source_id.clone(), new_ds.clone());
            self.done.databases += 1;
            self.done.sources += 1;
        }
        let title_key = step(&first.data_source_id, "title", "");
        if self.newest && first.title != d.title && !self.created.contains_key(&title_key) {
            let new_ds = self.ds(&first.data_source_id);
            let body = json!({"title": text(&first.title)});
            self.client
                .write::<Value>(
                    Method::PATCH,
                    &format!("/v1/data_sources/{new_ds}"),
                    &body,
                    Some(&new_ds),
                    self.stats,
                )
                .await?;
            self.mark(&d.database_id, &title_key, &new_ds).await?;
        }
        let new_db = self.new_id(&d.database_id).unwrap_or_default();
        for s in d.sources.iter().skip(1) {
            if self.new_id(&s.data_source_id).is_some() {
                continue;
            }
            let body = json!({"parent": {"type": "database_id", "database_id": new_db},
                              "title": text(&s.title), "properties": s.plain});
            self.create(
                &d.database_id,
                "create_data_source",
                &s.data_source_id,
                "/v1/data_sources",
                &body,
            )
            .await?;
            self.done.sources += 1;
        }
        Ok(())
    }

    /// The first data source of a database whose create answer was lost (read back).
    async fn first_source(&self, db: &str) -> Result<String, RestoreError> {
        let v: Value = self
            .client
            .get(&format!("/v1/databases/{db}"), &[], Some(db), self.stats)
            .await?;
        Ok(v["data_sources"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The config request of a relation (two-way or not) pointing at its new target.
    fn relation_request(&self, r: &Relation, dual: bool) -> Value {
        let kind = if dual {
            "dual_property"
        } else {
            "single_property"
        };
        let (ds, db) = match &r.target {
            // Under 2022-06-28 the new database is its own data source.
            Target::Rebuilt { data_source_id } => {
                (self.ds(data_source_id), self.ds(data_source_id))
            }
            Target::Outside {
                data_source_id,
                database_id,
            } => (data_source_id.clone(), database_id.clone()),
        };
        if self.newest {
            json!({"relation": {"data_source_id": ds, "type": kind, kind: {}}})
        } else {
            json!({"relation": {"database_id": db, "type": kind, kind: {}}})
        }
    }

    /// Creates a relation; a two-way one's back-relation (made by Notion) gets the snapshot's name.
    async fn relation(
        &mut self,
        db: &str,
        s: &SourcePlan,
        r: &Relation,
    ) -> Result<(), RestoreError> {
        let ds = self.ds(&s.data_source_id);
        let key = step(&s.data_source_id, "relation", &r.name);
        if self.created.contains_key(&key) {
            return Ok(());
        }
        let path = self.schema_path(&ds);
        let body = json!({"properties": { &r.name: self.relation_request(r, r.dual) }});
        // A relation an earlier run made is not made again (a second two-way create would add a
        // second back-relation).
        let answer: Value = match self.made_relation(&path, &ds, &r.name).await? {
            Some(schema) => schema,
            None => {
                self.client
                    .write(Method::PATCH, &path, &body, Some(&ds), self.stats)
                    .await?
            }
        };
        let back = answer["properties"][&r.name]["relation"]["dual_property"]["synced_property_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let (Some(name), Target::Rebuilt { data_source_id }) = (&r.back, &r.target)
            && !back.is_empty()
        {
            let target = self.ds(data_source_id);
            let rename = json!({ &back: {"name": name} });
            let rename_key = step(data_source_id, "back", name);
            self.schema_step(db, rename_key, &target, rename).await?;
        }
        self.mark(db, &key, &back).await
    }

    async fn rollups(&mut self, plan: &SchemaPlan, late: bool) -> Result<(), RestoreError> {
        let what = if late { "late_rollups" } else { "rollups" };
        for (d, s) in plan.sources() {
            let rollups = if late { &s.late_rollups } else { &s.rollups };
            if rollups.is_empty() {
                continue;
            }
            let ds = self.ds(&s.data_source_id);
            let key = step(&s.data_source_id, what, "");
            self.schema_step(&d.database_id, key, &ds, Value::Object(rollups.clone()))
                .await?;
        }
        Ok(())
    }

    /// Creates every live page of the snapshot in its new data source (relations and mentions of
    /// snapshot pages come later).
    pub async fn pages(&mut self, snap: &Snapshot, plan: &SchemaPlan) -> Result<(), RestoreError> {
        let ids: HashSet<&str> = snap
            .databases
            .iter()
            .flat_map(|d| &d.pages)
            .map(|p| p.page_id.as_str())
            .collect();
        for db in &snap.databases {
            let todo: Vec<_> = db
                .pages
                .iter()
                .filter(|p| !p.in_trash && !self.created.contains_key(&p.page_id))
                .collect();
            for batch in todo.chunks(CREATE_BATCH) {
                let olds: Vec<&str> = batch.iter().map(|p| p.page_id.as_str()).collect();
                self.journal
                    .intend(&db.database_id, "create_page", &olds)
                    .await?;
                for page in batch {
                    let Some(source) = plan.source(&page.data_source_id) else {
                        continue;
                    };
                    let copies = |k: &str| self.uploads.is_some_and(|u| u.has(k));
                    let w = pages::page_writes(page, source, &ids, &copies, &mut self.done.notes);
                    let ds = self.ds(&page.data_source_id);
                    let parent = if self.newest {
                        json!({"type": "data_source_id", "data_source_id": ds})
                    } else {
                        json!({"type": "database_id", "database_id": ds})
                    };
                    let body = json!({"parent": parent, "properties": w.create});
                    self.send_create(
                        &db.database_id,
                        "create_page",
                        &page.page_id,
                        "/v1/pages",
                        &body,
                    )
                    .await?;
                    self.done.pages += 1;
                }
                self.journal.flush().await?;
            }
        }
        Ok(())
    }

    /// Relation values and values mentioning snapshot pages, once every page exists; then relations
    /// written from their back side are made one-way again where the snapshot had them so.
    pub async fn relation_values(
        &mut self,
        snap: &Snapshot,
        plan: &SchemaPlan,
    ) -> Result<(), RestoreError> {
        let ids: HashSet<&str> = snap
            .databases
            .iter()
            .flat_map(|d| &d.pages)
            .map(|p| p.page_id.as_str())
            .collect();
        let relations = pages::relation_writes(snap, plan);
        let mut notes = BTreeSet::new();
        // Marked once every page's values are written: the one-way steps after it remove the
        // back-relations some of them were written through.
        let phase = "phase:relation_values";
        let written = self.created.contains_key(phase);
        for page in snap
            .databases
            .iter()
            .flat_map(|d| &d.pages)
            .filter(|p| !p.in_trash && !written)
        {
            let Some(new) = self.new_id(&page.page_id) else {
                continue;
            };
            let mut props = Map::new();
            if let Some(source) = plan.source(&page.data_source_id) {
                let copies = |k: &str| self.uploads.is_some_and(|u| u.has(k));
                props = pages::page_writes(page, source, &ids, &copies, &mut notes).later;
            }
            for (key, targets) in relations.get(&page.page_id).into_iter().flatten() {
                let mut list: Vec<Value> = targets
                    .ids
                    .iter()
                    .filter_map(|t| match targets.rebuilt {
                        true => self.new_id(t),
                        false => Some(t.clone()),
                    })
                    .map(|id| json!({"id": id}))
                    .collect();
                if list.is_empty() {
                    continue;
                }
                if list.len() > MAX_ITEMS {
                    self.done.notes.insert(format!(
                        "page {}: a relation of {} pages: the first {MAX_ITEMS} are written",
                        page.page_id,
                        list.len()
                    ));
                    list.truncate(MAX_ITEMS);
                }
                let name = match key {
                    RelationKey::Name(n) => n.clone(),
                    RelationKey::BackOf {
                        data_source_id,
                        relation,
                    } => {
                        let Some(back) = self.new_id(&step(data_source_id, "relation", relation))
                        else {
                            continue;
                        };
                        back
                    }
                };
                props.insert(name, json!({"relation": list}));
            }
            if props.is_empty() {
                continue;
            }
            let sent = json!({"properties": props});
            if let Some(u) = self.uploads {
                u.prepare(self.client, &sent, &mut self.created, self.stats)
                    .await?;
            }
            let body = apply::resolve(&sent, &self.created);
            let answer: Value = self
                .client
                .write(
                    Method::PATCH,
                    &format!("/v1/pages/{new}"),
                    &body,
                    Some(&new),
                    self.stats,
                )
                .await?;
            if let Some(u) = self.uploads {
                u.record(&sent, &answer, "", &mut self.journal, &mut self.created)
                    .await?;
            }
        }
        if !written {
            self.mark("", phase, "done").await?;
        }
        for (d, s) in plan.sources() {
            for r in s.relations.iter().filter(|r| r.one_way_after) {
                let ds = self.ds(&s.data_source_id);
                let props = json!({ &r.name: self.relation_request(r, false) });
                let key = step(&s.data_source_id, "one_way", &r.name);
                self.schema_step(&d.database_id, key, &ds, props).await?;
            }
        }
        self.journal.flush().await?;
        Ok(())
    }

    /// Each new page's content: the snapshot's block trees, created whole.
    pub async fn content(&mut self, snap: &Snapshot) -> Result<(), RestoreError> {
        for db in &snap.databases {
            for (page, blocks) in db.blocks_by_page() {
                let Some(new) = self.new_id(page) else {
                    continue;
                };
                let key = format!("content:{page}");
                if self.created.contains_key(&key) {
                    continue;
                }
                let owned: Vec<_> = blocks.into_iter().cloned().collect();
                let live = match self.resuming {
                    true => self.live_content(db, &new).await?,
                    false => Vec::new(),
                };
                let created = &self.created;
                let uploads = self.uploads;
                let remap = |id: &str| match created.get(id) {
                    Some(new) => new.clone(),
                    None if id
                        .strip_prefix("upload:")
                        .is_some_and(|k| uploads.is_some_and(|u| u.has(k))) =>
                    {
                        format!("{}{id}", crate::restore::plan::RECREATED)
                    }
                    None => id.to_string(),
                };
                let plan = content::diff(page, &owned, &new, &live, &remap, &remap);
                self.done.notes.extend(
                    plan.notes
                        .iter()
                        .map(|n| format!("{}: page {page}: {n}", db.name)),
                );
                let target = ContentTarget {
                    uploads: self.uploads,
                    snap_page: page,
                    live_page: &new,
                    database_id: &db.database_id,
                };
                apply::run_content(
                    self.client,
                    &plan,
                    &target,
                    &mut self.journal,
                    &mut self.created,
                    &mut self.applied,
                    self.stats,
                )
                .await?;
                self.mark(&db.database_id, &key, &new).await?;
            }
        }
        self.journal.flush().await?;
        Ok(())
    }

    /// The snapshot's comments on the new pages and blocks, by the integration under the original
    /// author's name, the original time in the text; replies go to the new discussion.
    pub async fn comments(&mut self, snap: &Snapshot) -> Result<(), RestoreError> {
        for db in &snap.databases {
            for c in &db.comments {
                if self.created.contains_key(&c.comment_id) {
                    continue;
                }
                let Some(parent) = self.new_id(&c.parent_id) else {
                    self.done.notes.insert(format!(
                        "{}: comment {} is on {}, which was not created: not written",
                        db.name, c.comment_id, c.parent_id
                    ));
                    continue;
                };
                let body = self.comment_body(snap, c, &parent);
                let made = self
                    .create(
                        &db.database_id,
                        "create_comment",
                        &c.comment_id,
                        "/v1/comments",
                        &body,
                    )
                    .await?;
                let thread = format!("discussion:{}", c.discussion_id);
                if let Some(d) = made["discussion_id"].as_str()
                    && !self.created.contains_key(&thread)
                {
                    self.mark(&db.database_id, &thread, d).await?;
                }
                self.done.comments += 1;
            }
        }
        self.journal.flush().await?;
        Ok(())
    }

    fn comment_body(
        &self,
        snap: &Snapshot,
        c: &crate::bronze::CommentRecord,
        parent: &str,
    ) -> Value {
        let payload: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
        let author = snap
            .users
            .iter()
            .find(|u| Some(&u.user_id) == c.created_by.as_ref())
            .and_then(|u| u.name.clone())
            .or_else(|| {
                payload["display_name"]["resolved_name"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "a former member".into());
        let remap = |id: &str| self.new_id(id).unwrap_or_else(|| id.to_string());
        let mut rich = write::rich_text(&payload["rich_text"], &remap);
        let when = payload["created_time"].as_str().unwrap_or_default();
        if let Some(items) = rich.as_array_mut() {
            items.push(json!({"type": "text", "text": {"content": original_time(when)}}));
        }
        let mut body = json!({"rich_text": write::split_rich_text(&rich),
                              "display_name": {"type": "custom", "custom": {"name": author}}});
        match self.new_id(&format!("discussion:{}", c.discussion_id)) {
            Some(d) => body["discussion_id"] = json!(d),
            None => {
                let kind = if c.parent_type == "block_id" {
                    "block_id"
                } else {
                    "page_id"
                };
                body["parent"] = json!({ kind: parent });
            }
        }
        body
    }

    /// Flushes the journal; what was made, and the notes.
    pub async fn finish(mut self) -> Result<Done, RestoreError> {
        self.journal.flush().await?;
        self.done.blocks = self.applied.blocks_created;
        self.done.requests = RequestStats::get(&self.stats.requests) - self.reads_before;
        Ok(self.done)
    }
}
