//! Candor's server: accepts jobs, runs them in the background, stores every change, and
//! streams the changes to browsers over Server-Sent Events.
//!
//! Layout (one module per responsibility):
//! - [`cli`]: the `candor` command line (serve; `token create/list/revoke`).
//! - [`config`]: settings from the environment, with documented defaults.
//! - [`startup`]: [`startup::Application`] binds the listener and wires the parts together.
//! - [`store`]: the [`store::Store`] trait (jobs and the event log) and its SQLite
//!   implementation.
//! - [`events`]: where an event is written ([`events::Recorder`]), announced
//!   ([`events::Bus`]), encoded (`sse`) and streamed to one subscriber
//!   ([`events::Subscription`]).
//! - [`jobs`]: the job kinds (one file each in `jobs/kinds/`) and the
//!   runner (worker pool, progress coalescing, cancellation, panics and time limits).
//! - [`orders`]: the orders CSV format and the `orders` table (what `import` loads and
//!   `export` writes).
//! - [`uploads`]: files that come with job requests; [`artifacts`]: the files jobs
//!   make, and the URLs they are downloaded at.
//! - [`http`]: the REST API, the SSE endpoints, downloads and the Leptos pages.
//! - [`retention`]: the background sweep that removes jobs past their retention.
//! - [`owner`] and [`identity`]: who a request acts for (session cookie or API token).
//! - [`limits`]: the limits that keep one client from taking the server from the others.
//! - [`shutdown`]: the signal that stops everything gracefully.
//! - [`serving`]: serving each connection, with its timeouts and the shutdown deadline;
//!   [`tls`]: HTTPS with HTTP/2, given a certificate.
//! - [`terminal`]: the terminal client (`candor submit`, `candor follow`).
//! - [`metrics`]: what Candor counts for Prometheus (`/metrics` on the admin address).

pub mod artifacts;
pub mod cli;
pub mod config;
pub mod events;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod orders;
pub mod owner;
pub mod retention;
pub mod serving;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod terminal;
pub mod tls;
pub mod uploads;
