//! Result files: where each job's live (a folder per job under the data directory's
//! `artifacts/`) and the URL each is downloaded at. The one place that knows both, so
//! the runner that writes a file, the download that serves it and the sweep that removes
//! it agree.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::job::JobId;

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
