//! The Leptos app: server-rendered pages, hydrated in the browser, and the static files
//! that cargo-leptos builds (`/pkg/...`) and copies from `public/`. These are gzipped for
//! clients that accept it (the WASM bundle shrinks to about 40 %); the API, the streams
//! and downloads are not.

use std::sync::Arc;

use app::{App, ServerJobs, ServerKinds, shell};
use axum::Router;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;

use super::AppState;
use crate::owner::Owner;

/// The job list size the page renders with.
const PAGE_JOBS: u32 = 200;

pub(super) fn mount(api: Router<AppState>, state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let context = {
        let store = state.store.clone();
        let kinds = state.kinds.infos();
        move || {
            let store = store.clone();
            // `identify` put the caller in the request; the page shows only their jobs.
            let owner = use_context::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Owner>().cloned());
            provide_context(ServerKinds(kinds.clone()));
            provide_context(ServerJobs(Arc::new(move || {
                let store = store.clone();
                let owner = owner.clone();
                Box::pin(async move {
                    let Some(owner) = owner else {
                        return Err("the request carries no identity".to_owned());
                    };
                    store.jobs(&owner, PAGE_JOBS, None).await.map_err(|err| {
                        tracing::error!(error = %err, "could not load jobs for the page");
                        "the job store did not answer".to_owned()
                    })
                })
            })));
        }
    };
    let options = state.leptos.clone();
    let pages = Router::new()
        .leptos_routes_with_context(state, routes, context, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new());
    api.merge(pages)
}
