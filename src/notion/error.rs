//! Notion errors: what failed, whose fault it is, and what the operator should do.

use std::fmt;

/// Who must act on an error; maps to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Token invalid, capability missing, or the object is not shared with the integration (exit 3).
    Auth,
    /// Throttling, 5xx, timeouts, dropped connections, write conflicts: safe to retry later (exit 75).
    Transient,
    /// Bad configuration or usage (exit 2).
    Config,
    /// A request Notion rejected or a response that makes no sense: a bug to report (exit 70).
    Internal,
}

impl ErrorClass {
    /// The value stored in `notion_sync_runs.error_class`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::Transient => "transient",
            ErrorClass::Config => "config",
            ErrorClass::Internal => "internal",
        }
    }
}

/// A failed Notion call, with everything an operator needs to act on it. Never contains the token.
#[derive(Debug, Clone)]
pub struct NotionError {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Notion error code (`object_not_found`, `rate_limited`, ...), or a local code (`timeout`, `connect`,
    /// `invalid_json`).
    pub code: String,
    /// Notion's message or the transport error.
    pub message: String,
    /// Notion's request id, when known.
    pub request_id: Option<String>,
    /// The request (`GET /v1/pages/{id}`).
    pub endpoint: String,
    /// The object the call was about.
    pub object_id: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// Fault class.
    pub class: ErrorClass,
    /// The id of what a failed create made all the same (Notion's `committed_resource_id` on a 503 or
    /// 504 whose write was saved).
    pub committed_id: Option<String>,
    /// The blocks a failed append created all the same, in order (`committed_child_ids`).
    pub committed_children: Vec<String>,
}

impl NotionError {
    /// Whether this error rejects the cursor of a request that carried one (`sent_cursor`): Notion answers an
    /// expired or invalid `start_cursor` with 400 `validation_error`, and a query then restarts instead of
    /// failing. The rest of such a request was accepted without the cursor, so the cursor is what failed.
    /// The message is not looked at: its wording is not part of Notion's contract, only the code is.
    pub fn is_invalid_cursor(&self, sent_cursor: bool) -> bool {
        sent_cursor && self.status == Some(400) && self.code == "validation_error"
    }

    /// Attaches the hint used when an object is not found or not shared.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for NotionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.endpoint)?;
        if let Some(status) = self.status {
            write!(f, " with HTTP {status}")?;
        }
        write!(f, " ({}): {}", self.code, self.message)?;
        if let Some(id) = &self.object_id {
            write!(f, " [object {id}]")?;
        }
        if let Some(rid) = &self.request_id {
            write!(f, " [request_id {rid}]")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, ". Hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NotionError {}

/// Classifies a Notion error response and suggests the fix.
pub fn classify(status: u16, code: &str) -> (ErrorClass, Option<&'static str>) {
    match (status, code) {
        (401, _) => (
            ErrorClass::Auth,
            Some(
                "the token in NOTION_API_KEY is invalid or revoked; create a new integration secret",
            ),
        ),
        (403, _) => (
            ErrorClass::Auth,
            Some(
                "the integration lacks a capability (read content) or the workspace blocked the request",
            ),
        ),
        (404, _) => (
            ErrorClass::Auth,
            Some(
                "the object does not exist or is not shared with the integration: open it in Notion, \
                  ... > Connections > add the integration",
            ),
        ),
        (429, "rate_limited") | (529, _) | (409, _) => (ErrorClass::Transient, None),
        (500..=599, _) => (ErrorClass::Transient, None),
        (429, _) => (
            ErrorClass::Auth,
            Some("Notion blocked requests from this integration"),
        ),
        _ => (ErrorClass::Internal, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, code: &str, message: &str) -> NotionError {
        NotionError {
            status: Some(status),
            code: code.into(),
            message: message.into(),
            request_id: None,
            endpoint: "POST /v1/data_sources/x/query".into(),
            object_id: None,
            hint: None,
            class: classify(status, code).0,
            committed_id: None,
            committed_children: Vec::new(),
        }
    }

    #[test]
    fn an_invalid_cursor_is_known_by_the_request_and_the_code_not_the_wording() {
        for message in [
            "The start_cursor provided is invalid: abc",
            "This pagination token has expired.",
            "",
        ] {
            let e = error(400, "validation_error", message);
            assert!(e.is_invalid_cursor(true), "{message}");
            assert!(!e.is_invalid_cursor(false), "no cursor was sent: {message}");
        }
        for (status, code) in [
            (400, "invalid_request"),
            (400, "invalid_json"),
            (404, "object_not_found"),
            (500, "validation_error"),
        ] {
            let e = error(status, code, "The start_cursor provided is invalid: abc");
            assert!(!e.is_invalid_cursor(true), "{status} {code}");
        }
    }
}
