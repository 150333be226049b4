//! Where queued jobs stand: each queued job's place in line under the fair policy and
//! about when it starts, reckoned again (at most once a second) whenever the queue may
//! have moved: a job was queued, started or ended, on any node (this node's bus carries
//! every node's events). Kept here for `GET /api/jobs` and sent to the owners whose jobs
//! moved as a `queue` note on their streams (not in the log: it is a reckoning, not a
//! change to a job).
//!
//! "Starts in about" is the jobs ahead of it divided by the rate at which jobs ended over
//! the last five minutes; until jobs have ended lately there is no estimate.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use app::event::{EventKind, QueueNote, QueuedJob};
use app::job::{JobId, QueuePlace};
use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{Bus, sse};
use crate::owner::Owner;
use crate::store::Store;

/// The least time between two reckonings.
const EVERY: Duration = Duration::from_secs(1);
/// A reckoning is also made this often, whatever happened (a claim may follow the event
/// that woke the last one).
const AT_LEAST_EVERY: Duration = Duration::from_secs(5);
/// How far back the rate of endings looks.
const RATE_WINDOW: Duration = Duration::from_secs(300);

/// The latest reckoning: every queued job with a place and whose it is, and each owner's
/// queued jobs in line order.
#[derive(Clone, Debug, Default)]
pub struct QueuePlaces(Arc<RwLock<Places>>);

#[derive(Debug, Default)]
struct Places {
    by_job: HashMap<JobId, (Owner, QueuePlace)>,
    by_owner: HashMap<Owner, Vec<JobId>>,
}

impl Places {
    /// The places of the jobs `order` lists, first to start first.
    fn of(order: Vec<(JobId, Owner)>, endings_per_sec: f64) -> Self {
        let mut places = Places::default();
        for (ahead, (id, owner)) in order.into_iter().enumerate() {
            let position = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
            let starts_in = (endings_per_sec > 0.0)
                .then(|| (f64::from(position) / endings_per_sec).ceil() as u32);
            places.by_owner.entry(owner.clone()).or_default().push(id);
            places
                .by_job
                .insert(id, (owner, QueuePlace::new(position, starts_in)));
        }
        places
    }

    /// `owner`'s queued jobs with their places, first in line first.
    fn owners_jobs(&self, owner: &Owner) -> Vec<QueuedJob> {
        self.by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|id| Some(queued(*id, &self.by_job.get(id)?.1)))
            .collect()
    }
}

impl QueuePlaces {
    /// Where `job` stands, if it is queued and has a place.
    pub fn of(&self, job: JobId) -> Option<QueuePlace> {
        let places = self.0.read().unwrap_or_else(PoisonError::into_inner);
        places.by_job.get(&job).map(|(_, place)| place.clone())
    }

    /// The `queue` note for a stream of `owner`'s jobs (or of `job` alone) as it opens:
    /// none for a job that is not in line.
    pub fn note_for(&self, owner: &Owner, job: Option<JobId>) -> Option<Bytes> {
        let places = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match job {
            Some(id) => places
                .by_job
                .get(&id)
                .filter(|(of, _)| of == owner)
                .map(|(_, place)| encode(vec![queued(id, place)])),
            None => Some(encode(places.owners_jobs(owner))),
        }
    }
}

fn queued(job_id: JobId, place: &QueuePlace) -> QueuedJob {
    QueuedJob {
        job_id,
        position: place.position,
        starts_in: place.starts_in,
        text: place.text.clone(),
    }
}

fn encode(jobs: Vec<QueuedJob>) -> Bytes {
    let mut frame = BytesMut::new();
    sse::encode_queue(&mut frame, &QueueNote { jobs });
    frame.freeze()
}

/// Keeps `places` up to date and tells the owners whose jobs moved, until `stop`.
pub async fn watch_queue(
    store: Arc<dyn Store>,
    bus: Bus,
    places: QueuePlaces,
    stop: CancellationToken,
) {
    let mut events = bus.subscribe();
    let mut endings: VecDeque<Instant> = VecDeque::new();
    let started = Instant::now();
    // Reckonings owed since the queue last moved: the one that follows, and one more (the
    // claim that follows a creation or an ending may land after the first).
    let mut owed = 2u8;
    let mut last = Instant::now() - AT_LEAST_EVERY;
    loop {
        let due = last + if owed > 0 { EVERY } else { AT_LEAST_EVERY };
        tokio::select! {
            () = stop.cancelled() => return,
            received = events.recv() => match received {
                Ok(event) => match event.kind {
                    EventKind::Created => owed = 2,
                    EventKind::Completion
                    | EventKind::Failure
                    | EventKind::Cancelled
                    | EventKind::Removed => {
                        endings.push_back(Instant::now());
                        owed = 2;
                    }
                    EventKind::StatusUpdate | EventKind::Log => {}
                },
                Err(RecvError::Lagged(_)) => owed = 2,
                Err(RecvError::Closed) => return,
            },
            () = tokio::time::sleep_until(due) => {
                let now = Instant::now();
                while endings.front().is_some_and(|at| now - *at > RATE_WINDOW) {
                    endings.pop_front();
                }
                let window = (now - started).min(RATE_WINDOW).as_secs_f64().max(1.0);
                let rate = endings.len() as f64 / window;
                match store.queue_order().await {
                    Ok(order) => reckon(&bus, &places, order, rate),
                    Err(err) => tracing::debug!(error = %err, "could not read the queue's order"),
                }
                owed = owed.saturating_sub(1);
                last = now;
            }
        }
    }
}

/// Replaces the places with `order`'s and sends each owner whose jobs moved (or left the
/// queue) where their queued jobs stand now (after the swap: readers wait for no note).
fn reckon(bus: &Bus, places: &QueuePlaces, order: Vec<(JobId, Owner)>, endings_per_sec: f64) {
    let fresh = Places::of(order, endings_per_sec);
    let old = {
        let mut held = places.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *held, fresh)
    };
    let held = places.0.read().unwrap_or_else(PoisonError::into_inner);
    let mut owners: Vec<&Owner> = Vec::new();
    for (id, (owner, place)) in &held.by_job {
        if old.by_job.get(id).map(|(_, was)| was) != Some(place) {
            owners.push(owner);
            bus.note(owner, Some(*id), || encode(vec![queued(*id, place)]));
        }
    }
    for (id, (owner, _)) in &old.by_job {
        if !held.by_job.contains_key(id) {
            owners.push(owner);
        }
    }
    owners.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    owners.dedup();
    for owner in owners {
        bus.note(owner, None, || encode(held.owners_jobs(owner)));
    }
}
