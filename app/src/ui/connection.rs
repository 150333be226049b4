//! The event stream's connection state, as the user sees it: a badge, and a warning with
//! advice when a proxy holds the stream back.

use leptos::prelude::*;

use crate::state::ConnectionState;

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
