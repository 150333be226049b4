//! The trait every job kind implements, and what its code returns.

use std::future::Future;
use std::time::Duration;

use app::job::FieldError;
use app::kind::ParamField;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::JobContext;

/// A kind of job: its name, its parameters (declared for the form and checked before a
/// job is accepted, then handed to `run` typed), its limits, and its code. A new kind is
/// one file implementing this and one line in the list in `jobs/kinds/mod.rs`.
pub trait JobKind: Send + Sync + 'static {
    /// The wire name, `{"kind": NAME, ...}`; also the `CANDOR_TIME_LIMIT_<NAME>_SECS`
    /// variable.
    const NAME: &'static str;
    /// What people call it: "Export orders".
    const LABEL: &'static str;
    /// One sentence on what it does, shown under the form.
    const DESCRIPTION: &'static str;

    /// The typed parameters `run` gets, read from the request's `params` object.
    type Params: DeserializeOwned + Send + 'static;

    /// The parameters as the form shows them and the server checks them (names, types,
    /// ranges). Every key of `Params` must be declared here.
    fn params() -> Vec<ParamField>;

    /// Checks what the declaration cannot say (one field against another). The field
    /// is named without the `params.` prefix.
    fn validate(_params: &Self::Params) -> Result<(), FieldError> {
        Ok(())
    }

    /// A short title for the job, e.g. "Export 1,000 rows".
    fn title(params: &Self::Params) -> String;

    /// How long one run may take before it is ended as `failed: timed out`
    /// (`CANDOR_TIME_LIMIT_<KIND>_SECS` overrides it).
    const TIME_LIMIT: Option<Duration> = None;

    /// How many jobs of this kind may run at once, on all nodes together (`None`: as many
    /// as there are workers). A heavy kind says so, to leave workers for the others: its
    /// queued jobs wait while that many run, and others' jobs are claimed meanwhile.
    const MAX_RUNNING: Option<u32> = None;

    /// May a run that a restart interrupted simply run again? True only for kinds whose
    /// runs have no effect until they complete (so a half-done run leaves nothing behind).
    const SAFE_TO_RERUN: bool = false;

    /// Runs the job. Report progress through `ctx`; return the outcome or why it failed.
    /// A kind that is `SAFE_TO_RERUN` must cope with finding the remains of an earlier,
    /// interrupted run of the same job.
    fn run(
        ctx: JobContext,
        params: Self::Params,
    ) -> impl Future<Output = Result<Outcome, JobError>> + Send;
}

/// What a finished job produced.
#[derive(Default)]
pub struct Outcome {
    /// The file name of the job's artifact, if it wrote one (see
    /// [`JobContext::artifact`]); the completion event links to it.
    pub download: Option<String>,
    /// How to take back what the job did outside its own files, should its completion
    /// not stand (a cancel was recorded after its code finished, before its ending).
    pub undo: Option<BoxFuture<'static, ()>>,
}

impl Outcome {
    pub fn nothing() -> Self {
        Self::default()
    }

    pub fn download(file_name: impl Into<String>) -> Self {
        Self {
            download: Some(file_name.into()),
            undo: None,
        }
    }

    /// The same outcome, with `undo` to run if the job's completion does not stand.
    pub fn undone_by(self, undo: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            undo: Some(Box::pin(undo)),
            ..self
        }
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("download", &self.download)
            .field("undo", &self.undo.is_some())
            .finish()
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

    /// Reading or writing failed; a full volume says so plainly (the person who reads
    /// it can do something about it).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return JobError::Failed(format!(
                "{}: no space left on the data volume",
                context.into()
            ));
        }
        JobError::Io {
            context: context.into(),
            source,
        }
    }
}
