//! Run metrics: the `--metrics-file` text, the Pushgateway push and the example alert rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use notion_sim::WorkspaceKind;
use notion_sync::bronze::{RunRecord, RunStatus};
use notion_sync::metrics;
use notion_sync::sink::BronzeSink;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{World, assert_exit, stderr};

/// An id the simulator does not have: the database is not shared with the integration.
const UNSHARED_ID: &str = "0123456789abcdef0123456789abcdef";

/// One sample of the text format: name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text exposition format strictly: every family has `# HELP` then `# TYPE` before
/// its samples, every sample line parses and no series appears twice.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and a text");
            assert!(is_metric_name(name) && !help.trim().is_empty(), "{line}");
            assert!(helped.insert(name.to_string()), "HELP twice: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a type");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
        } else {
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "stray line: {line:?}"
            );
            let sample = parse_sample(line);
            assert!(
                typed.contains(&sample.name),
                "sample before its TYPE: {line}"
            );
            assert!(
                series.insert((sample.name.clone(), sample.labels.clone())),
                "series twice: {line}"
            );
            samples.push(sample);
        }
    }
    samples
}

/// `name{label="value",...} value`, with the label value escapes of the format.
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(is_metric_name(name), "metric name: {line}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).expect("unclosed labels");
            if body[start..].starts_with('}') {
                rest = &body[start + 1..];
                break;
            }
            let eq = body[start..].find("=\"").expect("label=\"value\"") + start;
            let key = &body[start..eq];
            assert!(is_label_name(key), "label name {key:?}: {line}");
            while chars.peek().is_some_and(|(i, _)| *i < eq + 2) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().expect("unterminated label value") {
                    (_, '"') => break,
                    (_, '\\') => match chars.next().expect("dangling escape") {
                        (_, '\\') => value.push('\\'),
                        (_, '"') => value.push('"'),
                        (_, 'n') => value.push('\n'),
                        (_, c) => panic!("unknown escape \\{c}: {line}"),
                    },
                    (_, '\n') => panic!("raw line feed in a label value: {line}"),
                    (_, c) => value.push(c),
                }
            }
            assert!(
                labels.insert(key.to_string(), value).is_none(),
                "label twice: {line}"
            );
            match chars.peek() {
                Some((_, ',')) => {
                    chars.next();
                }
                Some((_, '}')) => {}
                _ => panic!("expected , or }} after a label: {line}"),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("one space before the value: {line}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("value {value:?}: {line}"));
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    is_metric_name(name) && !name.contains(':') && !name.starts_with("__")
}

/// The value of `name` for `database`, with its full label set.
fn sample<'a>(samples: &'a [Sample], name: &str, database: &str) -> &'a Sample {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.get("database").map(String::as_str) == Some(database))
        .unwrap_or_else(|| panic!("no {name} for {database}"))
}

fn seconds(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Asserts the samples of `run`'s database carry the run row's values.
fn assert_run_values(samples: &[Sample], run: &RunRecord) {
    let db = run.database_name.as_str();
    let expected = [
        (metrics::LAST_RUN_TIMESTAMP, seconds(run.finished_at)),
        (
            metrics::RUN_DURATION,
            (run.finished_at - run.started_at).num_milliseconds() as f64 / 1000.0,
        ),
        (metrics::PAGES_FETCHED, run.fetched as f64),
        (metrics::PAGES_WRITTEN, (run.inserted + run.updated) as f64),
        (metrics::ROWS_DELETED, run.soft_deleted as f64),
        (metrics::REJECTED, run.rejected as f64),
        (metrics::API_REQUESTS, run.api_requests as f64),
        (metrics::THROTTLED, run.throttled_429 as f64),
        (metrics::RETRIES, run.retries as f64),
        (metrics::CONTENT_REQUESTS, run.content.requests as f64),
    ];
    for (name, value) in expected {
        assert_eq!(sample(samples, name, db).value, value, "{name} of {db}");
    }
}

/// Where a test's metrics file goes (its directory exists and holds nothing else).
fn metrics_path(w: &World) -> PathBuf {
    let dir = w.lake.path().join("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("notion_sync.prom")
}

/// Runs `sync --metrics-file` and returns the exit code and the file's text.
async fn sync_with_metrics(w: &World) -> (i32, String, String) {
    let path = metrics_path(w);
    let out = w
        .run(&["sync", "--metrics-file", path.to_str().unwrap()])
        .await;
    let text = std::fs::read_to_string(&path).expect("the metrics file is written");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );
    (out.status.code().unwrap(), text, stderr(&out))
}

/// The lake's run rows of run `run_id`, one per database.
async fn runs_of(w: &World, run_id: &str) -> Vec<RunRecord> {
    let runs = w
        .sink()
        .recent_runs(10_000)
        .await
        .expect("runs table reads");
    runs.into_iter().filter(|r| r.run_id == run_id).collect()
}

/// The run id of the newest run row.
async fn latest_run_id(w: &World) -> String {
    let runs = w.sink().recent_runs(1).await.expect("runs table reads");
    runs[0].run_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_file_matches_the_run_rows() {
    let w = World::start(WorkspaceKind::Demo).await;
    let (code, text, err) = sync_with_metrics(&w).await;
    assert_eq!(code, 0, "{err}");
    let samples = parse_exposition(&text);
    let runs = runs_of(&w, &latest_run_id(&w).await).await;
    assert_eq!(runs.len(), w.sim.databases().len());
    for run in &runs {
        assert_run_values(&samples, run);
        let db = run.database_name.as_str();
        assert_eq!(
            sample(&samples, metrics::LAST_SUCCESS_TIMESTAMP, db).value,
            seconds(run.finished_at)
        );
        let failed = sample(&samples, metrics::RUN_FAILED, db);
        assert_eq!(failed.value, 0.0);
        assert_eq!(failed.labels.len(), 1, "only database: {failed:?}");
    }
    assert!(runs.iter().any(|r| r.fetched > 0 && r.api_requests > 0));
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, metrics::names().collect());
    for s in &samples {
        assert_eq!(s.labels.keys().next().map(String::as_str), Some("database"));
        assert!(
            s.labels
                .keys()
                .all(|k| k == "database" || k == "error_class")
        );
        assert!(!s.labels.values().any(|v| v.contains(&runs[0].run_id)));
    }
    assert!(
        !text.contains(&w.sim.token()),
        "the token is not in the metrics"
    );
    assert!(!text.contains(&runs[0].run_id), "no run id in the metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_database_keeps_its_last_success() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    let (code, _, err) = sync_with_metrics(&w).await;
    assert_eq!(code, 0, "{err}");
    let first = runs_of(&w, &latest_run_id(&w).await).await;
    let tasks_success = first
        .iter()
        .find(|r| r.database_name == "tasks")
        .expect("tasks synced")
        .finished_at;

    w.set("NOTION_TASKS_DB_ID", UNSHARED_ID);
    let (code, text, err) = sync_with_metrics(&w).await;
    assert_ne!(code, 0, "{err}");
    let samples = parse_exposition(&text);
    let second = runs_of(&w, &latest_run_id(&w).await).await;
    for run in &second {
        assert_run_values(&samples, run);
        let db = run.database_name.as_str();
        let failed = sample(&samples, metrics::RUN_FAILED, db);
        let last_success = sample(&samples, metrics::LAST_SUCCESS_TIMESTAMP, db).value;
        if db == "tasks" {
            assert_eq!(run.status, RunStatus::Failed);
            assert_eq!(failed.value, 1.0);
            assert_eq!(failed.labels.get("error_class"), run.error_class.as_ref());
            assert_eq!(
                last_success,
                seconds(tasks_success),
                "the earlier success is kept"
            );
        } else {
            assert_eq!(failed.value, 0.0, "{db}");
            assert_eq!(last_success, seconds(run.finished_at), "{db}");
        }
    }
    assert!(second.iter().any(|r| r.database_name == "tasks"));
}

/// What the test Pushgateway received.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    body: String,
}

/// Accepts one HTTP request on `listener`, answers 200 and returns it.
async fn receive_one(listener: tokio::net::TcpListener) -> Received {
    let (stream, _) = listener.accept().await.expect("the push connects");
    let mut stream = BufReader::new(stream);
    let mut request_line = String::new();
    stream.read_line(&mut request_line).await.unwrap();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await.unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    stream
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    Received {
        method,
        path,
        body: String::from_utf8(body).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushgateway_receives_the_metrics_file() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let receiver = tokio::spawn(receive_one(listener));
    w.set("NOTION_SYNC_PUSHGATEWAY_URL", &url);
    w.set("NOTION_SYNC_INTEGRATION_NAME", "marketing");
    let (code, text, err) = sync_with_metrics(&w).await;
    assert_eq!(code, 0, "{err}");
    let received = tokio::time::timeout(crate::support::HANG_GUARD, receiver)
        .await
        .expect("the push arrives")
        .unwrap();
    assert_eq!(received.method, "PUT");
    assert_eq!(
        received.path,
        "/metrics/job/notion_sync/integration/marketing"
    );
    assert_eq!(received.body, text);
    assert!(!received.body.contains(&w.sim.token()));
    assert!(!err.contains("warning"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_push_failure_is_a_warning() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    // A port nothing listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    w.set("NOTION_SYNC_PUSHGATEWAY_URL", &url);
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("warning: the metrics push failed"), "{err}");
    assert!(
        err.contains("/metrics/job/notion_sync/integration/default"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bad_pushgateway_settings_exit_2_naming_the_variable() {
    let cases = [
        (
            "NOTION_SYNC_PUSHGATEWAY_URL",
            "http://pushgateway.example.com",
        ),
        ("NOTION_SYNC_PUSHGATEWAY_URL", "ftp://127.0.0.1"),
        ("NOTION_SYNC_PUSHGATEWAY_URL", "not a url"),
        ("NOTION_SYNC_INTEGRATION_NAME", "a/b"),
    ];
    for (var, value) in cases {
        let mut w = World::start(WorkspaceKind::Demo).await;
        w.set(var, value);
        let out = w.run(&["sync"]).await;
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(var), "{value}: {}", stderr(&out));
        assert_eq!(
            w.sim.counters().total_requests,
            0,
            "{value}: no request sent"
        );
    }
}

/// A parser for the block-style subset of YAML the alert file uses: mappings, sequences, plain and quoted
/// one-line scalars, comments. Anything outside that subset fails the test rather than being misread.
mod yaml {
    use serde_json::{Map, Value};

    struct Line<'a> {
        indent: usize,
        text: &'a str,
        number: usize,
    }

    /// The document as JSON values (every scalar a string).
    pub fn parse(text: &str) -> Value {
        let mut lines: Vec<Line> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            assert!(!raw.contains('\t'), "line {}: a tab", i + 1);
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            lines.push(Line {
                indent: raw.len() - trimmed.len(),
                text: trimmed.trim_end(),
                number: i + 1,
            });
        }
        let mut at = 0;
        let value = node(&mut lines, &mut at, 0);
        assert_eq!(
            at,
            lines.len(),
            "line {}: unexpected indentation",
            lines[at.min(lines.len() - 1)].number
        );
        value
    }

    fn node(lines: &mut Vec<Line>, at: &mut usize, indent: usize) -> Value {
        if lines[*at].text.starts_with("- ") {
            sequence(lines, at, indent)
        } else {
            mapping(lines, at, indent)
        }
    }

    fn sequence(lines: &mut Vec<Line>, at: &mut usize, indent: usize) -> Value {
        let mut items = Vec::new();
        while *at < lines.len() && lines[*at].indent == indent && lines[*at].text.starts_with("- ")
        {
            // The item's first line becomes a line of its own, two columns further in.
            let line = &mut lines[*at];
            line.text = &line.text[2..];
            line.indent += 2;
            items.push(node(lines, at, indent + 2));
        }
        Value::Array(items)
    }

    fn mapping(lines: &mut Vec<Line>, at: &mut usize, indent: usize) -> Value {
        let mut map = Map::new();
        while *at < lines.len() && lines[*at].indent == indent {
            let Line { text, number, .. } = lines[*at];
            let (key, rest) = match text.split_once(": ") {
                Some((k, v)) => (k, v.trim()),
                None => (
                    text.strip_suffix(':')
                        .unwrap_or_else(|| panic!("line {number}: expected `key: value`")),
                    "",
                ),
            };
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "line {number}: key {key:?}"
            );
            *at += 1;
            let value = if rest.is_empty() {
                assert!(
                    *at < lines.len() && lines[*at].indent > indent,
                    "line {number}: {key} has no value"
                );
                let inner = lines[*at].indent;
                node(lines, at, inner)
            } else {
                scalar(rest, number)
            };
            assert!(
                map.insert(key.to_string(), value).is_none(),
                "line {number}: {key} twice"
            );
        }
        Value::Object(map)
    }

    fn scalar(text: &str, number: usize) -> Value {
        if let Some(inner) = text.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .unwrap_or_else(|| panic!("line {number}: unterminated string"));
            assert!(
                !inner.contains('\\'),
                "line {number}: escapes are outside the subset"
            );
            assert!(
                !inner.contains('"'),
                "line {number}: a quote inside a string"
            );
            return Value::String(inner.to_string());
        }
        assert!(
            !text.starts_with(['{', '[', '&', '*', '!', '|', '>', '\'', '%', '@', '`']),
            "line {number}: {text:?} needs quotes"
        );
        assert!(
            !text.contains(" #") && !text.contains(": "),
            "line {number}: {text:?} needs quotes"
        );
        Value::String(text.to_string())
    }
}

/// The `notion_sync_*` names an expression references.
fn referenced_metrics(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("notion_sync_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn metrics_alert_rules_parse_and_use_only_written_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/notion-sync-alerts.yml"
    );
    let doc = yaml::parse(&std::fs::read_to_string(path).unwrap());
    let written: BTreeSet<String> = metrics::names().map(String::from).collect();
    let mut used = BTreeSet::new();
    let groups = doc["groups"].as_array().expect("groups is a list");
    assert!(!groups.is_empty());
    for group in groups {
        assert!(group["name"].is_string(), "{group}");
        for rule in group["rules"].as_array().expect("rules is a list") {
            let alert = rule["alert"].as_str().expect("every rule is an alert");
            let expr = rule["expr"].as_str().expect("every rule has an expr");
            let names = referenced_metrics(expr);
            assert!(
                !names.is_empty(),
                "{alert} references no notion-sync metric"
            );
            for name in &names {
                assert!(
                    written.contains(name),
                    "{alert} references {name}, which is not written"
                );
            }
            assert!(rule["annotations"]["summary"].is_string(), "{alert}");
            if let Some(duration) = rule.get("for") {
                let d = duration.as_str().unwrap();
                assert!(
                    d.ends_with(['s', 'm', 'h']) && d[..d.len() - 1].parse::<u32>().is_ok(),
                    "{alert}: {d}"
                );
            }
            used.extend(names);
        }
    }
    for required in [
        metrics::RUN_FAILED,
        metrics::LAST_SUCCESS_TIMESTAMP,
        metrics::LAST_RUN_TIMESTAMP,
    ] {
        assert!(used.contains(required), "no rule watches {required}");
    }
}
