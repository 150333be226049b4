//! What the server renders the page with, and hands to the browser to hydrate from.

use serde::{Deserialize, Serialize};

use crate::job::JobList;
use crate::kind::KindInfo;

/// What the page shows: the caller's newest jobs (or why they could not be read) and the
/// kinds of job they can start. The server reads it before it renders the page and writes
/// it into the page's head as JSON ([`PAGE_DATA_ID`]), where the browser reads it back to
/// hydrate: one read of the store per page view, no second request, nothing async in the
/// render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageData {
    pub jobs: Result<JobList, String>,
    pub kinds: Vec<KindInfo>,
    /// How often the stream sends a heartbeat: known before the first one arrives.
    pub heartbeat_ms: u64,
}

/// The `id` of the `<script type="application/json">` that carries the [`PageData`].
pub const PAGE_DATA_ID: &str = "page-data";

impl PageData {
    /// The JSON to put inside the `<script>` element: every `<` escaped, so that no
    /// string in it (a job's title, a failure's reason) can end the element early.
    pub fn to_script_text(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| "null".to_owned())
            .replace('<', "\\u003c")
    }
}
