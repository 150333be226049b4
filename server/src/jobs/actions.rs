//! What a person asks of a job, whichever way they ask (the page, the API, the terminal
//! client): start one, cancel one, retry one. The HTTP layer only translates requests
//! into these and their errors into answers.

use app::event::{Cancelled, JobEvent};
use app::job::{Job, JobId, JobSpec, JobStatus};
use app::kind::Upload;
use chrono::Utc;

use super::Runner;
use crate::owner::Owner;
use crate::store::{Admission, Recorded, StoreError};

/// Why an action was not taken; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("the job has already ended ({0})")]
    Ended(JobStatus),
    #[error("only a failed or cancelled job can be retried; this one is {0}")]
    NotRetryable(JobStatus),
    #[error("the job was removed")]
    Gone,
    #[error("the file {file} of that job is no longer stored ({reason}); start a new job")]
    FileGone { file: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A job to start.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a> {
    pub owner: &'a Owner,
    pub spec: &'a JobSpec,
    pub title: &'a str,
    /// The job this one retries.
    pub retry_of: Option<JobId>,
    /// The files its params hold (stored already).
    pub uploads: &'a [Upload],
    pub admission: Admission,
}

impl Runner {
    /// Stores a new queued job and wakes the workers. If the job cannot be stored (it
    /// was not admitted, or the store failed), its files are removed: no job will ever
    /// read them.
    pub async fn submit(&self, new: Submission<'_>) -> Result<Job, StoreError> {
        let created = self
            .recorder
            .create_job(new.owner, new.spec, new.title, new.retry_of, new.admission)
            .await;
        match created {
            Ok(job) => {
                self.wake();
                Ok(job)
            }
            Err(err) => {
                self.services
                    .uploads
                    .remove_all(new.owner, new.uploads)
                    .await;
                Err(err)
            }
        }
    }

    /// Ends a queued or running job as cancelled, at once, and tells its code to stop;
    /// returns the job as cancelled.
    pub async fn cancel_job(&self, job: &Job) -> Result<Job, ActionError> {
        if job.status.is_terminal() {
            return Err(ActionError::Ended(job.status));
        }
        let event = JobEvent::Cancelled(Cancelled {
            job_id: job.id,
            step: job.step.clone(),
            at: Utc::now(),
        });
        match self.recorder.record(event).await? {
            Recorded::Stored { job, .. } => {
                self.cancel(job.id);
                tracing::info!(job_id = %job.id, "cancelled");
                Ok(*job)
            }
            // It ended between the caller's read and this write.
            Recorded::Refused(refused) => Err(ActionError::Ended(refused.from)),
            Recorded::Gone => Err(ActionError::Gone),
        }
    }

    /// Starts a new job with a failed or cancelled job's kind, params and title, linked
    /// to it by `retryOf`. The retry gets a copy of each of the original's files (each
    /// removed with its own job).
    pub async fn retry(
        &self,
        owner: &Owner,
        old: &Job,
        admission: Admission,
    ) -> Result<Job, ActionError> {
        if !matches!(old.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(ActionError::NotRetryable(old.status));
        }
        let uploads = &self.services.uploads;
        let mut spec = old.spec.clone();
        let mut copies = Vec::new();
        for (param, upload) in self.kinds.uploads(&old.spec) {
            let copy = match uploads.duplicate(owner, &upload).await {
                Ok(copy) => copy,
                Err(err) => {
                    uploads.remove_all(owner, &copies).await;
                    return Err(ActionError::FileGone {
                        file: upload.name,
                        reason: err.to_string(),
                    });
                }
            };
            if let Some(slot) = spec.params.get_mut(&param) {
                *slot = serde_json::to_value(&copy).unwrap_or_default();
            }
            copies.push(copy);
        }
        let job = self
            .submit(Submission {
                owner,
                spec: &spec,
                title: &old.title,
                retry_of: Some(old.id),
                uploads: &copies,
                admission,
            })
            .await?;
        tracing::info!(job_id = %job.id, retry_of = %old.id, "accepted a retry");
        Ok(job)
    }
}
