//! The API's errors: one enum, one JSON shape, the right status code for each.

use app::error::{ErrorBody, ErrorCode};
use app::job::FieldError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

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
    #[error("internal error: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn job_not_found() -> Self {
        ApiError::NotFound("no such job".to_owned())
    }

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
            ApiError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new(ErrorCode::Unavailable, message),
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
        if matches!(self, ApiError::ShuttingDown) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
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
