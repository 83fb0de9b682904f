//! One writer per database: a second run is refused while the first holds the lease, a crashed run's
//! lease is taken over once it expired, and a run whose lease was taken over stops before it commits.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, WorkspaceKind};
use notion_sync::sink::BronzeSink;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::oracle::{Memory, Promise, check};
use crate::support::{Lake, World, assert_exit, stderr};

/// Time to live of the leases in these tests.
pub(crate) const TTL: Duration = Duration::from_secs(2);

/// A run stopped at a pause point, and the rest of its stderr once it ends.
pub(crate) struct Paused {
    child: Child,
    rest: tokio::task::JoinHandle<Vec<String>>,
}

impl Paused {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id().unwrap() as i32)
    }

    /// Lets a run stopped with SIGSTOP go on; returns its exit code and the rest of its stderr.
    pub(crate) async fn resume(mut self) -> (Option<i32>, String) {
        kill(self.pid(), Signal::SIGCONT).unwrap();
        let status = tokio::time::timeout(crate::support::HANG_GUARD, self.child.wait())
            .await
            .expect("the resumed run ends")
            .unwrap();
        (status.code(), self.rest.await.unwrap().join("\n"))
    }

    pub(crate) async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// Starts `args` paused (`mode` `stop` or forever) at the `n`-th pass of `point`; returns once it is there.
pub(crate) async fn start_paused(
    w: &World,
    args: &[&str],
    point: &str,
    n: u64,
    mode: &str,
) -> Paused {
    let mut cmd = w.command(args);
    cmd.env("NOTION_SYNC_PAUSE_AT", format!("{point}#{n}"))
        .env("NOTION_SYNC_PAUSE_MODE", mode)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let wanted = format!("paused at {point}");
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(&wanted) {
                return lines;
            }
        }
        panic!("the run ended before reaching {point}");
    };
    let lines = tokio::time::timeout(crate::support::HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{point} not reached within {:?}",
                crate::support::HANG_GUARD
            )
        });
    // It prints the line just before it stops itself: a SIGCONT sent in between would be lost, and the
    // run would then stay stopped for good.
    if mode == "stop" {
        wait_stopped(child.id().unwrap()).await;
    }
    // Keep draining stderr so the paused process never blocks on a full pipe.
    let rest = tokio::spawn(async move {
        let mut lines = lines;
        let mut out = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            out.push(line);
        }
        out
    });
    Paused { child, rest }
}

/// Waits until process `pid` is stopped (state `T` in `/proc/<pid>/stat`).
async fn wait_stopped(pid: u32) {
    let stopped = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next().map(|t| t == "T"))
            })
            .unwrap_or(false)
    };
    let deadline = tokio::time::Instant::now() + crate::support::HANG_GUARD;
    while !stopped() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} did not stop within {:?}",
            crate::support::HANG_GUARD
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The version of every bronze table.
pub(crate) async fn versions(w: &World) -> BTreeMap<&'static str, Option<u64>> {
    let sink = w.sink();
    let mut out = BTreeMap::new();
    for table in notion_sync::sink::tables::ALL {
        out.insert(table, sink.table_version(table).await.unwrap());
    }
    out
}

/// The state an incremental sync promises, checked against the simulator.
pub(crate) async fn check_incremental(w: &World) {
    check(
        w,
        "2026-03-11",
        None,
        Promise::Incremental,
        &mut Memory::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_one_holds_the_lease_is_refused_and_writes_nothing() {
    second_run_is_refused_while_the_first_holds_the_lease(Lake::Local).await;
}

/// A second run exits 75 naming the holder and writes nothing; once the holder is killed and its lease
/// expired, the next run takes over with nothing deleted by hand.
pub(crate) async fn second_run_is_refused_while_the_first_holds_the_lease(lake: Lake) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(lake).await;
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    assert_exit(&w.run(&["sync"]).await, 0);
    // One database at a time: while the first is paused, the run commits nothing else.
    w.set("NOTION_SYNC_CONCURRENCY", "1");
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    w.sim.advance_clock(chrono::Duration::minutes(2));
    w.sim.edit_pages(&ds, 5);
    // The first run holds every lease and waits before its first commit, renewing its leases.
    let first = start_paused(&w, &["sync"], "write.batch", 1, "wait").await;
    let holders = w.lease_holders().await;
    assert!(!holders.is_empty());
    let before = versions(&w).await;
    // Well past the time to live: a live holder keeps renewing.
    tokio::time::sleep(TTL * 2).await;
    let second = w.run(&["sync"]).await;
    assert_exit(&second, 75);
    let err = stderr(&second);
    assert!(err.contains("is being synced by run"), "{err}");
    assert!(err.contains(&holders[0]), "names the holder: {err}");
    assert!(
        err.contains(&w.lake_uri()),
        "names where the lease is: {err}"
    );
    assert!(!err.contains("delete"), "nothing to delete by hand: {err}");
    assert_eq!(versions(&w).await, before, "the refused run wrote nothing");
    // The holder dies; once its lease expired the next run takes over, with nothing deleted by hand.
    first.kill().await;
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    let third = w.run(&["sync"]).await;
    assert_exit(&third, 0);
    check_incremental(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_lease_blocks_reruns_only_until_it_expires() {
    killed_runs_lease_blocks_reruns_until_it_expires(Lake::Local).await;
}

/// A run killed while holding its leases blocks reruns (exit 75) only until the leases expire.
pub(crate) async fn killed_runs_lease_blocks_reruns_until_it_expires(lake: Lake) {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(lake).await;
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    let first = start_paused(&w, &["sync"], "fetch.page", 1, "wait").await;
    first.kill().await;
    let early = w.run(&["sync"]).await;
    assert_exit(&early, 75);
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    check_incremental(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_was_taken_over_stops_before_its_next_commit() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    w.set("NOTION_SYNC_BATCH_PAGES", "5");
    w.set("NOTION_SYNC_COMMIT_INTERVAL", "0");
    // One database at a time, so no other commit of the stalled run is half-way when it stops.
    w.set("NOTION_SYNC_CONCURRENCY", "1");
    // The stalled run stops itself before its second commit (as a frozen container would).
    let stalled = start_paused(&w, &["sync"], "write.batch", 2, "stop").await;
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    let taker = w.run(&["sync"]).await;
    assert_exit(&taker, 0);
    let after_taker = versions(&w).await;
    let (code, err) = stalled.resume().await;
    assert_eq!(code, Some(75), "{err}");
    assert!(err.contains("lease"), "{err}");
    let mut now = versions(&w).await;
    let mut expected = after_taker.clone();
    // Only its audit row may follow: every data table is as the taker left it.
    now.remove(notion_sync::sink::tables::RUNS);
    expected.remove(notion_sync::sink::tables::RUNS);
    assert_eq!(now, expected, "nothing committed after the lease was lost");
    let runs = w.sink().recent_runs(100).await.unwrap();
    let lost: Vec<_> = runs
        .iter()
        .filter(|r| {
            r.error_message
                .as_deref()
                .is_some_and(|m| m.contains("lease"))
        })
        .collect();
    assert!(!lost.is_empty(), "the stalled run's row says why: {runs:?}");
    assert!(
        lost.iter()
            .all(|r| r.error_class.as_deref() == Some("transient"))
    );
    check_incremental(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_databases_at_once_save_every_watermark_and_run_row() {
    let mut w = World::start(WorkspaceKind::Wide).await;
    w.set("NOTION_SYNC_CONCURRENCY", "64");
    // Reads overlap, so every database commits at about the same time.
    w.sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: None,
            kind: FaultKind::Delay(Duration::from_millis(50)),
            mode: FaultMode::Always,
        }],
    });
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    w.sim.clear_faults();
    let sink = w.sink();
    let runs = sink.recent_runs(1000).await.unwrap();
    assert_eq!(runs.len(), 64, "one run row per database");
    assert!(runs.iter().all(|r| r.status.as_str() == "succeeded"));
    let marks = sink.load_watermarks().await.unwrap();
    assert_eq!(marks.len(), 64);
    assert!(marks.iter().all(|m| m.watermark.is_some()));
    check_incremental(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_row_that_cannot_be_written_fails_the_run_with_a_message() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["init-tables"]).await, 0);
    let run = start_paused(&w, &["sync", "-d", "tasks"], "run.before_audit", 1, "stop").await;
    // The runs table becomes unusable while the data is already committed.
    let runs = w.lake.path().join("lake/bronze/notion_sync_runs");
    std::fs::remove_dir_all(&runs).unwrap();
    std::fs::write(&runs, b"not a table").unwrap();
    let (code, err) = run.resume().await;
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("run row could not be written to notion_sync_runs"),
        "{err}"
    );
}
