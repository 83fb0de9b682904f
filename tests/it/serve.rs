//! `serve`: the scheduled service, scraped over HTTP while it runs, and stopped with SIGTERM.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, WorkspaceKind};
use notion_sync::sink::BronzeSink;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

use crate::support::{World, assert_bronze_matches, assert_exit};

/// An id the simulator does not have: the database is not shared with the integration.
const UNSHARED_ID: &str = "0123456789abcdef0123456789abcdef";

/// A running `serve` process, the port it listens on and the file its stderr goes to (a file, not a
/// pipe: a pipe nobody reads would fill up and stop the service).
struct Service {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Service {
    /// Starts `serve --every 1s` on a free loopback port, with `extra` flags.
    fn start(w: &World, extra: &[&str]) -> Service {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--every", "1s", "--listen", &listen];
        args.extend_from_slice(extra);
        let log = w.lake.path().join(format!("serve-{port}.log"));
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = w
            .command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("serve starts");
        Service { child, port, log }
    }

    /// `GET path`: status and body.
    async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path).await
    }

    /// `/health` as JSON with its status, polled until `done` holds (panics after `limit`).
    async fn health_until(&self, limit: Duration, done: impl Fn(u16, &Value) -> bool) -> Value {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < limit {
            if let Some((code, body)) = self.get("/health").await {
                let health: Value = serde_json::from_str(&body).expect("/health is JSON");
                if done(code, &health) {
                    return health;
                }
                last = Some((code, health));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("/health never reached the expected state; last: {last:?}");
    }

    /// Sends `signal` to the service.
    fn signal(&self, signal: Signal) {
        let pid = self.child.id().expect("still running") as i32;
        kill(Pid::from_raw(pid), signal).expect("signal sent");
    }

    /// Waits for the exit; returns the exit code and stderr.
    async fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("serve exits after the signal")
            .expect("wait");
        let err = std::fs::read_to_string(&self.log).unwrap_or_default();
        (status.code(), err)
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and stderr.
    async fn terminate(self, limit: Duration) -> (Option<i32>, String) {
        self.signal(Signal::SIGTERM);
        self.wait(limit).await
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    socket.local_addr().expect("addr").port()
}

/// One HTTP/1.1 GET on loopback; `None` while nothing listens yet.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header and a body");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    Some((code, body.to_string()))
}

/// A sample's name and labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the Prometheus text format: every family has HELP then TYPE before its samples, and every sample
/// line is `name{label="value",...} number`.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut typed = Vec::new();
    let mut helped = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.trim().is_empty(), "{line}");
            helped.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                helped.last().is_some_and(|h| h == name),
                "TYPE without HELP: {line}"
            );
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            typed.push(name.to_string());
        } else {
            let (series, value) = parse_sample(line);
            assert!(
                typed.last() == Some(&series.0),
                "sample outside its family: {line}"
            );
            assert!(
                samples.insert(series, value).is_none(),
                "series twice: {line}"
            );
        }
    }
    samples
}

/// Parses one sample line.
fn parse_sample(line: &str) -> (Series, f64) {
    let (series, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value: {line}"));
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed: {line}"));
            (name, parse_labels(body, line))
        }
    };
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty(),
        "metric name: {line}"
    );
    ((name.to_string(), labels), value)
}

/// Parses `k="v",k2="v2"` (values with `\\`, `\"` and `\n` escapes).
fn parse_labels(mut body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label: {line}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars
                .next()
                .unwrap_or_else(|| panic!("unterminated: {line}"))
            {
                (i, '"') => break i,
                (_, '\\') => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("escape {other:?}: {line}"),
                },
                (_, c) => value.push(c),
            }
        };
        assert!(
            labels.insert(key.to_string(), value).is_none(),
            "label twice: {line}"
        );
        body = rest[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&rest[end + 1..]);
    }
    labels
}

/// The value of `name` for `database`.
fn value(samples: &BTreeMap<Series, f64>, name: &str, database: &str) -> Option<f64> {
    samples
        .iter()
        .find(|((n, labels), _)| n == name && labels.get("database").is_some_and(|d| d == database))
        .map(|(_, v)| *v)
}

/// The value of an unlabelled series, or of the one with `label`.
fn service_value(samples: &BTreeMap<Series, f64>, name: &str, label: Option<(&str, &str)>) -> f64 {
    let labels: BTreeMap<String, String> = label
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples[&(name.to_string(), labels)]
}

/// Configured database names of the world.
fn names(w: &World) -> Vec<String> {
    w.names().into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_health_and_metrics_agree_with_the_runs_table() {
    let w = World::start(WorkspaceKind::Demo).await;
    let service = Service::start(&w, &["--stale-after", "1h"]);
    let health = service
        .health_until(Duration::from_secs(120), |code, _| code == 200)
        .await;
    assert_eq!(health["status"], "ok");
    for db in health["databases"].as_array().unwrap() {
        assert_eq!(db["healthy"], true, "{db}");
        assert!(
            db["last_success_age_seconds"].as_f64().unwrap() < 3600.0,
            "{db}"
        );
        assert!(
            ["succeeded", "unchanged"].contains(&db["last_status"].as_str().unwrap()),
            "{db}"
        );
    }
    let (code, text) = service.get("/metrics").await.expect("/metrics answers");
    assert_eq!(code, 200);
    let samples = parse_exposition(&text);
    assert!(samples.keys().all(|(n, _)| n.starts_with("notion_sync_")));
    assert_eq!(service_value(&samples, "notion_sync_serve_up", None), 1.0);
    assert!(
        service_value(
            &samples,
            "notion_sync_serve_runs_total",
            Some(("result", "ok"))
        ) >= 1.0
    );
    let runs = w.sink().recent_runs(usize::MAX).await.unwrap();
    for name in names(&w) {
        let finished = value(&samples, "notion_sync_last_run_timestamp_seconds", &name)
            .unwrap_or_else(|| panic!("{name} has a last run"));
        // The scraped run is one of the rows in the lake, with the same counts.
        let row = runs
            .iter()
            .find(|r| {
                r.database_name == name
                    && r.finished_at.timestamp_millis() as f64 / 1000.0 == finished
            })
            .unwrap_or_else(|| panic!("no run row of {name} finished at {finished}"));
        assert_eq!(
            value(&samples, "notion_sync_run_pages_fetched", &name),
            Some(row.fetched as f64)
        );
        assert_eq!(
            value(&samples, "notion_sync_run_api_requests", &name),
            Some(row.api_requests as f64)
        );
        assert_eq!(value(&samples, "notion_sync_run_failed", &name), Some(0.0));
    }
    assert!(!text.contains(&w.sim.token()), "the token is in /metrics");
    assert!(
        !health.to_string().contains(&w.sim.token()),
        "the token is in /health"
    );
    let (code, err) = service.terminate(Duration::from_secs(60)).await;
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shows_a_failing_database_in_health_and_metrics() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_SECRET_DB_ID", UNSHARED_ID);
    let service = Service::start(&w, &[]);
    let health = service
        .health_until(Duration::from_secs(120), |code, h| {
            code == 503 && h["runs"].as_u64().unwrap_or(0) >= 1
        })
        .await;
    let databases = health["databases"].as_array().unwrap();
    let secret = databases
        .iter()
        .find(|d| d["name"] == "secret")
        .expect("secret listed");
    assert_eq!(secret["healthy"], false);
    assert_eq!(secret["last_status"], "failed");
    assert_eq!(secret["last_error"]["class"], "auth", "{secret}");
    assert!(
        secret["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("01234567-89ab"),
        "{secret}"
    );
    assert!(
        databases
            .iter()
            .filter(|d| d["name"] != "secret")
            .all(|d| d["healthy"] == true)
    );
    let (_, text) = service.get("/metrics").await.expect("/metrics answers");
    let samples = parse_exposition(&text);
    let failed: BTreeMap<String, String> = [("database", "secret"), ("error_class", "auth")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        samples.get(&("notion_sync_run_failed".to_string(), failed)),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "notion_sync_last_success_timestamp_seconds",
            "secret"
        ),
        None
    );
    assert!(
        service_value(
            &samples,
            "notion_sync_serve_runs_total",
            Some(("result", "failed"))
        ) >= 1.0
    );
    assert!(!text.contains(&w.sim.token()) && !health.to_string().contains(&w.sim.token()));
    let (code, err) = service.terminate(Duration::from_secs(60)).await;
    assert_eq!(code, Some(0), "{err}");
}

/// Makes every simulator response `delay` slow.
fn slow(w: &World, delay: Duration) {
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: None,
            kind: FaultKind::Delay(delay),
            mode: FaultMode::Probability(1.0),
        }],
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_second_signal_exits_at_once_and_a_rerun_converges() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    slow(&w, Duration::from_secs(3));
    let service = Service::start(&w, &[]);
    service
        .health_until(Duration::from_secs(60), |_, h| h["running"] == true)
        .await;
    service.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.signal(Signal::SIGINT);
    let started = Instant::now();
    let (code, err) = service.wait(Duration::from_secs(10)).await;
    assert_eq!(code, Some(130), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "exited at once");
    w.sim.clear_faults();
    // The abandoned run's leases expire after their time to live; then a sync takes them over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sigterm_mid_run_finishes_the_run_and_loses_nothing() {
    let w = World::start(WorkspaceKind::Demo).await;
    slow(&w, Duration::from_millis(300));
    let service = Service::start(&w, &[]);
    service
        .health_until(Duration::from_secs(60), |_, h| h["running"] == true)
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        w.sink()
            .recent_runs(usize::MAX)
            .await
            .map(|r| r.is_empty())
            .unwrap_or(true),
        "the first run was still in flight when the signal was sent"
    );
    let (code, err) = service.terminate(Duration::from_secs(120)).await;
    assert_eq!(code, Some(0), "{err}");
    let runs = w.sink().recent_runs(usize::MAX).await.unwrap();
    for name in names(&w) {
        assert!(
            runs.iter().any(|r| r.database_name == name),
            "the run in flight recorded {name}"
        );
    }
    w.sim.clear_faults();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_bronze_matches(&w, "2026-03-11", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_full_refresh_comes_once_per_interval() {
    let w = World::start(WorkspaceKind::Demo).await;
    let service = Service::start(&w, &["--full-refresh-every", "1h"]);
    service
        .health_until(Duration::from_secs(120), |_, h| {
            h["runs"].as_u64().unwrap_or(0) >= 3
        })
        .await;
    let (code, err) = service.terminate(Duration::from_secs(60)).await;
    assert_eq!(code, Some(0), "{err}");
    let mut runs = w.sink().recent_runs(usize::MAX).await.unwrap();
    runs.sort_by_key(|r| r.started_at);
    let mut modes: Vec<(String, &str)> = runs
        .iter()
        .map(|r| (r.run_id.clone(), r.mode.as_str()))
        .collect();
    modes.dedup();
    assert!(modes.len() >= 3, "{modes:?}");
    // None had happened: the first run is one; the next ones, within the hour, are incremental.
    assert_eq!(modes[0].1, "full_refresh", "{modes:?}");
    assert!(
        modes[1..].iter().all(|(_, m)| *m == "incremental"),
        "{modes:?}"
    );
}
