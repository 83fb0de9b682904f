//! How Notion's answers map onto the connector's retry policy ([`crate::retry`]).
//!
//! Throttling (429 `rate_limited`, 529 `service_overload`) waits what `Retry-After` says, for reads and
//! writes alike: a throttled request was not applied. `public_api_request_blocked` is never retried.
//! Server and transport failures are retried for idempotent reads only; a write is retried after them
//! only when the request provably never reached Notion (the connection was refused) or Notion reported a
//! transaction collision (409 `conflict_error`, nothing saved). A write answered 5xx may have been saved
//! (Notion documents `committed_resource_id` for that case), so it is reported, not repeated.

use std::time::Duration;

use crate::retry::{Class, Operation};

/// A transport failure: whether the request may have reached Notion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No connection was made: the request was never sent.
    Refused,
    /// Sent, then timed out or the connection broke: it may have been applied.
    Interrupted,
    /// A 2xx answer whose body was cut off or garbled.
    Garbled,
}

/// Classifies an HTTP error answer.
pub fn classify_status(
    op: Operation,
    status: u16,
    retry_after: Option<u64>,
    code: &str,
    rate_limit_reason: &str,
) -> Class {
    if rate_limit_reason == "public_api_request_blocked" {
        return Class::Permanent;
    }
    match status {
        429 if code == "rate_limited" || code.is_empty() => {
            Class::Throttled(Some(throttle_wait(retry_after)))
        }
        529 => Class::Throttled(Some(throttle_wait(retry_after))),
        409 => Class::Transient,
        500 | 502 | 503 | 504 if op == Operation::Read => Class::Transient,
        _ => Class::Permanent,
    }
}

/// Classifies a failure without a usable HTTP answer.
pub fn classify_transport(op: Operation, failure: Transport) -> Class {
    match (op, failure) {
        (_, Transport::Refused) | (Operation::Read, _) => Class::Transient,
        (Operation::Write, _) => Class::Permanent,
    }
}

fn throttle_wait(retry_after: Option<u64>) -> Duration {
    Duration::from_secs(retry_after.unwrap_or(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: Operation = Operation::Read;
    const WRITE: Operation = Operation::Write;

    #[test]
    fn reads_retry_throttles_server_and_transport_failures() {
        assert_eq!(
            classify_status(READ, 429, Some(3), "rate_limited", ""),
            Class::Throttled(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            classify_status(READ, 529, None, "service_overload", ""),
            Class::Throttled(Some(Duration::from_secs(1)))
        );
        for s in [409, 500, 502, 503, 504] {
            assert_eq!(classify_status(READ, s, None, "", ""), Class::Transient);
        }
        for s in [400, 401, 403, 404] {
            assert_eq!(classify_status(READ, s, None, "", ""), Class::Permanent);
        }
        for t in [
            Transport::Refused,
            Transport::Interrupted,
            Transport::Garbled,
        ] {
            assert_eq!(classify_transport(READ, t), Class::Transient);
        }
    }

    #[test]
    fn writes_are_retried_only_when_they_did_not_happen() {
        assert!(matches!(
            classify_status(WRITE, 429, Some(2), "rate_limited", ""),
            Class::Throttled(_)
        ));
        assert_eq!(
            classify_status(WRITE, 409, None, "conflict_error", ""),
            Class::Transient
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(
                classify_status(WRITE, s, None, "service_unavailable", ""),
                Class::Permanent,
                "a write answered {s} may have been saved"
            );
        }
        assert_eq!(
            classify_transport(WRITE, Transport::Refused),
            Class::Transient
        );
        assert_eq!(
            classify_transport(WRITE, Transport::Interrupted),
            Class::Permanent
        );
        assert_eq!(
            classify_transport(WRITE, Transport::Garbled),
            Class::Permanent
        );
    }

    #[test]
    fn blocked_integrations_are_never_retried() {
        for op in [READ, WRITE] {
            assert_eq!(
                classify_status(
                    op,
                    429,
                    Some(1),
                    "rate_limited",
                    "public_api_request_blocked"
                ),
                Class::Permanent
            );
        }
    }
}
