//! Storage of jobs and of the event log, behind one trait.
//!
//! The store is the truth: every change to a job is one event, appended to the log and
//! applied to the job's row in the same transaction, through the state machine in
//! [`app::job::Job::apply`]. A change the state machine refuses (progress after the end,
//! a second ending) is not stored, so a job ends exactly once.
//!
//! [`SqliteStore`] is the embedded default. The trait speaks only of jobs, events and
//! owners, so a PostgreSQL implementation (claims with `FOR UPDATE SKIP LOCKED`, a
//! `LISTEN/NOTIFY` doorbell) fits behind it for several nodes.

mod rows;
mod sqlite;

use app::event::{EventId, EventKind, JobEvent};
use app::job::{InvalidTransition, Job, JobId, JobList, JobSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use sqlite::{SqliteStore, WriteTurns};

use crate::owner::Owner;

/// An event as the log holds it: its id, whose it is, and its payload exactly as it is
/// streamed.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: EventId,
    pub job_id: JobId,
    pub owner: Owner,
    pub kind: EventKind,
    /// The JSON payload (`data:`), serialised once when the event was written.
    pub data: String,
}

/// A job that a worker has claimed, with what the worker needs to run it.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub job: Job,
    /// The event that marked it running (it names the owner).
    pub event: StoredEvent,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("no job {0}")]
    UnknownJob(JobId),
    #[error("{0}")]
    Refused(#[from] Refusal),
}

/// The limits a new job is admitted under, checked in the same transaction that stores
/// it, so concurrent requests cannot overshoot them.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// The most jobs waiting in the queue, over all owners.
    pub max_queued: u32,
    /// The most jobs one owner may have queued or running.
    pub max_in_flight_per_owner: u32,
}

impl Admission {
    /// No limits (tests and tools).
    pub const UNLIMITED: Admission = Admission {
        max_queued: u32::MAX,
        max_in_flight_per_owner: u32::MAX,
    };
}

/// Why a job was not admitted; nothing was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the queue is full ({max} jobs waiting); try again shortly")]
    QueueFull { max: u32 },
    #[error("you have {max} jobs queued or running, the most allowed at once; wait for one to end")]
    OwnerBusy { max: u32 },
}

/// An API token as listed (the token itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub owner: Owner,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What [`Store::record`] did with an event.
#[derive(Debug)]
pub enum Recorded {
    /// Appended to the log and applied to the job.
    Stored(StoredEvent),
    /// Refused by the state machine (e.g. the job had already ended); nothing changed.
    Refused(InvalidTransition),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new job as `queued` and appends its `created` event, atomically, if
    /// `admission` lets it in (else [`StoreError::Refused`], and nothing is stored).
    /// `retry_of` links it to the job it retries.
    async fn create_job(
        &self,
        owner: &Owner,
        spec: &JobSpec,
        title: &str,
        retry_of: Option<JobId>,
        admission: Admission,
        now: DateTime<Utc>,
    ) -> Result<(Job, StoredEvent), StoreError>;

    /// Claims the oldest queued job: marks it `running` (appending that event), or returns
    /// `None` when the queue is empty.
    async fn claim_next(&self, now: DateTime<Utc>) -> Result<Option<ClaimedJob>, StoreError>;

    /// Appends an event and applies it to its job, atomically, if the job's state allows it.
    /// A `removed` event also deletes the job's earlier events and marks its row removed.
    async fn record(&self, event: &JobEvent) -> Result<Recorded, StoreError>;

    /// Records `events` in order, as [`Store::record`] does each, in one transaction (one
    /// commit for all: the log's group commit). Each is stored or refused on its own;
    /// an error stores none of them.
    async fn record_all(&self, events: &[JobEvent]) -> Result<Vec<Recorded>, StoreError> {
        let mut recorded = Vec::with_capacity(events.len());
        for event in events {
            recorded.push(self.record(event).await?);
        }
        Ok(recorded)
    }

    /// One of the owner's jobs (`None` for another owner's job, exactly as for no job,
    /// and for a removed job).
    async fn job(&self, owner: &Owner, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Whether the owner had this job and its retention removed it.
    async fn was_removed(&self, owner: &Owner, id: JobId) -> Result<bool, StoreError>;

    /// Ended jobs that finished before `before` and are not removed yet, oldest first.
    async fn expired_jobs(&self, before: DateTime<Utc>, limit: u32)
    -> Result<Vec<Job>, StoreError>;

    /// The owner's newest jobs, and the id of the newest event when they were read (one
    /// consistent snapshot).
    async fn jobs(&self, owner: &Owner, limit: u32) -> Result<JobList, StoreError>;

    /// The owner's events after `after`, oldest first, optionally of one job only.
    async fn events_after(
        &self,
        owner: &Owner,
        after: EventId,
        job: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The id of the newest event in the log (0 when it is empty).
    async fn last_event_id(&self) -> Result<EventId, StoreError>;

    /// Jobs marked `running` (after a restart: the ones a dead process left behind).
    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// Stores a new API token's hash for `owner`.
    async fn add_token(&self, token: &TokenInfo, hash: &[u8]) -> Result<(), StoreError>;

    /// The owner of the unrevoked token with this hash.
    async fn token_owner(&self, hash: &[u8]) -> Result<Option<Owner>, StoreError>;

    /// Every token, newest first.
    async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Revokes the token with this id; `false` if there is no such unrevoked token.
    async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}
