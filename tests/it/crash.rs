//! Crash consistency: the binary is killed with SIGKILL at named points of a run (and at timed moments that
//! land inside Delta writes and commits); a rerun always converges to bronze equal to Notion, with no
//! duplicate keys, and every table loads with a readable history.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::oracle::{Memory, Promise, check};
use crate::support::{World, assert_exit};

/// How the killed run is stopped.
enum Kill {
    /// At the `n`-th pass of a pause point.
    At(&'static str, u64),
    /// After this long.
    After(Duration),
}

/// `first` is run to completion before the killed run (`None`: the killed run is the first one).
async fn crash_then_rerun(first: Option<&[&str]>, killed: &[&str], kill: Kill) {
    let mut w = World::large(1_200).await;
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
        // batch. Timed kills run with the default pacing (grouped commits, periodic watermark saves).
        w.set("NOTION_SYNC_COMMIT_INTERVAL", "0");
        w.set("NOTION_SYNC_WATERMARK_INTERVAL", "0");
    }
    // The killed run's lease must expire before the rerun can take it over.
    w.set("NOTION_SYNC_LOCK_TTL", "2s");
    let mut child = w
        .command(killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    match kill {
        Kill::At(point, _) => {
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let wait = async {
                while let Some(line) = lines.next_line().await.unwrap() {
                    if line.contains(&format!("paused at {point}")) {
                        return;
                    }
                }
                panic!("the run ended before reaching {point}");
            };
            tokio::time::timeout(Duration::from_secs(60), wait)
                .await
                .unwrap_or_else(|_| panic!("{point} not reached within 60 s"));
        }
        Kill::After(d) => tokio::time::sleep(d).await,
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    w.env.remove("NOTION_SYNC_PAUSE_AT");
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
    let sink = w.sink();
    for table in notion_sync::sink::tables::ALL {
        let history = sink.history(table).await.unwrap();
        assert!(!history.is_empty(), "{table} has a readable history");
    }
    use notion_sync::sink::BronzeSink;
    assert!(!sink.recent_runs(100).await.unwrap().is_empty());
    sink.load_watermarks().await.unwrap();
    sink.read_rejects().await.unwrap();
    sink.read_schemas().await.unwrap();
}

macro_rules! crash_cases {
    ($($name:ident: $first:expr, $killed:expr, $kill:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_then_rerun($first, $killed, $kill).await;
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
    killed_after_200_ms: None, SYNC, Kill::After(Duration::from_millis(200));
    killed_after_500_ms: None, SYNC, Kill::After(Duration::from_millis(500));
    killed_after_900_ms: None, SYNC, Kill::After(Duration::from_millis(900));
    killed_after_1400_ms_of_a_full_refresh: Some(SYNC), FULL, Kill::After(Duration::from_millis(1400));
    killed_after_2000_ms: None, SYNC, Kill::After(Duration::from_millis(2000));
}
