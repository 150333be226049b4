//! The page's one EventSource: subscribes to `/api/events` and feeds every event into the
//! jobs store.
//!
//! The browser's EventSource reconnects by itself after a dropped connection and sends
//! `Last-Event-ID`, so the server resumes exactly after the last event we saw. When the
//! browser gives up (the server answered with an error status), we open a new one after a
//! pause, from the last event id we applied.

use crate::event::EventId;
use crate::ui::{JobsStore, Liveness};

/// Subscribes to the event stream from `after` on (after hydration, in the browser only);
/// `liveness` hears of the connection's state, its heartbeats and every job's reports. On
/// the server nothing happens: the state stays `Connecting`.
pub(crate) fn use_job_stream(store: JobsStore, liveness: Liveness, after: EventId) {
    #[cfg(feature = "hydrate")]
    browser::subscribe(store, liveness, after);
    #[cfg(not(feature = "hydrate"))]
    let _ = (store, liveness, after);
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    use crate::event::{EventId, EventKind, Heartbeat, JobEvent};
    use crate::ui::{ConnectionState, JobsStore, Liveness};

    /// How long to wait before opening a new EventSource after the browser gave up.
    const REOPEN_AFTER: Duration = Duration::from_secs(3);

    /// One open EventSource and the callbacks it holds; closing it on drop.
    struct Connection {
        source: EventSource,
        _on_open: Closure<dyn FnMut(web_sys::Event)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
        _on_event: Vec<Closure<dyn FnMut(MessageEvent)>>,
        _on_heartbeat: Closure<dyn FnMut(MessageEvent)>,
    }

    impl Drop for Connection {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    struct Subscription {
        store: JobsStore,
        liveness: Liveness,
        /// The id of the last event applied: where a new connection resumes.
        last_seen: Cell<EventId>,
        connection: RefCell<Option<Connection>>,
        stopped: Cell<bool>,
    }

    pub(super) fn subscribe(store: JobsStore, liveness: Liveness, after: EventId) {
        let subscription = Rc::new(Subscription {
            store,
            liveness,
            last_seen: Cell::new(after),
            connection: RefCell::new(None),
            stopped: Cell::new(false),
        });
        open(&subscription);
        let on_unmount = SendWrapper::new(subscription);
        on_cleanup(move || {
            on_unmount.stopped.set(true);
            on_unmount.connection.borrow_mut().take();
        });
    }

    fn open(subscription: &Rc<Subscription>) {
        if subscription.stopped.get() {
            return;
        }
        let url = format!("/api/events?after={}", subscription.last_seen.get());
        let source = match EventSource::new(&url) {
            Ok(source) => source,
            Err(_) => {
                subscription.liveness.set_state(ConnectionState::Offline);
                reopen_later(subscription);
                return;
            }
        };
        subscription.liveness.set_state(ConnectionState::Connecting);

        let on_open = {
            let liveness = subscription.liveness;
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                liveness.set_state(ConnectionState::Live);
            })
        };
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));

        let on_error = {
            let weak = Rc::downgrade(subscription);
            let source = source.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                let Some(subscription) = weak.upgrade() else {
                    return;
                };
                if source.ready_state() == EventSource::CLOSED {
                    // The browser gave up on this one: start over ourselves. (The old
                    // connection is replaced from the timer, not dropped here: this
                    // callback belongs to it.)
                    subscription.liveness.set_state(ConnectionState::Offline);
                    reopen_later(&subscription);
                } else {
                    subscription
                        .liveness
                        .set_state(ConnectionState::Reconnecting);
                }
            })
        };
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let on_event = EventKind::ALL
            .into_iter()
            .map(|kind| {
                let weak = Rc::downgrade(subscription);
                let callback =
                    Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
                        if let Some(subscription) = weak.upgrade() {
                            receive(&subscription, kind, &message);
                        }
                    });
                // Adding a listener to a live EventSource cannot fail.
                let _ = source.add_event_listener_with_callback(
                    kind.as_str(),
                    callback.as_ref().unchecked_ref(),
                );
                callback
            })
            .collect();

        let on_heartbeat = {
            let liveness = subscription.liveness;
            Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
                let data = message.data().as_string().unwrap_or_default();
                match serde_json::from_str::<Heartbeat>(&data) {
                    Ok(beat) => liveness.heartbeat(&beat),
                    Err(err) => leptos::logging::warn!("could not read a heartbeat: {err}"),
                }
            })
        };
        let _ = source.add_event_listener_with_callback(
            Heartbeat::NAME,
            on_heartbeat.as_ref().unchecked_ref(),
        );

        *subscription.connection.borrow_mut() = Some(Connection {
            source,
            _on_open: on_open,
            _on_error: on_error,
            _on_event: on_event,
            _on_heartbeat: on_heartbeat,
        });
    }

    fn receive(subscription: &Subscription, kind: EventKind, message: &MessageEvent) {
        subscription.liveness.heard();
        let Ok(id) = message.last_event_id().parse::<EventId>() else {
            leptos::logging::warn!("event without a valid id: {}", message.last_event_id());
            return;
        };
        let Some(data) = message.data().as_string() else {
            return;
        };
        match JobEvent::decode(kind.as_str(), &data) {
            Ok(event) => {
                match &event {
                    JobEvent::StatusUpdate(update) => {
                        subscription.liveness.reported(update.job_id, update.at);
                    }
                    JobEvent::Log(log) => subscription.liveness.reported(log.job_id, log.at),
                    _ => {}
                }
                subscription.store.apply(id, &event);
                if id > subscription.last_seen.get() {
                    subscription.last_seen.set(id);
                }
            }
            Err(err) => leptos::logging::warn!("could not read a {kind} event: {err}"),
        }
    }

    fn reopen_later(subscription: &Rc<Subscription>) {
        let weak = SendWrapper::new(Rc::downgrade(subscription));
        set_timeout(
            move || {
                if let Some(subscription) = weak.upgrade() {
                    open(&subscription);
                }
            },
            REOPEN_AFTER,
        );
    }
}
