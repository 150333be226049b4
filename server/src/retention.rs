//! Retention: ended jobs are kept for the configured time, then a background sweep
//! removes their events and files. Each removal is itself an event (`removed`), so open
//! pages drop the job; the job's row stays behind as a tombstone, so its links answer
//! `410 Gone` instead of pretending it never existed.

use std::sync::Arc;
use std::time::Duration;

use ::metrics::counter;
use app::event::{JobEvent, JobRemoved};
use app::job::Job;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::artifacts::Artifacts;
use crate::events::Recorder;
use crate::jobs::Kinds;
use crate::metrics;
use crate::owner::Owner;
use crate::store::{Store, StoreError};
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
            match self.sweep(&stop).await {
                Ok(Swept {
                    removed: 0,
                    failed: 0,
                }) => {}
                Ok(Swept { removed, failed }) => {
                    tracing::info!(removed, failed, "removed jobs past their retention");
                }
                Err(err) => tracing::error!(error = %err, "the retention sweep failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Removes every job that ended more than the retention ago, until `stop`. A job
    /// whose files cannot be deleted (a read-only volume, say) is left for the next
    /// sweep, counted in `/metrics`, and passed: the sweep always moves on.
    pub async fn sweep(&self, stop: &CancellationToken) -> Result<Swept, StoreError> {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = Utc::now().checked_sub_signed(retention) else {
            return Ok(Swept::default());
        };
        let mut swept = Swept::default();
        let mut after = None;
        while !stop.is_cancelled() {
            let expired = self
                .store
                .expired_jobs(cutoff, after.as_ref(), BATCH)
                .await?;
            for (job, owner) in &expired {
                if self.remove(job, owner).await? {
                    swept.removed += 1;
                } else {
                    swept.failed += 1;
                }
            }
            if expired.len() < BATCH as usize {
                break;
            }
            after = expired.into_iter().last().map(|(job, _)| job);
        }
        Ok(swept)
    }

    /// Removes one expired job: its files first (once `removed` is announced, nothing of
    /// the job is left; a crash in between leaves a job whose file is gone, and the next
    /// sweep removes it). `false` if its files could not be deleted.
    async fn remove(&self, job: &Job, owner: &Owner) -> Result<bool, StoreError> {
        let job_id = job.id;
        if let Err(err) = self.artifacts.remove(job_id).await {
            tracing::warn!(%job_id, error = %err, "could not delete an expired job's files; will try again");
            counter!(metrics::RETENTION_FAILURES).increment(1);
            return Ok(false);
        }
        for (_, upload) in self.kinds.uploads(&job.spec) {
            self.uploads.remove(owner, &upload).await;
        }
        let event = JobEvent::Removed(JobRemoved {
            job_id,
            at: Utc::now(),
        });
        // Refused, or gone (another node's sweep removed it first), is as good as done.
        match self.recorder.record(event).await {
            Ok(_) => Ok(true),
            Err(err) => Err(err),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub removed: usize,
    /// Jobs left for the next sweep: their files could not be deleted.
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use app::event::Completion;
    use app::job::JobSpec;

    use super::*;
    use crate::events::{Announce, Bus};
    use crate::owner::Owner;
    use crate::store::{Admission, ClaimLimits, SqliteStore};

    /// More expired jobs whose files cannot be deleted than one page holds: the sweep
    /// leaves them, removes the one after them, and ends (it read the same page forever).
    #[tokio::test]
    async fn a_sweep_moves_past_jobs_it_cannot_remove_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let recorder = Recorder::new(store.clone(), Announce::Bus(Bus::new(16)));
        let artifacts = Artifacts::new(dir.path().join("artifacts"));
        std::fs::create_dir_all(artifacts.root()).unwrap();
        let spec = JobSpec::new("demo", serde_json::json!({ "steps": 1, "stepMs": 0 }));
        let jobs = BATCH as usize + 1;
        let mut ids = Vec::new();
        for _ in 0..jobs {
            let job = recorder
                .create_job(&Owner::local(), &spec, "Demo", None, Admission::UNLIMITED)
                .await
                .unwrap();
            ids.push(job.id);
        }
        assert_eq!(
            recorder
                .claim(jobs as u32, &ClaimLimits::none())
                .await
                .unwrap()
                .len(),
            jobs
        );
        for (n, id) in ids.iter().enumerate() {
            let completion = JobEvent::Completion(Completion {
                job_id: *id,
                url: None,
                at: Utc::now(),
            });
            recorder.record(completion).await.unwrap();
            // All but the last: a file where the job's folder goes cannot be deleted
            // as a folder.
            if n + 1 < jobs {
                std::fs::write(artifacts.dir(*id), b"not a folder").unwrap();
            }
        }
        let sweeper = Sweeper {
            store: store.clone(),
            recorder,
            artifacts,
            uploads: Uploads::new(dir.path().join("uploads")),
            kinds: crate::jobs::builtin_kinds(),
            retention: Duration::ZERO,
            interval: Duration::from_secs(60),
        };
        let swept = tokio::time::timeout(
            Duration::from_secs(60),
            sweeper.sweep(&CancellationToken::new()),
        )
        .await
        .expect("the sweep ends")
        .unwrap();
        assert_eq!(
            swept,
            Swept {
                removed: 1,
                failed: jobs - 1
            }
        );
        let owner = Owner::local();
        assert!(store.was_removed(&owner, ids[jobs - 1]).await.unwrap());
        assert!(!store.was_removed(&owner, ids[0]).await.unwrap());
    }
}
