//! The API's paths, named once for the server's router, the page and the terminal client.
//!
//! The constants are the paths as the router matches them (`{id}` and `{file}` stand for
//! a part of the path); the functions make a real one.

use std::fmt::Display;

/// `GET` lists the caller's jobs; `POST` starts one.
pub const JOBS: &str = "/api/jobs";
/// One job.
pub const JOB: &str = "/api/jobs/{id}";
/// `POST`: cancels a job.
pub const JOB_CANCEL: &str = "/api/jobs/{id}/cancel";
/// `POST`: starts a new job like a failed or cancelled one.
pub const JOB_RETRY: &str = "/api/jobs/{id}/retry";
/// One job's event stream.
pub const JOB_EVENTS: &str = "/api/jobs/{id}/events";
/// The event stream of every job the caller may see.
pub const EVENTS: &str = "/api/events";
/// How many event streams the caller holds.
pub const STREAMS: &str = "/api/streams";
/// The job kinds and their parameters.
pub const KINDS: &str = "/api/kinds";
/// A completed job's result file.
pub const DOWNLOAD: &str = "/downloads/{id}/{file}";

/// Whether `path` is one of the API's (or a download's), not a page.
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/downloads/")
}

pub fn job(id: impl Display) -> String {
    format!("{JOBS}/{id}")
}

pub fn job_cancel(id: impl Display) -> String {
    format!("{JOBS}/{id}/cancel")
}

pub fn job_retry(id: impl Display) -> String {
    format!("{JOBS}/{id}/retry")
}

pub fn job_events(id: impl Display) -> String {
    format!("{JOBS}/{id}/events")
}

/// The event stream, resuming after event `after`.
pub fn events_after(after: impl Display) -> String {
    format!("{EVENTS}?after={after}")
}

/// Where job `id`'s result file `file` is downloaded.
pub fn download(id: impl Display, file: &str) -> String {
    format!("/downloads/{id}/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions make paths the router's patterns match.
    #[test]
    fn made_paths_fill_the_patterns() {
        let fill = |pattern: &str| pattern.replace("{id}", "7").replace("{file}", "a.csv");
        assert_eq!(job(7), fill(JOB));
        assert_eq!(job_cancel(7), fill(JOB_CANCEL));
        assert_eq!(job_retry(7), fill(JOB_RETRY));
        assert_eq!(job_events(7), fill(JOB_EVENTS));
        assert_eq!(download(7, "a.csv"), fill(DOWNLOAD));
        assert!(is_api(&job(7)) && is_api(&download(7, "a.csv")) && !is_api("/"));
    }
}
