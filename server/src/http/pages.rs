//! The Leptos app: server-rendered pages, hydrated in the browser, and the static files
//! that cargo-leptos builds (`/pkg/...`) and copies from `public/`.

use std::sync::Arc;

use app::{App, ServerJobs, shell};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};

use super::AppState;
use crate::owner::Owner;

/// The job list size the page renders with.
const PAGE_JOBS: u32 = 200;

pub(super) fn mount(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let context = {
        let store = state.store.clone();
        move || {
            let store = store.clone();
            provide_context(ServerJobs(Arc::new(move || {
                let store = store.clone();
                Box::pin(async move {
                    store.jobs(&Owner::local(), PAGE_JOBS).await.map_err(|err| {
                        tracing::error!(error = %err, "could not load jobs for the page");
                        "the job store did not answer".to_owned()
                    })
                })
            })));
        }
    };
    let options = state.leptos.clone();
    router
        .leptos_routes_with_context(state, routes, context, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
