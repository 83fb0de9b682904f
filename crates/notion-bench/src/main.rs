//! `notion-bench`: the performance harness. It starts notion-sim in this process, runs the release
//! `notion-sync` binary against it as a child process (so CPU and peak RSS are the connector's alone), and
//! prints a results table with the targets beside the figures.
//!
//! ```text
//! notion-bench --bin target/release/notion-sync [--quick] [throughput|budget|incremental|no-change]...
//! ```
//! `bash scripts/bench.sh` builds both in release and runs every scenario.

mod measure;
mod s3proxy;
mod warehouse;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use measure::{Connector, Cost};
use notion_sim::{ClockMode, SimConfig, SimHandle, Simulator, WorkspaceKind};

/// One line of the results table.
struct Row {
    scenario: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

struct Bench {
    bin: std::path::PathBuf,
    rows: Vec<Row>,
}

impl Bench {
    fn record(
        &mut self,
        scenario: impl Into<String>,
        figure: String,
        target: &str,
        met: Option<bool>,
    ) {
        let row = Row {
            scenario: scenario.into(),
            figure,
            target: target.to_string(),
            met,
        };
        eprintln!(
            "  {} — {} (target {})",
            row.scenario, row.figure, row.target
        );
        self.rows.push(row);
    }

    /// A simulator with `pages` rows in one data source, and a connector pointed at it and a fresh lake.
    async fn world(&self, pages: usize, rpm: u32) -> (SimHandle, Connector, tempfile::TempDir) {
        let started = Instant::now();
        let sim = Simulator::start(SimConfig {
            workspace: WorkspaceKind::Large,
            pages,
            requests_per_minute: rpm,
            clock: ClockMode::Manual(chrono::Utc::now() - chrono::Duration::days(1)),
            ..SimConfig::default()
        })
        .await
        .expect("simulator starts");
        eprintln!(
            "  simulator with {pages} pages ready in {:.1?}",
            started.elapsed()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env = BTreeMap::new();
        env.insert("NOTION_API_KEY".to_string(), sim.token());
        env.insert("NOTION_API_BASE_URL".to_string(), sim.base_url());
        env.insert(
            "LAKEHOUSE_URI".to_string(),
            dir.path().join("lake").display().to_string(),
        );
        let db = &sim.databases()[0];
        env.insert("NOTION_ITEMS_DB_ID".to_string(), db.id.clone());
        let budget = if rpm == 0 { 10_000_000 } else { rpm };
        env.insert("NOTION_REQUESTS_PER_MINUTE".to_string(), budget.to_string());
        env.insert("RUST_LOG".to_string(), "warn".to_string());
        let connector = Connector {
            bin: self.bin.clone(),
            env,
            dir: dir.path().to_path_buf(),
        };
        (sim, connector, dir)
    }

    /// (1) Full refresh with no rate limit.
    async fn throughput(&mut self, pages: usize) -> Cost {
        eprintln!("throughput: full refresh of {pages} pages, no rate limit");
        let (_sim, c, _dir) = self.world(pages, 0).await;
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let rate = pages as f64 / cost.wall.as_secs_f64();
        self.record(
            format!("1. full refresh, {pages} pages"),
            format!("{rate:.0} pages/s, {}", cost.summary()),
            "≥ 20,000 pages/s",
            Some(rate >= 20_000.0),
        );
        cost
    }

    /// (2) Full refresh under the simulator's request budget, with the limiter set to the same budget.
    async fn budget(&mut self, pages: usize, rpm: u32) {
        eprintln!("budget: full refresh of {pages} pages at {rpm} requests/minute");
        let (sim, c, _dir) = self.world(pages, rpm).await;
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let counters = sim.counters();
        let ideal = (pages.div_ceil(100) as f64) / rpm as f64 * 60.0;
        let ratio = cost.wall.as_secs_f64() / ideal;
        self.record(
            format!("2. budget, {pages} pages at {rpm}/min"),
            format!(
                "{:.1} s vs ideal {ideal:.1} s = {ratio:.3}×; {} 429s; {:.4} requests/page",
                cost.wall.as_secs_f64(),
                counters.rate_limited_429,
                counters.total_requests as f64 / pages as f64
            ),
            "≤ 1.03 × ideal, 0 × 429",
            Some(ratio <= 1.03 && counters.rate_limited_429 == 0),
        );
    }

    /// (3)+(4)+(5) A full refresh into an empty lake (peak RSS), 1,000 changes merged incrementally, then a
    /// run with nothing changed (requests per data source).
    async fn incremental(&mut self, pages: usize) -> Duration {
        eprintln!("incremental: 1,000 changes into {pages} rows");
        let (sim, c, _dir) = self.world(pages, 0).await;
        let full = c.run(&["sync", "--full-refresh"]).await;
        self.record(
            format!("   (setup) full refresh, {pages} pages"),
            format!(
                "{:.0} pages/s, {}",
                pages as f64 / full.wall.as_secs_f64(),
                full.summary()
            ),
            if pages >= 1_000_000 {
                "≤ 300 MiB (4)"
            } else {
                "—"
            },
            (pages >= 1_000_000).then_some(full.peak_rss_mib <= 300.0),
        );
        let inc = Self::thousand_changes(&sim, &c).await;
        self.record(
            format!("3. 1,000 changes into {pages} rows"),
            inc.summary(),
            "≤ 5 s at 1,000,000 rows",
            (pages >= 1_000_000).then_some(inc.wall.as_secs_f64() <= 5.0),
        );
        // Nothing edited since that run.
        let idle = self.requests_per_source(&sim, &c).await;
        self.record(
            format!("5. no-change run, {pages} rows"),
            format!("{idle:.0} requests per data source"),
            "≤ 2",
            Some(idle <= 2.0),
        );
        // The hard case: a sync in the same minute as 1,000 edits. The next run must read that minute again
        // (a page edited later in it has the same minute-floored timestamp, and Notion's index lags), so it
        // re-reads the 1,000 pages once; the run after it is idle again.
        let ds = sim.databases()[0].data_sources[0].id.clone();
        sim.edit_pages(&ds, 1_000);
        c.run(&["sync"]).await;
        sim.advance_clock(chrono::Duration::minutes(15));
        let boundary = self.requests_per_source(&sim, &c).await;
        let settled = self.requests_per_source(&sim, &c).await;
        self.record(
            format!("   no-change runs after a sync in the minute of 1,000 edits, {pages} rows"),
            format!("{boundary:.0}, then {settled:.0} requests per data source"),
            "—",
            None,
        );
        inc.wall
    }

    /// (7) `notion-sync query` on the typed view of a `pages`-page database: a GROUP BY over its status.
    async fn query(&mut self, pages: usize) {
        eprintln!("query: GROUP BY status on the typed view of {pages} pages");
        let (_sim, c, _dir) = self.world(pages, 0).await;
        c.run(&["sync", "--full-refresh"]).await;
        let sql = "SELECT status, count(*) AS pages FROM items GROUP BY status ORDER BY status";
        // The first run reads the files from disk into the page cache; the second is the figure.
        c.run(&["query", sql, "--format", "csv"]).await;
        let cost = c.run(&["query", sql, "--format", "csv"]).await;
        self.record(
            format!("7. query GROUP BY status, typed view of {pages} pages"),
            cost.summary(),
            "≤ 3 s",
            Some(cost.wall.as_secs_f64() <= 3.0),
        );
    }

    /// A world whose pages each hold `blocks` blocks of content nested `depth` deep, synced with content.
    async fn content_world(
        &self,
        pages: usize,
        rpm: u32,
        blocks: usize,
    ) -> (SimHandle, Connector, tempfile::TempDir, usize) {
        let (sim, mut c, dir) = self.world(pages, rpm).await;
        let dump = sim.state_dump("2026-03-11");
        let mut made = 0;
        for page in dump["pages"].as_array().into_iter().flatten() {
            if let Some(id) = page["id"].as_str() {
                made += sim.generate_content(id, blocks, 3);
            }
        }
        c.env
            .insert("NOTION_SYNC_INCLUDE".to_string(), "content".to_string());
        (sim, c, dir, made)
    }

    /// (6) Page content: the local cost of a content backfill with the rate limit off.
    async fn content(&mut self, pages: usize) {
        eprintln!("content: {pages} pages of about 40 blocks");
        let (_sim, c, _dir, blocks) = self.content_world(pages, 0, 40).await;
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let rate = blocks as f64 / cost.wall.as_secs_f64();
        self.record(
            format!("6. content, {pages} pages ({blocks} blocks), no rate limit"),
            format!("{rate:.0} blocks/s, {}", cost.summary()),
            "≥ 10,000 blocks/s",
            Some(rate >= 10_000.0),
        );
    }

    /// (6) Page content under the request budget, against the ideal time the requests it needs set.
    async fn content_budget(&mut self, pages: usize, rpm: u32) {
        eprintln!("content: {pages} pages at {rpm} requests/minute");
        let (sim, c, _dir, _) = self.content_world(pages, rpm, 40).await;
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let counters = sim.counters();
        let ideal = counters.total_requests as f64 / f64::from(rpm) * 60.0;
        let ratio = cost.wall.as_secs_f64() / ideal;
        self.record(
            format!("6. content, {pages} pages at {rpm}/min"),
            format!(
                "{:.1} s vs ideal {ideal:.1} s ({} requests) = {ratio:.3}×; {} 429s",
                cost.wall.as_secs_f64(),
                counters.total_requests,
                counters.rate_limited_429
            ),
            "≤ 1.05 × ideal, 0 × 429",
            Some(ratio <= 1.05 && counters.rate_limited_429 == 0),
        );
    }

    /// (7) A full refresh into the local S3 server (`NOTION_SYNC_TEST_S3`, run under
    /// `scripts/services.sh`) against one into a local directory, and the object-store requests per commit.
    async fn s3(&mut self, pages: usize) {
        let Ok(upstream) = std::env::var("NOTION_SYNC_TEST_S3") else {
            eprintln!(
                "s3: skipped, NOTION_SYNC_TEST_S3 is not set (run under scripts/services.sh)"
            );
            return;
        };
        eprintln!("s3: full refresh of {pages} pages into S3 and into a local directory");
        let local = self.throughput(pages).await;
        let (_sim, mut c, _dir) = self.world(pages, 0).await;
        let (endpoint, counts) = s3proxy::start(&upstream).await;
        let bucket = format!("nsync-bench-{}", std::process::id());
        reqwest::Client::new()
            .put(format!("{upstream}/{bucket}"))
            .send()
            .await
            .expect("bucket created");
        for (k, v) in [
            ("LAKEHOUSE_URI", format!("s3://{bucket}/lake")),
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "bench".into()),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret".into()),
        ] {
            c.env.insert(k.to_string(), v);
        }
        c.run(&["init-tables"]).await;
        counts.reset();
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let requests = counts.snapshot();
        let total: u64 = requests.values().sum();
        let commits = s3proxy::keys(&upstream, &bucket, "lake/bronze/")
            .await
            .iter()
            .filter(|k| k.contains("/_delta_log/") && k.ends_with(".json"))
            .filter(|k| !k.ends_with("00000000000000000000.json"))
            .count();
        let rate = pages as f64 / cost.wall.as_secs_f64();
        let local_rate = pages as f64 / local.wall.as_secs_f64();
        let share = rate / local_rate;
        self.record(
            format!("7. full refresh into S3, {pages} pages"),
            format!(
                "{rate:.0} pages/s = {:.0} % of local disk ({local_rate:.0}); {}; {total} requests \
                 for {commits} commits = {:.1} per commit ({requests:?})",
                share * 100.0,
                cost.summary(),
                total as f64 / commits.max(1) as f64
            ),
            "≥ 50 % of local disk",
            Some(share >= 0.5),
        );
    }

    /// Points `c` at a new schema of the test PostgreSQL through the warehouse sink; the schema's name.
    fn into_postgres(c: &mut Connector, connection: &str) -> String {
        let schema = warehouse::new_schema(connection);
        for (k, v) in [
            ("NOTION_SYNC_SINK", "warehouse".to_string()),
            ("WAREHOUSE_DIALECT", "postgres".into()),
            ("WAREHOUSE_ODBC_CONNECTION_STRING", connection.to_string()),
            ("BRONZE_SCHEMA", schema.clone()),
            (
                "ODBCSYSINI",
                std::env::var("ODBCSYSINI").unwrap_or_default(),
            ),
        ] {
            c.env.insert(k.to_string(), v);
        }
        schema
    }

    /// (W) The warehouse sink into PostgreSQL through psqlODBC: a full refresh of `full` pages, 1,000
    /// changes into `rows` rows, and a run with nothing to do.
    async fn warehouse(&mut self, full: usize, rows: usize) {
        let Some(connection) = warehouse::connection() else {
            eprintln!(
                "warehouse: skipped, NOTION_SYNC_TEST_POSTGRES is not set (run under scripts/services.sh)"
            );
            return;
        };
        eprintln!("warehouse: full refresh of {full} pages into PostgreSQL, no rate limit");
        let (_sim, mut c, _dir) = self.world(full, 0).await;
        Self::into_postgres(&mut c, &connection);
        c.run(&["init-tables"]).await;
        let cost = c.run(&["sync", "--full-refresh"]).await;
        let rate = full as f64 / cost.wall.as_secs_f64();
        self.record(
            format!("W1. full refresh into PostgreSQL, {full} pages"),
            format!("{rate:.0} pages/s, {}", cost.summary()),
            "≥ 3,000 pages/s",
            Some(rate >= 3_000.0),
        );
        eprintln!("warehouse: 1,000 changes into {rows} rows");
        let (sim, mut c, _dir) = self.world(rows, 0).await;
        let schema = Self::into_postgres(&mut c, &connection);
        let setup = c.run(&["sync", "--full-refresh"]).await;
        self.record(
            format!("   (setup) full refresh into PostgreSQL, {rows} pages"),
            format!(
                "{:.0} pages/s, {}",
                rows as f64 / setup.wall.as_secs_f64(),
                setup.summary()
            ),
            "—",
            None,
        );
        let inc = Self::thousand_changes(&sim, &c).await;
        self.record(
            format!("W2. 1,000 changes into {rows} rows in PostgreSQL"),
            inc.summary(),
            "≤ 3 s",
            Some(inc.wall.as_secs_f64() <= 3.0),
        );
        // The minute of the last read is read once more; the run after that has nothing to do.
        c.run(&["sync"]).await;
        sim.advance_clock(chrono::Duration::minutes(15));
        let start = warehouse::xid_now(&connection);
        let idle = self.requests_per_source(&sim, &c).await;
        let written = warehouse::data_written_since(&connection, &schema, start);
        self.record(
            format!("W3. no-change run into PostgreSQL, {rows} rows"),
            format!(
                "{idle:.0} requests per data source, {written} rows written to the data tables"
            ),
            "≤ 2, no write",
            Some(idle <= 2.0 && written == 0),
        );
    }

    /// 1,000 pages are edited; the next scheduled run comes 15 minutes later: what it cost.
    async fn thousand_changes(sim: &SimHandle, c: &Connector) -> Cost {
        sim.advance_clock(chrono::Duration::minutes(10));
        let ds = sim.databases()[0].data_sources[0].id.clone();
        sim.edit_pages(&ds, 1_000);
        sim.advance_clock(chrono::Duration::minutes(15));
        c.run(&["sync"]).await
    }

    /// Runs an incremental sync and returns the requests it made per data source.
    /// (R1) Planning a restore of `pages` pages after edits, trashes and purges: its requests against a
    /// full read of the same pages, plus one per page the queries no longer list.
    async fn restore_plan(&mut self, pages: usize) {
        eprintln!("restore-plan: plan a restore of {pages} pages");
        let (sim, c, _dir) = self.world(pages, 0).await;
        c.run(&["sync", "--full-refresh"]).await;
        sim.advance_clock(chrono::Duration::minutes(10));
        let ds = sim.databases()[0].data_sources[0].id.clone();
        let edited = sim.edit_pages(&ds, pages / 20);
        let missing = pages / 100;
        for (i, id) in edited.iter().take(missing).enumerate() {
            if i % 2 == 0 {
                sim.trash_page(id);
            } else {
                sim.purge_page(id);
            }
        }
        sim.advance_clock(chrono::Duration::minutes(10));
        // Bronze still holds the first read: the restore plans back to it.
        sim.reset_counters();
        let plan = c.run(&["restore"]).await;
        let planned = sim.counters();
        sim.reset_counters();
        c.run(&["sync", "--full-refresh"]).await;
        let queries = |c: &notion_sim::Counters| {
            ["query_data_source", "query_database"]
                .iter()
                .filter_map(|e| c.by_endpoint.get(*e))
                .sum::<u64>()
        };
        let read = queries(&sim.counters());
        let gets = planned
            .by_endpoint
            .get("retrieve_page")
            .copied()
            .unwrap_or(0);
        let total = planned.total_requests;
        let allowed = 1.05 * read as f64 + missing as f64;
        self.record(
            format!("R1. plan a restore of {pages} pages ({missing} trashed or purged)"),
            format!(
                "{total} requests ({} queries, {gets} page reads, {} others) vs {read} queries of a full \
                 read + {missing}: {:.3}×; {}",
                queries(&planned),
                total - queries(&planned) - gets,
                (total as f64 - missing as f64) / read as f64,
                plan.summary()
            ),
            "≤ 1.05 × full read's queries + 1 per missing page",
            Some(total as f64 <= allowed),
        );
    }

    /// (R2) Applying `updates` page updates at `rpm` requests per minute: wall time against the requests
    /// it needs at that rate.
    async fn restore_apply(&mut self, updates: usize, rpm: u32) {
        eprintln!("restore-apply: {updates} page updates at {rpm} requests/minute");
        let (sim, c, _dir) = self.world(2 * updates, rpm).await;
        c.run(&["sync", "--full-refresh"]).await;
        sim.advance_clock(chrono::Duration::minutes(10));
        let ds = sim.databases()[0].data_sources[0].id.clone();
        sim.edit_pages(&ds, updates);
        sim.advance_clock(chrono::Duration::minutes(10));
        sim.reset_counters();
        let cost = c.run(&["restore", "--apply"]).await;
        let counters = sim.counters();
        let writes = counters
            .by_endpoint
            .get("update_page")
            .copied()
            .unwrap_or(0);
        let total = counters.total_requests;
        let ideal = |n: u64| n as f64 / f64::from(rpm) * 60.0;
        let ratio = cost.wall.as_secs_f64() / ideal(writes);
        self.record(
            format!("R2. apply {updates} page updates at {rpm}/min"),
            format!(
                "{:.1} s for {writes} writes ({total} requests with the plan's reads): {ratio:.3}× writes ÷ rate, \
                 {:.3}× all requests ÷ rate; {} 429s",
                cost.wall.as_secs_f64(),
                cost.wall.as_secs_f64() / ideal(total),
                counters.rate_limited_429
            ),
            "≤ 1.05 × writes ÷ rate, 0 × 429",
            Some(ratio <= 1.05 && counters.rate_limited_429 == 0),
        );
    }

    async fn requests_per_source(&self, sim: &SimHandle, c: &Connector) -> f64 {
        sim.reset_counters();
        c.run(&["sync"]).await;
        let requests = sim.counters().total_requests;
        let sources: usize = sim.databases().iter().map(|d| d.data_sources.len()).sum();
        requests as f64 / sources as f64
    }

    fn table(&self) -> String {
        let mut out = String::from("| scenario | measured | target | met |\n|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                r.scenario, r.figure, r.target
            ));
        }
        out
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut bin = std::path::PathBuf::from("target/release/notion-sync");
    let mut quick = false;
    let mut wanted: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = args.next().expect("--bin PATH").into(),
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!(
                    "notion-bench [--bin PATH] [--quick] [throughput|budget|incremental|content|content-budget|s3|warehouse|restore-plan|restore-apply|query]...\n\
                     --quick uses a tenth of the sizes, to check the harness itself"
                );
                return;
            }
            other => wanted.push(other.to_string()),
        }
    }
    let all = wanted.is_empty();
    let want = |s: &str| all || wanted.iter().any(|w| w == s);
    let scale = |n: usize| if quick { n / 10 } else { n };
    let mut bench = Bench {
        bin,
        rows: Vec::new(),
    };
    if want("throughput") {
        bench.throughput(scale(20_000)).await;
        bench.throughput(scale(100_000)).await;
    }
    if want("budget") {
        // Notion's own budget (180/min): a 20,000-page refresh then takes 67 s at best.
        bench.budget(scale(20_000), 180).await;
    }
    if want("content") {
        bench.content(scale(10_000)).await;
    }
    if want("content-budget") {
        // At Notion's budget the ideal alone is over an hour for 10,000 pages; --quick takes 1,000.
        bench.content_budget(scale(10_000), 180).await;
    }
    if want("s3") {
        bench.s3(scale(100_000)).await;
    }
    if want("warehouse") {
        bench.warehouse(scale(20_000), scale(100_000)).await;
    }
    if want("restore-plan") {
        bench.restore_plan(scale(10_000)).await;
    }
    if want("restore-apply") {
        // 1,000 updates at Notion's 180/min: over five minutes at best; --quick takes 100.
        bench.restore_apply(scale(1_000), 180).await;
    }
    if want("query") {
        bench.query(scale(1_000_000)).await;
    }
    if want("incremental") {
        let small = bench.incremental(scale(100_000)).await;
        let large = bench.incremental(scale(1_000_000)).await;
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        bench.record(
            "3. ratio 1,000,000 / 100,000 rows",
            format!("{ratio:.2}"),
            "≤ 1.5",
            Some(ratio <= 1.5),
        );
    }
    println!("{}", bench.table());
}
