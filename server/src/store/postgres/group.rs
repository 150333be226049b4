//! One write transaction on PostgreSQL: a group of writes (new jobs, claims, job
//! changes), each done or refused on its own, all committed at once.
//!
//! Round trips are what a write costs here, and every one is taken under the log's lock,
//! so the group reads the jobs it changes in one query, works on copies, and writes
//! everything back in one statement at the end: the new jobs, the changed ones, the
//! events, the removals, the load counters and the log's head with its doorbell, each
//! over arrays (`UNNEST`), whatever the group's size.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use app::event::{EventId, JobCreated, JobEvent, StatusUpdate};
use app::job::{InvalidTransition, Job, JobId, JobStatus};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::LOG_CHANNEL;
use crate::owner::Owner;
use crate::store::rows::{JobRow, details};
use crate::store::{
    Admission, ClaimedJob, NewJob, Recorded, Refusal, STARTING_STEP, StoreError, StoredEvent,
    Write, Written, fence,
};

/// A job the group has read or made, as it left it.
struct Touched {
    job: Job,
    owner: Owner,
    /// Its status before this group (`None`: made by this group, inserted, not updated).
    was: Option<JobStatus>,
    /// Changed by this group.
    changed: bool,
    /// Claimed by this group: its claim and lease are written with it.
    claimed: bool,
    /// Removed by this group, when.
    removed_at: Option<DateTime<Utc>>,
}

pub(super) struct Group<'s> {
    node: &'s str,
    lease: Duration,
    last_event_id: i64,
    /// Jobs queued in the whole cluster, for admission (raised by each job admitted).
    queued: i64,
    /// Jobs in flight per owner, read when first needed (raised by each job admitted).
    in_flight: HashMap<Owner, i64>,
    jobs: HashMap<JobId, Touched>,
    /// The jobs in the order the group first touched them (new ones in creation order).
    order: Vec<JobId>,
    /// Queued jobs the group's claims may take, oldest first, not touched yet.
    claimable: VecDeque<JobRow>,
    events: Vec<(StoredEvent, DateTime<Utc>)>,
    /// Jobs removed by this group, with their `removed` event: the events before it go.
    removals: Vec<(JobId, EventId)>,
}

impl<'s> Group<'s> {
    /// A group after the log's last id `last_event_id`, with `queued` jobs in the queue,
    /// changing the `known` jobs, its claims taking from the `claimable` ones (queued,
    /// oldest first, locked for it).
    pub(super) fn new(
        last_event_id: i64,
        queued: i64,
        known: Vec<JobRow>,
        claimable: Vec<JobRow>,
        node: &'s str,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        let mut group = Self {
            node,
            lease,
            last_event_id,
            queued,
            in_flight: HashMap::new(),
            jobs: HashMap::new(),
            order: Vec::new(),
            claimable: claimable.into(),
            events: Vec::new(),
            removals: Vec::new(),
        };
        for row in known {
            group.touch(row)?;
        }
        Ok(group)
    }

    fn touch(&mut self, row: JobRow) -> Result<JobId, StoreError> {
        let (job, owner) = row.into_job()?;
        let id = job.id;
        self.order.push(id);
        self.jobs.insert(
            id,
            Touched {
                was: Some(job.status),
                job,
                owner,
                changed: false,
                claimed: false,
                removed_at: None,
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
            Write::Claim { max } => Written::Claimed(self.claim(*max, now)?),
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
                was: None,
                changed: true,
                claimed: false,
                removed_at: None,
            },
        );
        self.queued += 1;
        if let Some(in_flight) = self.in_flight.get_mut(owner) {
            *in_flight += 1;
        }
        Ok(Ok(Box::new((job, stored))))
    }

    /// Checks `admission` under the log's lock: no other node adds a job between the
    /// check and the insert, so a limit holds for the whole cluster.
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
                    let count: Option<i64> =
                        sqlx::query_scalar("SELECT in_flight FROM owner_load WHERE owner = $1")
                            .bind(owner.as_str())
                            .fetch_optional(&mut *conn)
                            .await?;
                    *self
                        .in_flight
                        .entry(owner.clone())
                        .or_insert(count.unwrap_or(0))
                }
            };
            if count >= i64::from(max) {
                return Ok(Err(Refusal::OwnerBusy { max }));
            }
        }
        let max = admission.max_queued;
        if self.queued >= i64::from(max) {
            return Ok(Err(Refusal::QueueFull { max }));
        }
        Ok(Ok(()))
    }

    /// Claims up to `max` of the oldest queued jobs, this group's included.
    fn claim(&mut self, max: u32, now: DateTime<Utc>) -> Result<Vec<ClaimedJob>, StoreError> {
        // The rows first: they are older than any job this group made.
        let mut next = Vec::with_capacity(max as usize);
        while next.len() < max as usize {
            let Some(row) = self.claimable.pop_front() else {
                break;
            };
            next.push(self.touch(row)?);
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
        let touched = self.jobs.get_mut(&job_id).expect("touched above");
        if let JobEvent::Removed(removed) = event {
            touched.removed_at = Some(removed.at);
            self.removals.push((job_id, id));
        }
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

    /// Writes what the group did in one statement: new jobs, changed jobs, the events,
    /// removals, the load counters, and the log's new head with its doorbell.
    pub(super) async fn flush(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if self.events.is_empty() {
            // Nothing was stored (every write refused, or a claim that found nothing).
            return Ok(());
        }
        let mut new = Columns::default();
        let mut changed = Columns::default();
        let mut queued = 0_i64;
        let mut in_flight: HashMap<&Owner, i64> = HashMap::new();
        for id in &self.order {
            let touched = &self.jobs[id];
            match touched.was {
                None => new.push(touched),
                Some(_) if touched.changed => changed.push(touched),
                Some(_) => continue,
            }
            let now = touched.job.status;
            let was = touched.was;
            queued +=
                i64::from(now == JobStatus::Queued) - i64::from(was == Some(JobStatus::Queued));
            let change =
                i64::from(!now.is_terminal()) - i64::from(was.is_some_and(|s| !s.is_terminal()));
            *in_flight.entry(&touched.owner).or_default() += change;
        }
        let (load_owners, load_changes): (Vec<&str>, Vec<i64>) = in_flight
            .into_iter()
            .filter(|(_, change)| *change != 0)
            .map(|(owner, change)| (owner.as_str(), change))
            .unzip();
        let mut events = EventColumns::default();
        for (event, at) in &self.events {
            events.id.push(event.id.0);
            events.job_id.push(event.job_id.to_string());
            events.owner.push(event.owner.as_str().to_owned());
            events.kind.push(event.kind.as_str().to_owned());
            events.data.push(event.data.clone());
            events.created_at.push(*at);
        }
        let (removed_jobs, removed_from): (Vec<String>, Vec<i64>) = self
            .removals
            .iter()
            .map(|(job_id, id)| (job_id.to_string(), id.0))
            .unzip();
        // Each part is a statement of its own in a `WITH`: all of them see the same
        // snapshot and none changes a row another changes. The notification is delivered
        // when (and only if) the transaction commits.
        sqlx::query(
            "WITH new_jobs AS (INSERT INTO jobs (id, owner, kind, params, title, status, \
             progress, step, error, result_url, created_at, started_at, finished_at, attempt, \
             retry_of, last_event_id, details, claimed_by, lease_until) \
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
             details, claimed, ord) ORDER BY u.ord), \
             changed_jobs AS (UPDATE jobs AS j SET status = u.status, progress = u.progress, \
             step = u.step, error = u.error, result_url = u.result_url, \
             started_at = u.started_at, finished_at = u.finished_at, attempt = u.attempt, \
             last_event_id = u.last_event_id, details = u.details, \
             removed_at = COALESCE(u.removed_at, j.removed_at), \
             claimed_by = CASE WHEN u.claimed THEN $19 ELSE j.claimed_by END, \
             lease_until = CASE WHEN u.claimed THEN now() + make_interval(secs => $20) \
             ELSE j.lease_until END \
             FROM UNNEST($21::text[], $22::text[], $23::bigint[], $24::text[], $25::text[], \
             $26::text[], $27::timestamptz[], $28::timestamptz[], $29::bigint[], \
             $30::bigint[], $31::text[], $32::bool[], $33::timestamptz[]) \
             AS u(id, status, progress, step, error, result_url, started_at, finished_at, \
             attempt, last_event_id, details, claimed, removed_at) \
             WHERE j.id = u.id), \
             new_events AS (INSERT INTO events (id, job_id, owner, kind, data, created_at) \
             SELECT * FROM UNNEST($34::bigint[], $35::text[], $36::text[], $37::text[], \
             $38::text[], $39::timestamptz[])), \
             removed_events AS (DELETE FROM events AS e \
             USING UNNEST($40::text[], $41::bigint[]) AS r(job_id, id) \
             WHERE e.job_id = r.job_id AND e.id < r.id), \
             load AS (INSERT INTO owner_load (owner, in_flight) \
             SELECT * FROM UNNEST($42::text[], $43::bigint[]) \
             ON CONFLICT (owner) DO UPDATE SET in_flight = owner_load.in_flight + EXCLUDED.in_flight), \
             head AS (UPDATE log_head SET last_id = $44, queued = queued + $45 RETURNING last_id) \
             SELECT pg_notify($46, last_id::text) FROM head",
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
        .bind(self.lease.as_secs_f64())
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
        .bind(&changed.claimed)
        .bind(&changed.removed_at)
        .bind(&events.id)
        .bind(&events.job_id)
        .bind(&events.owner)
        .bind(&events.kind)
        .bind(&events.data)
        .bind(&events.created_at)
        .bind(&removed_jobs)
        .bind(&removed_from)
        .bind(&load_owners)
        .bind(&load_changes)
        .bind(self.last_event_id)
        .bind(queued)
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
    removed_at: Vec<Option<DateTime<Utc>>>,
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
        self.removed_at.push(touched.removed_at);
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
