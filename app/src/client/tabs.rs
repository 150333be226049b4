//! Tabs of one browser share one event stream.
//!
//! Browsers allow six HTTP/1.1 connections per origin; an EventSource holds one for as
//! long as the tab is open. So the tabs elect a leader with the Web Locks API: the tab
//! that holds the lock `candor-event-stream` opens the EventSource and relays what it
//! hears to the others over a `BroadcastChannel`; the others only listen. When the leader
//! closes, the browser hands the lock to a waiting tab, which opens the stream from the
//! last event it applied: nothing is missed.
//!
//! Where the Web Locks API is missing (an insecure context: plain HTTP other than
//! localhost), each tab keeps a stream of its own.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::state::ConnectionState;

const LOCK: &str = "candor-event-stream";
const CHANNEL: &str = "candor-events";

/// What the leader tells the other tabs, and what they ask it. Externally tagged (serde's
/// default): an internally tagged enum would buffer every message before reading it, and
/// add that machinery to the bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Relay {
    /// A tab that follows says so: when it opens (and the leader tells it how the stream
    /// is), and when a new leader asks.
    Hello,
    /// A tab took the lead: the others say `Hello`.
    Lead,
    /// The stream's connection state changed (or a new tab asked).
    State { state: ConnectionState },
    /// One event of the stream, as received: its name, `id:` and `data:`.
    Event {
        kind: String,
        id: String,
        data: String,
    },
    /// A note not in the log (a heartbeat, where queued jobs stand): its name and `data:`.
    Note { name: String, data: String },
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (not in web-sys' stable API).
    type LockManager;

    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> js_sys::Promise;
}

/// The page's lock manager, where the browser offers one.
fn lock_manager() -> Option<LockManager> {
    let navigator = web_sys::window()?.navigator();
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

/// Whether this tab can share a stream with the others at all.
pub(super) fn can_share() -> bool {
    lock_manager().is_some()
}

/// Asks for the stream's lock. `granted(true)` runs once this tab holds it (at once, or
/// when the leader goes), and the tab holds it until it closes. With `wait == false`,
/// `granted(false)` runs at once instead if another tab holds it.
pub(super) fn request_lead(wait: bool, granted: impl FnOnce(bool) + 'static) {
    let Some(locks) = lock_manager() else {
        granted(true);
        return;
    };
    let mut granted = Some(granted);
    let callback = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        let held = !lock.is_null();
        if let Some(granted) = granted.take() {
            granted(held);
        }
        if held {
            // Held for good: a promise that never settles.
            js_sys::Promise::new(&mut |_, _| {}).into()
        } else {
            JsValue::UNDEFINED
        }
    });
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &JsValue::from_str("ifAvailable"),
        &JsValue::from_bool(!wait),
    );
    let _ = locks.request_with_options(LOCK, &options, callback.as_ref().unchecked_ref());
    // The browser calls it once, maybe much later (when the leader closes).
    callback.forget();
}

/// This tab's end of the channel between the tabs.
pub(super) struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// Joins the channel; `heard` gets every message from the other tabs.
    pub(super) fn join(mut heard: impl FnMut(Relay) + 'static) -> Option<Self> {
        let channel = BroadcastChannel::new(CHANNEL).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let Some(text) = message.data().as_string() else {
                return;
            };
            match serde_json::from_str(&text) {
                Ok(relay) => heard(relay),
                Err(err) => leptos::logging::warn!("could not read a message from a tab: {err}"),
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Self {
            channel,
            _on_message: on_message,
        })
    }

    /// Tells the other tabs (never this one).
    pub(super) fn tell(&self, relay: &Relay) {
        if let Ok(text) = serde_json::to_string(relay) {
            let _ = self.channel.post_message(&JsValue::from_str(&text));
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
