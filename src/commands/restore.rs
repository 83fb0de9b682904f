//! `notion-sync restore`: a snapshot of bronze brought back into Notion in place.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::{Value, json};

use super::{open_client, open_sink, report_config, report_sink, table};
use crate::cli::RestoreArgs;
use crate::config::{ConfigError, DatabaseConfig, Settings};
use crate::exit;
use crate::notion::{Client, RequestStats};
use crate::restore::journal::{self, Journal, Resumed};
use crate::restore::plan::{ActionKind, Plan, PlanOptions};
use crate::restore::{AsOf, RestoreError, Snapshot, apply, plan, rebuild, snapshot};
use crate::sink::BronzeSink;
use crate::sink::Sink;

/// Plans (and with `--apply` carries out) a restore; returns the exit code.
pub async fn run(settings: &Settings, args: &RestoreArgs) -> u8 {
    let databases = match settings.select_databases(&args.databases) {
        Ok(d) if d.is_empty() => {
            return report_config(&ConfigError::new(
                "NOTION_<NAME>_DB_ID",
                "no databases configured to restore",
            ));
        }
        Ok(d) => d,
        Err(e) => return report_config(&e),
    };
    let client = match open_client(settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let storage = settings.storage.options();
    let done = match &args.into_page {
        Some(page) => rebuild::run(&client, &sink, &databases, &args.into(), page, storage).await,
        None => restore(&client, &sink, &databases, args, storage).await,
    };
    match done {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            tracing::error!(error = %e, "restore failed");
            exit::for_class(e.class())
        }
    }
}

/// Plans and (with `--apply`) carries out a restore with an open client and lake.
pub(super) async fn restore(
    client: &Client,
    sink: &Sink,
    databases: &[DatabaseConfig],
    args: &RestoreArgs,
    storage: &std::collections::HashMap<String, String>,
) -> Result<(), RestoreError> {
    let resumed = journal::resumed(sink, args.resume.as_deref()).await?;
    let as_of = match (&args.as_of, resumed.as_ref().and_then(started_as_of)) {
        (Some(raw), _) => AsOf::parse(raw).map_err(RestoreError::Point)?,
        (None, Some(earlier)) => earlier,
        (None, None) => AsOf::Latest,
    };
    let restore_id = args
        .resume
        .clone()
        .unwrap_or_else(|| format!("restore-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
    let from = args
        .from
        .clone()
        .or_else(|| resumed.as_ref().and_then(started_from));
    let snap = snapshot::load(
        sink,
        databases,
        as_of,
        from.as_deref(),
        args.identity.as_deref(),
        storage,
    )
    .await?;
    let stats = RequestStats::default();
    let uploads = match args.upload_files {
        true => Some(crate::restore::upload::Uploads::load(sink).await?),
        false => None,
    };
    let mut created = journal::earlier_creations(sink).await?;
    created.extend(resumed.iter().flat_map(|r| r.created.clone()));
    let mut journal = Journal::new(sink, &restore_id, resumed.as_ref());
    if let Some(r) = &resumed {
        reconcile(client, &snap, r, &mut created, &mut journal, &stats).await?;
    }
    let opts = PlanOptions {
        pages: (!args.pages.is_empty()).then(|| {
            args.pages
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .collect()
        }),
        trash_new: args.trash_new,
        add_missing: args.add_missing_properties,
        created: created.clone(),
        uploads: uploads
            .as_ref()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let planned = plan::plan(client, &snap, databases, &restore_id, &opts, &stats).await?;
    print_plan(&planned);
    if let Some(path) = &args.plan_json {
        let text = serde_json::to_string_pretty(&planned).unwrap_or_default();
        std::fs::write(path, text).map_err(|e| {
            RestoreError::Source(format!("--plan-json {}: cannot write: {e}", path.display()))
        })?;
    }
    if !args.apply {
        println!(
            "dry run: nothing was written to Notion ({} read requests); rerun with --apply to carry it out",
            RequestStats::get(&stats.requests)
        );
        return Ok(());
    }
    sink.init_tables().await?;
    if resumed.is_none() {
        let begin = json!({"as_of": as_of.to_string(), "from": from, "notion_clock": planned.notion_clock, "databases": databases.iter().map(|d| &d.name).collect::<Vec<_>>()});
        journal.begin(&as_of.to_string(), &begin).await?;
    }
    println!("restore {restore_id}: applying (resume with --resume {restore_id} if it stops)");
    let reads = RequestStats::get(&stats.requests);
    let done = apply::apply(
        client,
        &planned,
        &mut journal,
        created,
        uploads.as_ref(),
        &stats,
    )
    .await?;
    println!(
        "restore {restore_id} done: {} write requests; pages {}; blocks created {}, edited {}, deleted {}",
        RequestStats::get(&stats.requests) - reads,
        serde_json::to_string(&done.pages).unwrap_or_default(),
        done.blocks_created,
        done.blocks_updated,
        done.blocks_deleted
    );
    Ok(())
}

/// The point an earlier run of the restore was started with.
fn started_as_of(r: &Resumed) -> Option<AsOf> {
    let begin: Value = serde_json::from_str(r.started_with.as_deref()?).ok()?;
    let raw = begin["as_of"].as_str()?;
    if raw == "latest" {
        return Some(AsOf::Latest);
    }
    AsOf::parse(raw.trim_start_matches("version ")).ok()
}

/// The export an earlier run of the restore read.
fn started_from(r: &Resumed) -> Option<String> {
    let begin: Value = serde_json::from_str(r.started_with.as_deref()?).ok()?;
    begin["from"].as_str().map(str::to_string)
}

/// Notion's clock when the restore was started.
fn started_clock(r: &Resumed) -> Option<chrono::DateTime<Utc>> {
    let begin: Value = serde_json::from_str(r.started_with.as_deref()?).ok()?;
    serde_json::from_value(begin["notion_clock"].clone()).ok()
}

/// Finds the pages whose create was sent but whose answer was lost: a page of the same data source and
/// title created since the intent was recorded is adopted; otherwise the create never happened.
async fn reconcile(
    client: &Client,
    snap: &Snapshot,
    resumed: &Resumed,
    created: &mut std::collections::HashMap<String, String>,
    journal: &mut Journal<'_>,
    stats: &RequestStats,
) -> Result<(), RestoreError> {
    let mut taken: HashSet<String> = created.values().cloned().collect();
    for lost in resumed.unknown.iter().filter(|u| u.action == "recreate") {
        let Some(page) = snap
            .databases
            .iter()
            .flat_map(|d| &d.pages)
            .find(|p| p.page_id == lost.old_id)
        else {
            continue;
        };
        let payload: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
        let title = crate::restore::live::page_title(&payload);
        // Notion's clock at the start (minute-precision creation times); without it, this host's.
        let since = started_clock(resumed).unwrap_or(lost.at) - chrono::Duration::minutes(1);
        let found = crate::restore::live::find_created(
            client,
            &page.data_source_id,
            since,
            &title,
            &taken,
            stats,
        )
        .await?;
        if let Some(new) = found {
            journal
                .outcome(
                    &lost.database_id,
                    "recreate",
                    &lost.old_id,
                    "adopted",
                    Some(&new),
                    None,
                    None,
                )
                .await?;
            taken.insert(new.clone());
            created.insert(lost.old_id.clone(), new);
        }
    }
    journal.flush().await?;
    Ok(())
}

fn print_plan(plan: &Plan) {
    let header = [
        "database",
        "update",
        "untrash",
        "recreate",
        "content",
        "unchanged",
        "skipped",
        "new",
    ];
    let rows: Vec<Vec<String>> = plan
        .databases
        .iter()
        .map(|d| {
            let counts = d.counts();
            std::iter::once(d.name.clone())
                .chain(
                    ActionKind::ALL
                        .iter()
                        .map(|k| counts.get(k).copied().unwrap_or(0).to_string()),
                )
                .collect()
        })
        .collect();
    println!("restore {} of {}:", plan.restore_id, plan.as_of);
    print!("{}", table::render(&header, &rows));
    if let Some(gap) = &plan.content_gap {
        println!("note: {gap}");
    }
    for d in &plan.databases {
        for a in d.actions.iter().filter(|a| !a.notes.is_empty()) {
            for n in &a.notes {
                println!("{} {} ({}): {n}", d.name, a.page_id, a.kind.as_str());
            }
        }
    }
}
