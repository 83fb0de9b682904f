//! Command-line behaviour: exit codes and messages that name the fix.

use notion_sim::WorkspaceKind;

use crate::support::{World, assert_exit, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_name_exits_2_listing_configured_ones() {
    let w = World::start(WorkspaceKind::Demo).await;
    let out = w.run(&["sync", "-d", "nope"]).await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("nope") && err.contains("tasks") && err.contains("sprints"),
        "{err}"
    );
    assert_eq!(
        w.sim.counters().total_requests,
        0,
        "usage errors send no request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_exits_3_naming_the_variable() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_API_KEY", "ntn_wrong_token_value");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("NOTION_API_KEY"), "{err}");
    assert!(
        !err.contains("ntn_wrong_token_value"),
        "token leaked: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unshared_database_exits_3_naming_it_and_the_fix() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_SECRET_DB_ID", "0123456789abcdef0123456789abcdef");
    let out = w.run(&["sync", "-d", "secret"]).await;
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("secret") && err.contains("01234567-89ab-cdef-0123-456789abcdef"),
        "{err}"
    );
    assert!(err.contains("Connections"), "the fix is named: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_is_a_usage_error() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.env.remove("NOTION_API_KEY");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("NOTION_API_KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_tables_twice_changes_nothing() {
    let w = World::start(WorkspaceKind::Demo).await;
    let first = w.run(&["init-tables"]).await;
    assert_exit(&first, 0);
    assert_eq!(
        String::from_utf8_lossy(&first.stdout)
            .matches("created")
            .count(),
        notion_sync::sink::tables::ALL.len()
    );
    let sink = w.sink();
    let mut versions = Vec::new();
    for t in notion_sync::sink::tables::ALL {
        versions.push(sink.table_version(t).await.unwrap());
    }
    let second = w.run(&["init-tables"]).await;
    assert_exit(&second, 0);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout)
            .matches("exists")
            .count(),
        notion_sync::sink::tables::ALL.len()
    );
    for (t, v) in notion_sync::sink::tables::ALL.iter().zip(versions) {
        assert_eq!(sink.table_version(t).await.unwrap(), v, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_status_and_list_databases() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    let out = w.run(&["health"]).await;
    assert_exit(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches("ok ").count(),
        2 + w.sim.databases().len()
    );

    assert_exit(&w.run(&["sync"]).await, 0);
    let out = w.run(&["status", "--json"]).await;
    assert_exit(&out, 0);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tasks = status
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["database_name"] == "tasks")
        .unwrap();
    let dump = w.sim.state_dump("2026-03-11");
    let tasks_id = tasks["database_id"].as_str().unwrap();
    let live = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["database_id"] == tasks_id && p["in_trash"] == false && p["is_archived"] == false
        })
        .count();
    assert_eq!(tasks["rows_live"], live as u64);
    assert_eq!(tasks["last_run"]["status"], "succeeded");
    assert!(tasks["watermark"].is_string());

    w.env
        .retain(|k, _| !(k.ends_with("_DB_ID") && k != "NOTION_TASKS_DB_ID"));
    let out = w.run(&["list-databases"]).await;
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tasks") && text.contains("configured"),
        "{text}"
    );
    assert!(
        text.contains("Sprints") && text.contains("visible, not configured"),
        "{text}"
    );

    w.set("NOTION_API_KEY", "bad");
    let out = w.run(&["health"]).await;
    assert_exit(&out, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_2_naming_the_setting_before_any_request() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "NOTION_TASKS_DB_ID",
            "not-a-database-id",
            "NOTION_TASKS_DB_ID",
        ),
        (
            "NOTION_REQUESTS_PER_MINUTE",
            "lots",
            "NOTION_REQUESTS_PER_MINUTE",
        ),
        ("NOTION_VERSION", "2021-01-01", "NOTION_VERSION"),
        (
            "NOTION_API_BASE_URL",
            "http://api.example.com",
            "NOTION_API_BASE_URL",
        ),
        ("NOTION_SYNC_LOOKBACK", "a while", "NOTION_SYNC_LOOKBACK"),
        ("LAKEHOUSE_URI", "/proc/version/lake", "/proc/version/lake"),
    ];
    for (var, value, named) in cases {
        let mut w = World::start(WorkspaceKind::Demo).await;
        w.set(var, value);
        let out = w.run(&["sync"]).await;
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(named),
            "{var}={value}: {}",
            stderr(&out)
        );
        assert_eq!(
            w.sim.counters().total_requests,
            0,
            "{var}: no request before validation"
        );
    }
}

/// Secrets of other tools that may share the binary's environment.
const FOREIGN_SECRETS: [(&str, &str); 2] = [
    ("DATABRICKS_TOKEN", "dapi-secret-databricks-value"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key-value"),
];

/// Where the binary reads the Notion token from.
#[derive(Debug, Clone, Copy)]
enum TokenSource {
    /// `NOTION_API_KEY`.
    Variable,
    /// The file `NOTION_API_KEY_FILE` names.
    File,
}

impl TokenSource {
    /// The secret's name in failure messages.
    fn secret_name(self) -> &'static str {
        match self {
            TokenSource::Variable => "NOTION_API_KEY",
            TokenSource::File => "the NOTION_API_KEY_FILE contents",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_output_or_tables() {
    // Every secret the binary reads is planted: today the Notion token, from either place it is read.
    // Each new sink's secrets (cloud storage credentials, say) get planted here too. Other tools' secrets
    // in the environment, never read, must stay out as well.
    for source in [TokenSource::Variable, TokenSource::File] {
        let key_dir = tempfile::tempdir().unwrap();
        let w = secrets_world(source, key_dir.path()).await;
        let mut secrets = vec![(source.secret_name().to_string(), w.sim.token())];
        secrets.extend(FOREIGN_SECRETS.map(|(k, v)| (k.to_string(), v.to_string())));
        let outputs = run_every_command(&w).await;
        for (format, out) in &outputs {
            for stream in [&out.stdout, &out.stderr] {
                if let Some((name, value)) = leaked(stream, &secrets) {
                    let text = String::from_utf8_lossy(stream);
                    let line = text.lines().find(|l| l.contains(value.as_str()));
                    panic!("{name} leaked in {format} output: {line:?}");
                }
            }
        }
        for format in ["text", "json"] {
            assert_logged_as(&outputs, format);
        }
        assert_lake_clean(&w, &secrets);
    }
}

/// A demo world whose token comes from `source` (a file written under `key_dir`), with every secret
/// planted and every target logging at trace.
async fn secrets_world(source: TokenSource, key_dir: &std::path::Path) -> World {
    let mut w = match source {
        TokenSource::Variable => World::start(WorkspaceKind::Demo).await,
        TokenSource::File => {
            let mut w = World::with_config(notion_sim::SimConfig {
                workspace: WorkspaceKind::Demo,
                token: Some("ntn_read_from_the_key_file_5e3c0a7d".into()),
                ..notion_sim::SimConfig::default()
            })
            .await;
            let path = key_dir.join("notion-token");
            std::fs::write(&path, format!("{}\n", w.sim.token())).unwrap();
            w.env.remove("NOTION_API_KEY");
            w.set("NOTION_API_KEY_FILE", &path.display().to_string());
            w
        }
    };
    for (k, v) in FOREIGN_SECRETS {
        w.set(k, v);
    }
    // Content, comments, users and hosted files too, so every table holds data to search.
    w.set("NOTION_SYNC_INCLUDE", "content,comments,users,files");
    let ds = w.database("Tasks").data_sources[0].id.clone();
    let dump = w.sim.state_dump("2026-03-11");
    let page = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["data_source_id"] == ds.as_str())
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_string();
    w.sim
        .add_hosted_media_block(&page, "pdf", "brief.pdf", 2_000)
        .expect("a page");
    // Every target at trace, the Delta engine's too (it is capped unless named).
    w.set(
        "RUST_LOG",
        "trace,buoyant_kernel=trace,deltalake_core=trace",
    );
    w
}

/// Every command in each log format, then a failing run (its errors print too) in each; by format.
async fn run_every_command(w: &World) -> Vec<(&'static str, std::process::Output)> {
    let commands: [&[&str]; 8] = [
        &["init-tables"],
        &["sync"],
        &["status"],
        &["status", "--json"],
        &["health"],
        &["list-databases"],
        &["restore", "--apply"],
        &["optimize", "--retention-hours", "0"],
    ];
    let mut outputs = Vec::new();
    for format in ["text", "json"] {
        for args in commands {
            let out = w.run(&[&["--log-format", format][..], args].concat()).await;
            assert_exit(&out, 0);
            outputs.push((format, out));
        }
    }
    w.sim.set_faults(notion_sim::FaultPlan {
        rules: vec![notion_sim::FaultRule {
            endpoint: None,
            kind: notion_sim::FaultKind::Status(500),
            mode: notion_sim::FaultMode::Always,
        }],
    });
    for format in ["text", "json"] {
        let args = ["--log-format", format, "sync", "--full-refresh"];
        let mut cmd = w.command(&args);
        cmd.env("NOTION_MAX_RETRIES", "1");
        let out = cmd.output().await.unwrap();
        assert_ne!(out.status.code(), Some(0), "the faulty run fails");
        outputs.push((format, out));
    }
    w.sim.clear_faults();
    outputs
}

/// The first secret (name, value) found in `bytes`.
fn leaked<'a>(bytes: &[u8], secrets: &'a [(String, String)]) -> Option<&'a (String, String)> {
    secrets
        .iter()
        .find(|(_, value)| bytes.windows(value.len()).any(|w| w == value.as_bytes()))
}

/// The runs in `format` logged at trace, in that format.
fn assert_logged_as(outputs: &[(&str, std::process::Output)], format: &str) {
    let lines: Vec<String> = outputs
        .iter()
        .filter(|(f, _)| *f == format)
        .flat_map(|(_, out)| stderr(out).lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|line| line.contains("TRACE") || line.contains("\"level\":\"TRACE\""))
        .collect();
    assert!(!lines.is_empty(), "trace logging produced {format} output");
    let json = lines
        .iter()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
    assert_eq!(json, format == "json", "{format} lines: {:?}", &lines[..1]);
}

/// No secret is in any file under the lake: not in the raw bytes of any, nor among the decoded values of
/// any parquet file. Every table's commits, checkpoints and (when it has rows) data files were searched.
fn assert_lake_clean(w: &World, secrets: &[(String, String)]) {
    let lake = std::path::PathBuf::from(w.lake_uri());
    let mut searched = std::collections::BTreeSet::new();
    for path in crate::support::files_under(&lake) {
        let bytes = std::fs::read(&path).unwrap();
        if let Some((name, _)) = leaked(&bytes, secrets) {
            panic!("{name} in {}", path.display());
        }
        if path.extension().is_some_and(|x| x == "parquet") {
            let values = crate::support::parquet_values(&path);
            if let Some((name, _)) = leaked(values.as_bytes(), secrets) {
                panic!("{name} among the values of {}", path.display());
            }
        }
        searched.extend(delta_file_kind(&lake, &path));
    }
    for table in notion_sync::sink::tables::ALL {
        let mut kinds = vec!["commit", "checkpoint"];
        if table != notion_sync::sink::tables::REJECTS {
            kinds.push("data");
        }
        for kind in kinds {
            assert!(
                searched.contains(&(table.to_string(), kind)),
                "{table}: a {kind} file was searched ({searched:?})"
            );
        }
    }
}

/// The bronze table and kind (`data`, `commit` or `checkpoint`) of a Delta file under `lake`.
fn delta_file_kind(
    lake: &std::path::Path,
    path: &std::path::Path,
) -> Option<(String, &'static str)> {
    let relative = path.strip_prefix(lake.join("bronze")).ok()?;
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy());
    let table = parts.next()?.into_owned();
    let in_log = parts.next().is_some_and(|p| p == "_delta_log");
    let name = path.file_name()?.to_string_lossy();
    let kind = match (in_log, name.ends_with(".parquet"), name.ends_with(".json")) {
        (false, true, _) => "data",
        (true, true, _) if name.contains(".checkpoint") => "checkpoint",
        (true, _, true) => "commit",
        _ => return None,
    };
    Some((table, kind))
}
