//! The home page: the form to start a job and the live list of jobs.

use leptos::prelude::*;

use super::clock::use_clock;
use super::connection::{ConnectionBadge, ProxyWarning};
use super::filters::{Filter, Filters};
use super::job_card::JobCard;
use super::job_form::NewJobForm;
use super::notifications::{NotificationsButton, use_notifications};
use super::older_jobs::OlderJobs;
use super::tab::{keep_title, watch_visibility};
use crate::client::{poll_while_held_back, use_job_stream};
use crate::job::JobList;
use crate::kind::KindInfo;
use crate::state::{JobsStore, Liveness, PageData};

/// The page's data: from the render's context on the server, from the page's head in the
/// browser.
fn page_data() -> Result<PageData, String> {
    #[cfg(feature = "ssr")]
    return use_context::<PageData>().ok_or_else(|| "the server provided no page data".to_owned());
    #[cfg(not(feature = "ssr"))]
    crate::client::embedded_page_data()
}

#[component]
pub(crate) fn HomePage() -> AnyView {
    match page_data() {
        Ok(PageData {
            jobs: Ok(list),
            kinds,
            heartbeat_ms,
        }) => view! { <Dashboard list kinds heartbeat_ms /> }.into_any(),
        Ok(PageData {
            jobs: Err(reason), ..
        })
        | Err(reason) => view! {
            <p class="load-error" role="alert">"Could not load your jobs: " {reason}</p>
        }
        .into_any(),
    }
}

#[component]
fn Dashboard(list: JobList, kinds: Vec<KindInfo>, heartbeat_ms: u64) -> AnyView {
    let after = list.last_event_id;
    let store = JobsStore::new(list);
    let liveness = Liveness::new(heartbeat_ms);
    use_job_stream(store, liveness, after);
    let now = use_clock();
    poll_while_held_back(store, liveness, now);
    let shown_state = Signal::derive(move || liveness.shown_state(now.get()));
    let announcement = store.announcement();
    let filter = RwSignal::new(Filter::All);
    let shown = Memo::new(move |_| {
        let filter = filter.get();
        store.ids_where(|status| filter.keeps(status))
    });
    watch_visibility(store);
    keep_title(store);
    let notifications = use_notifications(store);

    view! {
        <header class="top">
            <h1>"Candor"</h1>
            <p class="tagline">"Background jobs, reported honestly."</p>
            <NotificationsButton state=notifications />
            <ConnectionBadge state=shown_state />
        </header>
        <ProxyWarning state=shown_state />
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_data_cannot_end_its_script_element() {
        let data = PageData {
            jobs: Err("</script><script>alert(1)</script><!--".to_owned()),
            kinds: Vec::new(),
            heartbeat_ms: 15_000,
        };
        let text = data.to_script_text();
        assert!(!text.contains('<'), "{text}");
        let read: PageData = serde_json::from_str(&text).unwrap();
        assert_eq!(read, data);
    }
}
