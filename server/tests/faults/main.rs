//! Fault injection: the real `server` binary runs as a child process with its own data
//! directory, and the tests do to it what happens in production: SIGKILL mid-job,
//! SIGTERM, stalled readers, progress floods, timeouts, an unwritable data directory,
//! and retention running out. Each test's name is the guarantee it checks.

#[path = "../support/process.rs"]
mod process;

mod busy;
mod crash;
mod failures;
mod flood;
mod retention;
mod shutdown;
mod slow_reader;
