//! Named pause points for crash testing.
//!
//! With `NOTION_SYNC_PAUSE_AT=<point>[#n]` the process stops at the `n`-th (default first) time it reaches
//! `point`, prints `paused at <point>` on stderr and waits forever, so a test can kill it there with
//! SIGKILL. With `NOTION_SYNC_PAUSE_MODE=stop` it stops itself there with SIGSTOP instead, so a test can
//! change the world around it (take its lease over, break a table) and let it go on with SIGCONT. With
//! `NOTION_SYNC_TRACE_POINTS=<file>` every point appends its name and a newline to `file`
//! as it is reached (one unbuffered write, so a SIGKILL loses nothing already passed), which tells a test
//! where a kill landed. Without either variable every point is a single atomic load.
//!
//! The points, in the order a data source's read passes them:
//!
//! | point | where |
//! |---|---|
//! | `fetch.page` | a query page arrived, before its results are converted (the fetcher runs ahead of the writer) |
//! | `write.batch` | the writer is about to commit a (group of) batch(es) |
//! | `sink.before_versions` | the history append of new payloads starts |
//! | `sink.after_versions` | the history append committed |
//! | `sink.before_pages` | the pages commit (append or MERGE) starts |
//! | `sink.after_pages` | the pages commit committed |
//! | `write.before_watermark` | a watermark save starts |
//! | `source.before_schema` | the data source was read; its schema snapshot is next |
//! | `deletes.before` | delete reconciliation (full refresh or `--detect-deletes`) starts |
//! | `deletes.before_flags` | vanished pages are about to be flagged |
//! | `refresh.before_watermarks` | a full refresh saves its watermarks next |
//! | `run.before_audit` | the run row is appended next |
//! | `restore.before_create` | a restore sends a create (page, database, data source, comment; its intent is journaled) |
//! | `restore.after_create` | the create answered; its outcome is not journaled yet |
//! | `restore.before_update` | a restore writes a page's properties |
//! | `restore.before_append` | a restore appends blocks |
//!
//! The fetcher passes only `fetch.page`; every other point is passed in sequence by one task per data
//! source, so with one data source the last of those in a trace names the step the run was in.

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The configured pause point.
struct Target {
    point: String,
    nth: u64,
    seen: AtomicU64,
    /// Stop the process (SIGSTOP) instead of waiting forever.
    stop: bool,
}

/// What the environment asked the points to do.
struct Hooks {
    pause: Option<Target>,
    trace: Option<File>,
}

/// Parses `NOTION_SYNC_PAUSE_AT`.
fn pause_target() -> Option<Target> {
    let spec = std::env::var("NOTION_SYNC_PAUSE_AT").ok()?;
    let (point, nth) = match spec.split_once('#') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
        None => (spec, 1),
    };
    Some(Target {
        point,
        nth,
        seen: AtomicU64::new(0),
        stop: std::env::var("NOTION_SYNC_PAUSE_MODE").is_ok_and(|m| m == "stop"),
    })
}

/// Opens the `NOTION_SYNC_TRACE_POINTS` file for appending; a file that cannot be opened is reported and
/// not traced.
fn trace_file() -> Option<File> {
    let path = std::env::var_os("NOTION_SYNC_TRACE_POINTS")?;
    match File::options().create(true).append(true).open(&path) {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!("NOTION_SYNC_TRACE_POINTS: cannot open {path:?}: {e}");
            None
        }
    }
}

/// The hooks, read from the environment once; `None` when no point does anything.
fn hooks() -> Option<&'static Hooks> {
    static HOOKS: OnceLock<Option<Hooks>> = OnceLock::new();
    HOOKS
        .get_or_init(|| {
            let hooks = Hooks {
                pause: pause_target(),
                trace: trace_file(),
            };
            (hooks.pause.is_some() || hooks.trace.is_some()).then_some(hooks)
        })
        .as_ref()
}

/// Marks a point: traces it when tracing, and pauses there forever when it is the configured one.
pub async fn point(name: &str) {
    let Some(hooks) = hooks() else {
        return;
    };
    if let Some(mut file) = hooks.trace.as_ref() {
        // One write of the whole line, to a file opened for appending: lines never interleave.
        let _ = file.write_all(format!("{name}\n").as_bytes());
    }
    if let Some(t) = &hooks.pause
        && t.point == name
        && t.seen.fetch_add(1, Ordering::SeqCst) + 1 == t.nth
    {
        eprintln!("paused at {name}");
        if t.stop {
            // Continues where it stopped when the test sends SIGCONT.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
            return;
        }
        std::future::pending::<()>().await;
    }
}
