//! Jobs and events as both databases return them (the same columns in each), and their
//! conversion into the shared types.

use app::event::{EventId, EventKind};
use app::job::{Job, JobId, JobLinks, JobSpec, JobStatus, Processed, StepMark};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StoreError, StoredEvent};
use crate::owner::Owner;

/// The columns of a [`JobRow`].
macro_rules! job_columns {
    () => {
        "id, owner, kind, params, title, status, progress, step, error, result_url, \
         created_at, started_at, finished_at, attempt, retry_of, last_event_id, details"
    };
}
pub(super) use job_columns;

/// `SELECT`s the columns of a [`JobRow`] from `jobs`, followed by the given clauses.
macro_rules! select_jobs {
    ($($clauses:literal)+) => {
        concat!("SELECT ", $crate::store::rows::job_columns!(), " FROM jobs ", $($clauses),+)
    };
}
pub(super) use select_jobs;

/// The queued jobs a claim of up to `$depth` jobs may take, each with its id
/// (`queued_id`), kind, the turns its owner will have taken once it runs (`taken`: its
/// running jobs, and its queued jobs up to this one) and its `turn` under the fair policy
/// (the same SQL for both stores): an owner's queued jobs take turns with everyone
/// else's, and an owner's jobs already running count as turns taken. Owner A with 40
/// queued and 2 running, owner B with 1 queued: B's job goes first, then A's, one at a time
/// with any newcomer. Within one owner, oldest first; between equal turns, the older job.
///
/// Only the head of each owner's queue is ranked (`$heads`: each owner's first `$depth`
/// queued jobs of kinds without a cap and first `$depth` of capped kinds, `j`, read in
/// index order from `jobs_queued_by_owner`, and by kind from `jobs_queued_by_owner_kind`):
/// a later job has `$depth` of its owner's jobs ahead of it that a claim of `$depth` takes
/// first (of capped kinds: that may be claimed first). So a claim costs about the same
/// with one job queued or with a backlog of thousands (`$uncapped`: whether `j.kind` has
/// no cap; `place` counts the head only).
/// The owners with queued jobs are found by skipping from one to the next in the index
/// (`o`), not by reading every queued job: a claim costs as many index seeks as there are
/// owners waiting.
macro_rules! fair_queue {
    ($heads:literal, $uncapped:literal, $depth:literal) => {
        concat!(
            "SELECT q.id AS queued_id, q.owner AS queued_owner, q.kind AS queued_kind, \
             COALESCE(r.running, 0) + q.place \
             AS taken, ROW_NUMBER() OVER (ORDER BY COALESCE(r.running, 0) + q.place, q.seq) AS \
             turn FROM (SELECT id, seq, owner, kind, place FROM (SELECT id, seq, owner, kind, \
             uncapped, ROW_NUMBER() OVER w AS place, SUM(uncapped) OVER w AS uncapped_upto \
             FROM (SELECT j.id, j.seq, j.owner, j.kind, CASE WHEN ",
            $uncapped,
            " THEN 1 ELSE 0 END AS uncapped FROM (WITH RECURSIVE owners(owner) AS (SELECT \
             MIN(owner) FROM jobs WHERE status = 'queued' UNION ALL SELECT (SELECT MIN(owner) \
             FROM jobs WHERE status = 'queued' AND owner > owners.owner) FROM owners WHERE \
             owners.owner IS NOT NULL) SELECT owner FROM owners WHERE owner IS NOT NULL) AS o ",
            $heads,
            ") AS flagged WINDOW w AS (PARTITION BY owner ORDER BY seq)) AS ranked WHERE \
             uncapped_upto <= ",
            $depth,
            " AND (uncapped = 1 OR place - uncapped_upto <= ",
            $depth,
            ")) AS q LEFT JOIN (SELECT owner, COUNT(*) AS running FROM jobs WHERE status = \
             'running' GROUP BY owner) AS r ON r.owner = q.owner"
        )
    };
}
pub(super) use fair_queue;

/// The fair queue (of a claim of up to `$depth`) without the jobs of owners at their
/// running cap (`$owner_cap`), each with `kind_taken`: its kind's running jobs, and the
/// queued jobs of its kind up to this one in turn. A store keeps those whose
/// `kind_taken` is within their kind's cap: a kind capped at 1 with one running has none
/// claimable, and with none running, only its job first in turn.
macro_rules! claimable_queue {
    ($heads:literal, $uncapped:literal, $depth:literal, $owner_cap:literal) => {
        concat!(
            "SELECT f.queued_id, f.turn, f.queued_kind, COALESCE(k.running, 0) + ROW_NUMBER() \
             OVER (PARTITION BY f.queued_kind ORDER BY f.turn) AS kind_taken FROM (",
            $crate::store::rows::fair_queue!($heads, $uncapped, $depth),
            ") AS f LEFT JOIN (SELECT kind, COUNT(*) AS running FROM jobs WHERE status = \
             'running' GROUP BY kind) AS k ON k.kind = f.queued_kind WHERE f.taken <= ",
            $owner_cap
        )
    };
}
pub(super) use claimable_queue;

/// A job id read from the database.
pub(super) fn job_id(raw: &str) -> Result<JobId, StoreError> {
    raw.parse()
        .map_err(|e| StoreError::Corrupt(format!("job id {raw}: {e}")))
}

#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    pub(super) id: String,
    pub(super) owner: String,
    pub(super) kind: String,
    pub(super) params: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) progress: i64,
    pub(super) step: Option<String>,
    pub(super) error: Option<String>,
    pub(super) result_url: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) attempt: i64,
    pub(super) retry_of: Option<String>,
    pub(super) last_event_id: i64,
    pub(super) details: String,
}

/// The `details` column: the parts of a job that only its card shows.
#[derive(Serialize, Deserialize, Default)]
struct Details<S, L> {
    #[serde(default)]
    steps: S,
    #[serde(default)]
    log: L,
    #[serde(default)]
    log_skipped: u64,
    #[serde(default)]
    processed: Option<Processed>,
}

/// The `details` column's JSON for `job`.
pub(super) fn details(job: &Job) -> String {
    let details = Details {
        steps: &job.steps,
        log: &job.log,
        log_skipped: job.log_skipped,
        processed: job.processed,
    };
    serde_json::to_string(&details).expect("job details always serialise")
}

/// The jobs of `rows`, without their owners.
pub(super) fn into_jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, StoreError> {
    rows.into_iter()
        .map(|row| row.into_job().map(|(job, _)| job))
        .collect()
}

impl JobRow {
    /// The columns of [`select_jobs!`], as SQLite's write connection reads them.
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            owner: row.get(1)?,
            kind: row.get(2)?,
            params: row.get(3)?,
            title: row.get(4)?,
            status: row.get(5)?,
            progress: row.get(6)?,
            step: row.get(7)?,
            error: row.get(8)?,
            result_url: row.get(9)?,
            created_at: time(row, 10)?,
            started_at: row
                .get::<_, Option<String>>(11)?
                .map(|_| time(row, 11))
                .transpose()?,
            finished_at: row
                .get::<_, Option<String>>(12)?
                .map(|_| time(row, 12))
                .transpose()?,
            attempt: row.get(13)?,
            retry_of: row.get(14)?,
            last_event_id: row.get(15)?,
            details: row.get(16)?,
        })
    }

    pub(super) fn into_job(self) -> Result<(Job, Owner), StoreError> {
        let corrupt = |what: &str, err: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("job {}: {what}: {err}", self.id))
        };
        let id = job_id(&self.id)?;
        let params: serde_json::Value =
            serde_json::from_str(&self.params).map_err(|e| corrupt("params", &e))?;
        let spec = JobSpec::new(self.kind, params);
        let status: JobStatus = self.status.parse().map_err(|e| corrupt("status", &e))?;
        let progress = u8::try_from(self.progress.clamp(0, 100)).unwrap_or(0);
        let details: Details<Vec<StepMark>, Vec<String>> =
            serde_json::from_str(&self.details).map_err(|e| corrupt("details", &e))?;
        let job = Job {
            id,
            spec,
            title: self.title,
            status,
            progress,
            step: self.step,
            error: self.error,
            result_url: self.result_url,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            attempt: u32::try_from(self.attempt).unwrap_or(0),
            retry_of: self
                .retry_of
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt("retry_of", &e))?,
            last_event_id: EventId(self.last_event_id),
            links: JobLinks::for_job(id),
            steps: details.steps,
            log: details.log,
            log_skipped: details.log_skipped,
            processed: details.processed,
            queue: None,
        };
        Ok((job, Owner::new(self.owner)))
    }
}

/// A time as the store writes it (RFC 3339, sqlx's form), read from column `index`.
fn time(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(index)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
        })
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    pub(super) id: i64,
    pub(super) job_id: String,
    pub(super) owner: String,
    pub(super) kind: String,
    pub(super) data: String,
}

impl EventRow {
    pub(super) fn into_event(self) -> Result<StoredEvent, StoreError> {
        let corrupt = |what: &str, err: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("event {}: {what}: {err}", self.id))
        };
        let kind: EventKind = self.kind.parse().map_err(|e| corrupt("kind", &e))?;
        Ok(StoredEvent {
            id: EventId(self.id),
            job_id: job_id(&self.job_id)?,
            owner: Owner::new(self.owner),
            kind,
            data: self.data,
        })
    }
}
