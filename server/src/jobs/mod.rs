//! Jobs: what each kind does, and the runner that runs them.
//!
//! - [`kind`]: the [`JobKind`](kind::JobKind) trait that each kind implements, with
//!   [`Outcome`](kind::Outcome) and [`JobError`](kind::JobError).
//! - [`context`]: what job code gets: progress reporting, cancellation, artifacts.
//! - `registry`: maps a [`JobSpec`](app::job::JobSpec) to its kind's code.
//! - `demo`, `export`: the kinds.
//! - [`runner`]: the worker pool: claims queued jobs, runs them, records how they end.
//! - `progress`: coalesces a job's progress reports into a few events per second.
//! - `recovery`: at start-up, ends the jobs a dead process left running.

pub mod context;
mod demo;
mod export;
pub mod kind;
mod progress;
mod recovery;
mod registry;
pub mod runner;

pub use context::JobContext;
pub use kind::{JobError, Outcome};
pub use recovery::recover_interrupted;
pub use runner::{Runner, RunnerConfig};

/// The reason given for a job that was running when its process stopped.
pub const INTERRUPTED: &str = "interrupted by a server restart";
