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
    /// Apply the request (a write is committed), then answer with this status (503, 504, ...) and
    /// Notion's error body, as Notion does when a write succeeds but its response is built too late:
    /// `additional_data.retry_guidance`, and `committed_resource_id` (the new page, database or data
    /// source; the parent block of an append) with `committed_child_ids` (the appended blocks, in
    /// order). A request the simulator rejects (e.g. a 400) is answered as usual.
    Committed(u16),
    /// Apply the request (a write is committed), then wait this long before answering: a client
    /// with a shorter timeout gives up on a write that was made.
    DelayAfter(Duration),
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
    /// Only the Nth matching request (1-based), e.g. exactly the third page create.
    Nth(usize),
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
    /// Which requests: an endpoint name (`query_data_source`, `create_page`, ...), `writes` (every
    /// write: creates, updates, appends, deletes, moves, comments), or an HTTP method (`POST`,
    /// `PATCH`, `DELETE`, `GET`); `None` matches all.
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

/// What a fault rule matches a request by.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Endpoint name.
    pub endpoint: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Whether the request is a write.
    pub write: bool,
    /// Whether it carries a `start_cursor`.
    pub has_cursor: bool,
}

impl Request<'_> {
    fn matches(&self, selector: &str) -> bool {
        selector == self.endpoint || selector == self.method || (selector == "writes" && self.write)
    }
}

/// Whether a request to `endpoint` with `method` writes (searches and queries are POST reads).
pub fn is_write(method: &str, endpoint: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "DELETE" | "PUT")
        && !matches!(endpoint, "search" | "query_data_source" | "query_database")
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
    pub fn pick(&mut self, req: Request<'_>) -> Option<FaultKind> {
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if rule.endpoint.as_deref().is_some_and(|e| !req.matches(e)) {
                continue;
            }
            let has_cursor = req.has_cursor;
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
                FaultMode::Nth(n) => {
                    self.positions[i] += 1;
                    self.positions[i] == *n
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

    fn get(endpoint: &str, has_cursor: bool) -> Request<'_> {
        Request {
            endpoint,
            method: "GET",
            write: false,
            has_cursor,
        }
    }

    #[test]
    fn writes_methods_and_the_nth_match_select_requests() {
        let mut s = FaultState::new(1);
        s.set(FaultPlan {
            rules: vec![FaultRule {
                endpoint: Some("writes".into()),
                kind: FaultKind::Committed(503),
                mode: FaultMode::Nth(2),
            }],
        });
        let create = Request {
            endpoint: "create_page",
            method: "POST",
            write: is_write("POST", "create_page"),
            has_cursor: false,
        };
        let query = Request {
            endpoint: "query_data_source",
            method: "POST",
            write: is_write("POST", "query_data_source"),
            has_cursor: false,
        };
        assert_eq!(s.pick(query), None);
        assert_eq!(s.pick(create), None);
        assert_eq!(s.pick(query), None);
        assert_eq!(s.pick(create), Some(FaultKind::Committed(503)));
        assert_eq!(s.pick(create), None);
        s.set(FaultPlan {
            rules: vec![FaultRule {
                endpoint: Some("POST".into()),
                kind: FaultKind::Status(500),
                mode: FaultMode::Always,
            }],
        });
        assert_eq!(s.pick(query), Some(FaultKind::Status(500)));
        assert_eq!(s.pick(get("list_users", false)), None);
    }

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
        assert_eq!(s.pick(get("list_users", false)), None);
        assert_eq!(s.pick(get("search", false)), None);
        assert_eq!(s.pick(get("search", false)), Some(FaultKind::Status(503)));
        assert_eq!(s.pick(get("search", false)), None);
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
        assert_eq!(s.pick(get("query_data_source", false)), None);
        assert_eq!(s.pick(get("query_data_source", true)), Some(kind));
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
