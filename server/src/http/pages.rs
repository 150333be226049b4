//! The page (server-rendered, hydrated in the browser) and the static files that
//! cargo-leptos builds (`/pkg/...`) and copies from `public/`. These are gzipped for
//! clients that accept it (the WASM bundle shrinks to about 40 %); the API, the streams
//! and downloads are not.

use app::{PageData, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::routing::get;
use leptos::prelude::provide_context;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

use super::AppState;
use crate::owner::Owner;

/// The job list size the page renders with.
const PAGE_JOBS: u32 = 200;

pub(super) fn mount(api: Router<AppState>, state: &AppState) -> Router<AppState> {
    // The render spawns its tasks on tokio. (Set once per process; later calls change
    // nothing.)
    let _ = any_spawner::Executor::init_tokio();
    let files =
        ServeDir::new(&*state.leptos.site_root).not_found_service(get(not_found).with_state(()));
    let pages = Router::new()
        .route("/", get(home))
        .fallback_service(files)
        .layer(CompressionLayer::new());
    api.merge(pages)
}

/// `GET /`: reads the caller's jobs, then renders the page with them.
async fn home(State(state): State<AppState>, owner: Owner, request: Request) -> Response {
    let jobs = state
        .store
        .jobs(&owner, PAGE_JOBS, None)
        .await
        // No places in line: the page takes them from its stream's first note (the
        // browser does not read them from the page's data).
        .map_err(|err| {
            tracing::error!(error = %err, "could not load jobs for the page");
            "the job store did not answer; reload the page in a moment".to_owned()
        });
    let failed = jobs.is_err();
    let data = PageData {
        jobs,
        kinds: state.kinds.infos(),
        heartbeat_ms: u64::try_from(state.keep_alive.as_millis()).unwrap_or(u64::MAX),
    };
    let options = state.leptos.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || provide_context(data.clone()),
        move || shell(options.clone()),
    );
    let mut response = render(request).await;
    if failed {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}

/// Any other path that is not a file.
async fn not_found() -> (StatusCode, Html<&'static str>) {
    (
        StatusCode::NOT_FOUND,
        Html(concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>Not found · Candor</title>",
            "<link rel=\"stylesheet\" href=\"/pkg/candor.css\"></head>",
            "<body><main class=\"layout\"><p class=\"not-found\">Page not found. ",
            "<a href=\"/\">Your jobs</a></p></main></body></html>",
        )),
    )
}
