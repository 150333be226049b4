//! Which jobs the list shows (all, running, failed, completed), with a count of each,
//! and the tab's title, which counts the running jobs and flags a failure that happened
//! while the tab was out of sight.

use leptos::prelude::*;

use super::store::{Counts, JobsStore};
use crate::job::JobStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    /// Not ended yet: queued or running.
    Running,
    Failed,
    Completed,
}

impl Filter {
    const ALL: [Filter; 4] = [
        Filter::All,
        Filter::Running,
        Filter::Failed,
        Filter::Completed,
    ];

    pub(crate) fn keeps(self, status: JobStatus) -> bool {
        match self {
            Filter::All => true,
            Filter::Running => !status.is_terminal(),
            Filter::Failed => status == JobStatus::Failed,
            Filter::Completed => status == JobStatus::Completed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Filter::All => "All",
            Filter::Running => "Running",
            Filter::Failed => "Failed",
            Filter::Completed => "Completed",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Running => "running",
            Filter::Failed => "failed",
            Filter::Completed => "completed",
        }
    }

    fn count(self, counts: Counts) -> usize {
        match self {
            Filter::All => counts.all,
            Filter::Running => counts.running,
            Filter::Failed => counts.failed,
            Filter::Completed => counts.completed,
        }
    }

    /// What the list says when this filter leaves nothing to show.
    pub(crate) fn none_left(self) -> &'static str {
        match self {
            Filter::All => "No jobs yet. Start one with the form.",
            Filter::Running => "Nothing is running.",
            Filter::Failed => "No failed jobs.",
            Filter::Completed => "No completed jobs yet.",
        }
    }
}

/// One toggle button per filter, each with its count; the chosen one is pressed.
#[component]
pub(crate) fn Filters(filter: RwSignal<Filter>, store: JobsStore) -> impl IntoView {
    view! {
        <div class="filters" role="group" aria-label="Show jobs">
            {Filter::ALL
                .into_iter()
                .map(|choice| {
                    view! {
                        <button
                            type="button"
                            class="pill filter"
                            data-testid=format!("filter-{}", choice.key())
                            aria-pressed=move || (filter.get() == choice).to_string()
                            on:click=move |_| filter.set(choice)
                        >
                            {choice.label()}
                            " "
                            <span class="count">{move || choice.count(store.counts())}</span>
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

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

    #[test]
    fn running_means_not_ended() {
        use JobStatus::*;
        let kept: Vec<_> = [Queued, Running, Completed, Failed, Cancelled]
            .into_iter()
            .filter(|s| Filter::Running.keeps(*s))
            .collect();
        assert_eq!(kept, [Queued, Running]);
        assert!(Filter::All.keeps(Cancelled));
        assert!(!Filter::Failed.keeps(Cancelled) && !Filter::Completed.keeps(Cancelled));
    }
}
