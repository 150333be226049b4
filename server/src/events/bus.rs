//! The doorbell: a bounded broadcast of events that were just written to the log.
//!
//! It carries each event already encoded, so a thousand subscribers share one
//! serialisation. It is bounded: a subscriber that falls more than its capacity behind
//! is told so (`Lagged`) and catches up from the log, which is the truth; the bus itself
//! never grows and never blocks the writer. It also keeps, from what it announces, when
//! each running job last reported ([`Pulses`]), for the streams' heartbeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::event::{EventId, EventKind, JobPulse};
use app::job::JobId;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
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
    pulses: Pulses,
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender,
            pulses: Pulses::default(),
        }
    }

    /// Announces an event that is already in the log. Nobody listening is fine.
    pub fn publish(&self, event: &StoredEvent) {
        self.pulses.note(event, Utc::now());
        let _ = self.sender.send(Arc::new(Published::new(event)));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }

    /// How many events the slowest receiver has yet to take (at most the capacity: a
    /// receiver further behind has lost the oldest and reads them from the log).
    pub fn slowest_backlog(&self) -> usize {
        self.sender.len()
    }

    pub fn pulses(&self) -> &Pulses {
        &self.pulses
    }
}

/// When each running job last reported: its start, its latest progress or log lines, as
/// announced.
/// A job leaves when it ends.
#[derive(Clone, Debug, Default)]
pub struct Pulses(Arc<Mutex<HashMap<JobId, LastReport>>>);

/// Whose job it is, and when it last reported.
type LastReport = (Owner, DateTime<Utc>);

impl Pulses {
    fn note(&self, event: &StoredEvent, now: DateTime<Utc>) {
        let mut jobs = self.0.lock().expect("pulses");
        match event.kind {
            EventKind::Created => {}
            EventKind::StatusUpdate | EventKind::Log => {
                jobs.insert(event.job_id, (event.owner.clone(), now));
            }
            EventKind::Completion
            | EventKind::Failure
            | EventKind::Cancelled
            | EventKind::Removed => {
                jobs.remove(&event.job_id);
            }
        }
    }

    /// The owner's running jobs (or only `job`), oldest report first.
    pub fn of(&self, owner: &Owner, job: Option<JobId>) -> Vec<JobPulse> {
        let jobs = self.0.lock().expect("pulses");
        let mut pulses: Vec<JobPulse> = match job {
            Some(id) => jobs
                .get(&id)
                .filter(|(job_owner, _)| job_owner == owner)
                .map(|(_, at)| JobPulse {
                    job_id: id,
                    last_report_at: *at,
                })
                .into_iter()
                .collect(),
            None => jobs
                .iter()
                .filter(|(_, (job_owner, _))| job_owner == owner)
                .map(|(id, (_, at))| JobPulse {
                    job_id: *id,
                    last_report_at: *at,
                })
                .collect(),
        };
        pulses.sort_by_key(|pulse| pulse.last_report_at);
        pulses
    }
}
