//! Candor's shared crate: everything the server and the browser both need to agree on,
//! and the Leptos user interface.
//!
//! Layout:
//! - [`ids`]: job ids and event ids.
//! - [`job`]: job specs, statuses, the job record the API returns.
//! - [`transition`]: the state machine: what each event does to a job.
//! - [`kind`]: the kinds the server declares, their parameters and the checks both sides
//!   run on them (the form in the browser is built from these).
//! - [`event`]: the event-stream contract: event ids, names and typed payloads.
//! - [`error`]: the JSON error body every failed API request answers with.
//! - [`paths`]: the API's paths, for the server's router, the page and the terminal
//!   client.
//! - `state`: the page's state (the store of jobs, the stream's liveness and connection,
//!   the page's data), which `ui` and `client` both use.
//! - `ui`: the page and its components (rendered on the server, hydrated in the browser).
//! - `client` (feature `hydrate`): browser-only code: REST calls and the EventSource hook.

// The job card is one deeply nested view type; laying it out takes more than the
// default 128 levels (without `--cfg erase_components`, see .cargo/config.toml).
#![recursion_limit = "256"]
// `#[component]` generates public prop structs next to each component; in private
// modules those are unreachable by design.
#![allow(unreachable_pub)]

pub mod error;
pub mod event;
pub mod ids;
pub mod job;
pub mod kind;
pub mod paths;
mod state;
pub mod transition;
mod ui;

// Without `hydrate`, the browser-side half is stubs that nothing constructs.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code, unused_imports))]
mod client;

pub use state::{PAGE_DATA_ID, PageData};
pub use ui::{App, PROXY_ADVICE, shell};
