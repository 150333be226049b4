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
                // Not a live region: a busy job would talk over everything else.
                <ol class="log-lines" role="log">
                    {move || job.with(|j| {
                        j.log.iter().map(|line| view! { <li>{line.clone()}</li> }).collect_view()
                    })}
                </ol>
            </details>
        </Show>
    }
}
