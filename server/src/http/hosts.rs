//! The names Candor answers to. A request for any other host is refused with `421
//! Misdirected Request`: a page on another site whose name an attacker points at this
//! server's address (DNS rebinding) cannot read it, even on `127.0.0.1`.
//!
//! Loopback names (`localhost`, `127.0.0.1`, `[::1]`) are always answered: a page that
//! sends them is on this machine already. Besides them: the host of `CANDOR_PUBLIC_URL`
//! if it is set; else nothing more when Candor listens on a loopback address, and any
//! name when it listens elsewhere (it cannot know its names then: set the URL). The
//! health checks answer whatever the host (probes use addresses).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::PublicUrl;

/// Which hosts requests may name.
#[derive(Clone, Debug)]
pub enum AllowedHosts {
    /// Any: Candor listens on a public address and was not told its name.
    Any,
    /// Loopback names, and this one (`host[:port]`, lowercased) if given.
    Only(Option<Arc<str>>),
}

impl AllowedHosts {
    /// The rule for a server listening on `addr`, reached at `public` if given.
    pub fn new(public: Option<&PublicUrl>, addr: SocketAddr) -> Self {
        match public {
            Some(url) => AllowedHosts::Only(Some(url.authority.as_str().into())),
            None if addr.ip().is_loopback() => AllowedHosts::Only(None),
            None => AllowedHosts::Any,
        }
    }

    /// Whether a request naming `host` (`name[:port]`) is for this server.
    fn allows(&self, host: &str) -> bool {
        let AllowedHosts::Only(public) = self else {
            return true;
        };
        let host = host.to_ascii_lowercase();
        is_loopback(&host)
            || public
                .as_deref()
                .is_some_and(|public| host == public || name_of(&host) == public)
    }
}

/// `name` of `name:port` (`[::1]` of `[::1]:3000`).
fn name_of(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback(host: &str) -> bool {
    let name = name_of(host);
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a request for a host this server does not answer to.
pub(super) async fn check_host(
    State(allowed): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let probe = path == "/healthz" || path == "/readyz";
    // HTTP/2 names the host in the URI's authority; HTTP/1.1 in `Host`.
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            let host = request.headers().get(header::HOST)?.to_str().ok()?;
            Some(host.to_owned())
        });
    match host {
        Some(host) if !probe && !allowed.allows(&host) => ApiError::MisdirectedRequest(format!(
            "this server does not answer for {}; use its own address (CANDOR_PUBLIC_URL)",
            host.chars().take(100).collect::<String>()
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(url: &str) -> PublicUrl {
        PublicUrl {
            authority: url.to_owned(),
        }
    }

    #[test]
    fn loopback_names_and_the_public_name_are_answered_others_not() {
        let local = AllowedHosts::new(None, "127.0.0.1:3000".parse().unwrap());
        for host in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "LOCALHOST",
            "app.localhost:3000",
        ] {
            assert!(local.allows(host), "{host}");
        }
        for host in [
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "localhost.evil.example:3000",
            "10.0.0.1:3000",
        ] {
            assert!(!local.allows(host), "{host}");
        }
        let named = AllowedHosts::new(
            Some(&public("jobs.example.com")),
            "0.0.0.0:3000".parse().unwrap(),
        );
        assert!(named.allows("jobs.example.com") && named.allows("Jobs.Example.com:3000"));
        assert!(named.allows("127.0.0.1:3000"));
        assert!(!named.allows("evil.example"));
        let open = AllowedHosts::new(None, "0.0.0.0:3000".parse().unwrap());
        assert!(open.allows("anything.example"));
    }
}
