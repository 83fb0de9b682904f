//! Notion error objects and the reply type of route handlers.

use serde_json::{Value, json};

/// An API error, rendered as Notion's error object.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable error code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `additional_data`.
    pub additional: Option<Value>,
}

impl ApiError {
    /// The error body without `request_id`.
    pub fn body(&self) -> Value {
        let mut body = json!({"object": "error", "status": self.status, "code": self.code, "message": self.message});
        if let Some(a) = &self.additional {
            body["additional_data"] = a.clone();
        }
        body
    }
}

/// An error with a status, code and message.
pub fn err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
        additional: None,
    }
}

/// A 400 `validation_error`.
pub fn validation(message: impl Into<String>) -> ApiError {
    err(400, "validation_error", message)
}

/// The 400 `validation_error` for a `start_cursor` that is not (or no longer) valid.
pub fn invalid_cursor(cursor: &str) -> ApiError {
    validation(format!("The start_cursor provided is invalid: {cursor}"))
}

/// A 400 `invalid_request_url`.
pub fn bad_url() -> ApiError {
    err(400, "invalid_request_url", "Invalid request URL.")
}

/// A 404 `object_not_found` for an object kind (`page`, `database`, ...).
pub fn not_found(kind: &str, id: &str) -> ApiError {
    err(
        404,
        "object_not_found",
        format!(
            "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
        ),
    )
}

/// A successful body: a JSON value, or JSON text already serialised (an object).
#[derive(Debug)]
pub enum Reply {
    /// A value to serialise.
    Json(Value),
    /// A serialised JSON object.
    Raw(String),
}

impl From<Value> for Reply {
    fn from(v: Value) -> Self {
        Reply::Json(v)
    }
}

impl Reply {
    /// Serialises with `request_id` added as the last member.
    pub fn into_text(self, request_id: &str) -> String {
        let mut text = match self {
            Reply::Json(v) => v.to_string(),
            Reply::Raw(s) => s,
        };
        if text.ends_with('}') {
            text.pop();
            if !text.ends_with('{') {
                text.push(',');
            }
            text.push_str("\"request_id\":\"");
            text.push_str(request_id);
            text.push_str("\"}");
        }
        text
    }
}

/// What a route handler returns.
pub type ApiResult = Result<Reply, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_is_appended_to_objects() {
        let text = Reply::Raw("{\"a\":1}".into()).into_text("r");
        assert_eq!(text, "{\"a\":1,\"request_id\":\"r\"}");
        let text = Reply::Json(json!({})).into_text("r");
        assert_eq!(text, "{\"request_id\":\"r\"}");
        let e = not_found("page", "x");
        assert_eq!(e.body()["code"], "object_not_found");
    }
}
