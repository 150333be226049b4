//! What job code gets to talk to the runner: progress, log lines, cancellation and
//! artifacts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::event::{Amount, Unit};
use app::job::JobId;
use app::kind::Upload;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::progress::{Progress, Unwritten};
use super::{JobError, Outcome};
use crate::artifacts::{Artifacts, ResultQuota};
use crate::orders::OrdersTable;
use crate::owner::Owner;
use crate::uploads::Uploads;

/// What jobs share besides their own progress: the data they work on.
#[derive(Clone, Debug)]
pub struct Services {
    pub orders: OrdersTable,
    pub uploads: Uploads,
}

/// Handed to job code. Cheap to clone (into a blocking task, say); every method may be
/// called from any thread, as often as the code likes: progress is coalesced.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    id: JobId,
    /// Whose job it is (its uploads are in the owner's folder).
    owner: Owner,
    progress: watch::Sender<Progress>,
    /// Log lines and the steps begun, until the progress writer takes them.
    unwritten: Unwritten,
    cancel: CancellationToken,
    artifacts: Artifacts,
    results: ResultQuota,
    services: Services,
}

impl JobContext {
    pub(crate) fn new(
        id: JobId,
        owner: Owner,
        progress: watch::Sender<Progress>,
        unwritten: Unwritten,
        cancel: CancellationToken,
        results: ResultQuota,
        services: Services,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                owner,
                progress,
                unwritten,
                cancel,
                artifacts: results.artifacts().clone(),
                results,
                services,
            }),
        }
    }

    pub fn job_id(&self) -> JobId {
        self.inner.id
    }

    /// The orders table (what `import` loads and `export` reads).
    pub fn orders(&self) -> &OrdersTable {
        &self.inner.services.orders
    }

    /// Where a file that came with the job's request is stored.
    pub fn upload_path(&self, upload: &Upload) -> PathBuf {
        self.inner.services.uploads.path(&self.inner.owner, upload)
    }

    /// Reports that the job is `percent` done and working on `step`. Costs a comparison
    /// when nothing changed; the runner writes at most a few of these per second.
    pub fn progress(&self, percent: u8, step: &str) {
        self.report(Some(percent.min(100)), step);
    }

    /// Reports a new step without changing the percentage.
    pub fn step(&self, step: &str) {
        self.report(None, step);
    }

    /// Reports how much the job has processed so far (`count` rows, or bytes): the page
    /// shows the count and the rate. Coalesced like progress.
    pub fn processed(&self, count: u64, unit: Unit) {
        let amount = Some(Amount { count, unit });
        self.inner.progress.send_if_modified(|current| {
            let changed = current.done != amount;
            current.done = amount;
            changed
        });
    }

    /// Writes a line to the job's log, which the page shows live under the job. Lines
    /// written within one progress interval travel in one `log` event; a job that
    /// writes faster than the log can carry has the surplus counted, not kept.
    pub fn log(&self, line: impl Into<String>) {
        self.inner.unwritten.log(line.into());
        // Wakes the writer, which takes the lines from the log.
        self.inner.progress.send_modify(|_| {});
    }

    fn report(&self, percent: Option<u8>, step: &str) {
        self.inner.progress.send_if_modified(|current| {
            let mut changed = false;
            if let Some(percent) = percent
                && current.percent != percent
            {
                current.percent = percent;
                changed = true;
            }
            if current.step.as_deref() != Some(step) {
                current.step = Some(step.to_owned());
                // When it began, for the timeline: the writer may skip past it.
                self.inner.unwritten.began(step);
                changed = true;
            }
            changed
        });
    }

    /// True once the job was cancelled (or must stop); long loops should check it.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// `Err(JobError::Cancelled)` once the job was cancelled: `ctx.check_cancelled()?`.
    pub fn check_cancelled(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Prepares the artifact `file_name` of this job: write to
    /// [`Artifact::partial_path`], then [`Artifact::commit`] it. Until it is committed it
    /// is never served, so a crash cannot leave a truncated file behind as a result.
    pub async fn artifact(&self, file_name: &str) -> Result<Artifact, JobError> {
        let (artifacts, id) = (&self.inner.artifacts, self.inner.id);
        tokio::fs::create_dir_all(artifacts.dir(id))
            .await
            .map_err(|e| JobError::io("could not create the job's artifact folder", e))?;
        self.inner.results.check_room(&self.inner.owner).await?;
        Ok(Artifact {
            partial: artifacts.file(id, &format!("{file_name}.partial")),
            complete: artifacts.file(id, file_name),
            file_name: file_name.to_owned(),
            owner: self.inner.owner.clone(),
            results: self.inner.results.clone(),
        })
    }
}

/// A result file being written.
#[derive(Debug)]
pub struct Artifact {
    partial: PathBuf,
    complete: PathBuf,
    file_name: String,
    owner: Owner,
    results: ResultQuota,
}

impl Artifact {
    /// Where to write the file.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Publishes the finished file under its name (an atomic rename), if it fits within
    /// what its owner may keep (else it is removed and the job fails saying so).
    pub async fn commit(self) -> Result<Outcome, JobError> {
        self.results
            .publish(&self.owner, &self.partial, &self.complete)
            .await?;
        Ok(Outcome::download(self.file_name))
    }
}
