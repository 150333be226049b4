//! Following the shared log (PostgreSQL, several nodes): every node reads each new event
//! from the log once and announces it on its own [`Bus`], whichever node wrote it.
//!
//! The doorbell is PostgreSQL's `LISTEN/NOTIFY`: every commit that appended events
//! notifies `candor_log`, and this node's own commits ring it directly. A ring only says
//! "read the log": the follower reads everything after the last id it announced, in id
//! order, so a notification that is lost (the listening connection dropped) costs
//! latency, never an event. After the listener reconnects, and every few seconds in any
//! case, the follower reads again.

use std::sync::Arc;
use std::time::Duration;

use app::event::EventId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Bus;
use crate::store::{LOG_CHANNEL, Store};

/// How often the log is read even without a ring (the safety net for lost ones).
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Events read per query.
const PAGE: u32 = 1_000;

/// Rings when the log may have new events.
#[derive(Clone, Debug, Default)]
pub struct Doorbell(Arc<Notify>);

impl Doorbell {
    pub fn ring(&self) {
        self.0.notify_one();
    }

    async fn rung(&self) {
        self.0.notified().await;
    }
}

/// Announces on `bus` every event after `after`, in id order, until `stop`.
pub async fn follow_log(
    store: Arc<dyn Store>,
    bus: Bus,
    doorbell: Doorbell,
    mut after: EventId,
    stop: CancellationToken,
) {
    loop {
        match store.log_after(after, PAGE).await {
            Ok(events) => {
                let full = events.len() == PAGE as usize;
                for event in &events {
                    bus.publish(event);
                    after = event.id;
                }
                if full {
                    continue;
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not read the log; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = doorbell.rung() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// Rings `doorbell` on every notification of the log's channel, and once more after a
/// reconnection (what was notified meanwhile is lost).
pub async fn listen_for_commits(pool: PgPool, doorbell: Doorbell, stop: CancellationToken) {
    loop {
        let failed = tokio::select! {
            () = stop.cancelled() => return,
            failed = listen(&pool, &doorbell) => failed,
        };
        tracing::warn!(error = %failed, "cannot listen for the log's commits; retrying");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => doorbell.ring(),
        }
    }
}

/// Listens until it fails.
async fn listen(pool: &PgPool, doorbell: &Doorbell) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => return err,
    };
    if let Err(err) = listener.listen(LOG_CHANNEL).await {
        return err;
    }
    // Whatever was committed while no one listened.
    doorbell.ring();
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => doorbell.ring(),
            // The connection was lost; the next call reconnects and listens again.
            Ok(None) => {
                tracing::warn!("the log's listener lost its connection; reconnecting");
                doorbell.ring();
            }
            Err(err) => return err,
        }
    }
}
