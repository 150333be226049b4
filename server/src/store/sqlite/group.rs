//! One write transaction: a group of writes (new jobs, claims, job changes), each done or
//! refused on its own, all committed at once (the log's group commit).
//!
//! It runs on the store's write connection, called directly on the calling thread (the
//! event writer's): each statement is a call into SQLite, with no hand-over to another
//! thread and back. Under load such a hand-over waits for a free core, and a group made
//! several of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::event::{EventId, JobCreated, JobEvent, StatusUpdate};
use app::job::{InvalidTransition, Job, JobId, JobStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::STARTING_STEP;
use crate::owner::Owner;
use crate::store::rows::{JobRow, details, job_id, select_jobs};
use crate::store::{
    Admission, ClaimedJob, NewJob, Recorded, Refusal, StoreError, StoredEvent, Write, Written,
    fence,
};

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
pub(super) struct Group<'c> {
    conn: &'c Connection,
    /// This process's name in `claimed_by`.
    node: &'c str,
    live: &'c LiveJobs,
    queued: Option<i64>,
    in_flight: HashMap<Owner, i64>,
    last_event_id: Option<i64>,
    /// The jobs this transaction wrote, as it left them.
    jobs: HashMap<JobId, (Job, Owner)>,
}

/// What a group leaves for [`LiveJobs`] once it is committed.
pub(super) struct Changes {
    jobs: HashMap<JobId, (Job, Owner)>,
    last_event_id: Option<i64>,
}

/// A time as the store keeps it (RFC 3339, as sqlx writes and reads it).
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

impl<'c> Group<'c> {
    /// A group writing through `conn`, which is inside a `BEGIN IMMEDIATE` transaction.
    pub(super) fn new(conn: &'c Connection, node: &'c str, live: &'c LiveJobs) -> Self {
        // A transaction that failed used no id for good: its successor may use them.
        let last_event_id = live.lock().expect("live jobs").last_event_id;
        Self {
            conn,
            node,
            live,
            queued: None,
            in_flight: HashMap::new(),
            last_event_id,
            jobs: HashMap::new(),
        }
    }

    /// Does one write, or says why it was refused; a later write sees what it did.
    pub(super) fn write(
        &mut self,
        write: &Write,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        Ok(match write {
            Write::Create(new) => Written::Created(self.create(new, now)?),
            Write::Claim { max } => Written::Claimed(self.claim(*max, now)?),
            Write::Record(event) => Written::Recorded(self.record(event, None, now)?),
            Write::Report { event, attempt } => {
                Written::Recorded(self.record(event, Some(*attempt), now)?)
            }
        })
    }

    /// Records one event (of the run `attempt`, if it comes from the job's own run).
    fn record(
        &mut self,
        event: &JobEvent,
        attempt: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        // A refused event wrote nothing: the others go on.
        Ok(match self.apply(event, attempt, now)? {
            Ok((stored, _)) => Recorded::Stored(stored),
            Err(refused) => Recorded::Refused(refused),
        })
    }

    /// What the commit makes known; call [`Changes::committed`] once it has succeeded.
    pub(super) fn changes(self) -> Changes {
        Changes {
            jobs: self.jobs,
            last_event_id: self.last_event_id,
        }
    }

    /// Stores a new queued job and its `created` event, if its admission lets it in.
    fn create(
        &mut self,
        new: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<Result<Box<(Job, StoredEvent)>, Refusal>, StoreError> {
        let NewJob {
            owner,
            spec,
            title,
            retry_of,
            admission,
        } = new;
        if let Err(refusal) = self.admit(owner, *admission)? {
            return Ok(Err(refusal));
        }
        let mut job = Job::new(
            JobId(uuid::Uuid::new_v4()),
            spec.clone(),
            title.clone(),
            now,
        );
        job.retry_of = *retry_of;
        // The `created` event carries the job as of that event, its own id included.
        job.last_event_id = self.next_event_id()?;
        self.conn
            .prepare_cached(
                "INSERT INTO jobs (id, owner, kind, params, title, status, created_at, retry_of, \
                 last_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                job.id.to_string(),
                owner.as_str(),
                job.spec.kind,
                job.spec.params.to_string(),
                job.title,
                JobStatus::Queued.as_str(),
                stamp(job.created_at),
                job.retry_of.map(|id| id.to_string()),
                job.last_event_id.0,
            ])?;
        let event = JobEvent::Created(Box::new(JobCreated {
            job_id: job.id,
            job: job.clone(),
        }));
        let stored = self.insert_event(job.last_event_id, job.id, owner, &event, now)?;
        self.jobs.insert(job.id, (job.clone(), owner.clone()));
        if let Some(queued) = &mut self.queued {
            *queued += 1;
        }
        if let Some(in_flight) = self.in_flight.get_mut(owner) {
            *in_flight += 1;
        }
        Ok(Ok(Box::new((job, stored))))
    }

    /// Checks `admission` inside the writing transaction: no other writer can add a job
    /// between the count and the insert.
    fn admit(
        &mut self,
        owner: &Owner,
        admission: Admission,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let max = admission.max_in_flight_per_owner;
        if max < u32::MAX && self.in_flight(owner, max)? >= i64::from(max) {
            return Ok(Err(Refusal::OwnerBusy { max }));
        }
        let max = admission.max_queued;
        if max < u32::MAX && self.queued(max)? >= i64::from(max) {
            return Ok(Err(Refusal::QueueFull { max }));
        }
        Ok(Ok(()))
    }

    /// How many jobs `owner` has queued or running, this transaction's included, counted
    /// up to `max` (whether the limit is reached is all that matters).
    fn in_flight(&mut self, owner: &Owner, max: u32) -> Result<i64, StoreError> {
        if let Some(&count) = self.in_flight.get(owner) {
            return Ok(count);
        }
        let count = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE owner = ? \
                 AND status IN ('queued', 'running') LIMIT ?)",
            )?
            .query_row(params![owner.as_str(), i64::from(max)], |row| row.get(0))?;
        self.in_flight.insert(owner.clone(), count);
        Ok(count)
    }

    /// How many jobs are queued, this transaction's included, counted up to `max`.
    fn queued(&mut self, max: u32) -> Result<i64, StoreError> {
        if let Some(count) = self.queued {
            return Ok(count);
        }
        let count = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' LIMIT ?)",
            )?
            .query_row([i64::from(max)], |row| row.get(0))?;
        self.queued = Some(count);
        Ok(count)
    }

    /// Claims up to `max` of the oldest queued jobs (this transaction's new ones included).
    fn claim(&mut self, max: u32, now: DateTime<Utc>) -> Result<Vec<ClaimedJob>, StoreError> {
        let next: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT ?")?
            .query_map([i64::from(max)], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(next.len());
        for id in next {
            let job_id = job_id(&id)?;
            let start = JobEvent::StatusUpdate(StatusUpdate {
                job_id,
                status: JobStatus::Running,
                progress: 0,
                step: Some(STARTING_STEP.to_owned()),
                done: None,
                began: Vec::new(),
                at: now,
            });
            let Ok((event, job)) = self.apply(&start, None, now)? else {
                return Err(StoreError::Corrupt(format!(
                    "queued job {job_id} could not be started"
                )));
            };
            self.conn
                .prepare_cached("UPDATE jobs SET claimed_by = ? WHERE id = ?")?
                .execute(params![self.node, id])?;
            claimed.push(ClaimedJob { job, event });
        }
        Ok(claimed)
    }

    /// Checks `event` against the job's state, appends it, and applies it: the heart of
    /// every write. Returns the stored event and the job after it, or why the state
    /// machine refused it.
    fn apply(
        &mut self,
        event: &JobEvent,
        attempt: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Result<(StoredEvent, Job), InvalidTransition>, StoreError> {
        let job_id = event.job_id();
        let (mut job, owner) = match self.job(job_id)? {
            Some(known) => known,
            None => return Err(StoreError::UnknownJob(job_id)),
        };
        if let Err(refused) = job.check(event).and(fence(&job, event, attempt)) {
            return Ok(Err(refused));
        }
        let id = self.next_event_id()?;
        job.apply(id, event)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stored = self.insert_event(id, job_id, &owner, event, now)?;
        self.update_job(&job)?;
        if let JobEvent::Removed(removed) = event {
            self.conn
                .prepare_cached("DELETE FROM events WHERE job_id = ? AND id < ?")?
                .execute(params![job_id.to_string(), id.0])?;
            self.conn
                .prepare_cached("UPDATE jobs SET removed_at = ? WHERE id = ?")?
                .execute(params![stamp(removed.at), job_id.to_string()])?;
        }
        self.jobs.insert(job_id, (job.clone(), owner));
        Ok(Ok((stored, job)))
    }

    /// A job as this transaction, or else the last commit, left it (if it had not
    /// ended), or else as its row holds it.
    fn job(&self, id: JobId) -> Result<Option<(Job, Owner)>, StoreError> {
        if let Some(job) = self.jobs.get(&id) {
            return Ok(Some(job.clone()));
        }
        if let Some(job) = self.live.lock().expect("live jobs").jobs.get(&id) {
            return Ok(Some(job.clone()));
        }
        let row = self
            .conn
            .prepare_cached(select_jobs!("WHERE id = ? AND removed_at IS NULL"))?
            .query_row([id.to_string()], JobRow::from_row)
            .optional()?;
        row.map(JobRow::into_job).transpose()
    }

    fn next_event_id(&mut self) -> Result<EventId, StoreError> {
        let last = match self.last_event_id {
            Some(last) => last,
            // Read once, before anything was appended.
            None => self
                .conn
                .prepare_cached(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), \
                     COALESCE((SELECT MAX(id) FROM events), 0))",
                )?
                .query_row([], |row| row.get(0))?,
        };
        self.last_event_id = Some(last + 1);
        Ok(EventId(last + 1))
    }

    /// Appends `event` to the log under `id`, serialised once: the stored bytes are the
    /// ones streamed.
    fn insert_event(
        &self,
        id: EventId,
        job_id: JobId,
        owner: &Owner,
        event: &JobEvent,
        now: DateTime<Utc>,
    ) -> Result<StoredEvent, StoreError> {
        let data = event.to_json();
        let kind = event.kind();
        self.conn
            .prepare_cached(
                "INSERT INTO events (id, job_id, owner, kind, data, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                id.0,
                job_id.to_string(),
                owner.as_str(),
                kind.as_str(),
                data,
                stamp(now),
            ])?;
        Ok(StoredEvent {
            id,
            job_id,
            owner: owner.clone(),
            kind,
            data,
        })
    }

    fn update_job(&self, job: &Job) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE jobs SET status = ?, progress = ?, step = ?, error = ?, result_url = ?, \
                 started_at = ?, finished_at = ?, attempt = ?, last_event_id = ?, details = ? \
                 WHERE id = ?",
            )?
            .execute(params![
                job.status.as_str(),
                i64::from(job.progress),
                job.step,
                job.error,
                job.result_url,
                job.started_at.map(stamp),
                job.finished_at.map(stamp),
                i64::from(job.attempt),
                job.last_event_id.0,
                details(job),
                job.id.to_string(),
            ])?;
        Ok(())
    }
}

impl Changes {
    /// After the commit: the jobs it wrote become the known ones; ended ones are dropped.
    pub(super) fn committed(self, live: &LiveJobs) {
        let mut live = live.lock().expect("live jobs");
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
