//! What Candor counts, for Prometheus (`GET /metrics` on the admin address).
//!
//! Counters and histograms are recorded where things happen, through the `metrics`
//! facade (one global recorder per process, like `tracing`'s subscriber); the gauges
//! that describe a state (the queue, running jobs, open streams, the slowest
//! subscriber) are read when scraped. With several nodes, each node reports its own
//! work (jobs it accepted, ran and ended, events it wrote and streamed); the queue's
//! depth is the cluster's.

use std::sync::OnceLock;
use std::time::Duration;

use app::event::EventKind;

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Jobs accepted (queued), by `kind`.
pub const JOBS_ACCEPTED: &str = "candor_jobs_accepted_total";
/// Jobs ended, by `kind` and `outcome` (`completed`, `failed`, `cancelled`).
pub const JOBS_ENDED: &str = "candor_jobs_ended_total";
/// How long jobs ran, from their start to their ending, by `kind` and `outcome`.
pub const JOB_DURATION: &str = "candor_job_duration_seconds";
/// Jobs waiting in the queue (the cluster's, with several nodes).
pub const JOBS_QUEUED: &str = "candor_jobs_queued";
/// Jobs this node's workers are running.
pub const JOBS_RUNNING: &str = "candor_jobs_running";
/// Events this node wrote to the log.
pub const EVENTS_WRITTEN: &str = "candor_events_written_total";
/// Events sent to subscribers (one per subscriber that received it).
pub const EVENTS_DELIVERED: &str = "candor_events_delivered_total";
/// Event streams open.
pub const STREAMS_OPEN: &str = "candor_sse_streams_open";
/// Bytes written to event streams (events, heartbeats and keep-alives).
pub const BYTES_STREAMED: &str = "candor_sse_bytes_streamed_total";
/// How many events the slowest subscriber has yet to take from the live channel.
pub const SLOWEST_LAG: &str = "candor_sse_slowest_subscriber_lag_events";
/// How long a group commit to the store took (the write path's latency).
pub const STORE_COMMIT: &str = "candor_store_commit_seconds";
/// Group commits that failed (the store unreachable, most often).
pub const STORE_ERRORS: &str = "candor_store_errors_total";
/// Expired jobs the retention sweep had to leave: their files could not be deleted.
pub const RETENTION_FAILURES: &str = "candor_retention_failures_total";

/// Seconds, from a millisecond to an hour: jobs and commits both fit.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
];

/// The process's recorder, installed on first use; its handle renders the text format.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(JOBS_ACCEPTED, "Jobs accepted (queued), by kind.");
    describe_counter!(
        JOBS_ENDED,
        "Jobs ended, by kind and outcome (completed, failed, cancelled)."
    );
    describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "How long jobs ran, from start to ending, by kind and outcome."
    );
    describe_gauge!(JOBS_QUEUED, "Jobs waiting in the queue.");
    describe_gauge!(JOBS_RUNNING, "Jobs this node's workers are running.");
    describe_counter!(EVENTS_WRITTEN, "Events this node wrote to the log.");
    describe_counter!(
        EVENTS_DELIVERED,
        "Events sent to subscribers, one per subscriber that received it."
    );
    describe_gauge!(STREAMS_OPEN, "Event streams open.");
    describe_counter!(
        BYTES_STREAMED,
        Unit::Bytes,
        "Bytes written to event streams (events, heartbeats, keep-alives)."
    );
    describe_gauge!(
        SLOWEST_LAG,
        "Events the slowest subscriber has yet to take from the live channel (at most its capacity; past it, the subscriber reads from the log)."
    );
    describe_histogram!(
        STORE_COMMIT,
        Unit::Seconds,
        "How long a group commit to the store took."
    );
    describe_counter!(
        STORE_ERRORS,
        "Group commits that failed (the store unreachable, most often)."
    );
    describe_counter!(
        RETENTION_FAILURES,
        "Expired jobs the retention sweep left because their files could not be deleted."
    );
}

/// A job was accepted.
pub fn job_accepted(kind: &str) {
    counter!(JOBS_ACCEPTED, "kind" => kind.to_owned()).increment(1);
}

/// A job of `kind` ended with `event` (a completion, failure or cancellation; anything
/// else, a job queued again, is no ending) after running for `ran` (none if it never
/// started).
pub fn job_ended(kind: &str, event: EventKind, ran: Option<Duration>) {
    let outcome = match event {
        EventKind::Completion => "completed",
        EventKind::Failure => "failed",
        EventKind::Cancelled => "cancelled",
        _ => return,
    };
    counter!(JOBS_ENDED, "kind" => kind.to_owned(), "outcome" => outcome).increment(1);
    if let Some(ran) = ran {
        ::metrics::histogram!(JOB_DURATION, "kind" => kind.to_owned(), "outcome" => outcome)
            .record(ran.as_secs_f64());
    }
}

/// How long a job that started at `started` has run by `now`.
pub fn ran(
    started: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    started.and_then(|started| (now - started).to_std().ok())
}

/// The gauges that describe a moment, set just before a scrape renders.
pub struct Moment {
    pub queued: Option<u64>,
    pub running: usize,
    pub streams_open: usize,
    pub slowest_lag: usize,
}

/// The text format, with `moment`'s gauges.
pub fn render(moment: &Moment) -> String {
    let handle = handle();
    if let Some(queued) = moment.queued {
        gauge!(JOBS_QUEUED).set(queued as f64);
    }
    gauge!(JOBS_RUNNING).set(moment.running as f64);
    gauge!(STREAMS_OPEN).set(moment.streams_open as f64);
    gauge!(SLOWEST_LAG).set(moment.slowest_lag as f64);
    handle.render()
}
