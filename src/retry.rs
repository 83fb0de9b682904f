//! The one retry policy of the connector: Notion requests, Delta commit conflicts and lease takeovers all
//! decide and wait through it.
//!
//! A failed attempt is first classified ([`Class`]): *throttled* (the server said how long to wait: its
//! `Retry-After` is authoritative and the wait does not spend the retry budget, only a cap on throttle
//! waits applies), *transient* (back off exponentially with full jitter — a uniform draw below a ceiling
//! that doubles per retry — while the retry budget lasts) or *permanent* (never retried). Whether a
//! failure is transient depends on the [`Operation`]: an idempotent read may be repeated after any
//! server or transport failure, a write only when the server says it did not happen.
//!
//! Waiting goes through a [`Clock`], so tests run the policy on a clock that records the waits instead of
//! sleeping, with a seeded jitter source.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// What kind of call failed, which decides what may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An idempotent read: repeating it changes nothing, so every transient failure is retried.
    Read,
    /// A write: retried only when the failure proves it did not happen (throttled, refused before it was
    /// applied); a server error or timeout after sending may have applied it and is not retried.
    Write,
}

/// How a failed attempt is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The server asked to wait (`Retry-After`, when it said how long).
    Throttled(Option<Duration>),
    /// May succeed when tried again.
    Transient,
    /// Trying again cannot help.
    Permanent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait out a throttle, then try again.
    Throttle(Duration),
    /// Back off, then try again (retry number `attempt`, 1-based).
    Backoff {
        /// How long to wait.
        delay: Duration,
        /// Which retry this is.
        attempt: u32,
    },
    /// Stop: the failure is permanent.
    Permanent,
    /// Stop: the retry budget is spent after this many retries.
    Exhausted(u32),
}

impl Decision {
    /// The wait before the next attempt, if there is one.
    pub fn wait(&self) -> Option<Duration> {
        match self {
            Decision::Throttle(d) | Decision::Backoff { delay: d, .. } => Some(*d),
            Decision::Permanent | Decision::Exhausted(_) => None,
        }
    }
}

/// Backoff and budget settings; one value per kind of work (Notion requests, commits, leases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// Transient failures retried before giving up (the retry budget).
    pub max_retries: u32,
    /// Throttle waits allowed before a throttle spends the retry budget like a transient failure.
    pub max_throttle_waits: u32,
    /// Longest single throttle wait honoured (a longer `Retry-After` is clamped).
    pub max_retry_after: Duration,
    /// Jitter seed; `None` draws from the thread's generator.
    pub seed: Option<u64>,
}

impl Policy {
    /// `max_retries` retries with ceilings from `base` doubling to `cap`; throttle limits as Notion's.
    pub fn new(base: Duration, cap: Duration, max_retries: u32) -> Policy {
        Policy {
            base,
            cap,
            max_retries,
            max_throttle_waits: 30,
            max_retry_after: Duration::from_secs(120),
            seed: None,
        }
    }

    /// The same policy with deterministic jitter.
    pub fn with_seed(mut self, seed: u64) -> Policy {
        self.seed = Some(seed);
        self
    }

    /// Per-call state: start one for every logical call and feed it each failure.
    pub fn start(&self) -> Attempts<'_> {
        Attempts {
            policy: self,
            retries: 0,
            throttles: 0,
            rng: match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            },
        }
    }

    /// The backoff ceiling before retry `attempt` (1-based).
    fn ceiling(&self, attempt: u32) -> Duration {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.cap)
            .with_factor(2.0)
            .with_max_times(attempt as usize)
            .build()
            .nth(attempt.saturating_sub(1) as usize)
            .unwrap_or(self.cap)
    }

    /// Runs `op` until it succeeds, fails permanently or spends the budget, waiting on `clock` between
    /// attempts. `on_retry` sees each failure that is retried with the decision taken, for logs and counts.
    pub async fn run<T, E, Fut>(
        &self,
        clock: &dyn Clock,
        mut op: impl FnMut() -> Fut,
        classify: impl Fn(&E) -> Class,
        mut on_retry: impl FnMut(&E, &Decision),
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = self.start();
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let decision = attempts.next(classify(&error));
            match decision.wait() {
                Some(wait) => {
                    on_retry(&error, &decision);
                    clock.sleep(wait).await;
                }
                None => return Err(error),
            }
        }
    }
}

/// The retry state of one logical call.
#[derive(Debug)]
pub struct Attempts<'a> {
    policy: &'a Policy,
    retries: u32,
    throttles: u32,
    rng: fastrand::Rng,
}

impl Attempts<'_> {
    /// Decides what follows a failure of class `class`.
    pub fn next(&mut self, class: Class) -> Decision {
        match class {
            Class::Permanent => Decision::Permanent,
            Class::Throttled(after) if self.throttles < self.policy.max_throttle_waits => {
                self.throttles += 1;
                let wait = after
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_millis(1))
                    .min(self.policy.max_retry_after);
                Decision::Throttle(wait)
            }
            Class::Transient | Class::Throttled(_) => {
                if self.retries >= self.policy.max_retries {
                    return Decision::Exhausted(self.retries);
                }
                self.retries += 1;
                let ceiling = self.policy.ceiling(self.retries);
                Decision::Backoff {
                    delay: ceiling.mul_f64(self.rng.f64()),
                    attempt: self.retries,
                }
            }
        }
    }

    /// Retries taken so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

/// Where the policy waits.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock (tokio's timer).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that returns at once and records every wait asked of it (for tests).
#[derive(Debug, Default)]
pub struct RecordingClock {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingClock {
    /// The waits asked for so far.
    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Clock for RecordingClock {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.waits.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(Duration::from_millis(100), Duration::from_secs(2), 4).with_seed(7)
    }

    #[test]
    fn transient_failures_back_off_with_full_jitter_under_doubling_ceilings() {
        let p = policy();
        let mut a = p.start();
        let ceilings = [100, 200, 400, 800];
        for (i, ceiling) in ceilings.iter().enumerate() {
            match a.next(Class::Transient) {
                Decision::Backoff { delay, attempt } => {
                    assert_eq!(attempt, i as u32 + 1);
                    assert!(delay <= Duration::from_millis(*ceiling), "{delay:?}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(a.next(Class::Transient), Decision::Exhausted(4));
        // The ceiling stops at the cap.
        assert_eq!(p.ceiling(10), Duration::from_secs(2));
    }

    #[test]
    fn jitter_is_deterministic_with_a_seed_and_spreads_the_draws() {
        let draws = |p: &Policy| {
            let mut a = p.start();
            (0..4)
                .map(|_| a.next(Class::Transient).wait().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(&policy()), draws(&policy()));
        let wide = Policy::new(Duration::from_secs(1), Duration::from_secs(1), 200).with_seed(1);
        let mut a = wide.start();
        let d: Vec<Duration> = (0..200)
            .map(|_| a.next(Class::Transient).wait().unwrap())
            .collect();
        assert!(d.iter().any(|x| *x < Duration::from_millis(250)));
        assert!(d.iter().any(|x| *x > Duration::from_millis(750)));
    }

    #[test]
    fn retry_after_is_authoritative_and_does_not_spend_the_budget() {
        let p = policy();
        let mut a = p.start();
        for _ in 0..10 {
            assert_eq!(
                a.next(Class::Throttled(Some(Duration::from_secs(3)))),
                Decision::Throttle(Duration::from_secs(3))
            );
        }
        assert_eq!(a.retries(), 0);
        assert_eq!(
            a.next(Class::Throttled(Some(Duration::from_secs(9999)))),
            Decision::Throttle(Duration::from_secs(120))
        );
        assert_eq!(
            a.next(Class::Throttled(None)),
            Decision::Throttle(Duration::from_secs(1))
        );
        assert_eq!(a.next(Class::Permanent), Decision::Permanent);
    }

    #[test]
    fn endless_throttling_ends_by_spending_the_budget() {
        let mut p = policy();
        p.max_throttle_waits = 2;
        let mut a = p.start();
        let throttled = Class::Throttled(Some(Duration::from_secs(1)));
        assert!(matches!(a.next(throttled), Decision::Throttle(_)));
        assert!(matches!(a.next(throttled), Decision::Throttle(_)));
        for _ in 0..4 {
            assert!(matches!(a.next(throttled), Decision::Backoff { .. }));
        }
        assert_eq!(a.next(throttled), Decision::Exhausted(4));
    }

    #[tokio::test]
    async fn run_waits_on_the_clock_between_attempts_and_stops_at_permanent_errors() {
        let clock = RecordingClock::default();
        let p = policy();
        let mut calls = 0;
        let result: Result<u32, &str> = p
            .run(
                &clock,
                || {
                    calls += 1;
                    let n = calls;
                    async move { if n < 3 { Err("busy") } else { Ok(n) } }
                },
                |_| Class::Transient,
                |_, _| {},
            )
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(clock.waits().len(), 2);
        let mut calls = 0;
        let result: Result<(), &str> = p
            .run(
                &clock,
                || {
                    calls += 1;
                    async { Err("no") }
                },
                |_| Class::Permanent,
                |_, _| {},
            )
            .await;
        assert_eq!(result, Err("no"));
        assert_eq!(calls, 1);
        assert_eq!(clock.waits().len(), 2, "a permanent failure never waits");
    }
}
