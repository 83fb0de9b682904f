//! When runs happen: fixed slots `every` apart, slots missed while a run was in flight skipped (never
//! queued, never concurrent), and a full refresh when none finished within `--full-refresh-every`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::bronze::{RunRecord, RunStatus, SyncMode};

/// The first slot after `due` (slots are `every` apart) that is not in the past at `now`, and how many
/// slots were passed over because a run was still going when they came.
pub fn next_slot(due: Instant, every: Duration, now: Instant) -> (Instant, u64) {
    let elapsed = now.saturating_duration_since(due).as_nanos();
    let step = every.as_nanos().max(1);
    let k = elapsed.div_ceil(step).max(1);
    let k32 = u32::try_from(k).unwrap_or(u32::MAX);
    (due + every * k32, u64::from(k32 - 1))
}

/// Whether the next run must be a full refresh: one is configured and none finished in the last
/// `every` (also when none ever did).
pub fn full_refresh_due(
    every: Option<Duration>,
    last_full_refresh: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let Some(every) = every else {
        return false;
    };
    match last_full_refresh {
        None => true,
        Some(last) => (now - last).to_std().is_ok_and(|age| age >= every),
    }
}

/// When the latest full refresh that did not fail finished, among run rows.
pub fn last_full_refresh(history: &[RunRecord]) -> Option<DateTime<Utc>> {
    history
        .iter()
        .filter(|r| r.mode == SyncMode::FullRefresh && r.status != RunStatus::Failed)
        .map(|r| r.finished_at)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_next_slot_is_every_apart_when_runs_are_short() {
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        assert_eq!(
            next_slot(t0, every, t0 + Duration::from_secs(3)),
            (t0 + every, 0)
        );
    }

    #[test]
    fn serve_slots_missed_during_a_long_run_are_skipped() {
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        // The run took 25s: the slots at 10s and 20s passed during it; the next is at 30s.
        let (next, skipped) = next_slot(t0, every, t0 + Duration::from_secs(25));
        assert_eq!((next, skipped), (t0 + Duration::from_secs(30), 2));
        // A run that ends exactly on a slot keeps that slot.
        let (next, skipped) = next_slot(t0, every, t0 + Duration::from_secs(20));
        assert_eq!((next, skipped), (t0 + Duration::from_secs(20), 1));
    }

    #[test]
    fn serve_full_refresh_is_due_when_none_is_recent() {
        let now = Utc::now();
        let day = Some(Duration::from_secs(86_400));
        assert!(!full_refresh_due(None, None, now));
        assert!(full_refresh_due(day, None, now));
        assert!(!full_refresh_due(
            day,
            Some(now - chrono::Duration::hours(2)),
            now
        ));
        assert!(full_refresh_due(
            day,
            Some(now - chrono::Duration::hours(25)),
            now
        ));
    }
}
