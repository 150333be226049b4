//! `GET /downloads/{id}/{file}`: a completed job's result file.
//!
//! Only the exact file a completed job links to is served, so no path from the request
//! ever reaches the file system unchecked.

use app::job::JobStatus;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::AppState;
use super::error::ApiError;
use super::jobs::{job_id, owned_job};
use crate::artifacts::Artifacts;
use crate::owner::Owner;

pub(super) async fn download(
    State(state): State<AppState>,
    owner: Owner,
    Path((id, file)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such file".to_owned());
    let id = job_id(&id).map_err(|_| not_found())?;
    let job = match owned_job(&state, &owner, id).await {
        Err(ApiError::NotFound(_)) => return Err(not_found()),
        other => other?,
    };
    let expected = Artifacts::url(id, &file);
    if job.status != JobStatus::Completed || job.result_url.as_deref() != Some(expected.as_str()) {
        return Err(not_found());
    }
    let path = state.artifacts.file(id, &file);
    let mut response = match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    };
    if response.status().is_success() {
        let headers = response.headers_mut();
        let short_id: String = id.to_string().chars().take(8).collect();
        // orders.csv.gz downloads as candor-orders-1a2b3c4d.csv.gz.
        let (stem, extension) = file.split_once('.').unwrap_or((file.as_str(), ""));
        let disposition = format!("attachment; filename=\"candor-{stem}-{short_id}.{extension}\"");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        // The owner's own result: no cache between them and Candor (a CDN, a proxy)
        // may keep it. (`nosniff` is on every response already.)
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        if extension == "csv" {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
        }
    } else if response.status() == axum::http::StatusCode::NOT_FOUND {
        // The job says it has a file, but the file is gone from the disk.
        tracing::error!(job_id = %id, path = %path.display(), "a completed job's file is missing");
        return Err(not_found());
    }
    Ok(response)
}
