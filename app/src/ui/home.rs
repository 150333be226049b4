//! The home page: the form to start a job and the live list of jobs.

use leptos::prelude::*;
use leptos_meta::Title;

use super::clock::use_clock;
use super::connection::ConnectionBadge;
use super::filters::{Filter, Filters};
use super::job_card::JobCard;
use super::job_form::NewJobForm;
use super::liveness::Liveness;
use super::notifications::{NotificationsButton, use_notifications};
use super::older_jobs::OlderJobs;
use super::store::JobsStore;
use super::tab::{page_title, watch_visibility};
use crate::client::use_job_stream;
use crate::job::JobList;
use crate::kind::KindInfo;

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

/// Provided by the server for each page render: the kinds it runs (the form is built
/// from them).
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct ServerKinds(pub Vec<KindInfo>);

/// What the page shows: the caller's jobs and the kinds of job they can start.
type PageData = (JobList, Vec<KindInfo>);

/// Loads the page's data: from the store during the server render, over the REST API
/// in the browser (only needed when the page was not server-rendered with it).
fn load_page() -> impl std::future::Future<Output = Result<PageData, String>> + Send {
    #[cfg(feature = "ssr")]
    {
        let source = use_context::<ServerJobs>();
        let kinds = use_context::<ServerKinds>();
        async move {
            let (Some(ServerJobs(load)), Some(ServerKinds(kinds))) = (source, kinds) else {
                return Err("the server provided no job source".to_owned());
            };
            Ok((load().await?, kinds))
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let list = crate::client::list_jobs();
        let kinds = crate::client::list_kinds();
        async move {
            let list = list.await.map_err(|failure| failure.message())?;
            let kinds = kinds.await.map_err(|failure| failure.message())?;
            Ok((list, kinds))
        }
    }
}

#[component]
pub(crate) fn HomePage() -> AnyView {
    let page = Resource::new(|| (), |_| load_page());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading jobs…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok((list, kinds)) => view! { <Dashboard list kinds /> }.into_any(),
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
fn Dashboard(list: JobList, kinds: Vec<KindInfo>) -> AnyView {
    let after = list.last_event_id;
    let store = JobsStore::new(list);
    let liveness = Liveness::new();
    use_job_stream(store, liveness, after);
    let now = use_clock();
    let announcement = store.announcement();
    let filter = RwSignal::new(Filter::All);
    let shown = Memo::new(move |_| {
        let filter = filter.get();
        store.ids_where(|status| filter.keeps(status))
    });
    watch_visibility(store);
    let notifications = use_notifications(store);

    view! {
        <Title text=move || page_title(store.counts(), store.unseen_failures()) />
        <header class="top">
            <h1>"Candor"</h1>
            <p class="tagline">"Background jobs, reported honestly."</p>
            <NotificationsButton state=notifications />
            <ConnectionBadge state=Signal::derive(move || liveness.shown_state(now.get())) />
        </header>
        <main class="layout">
            <NewJobForm store kinds />
            <section class="jobs" aria-labelledby="jobs-heading">
                <h2 id="jobs-heading">"Jobs"</h2>
                <Filters filter store />
                <Show
                    when=move || !shown.read().is_empty()
                    fallback=move || view! { <p class="empty">{move || filter.get().none_left()}</p> }
                >
                    <ul class="job-list" data-testid="job-list">
                        <For
                            each=move || shown.get()
                            key=|id| *id
                            children=move |id| {
                                store.get(id).map(|job| view! { <JobCard job now store liveness /> })
                            }
                        />
                    </ul>
                </Show>
                <OlderJobs store />
            </section>
        </main>
        <div class="sr-only" aria-live="polite" data-testid="announcer">
            {move || announcement.get()}
        </div>
    }
    .into_any()
}
