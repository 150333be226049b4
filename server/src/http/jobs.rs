//! The REST endpoints for jobs.

use app::job::{Job, JobId, JobList, JobSpec};
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::multipart::{FormRequest, read_job_form};
use super::request::{BodyBounds, BodyType, body_type, parse_job_request};
use crate::jobs::Submission;
use crate::limits::ClientAddress;
use crate::owner::Owner;

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

/// `POST /api/jobs`: checks the request (JSON, or a form with a file), stores the job as
/// queued, answers `202 Accepted` at once.
pub(super) async fn create(
    State(state): State<AppState>,
    owner: Owner,
    address: ClientAddress,
    request: Request,
) -> Result<Response, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    state.creation_rate.check(&owner)?;
    state.addresses.start_job(address)?;
    let (spec, title, uploads) = match body_type(request.headers())? {
        BodyType::Json => {
            let (spec, title) = read_json_request(&state, request).await?;
            (spec, title, Vec::new())
        }
        BodyType::Form => {
            let form = read_form_request(&state, &owner, request).await?;
            (form.spec, form.title, form.uploads)
        }
    };
    let job = state
        .runner
        .submit(Submission {
            owner: &owner,
            spec: &spec,
            title: &title,
            retry_of: None,
            uploads: &uploads,
            admission: state.admission(),
        })
        .await?;
    tracing::info!(job_id = %job.id, kind = %spec.kind, "accepted");
    accepted(job)
}

/// A JSON job request, read within the request size limit and checked.
async fn read_json_request(
    state: &AppState,
    request: Request,
) -> Result<(JobSpec, String), ApiError> {
    let bounds = BodyBounds {
        max_bytes: state.limits.request_max_bytes as u64,
        idle: state.limits.body_idle_timeout,
    };
    let body = Limited::new(request.into_body(), state.limits.request_max_bytes)
        .collect()
        .await
        .map_err(|err| {
            bounds.refusal(err.as_ref()).unwrap_or_else(|| {
                ApiError::MalformedJson(format!("the body could not be read: {err}"))
            })
        })?
        .to_bytes();
    parse_job_request(&body, &state.kinds)
}

/// A form job request with its files stored. The whole body, however it is framed, is
/// bounded by the largest file plus the text around it; an oversized one is refused
/// before any of it is read when its size is declared.
async fn read_form_request(
    state: &AppState,
    owner: &Owner,
    request: Request,
) -> Result<FormRequest, ApiError> {
    let bounds = BodyBounds {
        max_bytes: state.upload_max_bytes + state.limits.request_max_bytes as u64,
        idle: state.limits.body_idle_timeout,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > bounds.max_bytes) {
        return Err(ApiError::FileTooLarge {
            field: "params".to_owned(),
            max: state.upload_max_bytes,
        });
    }
    let request = request.map(|body| {
        Body::new(Limited::new(
            body,
            usize::try_from(bounds.max_bytes).unwrap_or(usize::MAX),
        ))
    });
    let form = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::MalformedForm(e.body_text()))?;
    read_job_form(state, owner, form, bounds).await
}

/// `POST /api/jobs/{id}/retry`: starts a new job with a failed or cancelled job's kind
/// and params, linked to it by `retryOf`.
pub(super) async fn retry(
    State(state): State<AppState>,
    owner: Owner,
    address: ClientAddress,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    let old = owned_job(&state, &owner, job_id(&id)?).await?;
    state.creation_rate.check(&owner)?;
    state.addresses.start_job(address)?;
    let job = state.runner.retry(&owner, &old, state.admission()).await?;
    accepted(job)
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<String>,
    before: Option<String>,
}

/// `GET /api/jobs?limit=N&before=ID`: the caller's jobs, newest first (older than job `ID`,
/// if given), with how many they have in each state.
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
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let invalid = || ApiError::InvalidRequest {
                field: "before".to_owned(),
                message: "before: must be the id of one of your jobs".to_owned(),
            };
            let id = raw.parse::<JobId>().map_err(|_| invalid())?;
            // Unknown, someone else's, or removed: say so rather than answer an empty page.
            state.store.job(&owner, id).await?.ok_or_else(invalid)?;
            Some(id)
        }
    };
    let list = state.store.jobs(&owner, limit, before).await?;
    Ok(Json(state.placed_list(list)))
}

/// `GET /api/jobs/{id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = owned_job(&state, &owner, job_id(&id)?).await?;
    Ok(Json(state.placed(job)))
}

/// `POST /api/jobs/{id}/cancel`: ends a queued or running job as cancelled, at once.
/// Its code is told to stop; the job's record says `cancelled` from this moment on.
pub(super) async fn cancel(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = owned_job(&state, &owner, job_id(&id)?).await?;
    Ok(Json(state.runner.cancel_job(&job).await?))
}
