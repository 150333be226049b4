//! The HTTP surface: REST for jobs, the two event streams, downloads, and the pages.
//!
//! - `jobs`: `POST/GET /api/jobs`, `GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`,
//!   `POST /api/jobs/{id}/retry`.
//! - `kinds`: `GET /api/kinds`, the kinds this server runs and their parameters.
//! - `multipart`: reading a `multipart/form-data` job request (with a file).
//! - `stream`: `GET /api/events` and `GET /api/jobs/{id}/events` (Server-Sent Events).
//! - `downloads`: `GET /downloads/{id}/{file}`.
//! - `identify`: who each request is from (session cookie or API token), and the
//!   cross-site request check.
//! - `hosts`: the names Candor answers to (a request for another host gets `421`).
//! - `pages`: the Leptos app (server-rendered, then hydrated) and its static files.
//! - `request`: reading a job request body into a typed, validated spec.
//! - [`error`]: every error answers as JSON: `{"error": {"code", "message", "field"}}`.
//! - `docs`: `GET /docs/behind-a-proxy`, the README's advice the page links to when a
//!   proxy holds its stream back.
//! - `admin`: `GET /healthz` and `GET /readyz` (here and on the admin address), and
//!   `GET /metrics` (on the admin address only: [`admin_router`]).
//!
//! Every response carries an `x-request-id` (the client's own, or a new UUID), and the
//! request's log lines carry it too.

mod admin;
mod docs;
mod downloads;
pub mod error;
mod hosts;
mod identify;
mod jobs;
mod kinds;
mod multipart;
mod pages;
pub mod request;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use app::job::{Job, JobList, JobStatus};
use app::paths;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::artifacts::Artifacts;
use crate::config::Limits;
use crate::events::{Bus, Recorder};
use crate::identity::Identities;
use crate::jobs::queue::QueuePlaces;
use crate::jobs::{Kinds, Runner};
use crate::limits::{ClientAddresses, CreationRate, StreamPermits};
use crate::store::{Admission, Store};
use crate::uploads::Uploads;
pub use hosts::AllowedHosts;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub recorder: Recorder,
    pub bus: Bus,
    pub runner: Arc<Runner>,
    pub artifacts: Artifacts,
    pub kinds: Kinds,
    pub uploads: Uploads,
    pub upload_max_bytes: u64,
    /// How often streams get a heartbeat, and after how long a job counts as silent.
    pub keep_alive: Duration,
    pub silent_after: Duration,
    pub identities: Identities,
    /// Always mark the session cookie `Secure`.
    pub secure_cookies: bool,
    /// Origins besides the site's own whose pages may change state.
    pub allowed_origins: Arc<[String]>,
    /// The hosts requests may name (see `hosts`).
    pub allowed_hosts: AllowedHosts,
    pub limits: Limits,
    pub creation_rate: CreationRate,
    /// What one client address may do, and which address a request came from.
    pub addresses: ClientAddresses,
    pub streams: StreamPermits,
    /// Where queued jobs stand, as last reckoned.
    pub queue: QueuePlaces,
    /// Cancelled when the server starts shutting down: no new jobs are accepted.
    pub draining: CancellationToken,
    /// Cancelled when the server stops: open streams end so clients reconnect elsewhere.
    pub closing: CancellationToken,
    pub leptos: LeptosOptions,
}

impl AppState {
    /// `job` with its place in line, if it is queued and has one.
    pub fn placed(&self, mut job: Job) -> Job {
        if job.status == JobStatus::Queued {
            job.queue = self.queue.of(job.id);
        }
        job
    }

    /// `list`'s jobs with their places in line.
    pub fn placed_list(&self, mut list: JobList) -> JobList {
        list.jobs = list.jobs.into_iter().map(|job| self.placed(job)).collect();
        list
    }

    /// The limits a new job is admitted under.
    pub fn admission(&self) -> Admission {
        Admission {
            max_queued: self.limits.queue_max,
            max_in_flight_per_owner: self.limits.owner_max_in_flight,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// All of Candor's routes.
pub fn router(state: AppState) -> Router {
    let allowed_hosts = state.allowed_hosts.clone();
    let api = Router::new()
        .route(
            paths::JOBS,
            // `create` limits JSON bodies and uploads itself (they differ by far).
            get(jobs::list)
                .post(jobs::create)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(paths::KINDS, get(kinds::list))
        .route(paths::JOB, get(jobs::get))
        .route(paths::JOB_CANCEL, post(jobs::cancel))
        .route(paths::JOB_RETRY, post(jobs::retry))
        .route(paths::JOB_EVENTS, get(stream::job_events))
        .route(paths::EVENTS, get(stream::all_events))
        .route(paths::STREAMS, get(stream::open_streams))
        .route("/api/{*rest}", axum::routing::any(error::no_such_endpoint))
        .route(paths::DOWNLOAD, get(downloads::download))
        .method_not_allowed_fallback(error::method_not_allowed);
    let health = Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route(app::PROXY_ADVICE, get(docs::behind_a_proxy))
        .with_state(state.clone());
    let addresses = state.addresses.clone();
    let app = pages::mount(api, &state)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identify::identify,
        ))
        .layer(axum::middleware::from_fn_with_state(
            addresses,
            ClientAddresses::resolve,
        ))
        .with_state(state)
        // Asked by load balancers and orchestrators, without any identity.
        .merge(health)
        .layer(axum::middleware::from_fn_with_state(
            allowed_hosts,
            hosts::check_host,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ));
    traced(app)
}

/// The admin address's routes: the metrics and the health checks.
pub fn admin_router(state: AppState) -> Router {
    traced(
        Router::new()
            .route("/metrics", get(admin::metrics))
            .route("/healthz", get(admin::healthz))
            .route("/readyz", get(admin::readyz))
            .with_state(state),
    )
}

/// Logs each request in a span that carries its id, and answers with that id.
fn traced(router: Router) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                    )
                })
                // One line per answered request: its status and how long it took.
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
