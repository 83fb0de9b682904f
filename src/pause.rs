//! Named pause points for crash testing.
//!
//! With `NOTION_SYNC_PAUSE_AT=<point>[#n]` the process stops at the `n`-th (default first) time it reaches
//! `point`, prints `paused at <point>` on stderr and waits forever, so a test can kill it there with
//! SIGKILL. With `NOTION_SYNC_PAUSE_MODE=stop` it stops itself there with SIGSTOP instead, so a test can
//! change the world around it (take its lease over, break a table) and let it go on with SIGCONT. Without
//! the variable every point is a single atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Target {
    point: String,
    nth: u64,
    seen: AtomicU64,
    /// Stop the process (SIGSTOP) instead of waiting forever.
    stop: bool,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
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
        })
        .as_ref()
}

/// Marks a point; pauses there forever when it is the configured one.
pub async fn point(name: &str) {
    let Some(t) = target() else {
        return;
    };
    if t.point == name && t.seen.fetch_add(1, Ordering::SeqCst) + 1 == t.nth {
        eprintln!("paused at {name}");
        if t.stop {
            // Continues where it stopped when the test sends SIGCONT.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
            return;
        }
        std::future::pending::<()>().await;
    }
}
