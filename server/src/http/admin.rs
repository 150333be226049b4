//! What the people who run Candor ask it: `GET /healthz` (the process is alive),
//! `GET /readyz` (it can serve: the store answers with this build's migrations, and it
//! is not shutting down) and `GET /metrics` (Prometheus's text format, on the admin
//! address only: see [`crate::metrics`]).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::metrics::{self, Moment};

/// `GET /healthz`: answers while the process runs, whatever else is wrong.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// `GET /readyz`: `200` when a request would be served; `503` with the reason while
/// shutting down, or while the store cannot be reached, cannot take writes, or lacks a
/// migration.
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::NotReady("shutting down".to_owned()));
    }
    if let Err(err) = state.store.check_ready().await {
        return Err(ApiError::NotReady(err.to_string()));
    }
    // Reads may work while writes cannot (SQLite's write lock held elsewhere, a full
    // volume): the last write says so.
    if let Some(why) = state.recorder.unavailable() {
        return Err(ApiError::NotReady(why.to_string()));
    }
    Ok(Json(json!({ "status": "ready" })))
}

/// `GET /metrics`: every series, with the gauges read now.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let queued = match state.store.queued_jobs().await {
        Ok(queued) => Some(queued),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: could not count the queue");
            None
        }
    };
    let text = metrics::render(&Moment {
        queued,
        running: state.runner.running().len(),
        streams_open: state.streams.open(),
        slowest_lag: state.bus.slowest_backlog(),
    });
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
