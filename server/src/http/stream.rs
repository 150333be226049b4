//! The event streams: `GET /api/events` (all of the caller's jobs) and
//! `GET /api/jobs/{id}/events` (one job), as Server-Sent Events; and `GET /api/streams`,
//! how many the caller holds open.
//!
//! Where a stream starts: after the `Last-Event-ID` header (a reconnecting EventSource
//! sends it), else after the `after` query parameter (a page that was rendered at event
//! N subscribes with `?after=N`), else from now on (`/api/events`) or from the job's
//! beginning (one job's stream). A one-job stream ends with the job's ending; asked
//! again after that, it answers `204 No Content`, which tells EventSource to stop.

use app::event::{EventId, OpenStreams};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::jobs::{job_id, owned_job};
use crate::events::{Filter, Heartbeats, Route, Subscription};
use crate::limits::{ClientAddress, StreamPermit};
use crate::owner::Owner;
use futures::StreamExt;

#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    after: Option<String>,
}

/// The cursor the client asked for, if any: `Last-Event-ID` wins over `?after=`.
fn resume_point(
    headers: &HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<EventId>, ApiError> {
    let invalid = |field: &str, reason: String| ApiError::InvalidRequest {
        field: field.to_owned(),
        message: format!("{field}: {reason}"),
    };
    // An empty value means "no cursor".
    let cursor = |field: &str, raw: &str| match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|e: app::event::InvalidEventId| invalid(field, e.to_string())),
    };
    if let Some(value) = headers.get("last-event-id") {
        let value = value
            .to_str()
            .map_err(|_| invalid("Last-Event-ID", "must be ASCII digits".to_owned()))?;
        if let Some(id) = cursor("Last-Event-ID", value)? {
            return Ok(Some(id));
        }
    }
    let Query(query) = query.map_err(|e| invalid("after", e.body_text()))?;
    query
        .after
        .as_deref()
        .map_or(Ok(None), |after| cursor("after", after))
}

/// Answers with the event stream of `filter` from `cursor` on; the stream holds
/// `permit` until it ends or its client goes away.
fn event_stream(
    state: &AppState,
    route: Route,
    filter: Filter,
    cursor: EventId,
    permit: StreamPermit,
) -> Response {
    // After the route was taken: a place that changes from here on is sent again.
    let notes = state.queue.note_for(&filter.owner, filter.job);
    let subscription = Subscription::new(
        state.store.clone(),
        route,
        filter,
        cursor,
        Heartbeats {
            every: state.keep_alive,
            silent_after: state.silent_after,
            pulses: state.bus.pulses().clone(),
        },
        notes,
        state.closing.clone(),
    );
    let frames = subscription.into_stream().map(move |frame| {
        let _held = &permit;
        frame
    });
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `GET /api/events`: every event of the caller's jobs.
pub(super) async fn all_events(
    State(state): State<AppState>,
    owner: Owner,
    address: ClientAddress,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let requested = resume_point(&headers, query)?;
    let permit = state.streams.acquire(&owner, address)?;
    // Take the route before reading the log: see `events::Subscription`.
    let route = state.bus.route(&owner, None);
    let head = state.store.last_event_id().await?;
    // A cursor from the future (a wiped data directory) resumes from now.
    let cursor = requested.map_or(head, |cursor| cursor.min(head));
    let filter = Filter { owner, job: None };
    Ok(event_stream(&state, route, filter, cursor, permit))
}

/// `GET /api/streams`: how many event streams the caller holds open.
pub(super) async fn open_streams(State(state): State<AppState>, owner: Owner) -> Json<OpenStreams> {
    let (open, max) = state.streams.of(&owner);
    Json(OpenStreams { open, max })
}

/// `GET /api/jobs/{id}/events`: one job's events, ending with its ending.
pub(super) async fn job_events(
    State(state): State<AppState>,
    owner: Owner,
    address: ClientAddress,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let requested = resume_point(&headers, query)?;
    let route = state.bus.route(&owner, Some(id));
    let job = owned_job(&state, &owner, id).await?;
    // A cursor from the future (a wiped data directory) resumes from now, as for
    // `/api/events`: otherwise every event of the job would be skipped as seen.
    let cursor = match requested {
        Some(requested) => requested.min(state.store.last_event_id().await?),
        None => EventId::default(),
    };
    if job.status.is_terminal() && cursor >= job.last_event_id {
        // The client has seen the ending: nothing will ever follow.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let permit = state.streams.acquire(&owner, address)?;
    let filter = Filter {
        owner,
        job: Some(id),
    };
    Ok(event_stream(&state, route, filter, cursor, permit))
}
