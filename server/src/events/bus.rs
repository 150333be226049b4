//! The doorbell: a bounded broadcast of events that were just written to the log.
//!
//! It carries each event already encoded, so a thousand subscribers share one
//! serialisation. It is bounded: a subscriber that falls more than its capacity behind
//! is told so (`Lagged`) and catches up from the log, which is the truth; the bus itself
//! never grows and never blocks the writer.

use std::sync::Arc;

use app::event::{EventId, EventKind};
use app::job::JobId;
use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast;

use super::sse;
use crate::owner::Owner;
use crate::store::StoredEvent;

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

#[derive(Clone, Debug)]
pub struct Bus {
    sender: broadcast::Sender<Arc<Published>>,
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    /// Announces an event that is already in the log. Nobody listening is fine.
    pub fn publish(&self, event: &StoredEvent) {
        let _ = self.sender.send(Arc::new(Published::new(event)));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }
}
