//! Result files: where each job's live (a folder per job under the data directory's
//! `artifacts/`) and the URL each is downloaded at. The one place that knows both, so
//! the runner that writes a file, the download that serves it and the sweep that removes
//! it agree.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::job::JobId;
use app::kind::format_bytes;

use crate::jobs::JobError;
use crate::owner::Owner;
use crate::store::Store;

/// The folder that holds every job's result files.
#[derive(Clone, Debug)]
pub struct Artifacts {
    root: Arc<Path>,
}

impl Artifacts {
    pub fn new(root: PathBuf) -> Self {
        Self { root: root.into() }
    }

    /// The folder of every job's files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of job `id`'s files.
    pub fn dir(&self, id: JobId) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// Where job `id`'s file `file` is kept.
    pub fn file(&self, id: JobId, file: &str) -> PathBuf {
        self.dir(id).join(file)
    }

    /// Where job `id`'s file `file` is downloaded.
    pub fn url(id: JobId, file: &str) -> String {
        app::paths::download(id, file)
    }

    /// Removes job `id`'s files (none is fine).
    pub async fn remove(&self, id: JobId) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.dir(id)).await {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// How many bytes of result files one owner may keep (`CANDOR_OWNER_MAX_RESULT_BYTES`):
/// the published files of their jobs that are running or completed and not yet removed.
/// A result that would take an owner past it is not published: its job fails and says so.
/// Checks and publications take turns, so two results of one owner cannot both fit into
/// the last room.
#[derive(Clone)]
pub struct ResultQuota {
    /// Unlimited without a store.
    store: Option<Arc<dyn Store>>,
    artifacts: Artifacts,
    max_bytes: u64,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ResultQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultQuota")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl ResultQuota {
    pub fn new(store: Arc<dyn Store>, artifacts: Artifacts, max_bytes: u64) -> Self {
        Self {
            store: (max_bytes < u64::MAX).then_some(store),
            artifacts,
            max_bytes,
            turn: Arc::default(),
        }
    }

    /// No limit (for tests of the runner alone).
    pub fn unlimited(artifacts: Artifacts) -> Self {
        Self {
            store: None,
            artifacts,
            max_bytes: u64::MAX,
            turn: Arc::default(),
        }
    }

    /// Where the result files are.
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// The bytes of `owner`'s published result files.
    async fn used(&self, store: &Arc<dyn Store>, owner: &Owner) -> Result<u64, JobError> {
        let holders = store
            .result_holders(owner)
            .await
            .map_err(|e| JobError::failed(format!("could not count your stored results: {e}")))?;
        let mut used = 0;
        for id in holders {
            let mut files = match tokio::fs::read_dir(self.artifacts.dir(id)).await {
                Ok(files) => files,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(JobError::io("could not count your stored results", err)),
            };
            while let Some(file) = files
                .next_entry()
                .await
                .map_err(|e| JobError::io("could not count your stored results", e))?
            {
                if file.path().extension().is_some_and(|ext| ext == "partial") {
                    continue;
                }
                if let Ok(meta) = file.metadata().await {
                    used += meta.len();
                }
            }
        }
        Ok(used)
    }

    /// Why a result is not kept: it would not fit (`adding` its size), or there is no
    /// room at all.
    fn over(&self, used: u64, adding: Option<u64>) -> JobError {
        let what = match adding {
            Some(size) => format!("the result ({}) does not fit", format_bytes(size)),
            None => "no room left for its result".to_owned(),
        };
        JobError::failed(format!(
            "{what}: your stored results take {} of the {} you may keep; remove some of your \
             finished jobs to make room",
            format_bytes(used),
            format_bytes(self.max_bytes)
        ))
    }

    /// Fails at once when `owner` has no room left at all (before a job writes anything).
    pub async fn check_room(&self, owner: &Owner) -> Result<(), JobError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let _turn = self.turn.lock().await;
        let used = self.used(store, owner).await?;
        if used >= self.max_bytes {
            return Err(self.over(used, None));
        }
        Ok(())
    }

    /// Publishes the finished file `partial` as `complete` (an atomic rename) if it fits
    /// in `owner`'s room; otherwise removes it and says why.
    pub async fn publish(
        &self,
        owner: &Owner,
        partial: &Path,
        complete: &Path,
    ) -> Result<(), JobError> {
        let _turn = match &self.store {
            Some(store) => {
                let turn = self.turn.lock().await;
                let size = tokio::fs::metadata(partial)
                    .await
                    .map_err(|e| JobError::io("could not read the result file", e))?
                    .len();
                let used = self.used(store, owner).await?;
                if used.saturating_add(size) > self.max_bytes {
                    let _ = tokio::fs::remove_file(partial).await;
                    return Err(self.over(used, Some(size)));
                }
                Some(turn)
            }
            None => None,
        };
        tokio::fs::rename(partial, complete)
            .await
            .map_err(|e| JobError::io("could not publish the result file", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file is served at the URL the router matches, from the job's own folder.
    #[test]
    fn a_file_lives_in_its_jobs_folder_and_is_downloaded_by_its_url() {
        let id = JobId(uuid::Uuid::new_v4());
        let artifacts = Artifacts::new(PathBuf::from("/data/artifacts"));
        assert_eq!(
            artifacts.file(id, "orders.csv"),
            PathBuf::from(format!("/data/artifacts/{id}/orders.csv"))
        );
        assert_eq!(
            Artifacts::url(id, "orders.csv"),
            format!("/downloads/{id}/orders.csv")
        );
    }
}
