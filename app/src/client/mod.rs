//! Browser-only code: calls to Candor's REST API and the EventSource subscription.
//!
//! Every function here exists in every build, so components call them without `#[cfg]`;
//! the browser build (`hydrate`) does the work, the server build answers that it cannot.

mod api;
mod event_stream;

pub(crate) use api::{
    cancel_job, chosen_file, create_job, create_job_with_file, list_jobs, list_kinds, retry_job,
};
pub(crate) use event_stream::use_job_stream;
