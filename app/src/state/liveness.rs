//! Honest liveness: is the page still hearing from the server, and which running jobs
//! have stopped reporting while it does?
//!
//! The stream's heartbeats come at a fixed interval with the server's clock and the time
//! of each running job's last report. When nothing at all arrives for a while although
//! the browser believes the connection open, the connection has stalled (a proxy, a
//! sleeping laptop, a hung server): the badge says so, and no job is called silent, since
//! the page cannot know. While the stream is heard, a running job whose last report is
//! older than the server's threshold is marked silent: its worker stopped reporting.
//!
//! A buffering proxy between the page and Candor is the commonest way streams break: the
//! connection stays open and events arrive minutes late, in clumps, or not at all. The
//! stream opens with a heartbeat and sends one every interval, each with the server's
//! clock: one that is overdue, or that arrives later than the others did, means the
//! stream is being held back. The page then asks the REST API for its jobs every few
//! seconds ([`POLL_EVERY`]); while those answers come, it says plainly that a proxy
//! delays live updates. Two heartbeats on time in a row, and the stream is trusted again.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use leptos::prelude::*;

use super::ConnectionState;
use crate::event::Heartbeat;
use crate::job::{Job, JobId, JobStatus};

/// How often the page asks for its jobs while the stream is held back.
pub(crate) const POLL_EVERY: TimeDelta = TimeDelta::seconds(5);

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
    /// When (our clock) anything last arrived (the opening, an event, a heartbeat), or the
    /// page began to connect. Read on
    /// each tick of the page's clock, so it need not be tracked.
    heard_at: StoredValue<DateTime<Utc>>,
    /// When each running job last reported (the server's clock).
    reports: StoredValue<HashMap<JobId, DateTime<Utc>>>,
    /// The heartbeats' interval, known from the page before the first one arrives.
    interval: TimeDelta,
    /// The shortest time a heartbeat took to arrive (with the clocks' difference): what
    /// an undelayed one takes.
    fastest: StoredValue<Option<TimeDelta>>,
    /// A heartbeat arrived late, and the stream has not been on time since.
    held_back: RwSignal<bool>,
    /// Heartbeats on time in a row since the last late one.
    on_time: StoredValue<u32>,
    /// When (our clock) the last heartbeat arrived.
    last_arrival: StoredValue<Option<DateTime<Utc>>>,
    /// Whether the last poll of the REST API was answered (while the stream is held
    /// back), and when it was made.
    polled: RwSignal<Option<bool>>,
    polled_at: StoredValue<Option<DateTime<Utc>>>,
}

impl Liveness {
    /// Liveness for a stream whose heartbeats come every `interval_ms`.
    pub(crate) fn new(interval_ms: u64) -> Self {
        Self {
            state: RwSignal::new(ConnectionState::Connecting),
            beat: RwSignal::new(None),
            heard_at: StoredValue::new(Utc::now()),
            reports: StoredValue::new(HashMap::new()),
            interval: millis(interval_ms),
            fastest: StoredValue::new(None),
            held_back: RwSignal::new(false),
            on_time: StoredValue::new(0),
            last_arrival: StoredValue::new(None),
            polled: RwSignal::new(None),
            polled_at: StoredValue::new(None),
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the stream runs in the browser
    pub(crate) fn set_state(&self, state: ConnectionState) {
        // Opening counts from now (it must not take two heartbeats' time).
        if state == ConnectionState::Connecting {
            self.heard();
        }
        if state == ConnectionState::Live {
            self.heard();
            if self.state.get_untracked() != state {
                // A new connection is judged afresh: its opening heartbeat may come soon
                // after the last one of the connection before, and that is no clump.
                self.last_arrival.set_value(None);
                self.on_time.set_value(0);
                self.held_back.set(false);
            }
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
        self.heartbeat_at(beat, Utc::now());
    }

    /// A heartbeat arrived at `arrived` (our clock).
    fn heartbeat_at(&self, beat: &Heartbeat, arrived: DateTime<Utc>) {
        self.heard_at.set_value(arrived);
        let interval = millis(beat.interval_ms);
        self.judge_arrival(arrived, arrived - beat.server_time, interval);
        self.beat.set(Some(Beat {
            offset: beat.server_time - arrived,
            interval,
            silent_after: millis(beat.silent_after_ms),
        }));
        self.reports.update_value(|reports| {
            reports.clear();
            reports.extend(beat.running.iter().map(|p| (p.job_id, p.last_report_at)));
        });
    }

    /// Whether a heartbeat that arrived at `arrived`, having taken `took` (plus the
    /// clocks' difference), was held back on its way: it took longer than the fastest by
    /// more than an `interval`, or it came in a clump (hard on the previous one's heels,
    /// where an undelayed stream spaces them an interval apart).
    fn judge_arrival(&self, arrived: DateTime<Utc>, took: TimeDelta, interval: TimeDelta) {
        let fastest = self
            .fastest
            .get_value()
            .map_or(took, |fastest| fastest.min(took));
        self.fastest.set_value(Some(fastest));
        let clumped = self
            .last_arrival
            .get_value()
            .is_some_and(|previous| arrived - previous < interval / 2);
        self.last_arrival.set_value(Some(arrived));
        // Held back from a late one until two in a row are on time.
        let on_time = if took - fastest > interval || clumped {
            self.held_back.set(true);
            0
        } else {
            self.on_time.get_value() + 1
        };
        if on_time >= 2 {
            self.held_back.set(false);
        }
        self.on_time.set_value(on_time);
    }

    /// Whether nothing has arrived for two heartbeats' time (and a second's grace).
    fn overdue(&self, now: DateTime<Utc>) -> bool {
        now - self.heard_at.get_value() > self.patience()
    }

    /// Two heartbeats' time, and a second's grace.
    fn patience(&self) -> TimeDelta {
        let interval = self.beat.get().map_or(self.interval, |beat| beat.interval);
        interval * 2 + TimeDelta::seconds(1)
    }

    /// Whether the stream is held back (tracked): open but late or silent, or never
    /// opened although the server answers at once (a proxy holding even its headers).
    fn held_back(&self, now: DateTime<Utc>) -> bool {
        match self.state.get() {
            ConnectionState::Live => self.held_back.get() || self.overdue(now),
            ConnectionState::Connecting => self.overdue(now),
            _ => false,
        }
    }

    /// Whether the REST API should be asked now (tracked): the stream is held back, and
    /// the last poll is [`POLL_EVERY`] old. Once the stream is no longer held back, the
    /// last poll's answer is forgotten (the next hold-up is judged by polls of its own).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn poll_due(&self, now: DateTime<Utc>) -> bool {
        if !self.held_back(now) {
            if self.polled.get_untracked().is_some() {
                self.polled.set(None);
            }
            return false;
        }
        self.polled_at
            .get_value()
            .is_none_or(|at| now - at >= POLL_EVERY)
    }

    /// A poll was sent at `at`.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn polling(&self, at: DateTime<Utc>) {
        self.polled_at.set_value(Some(at));
    }

    /// The poll was answered, or not (`answered`).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn polled(&self, answered: bool) {
        self.polled.set(Some(answered));
    }

    /// A job reported (a `status-update` stamped `at` by the server).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn reported(&self, job: JobId, at: DateTime<Utc>) {
        self.reports.update_value(|reports| {
            let last = reports.entry(job).or_insert(at);
            *last = (*last).max(at);
        });
    }

    /// A job ended: it reports no more (and a page open all day keeps no trace of it).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn ended(&self, job: JobId) {
        self.reports
            .update_value(|reports| _ = reports.remove(&job));
    }

    /// The connection's state as the page shows it (tracked; `now` is the page's clock):
    /// held back while the REST API answers, a proxy delays the stream; with no answer
    /// either, the connection has stalled.
    pub(crate) fn shown_state(&self, now: DateTime<Utc>) -> ConnectionState {
        let state = self.state.get();
        if !self.held_back(now) {
            return state;
        }
        match self.polled.get() {
            Some(true) => ConnectionState::Delayed,
            _ if state == ConnectionState::Live && self.overdue(now) => ConnectionState::Stalled,
            _ => state,
        }
    }

    /// How long a running job has not reported, once that is longer than the server's
    /// threshold, and only while the stream is heard on time (tracked).
    pub(crate) fn silent_for(&self, job: &Job, now: DateTime<Utc>) -> Option<TimeDelta> {
        if job.status != JobStatus::Running || self.shown_state(now) != ConnectionState::Live {
            // Delayed or stalled: the page cannot tell a quiet worker from a held-back
            // stream.
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

fn millis(ms: u64) -> TimeDelta {
    TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
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
        let liveness = Liveness::new(1000);
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

    #[test]
    fn a_held_back_stream_is_told_apart_from_a_stalled_one_and_trusted_again_on_time() {
        Owner::new().with(held_back_in_an_owner);
    }

    fn beat(server_time: DateTime<Utc>) -> Heartbeat {
        Heartbeat {
            server_time,
            interval_ms: 1000,
            silent_after_ms: 10_000,
            running: Vec::new(),
        }
    }

    fn held_back_in_an_owner() {
        let liveness = Liveness::new(1000);
        liveness.set_state(ConnectionState::Live);
        let now = Utc::now();
        // The opening heartbeat, on time: nothing to poll for.
        liveness.heartbeat_at(&beat(now), now);
        assert!(!liveness.poll_due(now));

        // Nothing for three intervals, although the connection claims to be open: the
        // REST API is asked; until it answers, the connection has stalled.
        let later = now + TimeDelta::seconds(4);
        assert!(liveness.poll_due(later));
        liveness.polling(later);
        assert!(
            !liveness.poll_due(later + TimeDelta::seconds(1)),
            "every 5 s, not more"
        );
        assert_eq!(liveness.shown_state(later), ConnectionState::Stalled);
        // It answers: a proxy holds the stream back.
        liveness.polled(true);
        assert_eq!(liveness.shown_state(later), ConnectionState::Delayed);
        assert!(liveness.poll_due(later + POLL_EVERY));

        // A clump arrives: heartbeats stamped seconds ago, all at once. Heard, but held
        // back: still delayed, even the newest of them, which is recent.
        let clump = later + TimeDelta::seconds(2);
        for age in [4, 3, 2, 1, 0] {
            liveness.heartbeat_at(&beat(clump - TimeDelta::seconds(age)), clump);
        }
        assert_eq!(liveness.shown_state(clump), ConnectionState::Delayed);
        assert!(liveness.poll_due(clump + POLL_EVERY));
        // Two on time in a row, an interval apart: trusted again, no more polling.
        let next = clump + TimeDelta::seconds(1);
        liveness.heartbeat_at(&beat(next), next);
        assert_eq!(liveness.shown_state(next), ConnectionState::Delayed);
        let after = next + TimeDelta::seconds(1);
        liveness.heartbeat_at(&beat(after), after);
        assert_eq!(liveness.shown_state(after), ConnectionState::Live);
        assert!(!liveness.poll_due(after));

        // A stall whose polls fail too: stalled, never "delayed by a proxy".
        // (And a stream that never opens, while the REST API answers, is delayed too.)
        let stall = after + TimeDelta::seconds(10);
        assert!(liveness.poll_due(stall));
        liveness.polling(stall);
        liveness.polled(false);
        assert_eq!(liveness.shown_state(stall), ConnectionState::Stalled);
    }

    #[test]
    fn a_stream_that_never_opens_while_the_api_answers_is_held_back() {
        Owner::new().with(|| {
            let liveness = Liveness::new(1000);
            let now = Utc::now();
            assert!(!liveness.poll_due(now));
            let later = now + TimeDelta::seconds(4);
            assert!(liveness.poll_due(later));
            liveness.polling(later);
            assert_eq!(liveness.shown_state(later), ConnectionState::Connecting);
            liveness.polled(true);
            assert_eq!(liveness.shown_state(later), ConnectionState::Delayed);
            // It opens and is heard on time: live.
            liveness.set_state(ConnectionState::Live);
            let now = Utc::now();
            liveness.heartbeat_at(&beat(now), now);
            assert_eq!(liveness.shown_state(now), ConnectionState::Live);
        });
    }

    #[test]
    fn a_new_connections_opening_heartbeat_is_no_clump() {
        Owner::new().with(|| {
            let liveness = Liveness::new(15_000);
            liveness.set_state(ConnectionState::Live);
            let now = Utc::now();
            liveness.heartbeat_at(&beat(now), now);
            // The server restarts; the browser reconnects two seconds later, and the new
            // stream opens with a heartbeat at once.
            liveness.set_state(ConnectionState::Reconnecting);
            liveness.set_state(ConnectionState::Live);
            let again = now + TimeDelta::seconds(2);
            liveness.heartbeat_at(&beat(again), again);
            assert!(!liveness.poll_due(again));
            assert_eq!(liveness.shown_state(again), ConnectionState::Live);
        });
    }
}
