//! The REST endpoints for jobs.

use app::event::{Cancelled, JobEvent};
use app::job::{Job, JobId, JobList, JobStatus};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::request::{parse_job_request, require_json};
use crate::owner::Owner;
use crate::store::Recorded;

/// The largest job request body accepted (params are a handful of numbers).
pub(super) const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The most jobs one list returns.
const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 100;

/// Parses a job id from the path; a malformed id is as unknown as a missing job.
pub(super) fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse().map_err(|_| ApiError::job_not_found())
}

/// One of the owner's jobs: `404` if there is none (or it is someone else's), `410` if
/// its retention removed it.
pub(super) async fn owned_job(state: &AppState, owner: &Owner, id: JobId) -> Result<Job, ApiError> {
    if let Some(job) = state.store.job(owner, id).await? {
        return Ok(job);
    }
    if state.store.was_removed(owner, id).await? {
        Err(ApiError::Gone)
    } else {
        Err(ApiError::job_not_found())
    }
}

/// Answers `202 Accepted` with the new job and its `Location`.
fn accepted(job: Job) -> Result<Response, ApiError> {
    let location =
        HeaderValue::from_str(&job.links.self_).map_err(|_| ApiError::job_not_found())?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response())
}

/// `POST /api/jobs`: validates, stores the job as queued, answers `202 Accepted` at once.
pub(super) async fn create(
    State(state): State<AppState>,
    owner: Owner,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    require_json(&headers)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: MAX_REQUEST_BYTES,
        },
        _ => ApiError::MalformedJson(rejection.body_text()),
    })?;
    let spec = parse_job_request(&body)?;
    let job = state.recorder.create_job(&owner, &spec, None).await?;
    state.runner.wake();
    tracing::info!(job_id = %job.id, kind = %spec.kind(), "accepted");
    accepted(job)
}

/// `POST /api/jobs/{id}/retry`: starts a new job with a failed or cancelled job's kind
/// and params, linked to it by `retryOf`.
pub(super) async fn retry(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    let old = owned_job(&state, &owner, job_id(&id)?).await?;
    if !matches!(old.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(ApiError::Conflict(format!(
            "only a failed or cancelled job can be retried; this one is {}",
            old.status
        )));
    }
    let job = state
        .recorder
        .create_job(&owner, &old.spec, Some(old.id))
        .await?;
    state.runner.wake();
    tracing::info!(job_id = %job.id, retry_of = %old.id, "accepted a retry");
    accepted(job)
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<String>,
}

/// `GET /api/jobs?limit=N`: the caller's jobs, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    owner: Owner,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let invalid_limit = || ApiError::InvalidRequest {
        field: "limit".to_owned(),
        message: format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
    };
    let Query(query) = query.map_err(|_| invalid_limit())?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(invalid_limit)?,
    };
    Ok(Json(state.store.jobs(&owner, limit).await?))
}

/// `GET /api/jobs/{id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    owned_job(&state, &owner, job_id(&id)?).await.map(Json)
}

/// `POST /api/jobs/{id}/cancel`: ends a queued or running job as cancelled, at once.
/// Its code is told to stop; the job's record says `cancelled` from this moment on.
pub(super) async fn cancel(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let job = owned_job(&state, &owner, id).await?;
    let ended = || ApiError::Conflict(format!("the job has already ended ({})", job.status));
    if job.status.is_terminal() {
        return Err(ended());
    }
    let event = JobEvent::Cancelled(Cancelled {
        job_id: id,
        step: job.step.clone(),
        at: Utc::now(),
    });
    match state.recorder.record(&event).await? {
        Recorded::Stored(_) => state.runner.cancel(id),
        // It ended between our read and our write.
        Recorded::Refused(_) => {
            let now = state.store.job(&owner, id).await?;
            let status = now.map_or(job.status, |j| j.status);
            return Err(ApiError::Conflict(format!(
                "the job has already ended ({status})"
            )));
        }
    }
    tracing::info!(job_id = %id, "cancelled");
    let job = state
        .store
        .job(&owner, id)
        .await?
        .ok_or_else(ApiError::job_not_found)?;
    Ok(Json(job))
}
