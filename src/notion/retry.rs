//! Retry policy: which failures to retry, and how long to wait.
//!
//! Throttling (429 `rate_limited`, 529) waits exactly what the server's `Retry-After` says (clamped), and
//! does not spend the retry budget — only a cap on total waits applies. Server and transport failures on
//! reads back off exponentially with full jitter (AWS's "full jitter": a uniform draw below an exponentially
//! growing ceiling) and spend the budget. Client errors (400/401/403/404) are never retried.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// What to do with a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wait this long (from `Retry-After`) and try again; counts as a throttle, not a retry.
    Throttled(Duration),
    /// A transient failure: back off and retry while the budget lasts.
    Transient,
    /// Do not retry.
    Fatal,
}

/// Longest `Retry-After` honoured for one wait.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Most throttle waits for one request before it fails as transient.
pub const MAX_THROTTLE_WAITS: u32 = 30;

/// Classifies an HTTP status (and `Retry-After` seconds, when given) for an idempotent read.
pub fn classify_status(status: u16, retry_after: Option<u64>, code: &str) -> Verdict {
    match status {
        429 if code == "rate_limited" || code.is_empty() => {
            Verdict::Throttled(throttle_wait(retry_after))
        }
        529 => Verdict::Throttled(throttle_wait(retry_after)),
        500 | 502 | 503 | 504 | 409 => Verdict::Transient,
        _ => Verdict::Fatal,
    }
}

fn throttle_wait(retry_after: Option<u64>) -> Duration {
    Duration::from_secs(retry_after.unwrap_or(1).max(1)).min(MAX_RETRY_AFTER)
}

/// Exponential backoff ceilings with full jitter applied on top.
#[derive(Debug, Clone)]
pub struct Backoff {
    ceilings: Vec<Duration>,
}

impl Backoff {
    /// `max_retries` delays starting at `base`, doubling, capped at `cap`.
    pub fn new(base: Duration, cap: Duration, max_retries: u32) -> Self {
        let ceilings = ExponentialBuilder::default()
            .with_min_delay(base)
            .with_max_delay(cap)
            .with_factor(2.0)
            .with_max_times(max_retries as usize)
            .build()
            .collect();
        Backoff { ceilings }
    }

    /// The delay before retry number `attempt` (0-based), or `None` when the budget is spent.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let ceiling = *self.ceilings.get(attempt as usize)?;
        Some(ceiling.mul_f64(fastrand::f64()))
    }

    /// Retries allowed.
    pub fn budget(&self) -> u32 {
        self.ceilings.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(
            classify_status(429, Some(3), "rate_limited"),
            Verdict::Throttled(Duration::from_secs(3))
        );
        assert_eq!(
            classify_status(529, None, "service_overload"),
            Verdict::Throttled(Duration::from_secs(1))
        );
        assert_eq!(
            classify_status(429, Some(9999), ""),
            Verdict::Throttled(MAX_RETRY_AFTER)
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(classify_status(s, None, ""), Verdict::Transient);
        }
        for s in [400, 401, 403, 404] {
            assert_eq!(classify_status(s, None, ""), Verdict::Fatal);
        }
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 6);
        assert_eq!(b.budget(), 6);
        for attempt in 0..6 {
            let d = b.delay(attempt).unwrap();
            assert!(d <= Duration::from_secs(2), "{d:?}");
        }
        assert!(b.delay(6).is_none());
    }
}
