//! Jobs as both sides see them: ids, kinds, parameters, statuses and the record.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::EventId;
pub use crate::ids::JobId;

/// Where a job is in its life. `Completed`, `Failed` and `Cancelled` are terminal: a job
/// reaches exactly one of them and never leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The wire name, as in JSON and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The state machine: which status may follow this one. `Running -> Running` is a
    /// progress update; `Running -> Queued` puts a job that a restart interrupted back
    /// in the queue (only kinds that are safe to re-run); a job may be cancelled or fail
    /// before it ever runs, but it completes only from `Running`.
    pub const fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Queued, Failed)
                | (Running, Queued)
                | (Running, Running)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A name that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name '{0}'")]
pub struct UnknownName(pub String);

/// What to run: a kind (one the server declares, see [`crate::kind`]) with its
/// parameters. On the wire (request body and job record) it is
/// `{"kind": "export", "params": {...}}`; the server checks the params against the kind's
/// declaration and its typed parameters before it accepts the job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub kind: String,
    #[serde(default = "empty_params")]
    pub params: serde_json::Value,
}

fn empty_params() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl JobSpec {
    pub fn new(kind: impl Into<String>, params: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            params,
        }
    }
}

/// A parameter that is missing, of the wrong type or out of range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's path in the request body, e.g. `params.stepMs`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where a job's resources live in the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub events: String,
}

impl JobLinks {
    pub fn for_job(id: JobId) -> Self {
        Self {
            self_: crate::paths::job(id),
            events: crate::paths::job_events(id),
        }
    }
}

/// A job as the API returns it and the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: JobId,
    #[serde(flatten)]
    pub spec: JobSpec,
    /// A short human title the server gave the job, e.g. "Export 1,000 rows".
    pub title: String,
    pub status: JobStatus,
    /// 0 to 100.
    pub progress: u8,
    /// The step the job is at (or was at when it ended).
    pub step: Option<String>,
    /// Why the job failed, in words a person can act on.
    pub error: Option<String>,
    /// Where the result can be downloaded, once the job has completed with one.
    pub result_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// How many times a worker has started this job (more than 1 after a restart
    /// re-queued it).
    pub attempt: u32,
    /// The job this one retries, if it was started with "Retry".
    pub retry_of: Option<JobId>,
    /// The id of the last event that changed this job.
    pub last_event_id: EventId,
    pub links: JobLinks,
    /// When each step began, oldest first (of this attempt): with `finishedAt`, what
    /// took how long.
    #[serde(default)]
    pub steps: Vec<StepMark>,
    /// The newest lines of the job's log (at most [`LOG_TAIL`]), oldest first.
    #[serde(default)]
    pub log: Vec<String>,
    /// How many lines the job logged before the first of `log` (not kept here; the event
    /// log has them all).
    #[serde(default)]
    pub log_skipped: u64,
    /// How much the job has processed, where it counts (rows, bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed: Option<Processed>,
    /// Where a queued job stands in line (not stored: the server's latest reckoning). The
    /// page takes it from the `queue` notes of its stream (the first comes as the stream
    /// opens), not from here: the bundle is spared reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub queue: Option<QueuePlace>,
}

/// Where a queued job stands: its place in line under the fair policy (1: the next to
/// start), about how many seconds until it starts, from the recent rate of endings (none
/// until jobs have ended lately), and both in words (what the page shows: the server
/// words it, so the browser needs no code for it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuePlace {
    pub position: u32,
    pub starts_in: Option<u32>,
    pub text: String,
}

impl QueuePlace {
    pub fn new(position: u32, starts_in: Option<u32>) -> Self {
        Self {
            position,
            starts_in,
            text: describe(position, starts_in),
        }
    }
}

/// "3rd in line · starts in about 40 s" (or "in about 2 min"; without an estimate, only
/// the place).
fn describe(position: u32, starts_in: Option<u32>) -> String {
    let suffix = match (position % 10, position % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    let place = format!("{position}{suffix} in line");
    match starts_in {
        None => place,
        Some(secs) if secs < 90 => format!("{place} · starts in about {} s", secs.max(1)),
        Some(secs) if secs < 90 * 60 => {
            format!("{place} · starts in about {} min", (secs + 30) / 60)
        }
        Some(secs) => format!("{place} · starts in about {} h", (secs + 1800) / 3600),
    }
}

/// How many of a job's log lines its record keeps (the event log keeps them all).
pub const LOG_TAIL: usize = 20;

/// How many step marks a job's record keeps: past this, the oldest merge into one
/// "Earlier steps" mark, so the timeline still covers the whole run.
pub const MAX_STEPS: usize = 50;

/// The label of the mark that stands for the steps merged away.
pub const EARLIER_STEPS: &str = "Earlier steps";

/// The step a job began at `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMark {
    pub step: String,
    pub at: DateTime<Utc>,
}

/// A quantity of work: so many rows, so many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub count: u64,
    pub unit: Unit,
}

/// What a job counts as it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Rows,
    Bytes,
}

/// How much a job has processed: the first and the latest count it reported, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Processed {
    pub first: Amount,
    pub first_at: DateTime<Utc>,
    pub latest: Amount,
    pub latest_at: DateTime<Utc>,
}

impl Processed {
    /// The observed rate between the first and the latest report, per second; none until
    /// the reports span a moment (a quarter second) and the count has moved.
    pub fn per_second(&self) -> Option<f64> {
        let millis = (self.latest_at - self.first_at).num_milliseconds();
        let counted = self.latest.count.checked_sub(self.first.count)?;
        (millis >= 250 && counted > 0).then(|| counted as f64 * 1000.0 / millis as f64)
    }
}

impl Job {
    /// A freshly accepted job.
    pub fn new(id: JobId, spec: JobSpec, title: String, created_at: DateTime<Utc>) -> Self {
        Self {
            id,
            spec,
            title,
            status: JobStatus::Queued,
            progress: 0,
            step: None,
            error: None,
            result_url: None,
            created_at,
            started_at: None,
            finished_at: None,
            attempt: 0,
            retry_of: None,
            last_event_id: EventId(0),
            links: JobLinks::for_job(id),
            steps: Vec::new(),
            log: Vec::new(),
            log_skipped: 0,
            processed: None,
            queue: None,
        }
    }
}

/// A page of the caller's jobs, newest first, and the id of the newest event at the time
/// they were read: subscribe with `?after=lastEventId` to miss nothing from then on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    pub jobs: Vec<Job>,
    pub last_event_id: EventId,
    /// How many of the caller's jobs are in each state: all of them, not only this page.
    #[serde(default)]
    pub counts: StatusCounts,
    /// Whether older jobs follow (ask with `before` = the last job's id).
    #[serde(default)]
    pub more: bool,
}

/// How many jobs are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    pub fn of(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Queued => self.queued,
            JobStatus::Running => self.running,
            JobStatus::Completed => self.completed,
            JobStatus::Failed => self.failed,
            JobStatus::Cancelled => self.cancelled,
        }
    }

    pub fn set(&mut self, status: JobStatus, count: u64) {
        let slot = match status {
            JobStatus::Queued => &mut self.queued,
            JobStatus::Running => &mut self.running,
            JobStatus::Completed => &mut self.completed,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Cancelled => &mut self.cancelled,
        };
        *slot = count;
    }

    pub fn total(&self) -> u64 {
        JobStatus::ALL
            .into_iter()
            .map(|status| self.of(status))
            .sum()
    }
}

/// Formats 1234567 as "1,234,567".
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `numerator / denominator` to one decimal, rounded half up: `tenths(1_550, 1_000)` is
/// "1.6". Integer arithmetic on purpose: formatting a float would add Rust's float
/// printing (some 15 KB) to the browser's bundle.
pub fn tenths(numerator: u64, denominator: u64) -> String {
    let tenths =
        (u128::from(numerator) * 10 + u128::from(denominator) / 2) / u128::from(denominator.max(1));
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod queue_place_tests {
    use super::QueuePlace;

    #[test]
    fn a_place_in_line_reads_as_people_say_it() {
        let say = |position, starts_in| QueuePlace::new(position, starts_in).text;
        assert_eq!(say(1, None), "1st in line");
        assert_eq!(say(2, Some(0)), "2nd in line · starts in about 1 s");
        assert_eq!(say(3, Some(40)), "3rd in line · starts in about 40 s");
        assert_eq!(say(11, Some(150)), "11th in line · starts in about 3 min");
        assert_eq!(say(22, Some(7200)), "22nd in line · starts in about 2 h");
        assert_eq!(say(113, None), "113th in line");
    }
}
