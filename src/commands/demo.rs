//! `notion-sync demo`: the whole pipeline on one machine, against a simulated Notion workspace.

use std::time::Duration;

use notion_sim::{SimConfig, Simulator, WorkspaceKind};

use super::{print_summary, report_sink, run_sync};
use crate::cli::DemoArgs;
use crate::config::{DatabaseConfig, Secret};
use crate::exit;
use crate::extract::SyncPlan;
use crate::notion::{ApiVersion, Client, ClientOptions};
use crate::progress::Progress;
use crate::sink::delta::DeltaSink;
use crate::sink::{BronzeSink, Sink};

/// Starts the simulator, runs a full sync, edits a few pages, runs an incremental sync and explains.
pub async fn run(args: &DemoArgs) -> u8 {
    let sim = match Simulator::start(SimConfig {
        seed: args.seed,
        workspace: WorkspaceKind::Demo,
        ..SimConfig::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: could not start the simulator: {e}");
            return exit::INTERNAL;
        }
    };
    println!("Simulated Notion workspace at {}", sim.base_url());
    let databases: Vec<DatabaseConfig> = sim
        .databases()
        .into_iter()
        .map(|d| DatabaseConfig {
            name: d
                .title
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            id: d.id,
            include: crate::config::Include {
                content: true,
                comments: true,
                users: true,
                files: false,
            },
        })
        .collect();
    let options = ClientOptions {
        base_url: match sim.base_url().parse() {
            Ok(u) => u,
            Err(_) => return exit::INTERNAL,
        },
        token: Secret::new(sim.token()),
        api_version: ApiVersion::default(),
        requests_per_minute: 6000,
        max_retries: 5,
        request_timeout: Duration::from_secs(30),
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_secs(5),
    };
    let client = match Client::new(options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let sink = match DeltaSink::new(&args.lake, "bronze").map(Sink::Delta) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    match sink.init_tables().await {
        Ok(created) => println!(
            "init-tables: created {} table(s) under {}/bronze",
            created.len(),
            args.lake
        ),
        Err(e) => return report_sink(&e),
    }
    let plan = |full_refresh: bool| SyncPlan {
        databases: databases.clone(),
        full_refresh,
        detect_deletes: false,
        run_id: uuid::Uuid::new_v4().to_string(),
        lookback: Duration::from_secs(300),
        pacing: crate::extract::Pacing {
            batch_pages: 500,
            ..Default::default()
        },
        concurrency: 4,
        content_depth: None,
        requests_per_minute: 6000,
    };
    println!(
        "\n1. Full sync of {} databases, with page content, comments and users:",
        databases.len()
    );
    let first = run_sync(&client, &sink, &plan(true), &Progress::auto()).await;
    print_summary(&first);
    let restore_point = match &sink {
        Sink::Delta(lake) => lake
            .table_version(crate::sink::tables::PAGES)
            .await
            .ok()
            .flatten(),
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(_) => None,
    };
    let showcase = show_content(&sink, None).await;

    // Ten minutes later someone edits a few tasks.
    sim.advance_clock(chrono::Duration::minutes(10));
    let tasks_ds = sim
        .databases()
        .into_iter()
        .find(|d| d.title.eq_ignore_ascii_case("tasks"))
        .and_then(|d| d.data_sources.into_iter().next());
    let edited = tasks_ds
        .map(|ds| sim.edit_pages(&ds.id, 5))
        .unwrap_or_default();
    // And a paragraph of the page shown above is rewritten, another one appended.
    if let Some((page, block)) = &showcase {
        sim.edit_block(block);
        sim.append_blocks(page, 1);
    }
    println!(
        "\n2. Edited {} pages in Tasks and the content of one page; incremental sync:",
        edited.len()
    );
    let second = run_sync(&client, &sink, &plan(false), &Progress::auto()).await;
    print_summary(&second);
    if let Some((page, _)) = &showcase {
        show_content(&sink, Some(page)).await;
    }
    let mut failed = first.iter().chain(&second).any(|o| o.error.is_some());
    println!(
        "\nThe incremental run read only pages edited since the watermark (minus the lookback) and updated {} rows.",
        second.iter().map(|o| o.run.updated).sum::<i64>()
    );
    if let (Some(v), Some(ds)) = (restore_point, tasks_ds_id(&sim)) {
        failed |= !restore_step(&sim, &client, &sink, &databases, &ds, v).await;
    }
    failed |= !typed_query(&sink).await;
    println!("\nLook at the tables:");
    println!("  LAKEHOUSE_URI={} notion-sync status", args.lake);
    println!(
        "  LAKEHOUSE_URI={} notion-sync query \"SELECT name, status, due FROM tasks WHERE due < now() AND status <> 'Done' ORDER BY due\"",
        args.lake
    );
    println!(
        "  python -c \"import deltalake; print(deltalake.DeltaTable('{}/bronze/notion_raw_pages').to_pandas()[['database_name','title','last_edited_time']])\"",
        args.lake
    );
    println!(
        "  duckdb -c \"SELECT database_name, count(*) FROM delta_scan('{}/bronze/notion_raw_pages') GROUP BY 1\"",
        args.lake
    );
    sim.shutdown().await;
    if failed { exit::PARTIAL } else { exit::OK }
}

/// The typed query the demo ends with.
const TYPED_QUERY: &str = "SELECT status, count(*) AS tasks, sum(effort) AS effort, max(due) AS latest_due \
                           FROM tasks GROUP BY status ORDER BY status";

/// Step 4: the analysts' side: each database is a typed view (a column per property) and
/// `notion-sync query` runs SQL over them with DataFusion.
async fn typed_query(sink: &Sink) -> bool {
    let Sink::Delta(lake) = sink else {
        return true;
    };
    println!(
        "\n4. Every database is also a typed view, a column per property; notion-sync query \"{TYPED_QUERY}\":"
    );
    let result = async {
        let (ctx, views) = crate::query::session(lake, crate::restore::AsOf::Latest).await?;
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        println!("   views: {}", names.join(", "));
        crate::query::run_sql(
            &ctx,
            TYPED_QUERY,
            crate::query::output::Format::Table,
            Box::new(std::io::stdout()),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// The data source of the Tasks database.
fn tasks_ds_id(sim: &notion_sim::SimHandle) -> Option<String> {
    sim.databases()
        .into_iter()
        .find(|d| d.title.eq_ignore_ascii_case("tasks"))
        .and_then(|d| d.data_sources.into_iter().next())
        .map(|ds| ds.id)
}

/// Step 3: someone rewrites a task and trashes another; both come back from the first sync's version.
async fn restore_step(
    sim: &notion_sim::SimHandle,
    client: &Client,
    sink: &Sink,
    databases: &[DatabaseConfig],
    tasks_ds: &str,
    version: u64,
) -> bool {
    sim.advance_clock(chrono::Duration::minutes(10));
    let picked = sim.edit_pages(tasks_ds, 2);
    let [edited, trashed] = picked.as_slice() else {
        return false;
    };
    let title = |id: &str| {
        let dump = sim.state_dump(ApiVersion::default().as_str());
        dump["pages"]
            .as_array()
            .and_then(|pages| pages.iter().find(|p| p["id"] == id))
            .map(|p| {
                (
                    p["title"].as_str().unwrap_or_default().to_string(),
                    p["in_trash"] == true,
                )
            })
            .unwrap_or_default()
    };
    sim.trash_page(trashed);
    println!(
        "\n3. A task was renamed to {:?} and another ({:?}) trashed; restore both from version {version}:",
        title(edited).0,
        title(trashed).0
    );
    let args = crate::cli::RestoreArgs {
        as_of: Some(version.to_string()),
        from: None,
        identity: None,
        databases: vec!["tasks".into()],
        pages: vec![edited.clone(), trashed.clone()],
        apply: true,
        plan_json: None,
        trash_new: false,
        add_missing_properties: false,
        resume: None,
        into_page: None,
        comments: false,
        upload_files: false,
    };
    let tasks: Vec<DatabaseConfig> = databases
        .iter()
        .filter(|d| d.name == "tasks")
        .cloned()
        .collect();
    if let Err(e) = super::restore::restore(client, sink, &tasks, &args, &Default::default()).await
    {
        eprintln!("error: {e}");
        return false;
    }
    let (name, _) = title(edited);
    let (other, in_trash) = title(trashed);
    println!(
        "   Now: {name:?}, and {other:?} is {}",
        if in_trash {
            "still in the trash"
        } else {
            "out of the trash"
        }
    );
    !in_trash
}

/// Prints the first blocks of a page's content as bronze holds them (the page with the most paragraphs
/// when `page` is `None`); returns the page and its first paragraph.
async fn show_content(sink: &Sink, page: Option<&String>) -> Option<(String, String)> {
    let blocks = sink.read_blocks().await.ok()?;
    let paragraphs = |p: &str| {
        blocks
            .iter()
            .filter(|b| b.page_id == p && b.block_type == "paragraph" && !b.is_deleted)
            .count()
    };
    let page = match page {
        Some(p) => p.clone(),
        None => blocks
            .iter()
            .map(|b| b.page_id.as_str())
            .max_by_key(|p| (paragraphs(p), *p))?
            .to_string(),
    };
    let mut rows: Vec<_> = blocks
        .iter()
        .filter(|b| b.page_id == page && !b.is_deleted)
        .collect();
    rows.sort_by_key(|b| (b.depth, b.position));
    println!(
        "\n   Content of page {page} in notion_raw_blocks ({} blocks):",
        rows.len()
    );
    for b in rows.iter().filter(|b| b.depth == 1) {
        let text: String = b
            .plain_text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(60)
            .collect();
        println!("     {:>3}  {:<20} {text}", b.position, b.block_type);
    }
    let first = rows.iter().find(|b| b.block_type == "paragraph")?;
    Some((page, first.block_id.clone()))
}
