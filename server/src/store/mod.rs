//! Storage of jobs and of the event log, behind one trait.
//!
//! The store is the truth: every change to a job is one event, appended to the log and
//! applied to the job's row in the same transaction, through the state machine in
//! [`app::job::Job::apply`]. A change the state machine refuses (progress after the end,
//! a second ending) is not stored, so a job ends exactly once.
//!
//! [`SqliteStore`] is the embedded default: one process. [`PgStore`] lets several
//! nodes share one PostgreSQL database: appends are serialised (ids are committed in
//! the order they are given out), running jobs hold leases, and every commit rings a
//! `LISTEN/NOTIFY` doorbell that the other nodes follow the log by.
//!
//! Writes from a job's own run ([`Write::Report`]) carry its attempt number, a fencing
//! token: once the job has ended or been claimed again, a late write from the old run
//! is refused and cannot overwrite the outcome.
//!
//! Layout: each statement and each decision is written once for both databases; a
//! backend keeps only what truly differs.
//! - [`database`]: the database behind a store, and `with_pool!`, which compiles one
//!   statement for each.
//! - `group`: a group commit's decisions (what to read and lock, what to admit and claim,
//!   what each event does, the ids, what to write and announce).
//! - `reads`, `tokens`, `rows`: the reads of jobs and of the log, API tokens, and the
//!   rows both databases return.
//! - `sqlite` (and `sqlite/commit`): one writer connection, turns, the jobs the last
//!   commit left in memory, rows written one by one.
//! - `postgres` (and `postgres/commit`): row locks, the log's lock, one statement over
//!   arrays, `NOTIFY`, leases.
//! - `contract` (tests): the checks every backend passes.

#[cfg(test)]
pub(crate) mod contract;
pub(crate) mod database;
mod group;
mod postgres;
mod reads;
mod rows;
mod sqlite;
mod tokens;

use std::collections::BTreeMap;
use std::sync::Arc;

use app::event::{EventId, EventKind, JobEvent};
use app::job::{Job, JobId, JobSpec};
use app::transition::InvalidTransition;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use database::Database;
pub use postgres::{LOG_CHANNEL, PgSettings, PgStore};
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
    #[error("database error: {0}")]
    Write(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database lacks migration {missing} of this build (it has up to {applied})")]
    NotMigrated { missing: i64, applied: i64 },
    #[error("no job {0}")]
    UnknownJob(JobId),
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// A write not tried, for the reason the one before it failed.
    #[error("{0}")]
    Unavailable(Unavailable),
}

impl StoreError {
    /// Whether the database cannot take the request now rather than refusing or failing
    /// it for what it is: worth a retry. Says why: PostgreSQL down, restarting or out of
    /// connections; SQLite's write lock held too long by another process (a backup, the
    /// `sqlite3` shell), its volume full, or its file unreadable.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self {
            StoreError::Database(err) => match err {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => Some(Unavailable::Unreachable),
                sqlx::Error::Database(db) => db.code().and_then(|code| {
                    // SQLite's codes are numbers (extended: the primary code in the low
                    // byte); PostgreSQL's are five-character SQLSTATEs.
                    match code.parse::<i32>() {
                        Ok(code) => Unavailable::of_sqlite(code),
                        // Connection exceptions (08…), and the server shutting down or
                        // starting.
                        Err(_) => (code.starts_with("08")
                            || matches!(&*code, "57P01" | "57P02" | "57P03"))
                        .then_some(Unavailable::Unreachable),
                    }
                }),
                _ => None,
            },
            StoreError::Write(rusqlite::Error::SqliteFailure(failure, _)) => {
                Unavailable::of_sqlite(failure.extended_code)
            }
            StoreError::Unavailable(why) => Some(*why),
            _ => None,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        self.unavailable().is_some()
    }
}

/// Why the database cannot take a request now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("the database cannot be reached")]
    Unreachable,
    #[error("the database is busy: another process holds its write lock")]
    Busy,
    #[error("no space left on the data volume")]
    Full,
    #[error("the database file cannot be read or written (an I/O error)")]
    Io,
}

impl Unavailable {
    /// SQLite's result code (primary or extended) as a reason, if it is one of these.
    fn of_sqlite(code: i32) -> Option<Self> {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL.
        match code & 0xff {
            5 | 6 => Some(Unavailable::Busy),
            13 => Some(Unavailable::Full),
            10 => Some(Unavailable::Io),
            _ => None,
        }
    }
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
    /// A retry of a job that has one queued or running already (a double click, a
    /// request sent twice): one retry at a time.
    #[error("this job is being retried already (job {retry})")]
    AlreadyRetried { retry: JobId },
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

/// What recording an event did.
#[derive(Debug)]
pub enum Recorded {
    /// Appended to the log and applied to the job: the event, and the job after it.
    Stored { event: StoredEvent, job: Box<Job> },
    /// Refused by the state machine (e.g. the job had already ended); nothing changed.
    Refused(InvalidTransition),
    /// The store holds no such job (its retention removed it, another node's sweep a
    /// moment before, say); nothing changed, and the writes grouped with it go on.
    Gone,
}

/// A job to store as `queued`, if `admission` lets it in; `retry_of` links it to the job
/// it retries.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub owner: Owner,
    pub spec: JobSpec,
    pub title: String,
    pub retry_of: Option<JobId>,
    pub admission: Admission,
}

/// How many queued jobs are given a place in line (`queue` on a job and its events); those
/// further back have none.
pub const QUEUE_SHOWN: usize = 10_000;

/// What a claim may not go past, counting the jobs running on every node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimLimits {
    /// The most jobs one owner may have running (`u32::MAX`: no cap).
    pub owner_max_running: u32,
    /// The most jobs of a kind that may run at once, for the kinds that say
    /// (`JobKind::MAX_RUNNING`).
    pub kind_max_running: Arc<BTreeMap<String, u32>>,
}

impl ClaimLimits {
    pub fn none() -> Self {
        Self {
            owner_max_running: u32::MAX,
            kind_max_running: Arc::default(),
        }
    }

    /// The same limits, with at most `max` of one owner's jobs running.
    pub fn owner_max_running(self, max: u32) -> Self {
        Self {
            owner_max_running: max,
            ..self
        }
    }
}

/// One change to the jobs and their log. Changes are written in groups, each group in one
/// transaction with one commit (the log's group commit), each change in the group done or
/// refused on its own.
#[derive(Clone, Debug)]
pub enum Write {
    /// Store a new job and append its `created` event.
    Create(NewJob),
    /// Claim up to `max` queued jobs, in turn between owners (see `rows::fair_queue`),
    /// within `limits`: mark each `running`, appending that event.
    Claim { max: u32, limits: ClaimLimits },
    /// Append an event and apply it to its job, if the job's state allows it. A `removed`
    /// event also deletes the job's earlier events and marks its row removed.
    Record(JobEvent),
    /// As `Record`, for an event of the job's own run (its progress, log, ending), which
    /// is taken only while the job is running that `attempt` (fencing: a run that lost
    /// its claim cannot write).
    Report { event: JobEvent, attempt: u32 },
}

impl Write {
    /// The job a `Record` or `Report` changes.
    pub fn job_id(&self) -> Option<JobId> {
        match self {
            Write::Record(event) | Write::Report { event, .. } => Some(event.job_id()),
            Write::Create(_) | Write::Claim { .. } => None,
        }
    }
}

/// What one [`Write`] did.
#[derive(Debug)]
pub enum Written {
    /// The job as stored and its `created` event, or why it was not admitted (nothing
    /// was stored).
    Created(Result<Box<(Job, StoredEvent)>, Refusal>),
    /// The jobs claimed, oldest first (none when the queue is empty).
    Claimed(Vec<ClaimedJob>),
    Recorded(Recorded),
}

/// Where jobs and their log are kept. A backend implements only what differs between
/// databases: the group commit, and how it tells a lost run. Every other statement is
/// written once, for every backend, as a method of `dyn Store` (in `reads.rs` and
/// `tokens.rs`) on the [`Database`] the backend returns.
///
/// Writes go through [`write_all`](Store::write_all) alone, called by the event writer
/// ([`crate::events::Recorder`]), which announces what each commit stored.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The database, for the statements every backend shares.
    fn database(&self) -> &Database;

    /// Writes `writes` in order, in one transaction: one commit for all. Each is done or
    /// refused on its own (a later one sees what the earlier ones did); an error writes
    /// none of them.
    async fn write_all(
        &self,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<Vec<Written>, StoreError>;

    /// Running jobs whose process is gone: claimed by an earlier process (SQLite), or
    /// whose lease has expired (PostgreSQL). Each must be ended or queued again.
    async fn orphaned_jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// Renews the leases of jobs this process runs (nothing to do with one process).
    async fn renew_leases(&self, jobs: &[JobId]) -> Result<(), StoreError>;
}

/// Writes one change through `store`'s one door, in a transaction of its own.
pub(crate) async fn write_one(store: &dyn Store, write: Write) -> Result<Written, StoreError> {
    store
        .write_all(std::slice::from_ref(&write), Utc::now())
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a write had no outcome".to_owned()))
}

/// A write answered with the outcome of another kind of write.
pub(crate) fn unexpected(written: &Written) -> StoreError {
    StoreError::Corrupt(format!("a write had an unexpected outcome: {written:?}"))
}
