//! Request counters, kept per database so each run row reports its own traffic.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated by the client for every request made on behalf of one database.
#[derive(Debug, Default)]
pub struct RequestStats {
    /// HTTP requests sent (including retries).
    pub requests: AtomicU64,
    /// 429/529 responses waited out.
    pub throttled: AtomicU64,
    /// Retried failures (5xx, timeouts, dropped connections, truncated bodies).
    pub retries: AtomicU64,
    /// Property-item requests made to complete truncated properties (also counted in `requests`).
    pub hydration_requests: AtomicU64,
    /// Milliseconds spent waiting: `Retry-After` of 429/529 answers and retry backoff.
    pub wait_ms: AtomicU64,
    /// Block-children, comment and user list requests (also counted in `requests`).
    pub content_requests: AtomicU64,
}

impl RequestStats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
