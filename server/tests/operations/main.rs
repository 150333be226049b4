//! Operating Candor: the metrics Prometheus scrapes, the health checks that load
//! balancers and orchestrators ask, and the logs. Each test runs the real `candor`
//! binary (metrics are counted per process, so each test's figures are its own).

// Shared with the fault tests; not every helper is used here.
#[path = "../support/process.rs"]
#[allow(dead_code)]
mod process;

mod health;
mod logs;
mod metrics;
mod page;
mod terminal;
mod tls;
