//! Honest liveness: is the page still hearing from the server, and which running jobs
//! have stopped reporting while it does?
//!
//! The stream's heartbeats come at a fixed interval with the server's clock and the time
//! of each running job's last report. When nothing at all arrives for a while although
//! the browser believes the connection open, the connection has stalled (a proxy, a
//! sleeping laptop, a hung server): the badge says so, and no job is called silent, since
//! the page cannot know. While the stream is heard, a running job whose last report is
//! older than the server's threshold is marked silent: its worker stopped reporting.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use leptos::prelude::*;

use super::ConnectionState;
use crate::event::Heartbeat;
use crate::job::{Job, JobId, JobStatus};

/// The rhythm and the clock the last heartbeat announced.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Beat {
    /// The server's clock minus ours.
    offset: TimeDelta,
    interval: TimeDelta,
    silent_after: TimeDelta,
}

#[derive(Clone, Copy)]
pub(crate) struct Liveness {
    /// What the browser's EventSource says.
    state: RwSignal<ConnectionState>,
    /// Known after the first heartbeat.
    beat: RwSignal<Option<Beat>>,
    /// When (our clock) anything last arrived: the opening, an event, a heartbeat. Read on
    /// each tick of the page's clock, so it need not be tracked.
    heard_at: StoredValue<DateTime<Utc>>,
    /// When each running job last reported (the server's clock).
    reports: StoredValue<HashMap<JobId, DateTime<Utc>>>,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            state: RwSignal::new(ConnectionState::Connecting),
            beat: RwSignal::new(None),
            heard_at: StoredValue::new(Utc::now()),
            reports: StoredValue::new(HashMap::new()),
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the stream runs in the browser
    pub(crate) fn set_state(&self, state: ConnectionState) {
        if state == ConnectionState::Live {
            self.heard();
        }
        self.state.set(state);
    }

    /// The connection's state, as the stream last set it.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn state(&self) -> ConnectionState {
        self.state.get_untracked()
    }

    /// Something arrived on the stream.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn heard(&self) {
        self.heard_at.set_value(Utc::now());
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn heartbeat(&self, beat: &Heartbeat) {
        self.heard();
        let millis = |ms: u64| TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
        self.beat.set(Some(Beat {
            offset: beat.server_time - Utc::now(),
            interval: millis(beat.interval_ms),
            silent_after: millis(beat.silent_after_ms),
        }));
        self.reports.update_value(|reports| {
            reports.clear();
            reports.extend(beat.running.iter().map(|p| (p.job_id, p.last_report_at)));
        });
    }

    /// A job reported (a `status-update` stamped `at` by the server).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn reported(&self, job: JobId, at: DateTime<Utc>) {
        self.reports.update_value(|reports| {
            let last = reports.entry(job).or_insert(at);
            *last = (*last).max(at);
        });
    }

    /// The connection's state as the page shows it (tracked; `now` is the page's clock).
    pub(crate) fn shown_state(&self, now: DateTime<Utc>) -> ConnectionState {
        let state = self.state.get();
        let overdue = self.beat.get().is_some_and(|beat| {
            // Two heartbeats missed, and a second's grace.
            now - self.heard_at.get_value() > beat.interval * 2 + TimeDelta::seconds(1)
        });
        if state == ConnectionState::Live && overdue {
            ConnectionState::Stalled
        } else {
            state
        }
    }

    /// How long a running job has not reported, once that is longer than the server's
    /// threshold, and only while the stream is heard (tracked).
    pub(crate) fn silent_for(&self, job: &Job, now: DateTime<Utc>) -> Option<TimeDelta> {
        if job.status != JobStatus::Running || self.shown_state(now) != ConnectionState::Live {
            return None;
        }
        let beat = self.beat.get()?;
        let reported = self
            .reports
            .with_value(|reports| reports.get(&job.id).copied());
        let last = reported.into_iter().chain(job.started_at).max()?;
        let silent = now + beat.offset - last;
        (silent >= beat.silent_after).then_some(silent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::JobPulse;
    use crate::job::JobSpec;

    fn running_job(started: DateTime<Utc>) -> Job {
        let mut job = Job::new(
            JobId(uuid::Uuid::from_u128(1)),
            JobSpec::new("demo", serde_json::json!({})),
            "Demo".to_owned(),
            started,
        );
        job.status = JobStatus::Running;
        job.started_at = Some(started);
        job
    }

    #[test]
    fn a_job_is_silent_only_while_the_stream_is_heard() {
        // Signals live in a reactive owner (the server build sandboxes their arenas).
        Owner::new().with(a_job_is_silent_only_while_the_stream_is_heard_in_an_owner);
    }

    fn a_job_is_silent_only_while_the_stream_is_heard_in_an_owner() {
        let now = Utc::now();
        let job = running_job(now - TimeDelta::seconds(20));
        let liveness = Liveness::new();
        liveness.set_state(ConnectionState::Live);
        // Before any heartbeat the page knows no threshold: nothing is called silent.
        assert_eq!(liveness.silent_for(&job, now), None);

        liveness.heartbeat(&Heartbeat {
            // The server's clock is 30 s ahead of ours: that must not count as silence.
            server_time: now + TimeDelta::seconds(30),
            interval_ms: 1000,
            silent_after_ms: 10_000,
            running: vec![JobPulse {
                job_id: job.id,
                last_report_at: now + TimeDelta::seconds(30) - TimeDelta::seconds(15),
            }],
        });
        let silent = liveness.silent_for(&job, now).expect("silent");
        assert!((silent - TimeDelta::seconds(15)).num_milliseconds().abs() < 500);
        assert_eq!(liveness.shown_state(now), ConnectionState::Live);

        // A report clears it.
        liveness.reported(job.id, now + TimeDelta::seconds(30));
        assert_eq!(liveness.silent_for(&job, now), None);

        // Nothing heard for longer than two heartbeats: the connection has stalled, and
        // then no job is called silent (the page cannot know).
        let later = now + TimeDelta::seconds(60);
        assert_eq!(liveness.shown_state(later), ConnectionState::Stalled);
        assert_eq!(liveness.silent_for(&job, later), None);
        liveness.heard();
        assert_eq!(liveness.shown_state(Utc::now()), ConnectionState::Live);
    }
}
