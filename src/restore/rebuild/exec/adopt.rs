//! Resuming a rebuild: what an earlier run may have made without journaling it is read back from Notion
//! and adopted, never made twice. Notion has no idempotency key, so each kind of create is found by what
//! it leaves: a database by its `child_database` block under the parent, a data source by its title in
//! its database, a page by its title in its new data source, a comment by its text on its new parent.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Executor;
use crate::bronze::BlockRecord;
use crate::config::DatabaseConfig;
use crate::notion::model::plain_text;
use crate::restore::journal::{Resumed, Unknown};
use crate::restore::rebuild::schema::SchemaPlan;
use crate::restore::snapshot::{DatabaseSnapshot, Snapshot};
use crate::restore::{RestoreError, live};

impl Executor<'_> {
    /// Adopts what the creates an earlier run sent without a known answer made: databases first (the
    /// others are found inside them), then data sources, pages and comments.
    pub async fn adopt_lost(
        &mut self,
        snap: &Snapshot,
        plan: &SchemaPlan,
        parent: &str,
        resumed: &Resumed,
    ) -> Result<(), RestoreError> {
        let lost = |action: &'static str| {
            resumed
                .unknown
                .iter()
                .filter(move |u: &&Unknown| u.action == action)
        };
        for u in lost("create_database") {
            if let Some(d) = plan.databases.iter().find(|d| d.database_id == u.old_id) {
                let found = self.find_database(parent, &d.title).await?;
                if let Some(db) = found {
                    self.adopt(u, &db).await?;
                    if let Some(first) = d.sources.first() {
                        let ds = self.first_source_of(&db).await?;
                        let first_source = Unknown {
                            action: "create_data_source".into(),
                            old_id: first.data_source_id.clone(),
                            ..u.clone()
                        };
                        self.adopt(&first_source, &ds).await?;
                    }
                }
            }
        }
        for u in lost("create_data_source") {
            let found = plan.databases.iter().find_map(|d| {
                let s = d.sources.iter().find(|s| s.data_source_id == u.old_id)?;
                Some((self.new_id(&d.database_id)?, s.title.clone()))
            });
            if let Some((db, title)) = found
                && let Some(ds) = self.find_source(&db, &title).await?
            {
                self.adopt(u, &ds).await?;
            }
        }
        for u in lost("create_page") {
            let Some(page) = snap
                .databases
                .iter()
                .flat_map(|d| &d.pages)
                .find(|p| p.page_id == u.old_id)
            else {
                continue;
            };
            let Some(ds) = self.new_id(&page.data_source_id) else {
                continue;
            };
            let payload: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
            let title = live::page_title(&payload);
            // Every page of the new data source was made by this rebuild: no time bound is needed.
            let since = DateTime::<Utc>::UNIX_EPOCH;
            let taken = self.taken();
            let found =
                live::find_created(self.client, &ds, since, &title, &taken, self.stats).await?;
            if let Some(new) = found {
                self.adopt(u, &new).await?;
            }
        }
        for u in lost("create_comment") {
            let found = snap.databases.iter().find_map(|d| {
                let c = d.comments.iter().find(|c| c.comment_id == u.old_id)?;
                Some((c, self.new_id(&c.parent_id)?))
            });
            if let Some((c, parent)) = found {
                // Every comment a rebuild writes ends with its original time.
                let payload: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
                let when = payload["created_time"].as_str().unwrap_or_default();
                let text = super::original_time(when);
                if let Some(new) = self.find_comment(&parent, &text).await? {
                    self.adopt(u, &new).await?;
                }
            }
        }
        self.journal.flush().await?;
        Ok(())
    }

    /// Journals `new` as what the lost create `u` made.
    async fn adopt(&mut self, u: &Unknown, new: &str) -> Result<(), RestoreError> {
        self.journal
            .outcome(
                &u.database_id,
                &u.action,
                &u.old_id,
                "adopted",
                Some(new),
                None,
                None,
            )
            .await?;
        self.created.insert(u.old_id.clone(), new.to_string());
        Ok(())
    }

    /// Everything made so far (not to be adopted twice).
    fn taken(&self) -> HashSet<String> {
        self.created.values().cloned().collect()
    }

    /// The children of a block or page, as objects.
    async fn children(&self, parent: &str) -> Result<Vec<Value>, RestoreError> {
        let counter = std::sync::atomic::AtomicU64::new(0);
        let items = self
            .client
            .get_all(
                &format!("/v1/blocks/{parent}/children"),
                Some(parent),
                self.stats,
                &counter,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect())
    }

    /// A database titled `title` under `parent` that this rebuild has not adopted yet.
    async fn find_database(
        &self,
        parent: &str,
        title: &str,
    ) -> Result<Option<String>, RestoreError> {
        let taken = self.taken();
        Ok(self
            .children(parent)
            .await?
            .into_iter()
            .filter(|b| b["type"] == "child_database" && b["child_database"]["title"] == title)
            .filter_map(|b| b["id"].as_str().map(str::to_string))
            .find(|id| !taken.contains(id)))
    }

    /// The first data source of database `db` (the database itself under 2022-06-28).
    async fn first_source_of(&self, db: &str) -> Result<String, RestoreError> {
        match self.newest {
            true => self.first_source(db).await,
            false => Ok(db.to_string()),
        }
    }

    /// A data source of `db` titled `title` that this rebuild has not adopted yet.
    async fn find_source(&self, db: &str, title: &str) -> Result<Option<String>, RestoreError> {
        let v: Value = self
            .client
            .get(&format!("/v1/databases/{db}"), &[], Some(db), self.stats)
            .await?;
        let taken = self.taken();
        Ok(v["data_sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == title)
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .find(|id| !taken.contains(id)))
    }

    /// A comment on `parent` whose text ends with `text`, not adopted yet.
    async fn find_comment(&self, parent: &str, text: &str) -> Result<Option<String>, RestoreError> {
        let counter = std::sync::atomic::AtomicU64::new(0);
        let path = format!("/v1/comments?block_id={parent}");
        let items = self
            .client
            .get_all(&path, Some(parent), self.stats, &counter)
            .await?;
        let taken = self.taken();
        Ok(items
            .iter()
            .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .filter(|c| plain_text(&c["rich_text"]).ends_with(text))
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .find(|id| !taken.contains(id)))
    }

    /// The schema of the new data source at `path` when it already has the relation `name` (made by
    /// an earlier run whose step was not marked); `None` when the relation is still to be made.
    pub(super) async fn made_relation(
        &self,
        path: &str,
        ds: &str,
        name: &str,
    ) -> Result<Option<Value>, RestoreError> {
        if !self.resuming {
            return Ok(None);
        }
        let schema: Value = self.client.get(path, &[], Some(ds), self.stats).await?;
        Ok((schema["properties"][name]["type"] == "relation").then_some(schema))
    }

    /// The blocks of new page `page` now (an earlier run may have appended some of them).
    pub(super) async fn live_content(
        &self,
        db: &DatabaseSnapshot,
        page: &str,
    ) -> Result<Vec<BlockRecord>, RestoreError> {
        let config = DatabaseConfig {
            name: db.name.clone(),
            id: self.new_id(&db.database_id).unwrap_or_default(),
            include: Default::default(),
        };
        live::read_content(self.client, &config, page, self.stats)
            .await
            .map_err(|e| RestoreError::Source(e.to_string()))
    }
}
