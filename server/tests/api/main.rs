//! Black-box tests of the server: each starts the real application on a free port with
//! its own data directory, and talks to it over real HTTP.

mod helpers;

mod details;
mod downloads;
mod errors;
mod framing;
mod hostile;
mod imports;
mod isolation;
mod jobs;
mod lifecycle;
mod limits;
mod pages;
mod queue;
mod restart;
mod streams;
