//! Files that come with job requests (`multipart/form-data`, e.g. the CSV of an
//! `import`). Each is streamed to the data directory under a random id before its job is
//! created (size-limited as it arrives, in constant memory), read by the job, and
//! removed with the job when its retention runs out.
//!
//! An upload is its owner's: it is stored in a folder of the owner's own
//! (`uploads/<digest of the owner>/<id>`), and every use (the job that reads it, a retry
//! that copies it, the retention that removes it) names the owner of the job at hand,
//! so an id of someone else's upload finds nothing.

use std::io;
use std::path::PathBuf;

use app::kind::{Upload, is_invisible_control};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::owner::Owner;

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

    /// Where `owner`'s upload is stored.
    pub fn path(&self, owner: &Owner, upload: &Upload) -> PathBuf {
        self.folder(owner).join(upload.id.to_string())
    }

    fn folder(&self, owner: &Owner) -> PathBuf {
        let digest = Sha256::digest(owner.as_str().as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(name)
    }

    /// Stores a file as it arrives, refusing it once it passes `max_bytes`. Only a
    /// complete file gets its final name.
    pub async fn receive<E: std::fmt::Display>(
        &self,
        owner: &Owner,
        name: &str,
        mut chunks: impl Stream<Item = Result<Bytes, E>> + Unpin,
        max_bytes: u64,
    ) -> Result<Upload, UploadError> {
        let folder = self.folder(owner);
        tokio::fs::create_dir_all(&folder).await?;
        let upload = Upload {
            id: Uuid::new_v4(),
            name: file_name(name),
            bytes: 0,
        };
        let partial = folder.join(format!("{}.partial", upload.id));
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
                tokio::fs::rename(&partial, self.path(owner, &upload)).await?;
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
    pub async fn duplicate(&self, owner: &Owner, upload: &Upload) -> io::Result<Upload> {
        let copy = Upload {
            id: Uuid::new_v4(),
            ..upload.clone()
        };
        tokio::fs::hard_link(self.path(owner, upload), self.path(owner, &copy)).await?;
        Ok(copy)
    }

    /// Removes files that no job will read (the request that brought them was refused).
    pub async fn remove_all(&self, owner: &Owner, uploads: &[Upload]) {
        for upload in uploads {
            self.remove(owner, upload).await;
        }
    }

    pub async fn remove(&self, owner: &Owner, upload: &Upload) {
        match tokio::fs::remove_file(self.path(owner, upload)).await {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(upload = %upload.id, error = %err, "could not remove an upload")
            }
        }
    }

    /// Removes the files a crash left half-written (in every owner's folder). Run at
    /// start-up.
    pub async fn remove_partials(&self) -> io::Result<()> {
        let mut folders = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        while let Some(folder) = folders.next_entry().await? {
            if !folder.file_type().await?.is_dir() {
                continue;
            }
            let mut entries = tokio::fs::read_dir(folder.path()).await?;
            while let Some(entry) = entries.next_entry().await? {
                if entry.file_name().to_string_lossy().ends_with(".partial") {
                    let _ = tokio::fs::remove_file(entry.path()).await;
                }
            }
        }
        Ok(())
    }
}

/// The file's own name, without any folder a client put in front of it, without
/// controls or bidirectional overrides (which could make `invoice.exe` read as
/// `exe.eciovni` where it is shown), and short.
fn file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = base
        .chars()
        .filter(|c| !is_invisible_control(*c))
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        "upload".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::{Uploads, file_name};
    use crate::owner::Owner;

    #[tokio::test]
    async fn an_upload_is_found_only_for_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::new(dir.path().join("uploads"));
        let (alice, mallory) = (Owner::new("b-alice"), Owner::new("b-mallory"));
        let chunks =
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("private notes"))]);
        let upload = uploads
            .receive(&alice, "notes.txt", chunks, 1 << 20)
            .await
            .unwrap();
        assert!(uploads.path(&alice, &upload).exists());
        assert!(!uploads.path(&mallory, &upload).exists());
        // Another owner's retry cannot copy it, nor their retention remove it.
        assert!(uploads.duplicate(&mallory, &upload).await.is_err());
        uploads.remove(&mallory, &upload).await;
        assert!(uploads.path(&alice, &upload).exists());
        let copy = uploads.duplicate(&alice, &upload).await.unwrap();
        uploads.remove(&alice, &upload).await;
        assert!(!uploads.path(&alice, &upload).exists());
        assert!(
            uploads.path(&alice, &copy).exists(),
            "the copy is a file of its own"
        );
    }

    #[test]
    fn file_names_lose_folders_controls_and_bidi_overrides() {
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name("C:\\Users\\me\\orders.csv"), "orders.csv");
        assert_eq!(file_name("orders\u{202e}vsc.exe"), "ordersvsc.exe");
        assert_eq!(file_name("a\u{2066}b\u{2069}\r\n\u{0}.csv"), "ab.csv");
        assert_eq!(file_name(" \u{202e} "), "upload");
        assert_eq!(file_name(&"x".repeat(500)).len(), 200);
    }
}
