//! One write transaction on PostgreSQL: a group of writes (new jobs, claims, job
//! changes), each done or refused on its own, all committed at once.
//!
//! Round trips are what a write costs here, so the group reads the jobs it changes in
//! one query, works on copies, and writes them back at the end: one `INSERT` of the new
//! jobs, one `UPDATE` of the changed ones and one `INSERT` of the events, each over
//! arrays (`UNNEST`), whatever the group's size.

use std::collections::HashMap;
use std::time::Duration;

use app::event::{EventId, JobCreated, JobEvent, StatusUpdate};
use app::job::{InvalidTransition, Job, JobId, JobStatus};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::LOG_CHANNEL;
use crate::owner::Owner;
use crate::store::rows::{JobRow, details, select_jobs};
use crate::store::{
    Admission, ClaimedJob, NewJob, Recorded, Refusal, STARTING_STEP, StoreError, StoredEvent,
    Write, Written, fence,
};

/// A job the group has read or made, as it left it.
struct Touched {
    job: Job,
    owner: Owner,
    /// Made by this group (inserted, not updated).
    new: bool,
    /// Changed by this group.
    changed: bool,
    /// Claimed by this group: its claim and lease are written with it.
    claimed: bool,
}

pub(super) struct Group<'s> {
    node: &'s str,
    lease: Duration,
    last_event_id: i64,
    queued: Option<i64>,
    in_flight: HashMap<Owner, i64>,
    jobs: HashMap<JobId, Touched>,
    /// The jobs in the order the group first touched them (new ones in creation order).
    order: Vec<JobId>,
    events: Vec<(StoredEvent, DateTime<Utc>)>,
    removals: Vec<(JobId, EventId, DateTime<Utc>)>,
}

impl<'s> Group<'s> {
    /// A group after the log's last id `last`, changing the `known` jobs.
    pub(super) fn new(
        last_event_id: i64,
        known: Vec<JobRow>,
        node: &'s str,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        let mut group = Self {
            node,
            lease,
            last_event_id,
            queued: None,
            in_flight: HashMap::new(),
            jobs: HashMap::new(),
            order: Vec::new(),
            events: Vec::new(),
            removals: Vec::new(),
        };
        for row in known {
            group.touch(row, false)?;
        }
        Ok(group)
    }

    fn touch(&mut self, row: JobRow, new: bool) -> Result<JobId, StoreError> {
        let (job, owner) = row.into_job()?;
        let id = job.id;
        self.order.push(id);
        self.jobs.insert(
            id,
            Touched {
                job,
                owner,
                new,
                changed: false,
                claimed: false,
            },
        );
        Ok(id)
    }

    /// Does one write, or says why it was refused; a later write sees what it did.
    pub(super) async fn write(
        &mut self,
        conn: &mut PgConnection,
        write: &Write,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        Ok(match write {
            Write::Create(new) => Written::Created(self.create(conn, new, now).await?),
            Write::Claim { max } => Written::Claimed(self.claim(conn, *max, now).await?),
            Write::Record(event) => Written::Recorded(self.record(event, None, now)?),
            Write::Report { event, attempt } => {
                Written::Recorded(self.record(event, Some(*attempt), now)?)
            }
        })
    }

    fn record(
        &mut self,
        event: &JobEvent,
        attempt: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        Ok(match self.apply(event, attempt, now)? {
            Ok((stored, _)) => Recorded::Stored(stored),
            Err(refused) => Recorded::Refused(refused),
        })
    }

    async fn create(
        &mut self,
        conn: &mut PgConnection,
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
        if let Err(refusal) = self.admit(conn, owner, *admission).await? {
            return Ok(Err(refusal));
        }
        let mut job = Job::new(
            JobId(uuid::Uuid::new_v4()),
            spec.clone(),
            title.clone(),
            now,
        );
        job.retry_of = *retry_of;
        job.last_event_id = self.next_event_id();
        let event = JobEvent::Created(Box::new(JobCreated {
            job_id: job.id,
            job: job.clone(),
        }));
        let stored = self.append(job.last_event_id, job.id, owner, &event, now);
        self.order.push(job.id);
        self.jobs.insert(
            job.id,
            Touched {
                job: job.clone(),
                owner: owner.clone(),
                new: true,
                changed: true,
                claimed: false,
            },
        );
        if let Some(queued) = &mut self.queued {
            *queued += 1;
        }
        if let Some(in_flight) = self.in_flight.get_mut(owner) {
            *in_flight += 1;
        }
        Ok(Ok(Box::new((job, stored))))
    }

    /// Checks `admission` under the log's lock: no other node adds a job between the
    /// count and the insert, so a limit holds for the whole cluster.
    async fn admit(
        &mut self,
        conn: &mut PgConnection,
        owner: &Owner,
        admission: Admission,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let max = admission.max_in_flight_per_owner;
        if max < u32::MAX {
            let count = match self.in_flight.get(owner) {
                Some(&count) => count,
                None => {
                    // Counted up to the limit: whether it is reached is all that matters.
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE owner = $1 \
                         AND status IN ('queued', 'running') LIMIT $2) AS capped",
                    )
                    .bind(owner.as_str())
                    .bind(i64::from(max))
                    .fetch_one(&mut *conn)
                    .await?;
                    *self.in_flight.entry(owner.clone()).or_insert(count)
                }
            };
            if count >= i64::from(max) {
                return Ok(Err(Refusal::OwnerBusy { max }));
            }
        }
        let max = admission.max_queued;
        if max < u32::MAX {
            let count = match self.queued {
                Some(count) => count,
                None => {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' \
                         LIMIT $1) AS capped",
                    )
                    .bind(i64::from(max))
                    .fetch_one(&mut *conn)
                    .await?;
                    *self.queued.insert(count)
                }
            };
            if count >= i64::from(max) {
                return Ok(Err(Refusal::QueueFull { max }));
            }
        }
        Ok(Ok(()))
    }

    /// Claims up to `max` of the oldest queued jobs, this group's included.
    async fn claim(
        &mut self,
        conn: &mut PgConnection,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        // Queued rows the group has not touched (its own copies are newer than the rows).
        // SKIP LOCKED: a row another transaction holds is passed over, not waited for.
        let touched: Vec<String> = self.order.iter().map(ToString::to_string).collect();
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE status = 'queued' AND NOT (id = ANY($1)) ORDER BY seq LIMIT $2 "
            "FOR UPDATE SKIP LOCKED"
        ))
        .bind(&touched)
        .bind(i64::from(max))
        .fetch_all(&mut *conn)
        .await?;
        let mut next = Vec::with_capacity(rows.len());
        for row in rows {
            next.push(self.touch(row, false)?);
        }
        let own = self
            .order
            .iter()
            .filter(|id| !next.contains(id) && self.jobs[*id].job.status == JobStatus::Queued)
            .copied()
            .collect::<Vec<_>>();
        next.extend(own);
        next.truncate(max as usize);
        let mut claimed = Vec::with_capacity(next.len());
        for job_id in next {
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
            if let Some(touched) = self.jobs.get_mut(&job_id) {
                touched.claimed = true;
            }
            claimed.push(ClaimedJob { job, event });
        }
        Ok(claimed)
    }

    /// Checks `event` against the job's state (and its run's fencing token), appends it
    /// and applies it to the group's copy.
    fn apply(
        &mut self,
        event: &JobEvent,
        attempt: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Result<(StoredEvent, Job), InvalidTransition>, StoreError> {
        let job_id = event.job_id();
        let Some(touched) = self.jobs.get(&job_id) else {
            return Err(StoreError::UnknownJob(job_id));
        };
        if let Err(refused) = touched
            .job
            .check(event)
            .and(fence(&touched.job, event, attempt))
        {
            return Ok(Err(refused));
        }
        let mut job = touched.job.clone();
        let owner = touched.owner.clone();
        let id = self.next_event_id();
        job.apply(id, event)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stored = self.append(id, job_id, &owner, event, now);
        if let JobEvent::Removed(removed) = event {
            self.removals.push((job_id, id, removed.at));
        }
        let touched = self.jobs.get_mut(&job_id).expect("touched above");
        touched.job = job.clone();
        touched.changed = true;
        Ok(Ok((stored, job)))
    }

    fn next_event_id(&mut self) -> EventId {
        self.last_event_id += 1;
        EventId(self.last_event_id)
    }

    /// Notes `event` for the log under `id`, serialised once: the stored bytes are the
    /// ones streamed.
    fn append(
        &mut self,
        id: EventId,
        job_id: JobId,
        owner: &Owner,
        event: &JobEvent,
        now: DateTime<Utc>,
    ) -> StoredEvent {
        let stored = StoredEvent {
            id,
            job_id,
            owner: owner.clone(),
            kind: event.kind(),
            data: event.to_json(),
        };
        self.events.push((stored.clone(), now));
        stored
    }

    /// Writes what the group did: new jobs, changed jobs, the events, removals, and the
    /// log's new head with its doorbell.
    pub(super) async fn flush(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let lease = self.lease.as_secs_f64();
        let mut new = Columns::default();
        let mut changed = Columns::default();
        for id in &self.order {
            let touched = &self.jobs[id];
            if touched.new {
                new.push(touched);
            } else if touched.changed {
                changed.push(touched);
            }
        }
        if !new.id.is_empty() {
            sqlx::query(
                "INSERT INTO jobs (id, owner, kind, params, title, status, progress, step, error, \
                 result_url, created_at, started_at, finished_at, attempt, retry_of, \
                 last_event_id, details, claimed_by, lease_until) \
                 SELECT u.id, u.owner, u.kind, u.params, u.title, u.status, u.progress, u.step, \
                 u.error, u.result_url, u.created_at, u.started_at, u.finished_at, u.attempt, \
                 u.retry_of, u.last_event_id, u.details, \
                 CASE WHEN u.claimed THEN $19 END, \
                 CASE WHEN u.claimed THEN now() + make_interval(secs => $20) END \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], \
                 $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::bigint[], \
                 $15::text[], $16::bigint[], $17::text[], $18::bool[]) WITH ORDINALITY \
                 AS u(id, owner, kind, params, title, status, progress, step, error, result_url, \
                 created_at, started_at, finished_at, attempt, retry_of, last_event_id, \
                 details, claimed, ord) ORDER BY u.ord",
            )
            .bind(&new.id)
            .bind(&new.owner)
            .bind(&new.kind)
            .bind(&new.params)
            .bind(&new.title)
            .bind(&new.status)
            .bind(&new.progress)
            .bind(&new.step)
            .bind(&new.error)
            .bind(&new.result_url)
            .bind(&new.created_at)
            .bind(&new.started_at)
            .bind(&new.finished_at)
            .bind(&new.attempt)
            .bind(&new.retry_of)
            .bind(&new.last_event_id)
            .bind(&new.details)
            .bind(&new.claimed)
            .bind(self.node)
            .bind(lease)
            .execute(&mut *conn)
            .await?;
        }
        if !changed.id.is_empty() {
            sqlx::query(
                "UPDATE jobs AS j SET status = u.status, progress = u.progress, step = u.step, \
                 error = u.error, result_url = u.result_url, started_at = u.started_at, \
                 finished_at = u.finished_at, attempt = u.attempt, \
                 last_event_id = u.last_event_id, details = u.details, \
                 claimed_by = CASE WHEN u.claimed THEN $12 ELSE j.claimed_by END, \
                 lease_until = CASE WHEN u.claimed THEN now() + make_interval(secs => $13) \
                 ELSE j.lease_until END \
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[], \
                 $10::bigint[], $11::text[], $14::bool[]) \
                 AS u(id, status, progress, step, error, result_url, started_at, finished_at, \
                 attempt, last_event_id, details, claimed) \
                 WHERE j.id = u.id",
            )
            .bind(&changed.id)
            .bind(&changed.status)
            .bind(&changed.progress)
            .bind(&changed.step)
            .bind(&changed.error)
            .bind(&changed.result_url)
            .bind(&changed.started_at)
            .bind(&changed.finished_at)
            .bind(&changed.attempt)
            .bind(&changed.last_event_id)
            .bind(&changed.details)
            .bind(self.node)
            .bind(lease)
            .bind(&changed.claimed)
            .execute(&mut *conn)
            .await?;
        }
        if self.events.is_empty() {
            return Ok(());
        }
        let mut events = EventColumns::default();
        for (event, at) in &self.events {
            events.id.push(event.id.0);
            events.job_id.push(event.job_id.to_string());
            events.owner.push(event.owner.as_str().to_owned());
            events.kind.push(event.kind.as_str().to_owned());
            events.data.push(event.data.clone());
            events.created_at.push(*at);
        }
        sqlx::query(
            "INSERT INTO events (id, job_id, owner, kind, data, created_at) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::timestamptz[])",
        )
        .bind(&events.id)
        .bind(&events.job_id)
        .bind(&events.owner)
        .bind(&events.kind)
        .bind(&events.data)
        .bind(&events.created_at)
        .execute(&mut *conn)
        .await?;
        for (job_id, id, at) in &self.removals {
            sqlx::query("DELETE FROM events WHERE job_id = $1 AND id < $2")
                .bind(job_id.to_string())
                .bind(id.0)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE jobs SET removed_at = $2 WHERE id = $1")
                .bind(job_id.to_string())
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        // The notification is delivered when (and only if) the transaction commits.
        sqlx::query(
            "WITH head AS (UPDATE log_head SET last_id = $1 RETURNING last_id) \
             SELECT pg_notify($2, last_id::text) FROM head",
        )
        .bind(self.last_event_id)
        .bind(LOG_CHANNEL)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Jobs as arrays of columns, for one statement over all of them.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    owner: Vec<String>,
    kind: Vec<String>,
    params: Vec<String>,
    title: Vec<String>,
    status: Vec<String>,
    progress: Vec<i64>,
    step: Vec<Option<String>>,
    error: Vec<Option<String>>,
    result_url: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    finished_at: Vec<Option<DateTime<Utc>>>,
    attempt: Vec<i64>,
    retry_of: Vec<Option<String>>,
    last_event_id: Vec<i64>,
    details: Vec<String>,
    claimed: Vec<bool>,
}

impl Columns {
    fn push(&mut self, touched: &Touched) {
        let job = &touched.job;
        self.id.push(job.id.to_string());
        self.owner.push(touched.owner.as_str().to_owned());
        self.kind.push(job.spec.kind.clone());
        self.params.push(job.spec.params.to_string());
        self.title.push(job.title.clone());
        self.status.push(job.status.as_str().to_owned());
        self.progress.push(i64::from(job.progress));
        self.step.push(job.step.clone());
        self.error.push(job.error.clone());
        self.result_url.push(job.result_url.clone());
        self.created_at.push(job.created_at);
        self.started_at.push(job.started_at);
        self.finished_at.push(job.finished_at);
        self.attempt.push(i64::from(job.attempt));
        self.retry_of.push(job.retry_of.map(|id| id.to_string()));
        self.last_event_id.push(job.last_event_id.0);
        self.details.push(details(job));
        self.claimed.push(touched.claimed);
    }
}

#[derive(Default)]
struct EventColumns {
    id: Vec<i64>,
    job_id: Vec<String>,
    owner: Vec<String>,
    kind: Vec<String>,
    data: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
}
