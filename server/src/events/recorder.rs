//! Where every event is written: into the store's log first, then onto the bus.
//!
//! Every write (a new job, a claim, a job's change) goes through one queue to one writer,
//! which writes to the log and then announces, so the bus carries events in exactly the
//! order of their ids. A subscriber relies on that: having read the log up to id N, it
//! skips bus events up to N and misses none after.
//!
//! The writer runs on a thread of its own (a small runtime): the store calls SQLite there
//! directly, and each call blocks that thread until it returns (the commit until its
//! `fsync`). On the server's main runtime that would stall the streams; and a write that
//! waited its turn there behind every stream the last event woke (ten thousand streams,
//! ten thousand tasks) would make jobs report at the pace of the slowest moment of the
//! fan-out. On its own thread, the log is written at the database's pace.
//!
//! Writes are committed in groups: while one transaction commits, the writes that arrive
//! queue up, and the next transaction writes them all with one commit (one `fsync` for a
//! whole burst of new jobs). Each caller still hears back only once its write is durable.

use std::sync::Arc;
use std::time::Instant;

use app::event::JobEvent;
use app::job::{Job, JobId, JobSpec};
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::{Bus, Follower};
use crate::metrics;
use crate::owner::Owner;
use crate::store::{
    Admission, ClaimLimits, ClaimedJob, NewJob, Recorded, Store, StoreError, StoredEvent,
    Unavailable, Write, Written, unexpected, write_one,
};
use ::metrics::{counter, histogram};

/// The most writes one transaction takes.
const GROUP: usize = 256;

type Reply = oneshot::Sender<Result<Written, StoreError>>;

/// How the events a write stored are announced.
#[derive(Clone, Debug)]
pub enum Announce {
    /// One process: onto the bus, in id order, right after each commit.
    Bus(Bus),
    /// Several nodes: the log's follower announces every node's events in id order;
    /// this node's commits are handed to it.
    Follower(Arc<Follower>),
}

impl Announce {
    /// Announces what one group commit stored.
    fn written(&self, written: &[Written]) {
        match self {
            Announce::Bus(bus) => written
                .iter()
                .flat_map(stored)
                .for_each(|event| bus.publish(event)),
            // Nothing stored (an idle worker's empty claim) hands the follower nothing.
            Announce::Follower(follower) => follower.committed(written.iter().flat_map(stored)),
        }
    }
}

#[derive(Clone)]
pub struct Recorder {
    /// Writes waiting for the next group commit.
    writes: mpsc::UnboundedSender<(Write, Reply)>,
    /// The store it writes to, for those who must read what it wrote.
    store: Arc<dyn Store>,
    health: WriteHealth,
    _writer: Arc<Writer>,
}

/// Why the last write could not reach the database, until one does.
#[derive(Clone, Debug, Default)]
struct WriteHealth(Arc<std::sync::Mutex<Option<Unavailable>>>);

impl WriteHealth {
    fn set(&self, why: Option<Unavailable>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }

    fn get(&self) -> Option<Unavailable> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The event writer's runtime, on its own thread; it stops when the last recorder goes.
struct Writer {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Writer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("candor-event-writer")
            .build()
            .expect("the event writer's runtime starts");
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("candor-event-writer".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .expect("the event writer's thread starts");
        Self {
            handle,
            _stop: stop,
        }
    }
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>, announce: Announce) -> Self {
        let writer = Writer::start();
        let (writes, queue) = mpsc::unbounded_channel();
        let health = WriteHealth::default();
        writer
            .handle
            .spawn(write_groups(store.clone(), announce, health.clone(), queue));
        Self {
            writes,
            store,
            health,
            _writer: Arc::new(writer),
        }
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stores a new queued job, if `admission` lets it in, and announces its `created`
    /// event.
    pub async fn create_job(
        &self,
        owner: &Owner,
        spec: &JobSpec,
        title: &str,
        retry_of: Option<JobId>,
        admission: Admission,
    ) -> Result<Job, StoreError> {
        let new = NewJob {
            owner: owner.clone(),
            spec: spec.clone(),
            title: title.to_owned(),
            retry_of,
            admission,
        };
        match self.write(Write::Create(new)).await? {
            Written::Created(created) => Ok(created?.0),
            other => Err(unexpected(&other)),
        }
    }

    /// Claims up to `max` queued jobs for workers, in turn between owners and within
    /// `limits`, and announces that they run (none when nothing may be claimed).
    pub async fn claim(
        &self,
        max: u32,
        limits: &ClaimLimits,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let limits = limits.clone();
        match self.write(Write::Claim { max, limits }).await? {
            Written::Claimed(claimed) => Ok(claimed),
            other => Err(unexpected(&other)),
        }
    }

    /// Records a change to a job and announces it, if the job's state allows it; answers
    /// once it is durable.
    pub async fn record(&self, event: JobEvent) -> Result<Recorded, StoreError> {
        match self.write(Write::Record(event)).await? {
            Written::Recorded(recorded) => Ok(recorded),
            other => Err(unexpected(&other)),
        }
    }

    /// Records an event of a job's own run, the run that `attempt` started: refused
    /// (not an error) if the job is no longer running that attempt.
    pub async fn report(&self, event: JobEvent, attempt: u32) -> Result<Recorded, StoreError> {
        match self.write(Write::Report { event, attempt }).await? {
            Written::Recorded(recorded) => Ok(recorded),
            other => Err(unexpected(&other)),
        }
    }

    /// Why the last write could not reach the database (busy, full, unreachable), until
    /// one does: the store cannot take writes, whatever its reads say.
    pub fn unavailable(&self) -> Option<Unavailable> {
        self.health.get()
    }

    async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Corrupt("the event writer has stopped".to_owned());
        self.writes.send((write, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The events a write stored, in id order (no allocation: this runs for every write).
fn stored(written: &Written) -> impl Iterator<Item = &StoredEvent> {
    let (one, claimed): (Option<&StoredEvent>, &[ClaimedJob]) = match written {
        Written::Created(Ok(created)) => (Some(&created.1), &[]),
        Written::Claimed(claimed) => (None, claimed),
        Written::Recorded(Recorded::Stored { event, .. }) => (Some(event), &[]),
        Written::Created(Err(_)) | Written::Recorded(Recorded::Refused(_) | Recorded::Gone) => {
            (None, &[])
        }
    };
    one.into_iter().chain(claimed.iter().map(|c| &c.event))
}

/// Writes each of a failed group's writes alone, announcing and answering each.
async fn write_one_by_one(
    store: &dyn Store,
    announce: &Announce,
    health: &WriteHealth,
    writes: &[Write],
    replies: &mut Vec<Reply>,
) {
    for (write, reply) in writes.iter().zip(replies.drain(..)) {
        let written = write_one(store, write.clone()).await;
        match &written {
            Ok(written) => {
                health.set(None);
                let written = std::slice::from_ref(written);
                count(written);
                announce.written(written);
            }
            Err(err) => health.set(err.unavailable()),
        }
        let _ = reply.send(written);
    }
}

/// Counts what a commit stored for `/metrics`: the events, the jobs accepted, and the
/// jobs that ended. Every acceptance and every ending is written here, whoever wrote it
/// (a request, a worker, a cancel, a rescue), so this is the one place each is counted.
fn count(written: &[Written]) {
    let events = written.iter().flat_map(stored).count();
    counter!(metrics::EVENTS_WRITTEN).increment(events as u64);
    for written in written {
        match written {
            Written::Created(Ok(created)) => metrics::job_accepted(&created.0.spec.kind),
            Written::Recorded(Recorded::Stored { event, job }) if job.status.is_terminal() => {
                let ran = job
                    .finished_at
                    .and_then(|finished| metrics::ran(job.started_at, finished));
                metrics::job_ended(&job.spec.kind, event.kind, ran);
            }
            _ => {}
        }
    }
}

/// The group commit: takes every write waiting (up to [`GROUP`]), writes them in one
/// transaction, announces what they stored, in order, and answers each caller.
async fn write_groups(
    store: Arc<dyn Store>,
    announce: Announce,
    health: WriteHealth,
    mut queue: mpsc::UnboundedReceiver<(Write, Reply)>,
) {
    let mut writes = Vec::with_capacity(GROUP);
    let mut replies = Vec::with_capacity(GROUP);
    while let Some((write, reply)) = queue.recv().await {
        writes.push(write);
        replies.push(reply);
        while writes.len() < GROUP {
            match queue.try_recv() {
                Ok((write, reply)) => {
                    writes.push(write);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let began = Instant::now();
        let result = store.write_all(&writes, Utc::now()).await;
        histogram!(metrics::STORE_COMMIT).record(began.elapsed().as_secs_f64());
        match result {
            Ok(written) => {
                health.set(None);
                count(&written);
                announce.written(&written);
                for (written, reply) in written.into_iter().zip(replies.drain(..)) {
                    let _ = reply.send(Ok(written));
                }
            }
            Err(err) => {
                counter!(metrics::STORE_ERRORS).increment(1);
                match err.unavailable() {
                    // The database cannot take writes now (busy, full, unreachable): each
                    // caller hears why at once, rather than waiting for it again alone.
                    Some(why) => {
                        health.set(Some(why));
                        tracing::warn!(error = %err, writes = writes.len(), "a group commit failed: the database is unavailable");
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(StoreError::Unavailable(why)));
                        }
                    }
                    // The group failed as one: each write tries alone, and hears its own
                    // answer.
                    None => {
                        tracing::warn!(error = %err, writes = writes.len(), "a group commit failed; writing one by one");
                        write_one_by_one(&*store, &announce, &health, &writes, &mut replies).await;
                    }
                }
            }
        }
        writes.clear();
    }
}
