//! The event stream's connection state.

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // set by the browser only
pub(crate) enum ConnectionState {
    /// Opening the stream (also what the server renders, before any script runs).
    Connecting,
    /// Events arrive as they happen.
    Live,
    /// The browser believes the connection open, but nothing (not even a heartbeat) has
    /// arrived for two heartbeats' time, and the server does not answer either.
    Stalled,
    /// The stream is held back on its way (a buffering proxy): heartbeats come late or
    /// not at all, while the REST API answers. The page polls it meanwhile.
    Delayed,
    /// The connection dropped; the browser is reconnecting and will resume where it was.
    Reconnecting,
    /// The server refused or is unreachable; retrying in a moment.
    Offline,
}
