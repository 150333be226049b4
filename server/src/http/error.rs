//! The API's errors: one enum, one JSON shape, the right status code for each.

use app::error::{ErrorBody, ErrorCode};
use app::job::FieldError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::identity::IdentityError;
use crate::jobs::ActionError;
use crate::limits::rate::RateExceeded;
use crate::limits::{AddressLimited, StreamRefusal};
use crate::store::{Refusal, StoreError, Unavailable};

/// How long to wait before trying again after a full queue or too many jobs in flight:
/// jobs take seconds to minutes, so a few seconds is a fair first wait.
const RETRY_BUSY_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error(
        "the body must be JSON (Content-Type: application/json), or a form with a file \
         (multipart/form-data)"
    )]
    UnsupportedMediaType,
    #[error("the body is larger than the {limit} bytes this endpoint accepts")]
    PayloadTooLarge { limit: usize },
    #[error("the request body stopped arriving: nothing came for {}s", after.as_secs())]
    BodyStalled { after: std::time::Duration },
    #[error("{field}: the file is larger than the {max} bytes allowed")]
    FileTooLarge { field: String, max: u64 },
    #[error("{field}: files of type '{content_type}' are not accepted here (accepted: {accepted})")]
    UnsupportedFileType {
        field: String,
        content_type: String,
        accepted: String,
    },
    #[error("the form could not be read: {0}")]
    MalformedForm(String),
    #[error("this endpoint does not answer to that method")]
    MethodNotAllowed,
    #[error("unknown job kind '{kind}'; the kinds are: {known}")]
    UnknownKind { kind: String, known: String },
    #[error("{0}")]
    InvalidField(FieldError),
    #[error("{message}")]
    InvalidRequest { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("the job ended long ago and was removed when its retention ran out")]
    Gone,
    #[error("{0}")]
    Conflict(String),
    #[error("the server is shutting down; try again in a moment")]
    ShuttingDown,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// The request names a host this server does not answer to (`421`).
    #[error("{0}")]
    MisdirectedRequest(String),
    #[error("{0}")]
    NotAdmitted(Refusal),
    #[error("{0}")]
    RateLimited(RateExceeded),
    #[error("{0}")]
    TooManyStreams(StreamRefusal),
    #[error("{0}")]
    AddressLimited(AddressLimited),
    #[error("the database is unavailable ({0}); try again in a moment")]
    DatabaseUnavailable(Unavailable),
    /// The readiness check failed (`GET /readyz`).
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("internal error: {0}")]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Refused(refusal) => ApiError::NotAdmitted(refusal),
            other => match other.unavailable() {
                Some(why) => {
                    tracing::warn!(error = %other, "the database is unavailable");
                    ApiError::DatabaseUnavailable(why)
                }
                None => ApiError::Store(other),
            },
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(err: ActionError) -> Self {
        match err {
            ActionError::Store(err) => err.into(),
            ActionError::Gone => ApiError::Gone,
            refused => ApiError::Conflict(refused.to_string()),
        }
    }
}

impl From<StreamRefusal> for ApiError {
    fn from(refusal: StreamRefusal) -> Self {
        ApiError::TooManyStreams(refusal)
    }
}

impl From<AddressLimited> for ApiError {
    fn from(limited: AddressLimited) -> Self {
        ApiError::AddressLimited(limited)
    }
}

impl From<RateExceeded> for ApiError {
    fn from(exceeded: RateExceeded) -> Self {
        ApiError::RateLimited(exceeded)
    }
}

impl From<IdentityError> for ApiError {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Store(err) => err.into(),
            other => ApiError::Unauthenticated(other.to_string()),
        }
    }
}

impl ApiError {
    /// A request without any identity.
    pub fn no_identity() -> Self {
        ApiError::Unauthenticated(
            "no identity: open Candor's page once to get a session cookie, or send \
             'Authorization: Bearer <token>' (make a token with `candor token create`)"
                .to_owned(),
        )
    }

    /// Seconds a client should wait before asking again, for the errors that have one.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::ShuttingDown
            | ApiError::DatabaseUnavailable(_)
            | ApiError::NotReady(_)
            | ApiError::NotAdmitted(Refusal::QueueFull { .. } | Refusal::OwnerBusy { .. })
            | ApiError::TooManyStreams(_) => Some(RETRY_BUSY_SECS),
            ApiError::RateLimited(exceeded) => Some(exceeded.retry_after_secs()),
            ApiError::AddressLimited(limited) => Some(limited.retry_after_secs()),
            _ => None,
        }
    }

    pub fn job_not_found() -> Self {
        ApiError::NotFound("no such job".to_owned())
    }

    /// Each error's status and body. One flat table, an arm per error, on purpose: the
    /// whole contract of failures reads in one place (so it is longer than a function
    /// should be).
    fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let message = self.to_string();
        match self {
            ApiError::MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                ErrorBody::new(ErrorCode::MalformedJson, message),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorBody::new(ErrorCode::UnsupportedMediaType, message),
            ),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new(ErrorCode::PayloadTooLarge, message),
            ),
            ApiError::BodyStalled { .. } => (
                StatusCode::REQUEST_TIMEOUT,
                ErrorBody::new(ErrorCode::RequestTimeout, message).with_field("body"),
            ),
            ApiError::FileTooLarge { field, .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new(ErrorCode::PayloadTooLarge, message).with_field(field.clone()),
            ),
            ApiError::UnsupportedFileType { field, .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorBody::new(ErrorCode::UnsupportedMediaType, message).with_field(field.clone()),
            ),
            ApiError::MalformedForm(_) => (
                StatusCode::BAD_REQUEST,
                ErrorBody::new(ErrorCode::InvalidRequest, message).with_field("body"),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorBody::new(ErrorCode::MethodNotAllowed, message),
            ),
            ApiError::UnknownKind { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody::new(ErrorCode::UnknownKind, message).with_field("kind"),
            ),
            ApiError::InvalidField(err) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody::new(
                    ErrorCode::InvalidField,
                    format!("{}: {}", err.field, err.message),
                )
                .with_field(err.field.clone()),
            ),
            ApiError::InvalidRequest { field, .. } => (
                StatusCode::BAD_REQUEST,
                ErrorBody::new(ErrorCode::InvalidRequest, message).with_field(field.clone()),
            ),
            ApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                ErrorBody::new(ErrorCode::NotFound, message),
            ),
            ApiError::Gone => (StatusCode::GONE, ErrorBody::new(ErrorCode::Gone, message)),
            ApiError::Conflict(_) => (
                StatusCode::CONFLICT,
                ErrorBody::new(ErrorCode::Conflict, message),
            ),
            ApiError::ShuttingDown | ApiError::NotReady(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new(ErrorCode::Unavailable, message),
            ),
            ApiError::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                ErrorBody::new(ErrorCode::Unauthenticated, message),
            ),
            ApiError::MisdirectedRequest(_) => (
                StatusCode::MISDIRECTED_REQUEST,
                ErrorBody::new(ErrorCode::Forbidden, message),
            ),
            ApiError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                ErrorBody::new(ErrorCode::Forbidden, message),
            ),
            ApiError::NotAdmitted(Refusal::AlreadyRetried { .. }) => (
                StatusCode::CONFLICT,
                ErrorBody::new(ErrorCode::Conflict, message),
            ),
            ApiError::NotAdmitted(Refusal::QueueFull { .. })
            | ApiError::DatabaseUnavailable(_)
            | ApiError::TooManyStreams(StreamRefusal::ServerFull { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new(ErrorCode::Unavailable, message),
            ),
            ApiError::NotAdmitted(Refusal::OwnerBusy { .. })
            | ApiError::RateLimited(_)
            | ApiError::AddressLimited(_)
            | ApiError::TooManyStreams(
                StreamRefusal::OwnerFull { .. } | StreamRefusal::AddressFull { .. },
            ) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorBody::new(ErrorCode::TooManyRequests, message),
            ),
            ApiError::Store(_) | ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(
                    ErrorCode::Internal,
                    "internal error; the server's log has the details",
                ),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if matches!(self, ApiError::Store(_) | ApiError::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let ApiError::Unauthenticated(_) = self {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"candor\""),
            );
        }
        if let ApiError::TooManyStreams(_) = self {
            // A client opening stream after stream must not keep a connection per try.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A known path asked with a method it does not serve.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Any `/api/...` path that is not an endpoint: a JSON 404, not the app's HTML page.
pub(super) async fn no_such_endpoint() -> ApiError {
    ApiError::NotFound("no such API endpoint".to_owned())
}
