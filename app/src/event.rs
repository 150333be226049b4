//! The event-stream contract: event ids, names and the typed payloads that travel in the
//! `data:` field of each Server-Sent Event. Serialised once on the server, parsed with
//! the same types in the browser.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::ids::{EventId, InvalidEventId};
pub use crate::job::{Amount, Unit};
use crate::job::{Job, JobId, JobStatus, StepMark, UnknownName};

/// The SSE `event:` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A job was accepted; carries the whole job.
    Created,
    /// The job started, or reported progress.
    StatusUpdate,
    /// The running job wrote lines to its log.
    Log,
    /// The job completed; carries the result's URL.
    Completion,
    /// The job failed; carries the reason and the step.
    Failure,
    /// The job was cancelled.
    Cancelled,
    /// The ended job's retention ran out: it, its events and its files are gone.
    Removed,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Created,
        EventKind::StatusUpdate,
        EventKind::Log,
        EventKind::Completion,
        EventKind::Failure,
        EventKind::Cancelled,
        EventKind::Removed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StatusUpdate => "status-update",
            EventKind::Log => "log",
            EventKind::Completion => "completion",
            EventKind::Failure => "failure",
            EventKind::Cancelled => "cancelled",
            EventKind::Removed => "removed",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            EventKind::Completion | EventKind::Failure | EventKind::Cancelled
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// `created`: the job as it was accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCreated {
    pub job_id: JobId,
    pub job: Job,
}

/// `status-update`: the job is running, at `progress` percent, on `step`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    pub job_id: JobId,
    pub status: JobStatus,
    pub progress: u8,
    pub step: Option<String>,
    /// How much the job has processed so far (rows, bytes), where it counts: the page
    /// shows the rate from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Amount>,
    /// The steps the job began since its previous update, oldest first, each with when
    /// it began (the current `step` among them when it is new): updates come a few
    /// times a second at most, steps as fast as the job goes, and the timeline shows
    /// every one. Omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub began: Vec<StepMark>,
    pub at: DateTime<Utc>,
}

/// `log`: lines the running job wrote, oldest first (lines written within a few hundred
/// milliseconds travel together).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLog {
    pub job_id: JobId,
    pub lines: Vec<String>,
    pub at: DateTime<Utc>,
}

/// `completion`: the job is done; `url` is where its result downloads, if it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub job_id: JobId,
    pub url: Option<String>,
    pub at: DateTime<Utc>,
}

/// `failure`: the job failed at `step` because of `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub job_id: JobId,
    pub error: String,
    pub step: Option<String>,
    pub at: DateTime<Utc>,
}

/// `cancelled`: someone cancelled the job; `step` is where it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancelled {
    pub job_id: JobId,
    pub step: Option<String>,
    pub at: DateTime<Utc>,
}

/// `removed`: the ended job was removed when its retention ran out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRemoved {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
}

/// One change to one job: the payload of one Server-Sent Event.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    Created(Box<JobCreated>),
    StatusUpdate(StatusUpdate),
    Log(JobLog),
    Completion(Completion),
    Failure(Failure),
    Cancelled(Cancelled),
    Removed(JobRemoved),
}

/// An event whose name or payload does not match the contract.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event name: {0}")]
    UnknownKind(#[from] UnknownName),
    #[error("malformed event payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl JobEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            JobEvent::Created(_) => EventKind::Created,
            JobEvent::StatusUpdate(_) => EventKind::StatusUpdate,
            JobEvent::Log(_) => EventKind::Log,
            JobEvent::Completion(_) => EventKind::Completion,
            JobEvent::Failure(_) => EventKind::Failure,
            JobEvent::Cancelled(_) => EventKind::Cancelled,
            JobEvent::Removed(_) => EventKind::Removed,
        }
    }

    pub fn job_id(&self) -> JobId {
        match self {
            JobEvent::Created(created) => created.job_id,
            JobEvent::StatusUpdate(update) => update.job_id,
            JobEvent::Log(log) => log.job_id,
            JobEvent::Completion(done) => done.job_id,
            JobEvent::Failure(failure) => failure.job_id,
            JobEvent::Cancelled(cancelled) => cancelled.job_id,
            JobEvent::Removed(removed) => removed.job_id,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.kind().is_terminal()
    }

    /// The JSON of the payload, as it goes into `data:`.
    pub fn to_json(&self) -> String {
        let json = match self {
            JobEvent::Created(created) => serde_json::to_string(created),
            JobEvent::StatusUpdate(update) => serde_json::to_string(update),
            JobEvent::Log(log) => serde_json::to_string(log),
            JobEvent::Completion(done) => serde_json::to_string(done),
            JobEvent::Failure(failure) => serde_json::to_string(failure),
            JobEvent::Cancelled(cancelled) => serde_json::to_string(cancelled),
            JobEvent::Removed(removed) => serde_json::to_string(removed),
        };
        // These types hold only strings, numbers, ids and timestamps: serialising them
        // cannot fail.
        json.expect("event payloads always serialise")
    }

    /// Reads an event back from its SSE name and `data:`.
    pub fn decode(kind: &str, data: &str) -> Result<Self, DecodeError> {
        Ok(match kind.parse::<EventKind>()? {
            EventKind::Created => JobEvent::Created(Box::new(serde_json::from_str(data)?)),
            EventKind::StatusUpdate => JobEvent::StatusUpdate(serde_json::from_str(data)?),
            EventKind::Log => JobEvent::Log(serde_json::from_str(data)?),
            EventKind::Completion => JobEvent::Completion(serde_json::from_str(data)?),
            EventKind::Failure => JobEvent::Failure(serde_json::from_str(data)?),
            EventKind::Cancelled => JobEvent::Cancelled(serde_json::from_str(data)?),
            EventKind::Removed => JobEvent::Removed(serde_json::from_str(data)?),
        })
    }
}

/// `GET /api/streams`: how many event streams the caller has open, and the most they may
/// (tabs of one browser share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenStreams {
    pub open: usize,
    pub max: usize,
}

/// `heartbeat`: sent on every stream at a fixed interval, outside the log (it has no
/// `id:`, so it does not move a client's `Last-Event-ID`). It tells the page that the
/// connection works, what time the server has, and when each of the caller's running jobs
/// last reported, so that "the connection stalled" and "the worker stopped reporting"
/// can be told apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub server_time: DateTime<Utc>,
    /// How long until the next heartbeat.
    pub interval_ms: u64,
    /// After how long without a report a running job counts as silent.
    pub silent_after_ms: u64,
    /// The caller's running jobs (on a one-job stream, that job if it runs).
    pub running: Vec<JobPulse>,
}

impl Heartbeat {
    /// The SSE `event:` name.
    pub const NAME: &'static str = "heartbeat";
}

/// Where the caller's queued jobs stand (`event: queue`, not in the log, no `id:`): sent
/// once a stream has replayed what it missed, and whenever a place changes (at most about
/// once a second). On `/api/events` it lists every queued job of the caller that has a
/// place; on a job's stream, that job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueNote {
    pub jobs: Vec<QueuedJob>,
}

impl QueueNote {
    /// The SSE `event:` name.
    pub const NAME: &'static str = "queue";
}

/// One queued job's place in line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedJob {
    pub job_id: JobId,
    /// As [`crate::job::QueuePlace`] (the page shows only `text`, and skips the rest).
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub position: u32,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub starts_in: Option<u32>,
    pub text: String,
}

/// When a running job last reported (started, reported progress or wrote to its log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPulse {
    pub job_id: JobId,
    pub last_report_at: DateTime<Utc>,
}
