//! A "now" that ticks once a second in the browser, for elapsed times.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// The current time, updated every second after hydration (fixed at render on the server).
pub(crate) fn use_clock() -> ReadSignal<DateTime<Utc>> {
    let (now, set_now) = signal(Utc::now());
    #[cfg(feature = "hydrate")]
    if let Ok(handle) = set_interval_with_handle(
        move || set_now.set(Utc::now()),
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_now;
    now
}
