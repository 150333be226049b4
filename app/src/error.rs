//! The JSON body of every failed API request: `{"error": {"code", "message", "field"}}`.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable machine-readable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not the JSON object expected.
    MalformedJson,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// The request body stopped arriving (nothing for the body-idle timeout).
    RequestTimeout,
    /// The endpoint exists, but not for this HTTP method.
    MethodNotAllowed,
    /// `kind` names no job kind.
    UnknownKind,
    /// A field is missing, of the wrong type, unknown, or out of range.
    InvalidField,
    /// A query parameter or header is malformed (e.g. `Last-Event-ID`).
    InvalidRequest,
    /// No such job (or not yours), or no such file.
    NotFound,
    /// The job existed, but its retention ran out and it was removed.
    Gone,
    /// The request conflicts with the job's state (e.g. cancelling an ended job).
    Conflict,
    /// The request carries no identity (no session cookie, no API token), or a bad one.
    Unauthenticated,
    /// The request came from another site's page (cross-site request forgery).
    Forbidden,
    /// One of the caller's limits is reached (jobs in flight, jobs per minute, open
    /// streams); `Retry-After` says when to try again.
    TooManyRequests,
    /// The server is shutting down or overloaded (the queue or its streams are full);
    /// retry later, after `Retry-After`.
    Unavailable,
    /// Something failed inside the server; the server's log has the details.
    Internal,
    /// A code this client does not know yet.
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The offending field's path in the request (e.g. `params.steps`), if one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                field: None,
            },
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.error.field = Some(field.into());
        self
    }
}
