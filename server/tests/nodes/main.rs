//! Several nodes on one PostgreSQL database: three real server processes (the `candor`
//! binary) share a database made for each test (on `CANDOR_TEST_DATABASE_URL`'s server,
//! the local one by default) and a data directory, and the tests do to them what
//! happens to a cluster: jobs accepted on one node and run on another, streams on a
//! third, SIGKILL and SIGSTOP of the node running a job, resumption on another node,
//! cancellation across nodes, writers racing on two nodes.

// Shared with the fault tests; not every helper is used here.
#[path = "../support/process.rs"]
#[allow(dead_code)]
mod process;

mod cluster;

mod control;
mod data;
mod loss;
mod outage;
mod proxy;
mod streams;
