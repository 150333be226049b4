//! A job's live log: its newest lines, folded away until someone opens it.

use leptos::prelude::*;

use super::folded;
use crate::job::Job;

#[component]
pub(crate) fn JobLog(job: RwSignal<Job>) -> impl IntoView {
    // How many lines the job has logged: the one thing here that progress (five times a
    // second, on two hundred cards) is compared against.
    let logged = Memo::new(move |_| job.with(|j| j.log_skipped + j.log.len() as u64));
    // Each line keyed by its place in the whole log: a new line adds one item and the
    // oldest kept one leaves.
    let lines = Memo::new(move |_| {
        logged.track();
        job.with_untracked(|j| {
            (j.log_skipped..)
                .zip(j.log.iter().cloned())
                .collect::<Vec<(u64, String)>>()
        })
    });
    // Not from `lines`: a folded log copies no lines.
    let summary = move || {
        let kept = job.with_untracked(|j| j.log.len() as u64);
        match logged.get() {
            1 => "Log: 1 line".to_owned(),
            all if all == kept => format!("Log: {all} lines"),
            all => format!("Log: the last {kept} of {all} lines"),
        }
    };
    let node = NodeRef::new();
    let open = folded::open_state(node);
    view! {
        <Show when=move || { logged.get() > 0 }>
            <details class="log" data-testid="log" node_ref=node on:toggle=folded::follow(node, open, job.with_untracked(|j| j.id))>
                <summary>{summary}</summary>
                // Scrolled to the newest line, and kept there as lines come (see the CSS);
                // focusable, so that it scrolls from the keyboard too. Not a live region: a
                // busy job would talk over everything else.
                <div class="log-box" role="log" tabindex="0" aria-label="Log lines, newest last">
                    <Show when=move || open.get()>
                        <ol class="log-lines">
                            <For
                                each=move || lines.get()
                                key=|(place, _)| *place
                                children=|(_, line)| view! { <li>{line}</li> }
                            />
                        </ol>
                    </Show>
                </div>
            </details>
        </Show>
    }
}
