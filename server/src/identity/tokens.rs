//! API tokens for scripts and terminals: `candor token create` prints one, and
//! `Authorization: Bearer <token>` makes a request act for its owner.
//!
//! A token is `candor_` and 43 characters of base64url (256 random bits). Only its
//! SHA-256 is stored: a stolen database holds no usable token. The high entropy is why
//! a plain hash is enough (no password hashing needed), and why the lookup by hash
//! leaks nothing through timing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::owner::Owner;
use crate::store::{Store, StoreError, TokenInfo};

pub const PREFIX: &str = "candor_";
const SECRET_BYTES: usize = 32;
/// `candor_` and the base64url of 32 bytes without padding.
const TOKEN_LEN: usize = PREFIX.len() + 43;

/// A token just created: shown once, never stored.
#[derive(Debug)]
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

/// Creates a token for `owner`, or for a new owner of its own.
pub async fn create(
    store: &dyn Store,
    owner: Option<Owner>,
    label: &str,
) -> Result<NewToken, StoreError> {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let info = TokenInfo {
        owner: owner.unwrap_or_else(|| Owner::new(format!("t-{}", uuid::Uuid::new_v4().simple()))),
        id,
        label: label.to_owned(),
        created_at: Utc::now(),
        revoked_at: None,
    };
    store.add_token(&info, &hash(&token)).await?;
    Ok(NewToken { token, info })
}

/// The owner of `token`, if it is a live token. Anything not shaped like a token is
/// refused without asking the store.
pub async fn owner_of(store: &dyn Store, token: &str) -> Result<Option<Owner>, StoreError> {
    if token.len() != TOKEN_LEN || !token.starts_with(PREFIX) {
        return Ok(None);
    }
    store.token_owner(&hash(token)).await
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn a_token_names_its_owner_until_it_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let new = create(&store, None, "ci").await.unwrap();
        assert_eq!(new.token.len(), TOKEN_LEN);
        assert!(new.info.owner.as_str().starts_with("t-"));
        assert_eq!(
            owner_of(&store, &new.token).await.unwrap(),
            Some(new.info.owner.clone())
        );
        // A second token for the same owner.
        let same = create(&store, Some(new.info.owner.clone()), "")
            .await
            .unwrap();
        assert_ne!(same.token, new.token);
        assert_eq!(
            owner_of(&store, &same.token).await.unwrap(),
            Some(new.info.owner.clone())
        );
        // One changed character, a wrong shape, the empty string.
        let mut changed = new.token.clone().into_bytes();
        changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        for bad in [changed.as_str(), "candor_", "", "Bearer x"] {
            assert_eq!(owner_of(&store, bad).await.unwrap(), None, "{bad}");
        }
        // The database files hold no token, only hashes.
        let dyn_store: &dyn Store = &store;
        let listed = dyn_store.tokens().await.unwrap();
        assert_eq!(listed.len(), 2);
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            let secret = &new.token.as_bytes()[PREFIX.len()..];
            assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        }
        assert!(
            dyn_store
                .revoke_token(&new.info.id, Utc::now())
                .await
                .unwrap()
        );
        assert!(
            !dyn_store
                .revoke_token(&new.info.id, Utc::now())
                .await
                .unwrap()
        );
        assert_eq!(owner_of(&store, &new.token).await.unwrap(), None);
        assert!(owner_of(&store, &same.token).await.unwrap().is_some());
    }
}
