//! Limits per client address. Identities are free (every cookieless page visit makes one),
//! so the per-owner limits alone would let one script that drops its cookie fill the
//! queue and every stream slot; these count what one address does, whoever it says it is:
//! new identities and new jobs a minute (token buckets, the `governor` crate's GCRA, as
//! deep as one minute's worth) and event streams open at once (counted with the stream
//! permits, [`super::streams`]).
//!
//! The address is the connection's peer, unless that peer is a proxy named in
//! `CANDOR_TRUSTED_PROXIES`: then it is the nearest address in `X-Forwarded-For` (or, if
//! there is none, `Forwarded: for=`) that is not itself a trusted proxy. A header from
//! anyone else is ignored: a client cannot pick its own address. IPv6 clients count by
//! their /64 (one home or one host holds a whole /64).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// The client a request came from, as the limits count it (set on every request by
/// [`ClientAddresses::resolve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// What the limits count: an IPv4 address, or an IPv6 address's /64.
    pub fn counted(self) -> IpAddr {
        counted(self.0)
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// A comma-separated list of addresses and networks (`10.0.0.0/8, 127.0.0.1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("'{item}' is not an IP address or network"))?,
            };
            nets.push(net);
        }
        Ok(Self(Arc::new(nets)))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
    /// nearest forwarded address that is not one (the farthest, if all are).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut farthest = peer;
        for address in forwarded_for(headers) {
            let address = canonical(address);
            if !self.trusts(address) {
                return address;
            }
            farthest = address;
        }
        farthest
    }
}

/// The addresses a request passed through, nearest Candor first (the last one written
/// first): from every `X-Forwarded-For` line, or else from `Forwarded`'s `for=`
/// parameters. An entry that is not an address (`unknown`, an obfuscated name) ends the
/// list there: what came before it cannot be placed.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|item| item.trim().to_owned())
            .collect()
    };
    let items = values("x-forwarded-for");
    let items = if items.is_empty() {
        values("forwarded")
            .iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for")
                        .then(|| value.trim_matches('"').to_owned())
                })
            })
            .collect()
    } else {
        items
    };
    items
        .iter()
        .rev()
        .map_while(|item| address_of(item))
        .collect()
}

/// An address in a forwarding header: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
fn address_of(item: &str) -> Option<IpAddr> {
    if let Ok(address) = item.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = item.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    item.strip_prefix('[')?.split(']').next()?.parse().ok()
}

/// An IPv4 address as IPv4 even when it came mapped into IPv6.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// What the limits count: an IPv4 address, or an IPv6 address's /64.
fn counted(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
    }
}

/// What one address may do, and how much of it it has done.
#[derive(Clone, Debug)]
pub struct ClientAddresses {
    proxies: TrustedProxies,
    identities: Bucket,
    jobs: Bucket,
}

#[derive(Clone, Debug)]
struct Bucket {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_minute: u32,
}

impl Bucket {
    fn per_minute(count: u32) -> Self {
        let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(count))),
            per_minute: count.get(),
        }
    }

    fn take(&self, address: ClientAddress, what: Counted) -> Result<(), AddressLimited> {
        self.limiter
            .check_key(&address.counted())
            .map_err(|not_until| AddressLimited {
                what,
                per_minute: self.per_minute,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

/// What an address ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    Identities,
    Jobs,
}

#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "your network address may {} {per_minute} {} a minute (everyone behind it together); try again in {} s",
    match what { Counted::Identities => "make", Counted::Jobs => "start" },
    match what { Counted::Identities => "new identities", Counted::Jobs => "jobs" },
    self.retry_after_secs()
)]
pub struct AddressLimited {
    pub what: Counted,
    pub per_minute: u32,
    pub retry_after: Duration,
}

impl AddressLimited {
    /// Whole seconds to wait, at least one (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)).max(1)
    }
}

impl ClientAddresses {
    pub fn new(proxies: TrustedProxies, identities_per_minute: u32, jobs_per_minute: u32) -> Self {
        Self {
            proxies,
            identities: Bucket::per_minute(identities_per_minute),
            jobs: Bucket::per_minute(jobs_per_minute),
        }
    }

    /// Middleware: finds each request's client address (see the module docs).
    pub async fn resolve(
        axum::extract::State(addresses): axum::extract::State<ClientAddresses>,
        mut request: Request,
        next: Next,
    ) -> Response {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        let client = addresses.proxies.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
        next.run(request).await
    }

    /// Takes one new identity from `address`'s bucket.
    pub fn mint(&self, address: ClientAddress) -> Result<(), AddressLimited> {
        self.identities.take(address, Counted::Identities)
    }

    /// Takes one new job from `address`'s bucket.
    pub fn start_job(&self, address: ClientAddress) -> Result<(), AddressLimited> {
        self.jobs.take(address, Counted::Jobs)
    }

    /// Forgets addresses whose buckets are full again.
    pub fn forget_idle(&self) {
        for bucket in [&self.identities, &self.jobs] {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }
}

/// The client address the middleware found (the unspecified address where none ran, as
/// in a test that calls the router directly).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(ClientAddress(IpAddr::from([0, 0, 0, 0]))))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let forwarded = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.1.2.3")]);
        // From a stranger: the header is the stranger's own say, and ignored.
        assert_eq!(
            proxies.client(ip("192.0.2.50"), &forwarded),
            ip("192.0.2.50")
        );
        // From a trusted proxy: the nearest untrusted address (the one before the proxies;
        // what the client wrote further left is not believed).
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &forwarded),
            ip("198.51.100.7")
        );
        // Several header lines read as one list.
        let split = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &split), ip("198.51.100.8"));
        // RFC 7239, with a port and IPv6 in brackets.
        let rfc = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=https, for=\"[2001:db8::7]:4711\"",
        )]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &rfc), ip("2001:db8::7"));
        // Mapped IPv4 is IPv4; nothing forwarded: the proxy itself.
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Nobody trusted: the peer, whatever the headers say.
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client(ip("127.0.0.1"), &forwarded), ip("127.0.0.1"));
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense").is_err());
    }

    #[test]
    fn an_address_runs_out_of_identities_and_jobs_apart_and_ipv6_counts_by_its_64() {
        let addresses = ClientAddresses::new(TrustedProxies::default(), 2, 1);
        let one = ClientAddress(ip("2001:db8:1:2::1"));
        let same_64 = ClientAddress(ip("2001:db8:1:2:ffff::9"));
        let other = ClientAddress(ip("2001:db8:1:3::1"));
        addresses.mint(one).unwrap();
        addresses.mint(same_64).unwrap();
        let refused = addresses.mint(one).unwrap_err();
        assert_eq!(refused.what, Counted::Identities);
        assert!(
            refused.to_string().contains("2 new identities a minute"),
            "{refused}"
        );
        assert!(refused.retry_after_secs() >= 1);
        addresses.mint(other).unwrap();
        // Jobs are counted apart from identities.
        addresses.start_job(one).unwrap();
        assert_eq!(
            addresses.start_job(same_64).unwrap_err().what,
            Counted::Jobs
        );
    }
}
