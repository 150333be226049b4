//! Jobs whose process stopped under them: at start-up, the ones a dead process left
//! `running`; at shutdown, the ones that outlived the grace period. Each is ended
//! honestly, or, if its kind is safe to re-run, queued again (a few times at most).

use app::event::{Failure, JobEvent, StatusUpdate};
use app::job::{Job, JobStatus};
use chrono::Utc;

use super::INTERRUPTED;
use super::registry::Kinds;
use crate::events::Recorder;
use crate::store::{Store, StoreError};

/// How many times a job may be started in all before an interruption ends it for good
/// (a job that brings the process down every time must not loop forever).
pub(super) const MAX_ATTEMPTS: u32 = 3;

/// What becomes of `job`, interrupted while running with `step` as its last step.
pub(super) fn interruption(job: &Job, step: Option<String>, kinds: &Kinds) -> JobEvent {
    let at = Utc::now();
    let safe_to_rerun = kinds.safe_to_rerun(&job.spec.kind);
    if safe_to_rerun && job.attempt < MAX_ATTEMPTS {
        JobEvent::StatusUpdate(StatusUpdate {
            job_id: job.id,
            status: JobStatus::Queued,
            progress: 0,
            step: Some(format!(
                "Interrupted by a server restart; queued to run again (attempt {} of {MAX_ATTEMPTS})",
                job.attempt + 1
            )),
            done: None,
            began: Vec::new(),
            at,
        })
    } else {
        let error = if safe_to_rerun {
            format!("{INTERRUPTED} (after {} attempts)", job.attempt)
        } else {
            INTERRUPTED.to_owned()
        };
        JobEvent::Failure(Failure {
            job_id: job.id,
            error,
            step,
            at,
        })
    }
}

/// Ends or re-queues every job still marked `running`: its process is gone, so no job
/// stays `running` forever. Returns how many there were.
pub async fn recover_interrupted(
    store: &dyn Store,
    recorder: &Recorder,
    kinds: &Kinds,
) -> Result<usize, StoreError> {
    let stranded = store.running_jobs().await?;
    for job in &stranded {
        let event = interruption(job, job.step.clone(), kinds);
        tracing::warn!(
            job_id = %job.id,
            kind = %job.spec.kind,
            outcome = %event.kind(),
            "a job was interrupted by a restart"
        );
        recorder.record(event).await?;
    }
    Ok(stranded.len())
}
