//! The page's state: neither what it shows (`ui`) nor how it talks to the server
//! (`client`), but what both read and change.
//!
//! - `jobs`: [`JobsStore`], the one reactive store of jobs that the stream feeds and the
//!   components read.
//! - `liveness`: whether the stream is heard, and which running jobs went silent.
//! - `connection`: the stream's connection state.
//! - `page_data`: [`PageData`], what the server renders the page with.

mod connection;
mod jobs;
mod liveness;
mod page_data;

pub(crate) use connection::ConnectionState;
pub(crate) use jobs::{Counts, JobsStore, unfold};
pub(crate) use liveness::Liveness;
pub use page_data::{PAGE_DATA_ID, PageData};
