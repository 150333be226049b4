//! Browser-only code: calls to Candor's REST API, the EventSource subscription and its
//! sharing between tabs.
//!
//! Every function here exists in every build, so components call them without `#[cfg]`;
//! the browser build (`hydrate`) does the work, the server build answers that it cannot.

mod api;
mod event_stream;
mod page_data;
mod polling;
#[cfg(feature = "hydrate")]
mod tabs;

pub(crate) use api::{
    cancel_job, chosen_file, create_job, create_job_with_file, list_jobs, older_jobs, retry_job,
};
pub(crate) use event_stream::use_job_stream;
pub(crate) use page_data::embedded_page_data;
pub(crate) use polling::poll_while_held_back;
