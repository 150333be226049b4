//! Where every event is written: into the store's log first, then onto the bus.
//!
//! Writes and announcements happen under one lock, so the bus carries events in exactly
//! the order of their ids. A subscriber relies on that: having read the log up to id N,
//! it skips bus events up to N and misses none after.

use std::sync::Arc;

use app::event::JobEvent;
use app::job::{Job, JobId, JobSpec};
use chrono::Utc;
use tokio::sync::Mutex;

use super::Bus;
use crate::owner::Owner;
use crate::store::{Admission, ClaimedJob, Recorded, Store, StoreError};

#[derive(Clone)]
pub struct Recorder {
    store: Arc<dyn Store>,
    bus: Bus,
    /// Held across "write to the log, then publish": keeps the bus in id order. A tokio
    /// mutex, because it is held across the store's `await`s.
    order: Arc<Mutex<()>>,
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>, bus: Bus) -> Self {
        Self {
            store,
            bus,
            order: Arc::new(Mutex::new(())),
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
        let _order = self.order.lock().await;
        let (job, event) = self
            .store
            .create_job(owner, spec, title, retry_of, admission, Utc::now())
            .await?;
        self.bus.publish(&event);
        Ok(job)
    }

    /// Claims the oldest queued job for a worker and announces that it runs.
    pub async fn claim_next(&self) -> Result<Option<ClaimedJob>, StoreError> {
        let _order = self.order.lock().await;
        let claimed = self.store.claim_next(Utc::now()).await?;
        if let Some(claimed) = &claimed {
            self.bus.publish(&claimed.event);
        }
        Ok(claimed)
    }

    /// Records a change to a job and announces it, if the job's state allows it.
    pub async fn record(&self, event: &JobEvent) -> Result<Recorded, StoreError> {
        let _order = self.order.lock().await;
        let recorded = self.store.record(event).await?;
        if let Recorded::Stored(stored) = &recorded {
            self.bus.publish(stored);
        }
        Ok(recorded)
    }
}
