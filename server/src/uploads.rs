//! Files that come with job requests (`multipart/form-data`, e.g. the CSV of an
//! `import`). Each is streamed to the data directory under a random id before its job is
//! created (size-limited as it arrives, in constant memory), read by the job, and
//! removed with the job when its retention runs out.

use std::io;
use std::path::PathBuf;

use app::kind::Upload;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// Why a file could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than the {max} bytes allowed")]
    TooLarge { max: u64 },
    #[error("the upload stopped before the file was complete: {0}")]
    Incomplete(String),
    #[error("could not store the file: {0}")]
    Io(#[from] io::Error),
}

/// The folder of uploaded files.
#[derive(Clone, Debug)]
pub struct Uploads {
    dir: PathBuf,
}

impl Uploads {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self, upload: &Upload) -> PathBuf {
        self.dir.join(upload.id.to_string())
    }

    /// Stores a file as it arrives, refusing it once it passes `max_bytes`. Only a
    /// complete file gets its final name.
    pub async fn receive<E: std::fmt::Display>(
        &self,
        name: &str,
        mut chunks: impl Stream<Item = Result<Bytes, E>> + Unpin,
        max_bytes: u64,
    ) -> Result<Upload, UploadError> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let upload = Upload {
            id: Uuid::new_v4(),
            name: file_name(name),
            bytes: 0,
        };
        let partial = self.dir.join(format!("{}.partial", upload.id));
        let result = async {
            let mut file = tokio::fs::File::create(&partial).await?;
            let mut bytes = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| UploadError::Incomplete(e.to_string()))?;
                bytes += chunk.len() as u64;
                if bytes > max_bytes {
                    return Err(UploadError::TooLarge { max: max_bytes });
                }
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            Ok(bytes)
        }
        .await;
        match result {
            Ok(bytes) => {
                let upload = Upload { bytes, ..upload };
                tokio::fs::rename(&partial, self.path(&upload)).await?;
                Ok(upload)
            }
            Err(err) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(err)
            }
        }
    }

    /// A second, independent name for the same file (a hard link, no copy): a retried
    /// job gets its own, so each job's file is removed with that job.
    pub async fn duplicate(&self, upload: &Upload) -> io::Result<Upload> {
        let copy = Upload {
            id: Uuid::new_v4(),
            ..upload.clone()
        };
        tokio::fs::hard_link(self.path(upload), self.path(&copy)).await?;
        Ok(copy)
    }

    /// Removes files that no job will read (the request that brought them was refused).
    pub async fn remove_all(&self, uploads: &[Upload]) {
        for upload in uploads {
            self.remove(upload).await;
        }
    }

    pub async fn remove(&self, upload: &Upload) {
        match tokio::fs::remove_file(self.path(upload)).await {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(upload = %upload.id, error = %err, "could not remove an upload")
            }
        }
    }

    /// Removes the files a crash left half-written. Run at start-up.
    pub async fn remove_partials(&self) -> io::Result<()> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_name().to_string_lossy().ends_with(".partial") {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }
}

/// The file's own name, without any folder a client put in front of it, and short.
fn file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let name: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.is_empty() {
        "upload".to_owned()
    } else {
        name
    }
}
