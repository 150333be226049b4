//! The page's one reactive store of jobs. The first paint fills it from the job list; the
//! event stream keeps it current; components read single jobs from it, so an event
//! re-renders only the job it is about.
//!
//! It holds a window, not the whole history: once it lists more than [`WINDOW`] jobs,
//! each job that arrives lets the oldest ended one past the newest [`WINDOW`] go (one
//! whose card is folded), so the page keeps as many as it held: the newest 200, or as
//! many as the person asked to see with "Show older jobs", plus whatever still runs or
//! is unfolded. What was let go is listed again from the server on request, and a page
//! left open through a busy day stays as light as a fresh one. The counts stay exact:
//! they count jobs, not cards.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::event::{EventId, JobEvent, QueueNote};
use crate::job::{Job, JobId, JobList, JobStatus, QueuePlace, StatusCounts};

/// How many of the caller's jobs are in each state (the filters' counts, the tab's title):
/// the server's count when the page was rendered, kept up as jobs come, change and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub all: usize,
    /// Not ended yet: queued or running.
    pub running: usize,
    pub failed: usize,
    pub completed: usize,
}

impl From<StatusCounts> for Counts {
    fn from(counts: StatusCounts) -> Self {
        let count = |status| usize::try_from(counts.of(status)).unwrap_or(usize::MAX);
        Self {
            all: usize::try_from(counts.total()).unwrap_or(usize::MAX),
            running: count(JobStatus::Queued) + count(JobStatus::Running),
            failed: count(JobStatus::Failed),
            completed: count(JobStatus::Completed),
        }
    }
}

impl Counts {
    /// Counts a job in `status` in (`add`) or out.
    fn shift(&mut self, status: JobStatus, add: bool) {
        let step = |n: &mut usize| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        step(&mut self.all);
        match status {
            JobStatus::Queued | JobStatus::Running => step(&mut self.running),
            JobStatus::Failed => step(&mut self.failed),
            JobStatus::Completed => step(&mut self.completed),
            JobStatus::Cancelled => {}
        }
    }
}

/// How many of the newest jobs the page keeps (as many as its first page lists).
pub(crate) const WINDOW: usize = 200;

/// Where a job made at `created_at` goes in `order` (newest first): before the first job
/// that is older, found by bisection, as the list is kept in that order. (Jobs kept past
/// the window, still running, can be older than some of an older page's.)
fn place(
    order: &[JobId],
    jobs: &HashMap<JobId, RwSignal<Job>>,
    created_at: DateTime<Utc>,
) -> usize {
    order.partition_point(|other| {
        jobs.get(other)
            .is_none_or(|j| j.with_untracked(|j| j.created_at >= created_at))
    })
}

thread_local! {
    /// Jobs whose card has a part unfolded (once for each part): never let go.
    static UNFOLDED: std::cell::RefCell<Vec<JobId>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A part of job `id`'s card was unfolded (`open`) or folded again.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // cards unfold in the browser
pub(crate) fn unfold(id: JobId, open: bool) {
    UNFOLDED.with_borrow_mut(|unfolded| {
        if open {
            unfolded.push(id);
        } else if let Some(at) = unfolded.iter().position(|other| *other == id) {
            unfolded.swap_remove(at);
        }
    });
}

#[derive(Clone, Copy)]
pub(crate) struct JobsStore {
    /// Job ids, newest first.
    order: RwSignal<Vec<JobId>>,
    jobs: StoredValue<HashMap<JobId, RwSignal<Job>>>,
    /// Counted on when a job comes, goes or changes state; not on progress. Also what the
    /// filtered lists track to hear of changes of state.
    counts: RwSignal<Counts>,
    /// Whether the page is out of sight (another tab in front, a minimised window).
    hidden: StoredValue<bool>,
    /// Jobs that failed while the page was out of sight, until it is seen again.
    unseen_failures: RwSignal<usize>,
    /// The latest thing worth announcing to screen readers ("Export … completed").
    announcement: RwSignal<String>,
    /// Whether the server has older jobs than the ones listed.
    more: RwSignal<bool>,
}

impl JobsStore {
    pub(crate) fn new(list: JobList) -> Self {
        let store = Self {
            order: RwSignal::new(Vec::with_capacity(list.jobs.len())),
            jobs: StoredValue::new(HashMap::with_capacity(list.jobs.len())),
            counts: RwSignal::new(Counts::from(list.counts)),
            hidden: StoredValue::new(false),
            unseen_failures: RwSignal::new(0),
            announcement: RwSignal::new(String::new()),
            more: RwSignal::new(false),
        };
        store.add_older(list);
        store
    }

    /// Lists the next page of older jobs below the others (the server counted them
    /// already).
    pub(crate) fn add_older(&self, page: JobList) {
        let JobList { jobs, more, .. } = page;
        self.jobs.update_value(|known| {
            self.order.update(|order| {
                for job in jobs {
                    if let std::collections::hash_map::Entry::Vacant(slot) = known.entry(job.id) {
                        let (id, created_at) = (job.id, job.created_at);
                        slot.insert(RwSignal::new(job));
                        order.insert(place(order, known, created_at), id);
                    }
                }
            });
        });
        self.more.set(more);
    }

    /// Where the next older page starts: the oldest ended job listed (those listed after
    /// it still run or are unfolded; what was let go is older) (untracked).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // pages load in the browser
    pub(crate) fn oldest(&self) -> Option<JobId> {
        self.oldest_ended(0)
            .or_else(|| self.order.with_untracked(|order| order.last().copied()))
    }

    /// The oldest ended job at or past place `from` whose card is folded.
    fn oldest_ended(&self, from: usize) -> Option<JobId> {
        self.jobs.with_value(|jobs| {
            UNFOLDED.with_borrow(|unfolded| {
                self.order.with_untracked(|order| {
                    order
                        .iter()
                        .skip(from)
                        .rev()
                        .find(|id| {
                            !unfolded.contains(id)
                                && jobs
                                    .get(id)
                                    .is_some_and(|j| j.with_untracked(|j| j.status).is_terminal())
                        })
                        .copied()
                })
            })
        })
    }

    /// A job arrived: past [`WINDOW`], the oldest ended one beyond the newest
    /// [`WINDOW`] goes (it stays on the server, a "Show older jobs" away).
    fn let_one_go(&self) {
        if self.order.with_untracked(Vec::len) <= WINDOW {
            return;
        }
        let Some(id) = self.oldest_ended(WINDOW) else {
            return;
        };
        self.order
            .update(|order| order.retain(|other| *other != id));
        if let Some(job) = self
            .jobs
            .try_update_value(|jobs| jobs.remove(&id))
            .flatten()
        {
            job.dispose();
        }
        self.more.set(true);
    }

    /// Whether older jobs than those listed exist (tracked).
    pub(crate) fn has_more(&self) -> bool {
        self.more.get()
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
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the title follows it
    pub(crate) fn unseen_failures(&self) -> usize {
        self.unseen_failures.get()
    }

    /// Whether the page is out of sight (untracked).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn is_hidden(&self) -> bool {
        self.hidden.get_value()
    }

    /// The page went out of sight, or came back (which counts as seeing every failure).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the browser tells
    pub(crate) fn set_hidden(&self, hidden: bool) {
        self.hidden.set_value(hidden);
        if !hidden {
            self.unseen_failures.set(0);
        }
    }

    /// A job moved from one state to another (`None`: it came, or it went).
    fn counted(&self, from: Option<JobStatus>, to: Option<JobStatus>) {
        if from != to {
            // Notifies even when the counts come out equal (queued to running): the
            // filtered lists follow every change of state through this signal.
            self.counts.update(|counts| {
                if let Some(status) = from {
                    counts.shift(status, false);
                }
                if let Some(status) = to {
                    counts.shift(status, true);
                }
            });
        }
    }

    pub(crate) fn get(&self, id: JobId) -> Option<RwSignal<Job>> {
        self.jobs.with_value(|jobs| jobs.get(&id).copied())
    }

    pub(crate) fn announcement(&self) -> RwSignal<String> {
        self.announcement
    }

    /// Where our queued jobs stand now (a `queue` note): each listed job takes its place;
    /// on the stream of all our jobs, a queued job not listed has none.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the stream runs in the browser
    pub(crate) fn place(&self, note: &QueueNote) {
        self.jobs.with_value(|jobs| {
            for (id, job) in jobs {
                let place = note
                    .jobs
                    .iter()
                    .find(|queued| queued.job_id == *id)
                    .map(|queued| QueuePlace {
                        position: queued.position,
                        starts_in: queued.starts_in,
                        text: queued.text.clone(),
                    });
                if job.with_untracked(|j| j.status == JobStatus::Queued && j.queue != place) {
                    job.update(|j| j.queue = place);
                }
            }
        });
    }

    /// Adds a job, or replaces ours if this record is newer than what we have.
    pub(crate) fn upsert(&self, job: Job) {
        if let Some(existing) = self.get(job.id) {
            let (last, was) = existing.with_untracked(|j| (j.last_event_id, j.status));
            if job.last_event_id > last {
                let now = job.status;
                existing.set(job);
                self.counted(Some(was), Some(now));
            }
            return;
        }
        let (id, created_at, status) = (job.id, job.created_at, job.status);
        self.jobs
            .update_value(|jobs| _ = jobs.insert(id, RwSignal::new(job)));
        self.order.update(|order| {
            let at = self.jobs.with_value(|jobs| place(order, jobs, created_at));
            order.insert(at, id);
        });
        self.counted(None, Some(status));
        self.let_one_go();
    }

    fn remove(&self, id: JobId) {
        if let Some(job) = self
            .jobs
            .try_update_value(|jobs| jobs.remove(&id))
            .flatten()
        {
            self.order
                .update(|order| order.retain(|other| *other != id));
            self.counted(Some(job.with_untracked(|j| j.status)), None);
            job.dispose();
        }
    }

    /// Applies events that arrived together, in order: the page re-renders once for all
    /// of them, and every ending among them is announced (in one announcement).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the stream runs in the browser
    pub(crate) fn apply_all(&self, events: impl IntoIterator<Item = (EventId, JobEvent)>) {
        let said: Vec<String> = events
            .into_iter()
            .filter_map(|(id, event)| self.apply_one(id, &event))
            .collect();
        if !said.is_empty() {
            self.announcement.set(said.join(" "));
        }
    }

    /// Applies one event from the stream.
    #[cfg(test)]
    pub(crate) fn apply(&self, id: EventId, event: &JobEvent) {
        if let Some(message) = self.apply_one(id, event) {
            self.announcement.set(message);
        }
    }

    /// Applies one event; what to announce, if it ended a job.
    fn apply_one(&self, id: EventId, event: &JobEvent) -> Option<String> {
        if let JobEvent::Created(created) = event {
            let mut job = created.job.clone();
            job.last_event_id = job.last_event_id.max(id);
            self.upsert(job);
            return None;
        }
        if let JobEvent::Removed(removed) = event {
            self.remove(removed.job_id);
            return None;
        }
        // A job we do not list (older than the first page): nothing to update.
        let job = self.get(event.job_id())?;
        // Replays and stale events change nothing, and re-render nothing.
        let was = job.with_untracked(|j| j.status);
        let mut changed = false;
        job.maybe_update(|job| {
            changed = matches!(job.apply(id, event), Ok(true));
            changed
        });
        if !changed {
            return None;
        }
        self.counted(Some(was), Some(job.with_untracked(|j| j.status)));
        if !event.is_terminal() {
            return None;
        }
        let (title, status) = job.with_untracked(|j| (j.title.clone(), j.status));
        if status == JobStatus::Failed && self.hidden.get_value() {
            self.unseen_failures.update(|n| *n += 1);
        }
        Some(match status {
            JobStatus::Completed => format!("{title} completed."),
            JobStatus::Failed => format!(
                "{title} failed: {}",
                job.with_untracked(|j| j.error.clone().unwrap_or_default())
            ),
            _ => format!("{title} was cancelled."),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event::{Completion, StatusUpdate};
    use crate::job::JobSpec;

    /// Job `n`, made `n` seconds after the others before it.
    fn job(n: u128, status: JobStatus) -> Job {
        let mut job = Job::new(
            JobId(uuid::Uuid::from_u128(n)),
            JobSpec::new("demo", serde_json::json!({})),
            format!("Job {n}"),
            chrono::DateTime::UNIX_EPOCH + chrono::Duration::seconds(n as i64),
        );
        job.status = status;
        job.last_event_id = EventId(n as i64);
        job
    }

    /// A first page of exactly these jobs: the counts are theirs, nothing older follows.
    fn listed(jobs: Vec<Job>) -> JobList {
        let mut counts = StatusCounts::default();
        for job in &jobs {
            counts.set(job.status, counts.of(job.status) + 1);
        }
        let last_event_id = jobs
            .iter()
            .map(|j| j.last_event_id)
            .max()
            .unwrap_or_default();
        JobList {
            jobs,
            last_event_id,
            counts,
            more: false,
        }
    }

    /// The counts follow arrivals, changes of state, replacements and removals, and the
    /// filtered lists follow the counts.
    #[test]
    fn counts_are_kept_as_jobs_come_change_and_go() {
        Owner::new().with(|| {
            let store = JobsStore::new(listed(vec![
                job(1, JobStatus::Queued),
                job(2, JobStatus::Failed),
            ]));
            let counts = |all, running, failed, completed| Counts {
                all,
                running,
                failed,
                completed,
            };
            assert_eq!(store.counts(), counts(2, 1, 1, 0));

            let first = JobId(uuid::Uuid::from_u128(1));
            store.apply(
                EventId(10),
                &JobEvent::StatusUpdate(StatusUpdate {
                    job_id: first,
                    status: JobStatus::Running,
                    progress: 5,
                    step: None,
                    done: None,
                    began: Vec::new(),
                    at: Utc::now(),
                }),
            );
            assert_eq!(store.counts(), counts(2, 1, 1, 0));
            let completion = JobEvent::Completion(Completion {
                job_id: first,
                url: None,
                at: Utc::now(),
            });
            store.apply(EventId(11), &completion);
            assert_eq!(store.counts(), counts(2, 0, 1, 1));
            assert_eq!(store.ids_where(|s| s == JobStatus::Completed), [first]);
            // A replay changes nothing.
            store.apply(EventId(11), &completion);
            assert_eq!(store.counts(), counts(2, 0, 1, 1));

            // A newer record of a job (a retry's answer, a cancel's) replaces it.
            let mut cancelled = job(3, JobStatus::Running);
            store.upsert(cancelled.clone());
            assert_eq!(store.counts(), counts(3, 1, 1, 1));
            cancelled.status = JobStatus::Cancelled;
            cancelled.last_event_id = EventId(12);
            store.upsert(cancelled);
            assert_eq!(store.counts(), counts(3, 0, 1, 1));

            store.apply(
                EventId(13),
                &JobEvent::Removed(crate::event::JobRemoved {
                    job_id: JobId(uuid::Uuid::from_u128(2)),
                    at: Utc::now(),
                }),
            );
            assert_eq!(store.counts(), counts(2, 0, 0, 1));
        });
    }

    /// The counts are the server's, for all of the caller's jobs; an older page lists more
    /// jobs without counting them twice.
    #[test]
    fn the_counts_cover_jobs_not_listed_and_older_pages_go_below() {
        Owner::new().with(|| {
            let store = JobsStore::new(JobList {
                counts: StatusCounts {
                    running: 1,
                    failed: 40,
                    completed: 959,
                    ..StatusCounts::default()
                },
                more: true,
                ..listed(vec![job(9, JobStatus::Running), job(8, JobStatus::Failed)])
            });
            let before = store.counts();
            assert_eq!((before.all, before.failed), (1000, 40));
            assert!(store.has_more());
            assert_eq!(store.oldest(), Some(JobId(uuid::Uuid::from_u128(8))));
            store.add_older(listed(vec![
                job(7, JobStatus::Completed),
                job(6, JobStatus::Failed),
            ]));
            assert_eq!(store.counts(), before);
            assert!(!store.has_more());
            let ids: Vec<u128> = store
                .ids_where(|_| true)
                .into_iter()
                .map(|id| id.0.as_u128())
                .collect();
            assert_eq!(ids, [9, 8, 7, 6]);
        });
    }

    /// Endings that arrive together are all announced, in order.
    #[test]
    fn endings_applied_together_are_all_announced() {
        Owner::new().with(|| {
            let store = JobsStore::new(listed(vec![
                job(1, JobStatus::Running),
                job(2, JobStatus::Running),
            ]));
            let done = |n: u128| {
                JobEvent::Completion(Completion {
                    job_id: JobId(uuid::Uuid::from_u128(n)),
                    url: None,
                    at: Utc::now(),
                })
            };
            store.apply_all([(EventId(3), done(1)), (EventId(4), done(2))]);
            assert_eq!(
                store.announcement().get_untracked(),
                "Job 1 completed. Job 2 completed."
            );
            assert_eq!(store.counts().completed, 2);
            // One at a time, each replaces the last.
            store.upsert(job(3, JobStatus::Running));
            store.apply(EventId(6), &done(3));
            assert_eq!(store.announcement().get_untracked(), "Job 3 completed.");
        });
    }

    /// A page open all day keeps a window: each job that arrives past the newest 200
    /// lets the oldest ended one go (the counts stay, "Show older jobs" lists it again),
    /// but a running job or an unfolded card is kept.
    #[test]
    fn ended_jobs_past_the_window_are_let_go_but_running_and_unfolded_ones_stay() {
        Owner::new().with(|| {
            let id = |n: u128| JobId(uuid::Uuid::from_u128(n));
            let ids = |store: &JobsStore| -> Vec<u128> {
                let ids = store.ids_where(|_| true).into_iter();
                ids.map(|id| id.0.as_u128()).collect()
            };
            // A job that arrives live, and ends at once.
            let comes_and_ends = |store: &JobsStore, n: u128| {
                let mut arrived = job(n, JobStatus::Running);
                arrived.last_event_id = EventId(0);
                let created = crate::event::JobCreated {
                    job_id: id(n),
                    job: arrived,
                };
                let done = Completion {
                    job_id: id(n),
                    url: None,
                    at: Utc::now(),
                };
                store.apply_all([
                    (
                        EventId(1000 + 2 * n as i64),
                        JobEvent::Created(Box::new(created)),
                    ),
                    (EventId(1001 + 2 * n as i64), JobEvent::Completion(done)),
                ]);
            };
            // The first page: jobs 200 down to 1, all completed but job 10 (running).
            let status = |n| {
                if n == 10 {
                    JobStatus::Running
                } else {
                    JobStatus::Completed
                }
            };
            let first = (1..=200).rev().map(|n| job(n, status(n))).collect();
            let store = JobsStore::new(listed(first));
            unfold(id(20), true);
            for n in 201..=500 {
                comes_and_ends(&store, n);
            }
            let mut expected: Vec<u128> = (301..=500).rev().collect();
            expected.extend([20, 10]);
            assert_eq!(
                ids(&store),
                expected,
                "the newest 200, the unfolded and the running"
            );
            assert_eq!(store.counts().all, 500, "the counts are of all jobs");
            assert!(store.has_more());
            assert_eq!(
                store.oldest(),
                Some(id(301)),
                "older pages start past the window"
            );

            // Folded again, job 20 goes when the next job comes.
            unfold(id(20), false);
            comes_and_ends(&store, 501);
            let mut expected: Vec<u128> = (301..=501).rev().collect();
            expected.push(10);
            assert_eq!(ids(&store), expected);

            // Older jobs asked for stay: each arrival lets one go, the oldest ended.
            let older = (101..=300).rev().map(|n| job(n, JobStatus::Completed));
            store.add_older(listed_page(older.collect()));
            comes_and_ends(&store, 502);
            let mut expected: Vec<u128> = (102..=502).rev().collect();
            expected.push(10);
            assert_eq!(
                ids(&store),
                expected,
                "newest first, the running job in its place"
            );
        });
    }

    fn listed_page(jobs: Vec<Job>) -> JobList {
        JobList {
            more: true,
            ..listed(jobs)
        }
    }
}
