//! One writer per database: a renewable lease per database, stored beside the tables.
//!
//! A lease is a small JSON document naming its holder (run, process, host, a random token) and when it
//! expires. Leases are numbered by *epoch*: the lease of a database is the document with the highest
//! epoch under `_locks/<database_id>/`. Taking a free or expired lease creates the next epoch's document
//! with an atomic create-if-absent, so when several runs race for the same expired lease exactly one
//! create succeeds; the others see the new holder and report it. The holder renews its document while it
//! runs (every third of the time to live); a holder that crashed, was killed, or ran in a pod or
//! container that is gone simply stops renewing, and the lease can be taken over once it has expired —
//! nothing has to be deleted by hand. Before every commit the holder checks it still holds a lease with
//! time to spare; one that was taken over, or expired while the process was stalled, stops with
//! [`SinkError::LeaseLost`] instead of committing.
//!
//! The documents live in a [`LeaseStore`]: a directory on a local or mounted file system
//! ([`DirLeaseStore`], create-if-absent by hard link), or an object store with conditional puts.
//! Expiry compares wall clocks of different hosts, so their clocks must agree to well within the time to
//! live (`NOTION_SYNC_LOCK_TTL`, default 3 minutes).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SinkError;
use crate::retry::{Class, Policy, TokioClock};

/// Default time to live of a lease.
pub const DEFAULT_TTL: Duration = Duration::from_secs(180);

/// A boxed future of a lease store call.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// A stored lease document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The document text.
    pub text: String,
    /// When the store last wrote it (judges a document too damaged to read).
    pub modified: DateTime<Utc>,
}

/// Where lease documents live. Every method is one store round trip.
pub trait LeaseStore: Send + Sync + std::fmt::Debug {
    /// The epochs stored for `key`, ascending.
    fn epochs<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u64>>;
    /// The document of `epoch`, if it exists.
    fn read<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, Option<Stored>>;
    /// Creates the document of `epoch` if none exists; `false` when another writer created it first.
    fn create<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, bool>;
    /// Replaces the document of `epoch` (renewal by its holder).
    fn replace<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, ()>;
    /// Removes the document of `epoch` (absent is fine).
    fn remove<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, ()>;
    /// Where the documents of `key` are, for messages.
    fn describe(&self, key: &str) -> String;
}

/// Lease documents in a directory: `<dir>/<key>/<epoch>.json`. Creation writes a temporary file and hard
/// links it into place, which fails when the name exists, so a document is never seen half-written and
/// exactly one creator wins; renewal writes a temporary file and renames it over the document.
#[derive(Debug, Clone)]
pub struct DirLeaseStore {
    dir: PathBuf,
}

impl DirLeaseStore {
    /// Documents under `dir` (created on first use).
    pub fn new(dir: PathBuf) -> DirLeaseStore {
        DirLeaseStore { dir }
    }

    fn key_dir(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    fn path(&self, key: &str, epoch: u64) -> PathBuf {
        self.key_dir(key).join(format!("{epoch:020}.json"))
    }

    fn temp(&self, key: &str, text: &str) -> io::Result<PathBuf> {
        let dir = self.key_dir(key);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, text)?;
        Ok(tmp)
    }
}

impl LeaseStore for DirLeaseStore {
    fn epochs<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let entries = match std::fs::read_dir(self.key_dir(key)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut epochs: Vec<u64> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".json")?.parse().ok()
                })
                .collect();
            epochs.sort_unstable();
            Ok(epochs)
        })
    }

    fn read<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, Option<Stored>> {
        Box::pin(async move {
            let path = self.path(key, epoch);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now());
            Ok(Some(Stored { text, modified }))
        })
    }

    fn create<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let tmp = self.temp(key, &text)?;
            let linked = std::fs::hard_link(&tmp, self.path(key, epoch));
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn replace<'a>(&'a self, key: &'a str, epoch: u64, text: String) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let tmp = self.temp(key, &text)?;
            std::fs::rename(&tmp, self.path(key, epoch)).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        })
    }

    fn remove<'a>(&'a self, key: &'a str, epoch: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match std::fs::remove_file(self.path(key, epoch)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn describe(&self, key: &str) -> String {
        self.key_dir(key).display().to_string()
    }
}

/// Who holds a lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The run id.
    pub run_id: String,
    /// Random per acquisition: tells this holder from any other, even one with the same run id.
    pub token: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When the lease was taken.
    pub since: DateTime<Utc>,
    /// When the lease expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "run {} (pid {} on {}, since {})",
            self.run_id,
            self.pid,
            self.host,
            self.since.to_rfc3339()
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// A lease this process holds.
#[derive(Debug)]
struct Held {
    epoch: u64,
    holder: Holder,
    state: Arc<HeldState>,
    renewer: tokio::task::JoinHandle<()>,
}

/// What the renewal task and the commit check share.
#[derive(Debug)]
struct HeldState {
    /// Until when this process may rely on the lease (its own monotonic clock, taken before writing).
    valid_until: Mutex<Instant>,
    /// Set when a renewal found the lease gone or expired.
    lost: AtomicBool,
    /// Why it was lost.
    reason: Mutex<String>,
}

impl HeldState {
    fn lose(&self, reason: String) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason;
        self.lost.store(true, Ordering::SeqCst);
    }
}

/// The leases of one lake.
#[derive(Debug)]
pub struct Leases {
    store: Arc<dyn LeaseStore>,
    ttl: Duration,
    held: Mutex<HashMap<String, Held>>,
}

/// Outcome of one acquisition attempt.
enum Attempt {
    Taken,
    Busy(Holder),
    /// Another run created the epoch first: look again.
    Raced,
}

impl Leases {
    /// Leases in `store` living `ttl` unless renewed.
    pub fn new(store: Arc<dyn LeaseStore>, ttl: Duration) -> Leases {
        Leases {
            store,
            ttl,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Where the documents live.
    pub fn store(&self) -> Arc<dyn LeaseStore> {
        self.store.clone()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn io(&self, key: &str, e: io::Error) -> SinkError {
        SinkError::Transient {
            table: "locks".into(),
            reason: format!("cannot use the lease in {}: {e}", self.store.describe(key)),
        }
    }

    /// Takes the lease of `key` for `run_id` (again, if this process already holds it), or reports who
    /// holds it with [`SinkError::Busy`].
    pub async fn acquire(&self, key: &str, run_id: &str) -> Result<(), SinkError> {
        if self
            .held()
            .get(key)
            .is_some_and(|h| h.holder.run_id == run_id)
        {
            return self.check(key).await;
        }
        // Losing a race to another run is retried under the one policy; a live holder is reported at once.
        let policy = Policy::new(Duration::from_millis(10), Duration::from_millis(200), 5);
        let outcome = policy
            .run(
                &TokioClock,
                || async {
                    match self.try_acquire(key, run_id).await {
                        Ok(Attempt::Raced) => Err(None),
                        Ok(attempt) => Ok(attempt),
                        Err(e) => Err(Some(e)),
                    }
                },
                |e: &Option<SinkError>| match e {
                    None => Class::Transient,
                    Some(_) => Class::Permanent,
                },
                |_, _| tracing::debug!(lock = key, "lease changed hands; looking again"),
            )
            .await;
        match outcome {
            Ok(Attempt::Busy(h)) => Err(SinkError::Busy {
                database_id: key.to_string(),
                holder: h.describe(),
                expires_at: h.expires_at.to_rfc3339(),
                lock: self.store.describe(key),
            }),
            Ok(_) => Ok(()),
            Err(Some(e)) => Err(e),
            Err(None) => Err(self.io(key, io::Error::other("the lease kept changing hands"))),
        }
    }

    /// One look at the lease: take it when free or expired.
    async fn try_acquire(&self, key: &str, run_id: &str) -> Result<Attempt, SinkError> {
        let epochs = self.store.epochs(key).await.map_err(|e| self.io(key, e))?;
        let current = match epochs.last() {
            Some(&epoch) => self
                .store
                .read(key, epoch)
                .await
                .map_err(|e| self.io(key, e))?,
            None => None,
        };
        let now = Utc::now();
        if let Some(doc) = &current {
            match serde_json::from_str::<Holder>(&doc.text) {
                Ok(h) if h.expires_at > now => return Ok(Attempt::Busy(h)),
                Ok(h) => tracing::warn!(lock = %self.store.describe(key), holder = %h.describe(),
                    expired = %h.expires_at.to_rfc3339(), "taking over an expired lease"),
                // Unreadable: judged by when it was written.
                Err(_) if doc.modified + chrono_ttl(self.ttl) > now => return Ok(Attempt::Raced),
                Err(_) => {
                    tracing::warn!(lock = %self.store.describe(key), "replacing an unreadable lease")
                }
            }
        }
        let epoch = epochs.last().map_or(1, |e| e + 1);
        let started = Instant::now();
        let holder = Holder {
            run_id: run_id.to_string(),
            token: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: host_name(),
            since: now,
            expires_at: now + chrono_ttl(self.ttl),
        };
        let text = serde_json::to_string(&holder).map_err(|e| self.io(key, io::Error::other(e)))?;
        let created = self
            .store
            .create(key, epoch, text)
            .await
            .map_err(|e| self.io(key, e))?;
        if !created {
            return Ok(Attempt::Raced);
        }
        // Earlier epochs are history now.
        for old in epochs {
            let _ = self.store.remove(key, old).await;
        }
        self.hold(key, epoch, holder, started);
        Ok(Attempt::Taken)
    }

    /// Records a taken lease and starts renewing it.
    fn hold(&self, key: &str, epoch: u64, holder: Holder, started: Instant) {
        let state = Arc::new(HeldState {
            valid_until: Mutex::new(started + self.ttl),
            lost: AtomicBool::new(false),
            reason: Mutex::new(String::new()),
        });
        let renewer = tokio::spawn(renew(
            self.store.clone(),
            key.to_string(),
            epoch,
            holder.clone(),
            state.clone(),
            self.ttl,
        ));
        let previous = self.held().insert(
            key.to_string(),
            Held {
                epoch,
                holder,
                state,
                renewer,
            },
        );
        if let Some(p) = previous {
            p.renewer.abort();
        }
    }

    /// Whether this process holds the lease of `key` (it may still have been lost since).
    pub fn holds(&self, key: &str) -> bool {
        self.held().contains_key(key)
    }

    /// Before a commit touching `key`: fine when no lease of `key` is held here (nothing to check) or the
    /// held lease is ours in the store with at least a quarter of its time to live left; otherwise
    /// [`SinkError::LeaseLost`].
    pub async fn check(&self, key: &str) -> Result<(), SinkError> {
        let (epoch, token, state) = match self.held().get(key) {
            Some(h) => (h.epoch, h.holder.token.clone(), h.state.clone()),
            None => return Ok(()),
        };
        let lost = |reason: String| {
            state.lose(reason.clone());
            SinkError::LeaseLost {
                database_id: key.to_string(),
                reason,
            }
        };
        if state.lost.load(Ordering::SeqCst) {
            let reason = state
                .reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            return Err(SinkError::LeaseLost {
                database_id: key.to_string(),
                reason,
            });
        }
        let valid_until = *state.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        if Instant::now() + self.ttl / 4 > valid_until {
            return Err(lost(format!(
                "it was not renewed in time (the process was stalled for most of NOTION_SYNC_LOCK_TTL = {:?})",
                self.ttl
            )));
        }
        match current_holder(self.store.as_ref(), key).await {
            Ok(Some((e, h))) if e == epoch && h.token == token => Ok(()),
            Ok(Some((_, h))) => Err(lost(format!("it was taken over by {}", h.describe()))),
            Ok(None) => Err(lost("its lease document is gone".into())),
            Err(e) => Err(self.io(key, e)),
        }
    }

    /// Releases the lease of `key` if `run_id` holds it here.
    pub async fn release(&self, key: &str, run_id: &str) {
        let held = {
            let mut map = self.held();
            match map.get(key) {
                Some(h) if h.holder.run_id == run_id => map.remove(key),
                _ => None,
            }
        };
        let Some(held) = held else { return };
        held.renewer.abort();
        if let Ok(Some((epoch, h))) = current_holder(self.store.as_ref(), key).await
            && epoch == held.epoch
            && h.token == held.holder.token
        {
            let _ = self.store.remove(key, epoch).await;
        }
    }
}

fn chrono_ttl(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(3))
}

/// The lease of `key` as stored: its epoch and holder (`None` when free or unreadable).
async fn current_holder(store: &dyn LeaseStore, key: &str) -> io::Result<Option<(u64, Holder)>> {
    let Some(&epoch) = store.epochs(key).await?.last() else {
        return Ok(None);
    };
    Ok(store
        .read(key, epoch)
        .await?
        .and_then(|doc| serde_json::from_str(&doc.text).ok())
        .map(|h| (epoch, h)))
}

/// Renews a held lease every third of its time to live until it is released, lost or expired.
async fn renew(
    store: Arc<dyn LeaseStore>,
    key: String,
    epoch: u64,
    mut holder: Holder,
    state: Arc<HeldState>,
    ttl: Duration,
) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let started = Instant::now();
        let valid_until = *state.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        if started >= valid_until {
            // Stalled past the expiry: someone may have taken it over and written already.
            state.lose("it expired before it could be renewed".into());
            return;
        }
        match current_holder(store.as_ref(), &key).await {
            Ok(Some((e, h))) if e == epoch && h.token == holder.token => {}
            Ok(Some((_, h))) => {
                state.lose(format!("it was taken over by {}", h.describe()));
                return;
            }
            Ok(None) => {
                state.lose("its lease document is gone".into());
                return;
            }
            // A failed look is retried at the next tick; the commit check stops writes if it persists.
            Err(e) => {
                tracing::warn!(lock = %key, error = %e, "cannot renew the lease; trying again");
                continue;
            }
        }
        holder.expires_at = Utc::now() + chrono_ttl(ttl);
        let Ok(text) = serde_json::to_string(&holder) else {
            continue;
        };
        match store.replace(&key, epoch, text).await {
            Ok(()) => *state.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = started + ttl,
            Err(e) => {
                tracing::warn!(lock = %key, error = %e, "cannot renew the lease; trying again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases(dir: &std::path::Path, ttl: Duration) -> Leases {
        Leases::new(Arc::new(DirLeaseStore::new(dir.join("_locks"))), ttl)
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_it_releases() {
        let dir = tempfile::tempdir().unwrap();
        let a = leases(dir.path(), Duration::from_secs(60));
        let b = leases(dir.path(), Duration::from_secs(60));
        a.acquire("db", "run-a").await.unwrap();
        a.acquire("db", "run-a").await.unwrap();
        let err = b.acquire("db", "run-b").await.unwrap_err().to_string();
        assert!(err.contains("run-a"), "{err}");
        b.release("db", "run-b").await;
        assert!(
            b.acquire("db", "run-b").await.is_err(),
            "only the holder releases"
        );
        a.release("db", "run-a").await;
        b.acquire("db", "run-b").await.unwrap();
        b.check("db").await.unwrap();
    }

    #[tokio::test]
    async fn an_expired_lease_of_a_gone_host_or_restarted_container_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirLeaseStore::new(dir.path().join("_locks"));
        // Left by PID 1 of a container with this very host name, and by a pod on another host.
        for (key, host) in [("db1", host_name()), ("db2", "pod-7f9c".to_string())] {
            let stale = Holder {
                run_id: "run-crashed".into(),
                token: "t".into(),
                pid: 1,
                host,
                since: Utc::now() - chrono::Duration::minutes(30),
                expires_at: Utc::now() - chrono::Duration::minutes(1),
            };
            assert!(
                store
                    .create(key, 4, serde_json::to_string(&stale).unwrap())
                    .await
                    .unwrap()
            );
        }
        let l = leases(dir.path(), Duration::from_secs(60));
        l.acquire("db1", "run-new").await.unwrap();
        l.acquire("db2", "run-new").await.unwrap();
        assert_eq!(
            store.epochs("db1").await.unwrap(),
            vec![5],
            "older epochs are removed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_takeovers_of_an_expired_lease_have_exactly_one_winner() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let expired = leases(dir.path(), Duration::from_millis(1));
            expired.acquire("db", "run-old").await.unwrap();
            if let Some(h) = expired.held().remove("db") {
                h.renewer.abort();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let l = leases(dir.path(), Duration::from_secs(60));
                    tokio::spawn(async move {
                        let won = l.acquire("db", &format!("run-{i}")).await.is_ok();
                        (won, l)
                    })
                })
                .collect();
            let mut winners = 0;
            for t in tasks {
                let (won, _l) = t.await.unwrap();
                winners += usize::from(won);
            }
            assert_eq!(winners, 1, "round {round}");
        }
    }

    #[tokio::test]
    async fn a_holder_whose_lease_was_taken_over_stops_before_its_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let slow = leases(dir.path(), Duration::from_millis(400));
        slow.acquire("db", "run-slow").await.unwrap();
        slow.check("db").await.unwrap();
        // The holder stalls: its renewal never runs, and the lease expires.
        slow.held().get("db").unwrap().renewer.abort();
        tokio::time::sleep(Duration::from_millis(450)).await;
        let other = leases(dir.path(), Duration::from_secs(60));
        other.acquire("db", "run-other").await.unwrap();
        let err = slow.check("db").await.unwrap_err();
        assert!(matches!(err, SinkError::LeaseLost { .. }), "{err}");
        other.check("db").await.unwrap();
    }

    #[tokio::test]
    async fn a_running_holder_keeps_its_lease_past_the_time_to_live() {
        let dir = tempfile::tempdir().unwrap();
        let a = leases(dir.path(), Duration::from_millis(300));
        a.acquire("db", "run-a").await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        a.check("db").await.unwrap();
        let b = leases(dir.path(), Duration::from_millis(300));
        assert!(matches!(
            b.acquire("db", "run-b").await,
            Err(SinkError::Busy { .. })
        ));
    }
}
