//! A job's live log: its newest lines, folded away until someone opens it.

use leptos::prelude::*;

use crate::job::Job;

#[component]
pub(crate) fn JobLog(job: RwSignal<Job>) -> impl IntoView {
    // Each line keyed by its place in the whole log: a new line adds one item and the
    // oldest kept one leaves, whatever else changes in the job (progress five times a
    // second, on two hundred cards) renders nothing here.
    let lines = Memo::new(move |_| {
        job.with(|j| {
            (j.log_skipped..)
                .zip(j.log.iter().cloned())
                .collect::<Vec<(u64, String)>>()
        })
    });
    let summary = Memo::new(move |_| {
        job.with(|j| match (j.log.len(), j.log_skipped) {
            (1, 0) => "Log: 1 line".to_owned(),
            (n, 0) => format!("Log: {n} lines"),
            (n, skipped) => format!("Log: the last {n} of {} lines", n as u64 + skipped),
        })
    });
    view! {
        <Show when=move || lines.with(|lines| !lines.is_empty())>
            <details class="log" data-testid="log">
                <summary>{move || summary.get()}</summary>
                // Scrolled to the newest line, and kept there as lines come (see the CSS);
                // focusable, so that it scrolls from the keyboard too. Not a live region: a
                // busy job would talk over everything else.
                <div class="log-box" role="log" tabindex="0" aria-label="Log lines, newest last">
                    <ol class="log-lines">
                        <For
                            each=move || lines.get()
                            key=|(place, _)| *place
                            children=|(_, line)| view! { <li>{line}</li> }
                        />
                    </ol>
                </div>
            </details>
        </Show>
    }
}
