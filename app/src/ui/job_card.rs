//! One job: title, status, progress bar, step, timing, throughput, its log and timeline,
//! and what can be done with it.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::format;
use super::job_log::JobLog;
use super::timeline::Timeline;
use crate::client::{cancel_job, retry_job};
use crate::job::{Job, JobStatus};
use crate::state::JobsStore;
use crate::state::Liveness;

/// A shape for each state, so that it does not rest on colour alone.
fn status_icon(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "◷",
        JobStatus::Running => "▶",
        JobStatus::Completed => "✓",
        JobStatus::Failed => "✕",
        JobStatus::Cancelled => "⊘",
    }
}

fn status_label(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "Queued",
        JobStatus::Running => "Running",
        JobStatus::Completed => "Completed",
        JobStatus::Failed => "Failed",
        JobStatus::Cancelled => "Cancelled",
    }
}

/// What a person can do with a job from its card.
#[derive(Clone, Copy)]
enum Action {
    Cancel,
    Retry,
}

impl Action {
    const ALL: [Action; 2] = [Action::Cancel, Action::Retry];

    fn offered(self, status: JobStatus) -> bool {
        match self {
            Action::Cancel => !status.is_terminal(),
            Action::Retry => matches!(status, JobStatus::Failed | JobStatus::Cancelled),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Action::Cancel => "Cancel",
            Action::Retry => "Retry",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Action::Cancel => "button cancel",
            Action::Retry => "button retry",
        }
    }
}

/// One job's card. (Long for its markup: the card's view is one tree, and every extra
/// component costs the browser bundle bytes it has few of.)
#[component]
pub(crate) fn JobCard(
    job: RwSignal<Job>,
    now: ReadSignal<DateTime<Utc>>,
    store: JobsStore,
    liveness: Liveness,
) -> AnyView {
    let (id, title) = job.with_untracked(|j| (j.id, j.title.clone()));
    let status = Memo::new(move |_| job.with(|j| j.status));
    let progress = Memo::new(move |_| job.with(|j| j.progress));
    // A queued job's step is where it stands in line.
    let step = move || {
        job.with(|j| match (&j.queue, j.status) {
            (Some(place), JobStatus::Queued) => place.text.clone(),
            _ => j.step.clone().unwrap_or_default(),
        })
    };
    let timing = move || job.with(|j| format::timing(j, now.get()));
    let processed = move || job.with(|j| j.processed.as_ref().map(format::processed));
    let silent = move || job.with(|j| liveness.silent_for(j, now.get()));
    let action_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Cancel updates this job; Retry adds a new one. Either way the answer goes into
    // the store at once, and the stream confirms it.
    let act = move |action: Action| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = match action {
                Action::Cancel => cancel_job(id).await,
                Action::Retry => retry_job(id).await,
            };
            match answer {
                Ok(job) => {
                    action_error.set(None);
                    store.upsert(job);
                }
                Err(failure) => action_error.set(Some(failure.message())),
            }
            busy.set(false);
        });
    };
    let attempt = move || job.with(|j| (j.attempt > 1).then(|| format!("attempt {}", j.attempt)));

    let progress_label = format!("Progress of {title}");
    view! {
        <li class="job" data-testid="job" data-job-id=id.to_string() data-status=move || status.get().as_str()>
            <div class="job-head">
                <span class="job-title">{title}</span>
                <span class=move || format!("status status-{}", status.get())>
                    <span class="status-icon" aria-hidden="true">{move || status_icon(status.get())}</span>
                    <span class="status-label">{move || status_label(status.get())}</span>
                </span>
            </div>
            <div
                class="bar"
                role="progressbar"
                aria-label=progress_label
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=move || progress.get().to_string()
            >
                <div class="fill" style:transform=move || format::bar_scale(progress.get())></div>
            </div>
            <div class="job-meta">
                <span class="percent" data-testid="percent">{move || format!("{}%", progress.get())}</span>
                <span class="step" data-testid="step">{step}</span>
                <span class="timing">{timing}</span>
                {move || processed().map(|text| view! {
                    <span class="processed" data-testid="processed">{text}</span>
                })}
                {move || silent().map(|for_how_long| view! {
                    <span
                        class="silent"
                        data-testid="silent"
                        title="Its worker has not reported for this long; the connection to the server is fine."
                    >
                        {format!("silent for {}", format::duration(for_how_long))}
                    </span>
                })}
                {move || attempt().map(|text| view! { <span class="attempt">{text}</span> })}
                {job.with_untracked(|j| j.retry_of).map(|_| view! { <span class="retry-of">"a retry"</span> })}
            </div>
            <Show when=move || status.get() == JobStatus::Failed>
                <p class="failure" data-testid="failure">
                    {move || job.with(|j| match &j.step {
                        Some(step) => format!("Failed at “{step}”: {}", j.error.clone().unwrap_or_default()),
                        None => format!("Failed: {}", j.error.clone().unwrap_or_default()),
                    })}
                </p>
            </Show>
            <div class="job-more">
                <JobLog job />
                <Timeline job />
            </div>
            <div class="actions">
                {move || job.with(|j| j.result_url.clone()).map(|url| view! {
                    <a class="button download" href=url download data-testid="download">"Download CSV"</a>
                })}
                {Action::ALL
                    .into_iter()
                    .map(|action| view! {
                        <Show when=move || action.offered(status.get())>
                            <button
                                type="button"
                                class=action.class()
                                on:click=move |_| act(action)
                                disabled=move || busy.get()
                            >
                                {action.label()}
                            </button>
                        </Show>
                    })
                    .collect_view()}
                {move || action_error.get().map(|message| view! { <span class="action-error" role="alert">{message}</span> })}
            </div>
        </li>
    }
    .into_any()
}
