//! Candor's shared crate: everything the server and the browser both need to agree on,
//! and the Leptos user interface.
//!
//! Layout:
//! - [`job`]: job ids, kinds and their parameters (with the validation both sides run),
//!   statuses and the state machine, the job record the API returns.
//! - [`event`]: the event-stream contract: event ids, names and typed payloads.
//! - [`error`]: the JSON error body every failed API request answers with.
//! - `ui`: the page and its components (rendered on the server, hydrated in the browser).
//! - `client` (feature `hydrate`): browser-only code: REST calls and the EventSource hook.

// `#[component]` generates public prop structs next to each component; in private
// modules those are unreachable by design.
#![allow(unreachable_pub)]

pub mod error;
pub mod event;
pub mod job;
mod ui;

// Without `hydrate`, the browser-side half is stubs that nothing constructs.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code, unused_imports))]
mod client;

pub use ui::{App, shell};

#[cfg(feature = "ssr")]
pub use ui::ServerJobs;
