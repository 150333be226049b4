//! Which jobs the list shows (all, running, failed, completed), with a count of each.

use leptos::prelude::*;

use crate::job::JobStatus;
use crate::state::{Counts, JobsStore};

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

#[cfg(test)]
mod tests {
    use super::*;

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
