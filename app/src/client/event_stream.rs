//! The page's one EventSource: subscribes to `/api/events` and feeds every event into the
//! jobs store.
//!
//! The browser's EventSource reconnects by itself after a dropped connection and sends
//! `Last-Event-ID`, so the server resumes exactly after the last event we saw. When the
//! browser gives up (the server answered with an error status), we open a new one after a
//! pause, from the last event id we applied.

use leptos::prelude::*;

use crate::event::EventId;
use crate::ui::{ConnectionState, JobsStore};

/// Subscribes to the event stream from `after` on (after hydration, in the browser only)
/// and returns the connection's state. On the server the state stays `Connecting`.
pub(crate) fn use_job_stream(store: JobsStore, after: EventId) -> ReadSignal<ConnectionState> {
    let (state, set_state) = signal(ConnectionState::Connecting);
    #[cfg(feature = "hydrate")]
    browser::subscribe(store, after, set_state);
    #[cfg(not(feature = "hydrate"))]
    let _ = (store, after, set_state);
    state
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

    use crate::event::{EventId, EventKind, JobEvent};
    use crate::ui::{ConnectionState, JobsStore};

    /// How long to wait before opening a new EventSource after the browser gave up.
    const REOPEN_AFTER: Duration = Duration::from_secs(3);

    /// One open EventSource and the callbacks it holds; closing it on drop.
    struct Connection {
        source: EventSource,
        _on_open: Closure<dyn FnMut(web_sys::Event)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
        _on_event: Vec<Closure<dyn FnMut(MessageEvent)>>,
    }

    impl Drop for Connection {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    struct Subscription {
        store: JobsStore,
        set_state: WriteSignal<ConnectionState>,
        /// The id of the last event applied: where a new connection resumes.
        last_seen: Cell<EventId>,
        connection: RefCell<Option<Connection>>,
        stopped: Cell<bool>,
    }

    pub(super) fn subscribe(
        store: JobsStore,
        after: EventId,
        set_state: WriteSignal<ConnectionState>,
    ) {
        let subscription = Rc::new(Subscription {
            store,
            set_state,
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
                subscription.set_state.set(ConnectionState::Offline);
                reopen_later(subscription);
                return;
            }
        };
        subscription.set_state.set(ConnectionState::Connecting);

        let on_open = {
            let set_state = subscription.set_state;
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                set_state.set(ConnectionState::Live);
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
                    subscription.set_state.set(ConnectionState::Offline);
                    reopen_later(&subscription);
                } else {
                    subscription.set_state.set(ConnectionState::Reconnecting);
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

        *subscription.connection.borrow_mut() = Some(Connection {
            source,
            _on_open: on_open,
            _on_error: on_error,
            _on_event: on_event,
        });
    }

    fn receive(subscription: &Subscription, kind: EventKind, message: &MessageEvent) {
        let Ok(id) = message.last_event_id().parse::<EventId>() else {
            leptos::logging::warn!("event without a valid id: {}", message.last_event_id());
            return;
        };
        let Some(data) = message.data().as_string() else {
            return;
        };
        match JobEvent::decode(kind.as_str(), &data) {
            Ok(event) => {
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
