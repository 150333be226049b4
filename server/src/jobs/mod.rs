//! Jobs: what each kind does, and the runner that runs them.
//!
//! - [`kind`]: the [`JobKind`](kind::JobKind) trait that each kind implements, with
//!   [`Outcome`](kind::Outcome) and [`JobError`](kind::JobError).
//! - [`context`]: what job code gets: progress reporting, cancellation, artifacts,
//!   uploads and the orders table.
//! - `kinds`: the kinds, one file each (`demo`, `export`, `import`, `compress`), and the
//!   list of them.
//! - [`registry`]: [`Kinds`], which checks a [`JobSpec`](app::job::JobSpec) against its
//!   kind and hands it to the kind's code.
//! - [`runner`]: the worker pool: claims queued jobs, runs them, records how they end.
//! - [`actions`]: what a person asks of a job (start, cancel, retry), whichever way
//!   they ask.
//! - [`queue`]: where queued jobs stand (place in line, about when they start).
//! - `progress`: coalesces a job's progress reports into a few events per second.
//! - `recovery`: at start-up, ends the jobs a dead process left running.

pub mod actions;
pub mod context;
pub mod kind;
mod kinds;
mod progress;
pub mod queue;
mod recovery;
pub mod registry;
pub mod runner;

pub use actions::{ActionError, Submission};
pub use context::{JobContext, Services};
pub use kind::{JobError, Outcome};
pub use kinds::builtin as builtin_kinds;
pub use recovery::{Cause, recover_interrupted, rescue_lost_runs, watch_unheld_runs};
pub use registry::{Kinds, SpecError};
pub use runner::{Runner, RunnerConfig};

/// The reason given for a job that was running when its process stopped.
pub const INTERRUPTED: &str = "interrupted by a server restart";
/// The reason a job fails when the node running it stopped renewing its lease.
pub const NODE_LOST: &str = "worker node lost";
/// The reason a job fails when it is marked running but no run of this process holds it
/// (its run ended without its ending being recorded).
pub const RUN_LOST: &str = "its run was lost without an ending";
