//! "Show older jobs": the page lists the newest jobs first and the rest a page at a time,
//! so a long history stays quick to render.

use leptos::prelude::*;

use crate::client::older_jobs;
use crate::state::JobsStore;

#[component]
pub(crate) fn OlderJobs(store: JobsStore) -> impl IntoView {
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let load = move |_| {
        let Some(oldest) = store.oldest() else {
            return;
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match older_jobs(oldest).await {
                Ok(page) => {
                    failure.set(None);
                    store.add_older(page);
                }
                Err(err) => failure.set(Some(err.message())),
            }
            busy.set(false);
        });
    };
    view! {
        <Show when=move || store.has_more()>
            <div class="older">
                <button
                    type="button"
                    class="button"
                    data-testid="older-jobs"
                    on:click=load
                    disabled=move || busy.get()
                >
                    {move || if busy.get() { "Loading older jobs…" } else { "Show older jobs" }}
                </button>
                {move || failure.get().map(|message| view! { <span class="action-error" role="alert">{message}</span> })}
            </div>
        </Show>
    }
}
