//! The page's one reactive store of jobs. The first paint fills it from the job list; the
//! event stream keeps it current; components read single jobs from it, so an event
//! re-renders only the job it is about.

use std::collections::HashMap;

use leptos::prelude::*;

use crate::event::{EventId, JobEvent};
use crate::job::{Job, JobId, JobList, JobStatus};

/// How many of the listed jobs are in each state (the filters' counts, the tab's title).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub all: usize,
    /// Not ended yet: queued or running.
    pub running: usize,
    pub failed: usize,
    pub completed: usize,
}

impl Counts {
    fn of(statuses: impl Iterator<Item = JobStatus>) -> Self {
        let mut counts = Counts::default();
        for status in statuses {
            counts.all += 1;
            match status {
                JobStatus::Queued | JobStatus::Running => counts.running += 1,
                JobStatus::Failed => counts.failed += 1,
                JobStatus::Completed => counts.completed += 1,
                JobStatus::Cancelled => {}
            }
        }
        counts
    }
}

#[derive(Clone, Copy)]
pub(crate) struct JobsStore {
    /// Job ids, newest first.
    order: RwSignal<Vec<JobId>>,
    jobs: StoredValue<HashMap<JobId, RwSignal<Job>>>,
    /// Recounted when a job comes, goes or changes state; not on progress.
    counts: RwSignal<Counts>,
    /// Whether the page is out of sight (another tab in front, a minimised window).
    hidden: RwSignal<bool>,
    /// Jobs that failed while the page was out of sight, until it is seen again.
    unseen_failures: RwSignal<usize>,
    /// The latest thing worth announcing to screen readers ("Export … completed").
    announcement: RwSignal<String>,
}

impl JobsStore {
    pub(crate) fn new(list: JobList) -> Self {
        let store = Self {
            order: RwSignal::new(Vec::with_capacity(list.jobs.len())),
            jobs: StoredValue::new(HashMap::with_capacity(list.jobs.len())),
            counts: RwSignal::new(Counts::default()),
            hidden: RwSignal::new(false),
            unseen_failures: RwSignal::new(0),
            announcement: RwSignal::new(String::new()),
        };
        for job in list.jobs {
            store.upsert(job);
        }
        store
    }

    /// How many jobs are in each state (tracked).
    pub(crate) fn counts(&self) -> Counts {
        self.counts.get()
    }

    /// Job ids whose state passes `keep`, newest first (tracked: the list, and every
    /// change of state).
    pub(crate) fn ids_where(&self, keep: impl Fn(JobStatus) -> bool) -> Vec<JobId> {
        self.counts.track();
        let order = self.order.get();
        self.jobs.with_value(|jobs| {
            order
                .into_iter()
                .filter(|id| {
                    jobs.get(id)
                        .is_some_and(|job| job.with_untracked(|j| keep(j.status)))
                })
                .collect()
        })
    }

    /// Jobs that failed while the page was out of sight (tracked).
    pub(crate) fn unseen_failures(&self) -> usize {
        self.unseen_failures.get()
    }

    /// Whether the page is out of sight (untracked).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn is_hidden(&self) -> bool {
        self.hidden.get_untracked()
    }

    /// The page went out of sight, or came back (which counts as seeing every failure).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the browser tells
    pub(crate) fn set_hidden(&self, hidden: bool) {
        self.hidden.set(hidden);
        if !hidden {
            self.unseen_failures.set(0);
        }
    }

    fn recount(&self) {
        let counts = self.jobs.with_value(|jobs| {
            Counts::of(jobs.values().map(|job| job.with_untracked(|j| j.status)))
        });
        if counts != self.counts.get_untracked() {
            self.counts.set(counts);
        }
    }

    pub(crate) fn get(&self, id: JobId) -> Option<RwSignal<Job>> {
        self.jobs.with_value(|jobs| jobs.get(&id).copied())
    }

    pub(crate) fn announcement(&self) -> RwSignal<String> {
        self.announcement
    }

    /// Adds a job, or replaces ours if this record is newer than what we have.
    pub(crate) fn upsert(&self, job: Job) {
        if let Some(existing) = self.get(job.id) {
            if job.last_event_id > existing.with_untracked(|j| j.last_event_id) {
                existing.set(job);
                self.recount();
            }
            return;
        }
        let id = job.id;
        let created_at = job.created_at;
        self.jobs
            .update_value(|jobs| _ = jobs.insert(id, RwSignal::new(job)));
        self.order.update(|order| {
            // Newest first: insert before the first job that is older.
            let jobs = &self.jobs;
            let position = order
                .iter()
                .position(|other| {
                    jobs.with_value(|all| {
                        all.get(other)
                            .is_some_and(|j| j.with_untracked(|j| j.created_at < created_at))
                    })
                })
                .unwrap_or(order.len());
            order.insert(position, id);
        });
        self.recount();
    }

    fn remove(&self, id: JobId) {
        if self
            .jobs
            .try_update_value(|jobs| jobs.remove(&id))
            .flatten()
            .is_some()
        {
            self.order
                .update(|order| order.retain(|other| *other != id));
            self.recount();
        }
    }

    /// Applies one event from the stream.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the stream runs in the browser
    pub(crate) fn apply(&self, id: EventId, event: &JobEvent) {
        if let JobEvent::Created(created) = event {
            let mut job = created.job.clone();
            job.last_event_id = job.last_event_id.max(id);
            self.upsert(job);
            return;
        }
        if let JobEvent::Removed(removed) = event {
            self.remove(removed.job_id);
            return;
        }
        let Some(job) = self.get(event.job_id()) else {
            // A job we do not list (older than the first page): nothing to update.
            return;
        };
        // Replays and stale events change nothing, and re-render nothing.
        let mut changed = false;
        job.maybe_update(|job| {
            changed = matches!(job.apply(id, event), Ok(true));
            changed
        });
        if changed && event.is_terminal() {
            self.recount();
            let (title, status) = job.with_untracked(|j| (j.title.clone(), j.status));
            if status == JobStatus::Failed && self.hidden.get_untracked() {
                self.unseen_failures.update(|n| *n += 1);
            }
            let message = match status {
                JobStatus::Completed => format!("{title} completed."),
                JobStatus::Failed => format!(
                    "{title} failed: {}",
                    job.with_untracked(|j| j.error.clone().unwrap_or_default())
                ),
                _ => format!("{title} was cancelled."),
            };
            self.announcement.set(message);
        }
    }
}
