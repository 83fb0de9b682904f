//! `restore --into-page`: whole databases of a snapshot recreated under a Notion page, with new ids.
//!
//! A restore in place needs the databases to still exist; a rebuild does not. It runs in phases, each
//! over every database before the next, because each names what the ones before made: databases and
//! data sources with their plain properties → status options → relations (a two-way pair created
//! from one side, its back-relation renamed) → rollups → formulas (tokens rewritten to `prop()` by the
//! snapshot's names, in dependency order) → pages → relation values and mentions (once every page
//! exists) → content → comments. Every create is journaled in `notion_restore_log` (intent, then the
//! new id), so `--resume` finishes a rebuild without creating anything twice.

mod exec;
pub mod formula;
pub mod pages;
pub mod schema;

use std::collections::{BTreeSet, HashSet};

use serde_json::{Value, json};

use super::journal::{self, Journal};
use super::{AsOf, RestoreError, Snapshot, content, snapshot};
use crate::cli::RestoreArgs;
use crate::config::DatabaseConfig;
use crate::notion::{Client, RequestStats};
use crate::sink::BronzeSink;
use crate::sink::Sink;
use schema::SchemaPlan;

/// What a rebuild is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RebuildOptions {
    /// `--as-of` as given.
    pub as_of: Option<String>,
    /// Write (without it only the phases' plan is printed).
    pub apply: bool,
    /// Write the snapshot's comments too.
    pub comments: bool,
    /// Continue this restore id.
    pub resume: Option<String>,
    /// Rebuild from this export instead of the lake.
    pub from: Option<String>,
    /// The age identity file of an encrypted export.
    pub identity: Option<std::path::PathBuf>,
    /// Upload hosted files again from bronze's copies.
    pub upload_files: bool,
}

impl From<&RestoreArgs> for RebuildOptions {
    fn from(a: &RestoreArgs) -> Self {
        RebuildOptions {
            as_of: a.as_of.clone(),
            apply: a.apply,
            comments: a.comments,
            resume: a.resume.clone(),
            from: a.from.clone(),
            identity: a.identity.clone(),
            upload_files: a.upload_files,
        }
    }
}

/// Rebuilds `databases` of the snapshot under page `into` (or prints the plan without `apply`).
pub async fn run(
    client: &Client,
    sink: &Sink,
    databases: &[DatabaseConfig],
    opts: &RebuildOptions,
    into: &str,
    storage: &std::collections::HashMap<String, String>,
) -> Result<(), RestoreError> {
    let parent = crate::notion::ids::normalize_id(into)
        .ok_or_else(|| RestoreError::Point(format!("--into-page {into}: not a Notion page id")))?;
    let resumed = journal::resumed(sink, opts.resume.as_deref()).await?;
    let begun: Value = resumed
        .as_ref()
        .and_then(|r| r.started_with.as_deref())
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let raw_as_of = opts
        .as_of
        .clone()
        .or_else(|| begun["as_of_arg"].as_str().map(str::to_string));
    let as_of = match raw_as_of.as_deref() {
        None | Some("latest") => AsOf::Latest,
        Some(raw) => AsOf::parse(raw).map_err(RestoreError::Point)?,
    };
    let from = opts
        .from
        .clone()
        .or_else(|| begun["from"].as_str().map(str::to_string));
    let snap = snapshot::load(
        sink,
        databases,
        as_of,
        from.as_deref(),
        opts.identity.as_deref(),
        storage,
    )
    .await?;
    let plan = schema::plan(&snap);
    let stats = RequestStats::default();
    // The parent must exist and be shared with the integration (a read).
    client
        .get::<Value>(&format!("/v1/pages/{parent}"), &[], Some(&parent), &stats)
        .await?;
    print_plan(&snap, &plan, &parent, opts.comments);
    if !opts.apply {
        println!(
            "dry run: nothing was written to Notion ({} read requests); rerun with --apply to carry it out",
            RequestStats::get(&stats.requests)
        );
        return Ok(());
    }
    let restore_id = opts.resume.clone().unwrap_or_else(|| {
        format!(
            "rebuild-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        )
    });
    sink.init_tables().await?;
    let mut journal = Journal::new(sink, &restore_id, resumed.as_ref());
    if resumed.is_none() {
        let begin = json!({"as_of_arg": raw_as_of.as_deref().unwrap_or("latest"), "from": from,
            "into_page": parent, "databases": databases.iter().map(|d| &d.name).collect::<Vec<_>>()});
        journal.begin(&as_of.to_string(), &begin).await?;
    }
    println!(
        "restore {restore_id}: rebuilding under page {parent} (resume with --resume {restore_id} if it stops)"
    );
    let uploads = match opts.upload_files {
        true => Some(super::upload::Uploads::load(sink).await?),
        false => None,
    };
    let mut run = exec::Executor::new(client, &stats, journal, resumed.as_ref(), uploads.as_ref());
    if let Some(r) = &resumed {
        run.adopt_lost(&snap, &plan, &parent, r).await?;
    }
    run.schema(&plan, &parent).await?;
    run.pages(&snap, &plan).await?;
    run.relation_values(&snap, &plan).await?;
    run.content(&snap).await?;
    if opts.comments {
        run.comments(&snap).await?;
    }
    let done = run.finish().await?;
    println!(
        "restore {restore_id} done: {} requests; databases {}, data sources {}, pages {}, blocks {}, comments {}",
        done.requests, done.databases, done.sources, done.pages, done.blocks, done.comments
    );
    for n in &done.notes {
        println!("note: {n}");
    }
    Ok(())
}

/// Prints what each phase creates, and what is not kept.
fn print_plan(snap: &Snapshot, plan: &SchemaPlan, parent: &str, comments: bool) {
    println!(
        "rebuild of {} under page {parent}, in phases: databases and data sources (plain properties) → \
         status options → relations → rollups → formulas → pages → relation values → content{}",
        snap.as_of
            .map_or_else(|| "export".into(), |a| a.to_string()),
        if comments { " → comments" } else { "" }
    );
    let mut notes: BTreeSet<String> = BTreeSet::new();
    for (db, d) in snap.databases.iter().zip(&plan.databases) {
        let sum = |f: &dyn Fn(&schema::SourcePlan) -> usize| d.sources.iter().map(f).sum::<usize>();
        let live = db.pages.iter().filter(|p| !p.in_trash).count();
        println!(
            "{}: databases 1 ('{}', data sources {}); properties {}; relations {}; rollups {}; formulas {}; \
             pages {live}; content blocks {}; comments {}",
            d.name,
            d.title,
            d.sources.len(),
            sum(&|s| s.plain.len()),
            sum(&|s| s.relations.len()),
            sum(&|s| s.rollups.len() + s.late_rollups.len()),
            sum(&|s| s.formulas.len()),
            db.blocks.len(),
            if comments { db.comments.len() } else { 0 },
        );
        notes.extend(d.notes.iter().map(|n| format!("{}: {n}", d.name)));
        notes.extend(schema_notes(d));
        let pages: HashSet<&str> = db.pages.iter().map(|p| p.page_id.as_str()).collect();
        for (page, blocks) in db.blocks_by_page() {
            if !pages.contains(page) {
                continue;
            }
            let owned: Vec<_> = blocks.into_iter().cloned().collect();
            let same = |id: &str| id.to_string();
            let diff = content::diff(page, &owned, page, &[], &same, &same);
            notes.extend(
                diff.notes
                    .into_iter()
                    .map(|n| format!("{}: page {page}: {n}", d.name)),
            );
        }
        let trashed = db.pages.len() - live;
        if trashed > 0 {
            notes.insert(format!(
                "{}: {trashed} pages in the trash at the snapshot are not created",
                d.name
            ));
        }
    }
    if let Some(gap) = &snap.content_gap {
        notes.insert(gap.clone());
    }
    for n in notes {
        println!("note: {n}");
    }
}

/// What a database's schema loses in a rebuild.
pub fn schema_notes(d: &schema::DatabasePlan) -> Vec<String> {
    let mut out = Vec::new();
    for s in &d.sources {
        for (name, why) in &s.skipped {
            out.push(format!("{}: property '{name}' not created: {why}", s.title));
        }
        for (name, options) in &s.status {
            let added: Vec<&str> = options
                .iter()
                .filter_map(|o| o["name"].as_str())
                .filter(|n| !schema::STATUS_DEFAULTS.contains(n))
                .collect();
            out.push(format!(
                "{}: status '{name}': options {} are added after the create and land in the To-do group \
                 (groups are set only in Notion's app); Notion's default options stay",
                s.title,
                added.join(", ")
            ));
        }
        if s.plain.values().any(|p| p.get("unique_id").is_some()) {
            out.push(format!(
                "{}: unique ids keep their prefix; their numbers are Notion's (new pages are numbered in \
                 creation order)",
                s.title
            ));
        }
        for r in s
            .relations
            .iter()
            .filter(|r| matches!(r.target, schema::Target::Outside { .. }))
        {
            out.push(format!(
                "{}: relation '{}' points at a data source outside the snapshot: it keeps pointing there",
                s.title, r.name
            ));
        }
    }
    out
}
