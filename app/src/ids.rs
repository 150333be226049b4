//! The identifiers both sides share: a job's id and an event's place in the log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job's id: a random UUID, so ids cannot be guessed or enumerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(JobId)
    }
}

/// The position of an event in the event log: strictly increasing, never reused. Sent as
/// the SSE `id:` and read back from `Last-Event-ID`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EventId(pub i64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a `Last-Event-ID` (or `after`) value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event id is a whole number from 0 to {max}, got '{shown}'", max = i64::MAX)]
pub struct InvalidEventId {
    shown: String,
}

impl FromStr for EventId {
    type Err = InvalidEventId;

    /// Accepts exactly what the server sends: ASCII digits, no sign, no spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidEventId {
            shown: s.chars().take(40).collect(),
        };
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        s.parse::<i64>().map(EventId).map_err(|_| invalid())
    }
}
