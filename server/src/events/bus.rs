//! The doorbell: bounded channels of events that were just written to the log.
//!
//! Each event is carried already encoded, so a thousand subscribers share one
//! serialisation. Publishing puts it on one channel of everything (the firehose), which
//! only a few listen to: this node's workers, and the router. The router, a task of its
//! own (never the event writer), hands each event to the routes that may see it: its
//! owner's route (every stream of that owner's jobs) and its job's route (the streams of
//! that one job). So an event wakes only the streams that carry it, and the cost of an
//! event grows with the streams that receive it, not with all the streams held.
//!
//! Every channel is bounded: a subscriber that falls more than its route's capacity
//! behind is told so (`Lagged`) and catches up from the log, which is the truth; one
//! slow owner's stream makes no other route lag. If the router itself falls behind the
//! firehose, every route is told it missed events and its streams catch up from the log.
//! Nothing here grows without bound or blocks the writer. The bus also keeps, from what
//! it announces, when each running job last reported ([`Pulses`]), for the heartbeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use app::event::{EventId, EventKind, JobPulse};
use app::job::JobId;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::sse;
use crate::owner::Owner;
use crate::store::StoredEvent;

/// How many events the firehose buffers for the router and the workers (at least as
/// many as a route).
const FIREHOSE_CAPACITY: usize = 4096;

/// How many events the router takes from the firehose before it hands them on.
const ROUTER_BATCH: usize = 256;

/// An event as subscribers receive it: who may see it, and its encoded frame.
#[derive(Debug)]
pub struct Published {
    pub id: EventId,
    pub job_id: JobId,
    pub owner: Owner,
    pub kind: EventKind,
    /// The complete SSE frame (`id:`, `event:`, `data:`, blank line).
    pub frame: Bytes,
}

impl Published {
    pub fn new(event: &StoredEvent) -> Self {
        let mut frame = BytesMut::new();
        sse::encode_event(&mut frame, event.id, event.kind, &event.data);
        Self {
            id: event.id,
            job_id: event.job_id,
            owner: event.owner.clone(),
            kind: event.kind,
            frame: frame.freeze(),
        }
    }
}

/// What a route carries: the next event, word that some were missed (the router fell
/// behind the firehose, so the log must be read), or a note that is not in the log (where
/// queued jobs stand), sent as it is.
#[derive(Clone, Debug)]
pub enum Delivery {
    Event(Arc<Published>),
    Missed,
    Note(Bytes),
}

/// Which streams a route feeds: all of an owner's jobs, or one job of theirs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RouteKey {
    owner: Owner,
    job: Option<JobId>,
}

type Routes = Arc<Mutex<HashMap<RouteKey, broadcast::Sender<Delivery>>>>;

fn lock(routes: &Routes) -> MutexGuard<'_, HashMap<RouteKey, broadcast::Sender<Delivery>>> {
    // Every change to the map is one insert or remove: it stays whole if a holder panics.
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Debug)]
pub struct Bus {
    firehose: broadcast::Sender<Arc<Published>>,
    routes: Routes,
    /// How many events a route buffers for its slowest stream; past that, the stream
    /// reads from the log. A route is made per owner (and job) watched, each with its
    /// buffer: about 48 bytes an event.
    route_capacity: usize,
    pulses: Pulses,
}

impl Bus {
    /// A bus whose routes buffer `route_capacity` events each; starts its router (so it
    /// must be made inside the runtime). The router ends when the last clone is gone.
    pub fn new(route_capacity: usize) -> Self {
        let (firehose, events) = broadcast::channel(FIREHOSE_CAPACITY.max(route_capacity));
        let routes = Routes::default();
        tokio::spawn(route(events, routes.clone()));
        Self {
            firehose,
            routes,
            route_capacity,
            pulses: Pulses::default(),
        }
    }

    /// Announces an event that is already in the log. Nobody listening is fine.
    pub fn publish(&self, event: &StoredEvent) {
        self.pulses.note(event, Utc::now());
        let _ = self.firehose.send(Arc::new(Published::new(event)));
    }

    /// Every event, as it is published (for this node's workers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.firehose.subscribe()
    }

    /// The events of `owner`'s jobs (or of `job` alone), from now on.
    pub fn route(&self, owner: &Owner, job: Option<JobId>) -> Route {
        let key = RouteKey {
            owner: owner.clone(),
            job,
        };
        let receiver = lock(&self.routes)
            .entry(key.clone())
            .or_insert_with(|| broadcast::channel(self.route_capacity).0)
            .subscribe();
        Route {
            receiver: Some(receiver),
            key,
            routes: self.routes.clone(),
        }
    }

    /// Hands a note not in the log (`frame`, made only if someone listens) to the
    /// streams of `owner`'s jobs (`job`: of that one job), if any are open.
    pub fn note(&self, owner: &Owner, job: Option<JobId>, frame: impl FnOnce() -> Bytes) {
        let key = RouteKey {
            owner: owner.clone(),
            job,
        };
        let route = lock(&self.routes).get(&key).cloned();
        if let Some(route) = route {
            let _ = route.send(Delivery::Note(frame()));
        }
    }

    /// How many events the slowest receiver, on the firehose or on any route, has yet to
    /// take (at most the capacity: a receiver further behind reads from the log).
    pub fn slowest_backlog(&self) -> usize {
        let routes = lock(&self.routes)
            .values()
            .map(broadcast::Sender::len)
            .max()
            .unwrap_or(0);
        routes.max(self.firehose.len())
    }

    /// How many routes streams hold open.
    pub fn routes(&self) -> usize {
        lock(&self.routes).len()
    }

    pub fn pulses(&self) -> &Pulses {
        &self.pulses
    }
}

/// The router: hands each event on the firehose to its owner's route and its job's, in
/// the order published, a batch at a time.
async fn route(mut events: broadcast::Receiver<Arc<Published>>, routes: Routes) {
    let mut batch = Vec::with_capacity(ROUTER_BATCH);
    loop {
        match events.recv().await {
            Ok(event) => batch.push(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the event router fell behind; every stream reads the log"
                );
                for route in lock(&routes).values() {
                    let _ = route.send(Delivery::Missed);
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        }
        while batch.len() < ROUTER_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                // Handed on at the next turn (a lag is told to every route then).
                Err(TryRecvError::Lagged(_) | TryRecvError::Empty | TryRecvError::Closed) => {
                    break;
                }
            }
        }
        let routes = lock(&routes);
        for event in batch.drain(..) {
            let mut key = RouteKey {
                owner: event.owner.clone(),
                job: None,
            };
            if let Some(route) = routes.get(&key) {
                let _ = route.send(Delivery::Event(event.clone()));
            }
            key.job = Some(event.job_id);
            if let Some(route) = routes.get(&key) {
                let _ = route.send(Delivery::Event(event));
            }
        }
    }
}

/// One stream's place on a route. The route goes when its last stream does.
#[derive(Debug)]
pub struct Route {
    /// Taken only when dropped.
    receiver: Option<broadcast::Receiver<Delivery>>,
    key: RouteKey,
    routes: Routes,
}

impl Route {
    pub async fn recv(&mut self) -> Result<Delivery, RecvError> {
        self.receiver.as_mut().expect("a live route").recv().await
    }

    pub fn try_recv(&mut self) -> Result<Delivery, TryRecvError> {
        self.receiver.as_mut().expect("a live route").try_recv()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut routes = lock(&self.routes);
        if routes
            .get(&self.key)
            .is_some_and(|route| route.receiver_count() == 0)
        {
            routes.remove(&self.key);
        }
    }
}

/// When each running job last reported: its start, its latest progress or log lines, as
/// announced, kept by owner (a heartbeat asks for one owner's). A job leaves when it ends.
#[derive(Clone, Debug, Default)]
pub struct Pulses(Arc<Mutex<HashMap<Owner, LastReports>>>);

/// When each of one owner's running jobs last reported.
type LastReports = HashMap<JobId, DateTime<Utc>>;

impl Pulses {
    fn note(&self, event: &StoredEvent, now: DateTime<Utc>) {
        let mut owners = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match event.kind {
            EventKind::Created => {}
            EventKind::StatusUpdate | EventKind::Log => {
                owners
                    .entry(event.owner.clone())
                    .or_default()
                    .insert(event.job_id, now);
            }
            EventKind::Completion
            | EventKind::Failure
            | EventKind::Cancelled
            | EventKind::Removed => {
                if let Some(jobs) = owners.get_mut(&event.owner) {
                    jobs.remove(&event.job_id);
                    if jobs.is_empty() {
                        owners.remove(&event.owner);
                    }
                }
            }
        }
    }

    /// The owner's running jobs (or only `job`), oldest report first.
    pub fn of(&self, owner: &Owner, job: Option<JobId>) -> Vec<JobPulse> {
        let owners = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(jobs) = owners.get(owner) else {
            return Vec::new();
        };
        let pulse = |(id, at): (&JobId, &DateTime<Utc>)| JobPulse {
            job_id: *id,
            last_report_at: *at,
        };
        let mut pulses: Vec<JobPulse> = match job {
            Some(id) => jobs.get_key_value(&id).map(pulse).into_iter().collect(),
            None => jobs.iter().map(pulse).collect(),
        };
        pulses.sort_by_key(|pulse| pulse.last_report_at);
        pulses
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn event(id: i64, owner: &str, job: u128) -> StoredEvent {
        StoredEvent {
            id: EventId(id),
            job_id: JobId(uuid::Uuid::from_u128(job)),
            owner: Owner::new(owner),
            kind: EventKind::Log,
            data: "{}".to_owned(),
        }
    }

    async fn next(route: &mut Route) -> i64 {
        match tokio::time::timeout(Duration::from_secs(5), route.recv()).await {
            Ok(Ok(Delivery::Event(event))) => event.id.0,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// An event wakes its owner's streams and its job's, and no one else's.
    #[tokio::test]
    async fn an_event_reaches_only_its_owners_and_its_jobs_routes() {
        let bus = Bus::new(64);
        let mut alice = bus.route(&Owner::new("t-alice"), None);
        let mut alice_one = bus.route(
            &Owner::new("t-alice"),
            Some(JobId(uuid::Uuid::from_u128(1))),
        );
        let mut alice_two = bus.route(
            &Owner::new("t-alice"),
            Some(JobId(uuid::Uuid::from_u128(2))),
        );
        let mut bob = bus.route(&Owner::new("t-bob"), None);
        // Bob's route on another job id of the same value: routes are the owner's own.
        let mut bob_one = bus.route(&Owner::new("t-bob"), Some(JobId(uuid::Uuid::from_u128(1))));
        let mut carol = bus.route(&Owner::new("t-carol"), None);
        bus.publish(&event(1, "t-alice", 1));
        bus.publish(&event(2, "t-carol", 3));
        assert_eq!(next(&mut alice).await, 1);
        assert_eq!(next(&mut alice_one).await, 1);
        // The router hands events on in order: once Carol's arrived, Alice's was done.
        assert_eq!(next(&mut carol).await, 2);
        for other in [
            &mut alice_two,
            &mut bob,
            &mut bob_one,
            &mut alice,
            &mut alice_one,
        ] {
            assert!(matches!(other.try_recv(), Err(TryRecvError::Empty)));
        }
    }

    /// A stream that does not read lags on its own route; every other route keeps up.
    #[tokio::test]
    async fn a_slow_stream_lags_alone() {
        let bus = Bus::new(16);
        let mut slow = bus.route(&Owner::new("t-slow"), None);
        let mut quick = bus.route(&Owner::new("t-quick"), None);
        let flood = 2 * 16;
        for id in 1..=flood {
            bus.publish(&event(id, "t-slow", 1));
        }
        bus.publish(&event(flood + 1, "t-quick", 2));
        assert_eq!(next(&mut quick).await, flood + 1);
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(_))));
        assert_eq!(bus.slowest_backlog(), 16);
    }

    /// A route goes with its last stream; the map holds only the routes watched.
    #[tokio::test]
    async fn a_route_goes_with_its_last_stream() {
        let bus = Bus::new(16);
        let owner = Owner::new("t-leaving");
        let first = bus.route(&owner, None);
        let second = bus.route(&owner, None);
        let job = bus.route(&owner, Some(JobId(uuid::Uuid::from_u128(7))));
        assert_eq!(bus.routes(), 2);
        drop(first);
        assert_eq!(bus.routes(), 2);
        drop((second, job));
        assert_eq!(bus.routes(), 0);
    }
}
