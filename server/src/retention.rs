//! Retention: ended jobs are kept for the configured time, then a background sweep
//! removes their events and files. Each removal is itself an event (`removed`), so open
//! pages drop the job; the job's row stays behind as a tombstone, so its links answer
//! `410 Gone` instead of pretending it never existed.

use std::sync::Arc;
use std::time::Duration;

use app::event::{JobEvent, JobRemoved};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::artifacts::Artifacts;
use crate::events::Recorder;
use crate::jobs::Kinds;
use crate::store::{Recorded, Store, StoreError};
use crate::uploads::Uploads;

/// How many jobs one pass removes before it looks at the clock again.
const BATCH: u32 = 200;

pub struct Sweeper {
    pub store: Arc<dyn Store>,
    pub recorder: Recorder,
    pub artifacts: Artifacts,
    pub uploads: Uploads,
    pub kinds: Kinds,
    pub retention: Duration,
    pub interval: Duration,
}

impl Sweeper {
    /// Sweeps every `interval` until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            match self.sweep().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed jobs past their retention"),
                Err(err) => tracing::error!(error = %err, "the retention sweep failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Removes every job that ended more than the retention ago; returns how many.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let mut removed = 0;
        loop {
            let Some(cutoff) = Utc::now().checked_sub_signed(retention) else {
                return Ok(removed);
            };
            let expired = self.store.expired_jobs(cutoff, BATCH).await?;
            for job in &expired {
                let job_id = job.id;
                // Files first: once `removed` is announced, nothing of the job is left.
                // (A crash in between leaves a job whose file is gone; the next sweep
                // removes it.)
                if let Err(err) = self.artifacts.remove(job_id).await {
                    tracing::warn!(%job_id, error = %err, "could not delete an expired job's files; will try again");
                    continue;
                }
                for (_, upload) in self.kinds.uploads(&job.spec) {
                    self.uploads.remove(&upload).await;
                }
                let event = JobEvent::Removed(JobRemoved {
                    job_id,
                    at: Utc::now(),
                });
                if let Recorded::Stored { .. } = self.recorder.record(event).await? {
                    removed += 1;
                }
            }
            if expired.len() < BATCH as usize {
                return Ok(removed);
            }
        }
    }
}
