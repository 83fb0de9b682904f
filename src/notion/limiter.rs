//! One request budget per token, shared by every task that talks to Notion.
//!
//! Notion counts requests in fixed 60-second windows. A GCRA limiter with a burst of one spaces requests
//! evenly (`60 s / budget` apart), so no aligned window can ever see more than the budget. When Notion still
//! answers 429/529 (another client shares the token or the workspace budget is spent) every task pauses until
//! the `Retry-After` instant has passed.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// The shared budget of one token.
#[derive(Debug)]
pub struct TokenLimiter {
    limiter: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    paused_until: Mutex<Option<Instant>>,
}

impl TokenLimiter {
    /// A limiter allowing `requests_per_minute` evenly spaced requests.
    pub fn new(requests_per_minute: u32) -> Self {
        let rpm = NonZeroU32::new(requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs(60) / rpm.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(rpm))
            .allow_burst(NonZeroU32::MIN);
        TokenLimiter {
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for a pause to end, then for a slot in the budget.
    pub async fn acquire(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
    }

    /// Pauses every task sharing this token for `wait` (a server `Retry-After`).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
    }
}
