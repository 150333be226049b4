//! An ended job's steps, and what took how long.

use leptos::prelude::*;

use super::{folded, format};
use crate::job::Job;

#[component]
pub(crate) fn Timeline(job: RwSignal<Job>) -> impl IntoView {
    let spans = Memo::new(move |_| job.with(format::timeline));
    let summary = move || match spans.with(Vec::len) {
        1 => "Timeline: 1 step".to_owned(),
        n => format!("Timeline: {n} steps"),
    };
    let node = NodeRef::new();
    let open = folded::open_state(node);
    view! {
        <Show when=move || spans.with(|spans| !spans.is_empty())>
            <details class="timeline" data-testid="timeline" node_ref=node on:toggle=folded::follow(node, open, job.with_untracked(|j| j.id))>
                <summary>{summary}</summary>
                <Show when=move || open.get()>
                <ol class="timeline-steps">
                    {move || spans.with(|spans| {
                        let longest = spans
                            .iter()
                            .map(|span| span.took.num_milliseconds())
                            .max()
                            .unwrap_or(0)
                            .max(1);
                        spans
                            .iter()
                            .map(|span| {
                                let width = span.took.num_milliseconds().max(0) * 100 / longest;
                                view! {
                                    <li>
                                        <span class="timeline-step">{span.step.clone()}</span>
                                        <span class="timeline-took">{format::duration(span.took)}</span>
                                        <span class="timeline-bar" aria-hidden="true">
                                            <span style:width=format!("{width}%")></span>
                                        </span>
                                    </li>
                                }
                            })
                            .collect_view()
                    })}
                </ol>
                </Show>
            </details>
        </Show>
    }
}
