//! Events: where they are written, how they are announced, encoded and streamed.
//!
//! - [`Recorder`]: every change to a job goes through it: first into the store's log (the
//!   truth, which assigns the id), then onto the [`Bus`].
//! - [`Bus`]: the in-memory doorbell: freshly written events, each encoded once for all
//!   subscribers, routed by a task of its own to the streams of the event's owner and job
//!   only; it also keeps when each running job last reported ([`Pulses`]), for the
//!   streams' heartbeats.
//! - [`follower`]: with several nodes on PostgreSQL, each node follows the shared log
//!   (rung by `LISTEN/NOTIFY`) and announces every node's events on its own bus.
//! - `sse`: the `text/event-stream` encoding.
//! - [`Subscription`]: one client's stream: replays what it missed from the log, then
//!   follows its route on the bus, and goes back to the log whenever it falls behind.

mod bus;
pub mod follower;
mod recorder;
pub mod sse;
mod subscription;

pub use bus::{Bus, Delivery, Published, Pulses, Route};
pub use follower::Follower;
pub use recorder::{Announce, Recorder};
pub use subscription::{Filter, Heartbeats, Subscription};
