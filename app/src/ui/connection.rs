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
    /// arrived for two heartbeats' time.
    Stalled,
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
            ConnectionState::Reconnecting => "reconnecting…",
            ConnectionState::Offline => "offline, retrying…",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Stalled => "stalled",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Offline => "offline",
        }
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
