//! OpenLineage run events: a receiver on loopback collects what `sync` POSTs, and the tests check what the
//! events say (run ids, jobs, parents, datasets, counts, errors). That every event is valid against the
//! spec's JSON schemas is checked by `scripts/check-lineage.sh`, part of the test command.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notion_sim::WorkspaceKind;
use notion_sync::notion::ids::normalize_id;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{World, assert_exit, db_name, stderr};

const API_KEY: &str = "ol_key_do_not_print_7f3a";
const PARENT_RUN: &str = "0191b4c2-9d7e-7a3b-8c4d-5e6f7a8b9c0d";
const ROOT_RUN: &str = "0191b4c2-0000-7a3b-8c4d-5e6f7a8b9c0e";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Received {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// An HTTP receiver on 127.0.0.1 that answers 200 to everything and keeps the requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    if let Some(r) = read_request(stream).await {
                        sink.lock().unwrap().push(r);
                    }
                });
            }
        });
        Receiver { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request (request line, headers, body by content-length) and answers 200, closing.
async fn read_request(stream: tokio::net::TcpStream) -> Option<Received> {
    let mut stream = BufReader::new(stream);
    let mut request_line = String::new();
    stream.read_line(&mut request_line).await.ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    stream
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    Some(Received {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// A demo world whose events go to `receiver`, sent with an API key.
async fn world_with_receiver(receiver: &Receiver) -> World {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("OPENLINEAGE_URL", &receiver.url);
    w.set("OPENLINEAGE_API_KEY", API_KEY);
    w
}

/// Waits until `receiver` holds `n` requests (the binary has exited, so they are in flight at most).
async fn wait_for(receiver: &Receiver, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.received().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.received()
}

/// The dataset named `name` in the event's `list` (`inputs` or `outputs`).
fn dataset<'a>(event: &'a Value, list: &str, name: &str) -> &'a Value {
    event[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {list} dataset {name}: {event}"))
}

/// Asserts the START/end pair: order, shared run id, the key only in the header.
fn assert_run_pair(received: &[Received], end: &str, out: &std::process::Output) -> (Value, Value) {
    assert_eq!(received.len(), 2, "{received:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(API_KEY) && !stderr(out).contains(API_KEY));
    for r in received {
        assert_eq!(r.path, "/api/v1/lineage");
        assert_eq!(r.headers["authorization"], format!("Bearer {API_KEY}"));
        assert!(r.headers["content-type"].starts_with("application/json"));
        assert!(!r.body.contains(API_KEY), "{}", r.body);
    }
    let (start, finish) = (received[0].event(), received[1].event());
    assert_eq!(start["eventType"], "START");
    assert_eq!(finish["eventType"], end);
    assert_eq!(start["run"]["runId"], finish["run"]["runId"]);
    let run_id = uuid::Uuid::parse_str(start["run"]["runId"].as_str().unwrap()).unwrap();
    assert_eq!(run_id.get_version_num(), 7);
    for e in [&start, &finish] {
        assert_eq!(e["job"]["namespace"], "notion-sync");
        assert_eq!(e["job"]["name"], "notion_sync.sync");
    }
    (start, finish)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_events_of_a_successful_sync() {
    let receiver = Receiver::start().await;
    let mut w = world_with_receiver(&receiver).await;
    w.set(
        "OPENLINEAGE_PARENT_ID",
        &format!("airflow/notion_dag.sync_task/{PARENT_RUN}"),
    );
    w.set(
        "OPENLINEAGE_ROOT_PARENT_ID",
        &format!("airflow/notion_dag/{ROOT_RUN}"),
    );
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let received = wait_for(&receiver, 2).await;
    let (start, finish) = assert_run_pair(&received, "COMPLETE", &out);

    for e in [&start, &finish] {
        let parent = &e["run"]["facets"]["parent"];
        assert_eq!(parent["run"]["runId"], PARENT_RUN);
        assert_eq!(parent["job"]["namespace"], "airflow");
        assert_eq!(parent["job"]["name"], "notion_dag.sync_task");
        assert_eq!(parent["root"]["run"]["runId"], ROOT_RUN);
        assert_eq!(parent["root"]["job"]["name"], "notion_dag");
        assert!(e["run"]["facets"].get("errorMessage").is_none());
        let databases = w.sim.databases();
        assert_eq!(e["inputs"].as_array().unwrap().len(), databases.len());
        for db in databases {
            let input = dataset(e, "inputs", &normalize_id(&db.id).unwrap());
            assert_eq!(input["namespace"], "notion://notion");
            assert_eq!(
                input["facets"]["documentation"]["description"],
                db_name(&db.title)
            );
        }
    }
    let pages_dir = w.table_dir("notion_raw_pages");
    let pages = dataset(&finish, "outputs", pages_dir.to_str().unwrap());
    assert_eq!(pages["namespace"], "file");
    assert_eq!(
        pages["outputFacets"]["outputStatistics"]["rowCount"],
        w.pages().await.len() as u64
    );
    let runs_dir = w.table_dir("notion_sync_runs");
    dataset(&finish, "outputs", runs_dir.to_str().unwrap());
    assert!(
        dataset(&start, "outputs", pages_dir.to_str().unwrap())
            .get("outputFacets")
            .is_none(),
        "row counts are not known before the sync"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_events_of_a_failing_sync() {
    let receiver = Receiver::start().await;
    let mut w = world_with_receiver(&receiver).await;
    w.set("NOTION_SECRET_DB_ID", "0123456789abcdef0123456789abcdef");
    let out = w.run(&["sync", "-d", "secret"]).await;
    assert_exit(&out, 3);
    let received = wait_for(&receiver, 2).await;
    let (start, finish) = assert_run_pair(&received, "FAIL", &out);
    assert!(start["run"]["facets"].get("errorMessage").is_none());
    assert!(finish["run"]["facets"].get("parent").is_none());
    let error = &finish["run"]["facets"]["errorMessage"];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("secret") && message.contains("01234567-89ab-cdef-0123-456789abcdef"),
        "{message}"
    );
    assert_eq!(error["programmingLanguage"], "Rust");
    let input = dataset(&finish, "inputs", "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(input["facets"]["documentation"]["description"], "secret");
    assert_eq!(finish["inputs"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_receiver_down_is_a_warning_and_disabled_sends_nothing() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    // A port nothing listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    w.set("OPENLINEAGE_URL", &url);
    w.set("OPENLINEAGE_API_KEY", API_KEY);
    let started = Instant::now();
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = stderr(&out);
    assert!(
        err.contains("warning: the OpenLineage START event was not sent")
            && err.contains("warning: the OpenLineage COMPLETE event was not sent"),
        "{err}"
    );
    assert!(!err.contains(API_KEY), "{err}");

    let receiver = Receiver::start().await;
    w.set("OPENLINEAGE_URL", &receiver.url);
    w.set("OPENLINEAGE_DISABLED", "true");
    assert_exit(&w.run(&["sync"]).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_bad_settings_exit_2_naming_the_variable() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("OPENLINEAGE_URL", "http://lineage.example.com");
    w.set("OPENLINEAGE_API_KEY", API_KEY);
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("OPENLINEAGE_URL"), "{err}");
    assert!(!err.contains(API_KEY), "{err}");
}
