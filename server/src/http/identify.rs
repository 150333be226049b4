//! Every request is identified before it reaches a handler (see [`crate::identity`]):
//!
//! - `Authorization: Bearer <token>`: the token's owner (a bad token is `401`).
//! - else a validly signed session cookie: its owner.
//! - else, for a page (a `GET` outside `/api` and `/downloads`): a new anonymous
//!   identity, given to the browser in a `Set-Cookie`.
//! - else: `401`. The API and downloads never act for nobody.
//!
//! A state-changing request that relies on the cookie must also come from this site's
//! own pages: its `Origin` (or, without one, `Sec-Fetch-Site`) must say so, or it is
//! `403`. With `SameSite=Lax` on the cookie that is two walls against cross-site request
//! forgery. Token requests need neither: a browser never adds a token by itself.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::identity::{Credential, Identity};
use crate::limits::ClientAddress;
use crate::owner::Owner;

pub(super) async fn identify(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    let is_page = !app::paths::is_api(path);
    // HTTP/2 has no `Host` header: the host is the URI's authority.
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    let address = request.extensions().get::<ClientAddress>().copied();
    match resolve(
        &state,
        request.headers(),
        authority.as_deref(),
        changes_state,
        is_page,
        address,
    )
    .await
    {
        Ok((owner, set_cookie)) => {
            request.extensions_mut().insert(owner);
            let mut response = next.run(request).await;
            if let Some(cookie) = set_cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => err.into_response(),
    }
}

/// The caller, as [`identify`] found them.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Owner>()
            .cloned()
            .ok_or_else(ApiError::no_identity)
    }
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    authority: Option<&str>,
    changes_state: bool,
    is_page: bool,
    address: Option<ClientAddress>,
) -> Result<(Owner, Option<axum::http::HeaderValue>), ApiError> {
    match state.identities.identify(headers).await? {
        Some(Identity {
            owner,
            credential: Credential::Token,
        }) => Ok((owner, None)),
        Some(Identity {
            owner,
            credential: Credential::Session,
        }) => {
            if changes_state && !from_this_site(headers, authority, &state.allowed_origins) {
                return Err(ApiError::Forbidden(
                    "cross-site request refused: this request changes state and did not \
                     come from Candor's own page"
                        .to_owned(),
                ));
            }
            Ok((owner, None))
        }
        None => {
            if changes_state || !is_page {
                return Err(ApiError::no_identity());
            }
            if let Some(address) = address {
                state.addresses.mint(address)?;
            }
            let secure = state.secure_cookies || came_over_https(headers);
            let (owner, cookie) = state.identities.sessions.mint(secure);
            Ok((owner, Some(cookie)))
        }
    }
}

/// Whether a cookie-carrying request was sent by this site's own pages. Browsers send
/// `Origin` with every cross-origin request and every POST; `Sec-Fetch-Site` in all
/// current browsers. A request with neither is not from a browser's page (curl, a
/// script), and a script has no victim's cookie to abuse.
fn from_this_site(headers: &HeaderMap, authority: Option<&str>, allowed: &[String]) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if allowed.contains(&origin) {
            return true;
        }
        // "null" (a sandboxed or file page) and anything unparsable has no host.
        let Some((_, authority_of_origin)) = origin.split_once("://") else {
            return false;
        };
        return [header::HOST.as_str(), "x-forwarded-host"]
            .into_iter()
            .filter_map(|name| headers.get(name)?.to_str().ok())
            .chain(authority)
            .any(|host| host.eq_ignore_ascii_case(authority_of_origin));
    }
    match headers.get("sec-fetch-site").map(|v| v.to_str()) {
        Some(Ok("same-origin" | "none")) | None => true,
        Some(_) => false,
    }
}

/// Whether the browser reached Candor over HTTPS (directly, or through a proxy that
/// says so).
fn came_over_https(headers: &HeaderMap) -> bool {
    let says = |name: &str, needle: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
    };
    says("x-forwarded-proto", "https") || says("forwarded", "proto=https")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_site_requests_pass_and_cross_site_ones_do_not() {
        let none: &[String] = &[];
        let same = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert!(from_this_site(&same, None, none));
        let other = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!from_this_site(&other, None, none));
        let port = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:4000"),
        ]);
        assert!(!from_this_site(&port, None, none));
        let null = headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]);
        assert!(!from_this_site(&null, None, none));
        let fetch = headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]);
        assert!(!from_this_site(&fetch, None, none));
        let sibling = headers(&[("host", "a"), ("sec-fetch-site", "same-site")]);
        assert!(!from_this_site(&sibling, None, none));
        let script = headers(&[("host", "a")]);
        assert!(from_this_site(&script, None, none));
        let proxied = headers(&[
            ("host", "backend:3000"),
            ("x-forwarded-host", "jobs.example.com"),
            ("origin", "https://jobs.example.com"),
        ]);
        assert!(from_this_site(&proxied, None, none));
        let allowed = ["https://ops.example.com".to_owned()];
        let listed = headers(&[("host", "backend"), ("origin", "https://ops.example.com")]);
        assert!(from_this_site(&listed, None, &allowed));
        // HTTP/2: no Host header, the host is the request's authority.
        let h2 = headers(&[("origin", "https://127.0.0.1:3443")]);
        assert!(from_this_site(&h2, Some("127.0.0.1:3443"), none));
        assert!(!from_this_site(&h2, Some("127.0.0.1:3000"), none));
    }

    #[test]
    fn https_is_read_from_the_proxy_headers() {
        assert!(came_over_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(came_over_https(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!came_over_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!came_over_https(&headers(&[])));
    }
}
