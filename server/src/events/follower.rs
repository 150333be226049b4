//! Following the shared log (PostgreSQL, several nodes): every node announces each event
//! of the log on its own [`Bus`] once, in id order, whichever node wrote it.
//!
//! The log's appends are serialised, so this node's own commit holds a run of
//! consecutive ids: when everything before the run has been announced, the commit's
//! events are announced at once, from memory. Otherwise (another node wrote in between)
//! the follower reads the log after the last id it announced, this node's events among
//! the rest. The doorbell is PostgreSQL's `LISTEN/NOTIFY`: every commit notifies
//! `candor_log` with the log's new head, and a head this node has already announced is
//! ignored. A ring only says "read the log", so a notification that is lost (the
//! listening connection dropped) costs latency, never an event: after the listener
//! reconnects, and every few seconds in any case, the follower reads again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::EventId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Bus;
use crate::store::{LOG_CHANNEL, Store, StoredEvent};

/// How often the log is read even without a ring (the safety net for lost ones).
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Events read per query.
const PAGE: u32 = 1_000;

/// This node's place in the shared log: its bus carries the log, in id order, up to
/// the last id announced.
#[derive(Debug)]
pub struct Follower {
    bus: Bus,
    announced: Mutex<EventId>,
    doorbell: Notify,
}

impl Follower {
    /// Follows the log after `announced` onto `bus`.
    pub fn new(bus: Bus, announced: EventId) -> Arc<Self> {
        Arc::new(Self {
            bus,
            announced: Mutex::new(announced),
            doorbell: Notify::new(),
        })
    }

    /// This node committed `events` (one commit's, in id order): announced now if the
    /// log before them has been, read from the log with the rest otherwise.
    pub fn committed<'e>(&self, mut events: impl Iterator<Item = &'e StoredEvent>) {
        let Some(first) = events.next() else { return };
        let mut announced = self.lock();
        if first.id.0 != announced.0 + 1 {
            drop(announced);
            self.ring();
            return;
        }
        for event in std::iter::once(first).chain(events) {
            self.bus.publish(event);
            *announced = event.id;
        }
    }

    /// A commit (this node's or another's) made `head` the log's last id.
    fn notified(&self, head: EventId) {
        if head > *self.lock() {
            self.ring();
        }
    }

    /// The log may hold events not announced yet.
    pub fn ring(&self) {
        self.doorbell.notify_one();
    }

    /// Announces what was read from the log after `after` (skipping what this node's
    /// commits announced meanwhile).
    fn read(&self, events: &[StoredEvent]) {
        let mut announced = self.lock();
        let before = *announced;
        for event in events.iter().filter(|event| event.id > before) {
            self.bus.publish(event);
            *announced = event.id;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EventId> {
        self.announced.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the log whenever it is rung (or every [`POLL_INTERVAL`]) and announces what
/// it has not, until `stop`.
pub async fn follow_log(store: Arc<dyn Store>, follower: Arc<Follower>, stop: CancellationToken) {
    loop {
        let after = *follower.lock();
        match store.log_after(after, PAGE).await {
            Ok(events) => {
                follower.read(&events);
                if events.len() == PAGE as usize {
                    continue;
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not read the log; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = follower.doorbell.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// Rings `follower` on every notification of a head it has not reached, and once more
/// after a reconnection (what was notified meanwhile is lost).
pub async fn listen_for_commits(pool: PgPool, follower: Arc<Follower>, stop: CancellationToken) {
    loop {
        let failed = tokio::select! {
            () = stop.cancelled() => return,
            failed = listen(&pool, &follower) => failed,
        };
        tracing::warn!(error = %failed, "cannot listen for the log's commits; retrying");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => follower.ring(),
        }
    }
}

/// Listens until it fails.
async fn listen(pool: &PgPool, follower: &Follower) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => return err,
    };
    if let Err(err) = listener.listen(LOG_CHANNEL).await {
        return err;
    }
    // Whatever was committed while no one listened.
    follower.ring();
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match notification.payload().parse() {
                Ok(head) => follower.notified(EventId(head)),
                Err(_) => follower.ring(),
            },
            // The connection was lost; the next call reconnects and listens again.
            Ok(None) => {
                tracing::warn!("the log's listener lost its connection; reconnecting");
                follower.ring();
            }
            Err(err) => return err,
        }
    }
}

#[cfg(test)]
mod tests {
    use app::event::EventKind;
    use app::job::JobId;

    use super::*;
    use crate::owner::Owner;

    fn event(id: i64) -> StoredEvent {
        StoredEvent {
            id: EventId(id),
            job_id: JobId(uuid::Uuid::nil()),
            owner: Owner::new("t-follow"),
            kind: EventKind::Log,
            data: "{}".to_owned(),
        }
    }

    fn received(
        bus: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Published>>,
    ) -> Vec<i64> {
        std::iter::from_fn(|| bus.try_recv().ok().map(|p| p.id.0)).collect()
    }

    /// The bus carries the log in id order, once each, whichever way an event comes:
    /// this node's commit right after the log before it, or the log read after a gap.
    #[tokio::test]
    async fn own_events_go_out_at_once_only_after_everything_before_them() {
        let bus = Bus::new(64);
        let mut out = bus.subscribe();
        let follower = Follower::new(bus.clone(), EventId(10));
        // Right after the announced prefix: out at once.
        follower.committed([event(11), event(12)].iter());
        assert_eq!(received(&mut out), [11, 12]);
        // Another node wrote 13 and 14: this node's 15 waits for the log.
        follower.committed([event(15)].iter());
        assert!(received(&mut out).is_empty());
        assert!(
            tokio::time::timeout(Duration::from_secs(1), follower.doorbell.notified())
                .await
                .is_ok(),
            "the follower is rung to read the log"
        );
        // The log's read brings all three; a stale read announces nothing twice.
        follower.read(&[event(13), event(14), event(15)]);
        follower.read(&[event(12), event(13)]);
        assert_eq!(received(&mut out), [13, 14, 15]);
        // A head already announced rings nothing; a newer one does.
        follower.notified(EventId(15));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), follower.doorbell.notified())
                .await
                .is_err()
        );
        follower.notified(EventId(16));
        assert!(
            tokio::time::timeout(Duration::from_secs(1), follower.doorbell.notified())
                .await
                .is_ok()
        );
    }
}
