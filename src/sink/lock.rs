//! One writer per database: a lock file per database under the lake, created atomically.
//!
//! Two `sync` processes on the same lake would otherwise read the same pages and race on the history
//! table. The lock names the run, process and host holding it; a lock left by a process that no longer
//! runs on this host (killed, crashed) is taken over, so a rerun after a crash is never blocked.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SinkError;

/// Who holds a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The run id.
    pub run_id: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When the lock was taken.
    pub since: DateTime<Utc>,
}

impl Holder {
    /// This process, for `run_id`.
    pub fn current(run_id: &str) -> Holder {
        Holder {
            run_id: run_id.to_string(),
            pid: std::process::id(),
            host: host_name(),
            since: Utc::now(),
        }
    }

    /// Whether the holder is a process of this host that has ended.
    fn is_gone(&self) -> bool {
        self.host == host_name() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The lock files of one lake.
#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
}

impl LockDir {
    /// Locks under `dir` (created on first use).
    pub fn new(dir: PathBuf) -> LockDir {
        LockDir { dir }
    }

    fn path(&self, database_id: &str) -> PathBuf {
        self.dir.join(format!("{database_id}.lock"))
    }

    /// Takes the lock of `database_id` for `holder`, or reports who has it.
    pub fn acquire(&self, database_id: &str, holder: &Holder) -> Result<(), SinkError> {
        let io = |e: std::io::Error| SinkError::Transient {
            table: "locks".into(),
            reason: format!("cannot use {}: {e}", self.dir.display()),
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let path = self.path(database_id);
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let text = serde_json::to_string(holder).unwrap_or_default();
                    f.write_all(text.as_bytes()).map_err(io)?;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let current = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
                    match current {
                        Some(h) if h.run_id == holder.run_id => return Ok(()),
                        Some(h) if !h.is_gone() => {
                            return Err(SinkError::Busy {
                                database_id: database_id.to_string(),
                                holder: format!(
                                    "run {} (pid {} on {}, since {})",
                                    h.run_id,
                                    h.pid,
                                    h.host,
                                    h.since.to_rfc3339()
                                ),
                                lock: path.display().to_string(),
                            });
                        }
                        // Left by a process that has ended, or half-written: take it over.
                        _ => {
                            tracing::warn!(lock = %path.display(), "taking over a stale lock");
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other("the lock kept changing hands")))
    }

    /// Releases the lock of `database_id` if `run_id` holds it.
    pub fn release(&self, database_id: &str, run_id: &str) {
        let path = self.path(database_id);
        let held = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
            .is_some_and(|h| h.run_id == run_id);
        if held {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_dead_holders_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockDir::new(dir.path().join("_locks"));
        let a = Holder::current("run-a");
        locks.acquire("db", &a).unwrap();
        locks.acquire("db", &a).unwrap();
        let b = Holder::current("run-b");
        let err = locks.acquire("db", &b).unwrap_err().to_string();
        assert!(err.contains("run-a"), "{err}");
        locks.release("db", "run-b");
        assert!(locks.acquire("db", &b).is_err(), "only the holder releases");
        locks.release("db", "run-a");
        locks.acquire("db", &b).unwrap();
        // A holder whose process is gone.
        let dead = Holder {
            pid: u32::MAX - 1,
            ..Holder::current("run-dead")
        };
        std::fs::write(
            dir.path().join("_locks").join("db2.lock"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        locks.acquire("db2", &a).unwrap();
    }
}
