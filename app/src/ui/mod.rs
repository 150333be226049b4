//! The user interface: one page that lists the caller's jobs and starts new ones.
//!
//! - `home`: the page; loads the job list (on the server for the first paint) and
//!   subscribes to the event stream.
//! - `store`: the one reactive store of jobs that the stream feeds and components read.
//! - `job_form`, `job_card`, `connection`: the page's parts.
//! - `clock`, `format`: a ticking "now" and human formatting of times and durations.

mod clock;
mod connection;
mod format;
mod home;
mod job_card;
mod job_form;
mod store;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

pub(crate) use connection::ConnectionState;
#[cfg(feature = "ssr")]
pub use home::{ServerJobs, ServerKinds};
pub(crate) use store::JobsStore;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/candor.css" />
        <Title text="Candor" />
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // Async: the first paint waits for the job list, so the page shows every
                // job's real state before any WASM has loaded.
                <Route path=StaticSegment("") view=home::HomePage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
