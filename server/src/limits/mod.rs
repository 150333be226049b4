//! The limits that keep one client from taking the server from the others, each
//! configurable (see [`crate::config::Limits`]) and each refused with a JSON error that
//! says which limit it was:
//!
//! - [`streams`]: open event streams, per owner, per client address and in total.
//! - [`rate`]: how fast one owner may start jobs.
//! - [`addresses`]: what one client address may do, whatever identities it uses (new
//!   identities and jobs a minute), and which address a request came from.
//! - [`connections`]: open TCP connections, within the process's file descriptors.
//!
//! The queue length and the jobs one owner may have in flight are checked by the store,
//! in the transaction that admits the job ([`crate::store::Admission`]); body and upload
//! sizes where the request is read (`http::jobs`).

pub mod addresses;
pub mod connections;
pub mod rate;
pub mod streams;

pub use addresses::{AddressLimited, ClientAddress, ClientAddresses, TrustedProxies};
pub use connections::LimitedListener;
pub use rate::CreationRate;
pub use streams::{StreamPermit, StreamPermits, StreamRefusal};
