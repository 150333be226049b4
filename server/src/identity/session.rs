//! A browser's anonymous identity: a cookie naming its owner, signed (HMAC-SHA256, the
//! `cookie` crate's signed jar) with a key only the server knows, so it cannot be forged
//! or changed to name someone else. `HttpOnly` (no script reads it), `SameSite=Lax` (no
//! other site's form or fetch sends it), `Secure` when the site is served over HTTPS.
//!
//! The key comes from `CANDOR_SESSION_KEY`, or is generated on first start and kept in
//! the data directory (`session.key`, readable by its owner only), so identities survive
//! restarts. Several nodes of one installation must share it.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, CookieJar, Key, SameSite};

use crate::owner::Owner;

pub const COOKIE_NAME: &str = "candor_session";

/// How long a browser keeps its identity: 400 days, the longest browsers allow.
const MAX_AGE_DAYS: i64 = 400;

/// The fewest key bytes the signing accepts.
pub const KEY_BYTES: usize = 64;

#[derive(Clone)]
pub struct Sessions {
    key: Key,
}

impl Sessions {
    pub fn new(key: Key) -> Self {
        Self { key }
    }

    /// The owner that a validly signed session cookie in `headers` names.
    pub fn owner(&self, headers: &HeaderMap) -> Option<Owner> {
        let mut jar = CookieJar::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in Cookie::split_parse(value.to_owned()).flatten() {
                if cookie.name() == COOKIE_NAME {
                    jar.add_original(cookie);
                }
            }
        }
        let cookie = jar.signed(&self.key).get(COOKIE_NAME)?;
        is_browser_owner(cookie.value()).then(|| Owner::new(cookie.value()))
    }

    /// A new anonymous identity, and the `Set-Cookie` value that gives it to the browser.
    pub fn mint(&self, secure: bool) -> (Owner, HeaderValue) {
        let owner = Owner::new(format!("b-{}", uuid::Uuid::new_v4().simple()));
        let cookie = Cookie::build((COOKIE_NAME, owner.as_str().to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .max_age(cookie::time::Duration::days(MAX_AGE_DAYS))
            .build();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        let signed = jar
            .get(COOKIE_NAME)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let value = HeaderValue::from_str(&signed)
            .expect("a signed cookie is printable ASCII (base64 and a uuid)");
        (owner, value)
    }
}

/// Session owners are `b-` and 32 hex digits; a validly signed cookie always is one.
fn is_browser_owner(value: &str) -> bool {
    value
        .strip_prefix("b-")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads the signing key: `configured` (from `CANDOR_SESSION_KEY`), else the key file in
/// the data directory, created with a fresh random key on first start.
pub fn load_or_create_key(configured: Option<&[u8]>, path: &Path) -> anyhow::Result<Key> {
    if let Some(bytes) = configured {
        return Key::try_from(bytes).context("CANDOR_SESSION_KEY is too short");
    }
    match std::fs::read(path) {
        Ok(bytes) => Key::try_from(bytes.as_slice()).with_context(|| {
            format!(
                "the session key {} must hold at least {KEY_BYTES} bytes; delete it to make a new one",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate();
            if create_private(path, key.master())
                .with_context(|| format!("cannot write the session key {}", path.display()))?
            {
                tracing::info!(path = %path.display(), "generated a new session key");
                Ok(key)
            } else {
                // Another process made it first: use theirs.
                load_or_create_key(None, path)
            }
        }
        Err(err) => {
            Err(err).with_context(|| format!("cannot read the session key {}", path.display()))
        }
    }
}

/// Creates `path` holding `bytes`, readable by its owner only, whole or not at all: the
/// bytes go to a temporary file first, which is then linked into place (failing if
/// `path` exists). A crash midway leaves no half-written key. Returns `false` if
/// `path` already existed.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    write_private(&temporary, bytes)?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// Writes a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Key::generate())
    }

    fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    #[test]
    fn a_minted_cookie_names_its_owner_and_is_locked_down() {
        let sessions = sessions();
        let (owner, set_cookie) = sessions.mint(false);
        let text = set_cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly"), "{text}");
        assert!(text.contains("SameSite=Lax"), "{text}");
        assert!(text.contains("Path=/"), "{text}");
        assert!(!text.contains("Secure"), "{text}");
        assert!(sessions.mint(true).1.to_str().unwrap().contains("Secure"));
        assert_eq!(sessions.owner(&cookie_header(&set_cookie)), Some(owner));
    }

    #[test]
    fn forged_changed_or_foreign_cookies_name_nobody() {
        let sessions = sessions();
        let (owner, set_cookie) = sessions.mint(false);
        let headers = cookie_header(&set_cookie);
        let pair = headers[header::COOKIE].to_str().unwrap();
        // Another owner's id under the same signature (the value ends with the owner).
        let signature = pair
            .strip_suffix(owner.as_str())
            .expect("the signed value ends with the owner");
        let someone_else = format!("b-{}", "0".repeat(32));
        assert_ne!(owner.as_str(), someone_else);
        let other = format!("{signature}{someone_else}");
        let mut forged = HeaderMap::new();
        forged.insert(header::COOKIE, HeaderValue::from_str(&other).unwrap());
        assert_eq!(sessions.owner(&forged), None);
        // An unsigned value.
        let mut plain = HeaderMap::new();
        plain.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE_NAME}={owner}")).unwrap(),
        );
        assert_eq!(sessions.owner(&plain), None);
        // Signed with another installation's key.
        assert_eq!(Sessions::new(Key::generate()).owner(&headers), None);
    }

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.key");
        let first = load_or_create_key(None, &path).unwrap();
        let again = load_or_create_key(None, &path).unwrap();
        assert_eq!(first.master(), again.master());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(None, &path).is_err());
        assert!(load_or_create_key(Some(&[7; 10]), &path).is_err());
        assert!(load_or_create_key(Some(&[7; 64]), &path).is_ok());
    }
}
