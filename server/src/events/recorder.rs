//! Where every event is written: into the store's log first, then onto the bus.
//!
//! Writes and announcements happen under one lock, so the bus carries events in exactly
//! the order of their ids. A subscriber relies on that: having read the log up to id N,
//! it skips bus events up to N and misses none after.
//!
//! The writes run on a thread of their own (the event writer, a small runtime): a write
//! takes several round trips to the database, and on the server's main runtime each of
//! them would wait its turn behind every stream that the last event woke (ten thousand
//! streams, ten thousand tasks). Jobs would then report at the pace of the slowest
//! moment of the fan-out; on its own thread, the log is written at the database's pace.
//!
//! Job changes are written in groups: while one transaction commits, the changes that
//! arrive queue up, and the next transaction writes them all with one commit. Each
//! caller still hears back only once its change is durable.

use std::sync::Arc;

use app::event::JobEvent;
use app::job::{Job, JobId, JobSpec};
use chrono::Utc;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::Bus;
use crate::owner::Owner;
use crate::store::{Admission, ClaimedJob, Recorded, Store, StoreError};

/// The most job changes one transaction writes.
const GROUP: usize = 256;

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

#[derive(Clone)]
pub struct Recorder {
    store: Arc<dyn Store>,
    bus: Bus,
    /// Held across "write to the log, then publish": keeps the bus in id order. A tokio
    /// mutex, because it is held across the store's `await`s.
    order: Arc<Mutex<()>>,
    /// Job changes waiting for the next group commit.
    changes: mpsc::UnboundedSender<(JobEvent, Reply)>,
    writer: Arc<Writer>,
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

    /// Runs `write` on the writer's thread and waits for its result.
    async fn run<T: Send + 'static>(
        &self,
        write: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.handle
            .spawn(write)
            .await
            .map_err(|err| StoreError::Corrupt(format!("the event writer failed: {err}")))?
    }
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>, bus: Bus) -> Self {
        let order = Arc::new(Mutex::new(()));
        let writer = Writer::start();
        let (changes, queue) = mpsc::unbounded_channel();
        writer.handle.spawn(write_changes(
            store.clone(),
            bus.clone(),
            order.clone(),
            queue,
        ));
        Self {
            store,
            bus,
            order,
            changes,
            writer: Arc::new(writer),
        }
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
        let (store, bus, order) = self.parts();
        let (owner, spec, title) = (owner.clone(), spec.clone(), title.to_owned());
        self.writer
            .run(async move {
                let _order = order.lock().await;
                let (job, event) = store
                    .create_job(&owner, &spec, &title, retry_of, admission, Utc::now())
                    .await?;
                bus.publish(&event);
                Ok(job)
            })
            .await
    }

    /// Claims the oldest queued job for a worker and announces that it runs.
    pub async fn claim_next(&self) -> Result<Option<ClaimedJob>, StoreError> {
        let (store, bus, order) = self.parts();
        self.writer
            .run(async move {
                let _order = order.lock().await;
                let claimed = store.claim_next(Utc::now()).await?;
                if let Some(claimed) = &claimed {
                    bus.publish(&claimed.event);
                }
                Ok(claimed)
            })
            .await
    }

    /// Records a change to a job and announces it, if the job's state allows it; answers
    /// once it is durable.
    pub async fn record(&self, event: JobEvent) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Corrupt("the event writer has stopped".to_owned());
        self.changes.send((event, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    fn parts(&self) -> (Arc<dyn Store>, Bus, Arc<Mutex<()>>) {
        (self.store.clone(), self.bus.clone(), self.order.clone())
    }
}

/// The group commit: takes every change waiting (up to [`GROUP`]), writes them in one
/// transaction, announces the stored ones in order, and answers each caller.
async fn write_changes(
    store: Arc<dyn Store>,
    bus: Bus,
    order: Arc<Mutex<()>>,
    mut queue: mpsc::UnboundedReceiver<(JobEvent, Reply)>,
) {
    let mut events = Vec::with_capacity(GROUP);
    let mut replies = Vec::with_capacity(GROUP);
    while let Some((event, reply)) = queue.recv().await {
        events.push(event);
        replies.push(reply);
        while events.len() < GROUP {
            match queue.try_recv() {
                Ok((event, reply)) => {
                    events.push(event);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let _order = order.lock().await;
        match store.record_all(&events).await {
            Ok(recorded) => {
                for (recorded, reply) in recorded.into_iter().zip(replies.drain(..)) {
                    if let Recorded::Stored(stored) = &recorded {
                        bus.publish(stored);
                    }
                    let _ = reply.send(Ok(recorded));
                }
            }
            // The group failed as one: each change tries alone, and hears its own answer.
            Err(err) => {
                tracing::warn!(error = %err, changes = events.len(), "a group commit failed; writing one by one");
                for (event, reply) in events.iter().zip(replies.drain(..)) {
                    let recorded = store.record(event).await;
                    if let Ok(Recorded::Stored(stored)) = &recorded {
                        bus.publish(stored);
                    }
                    let _ = reply.send(recorded);
                }
            }
        }
        events.clear();
    }
}
