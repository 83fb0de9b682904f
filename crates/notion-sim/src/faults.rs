//! Fault injection: which requests fail, and how.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and Notion's error body (429 and 529 carry `Retry-After: 1`).
    Status(u16),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Send the headers and half the body, then close the connection.
    DropConnection,
    /// Send half the JSON body as a complete response.
    TruncatedBody,
    /// Reject the request's `start_cursor` (only requests that carry one).
    InvalidCursor,
    /// Reject the request's `start_cursor` like [`FaultKind::InvalidCursor`], with this message text: Notion
    /// keeps the status and code (400 `validation_error`) but may word the message differently.
    InvalidCursorSaying(String),
}

impl FaultKind {
    /// Whether the fault only applies to requests that carry a `start_cursor`.
    pub fn needs_cursor(&self) -> bool {
        matches!(
            self,
            FaultKind::InvalidCursor | FaultKind::InvalidCursorSaying(_)
        )
    }
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// On each matching request with this probability (seeded).
    Probability(f64),
    /// Per matching request, in order: `true` fires; after the list, never.
    Sequence(Vec<bool>),
    /// Every matching request.
    Always,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Endpoint name (`query_data_source`, ...); `None` matches all.
    pub endpoint: Option<String>,
    /// The fault.
    pub kind: FaultKind,
    /// When.
    pub mode: FaultMode,
}

/// All rules; the first that fires wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Rules in order.
    pub rules: Vec<FaultRule>,
}

/// A plan with its progress through sequences.
#[derive(Debug)]
pub struct FaultState {
    plan: FaultPlan,
    positions: Vec<usize>,
    rng: Rng,
}

impl FaultState {
    /// No faults.
    pub fn new(seed: u64) -> Self {
        FaultState {
            plan: FaultPlan::default(),
            positions: Vec::new(),
            rng: Rng::new(seed ^ 0xFA17),
        }
    }

    /// Replaces the plan.
    pub fn set(&mut self, plan: FaultPlan) {
        self.positions = vec![0; plan.rules.len()];
        self.plan = plan;
    }

    /// The fault for this request, if any.
    pub fn pick(&mut self, endpoint: &str, has_cursor: bool) -> Option<FaultKind> {
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if rule.endpoint.as_deref().is_some_and(|e| e != endpoint) {
                continue;
            }
            if rule.kind.needs_cursor() && !has_cursor {
                continue;
            }
            let fire = match &rule.mode {
                FaultMode::Always => true,
                FaultMode::Probability(p) => self.rng.unit() < *p,
                FaultMode::Sequence(seq) => {
                    let pos = self.positions[i];
                    self.positions[i] += 1;
                    seq.get(pos).copied().unwrap_or(false)
                }
            };
            if fire {
                return Some(rule.kind.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_consumed_per_matching_request() {
        let mut s = FaultState::new(1);
        s.set(FaultPlan {
            rules: vec![FaultRule {
                endpoint: Some("search".into()),
                kind: FaultKind::Status(503),
                mode: FaultMode::Sequence(vec![false, true]),
            }],
        });
        assert_eq!(s.pick("list_users", false), None);
        assert_eq!(s.pick("search", false), None);
        assert_eq!(s.pick("search", false), Some(FaultKind::Status(503)));
        assert_eq!(s.pick("search", false), None);
    }

    #[test]
    fn cursor_faults_skip_requests_without_a_cursor() {
        let mut s = FaultState::new(1);
        let kind = FaultKind::InvalidCursorSaying("Cursor expired.".into());
        s.set(FaultPlan {
            rules: vec![FaultRule {
                endpoint: None,
                kind: kind.clone(),
                mode: FaultMode::Always,
            }],
        });
        assert_eq!(s.pick("query_data_source", false), None);
        assert_eq!(s.pick("query_data_source", true), Some(kind));
    }

    #[test]
    fn plans_round_trip_through_json() {
        let plan = FaultPlan {
            rules: vec![FaultRule {
                endpoint: None,
                kind: FaultKind::Delay(Duration::from_millis(5)),
                mode: FaultMode::Probability(0.5),
            }],
        };
        let text = serde_json::to_string(&plan).expect("serialises");
        assert_eq!(
            serde_json::from_str::<FaultPlan>(&text).expect("parses"),
            plan
        );
    }
}
