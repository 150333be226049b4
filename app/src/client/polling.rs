//! While the event stream is held back (see [`crate::state::Liveness`]), the page asks the
//! REST API for its jobs every few seconds and applies what it hears, so that every job
//! still reaches its true state; once the stream is on time again, polling stops.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::state::{JobsStore, Liveness};

/// Polls `GET /api/jobs` while `liveness` says the stream is held back, on the ticks of
/// the page's clock `now` (in the browser; nothing on the server).
pub(crate) fn poll_while_held_back(
    store: JobsStore,
    liveness: Liveness,
    now: ReadSignal<DateTime<Utc>>,
) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let now = now.get();
        if !liveness.poll_due(now) {
            return;
        }
        liveness.polling(now);
        leptos::task::spawn_local(async move {
            match super::list_jobs().await {
                Ok(list) => {
                    for job in list.jobs {
                        store.upsert(job);
                    }
                    liveness.polled(true);
                }
                Err(_) => liveness.polled(false),
            }
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (store, liveness, now);
}
