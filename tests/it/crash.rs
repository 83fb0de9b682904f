//! Crash consistency: the binary is killed with SIGKILL at named points of a run, and inside Delta writes
//! and commits; a rerun always converges to bronze equal to Notion, with no duplicate keys, and every
//! table loads with a readable history.
//!
//! Every killed run traces the points it passes (`NOTION_SYNC_TRACE_POINTS`, see `src/pause.rs`). A kill
//! inside a phase is sent a short delay after the trace shows the phase's start, and the trace read after
//! the kill must show that the run was still inside it.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::oracle::{Memory, Promise, check};
use crate::support::{Lake, World, assert_exit};

/// A step of a run that a kill can land inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Query pages are being read and nothing has been handed to the writer yet.
    Fetching,
    /// The history append: between `sink.before_versions` and `sink.after_versions`.
    HistoryAppend,
    /// The pages commit (append or MERGE): between `sink.before_pages` and `sink.after_pages`.
    PagesCommit,
}

impl Phase {
    /// The point passed when the phase starts.
    fn start(self) -> &'static str {
        match self {
            Phase::Fetching => "fetch.page",
            Phase::HistoryAppend => "sink.before_versions",
            Phase::PagesCommit => "sink.before_pages",
        }
    }

    /// How long after the start the kill is sent. The writer's first group commit waits for a commit
    /// interval (250 ms) of batches, and a Delta write of a group takes over ten milliseconds.
    fn delay(self) -> Duration {
        match self {
            Phase::Fetching => Duration::from_millis(20),
            Phase::HistoryAppend | Phase::PagesCommit => Duration::from_millis(2),
        }
    }
}

/// How the killed run is stopped.
pub(crate) enum Kill {
    /// At the `n`-th pass of a pause point.
    At(&'static str, u64),
    /// Inside the `n`-th occurrence of a phase.
    Inside(Phase, u64),
}

/// Where a kill landed: what a trace of the killed run shows.
#[derive(Debug)]
struct Landing {
    /// The last point passed other than `fetch.page` (`None`: only query pages were read).
    step: Option<String>,
    /// Query pages read.
    fetched: usize,
}

impl Landing {
    /// Reads the trace file of a killed run.
    fn read(trace: &Path) -> Landing {
        let points = trace_points(trace);
        Landing {
            step: points.iter().rev().find(|p| *p != "fetch.page").cloned(),
            fetched: passes(&points, "fetch.page"),
        }
    }

    /// The phase the run was inside, if any.
    fn phase(&self) -> Option<Phase> {
        match self.step.as_deref() {
            None if self.fetched > 0 => Some(Phase::Fetching),
            Some("sink.before_versions") => Some(Phase::HistoryAppend),
            Some("sink.before_pages") => Some(Phase::PagesCommit),
            _ => None,
        }
    }
}

/// The points a trace file lists, in the order they were passed.
fn trace_points(trace: &Path) -> Vec<String> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// How many times `point` was passed.
fn passes(points: &[String], point: &str) -> usize {
    points.iter().filter(|p| *p == point).count()
}

/// Waits until the child prints that it paused at `point`.
pub(crate) async fn await_pause(child: &mut Child, point: &str) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(&format!("paused at {point}")) {
                return;
            }
        }
        panic!("the run ended before reaching {point}");
    };
    tokio::time::timeout(crate::support::HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{point} not reached within {:?}",
                crate::support::HANG_GUARD
            )
        });
}

/// Waits until the trace shows the `n`-th pass of `point`, polling every millisecond.
async fn await_trace(child: &mut Child, trace: &Path, point: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + crate::support::HANG_GUARD;
    while passes(&trace_points(trace), point) < n as usize {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before passing {point} {n} times");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{point} not passed {n} times within {:?}",
            crate::support::HANG_GUARD
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `first` is run to completion before the killed run (`None`: the killed run is the first one).
async fn crash_then_rerun(case: &str, first: Option<&[&str]>, killed: &[&str], kill: Kill) {
    crash_then_rerun_on(Lake::Local, case, first, killed, kill).await;
}

/// [`crash_then_rerun`] with the lake on `lake`.
pub(crate) async fn crash_then_rerun_on(
    lake: Lake,
    case: &str,
    first: Option<&[&str]>,
    killed: &[&str],
    kill: Kill,
) {
    let mut w = World::large(1_200).await;
    w.on(lake).await;
    w.set("NOTION_SYNC_BATCH_PAGES", "300");
    let mut memory = Memory::default();
    if let Some(args) = first {
        assert_exit(&w.run(args).await, 0);
        check(&w, "2026-03-11", None, Promise::Incremental, &mut memory).await;
        // Give the killed run something to do: edits, a trashed and a purged page.
        w.sim.advance_clock(chrono::Duration::minutes(3));
        let ds = w.sim.databases()[0].data_sources[0].id.clone();
        let edited = w.sim.edit_pages(&ds, 700);
        w.sim.trash_page(&edited[0]);
        w.sim.purge_page(&edited[1]);
    }
    if let Kill::At(point, n) = kill {
        w.set("NOTION_SYNC_PAUSE_AT", &format!("{point}#{n}"));
        // One commit per batch and a watermark save after each, so the n-th pass of a point is the n-th
        // batch. Kills inside a phase run with the default pacing (grouped commits, periodic watermark
        // saves).
        w.set("NOTION_SYNC_COMMIT_INTERVAL", "0");
        w.set("NOTION_SYNC_WATERMARK_INTERVAL", "0");
    }
    // The killed run's lease must expire before the rerun can take it over.
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    let trace = w.lake.path().join("points.trace");
    w.set("NOTION_SYNC_TRACE_POINTS", &trace.display().to_string());
    let mut child = w
        .command(killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    match kill {
        Kill::At(point, _) => await_pause(&mut child, point).await,
        Kill::Inside(phase, n) => {
            await_trace(&mut child, &trace, phase.start(), n).await;
            tokio::time::sleep(phase.delay()).await;
        }
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let landing = Landing::read(&trace);
    eprintln!("{case}: killed after {landing:?}");
    match kill {
        Kill::At(point, n) => assert_eq!(
            passes(&trace_points(&trace), point),
            n as usize,
            "{case}: killed at pass {n} of {point}"
        ),
        Kill::Inside(phase, _) => assert_eq!(
            landing.phase(),
            Some(phase),
            "{case}: the kill landed inside the phase it targets ({landing:?})"
        ),
    }
    w.env.remove("NOTION_SYNC_PAUSE_AT");
    w.env.remove("NOTION_SYNC_TRACE_POINTS");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // The rerun is the same command; then an incremental one confirms nothing is left behind.
    assert_exit(&w.run(killed).await, 0);
    let promise = if killed.contains(&"--full-refresh") {
        Promise::FullRefresh
    } else {
        Promise::Incremental
    };
    check(&w, "2026-03-11", None, promise, &mut memory).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    check(&w, "2026-03-11", None, promise, &mut memory).await;
    if lake != Lake::Postgres {
        let sink = w.sink();
        for table in notion_sync::sink::tables::ALL {
            let history = sink.history(table).await.unwrap();
            assert!(!history.is_empty(), "{table} has a readable history");
        }
    }
    use notion_sync::sink::BronzeSink;
    let sink = w.bronze();
    assert!(!sink.recent_runs(100).await.unwrap().is_empty());
    sink.load_watermarks().await.unwrap();
    sink.read_rejects().await.unwrap();
    sink.read_schemas().await.unwrap();
}

macro_rules! crash_cases {
    ($($name:ident: $first:expr, $killed:expr, $kill:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_then_rerun(stringify!($name), $first, $killed, $kill).await;
        }
    )*};
}

/// The same kills with bronze in PostgreSQL (the warehouse sink).
macro_rules! postgres_crash_cases {
    ($($name:ident: $first:expr, $killed:expr, $kill:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_then_rerun_on(Lake::Postgres, stringify!($name), $first, $killed, $kill).await;
        }
    )*};
}

const SYNC: &[&str] = &["sync"];
const FULL: &[&str] = &["sync", "--full-refresh"];
const DETECT: &[&str] = &["sync", "--detect-deletes"];

crash_cases! {
    killed_while_fetching_the_first_page: None, SYNC, Kill::At("fetch.page", 1);
    killed_while_fetching_later_pages: None, SYNC, Kill::At("fetch.page", 6);
    killed_before_the_first_batch_is_written: None, SYNC, Kill::At("write.batch", 1);
    killed_before_a_later_batch_is_written: None, SYNC, Kill::At("write.batch", 3);
    killed_before_history_is_appended: None, SYNC, Kill::At("sink.before_versions", 2);
    killed_between_history_and_the_pages_commit: None, SYNC, Kill::At("sink.before_pages", 1);
    killed_between_history_and_a_later_pages_commit: None, SYNC, Kill::At("sink.before_pages", 3);
    killed_between_the_commit_and_the_watermark: None, SYNC, Kill::At("write.before_watermark", 1);
    killed_between_a_later_commit_and_its_watermark: None, SYNC, Kill::At("write.before_watermark", 3);
    killed_before_the_schema_snapshot: None, SYNC, Kill::At("source.before_schema", 1);
    killed_before_the_run_row: None, SYNC, Kill::At("run.before_audit", 1);
    killed_mid_incremental_commit: Some(SYNC), SYNC, Kill::At("sink.before_pages", 2);
    killed_before_delete_detection: Some(SYNC), DETECT, Kill::At("deletes.before", 1);
    killed_before_deletions_are_flagged: Some(SYNC), FULL, Kill::At("deletes.before_flags", 1);
    killed_before_the_full_refresh_watermarks: Some(SYNC), FULL, Kill::At("refresh.before_watermarks", 1);
    killed_while_fetching_before_the_first_commit: None, SYNC, Kill::Inside(Phase::Fetching, 1);
    killed_inside_the_first_history_append: None, SYNC, Kill::Inside(Phase::HistoryAppend, 1);
    killed_inside_the_first_pages_commit: None, SYNC, Kill::Inside(Phase::PagesCommit, 1);
    killed_inside_an_incremental_history_append: Some(SYNC), SYNC, Kill::Inside(Phase::HistoryAppend, 1);
    killed_inside_an_incremental_merge: Some(SYNC), SYNC, Kill::Inside(Phase::PagesCommit, 1);
    killed_inside_a_full_refresh_history_append: Some(SYNC), FULL, Kill::Inside(Phase::HistoryAppend, 1);
    killed_inside_a_full_refresh_merge: Some(SYNC), FULL, Kill::Inside(Phase::PagesCommit, 1);
}

/// Runs `notion-sync <args>` with a pause at `point` (`name#n`), SIGKILLs it there and returns the id
/// of the restore it had begun (from its journal).
pub(crate) async fn kill_restore_at(
    w: &mut crate::support::World,
    args: &[&str],
    point: &str,
) -> String {
    w.set("NOTION_SYNC_PAUSE_AT", point);
    let mut child = w
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let name = point.split('#').next().unwrap();
    await_pause(&mut child, name).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    w.env.remove("NOTION_SYNC_PAUSE_AT");
    let rows = w.sink().read_restore_log_all().await.unwrap();
    rows.iter()
        .find(|r| r.action == "begin")
        .map(|r| r.restore_id.clone())
        .expect("the killed restore journaled its start")
}

postgres_crash_cases! {
    postgres_killed_before_history_is_appended: None, SYNC, Kill::At("sink.before_versions", 2);
    postgres_killed_between_history_and_the_pages_commit: None, SYNC, Kill::At("sink.before_pages", 1);
    postgres_killed_between_a_later_commit_and_its_watermark: None, SYNC, Kill::At("write.before_watermark", 3);
    postgres_killed_mid_incremental_commit: Some(SYNC), SYNC, Kill::At("sink.before_pages", 2);
    postgres_killed_before_deletions_are_flagged: Some(SYNC), FULL, Kill::At("deletes.before_flags", 1);
    postgres_killed_inside_an_incremental_merge: Some(SYNC), SYNC, Kill::Inside(Phase::PagesCommit, 1);
}
