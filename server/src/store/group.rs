//! One group commit's decisions, the same for every backend: which jobs a group of writes
//! must read (and, on PostgreSQL, lock) first, whether each new job is admitted, which
//! queued jobs its claims take, what each event does to its job (through
//! [`Job::apply`]), which ids the events get, and what is left to write and announce.
//!
//! A backend reads what [`Needs`] asks for into [`Loaded`], lets a [`Group`] decide every
//! write on copies of those jobs, and then writes the [`Outcome`] in its own way (SQLite
//! row by row on its one writer, PostgreSQL in one statement over arrays).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use app::event::{EventId, JobCreated, JobEvent, StatusUpdate};
use app::job::{Job, JobId, JobStatus};
use app::transition::InvalidTransition;
use chrono::{DateTime, Utc};

use super::{
    Admission, ClaimLimits, ClaimedJob, NewJob, Recorded, Refusal, StoreError, StoredEvent,
};
use super::{Write, Written};
use crate::owner::Owner;

/// The step a job shows from the moment a worker picks it up until it reports its own.
const STARTING_STEP: &str = "Starting";

/// What a group must read before it decides anything.
#[derive(Debug, Default)]
pub(super) struct Needs {
    /// The jobs its records and reports change, each once, in id order (the one order
    /// every writer locks rows in).
    pub(super) ids: Vec<JobId>,
    /// How many queued jobs its claims may take, in all.
    pub(super) claims: u32,
    /// The most jobs one owner may have running once its claims are made, if capped.
    pub(super) owner_max_running: Option<u32>,
    /// The most jobs of each capped kind that may run once its claims are made.
    pub(super) kind_max_running: BTreeMap<String, u32>,
    /// The largest queue limit a new job is admitted under, if any is limited: the queue
    /// need be counted only up to it.
    pub(super) queued_up_to: Option<u32>,
    /// The owners whose jobs in flight limit a new job, each with the largest such limit.
    pub(super) in_flight_up_to: HashMap<Owner, u32>,
    /// The jobs new jobs retry: each may have one retry queued or running at a time.
    pub(super) retried: Vec<JobId>,
}

impl Needs {
    pub(super) fn of(writes: &[Write]) -> Self {
        let mut needs = Needs::default();
        for write in writes {
            match write {
                Write::Record(event) | Write::Report { event, .. } => {
                    needs.ids.push(event.job_id());
                }
                Write::Claim { max, limits } => {
                    needs.claims = needs.claims.saturating_add(*max);
                    if limits.owner_max_running < u32::MAX {
                        let cap = needs
                            .owner_max_running
                            .get_or_insert(limits.owner_max_running);
                        *cap = (*cap).min(limits.owner_max_running);
                    }
                    for (kind, max) in limits.kind_max_running.iter() {
                        let cap = needs.kind_max_running.entry(kind.clone()).or_insert(*max);
                        *cap = (*cap).min(*max);
                    }
                }
                Write::Create(new) => {
                    needs.retried.extend(new.retry_of);
                    let Admission {
                        max_queued,
                        max_in_flight_per_owner,
                    } = new.admission;
                    if max_queued < u32::MAX {
                        needs.queued_up_to = needs.queued_up_to.max(Some(max_queued));
                    }
                    if max_in_flight_per_owner < u32::MAX {
                        let up_to = needs.in_flight_up_to.entry(new.owner.clone()).or_default();
                        *up_to = (*up_to).max(max_in_flight_per_owner);
                    }
                }
            }
        }
        needs.ids.sort_unstable();
        needs.ids.dedup();
        needs
    }
}

/// What the backend read for a group, as the last commit left it.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// The newest event id given out.
    pub(super) last_event_id: i64,
    /// Jobs queued (counted at least up to [`Needs::queued_up_to`]).
    pub(super) queued: i64,
    /// Jobs queued or running per owner of [`Needs::in_flight_up_to`] (each counted at
    /// least up to its limit).
    pub(super) in_flight: HashMap<Owner, i64>,
    /// The jobs of [`Needs::ids`] that exist and are not removed.
    pub(super) known: Vec<(Job, Owner)>,
    /// Queued jobs the claims may take, oldest first (up to [`Needs::claims`] of them
    /// not among the known ones).
    pub(super) claimable: Vec<(Job, Owner)>,
    /// For the jobs of [`Needs::retried`] that have one, their retry queued or running.
    pub(super) retries: HashMap<JobId, JobId>,
}

/// A job the group has read or made, as it left it.
#[derive(Debug)]
pub(super) struct Touched {
    pub(super) job: Job,
    pub(super) owner: Owner,
    /// Its status before this group (`None`: made by this group, to be inserted).
    pub(super) was: Option<JobStatus>,
    /// Changed by this group.
    pub(super) changed: bool,
    /// Claimed by this group: its claim (and lease) are written with it.
    pub(super) claimed: bool,
    /// Removed by this group, when.
    pub(super) removed_at: Option<DateTime<Utc>>,
}

/// What a group leaves to write, once every write in it is decided.
#[derive(Debug)]
pub(super) struct Outcome {
    /// The jobs the group made or changed, in the order it first touched them.
    pub(super) jobs: Vec<Touched>,
    /// The events to append, in id order, each with the time it was written.
    pub(super) events: Vec<(StoredEvent, DateTime<Utc>)>,
    /// Jobs removed, with their `removed` event: the job's events before it go.
    pub(super) removals: Vec<(JobId, EventId)>,
    /// The log's new head.
    pub(super) last_event_id: i64,
}

impl Outcome {
    /// Whether the group stored nothing (every write refused, or a claim that found
    /// nothing).
    pub(super) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// How the group changed the queue's size, and each owner's jobs in flight (owners
    /// whose count did not change left out).
    pub(super) fn load_changes(&self) -> (i64, HashMap<&Owner, i64>) {
        let mut queued = 0_i64;
        let mut in_flight: HashMap<&Owner, i64> = HashMap::new();
        for touched in &self.jobs {
            let (now, was) = (touched.job.status, touched.was);
            queued +=
                i64::from(now == JobStatus::Queued) - i64::from(was == Some(JobStatus::Queued));
            *in_flight.entry(&touched.owner).or_default() +=
                i64::from(!now.is_terminal()) - i64::from(was.is_some_and(|s| !s.is_terminal()));
        }
        in_flight.retain(|_, change| *change != 0);
        (queued, in_flight)
    }
}

/// One group's decisions, on copies of the jobs it read.
///
/// Admission's counts start from what was read and are counted up by each job the group
/// admits; claims and endings in the same group are not counted down: a count can only be
/// too high, so a limit is never overshot. Event ids are given out here, so a `created`
/// event can name its own id before it is written.
struct Group {
    last_event_id: i64,
    queued: i64,
    in_flight: HashMap<Owner, i64>,
    jobs: HashMap<JobId, Touched>,
    /// The jobs in the order the group first touched them (new ones in creation order).
    order: Vec<JobId>,
    /// Queued jobs the claims may take, oldest first, not touched yet.
    claimable: VecDeque<(Job, Owner)>,
    /// Retries queued or running, by the job they retry (this group's included).
    retries: HashMap<JobId, JobId>,
    events: Vec<(StoredEvent, DateTime<Utc>)>,
    removals: Vec<(JobId, EventId)>,
}

/// Decides every write of `writes` in order, on what was `loaded`: each write's outcome,
/// and what the group leaves to write.
pub(super) fn decide(
    loaded: Loaded,
    writes: &[Write],
    now: DateTime<Utc>,
) -> Result<(Vec<Written>, Outcome), StoreError> {
    let mut group = Group::new(loaded);
    let written = writes
        .iter()
        .map(|write| group.write(write, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((written, group.finish()))
}

impl Group {
    fn new(loaded: Loaded) -> Self {
        let Loaded {
            last_event_id,
            queued,
            in_flight,
            known,
            claimable,
            retries,
        } = loaded;
        let mut group = Self {
            last_event_id,
            queued,
            in_flight,
            jobs: HashMap::new(),
            order: Vec::new(),
            claimable: VecDeque::new(),
            retries,
            events: Vec::new(),
            removals: Vec::new(),
        };
        for (job, owner) in known {
            group.touch(job, owner);
        }
        group.claimable = claimable
            .into_iter()
            .filter(|(job, _)| !group.jobs.contains_key(&job.id))
            .collect();
        group
    }

    fn touch(&mut self, job: Job, owner: Owner) -> JobId {
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
        id
    }

    /// Does one write, or says why it was refused; a later write sees what it did.
    fn write(&mut self, write: &Write, now: DateTime<Utc>) -> Result<Written, StoreError> {
        Ok(match write {
            Write::Create(new) => Written::Created(self.create(new, now)),
            Write::Claim { max, limits } => Written::Claimed(self.claim(*max, limits, now)?),
            Write::Record(event) => Written::Recorded(self.record(event, None, now)?),
            Write::Report { event, attempt } => {
                Written::Recorded(self.record(event, Some(*attempt), now)?)
            }
        })
    }

    /// What is left to write.
    fn finish(mut self) -> Outcome {
        let jobs = self
            .order
            .iter()
            .filter_map(|id| self.jobs.remove(id))
            .filter(|touched| touched.was.is_none() || touched.changed)
            .collect();
        Outcome {
            jobs,
            events: self.events,
            removals: self.removals,
            last_event_id: self.last_event_id,
        }
    }

    /// Records one event (of the run `attempt`, if it comes from the job's own run); a
    /// refused event writes nothing and the others go on.
    fn record(
        &mut self,
        event: &JobEvent,
        attempt: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        // Not in the store, or removed earlier in this group.
        if self
            .jobs
            .get(&event.job_id())
            .is_none_or(|touched| touched.removed_at.is_some())
        {
            return Ok(Recorded::Gone);
        }
        Ok(match self.apply(event, attempt, now)? {
            Ok((event, job)) => Recorded::Stored {
                event,
                job: Box::new(job),
            },
            Err(refused) => Recorded::Refused(refused),
        })
    }

    /// A new queued job and its `created` event, if its admission lets it in.
    fn create(
        &mut self,
        new: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<Box<(Job, StoredEvent)>, Refusal> {
        let NewJob {
            owner,
            spec,
            title,
            retry_of,
            admission,
        } = new;
        if let Some(&retry) = retry_of.as_ref().and_then(|old| self.retries.get(old)) {
            return Err(Refusal::AlreadyRetried { retry });
        }
        self.admit(owner, *admission)?;
        let mut job = Job::new(
            JobId(uuid::Uuid::new_v4()),
            spec.clone(),
            title.clone(),
            now,
        );
        job.retry_of = *retry_of;
        if let Some(old) = retry_of {
            self.retries.insert(*old, job.id);
        }
        // The `created` event carries the job as of that event, its own id included.
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
        *self.in_flight.entry(owner.clone()).or_default() += 1;
        Ok(Box::new((job, stored)))
    }

    /// Checks `admission` against the counts read under the group's lock (the store's one
    /// writer, or the log's row lock): no other writer adds a job between the count and
    /// the insert.
    fn admit(&self, owner: &Owner, admission: Admission) -> Result<(), Refusal> {
        let max = admission.max_in_flight_per_owner;
        if max < u32::MAX && self.in_flight.get(owner).copied().unwrap_or(0) >= i64::from(max) {
            return Err(Refusal::OwnerBusy { max });
        }
        let max = admission.max_queued;
        if max < u32::MAX && self.queued >= i64::from(max) {
            return Err(Refusal::QueueFull { max });
        }
        Ok(())
    }

    /// Claims up to `max` queued jobs: first those read in turn (the fair queue, which
    /// leaves out what `limits` forbid), then the group's own, one owner's first new job
    /// before anyone's second. The group cannot tell how many jobs of an owner or of a
    /// kind run, so under an owner's cap, or for a capped kind, it leaves its own to the
    /// next claim (the runner is woken by their creation and claims them in turn).
    fn claim(
        &mut self,
        max: u32,
        limits: &ClaimLimits,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let max = max as usize;
        let mut next = Vec::with_capacity(max);
        while next.len() < max {
            let Some((job, owner)) = self.claimable.pop_front() else {
                break;
            };
            next.push(self.touch(job, owner));
        }
        if next.len() < max && limits.owner_max_running == u32::MAX {
            // (A set: a claim for ten thousand workers beside as many new jobs.)
            let taken: HashSet<JobId> = next.iter().copied().collect();
            let mut places: HashMap<&Owner, usize> = HashMap::new();
            let mut own = self
                .order
                .iter()
                .filter(|id| !taken.contains(id))
                .map(|id| &self.jobs[id])
                .filter(|touched| touched.job.status == JobStatus::Queued)
                .filter(|touched| !limits.kind_max_running.contains_key(&touched.job.spec.kind))
                .enumerate()
                .map(|(age, touched)| {
                    let place = places.entry(&touched.owner).or_default();
                    *place += 1;
                    (*place, age, touched.job.id)
                })
                .collect::<Vec<_>>();
            own.sort_unstable();
            next.extend(own.into_iter().map(|(_, _, id)| id));
            next.truncate(max);
        }
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
    /// and applies it to the group's copy: the heart of every write. Returns the stored
    /// event and the job after it, or why the state machine refused it.
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
        let id = self.next_event_id();
        let removed_at = match event {
            JobEvent::Removed(removed) => Some(removed.at),
            _ => None,
        };
        // Applied in place (checked above, so it changes the job or nothing): a job's
        // steps and log are copied once, for the caller, not twice.
        let touched = self.jobs.get_mut(&job_id).expect("touched above");
        touched
            .job
            .apply(id, event)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        touched.changed = true;
        touched.removed_at = removed_at.or(touched.removed_at);
        let (job, owner) = (touched.job.clone(), touched.owner.clone());
        if removed_at.is_some() {
            self.removals.push((job_id, id));
        }
        let stored = self.append(id, job_id, &owner, event, now);
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
}

/// Checks a job's own write against its fencing token: the job must be running, and
/// running the attempt that wrote it. The refusal reads as the transition it tried.
fn fence(job: &Job, event: &JobEvent, attempt: Option<u32>) -> Result<(), InvalidTransition> {
    match attempt {
        Some(attempt) if job.status != JobStatus::Running || job.attempt != attempt => {
            Err(InvalidTransition {
                job: job.id,
                from: job.status,
                to: job.check(event).unwrap_or(job.status),
            })
        }
        _ => Ok(()),
    }
}
