//! A job's live log: its newest lines, folded away until someone opens it.

use leptos::prelude::*;

use crate::job::{Job, LOG_TAIL};

#[component]
pub(crate) fn JobLog(job: RwSignal<Job>) -> impl IntoView {
    let count = Memo::new(move |_| job.with(|j| j.log.len()));
    let summary = move || match count.get() {
        1 => "Log: 1 line".to_owned(),
        n if n >= LOG_TAIL => format!("Log: the last {n} lines"),
        n => format!("Log: {n} lines"),
    };
    view! {
        <Show when=move || { count.get() > 0 }>
            <details class="log" data-testid="log">
                <summary>{summary}</summary>
                // Scrolled to the newest line, and kept there as lines come (see the CSS);
                // focusable, so that it scrolls from the keyboard too. Not a live region: a
                // busy job would talk over everything else.
                <div class="log-box" role="log" tabindex="0" aria-label="Log lines, newest last">
                    <ol class="log-lines">
                        {move || job.with(|j| {
                            j.log.iter().map(|line| view! { <li>{line.clone()}</li> }).collect_view()
                        })}
                    </ol>
                </div>
            </details>
        </Show>
    }
}
