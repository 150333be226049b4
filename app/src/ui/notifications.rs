//! Desktop notifications when a job ends while the page is out of sight. Off until the
//! person turns them on with a click: only then does the browser ask for permission.

use leptos::prelude::*;

use crate::state::JobsStore;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the browser says which
pub(crate) enum Notifications {
    /// Not known yet (the server's render, before the browser says).
    Unknown,
    /// This browser has no notifications.
    Unsupported,
    Off,
    On,
    /// The person (or the browser) refused permission for this site.
    Blocked,
}

/// Where the choice is remembered between visits.
#[cfg(feature = "hydrate")]
const REMEMBERED: &str = "candor.notifications";

/// The notifications' state, and what shows them: each announcement of an ended job (see
/// [`JobsStore::announcement`]) made while the page is hidden and notifications are on.
pub(crate) fn use_notifications(store: JobsStore) -> RwSignal<Notifications> {
    let state = RwSignal::new(Notifications::Unknown);
    #[cfg(feature = "hydrate")]
    {
        // What the browser allows is read once the page is hydrated: the server rendered
        // the button without knowing, and hydration must meet that same button.
        Effect::new(move |_| state.set(browser::initial()));
        let announcement = store.announcement();
        Effect::new(move |_| {
            let message = announcement.get();
            if !message.is_empty()
                && state.get_untracked() == Notifications::On
                && store.is_hidden()
            {
                browser::show(&message);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = store;
    state
}

/// The button that turns them on (asking the browser) and off.
#[component]
pub(crate) fn NotificationsButton(state: RwSignal<Notifications>) -> impl IntoView {
    let label = move || match state.get() {
        Notifications::On => "Notifications on",
        Notifications::Blocked => "Notifications blocked",
        _ => "Notify me when jobs end",
    };
    view! {
        <Show when=move || state.get() != Notifications::Unsupported>
            <button
                type="button"
                class="pill notify"
                data-testid="notifications"
                aria-pressed=move || (state.get() == Notifications::On).to_string()
                disabled=move || state.get() == Notifications::Blocked
                title=move || match state.get() {
                    Notifications::Blocked => "This browser blocks notifications from this site; its site settings can allow them.",
                    _ => "A desktop notification when a job completes or fails while this page is in the background.",
                }
                on:click=move |_| toggle(state)
            >
                {label}
            </button>
        </Show>
    }
}

fn toggle(state: RwSignal<Notifications>) {
    #[cfg(feature = "hydrate")]
    browser::toggle(state);
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::JsValue;
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    use super::{Notifications, REMEMBERED};

    fn supported() -> bool {
        js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false)
    }

    fn remember(on: bool) {
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(REMEMBERED, if on { "on" } else { "off" });
        }
    }

    fn remembered_on() -> bool {
        window()
            .local_storage()
            .ok()
            .flatten()
            .and_then(|storage| storage.get_item(REMEMBERED).ok().flatten())
            .is_some_and(|value| value == "on")
    }

    pub(super) fn initial() -> Notifications {
        if !supported() {
            return Notifications::Unsupported;
        }
        match Notification::permission() {
            NotificationPermission::Denied => Notifications::Blocked,
            NotificationPermission::Granted if remembered_on() => Notifications::On,
            _ => Notifications::Off,
        }
    }

    pub(super) fn toggle(state: RwSignal<Notifications>) {
        match state.get_untracked() {
            Notifications::On => {
                remember(false);
                state.set(Notifications::Off);
            }
            Notifications::Off | Notifications::Unknown => {
                if Notification::permission() == NotificationPermission::Granted {
                    remember(true);
                    state.set(Notifications::On);
                    return;
                }
                let Ok(asked) = Notification::request_permission() else {
                    state.set(Notifications::Blocked);
                    return;
                };
                leptos::task::spawn_local(async move {
                    let answer = wasm_bindgen_futures::JsFuture::from(asked).await;
                    let granted =
                        answer.ok().and_then(|a| a.as_string()).as_deref() == Some("granted");
                    remember(granted);
                    state.set(if granted {
                        Notifications::On
                    } else if Notification::permission() == NotificationPermission::Denied {
                        Notifications::Blocked
                    } else {
                        Notifications::Off
                    });
                });
            }
            Notifications::Blocked | Notifications::Unsupported => {}
        }
    }

    pub(super) fn show(message: &str) {
        let options = NotificationOptions::new();
        options.set_body(message);
        if let Err(err) = Notification::new_with_options("Candor", &options) {
            leptos::logging::warn!("could not show a notification: {err:?}");
        }
    }
}
