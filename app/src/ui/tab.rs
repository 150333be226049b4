//! The browser tab: its title, which counts the running jobs and flags a failure that
//! happened while the tab was out of sight, and whether it is in sight at all.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

use crate::state::{Counts, JobsStore};

/// The tab's title: "⚠ 1 failed · 3 running · Candor", parts present only when they
/// apply; the failures are the ones the tab has not been in sight for.
pub(crate) fn page_title(counts: Counts, unseen_failures: usize) -> String {
    let mut parts = Vec::with_capacity(3);
    if unseen_failures > 0 {
        parts.push(format!("⚠ {unseen_failures} failed"));
    }
    if counts.running > 0 {
        parts.push(format!("{} running", counts.running));
    }
    parts.push("Candor".to_owned());
    parts.join(" · ")
}

/// Keeps the tab's title on what the store counts (in the browser; the server writes the
/// first one into the page's head).
pub(crate) fn keep_title(store: JobsStore) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        document().set_title(&page_title(store.counts(), store.unseen_failures()));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = store;
}

/// Keeps the store told whether the page is in sight (in the browser only).
pub(crate) fn watch_visibility(store: JobsStore) {
    #[cfg(feature = "hydrate")]
    {
        store.set_hidden(document().hidden());
        let handle = window_event_listener(leptos::ev::visibilitychange, move |_| {
            store.set_hidden(document().hidden());
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = store;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_counts_running_jobs_and_unseen_failures() {
        let counts = |running| Counts {
            all: 9,
            running,
            failed: 2,
            completed: 3,
        };
        assert_eq!(page_title(counts(0), 0), "Candor");
        assert_eq!(page_title(counts(3), 0), "3 running · Candor");
        assert_eq!(page_title(counts(3), 1), "⚠ 1 failed · 3 running · Candor");
        assert_eq!(page_title(counts(0), 2), "⚠ 2 failed · Candor");
    }
}
