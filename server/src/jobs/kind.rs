//! The trait every job kind implements, and what its code returns.

use std::future::Future;
use std::time::Duration;

use super::JobContext;

/// A kind of job: its parameters (a type in `app`, validated before the job is accepted),
/// its limits, and its code.
pub trait JobKind: Send + Sync + 'static {
    type Params: Send + 'static;

    /// How long one run may take before it is ended as `failed: timed out`
    /// (`CANDOR_TIME_LIMIT_<KIND>_SECS` overrides it).
    const TIME_LIMIT: Option<Duration> = None;

    /// May a run that a restart interrupted simply run again? True only for kinds whose
    /// runs have no effect until they complete (so a half-done run leaves nothing behind).
    const SAFE_TO_RERUN: bool = false;

    /// Runs the job. Report progress through `ctx`; return the outcome or why it failed.
    fn run(
        ctx: JobContext,
        params: Self::Params,
    ) -> impl Future<Output = Result<Outcome, JobError>> + Send;
}

/// What a finished job produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The file name of the job's artifact, if it wrote one (see
    /// [`JobContext::artifact`]); the completion event links to it.
    pub download: Option<String>,
}

impl Outcome {
    pub fn nothing() -> Self {
        Self::default()
    }

    pub fn download(file_name: impl Into<String>) -> Self {
        Self {
            download: Some(file_name.into()),
        }
    }
}

/// Why job code did not complete. The message is what the user reads.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job cannot complete, for a reason a person can act on.
    #[error("{0}")]
    Failed(String),
    /// The job saw that it was cancelled and stopped.
    #[error("cancelled")]
    Cancelled,
    /// Reading or writing failed (disk full, permissions, ...).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl JobError {
    pub fn failed(reason: impl Into<String>) -> Self {
        JobError::Failed(reason.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        JobError::Io {
            context: context.into(),
            source,
        }
    }
}
