//! Who a request acts for. A browser is known by its signed session cookie (an anonymous
//! identity it gets on its first visit, see [`session`]); a script or a terminal by an API
//! token in `Authorization: Bearer …` (see [`tokens`]). Either names an [`Owner`], and
//! every job, event and file belongs to exactly one owner.

pub mod session;
pub mod tokens;

use std::sync::Arc;

use axum::http::{HeaderMap, header};

pub use session::Sessions;

use crate::owner::Owner;
use crate::store::{Store, StoreError};

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API token: not sent by browsers on their own, so not open to CSRF.
    Token,
    /// The session cookie: sent by the browser with every request to this site.
    Session,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub owner: Owner,
    pub credential: Credential,
}

/// A credential was offered and is not good: the request is refused, never treated as
/// anonymous.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the Authorization header must be 'Bearer <token>'")]
    MalformedAuthorization,
    #[error("the API token is not valid (unknown or revoked)")]
    UnknownToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tells who a request is from.
#[derive(Clone)]
pub struct Identities {
    pub sessions: Sessions,
    store: Arc<dyn Store>,
}

impl Identities {
    pub fn new(sessions: Sessions, store: Arc<dyn Store>) -> Self {
        Self { sessions, store }
    }

    /// The identity the request's headers prove: a token if there is an `Authorization`
    /// header (and then only that), else a validly signed session cookie, else none.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Option<Identity>, IdentityError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(IdentityError::MalformedAuthorization)?;
            let owner = tokens::owner_of(self.store.as_ref(), token)
                .await?
                .ok_or(IdentityError::UnknownToken)?;
            return Ok(Some(Identity {
                owner,
                credential: Credential::Token,
            }));
        }
        Ok(self.sessions.owner(headers).map(|owner| Identity {
            owner,
            credential: Credential::Session,
        }))
    }
}
