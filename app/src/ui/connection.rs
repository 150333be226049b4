//! The event stream's connection state, as the user sees it.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // set by the browser only
pub(crate) enum ConnectionState {
    /// Opening the stream (also what the server renders, before any script runs).
    Connecting,
    /// Events arrive as they happen.
    Live,
    /// The browser believes the connection open, but nothing (not even a heartbeat) has
    /// arrived for two heartbeats' time, and the server does not answer either.
    Stalled,
    /// The stream is held back on its way (a buffering proxy): heartbeats come late or
    /// not at all, while the REST API answers. The page polls it meanwhile.
    Delayed,
    /// The connection dropped; the browser is reconnecting and will resume where it was.
    Reconnecting,
    /// The server refused or is unreachable; retrying in a moment.
    Offline,
}

impl ConnectionState {
    fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting…",
            ConnectionState::Live => "live",
            ConnectionState::Stalled => "stalled: no word from the server",
            ConnectionState::Delayed => "delayed by a proxy",
            ConnectionState::Reconnecting => "reconnecting…",
            ConnectionState::Offline => "offline, retrying…",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Stalled => "stalled",
            ConnectionState::Delayed => "delayed",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Offline => "offline",
        }
    }
}

/// Where the README's advice for proxies is served.
pub const PROXY_ADVICE: &str = "/docs/behind-a-proxy";

/// Said plainly while a proxy holds the stream back, with the way out.
#[component]
pub(crate) fn ProxyWarning(#[prop(into)] state: Signal<ConnectionState>) -> impl IntoView {
    view! {
        <Show when=move || state.get() == ConnectionState::Delayed>
            <p class="proxy-warning" role="alert" data-testid="proxy-warning">
                "Live updates are being delayed by a proxy between you and Candor; "
                "checking every 5 s instead. "
                <a href=PROXY_ADVICE>"How to fix it"</a>
            </p>
        </Show>
    }
}

/// A badge that says whether the page is live.
#[component]
pub(crate) fn ConnectionBadge(#[prop(into)] state: Signal<ConnectionState>) -> impl IntoView {
    view! {
        <span
            class=move || format!("connection {}", state.get().class())
            data-testid="connection"
            data-state=move || state.get().class()
            role="status"
        >
            <span class="dot" aria-hidden="true"></span>
            {move || state.get().label()}
        </span>
    }
}
