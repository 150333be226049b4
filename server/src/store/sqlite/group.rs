//! One write transaction's bookkeeping: the group commit's working state.
//!
//! A group of writes (new jobs, claims, job changes) runs in one transaction. Rather than
//! a round trip to SQLite per row, the rows the group writes are collected here and
//! written a few statements for the whole group (multi-row `INSERT`s and one `UPDATE …
//! FROM (VALUES …)`), before anything reads the tables they touch and before the commit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use app::event::{EventId, EventKind};
use app::job::{Job, JobId, JobStatus};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::owner::Owner;
use crate::store::StoreError;

/// Rows per statement (each binds at most 10 values; SQLite allows 32,766).
const ROWS_PER_STATEMENT: usize = 500;

/// What the last commit left: the jobs queued or running, and the newest event id. The
/// store is the only writer of both, so a change to a job needs no read, and a new event
/// id no look-up.
pub(super) type LiveJobs = Arc<Mutex<Committed>>;

#[derive(Debug, Default)]
pub(super) struct Committed {
    jobs: HashMap<JobId, (Job, Owner)>,
    last_event_id: Option<i64>,
}

/// What one transaction keeps track of.
///
/// Admission's counts are read at most once and counted up by the jobs the transaction
/// adds; claims and endings in the same transaction are not counted down: a count can only
/// be too high, so a limit is never overshot. Event ids are given out here, so a `created`
/// event can name its own id before it is written (AUTOINCREMENT keeps the largest id ever
/// used in `sqlite_sequence`; an explicit larger id moves it on, and ids are still never
/// reused). Jobs are worked on as copies, handed to [`LiveJobs`] only after the commit.
pub(super) struct Group {
    queued: Option<i64>,
    in_flight: HashMap<Owner, i64>,
    last_event_id: Option<i64>,
    live: LiveJobs,
    /// The jobs this transaction wrote, as it left them.
    jobs: HashMap<JobId, (Job, Owner)>,
    /// Rows not written yet.
    new_jobs: Vec<NewJobRow>,
    events: Vec<NewEventRow>,
    changed: HashSet<JobId>,
}

struct NewJobRow {
    id: String,
    owner: String,
    kind: String,
    params: String,
    title: String,
    created_at: DateTime<Utc>,
    retry_of: Option<String>,
    last_event_id: i64,
}

struct NewEventRow {
    id: i64,
    job_id: String,
    owner: String,
    kind: &'static str,
    data: String,
    created_at: DateTime<Utc>,
}

impl Group {
    pub(super) fn new(live: LiveJobs) -> Self {
        // A transaction that failed used no id for good: its successor may use them.
        let last_event_id = live.lock().expect("live jobs").last_event_id;
        Self {
            queued: None,
            in_flight: HashMap::new(),
            last_event_id,
            live,
            jobs: HashMap::new(),
            new_jobs: Vec::new(),
            events: Vec::new(),
            changed: HashSet::new(),
        }
    }

    /// How many jobs `owner` has queued or running, this transaction's included.
    pub(super) async fn in_flight(
        &mut self,
        conn: &mut SqliteConnection,
        owner: &Owner,
    ) -> Result<i64, StoreError> {
        if let Some(&count) = self.in_flight.get(owner) {
            return Ok(count);
        }
        // Counted in the table: the rows collected so far go first.
        self.flush(conn).await?;
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE owner = ? AND status IN ('queued', 'running')",
        )
        .bind(owner.as_str())
        .fetch_one(&mut *conn)
        .await?;
        self.in_flight.insert(owner.clone(), count);
        Ok(count)
    }

    /// How many jobs are queued, this transaction's included.
    pub(super) async fn queued(&mut self, conn: &mut SqliteConnection) -> Result<i64, StoreError> {
        if let Some(count) = self.queued {
            return Ok(count);
        }
        self.flush(conn).await?;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
            .fetch_one(&mut *conn)
            .await?;
        self.queued = Some(count);
        Ok(count)
    }

    /// A job added by this transaction counts against admission.
    pub(super) fn added(&mut self, owner: &Owner) {
        if let Some(queued) = &mut self.queued {
            *queued += 1;
        }
        if let Some(in_flight) = self.in_flight.get_mut(owner) {
            *in_flight += 1;
        }
    }

    pub(super) async fn next_event_id(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> Result<EventId, StoreError> {
        let last = match self.last_event_id {
            Some(last) => last,
            // Read once, before anything was appended.
            None => sqlx::query_scalar(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), \
                     COALESCE((SELECT MAX(id) FROM events), 0))",
            )
            .fetch_one(&mut *conn)
            .await?,
        };
        self.last_event_id = Some(last + 1);
        Ok(EventId(last + 1))
    }

    /// A job as this transaction, or else the last commit, left it (if it had not ended).
    pub(super) fn job(&self, id: JobId) -> Option<(Job, Owner)> {
        match self.jobs.get(&id) {
            Some(job) => Some(job.clone()),
            None => self.live.lock().expect("live jobs").jobs.get(&id).cloned(),
        }
    }

    /// A new job, queued: its row is written with the group's.
    pub(super) fn insert_job(&mut self, job: &Job, owner: &Owner) {
        self.new_jobs.push(NewJobRow {
            id: job.id.to_string(),
            owner: owner.as_str().to_owned(),
            kind: job.spec.kind.clone(),
            params: job.spec.params.to_string(),
            title: job.title.clone(),
            created_at: job.created_at,
            retry_of: job.retry_of.map(|id| id.to_string()),
            last_event_id: job.last_event_id.0,
        });
        self.jobs.insert(job.id, (job.clone(), owner.clone()));
    }

    /// A job's new state: its row is updated with the group's.
    pub(super) fn update_job(&mut self, job: &Job, owner: &Owner) {
        self.changed.insert(job.id);
        self.jobs.insert(job.id, (job.clone(), owner.clone()));
    }

    /// Appends an event under the transaction's next id: written with the group's.
    pub(super) async fn append(
        &mut self,
        conn: &mut SqliteConnection,
        event: (JobId, &Owner, EventKind, &str),
        now: DateTime<Utc>,
    ) -> Result<EventId, StoreError> {
        let id = self.next_event_id(conn).await?;
        self.push_event(id, event, now);
        Ok(id)
    }

    /// An event under an id already taken with [`Group::next_event_id`].
    pub(super) fn push_event(
        &mut self,
        id: EventId,
        (job_id, owner, kind, data): (JobId, &Owner, EventKind, &str),
        now: DateTime<Utc>,
    ) {
        self.events.push(NewEventRow {
            id: id.0,
            job_id: job_id.to_string(),
            owner: owner.as_str().to_owned(),
            kind: kind.as_str(),
            data: data.to_owned(),
            created_at: now,
        });
    }

    /// Writes the rows collected so far: new jobs, then events, then changed jobs, in one
    /// round trip (SQLite runs the statements in order, each with its own values).
    pub(super) async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.new_jobs.is_empty() && self.events.is_empty() && self.changed.is_empty() {
            return Ok(());
        }
        let mut query = QueryBuilder::<Sqlite>::new("");
        for rows in self.new_jobs.chunks(ROWS_PER_STATEMENT) {
            query.push(
                "INSERT INTO jobs (id, owner, kind, params, title, status, created_at, retry_of, \
                 last_event_id) ",
            );
            query.push_values(rows, |mut row, job| {
                row.push_bind(&job.id)
                    .push_bind(&job.owner)
                    .push_bind(&job.kind)
                    .push_bind(&job.params)
                    .push_bind(&job.title)
                    .push_bind(JobStatus::Queued.as_str())
                    .push_bind(job.created_at)
                    .push_bind(job.retry_of.as_deref())
                    .push_bind(job.last_event_id);
            });
            query.push(";\n");
        }
        for rows in self.events.chunks(ROWS_PER_STATEMENT) {
            query.push("INSERT INTO events (id, job_id, owner, kind, data, created_at) ");
            query.push_values(rows, |mut row, event| {
                row.push_bind(event.id)
                    .push_bind(&event.job_id)
                    .push_bind(&event.owner)
                    .push_bind(event.kind)
                    .push_bind(&event.data)
                    .push_bind(event.created_at);
            });
            query.push(";\n");
        }
        let changed: Vec<&Job> = self.changed.iter().map(|id| &self.jobs[id].0).collect();
        for jobs in changed.chunks(ROWS_PER_STATEMENT) {
            query.push(
                "UPDATE jobs SET status = v.column2, progress = v.column3, step = v.column4, \
                 error = v.column5, result_url = v.column6, started_at = v.column7, \
                 finished_at = v.column8, attempt = v.column9, last_event_id = v.column10 FROM (",
            );
            query.push_values(jobs, |mut row, job| {
                row.push_bind(job.id.to_string())
                    .push_bind(job.status.as_str())
                    .push_bind(i64::from(job.progress))
                    .push_bind(job.step.as_deref())
                    .push_bind(job.error.as_deref())
                    .push_bind(job.result_url.as_deref())
                    .push_bind(job.started_at)
                    .push_bind(job.finished_at)
                    .push_bind(i64::from(job.attempt))
                    .push_bind(job.last_event_id.0);
            });
            query.push(") AS v WHERE jobs.id = v.column1;\n");
        }
        query.build().execute(&mut *conn).await?;
        self.new_jobs.clear();
        self.events.clear();
        self.changed.clear();
        Ok(())
    }

    /// After the commit: the jobs it wrote become the known ones; ended ones are dropped.
    pub(super) fn committed(self) {
        let mut live = self.live.lock().expect("live jobs");
        for (id, job) in self.jobs {
            if job.0.status.is_terminal() {
                live.jobs.remove(&id);
            } else {
                live.jobs.insert(id, job);
            }
        }
        live.last_event_id = self.last_event_id;
    }
}
