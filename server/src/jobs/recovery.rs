//! At start-up: jobs that a previous process left `running` are ended honestly.

use app::event::{Failure, JobEvent};
use chrono::Utc;

use super::INTERRUPTED;
use crate::events::Recorder;
use crate::store::{Store, StoreError};

/// Ends every job still marked `running` as failed (its process is gone), so no job
/// stays `running` forever. Returns how many there were.
pub async fn recover_interrupted(
    store: &dyn Store,
    recorder: &Recorder,
) -> Result<usize, StoreError> {
    let stranded = store.running_jobs().await?;
    for job in &stranded {
        tracing::warn!(job_id = %job.id, kind = %job.spec.kind(), "ending a job interrupted by a restart");
        recorder
            .record(&JobEvent::Failure(Failure {
                job_id: job.id,
                error: INTERRUPTED.to_owned(),
                step: job.step.clone(),
                at: Utc::now(),
            }))
            .await?;
    }
    Ok(stranded.len())
}
