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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_output_or_tables() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    let token = w.sim.token();
    // Other secrets in the environment stay out of everything too.
    let others = [
        ("DATABRICKS_TOKEN", "dapi-secret-databricks-value"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key-value"),
    ];
    for (k, v) in others {
        w.set(k, v);
    }
    // Every target at trace, the Delta engine's too (it is capped unless named).
    w.set(
        "RUST_LOG",
        "trace,buoyant_kernel=trace,deltalake_core=trace",
    );
    let mut outputs = Vec::new();
    for args in [
        &["sync"][..],
        &["status"],
        &["status", "--json"],
        &["health"],
        &["list-databases"],
    ] {
        let out = w.run(args).await;
        assert_exit(&out, 0);
        outputs.push(out);
    }
    // A failing run prints errors too.
    w.sim.set_faults(notion_sim::FaultPlan {
        rules: vec![notion_sim::FaultRule {
            endpoint: None,
            kind: notion_sim::FaultKind::Status(500),
            mode: notion_sim::FaultMode::Always,
        }],
    });
    w.set("NOTION_MAX_RETRIES", "1");
    outputs.push(w.run(&["sync", "--full-refresh"]).await);
    for out in &outputs {
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains(&token), "token leaked in output");
            for (k, v) in others {
                assert!(!text.contains(v), "{k} leaked in output");
            }
        }
    }
    assert!(
        outputs.iter().any(|o| !o.stderr.is_empty()),
        "trace logging produced output"
    );
    let mut files = vec![w.lake.path().to_path_buf()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes
                    .windows(token.len())
                    .any(|win| win == token.as_bytes()),
                "token in {}",
                p.display()
            );
        }
    }
}
