//! Query throughput: pages through a large data source (100 rows per request) with several concurrent
//! clients and no rate limit, then prints requests per second.
//!
//! Run with `cargo bench -p notion-sim --bench query` (optionally `-- <pages> <clients> <seconds>`).

use std::time::{Duration, Instant};

use notion_sim::{SimConfig, Simulator, WorkspaceKind};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

/// The parts of a query response the client needs.
#[derive(Deserialize)]
struct ListPage {
    results: Vec<IgnoredAny>,
    next_cursor: Option<String>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let pages: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let started = Instant::now();
    let sim = Simulator::start(SimConfig {
        workspace: WorkspaceKind::Large,
        pages,
        ..SimConfig::default()
    })
    .await
    .expect("start simulator");
    println!(
        "generated {pages} pages in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let ds = sim.databases()[0].data_sources[0].id.clone();
    let url = format!("{}/v1/data_sources/{ds}/query", sim.base_url());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        let token = sim.token();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut requests = 0u64;
            let mut rows = 0u64;
            let mut cursor: Option<String> = None;
            while Instant::now() < deadline {
                let mut body = json!({"page_size": 100});
                if let Some(c) = &cursor {
                    body["start_cursor"] = json!(c);
                }
                let resp: ListPage = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Notion-Version", "2025-09-03")
                    .json(&body)
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                requests += 1;
                rows += resp.results.len() as u64;
                cursor = resp.next_cursor;
            }
            (requests, rows)
        }));
    }
    let t0 = Instant::now();
    let mut requests = 0;
    let mut rows = 0;
    for t in tasks {
        let (r, n) = t.await.expect("client task");
        requests += r;
        rows += n;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{requests} requests, {rows} rows in {secs:.2}s with {clients} clients: {:.0} req/s, {:.0} rows/s",
        requests as f64 / secs,
        rows as f64 / secs
    );
    sim.shutdown().await;
}
