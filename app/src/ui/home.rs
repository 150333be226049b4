//! The home page: the form to start a job and the live list of jobs.

use leptos::prelude::*;

use super::clock::use_clock;
use super::connection::ConnectionBadge;
use super::job_card::JobCard;
use super::job_form::NewJobForm;
use super::store::JobsStore;
use crate::client::use_job_stream;
use crate::job::JobList;

/// Provided by the server for each page render: loads the caller's job list straight
/// from the store (no HTTP round trip to itself).
#[cfg(feature = "ssr")]
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct ServerJobs(
    pub  std::sync::Arc<
        dyn Fn() -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<JobList, String>> + Send>,
            > + Send
            + Sync,
    >,
);

/// Loads the job list: from the store during the server render, over the REST API in
/// the browser (only needed when the page was not server-rendered with it).
fn load_jobs() -> impl std::future::Future<Output = Result<JobList, String>> + Send {
    #[cfg(feature = "ssr")]
    {
        let source = use_context::<ServerJobs>();
        async move {
            match source {
                Some(ServerJobs(load)) => load().await,
                None => Err("the server provided no job source".to_owned()),
            }
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let list = crate::client::list_jobs();
        async move { list.await.map_err(|failure| failure.message()) }
    }
}

#[component]
pub(crate) fn HomePage() -> AnyView {
    let jobs = Resource::new(|| (), |_| load_jobs());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading jobs…"</p> }>
            {move || Suspend::new(async move {
                match jobs.await {
                    Ok(list) => view! { <Dashboard list /> }.into_any(),
                    Err(reason) => view! {
                        <p class="load-error" role="alert">"Could not load your jobs: " {reason}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn Dashboard(list: JobList) -> AnyView {
    let after = list.last_event_id;
    let store = JobsStore::new(list);
    let connection = use_job_stream(store, after);
    let now = use_clock();
    let announcement = store.announcement();

    view! {
        <header class="top">
            <h1>"Candor"</h1>
            <p class="tagline">"Background jobs, reported honestly."</p>
            <ConnectionBadge state=connection />
        </header>
        <main class="layout">
            <NewJobForm store />
            <section class="jobs" aria-labelledby="jobs-heading">
                <h2 id="jobs-heading">"Jobs"</h2>
                <Show
                    when=move || !store.ids().is_empty()
                    fallback=|| view! { <p class="empty">"No jobs yet. Start one with the form."</p> }
                >
                    <ul class="job-list" data-testid="job-list">
                        <For
                            each=move || store.ids()
                            key=|id| *id
                            children=move |id| {
                                store.get(id).map(|job| view! { <JobCard job now store /> })
                            }
                        />
                    </ul>
                </Show>
            </section>
        </main>
        <div class="sr-only" aria-live="polite" data-testid="announcer">
            {move || announcement.get()}
        </div>
    }
    .into_any()
}
