//! The user interface: one page that lists the caller's jobs and starts new ones.
//!
//! - `home`: the page: the data the server rendered it with, and the dashboard that
//!   subscribes to the event stream.
//! - `notifications`: desktop notifications of ended jobs, on request.
//! - `job_form`, `job_card` (with its `job_log` and `timeline`, folded until opened:
//!   `folded`), `connection`,
//!   `filters`, `older_jobs`: the page's parts.
//! - `tab`: the tab's title, and whether the tab is in sight.
//! - `clock`, `format`: a ticking "now" and human formatting of times and durations.

mod clock;
mod connection;
mod filters;
mod folded;
mod format;
mod home;
mod job_card;
mod job_form;
mod job_log;
mod notifications;
mod older_jobs;
mod tab;
mod timeline;

use leptos::prelude::*;

use crate::state::{Counts, PAGE_DATA_ID, PageData};

pub use connection::PROXY_ADVICE;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    let data = use_context::<PageData>();
    // The tab's first title; the page keeps it current (`tab::keep_title`).
    let title = match &data {
        Some(PageData { jobs: Ok(list), .. }) => tab::page_title(Counts::from(list.counts), 0),
        _ => "Candor".to_owned(),
    };
    // Data, not a script: the browser does not run it, so it needs no nonce.
    let data = data.map(|data| {
        view! { <script type="application/json" id=PAGE_DATA_ID inner_html=data.to_script_text()></script> }
    });
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
                // As raw text: a text child would get a hydration marker (`<!>`), which
                // a title shows as it is. Counts and fixed words only, nothing to escape.
                <title inner_html=title></title>
                // `id="leptos"`: where `cargo leptos watch` swaps in a changed stylesheet.
                <link rel="stylesheet" id="leptos" href="/pkg/candor.css" />
                {data}
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy: scripts only from this origin, or inline with this
/// render's nonce (the loader that starts hydration); WebAssembly may compile; styles only
/// from this origin, except style attributes (the progress bars' widths); requests only to
/// this origin; no plugins, no framing, no `<base>`.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    // `cargo leptos watch` reloads the page over a WebSocket of its own.
    let reload = if std::env::var("LEPTOS_WATCH").is_ok() {
        " ws: wss:"
    } else {
        ""
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The page. One page, so no router: the server renders it at `/` with the job list it
/// read first (`server/src/http/pages.rs`), so the page shows every job's real state
/// before any WASM has loaded.
#[component]
pub fn App() -> impl IntoView {
    view! { <home::HomePage /> }
}
