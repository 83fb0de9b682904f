//! Running the connector as a child process and reading what it cost: wall time and CPU time from
//! `wait4`, peak RSS from the child's own `VmHWM`.
//!
//! `ru_maxrss` cannot be used for the peak: Linux carries the high-water mark of the memory a process had
//! before `exec` into it, and a spawned child starts as a view of the harness, which holds the simulator
//! (about 1.4 GiB with 1,000,000 pages). `VmHWM` in `/proc/<pid>/status` belongs to the executed program
//! alone; it is sampled every 10 ms until the child exits (it only grows, so the last sample is the peak
//! up to the final 10 ms).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Wall-clock time.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, in MiB.
    pub peak_rss_mib: f64,
}

impl Cost {
    /// `wall s wall, cpu CPU s, peak RSS n MiB`, as the results table shows a run.
    pub fn summary(&self) -> String {
        format!(
            "{:.2} s wall, {:.1} CPU s, peak RSS {:.0} MiB",
            self.wall.as_secs_f64(),
            self.cpu.as_secs_f64(),
            self.peak_rss_mib
        )
    }
}

/// The connector binary and the environment that points it at a simulator and a lake.
#[derive(Debug, Clone)]
pub struct Connector {
    /// Path of the `notion-sync` binary.
    pub bin: PathBuf,
    /// Environment of every run.
    pub env: BTreeMap<String, String>,
    /// Working directory (stderr logs land here).
    pub dir: PathBuf,
}

impl Connector {
    /// Runs `notion-sync args…` to completion; panics with its log when it fails.
    pub async fn run(&self, args: &[&str]) -> Cost {
        let bin = self.bin.clone();
        let env = self.env.clone();
        let dir = self.dir.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || run_blocking(&bin, &args, &env, &dir))
            .await
            .expect("runner thread")
    }
}

/// Tuning variables passed through from the harness's own environment (`NOTION_SYNC_*` settings such as
/// `NOTION_SYNC_BATCH_PAGES`, and the allocator's `MIMALLOC_*`), so experiments need no rebuild.
fn tuning() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("NOTION_SYNC_") || k.starts_with("MIMALLOC_"))
        .collect()
}

fn run_blocking(bin: &Path, args: &[String], env: &BTreeMap<String, String>, dir: &Path) -> Cost {
    let log = dir.join("notion-sync.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let started = Instant::now();
    // Reaped below by wait4, which also returns the child's resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(tuning())
        .envs(env)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id() as libc::pid_t;
    let sampler = std::thread::spawn(move || peak_rss_kib(pid));
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data, fully written by wait4 on success; `pid` is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    let peak_kib = sampler.join().expect("RSS sampler");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = text.lines().rev().take(20).collect::<Vec<_>>().join("\n");
        panic!("notion-sync {args:?} failed (status {status}):\n{tail}");
    }
    let tv =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    Cost {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_mib: peak_kib as f64 / 1024.0,
    }
}

/// The last `VmHWM` (KiB) of a running process, read until it exits (a zombie has none).
fn peak_rss_kib(pid: libc::pid_t) -> u64 {
    let path = format!("/proc/{pid}/status");
    let mut peak = 0;
    loop {
        let hwm = std::fs::read_to_string(&path).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        match hwm {
            Some(kib) => peak = peak.max(kib),
            None => return peak,
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
