//! The browser's one EventSource: subscribes to `/api/events` and feeds every event into
//! the jobs store.
//!
//! The browser's EventSource reconnects by itself after a dropped connection and sends
//! `Last-Event-ID`, so the server resumes exactly after the last event we saw. When the
//! browser gives up (the server answered with an error status), we open a new one after a
//! pause, from the last event id we applied: a random pause, up to a ceiling that doubles
//! with each failure in a row (1 s, 2 s, … 30 s), so that after a restart the browsers
//! of a crowd come back spread out, not in the same instant. If the API then says the
//! page's identity is gone (`401`), the page reloads to get a new one.
//!
//! One tab of the browser holds the stream and relays it to the others (see `tabs`);
//! every tab applies the same events the same way.

use crate::event::EventId;
use crate::state::{JobsStore, Liveness};

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

    use super::super::api::ApiFailure;
    use super::super::list_jobs;
    use super::super::tabs::{self, Channel, Relay};
    use crate::error::ErrorCode;
    use crate::event::{EventId, EventKind, Heartbeat, JobEvent, QueueNote};
    use crate::paths;
    use crate::state::{ConnectionState, JobsStore, Liveness};

    /// The ceiling of the first pause (ms) before opening a new EventSource after the
    /// browser gave up; it doubles with each failure in a row, up to [`REOPEN_CEILING_MS`].
    const REOPEN_FIRST_MS: u32 = 1000;
    const REOPEN_CEILING_MS: u32 = 30_000;

    /// Events wait for the next frame, but not longer than this.
    const FLUSH_AT_LATEST: Duration = Duration::from_millis(100);

    /// One open EventSource and the callbacks it holds; closing it on drop.
    struct Connection {
        source: EventSource,
        _on_open: Closure<dyn FnMut(web_sys::Event)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
        _on_event: Vec<Closure<dyn FnMut(MessageEvent)>>,
        _on_note: Closure<dyn FnMut(MessageEvent)>,
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
        /// This tab's stream, while it leads.
        connection: RefCell<Option<Connection>>,
        /// The channel to the other tabs, when the browser shares one stream.
        channel: RefCell<Option<Channel>>,
        leading: Cell<bool>,
        /// Times in a row the stream could not be opened (0 once one opens).
        failures: Cell<u32>,
        /// Whether other tabs listen (one said `Hello`): only then are events relayed.
        followed: Cell<bool>,
        stopped: Cell<bool>,
        /// Events received but not applied yet: they are applied together, once per frame.
        pending: RefCell<Vec<(EventId, JobEvent)>>,
        flush_scheduled: Cell<bool>,
    }

    pub(super) fn subscribe(store: JobsStore, liveness: Liveness, after: EventId) {
        let subscription = Rc::new(Subscription {
            store,
            liveness,
            last_seen: Cell::new(after),
            connection: RefCell::new(None),
            channel: RefCell::new(None),
            leading: Cell::new(false),
            failures: Cell::new(0),
            followed: Cell::new(false),
            stopped: Cell::new(false),
            pending: RefCell::new(Vec::new()),
            flush_scheduled: Cell::new(false),
        });
        if tabs::can_share() {
            share(&subscription);
        } else {
            lead(&subscription);
        }
        let on_unmount = SendWrapper::new(subscription);
        on_cleanup(move || {
            on_unmount.stopped.set(true);
            on_unmount.connection.borrow_mut().take();
            on_unmount.channel.borrow_mut().take();
        });
    }

    /// Joins the other tabs: leads if no tab does, else follows the leader (and takes
    /// over when it goes).
    fn share(subscription: &Rc<Subscription>) {
        let weak = Rc::downgrade(subscription);
        let channel = Channel::join(move |relay| {
            if let Some(subscription) = weak.upgrade() {
                heard_from_tab(&subscription, relay);
            }
        });
        let Some(channel) = channel else {
            lead(subscription);
            return;
        };
        *subscription.channel.borrow_mut() = Some(channel);
        let weak = SendWrapper::new(Rc::downgrade(subscription));
        tabs::request_lead(false, move |held| {
            let Some(subscription) = weak.upgrade() else {
                return;
            };
            if held {
                lead(&subscription);
            } else {
                follow(&subscription);
            }
        });
    }

    /// Another tab leads: ask it how the stream is, catch up on what happened since
    /// this page was rendered, and wait for the lead.
    fn follow(subscription: &Rc<Subscription>) {
        tell_tabs(subscription, &Relay::Hello);
        ask_the_api(subscription, false);
        let weak = SendWrapper::new(Rc::downgrade(subscription));
        tabs::request_lead(true, move |_| {
            if let Some(subscription) = weak.upgrade() {
                lead(&subscription);
            }
        });
    }

    /// This tab holds the stream (and relays it, if other tabs listen).
    fn lead(subscription: &Rc<Subscription>) {
        subscription.leading.set(true);
        // Tabs that followed the last leader say so.
        tell_tabs(subscription, &Relay::Lead);
        open(subscription);
    }

    fn heard_from_tab(subscription: &Rc<Subscription>, relay: Relay) {
        if subscription.leading.get() {
            // A tab follows: tell it how the stream is, and relay from now on.
            if let Relay::Hello = relay {
                subscription.followed.set(true);
                let state = subscription.liveness.state();
                tell_tabs(subscription, &Relay::State { state });
            }
            return;
        }
        match relay {
            Relay::Hello => {}
            Relay::Lead => tell_tabs(subscription, &Relay::Hello),
            Relay::State { state } => subscription.liveness.set_state(state),
            Relay::Event { kind, id, data } => match kind.parse::<EventKind>() {
                Ok(kind) => receive(subscription, kind, &id, &data),
                Err(err) => leptos::logging::warn!("a tab relayed an unknown event: {err}"),
            },
            Relay::Note { name, data } => note(subscription, &name, &data),
        }
    }

    fn tell_tabs(subscription: &Subscription, relay: &Relay) {
        if let Some(channel) = subscription.channel.borrow().as_ref() {
            channel.tell(relay);
        }
    }

    /// Sets the connection's state here and in the tabs that follow.
    fn set_state(subscription: &Subscription, state: ConnectionState) {
        subscription.liveness.set_state(state);
        tell_tabs(subscription, &Relay::State { state });
    }

    /// Opens the EventSource and wires its callbacks (open, each kind of event, error).
    /// (Long for its callbacks, each a closure the browser holds; splitting them apart
    /// would only pass the same handles around.)
    fn open(subscription: &Rc<Subscription>) {
        if subscription.stopped.get() {
            return;
        }
        let url = paths::events_after(subscription.last_seen.get());
        let source = match EventSource::new(&url) {
            Ok(source) => source,
            Err(_) => {
                set_state(subscription, ConnectionState::Offline);
                reopen_later(subscription);
                return;
            }
        };
        set_state(subscription, ConnectionState::Connecting);

        let on_open = {
            let weak = Rc::downgrade(subscription);
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if let Some(subscription) = weak.upgrade() {
                    subscription.failures.set(0);
                    set_state(&subscription, ConnectionState::Live);
                }
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
                    set_state(&subscription, ConnectionState::Offline);
                    reopen_later(&subscription);
                } else {
                    set_state(&subscription, ConnectionState::Reconnecting);
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
                        let Some(subscription) = weak.upgrade() else {
                            return;
                        };
                        let id = message.last_event_id();
                        let data = message.data().as_string().unwrap_or_default();
                        receive(&subscription, kind, &id, &data);
                        if subscription.followed.get() {
                            tell_tabs(
                                &subscription,
                                &Relay::Event {
                                    kind: kind.as_str().to_owned(),
                                    id,
                                    data,
                                },
                            );
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

        // Heartbeats and queue notes: not in the log, no id.
        let on_note = {
            let weak = Rc::downgrade(subscription);
            Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
                let Some(subscription) = weak.upgrade() else {
                    return;
                };
                let name = message.type_();
                let data = message.data().as_string().unwrap_or_default();
                note(&subscription, &name, &data);
                if subscription.followed.get() {
                    tell_tabs(&subscription, &Relay::Note { name, data });
                }
            })
        };
        for name in [Heartbeat::NAME, QueueNote::NAME] {
            let _ = source.add_event_listener_with_callback(name, on_note.as_ref().unchecked_ref());
        }

        *subscription.connection.borrow_mut() = Some(Connection {
            source,
            _on_open: on_open,
            _on_error: on_error,
            _on_event: on_event,
            _on_note: on_note,
        });
    }

    /// A heartbeat, or where the queued jobs stand.
    fn note(subscription: &Subscription, name: &str, data: &str) {
        if name == QueueNote::NAME {
            match serde_json::from_str::<QueueNote>(data) {
                Ok(note) => subscription.store.place(&note),
                Err(err) => leptos::logging::warn!("could not read a queue note: {err}"),
            }
            return;
        }
        match serde_json::from_str::<Heartbeat>(data) {
            Ok(beat) => subscription.liveness.heartbeat(&beat),
            Err(err) => leptos::logging::warn!("could not read a heartbeat: {err}"),
        }
    }

    /// Takes one event of the stream (this tab's, or relayed by the leader).
    fn receive(subscription: &Rc<Subscription>, kind: EventKind, id: &str, data: &str) {
        subscription.liveness.heard();
        let Ok(id) = id.parse::<EventId>() else {
            leptos::logging::warn!("event without a valid id: {id}");
            return;
        };
        match JobEvent::decode(kind.as_str(), data) {
            Ok(event) => {
                match &event {
                    JobEvent::StatusUpdate(update) => {
                        subscription.liveness.reported(update.job_id, update.at);
                    }
                    JobEvent::Log(log) => subscription.liveness.reported(log.job_id, log.at),
                    ended if ended.is_terminal() => subscription.liveness.ended(ended.job_id()),
                    _ => {}
                }
                if id > subscription.last_seen.get() {
                    subscription.last_seen.set(id);
                }
                deliver(subscription, id, event);
            }
            Err(err) => leptos::logging::warn!("could not read a {kind} event: {err}"),
        }
    }

    /// Applies the event with the others of its frame: when 200 jobs report at once, the
    /// page renders once, not 200 times. A page out of sight has no frames: it applies
    /// at once (its title and notifications still follow).
    fn deliver(subscription: &Rc<Subscription>, id: EventId, event: JobEvent) {
        subscription.pending.borrow_mut().push((id, event));
        if subscription.store.is_hidden() {
            flush(subscription);
            return;
        }
        if subscription.flush_scheduled.replace(true) {
            return;
        }
        request_animation_frame(later(subscription, |s| flush(s)));
        // Should the page go out of sight before its next frame.
        set_timeout(later(subscription, |s| flush(s)), FLUSH_AT_LATEST);
    }

    fn flush(subscription: &Subscription) {
        subscription.flush_scheduled.set(false);
        let events = std::mem::take(&mut *subscription.pending.borrow_mut());
        if !events.is_empty() {
            subscription.store.apply_all(events);
        }
    }

    /// Opens the stream again after a pause with full jitter: random, up to a ceiling
    /// that doubles with each failure in a row. Before it opens, the API is asked
    /// whether this page's identity still holds.
    fn reopen_later(subscription: &Rc<Subscription>) {
        let failures = subscription
            .failures
            .replace(subscription.failures.get() + 1);
        let ceiling = (REOPEN_FIRST_MS << failures.min(5)).min(REOPEN_CEILING_MS);
        let pause = (f64::from(ceiling) * js_sys::Math::random()) as u64;
        set_timeout(
            later(subscription, reopen_if_known),
            Duration::from_millis(pause),
        );
    }

    fn reopen_if_known(subscription: &Rc<Subscription>) {
        ask_the_api(subscription, true);
    }

    /// Lists the jobs: a page whose identity is gone (`401`) reloads to get a new one.
    /// A tab that starts to follow catches up from the list: events relayed before it
    /// joined are not repeated, and the list says where every job is now (the store
    /// keeps whichever record is newer). A stream to re-open is opened then.
    fn ask_the_api(subscription: &Rc<Subscription>, reopen: bool) {
        let weak = SendWrapper::new(Rc::downgrade(subscription));
        leptos::task::spawn_local(async move {
            let listed = list_jobs().await;
            let Some(subscription) = weak.upgrade() else {
                return;
            };
            match listed {
                Err(ApiFailure::Api(body)) if body.error.code == ErrorCode::Unauthenticated => {
                    let _ = window().location().reload();
                    return;
                }
                Ok(list) if !reopen => {
                    for job in list.jobs {
                        subscription.store.upsert(job);
                    }
                    if list.last_event_id > subscription.last_seen.get() {
                        subscription.last_seen.set(list.last_event_id);
                    }
                }
                _ => {}
            }
            if reopen {
                open(&subscription);
            }
        });
    }

    /// A callback for a timer or a frame: `then`, if the subscription is still there.
    fn later(
        subscription: &Rc<Subscription>,
        then: fn(&Rc<Subscription>),
    ) -> impl FnOnce() + 'static {
        let weak = SendWrapper::new(Rc::downgrade(subscription));
        move || {
            if let Some(subscription) = weak.upgrade() {
                then(&subscription);
            }
        }
    }
}
