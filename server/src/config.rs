//! Settings, read from the environment. Every setting has a default that works on a
//! developer's machine with nothing to configure; the README lists them all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::limits::TrustedProxies;

/// The most jobs one node may run at once (`CANDOR_WORKERS`). A running job is a task,
/// not a thread: one that mostly waits costs a few kilobytes (BENCHMARKS.md, "crowd").
pub const MAX_WORKERS: u64 = 100_000;

/// A setting that is present but unreadable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    name: String,
    value: String,
    reason: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `CANDOR_DATA_DIR`: where the database and the artifacts live. Default `./data`.
    pub data_dir: PathBuf,
    /// `CANDOR_WORKERS`: how many jobs run at once (0: this node runs none, it only serves).
    /// Default: the number of CPU cores.
    pub workers: usize,
    /// `CANDOR_PROGRESS_INTERVAL_MS`: the shortest time between two progress events of one
    /// job; progress reported faster is coalesced (the latest value wins). Default 200.
    pub progress_interval: Duration,
    /// `CANDOR_KEEPALIVE_SECS`: how often every stream gets a `: keep-alive` comment and
    /// a `heartbeat` event. Default 15.
    pub keep_alive: Duration,
    /// `CANDOR_SILENT_AFTER_SECS`: after how long without a report the page marks a running
    /// job as silent. Default 120.
    pub silent_after: Duration,
    /// `CANDOR_SHUTDOWN_GRACE_SECS`: how long running jobs may finish after a shutdown
    /// signal before they are ended as interrupted. Default 10.
    pub shutdown_grace: Duration,
    /// `CANDOR_BUS_CAPACITY`: how many events the live channel buffers for the slowest
    /// stream of one owner (or of one job) before it has to catch up from the log; each
    /// owner watching has such a buffer. Default 128.
    pub bus_capacity: usize,
    /// `CANDOR_TIME_LIMIT_<KIND>_SECS` (e.g. `CANDOR_TIME_LIMIT_EXPORT_SECS`): replaces a
    /// kind's own time limit. Default: each kind's own.
    pub time_limits: HashMap<String, Duration>,
    /// `CANDOR_UPLOAD_MAX_BYTES`: the largest file a job request may carry (an
    /// `import`'s CSV). Default 1073741824 (1 GiB).
    pub upload_max_bytes: u64,
    /// `CANDOR_RETENTION_SECS`: how long ended jobs, their events and their files are
    /// kept. Default 604800 (7 days).
    pub retention: Duration,
    /// `CANDOR_SWEEP_INTERVAL_SECS`: how often expired jobs are removed. Default 60.
    pub sweep_interval: Duration,
    /// `CANDOR_SESSION_KEY`: the key that signs session cookies, base64 (at least 64
    /// bytes). Default: generated once and kept in `<data dir>/session.key`.
    pub session_key: Option<Vec<u8>>,
    /// `CANDOR_SECURE_COOKIES`: mark the session cookie `Secure` on every response
    /// (`true` when Candor is only reached over HTTPS). Default `false`: it is marked
    /// `Secure` when the request came over HTTPS (`X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// `CANDOR_ALLOWED_ORIGINS`: comma-separated origins (`https://jobs.example.com`) whose
    /// pages may send state-changing requests besides the site itself (for a proxy that
    /// rewrites `Host`). Default: none.
    pub allowed_origins: Vec<String>,
    /// `CANDOR_PUBLIC_URL` (`https://jobs.example.com`): where people reach Candor.
    /// Requests for any other host (besides loopback names) are refused. Default: none;
    /// then a server listening on a loopback address answers only to loopback names, and
    /// one listening elsewhere to any.
    pub public_url: Option<PublicUrl>,
    /// `CANDOR_TRUSTED_PROXIES`: comma-separated addresses and networks
    /// (`10.0.0.0/8, 127.0.0.1`) of the proxies in front of Candor, whose
    /// `X-Forwarded-For` / `Forwarded` headers name the client address the per-address
    /// limits count. Default: none (the connection's peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// The limits that keep one client from taking the server from the others.
    pub limits: Limits,
    /// `CANDOR_DATABASE_URL=postgres://…`: keep jobs in this shared PostgreSQL database
    /// (several nodes) instead of SQLite in the data directory.
    pub database_url: Option<String>,
    /// `CANDOR_DATABASE_MAX_CONNECTIONS`: the most PostgreSQL connections this node opens
    /// for reads (two more are kept for writes).
    pub database_max_connections: u32,
    /// `CANDOR_LEASE_SECS`: how long a node's claim on a running job holds unless renewed
    /// (PostgreSQL); a job whose lease has run out is ended as lost by another node.
    pub lease: Duration,
    /// `CANDOR_NODE_NAME`: this node's name in its claims and logs (made unique per
    /// process).
    pub node_name: String,
    /// `CANDOR_ADMIN_ADDR`: where `/metrics` and the health checks are served, apart from
    /// the public address; `off` for nowhere. Default `127.0.0.1:9464` (this machine
    /// only), or a free port on 127.0.0.1 (logged) when that one is taken.
    pub admin: AdminAddr,
    /// `CANDOR_TLS_CERT` and `CANDOR_TLS_KEY`: a certificate chain and its private key
    /// (PEM files); given both, Candor serves HTTPS with HTTP/2. Default: plain HTTP/1.1.
    pub tls: Option<TlsFiles>,
}

/// The certificate chain and private key Candor serves HTTPS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the admin routes (`/metrics`, `/healthz`, `/readyz`) are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAddr {
    /// [`AdminAddr::DEFAULT`], or a free port on 127.0.0.1 if another process has it
    /// (several nodes on one machine).
    Default,
    /// Exactly this address (an error at start if it cannot be had).
    At(std::net::SocketAddr),
    Off,
}

impl AdminAddr {
    pub const DEFAULT: std::net::SocketAddr = std::net::SocketAddr::V4(
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9464),
    );
}

/// Every limit is configurable; each refusal answers with a JSON error that says which.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `CANDOR_REQUEST_MAX_BYTES`: the largest JSON job request. Default 65536.
    pub request_max_bytes: usize,
    /// `CANDOR_QUEUE_MAX`: the most jobs waiting in the queue; more answer `503`.
    /// Default 10000.
    pub queue_max: u32,
    /// `CANDOR_OWNER_MAX_IN_FLIGHT`: the most jobs one owner may have queued or running;
    /// more answer `429`. Default 100.
    pub owner_max_in_flight: u32,
    /// `CANDOR_OWNER_JOBS_PER_MINUTE`: how many jobs one owner may start per minute
    /// (in a burst, or spread out); more answer `429`. Default 120.
    pub owner_jobs_per_minute: u32,
    /// `CANDOR_MAX_STREAMS`: the most open event streams in total; more answer `503`.
    /// Default 10000.
    pub max_streams: usize,
    /// `CANDOR_OWNER_MAX_STREAMS`: the most open event streams of one owner; more answer
    /// `429`. Default 32.
    pub owner_max_streams: usize,
    /// `CANDOR_ADDRESS_MAX_STREAMS`: the most open event streams from one client address
    /// (everyone behind it together); more answer `429`. Default 256.
    pub address_max_streams: usize,
    /// `CANDOR_ADDRESS_IDENTITIES_PER_MINUTE`: how many new anonymous identities one
    /// client address may be given a minute (a cookieless page visit makes one); more
    /// answer `429`. Default 60.
    pub address_identities_per_minute: u32,
    /// `CANDOR_ADDRESS_JOBS_PER_MINUTE`: how many jobs one client address may start a
    /// minute, whoever starts them; more answer `429`. Default 600.
    pub address_jobs_per_minute: u32,
    /// `CANDOR_MAX_CONNECTIONS`: the most open TCP connections; further clients wait in
    /// the listen queue. Default 12000 (lowered to fit the process's file limit).
    pub max_connections: usize,
    /// `CANDOR_OWNER_MAX_RUNNING`: the most jobs of one owner that run at once (all nodes
    /// together); the owner's other jobs wait while others' run. Default: no cap (workers
    /// are still shared in turn between owners).
    pub owner_max_running: u32,
    /// `CANDOR_OWNER_MAX_RESULT_BYTES`: how many bytes of result files one owner may keep
    /// (of jobs running or completed, until removed); a result that would go past it
    /// fails its job, saying so. Default 10 GiB.
    pub owner_max_result_bytes: u64,
    /// `CANDOR_HEADER_READ_TIMEOUT_SECS`: how long a connection may take to send a
    /// request's headers (from its first byte, or from connecting); slower ones are
    /// closed. Default 30.
    pub header_read_timeout: Duration,
    /// `CANDOR_BODY_IDLE_TIMEOUT_SECS`: how long a request body may go without sending
    /// a byte; a body that stalls longer is refused with `408`. Default 30.
    pub body_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_max_bytes: 64 * 1024,
            queue_max: 10_000,
            owner_max_in_flight: 100,
            owner_jobs_per_minute: 120,
            max_streams: 10_000,
            owner_max_streams: 32,
            address_max_streams: 256,
            address_identities_per_minute: 60,
            address_jobs_per_minute: 600,
            max_connections: 12_000,
            owner_max_running: u32::MAX,
            owner_max_result_bytes: 10 << 30,
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress_interval: Duration::from_millis(200),
            keep_alive: Duration::from_secs(15),
            silent_after: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(10),
            bus_capacity: 128,
            time_limits: HashMap::new(),
            upload_max_bytes: 1 << 30,
            retention: Duration::from_secs(7 * 24 * 60 * 60),
            sweep_interval: Duration::from_secs(60),
            session_key: None,
            secure_cookies: false,
            allowed_origins: Vec::new(),
            public_url: None,
            trusted_proxies: TrustedProxies::default(),
            limits: Limits::default(),
            database_url: None,
            database_max_connections: 16,
            lease: Duration::from_secs(15),
            node_name: "candor".to_owned(),
            admin: AdminAddr::Default,
            tls: None,
        }
    }
}

impl Config {
    /// Reads the settings from the process environment; `kinds` are the job kinds' names
    /// (each may have a time limit of its own).
    pub fn from_env<'k>(kinds: impl IntoIterator<Item = &'k str>) -> Result<Self, ConfigError> {
        Self::from_lookup(kinds, |name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup<'k>(
        kinds: impl IntoIterator<Item = &'k str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let defaults = Self::default();
        Ok(Self {
            data_dir: env
                .text("CANDOR_DATA_DIR")
                .map_or(defaults.data_dir, PathBuf::from),
            workers: env
                .number("CANDOR_WORKERS", 0..=MAX_WORKERS)?
                .map_or(defaults.workers, |n| n as usize),
            progress_interval: env
                .number("CANDOR_PROGRESS_INTERVAL_MS", 0..=60_000)?
                .map_or(defaults.progress_interval, Duration::from_millis),
            keep_alive: env.seconds("CANDOR_KEEPALIVE_SECS", 1..=3600, defaults.keep_alive)?,
            silent_after: env.seconds(
                "CANDOR_SILENT_AFTER_SECS",
                1..=86_400,
                defaults.silent_after,
            )?,
            shutdown_grace: env.seconds(
                "CANDOR_SHUTDOWN_GRACE_SECS",
                0..=3600,
                defaults.shutdown_grace,
            )?,
            bus_capacity: env
                .number("CANDOR_BUS_CAPACITY", 16..=65_536)?
                .map_or(defaults.bus_capacity, |n| n as usize),
            time_limits: env.time_limits(kinds)?,
            upload_max_bytes: env
                .number("CANDOR_UPLOAD_MAX_BYTES", 1..=1 << 40)?
                .unwrap_or(defaults.upload_max_bytes),
            retention: env.seconds(
                "CANDOR_RETENTION_SECS",
                1..=10 * 365 * 24 * 3600,
                defaults.retention,
            )?,
            sweep_interval: env.seconds(
                "CANDOR_SWEEP_INTERVAL_SECS",
                1..=24 * 3600,
                defaults.sweep_interval,
            )?,
            session_key: env.session_key()?,
            secure_cookies: env.flag("CANDOR_SECURE_COOKIES")?,
            allowed_origins: env.allowed_origins(),
            public_url: env.public_url()?,
            trusted_proxies: env.trusted_proxies()?,
            limits: env.limits()?,
            database_url: env.database_url()?,
            database_max_connections: env
                .number("CANDOR_DATABASE_MAX_CONNECTIONS", 2..=1000)?
                .map_or(defaults.database_max_connections, |n| n as u32),
            lease: env.seconds("CANDOR_LEASE_SECS", 2..=3600, defaults.lease)?,
            node_name: env
                .text("CANDOR_NODE_NAME")
                .map_or(defaults.node_name, |n| n.trim().to_owned()),
            admin: env.admin()?,
            tls: env.tls()?,
        })
    }

    pub fn session_key_path(&self) -> PathBuf {
        self.data_dir.join("session.key")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("candor.db")
    }

    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// The settings as `lookup` finds them; a value of only white space counts as unset.
struct Env<'l, L: Fn(&str) -> Option<String>>(&'l L);

impl<L: Fn(&str) -> Option<String>> Env<'_, L> {
    fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ConfigError> {
        parse(self.text(name), name, range)
    }

    fn seconds(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        Ok(self
            .number(name, range)?
            .map_or(default, Duration::from_secs))
    }

    /// A limit: a whole number in `range`, `default` when unset.
    fn limit(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
        default: impl TryInto<u64>,
    ) -> Result<u64, ConfigError> {
        let default = default.try_into().unwrap_or(u64::MAX);
        Ok(self.number(name, range)?.unwrap_or(default))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.text(name).as_deref().map(str::trim) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(ConfigError {
                name: name.to_owned(),
                value: other.to_owned(),
                reason: "must be true or false".to_owned(),
            }),
        }
    }

    /// `CANDOR_TIME_LIMIT_<KIND>_SECS` for each kind that has one.
    fn time_limits<'k>(
        &self,
        kinds: impl IntoIterator<Item = &'k str>,
    ) -> Result<HashMap<String, Duration>, ConfigError> {
        let mut time_limits = HashMap::new();
        for kind in kinds {
            let name = format!("CANDOR_TIME_LIMIT_{}_SECS", kind.to_uppercase());
            if let Some(secs) = self.number(&name, 1..=7 * 24 * 3600)? {
                time_limits.insert(kind.to_owned(), Duration::from_secs(secs));
            }
        }
        Ok(time_limits)
    }

    fn session_key(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        self.text("CANDOR_SESSION_KEY")
            .map(|value| {
                decode_key(value.trim()).map_err(|reason| ConfigError {
                    name: "CANDOR_SESSION_KEY".to_owned(),
                    value: "(hidden)".to_owned(),
                    reason,
                })
            })
            .transpose()
    }

    fn allowed_origins(&self) -> Vec<String> {
        self.text("CANDOR_ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let Some(raw) = self.text("CANDOR_TRUSTED_PROXIES") else {
            return Ok(TrustedProxies::default());
        };
        TrustedProxies::parse(&raw).map_err(|reason| ConfigError {
            name: "CANDOR_TRUSTED_PROXIES".to_owned(),
            value: raw.clone(),
            reason,
        })
    }

    fn public_url(&self) -> Result<Option<PublicUrl>, ConfigError> {
        let Some(raw) = self.text("CANDOR_PUBLIC_URL") else {
            return Ok(None);
        };
        PublicUrl::parse(raw.trim())
            .map(Some)
            .map_err(|reason| ConfigError {
                name: "CANDOR_PUBLIC_URL".to_owned(),
                value: raw.clone(),
                reason: reason.to_owned(),
            })
    }

    fn limits(&self) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let many = 1..=10_000_000;
        Ok(Limits {
            request_max_bytes: self.limit(
                "CANDOR_REQUEST_MAX_BYTES",
                1024..=16 << 20,
                d.request_max_bytes,
            )? as usize,
            queue_max: self.limit("CANDOR_QUEUE_MAX", many.clone(), d.queue_max)? as u32,
            owner_max_in_flight: self.limit(
                "CANDOR_OWNER_MAX_IN_FLIGHT",
                many.clone(),
                d.owner_max_in_flight,
            )? as u32,
            owner_jobs_per_minute: self.limit(
                "CANDOR_OWNER_JOBS_PER_MINUTE",
                many.clone(),
                d.owner_jobs_per_minute,
            )? as u32,
            max_streams: self.limit("CANDOR_MAX_STREAMS", many.clone(), d.max_streams)? as usize,
            owner_max_streams: self.limit(
                "CANDOR_OWNER_MAX_STREAMS",
                many.clone(),
                d.owner_max_streams,
            )? as usize,
            address_max_streams: self.limit(
                "CANDOR_ADDRESS_MAX_STREAMS",
                many.clone(),
                d.address_max_streams,
            )? as usize,
            address_identities_per_minute: self.limit(
                "CANDOR_ADDRESS_IDENTITIES_PER_MINUTE",
                many.clone(),
                d.address_identities_per_minute,
            )? as u32,
            address_jobs_per_minute: self.limit(
                "CANDOR_ADDRESS_JOBS_PER_MINUTE",
                many,
                d.address_jobs_per_minute,
            )? as u32,
            max_connections: self.limit(
                "CANDOR_MAX_CONNECTIONS",
                16..=10_000_000,
                d.max_connections,
            )? as usize,
            owner_max_running: self
                .number("CANDOR_OWNER_MAX_RUNNING", 1..=1_000_000)?
                .map_or(d.owner_max_running, |n| n as u32),
            owner_max_result_bytes: self.limit(
                "CANDOR_OWNER_MAX_RESULT_BYTES",
                1..=u64::MAX,
                d.owner_max_result_bytes,
            )?,
            header_read_timeout: self.seconds(
                "CANDOR_HEADER_READ_TIMEOUT_SECS",
                1..=3600,
                d.header_read_timeout,
            )?,
            body_idle_timeout: self.seconds(
                "CANDOR_BODY_IDLE_TIMEOUT_SECS",
                1..=3600,
                d.body_idle_timeout,
            )?,
        })
    }

    fn database_url(&self) -> Result<Option<String>, ConfigError> {
        self.text("CANDOR_DATABASE_URL")
            .map(|url| {
                let url = url.trim().to_owned();
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    Ok(url)
                } else {
                    Err(ConfigError {
                        name: "CANDOR_DATABASE_URL".to_owned(),
                        value: "(hidden)".to_owned(),
                        reason: "must be a postgres:// URL (leave it unset for SQLite in the \
                                 data directory)"
                            .to_owned(),
                    })
                }
            })
            .transpose()
    }

    fn admin(&self) -> Result<AdminAddr, ConfigError> {
        Ok(
            match self.text("CANDOR_ADMIN_ADDR").as_deref().map(str::trim) {
                None => AdminAddr::Default,
                Some("off") => AdminAddr::Off,
                Some(value) => AdminAddr::At(value.parse().map_err(|_| ConfigError {
                    name: "CANDOR_ADMIN_ADDR".to_owned(),
                    value: value.to_owned(),
                    reason: "must be an address and port (127.0.0.1:9464) or off".to_owned(),
                })?),
            },
        )
    }

    /// HTTPS needs both a certificate and its key.
    fn tls(&self) -> Result<Option<TlsFiles>, ConfigError> {
        let alone = |given: &str, value: String, missing: &str| ConfigError {
            name: given.to_owned(),
            value,
            reason: format!("HTTPS needs {missing} too"),
        };
        match (self.text("CANDOR_TLS_CERT"), self.text("CANDOR_TLS_KEY")) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: PathBuf::from(cert.trim()),
                key: PathBuf::from(key.trim()),
            })),
            (Some(cert), None) => Err(alone("CANDOR_TLS_CERT", cert, "CANDOR_TLS_KEY")),
            (None, Some(key)) => Err(alone("CANDOR_TLS_KEY", key, "CANDOR_TLS_CERT")),
        }
    }
}

/// Where people reach Candor: `http(s)://host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// The host and port a request for it names (`jobs.example.com`,
    /// `jobs.example.com:8443`), lowercased, the scheme's own port left out.
    pub authority: String,
}

impl PublicUrl {
    fn parse(raw: &str) -> Result<Self, &'static str> {
        let invalid = "must be http:// or https:// and a host, with a port if any \
                       (https://jobs.example.com)";
        let (scheme, rest) = raw.split_once("://").ok_or(invalid)?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => ":443",
            "http" => ":80",
            _ => return Err(invalid),
        };
        let authority = rest.trim_end_matches('/').to_ascii_lowercase();
        let bad = |c: char| c.is_whitespace() || "/?#@\\".contains(c);
        if authority.is_empty() || authority.contains(bad) {
            return Err(invalid);
        }
        let authority = authority
            .strip_suffix(default_port)
            .unwrap_or(&authority)
            .to_owned();
        Ok(Self { authority })
    }
}

/// A session key in base64 (standard or URL-safe, padded or not).
fn decode_key(value: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let bytes = STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
        .map_err(|_| "must be base64".to_owned())?;
    if bytes.len() < crate::identity::session::KEY_BYTES {
        return Err(format!(
            "must hold at least {} bytes (it holds {}); `openssl rand -base64 64` makes one",
            crate::identity::session::KEY_BYTES,
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn parse<T>(
    value: Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let Some(value) = value else {
        return Ok(None);
    };
    let error = |reason: String| ConfigError {
        name: name.to_owned(),
        value: value.clone(),
        reason,
    };
    let parsed = value
        .trim()
        .parse::<T>()
        .map_err(|e| error(e.to_string()))?;
    if !range.contains(&parsed) {
        return Err(error(format!(
            "must be between {} and {}",
            range.start(),
            range.end()
        )));
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [&str; 2] = ["demo", "export"];

    #[test]
    fn defaults_apply_when_unset() {
        let config = Config::from_lookup(KINDS, |_| None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.keep_alive, Duration::from_secs(15));
        assert_eq!(config.silent_after, Duration::from_secs(120));
    }

    #[test]
    fn values_are_read_and_checked() {
        let config = Config::from_lookup(KINDS, |name| match name {
            "CANDOR_WORKERS" => Some("3".into()),
            "CANDOR_DATA_DIR" => Some("/tmp/x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.workers, 3);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        let config = Config::from_lookup(KINDS, |name| {
            (name == "CANDOR_TIME_LIMIT_EXPORT_SECS").then(|| "90".into())
        })
        .unwrap();
        assert_eq!(
            config.time_limits.get("export"),
            Some(&Duration::from_secs(90))
        );
        assert_eq!(config.time_limits.get("demo"), None);

        let err = Config::from_lookup(KINDS, |name| {
            (name == "CANDOR_WORKERS").then(|| "200000".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("CANDOR_WORKERS"), "{err}");
        // A node that only serves runs no jobs.
        let config =
            Config::from_lookup(KINDS, |name| (name == "CANDOR_WORKERS").then(|| "0".into()))
                .unwrap();
        assert_eq!(config.workers, 0);
        let err = Config::from_lookup(KINDS, |name| {
            (name == "CANDOR_WORKERS").then(|| "many".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("many"), "{err}");
    }

    #[test]
    fn the_admin_address_and_https_are_read_and_checked() {
        let config = Config::from_lookup(KINDS, |_| None).unwrap();
        assert_eq!((config.admin, config.tls), (AdminAddr::Default, None));
        let read = |pairs: &'static [(&'static str, &'static str)]| {
            Config::from_lookup(KINDS, move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let config = read(&[
            ("CANDOR_ADMIN_ADDR", "0.0.0.0:9100"),
            ("CANDOR_TLS_CERT", "/etc/c.pem"),
            ("CANDOR_TLS_KEY", "/etc/k.pem"),
        ])
        .unwrap();
        assert_eq!(config.admin, AdminAddr::At("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert: "/etc/c.pem".into(),
                key: "/etc/k.pem".into()
            })
        );
        assert_eq!(
            read(&[("CANDOR_ADMIN_ADDR", "off")]).unwrap().admin,
            AdminAddr::Off
        );
        let err = read(&[("CANDOR_ADMIN_ADDR", "9100")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CANDOR_ADMIN_ADDR"), "{err}");
        let err = read(&[("CANDOR_TLS_KEY", "/etc/k.pem")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CANDOR_TLS_CERT too"), "{err}");
    }

    #[test]
    fn the_shared_database_is_chosen_by_its_url() {
        let config = Config::from_lookup(KINDS, |_| None).unwrap();
        assert_eq!(config.database_url, None, "SQLite by default");
        let url = "postgres://candor@db.internal/candor";
        let config = Config::from_lookup(KINDS, |name| match name {
            "CANDOR_DATABASE_URL" => Some(url.into()),
            "CANDOR_LEASE_SECS" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.database_url.as_deref(), Some(url));
        assert_eq!(config.lease, Duration::from_secs(5));
        let err = Config::from_lookup(KINDS, |name| {
            (name == "CANDOR_DATABASE_URL").then(|| "mysql://secret@x/y".into())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(
            !err.contains("secret"),
            "the URL may hold a password: {err}"
        );
    }

    #[test]
    fn the_public_url_is_read_as_the_host_it_names() {
        let read = |value: &'static str| {
            Config::from_lookup(KINDS, move |name| {
                (name == "CANDOR_PUBLIC_URL").then(|| value.to_owned())
            })
        };
        let authority = |value| read(value).unwrap().public_url.unwrap().authority;
        assert_eq!(authority("https://Jobs.Example.com/"), "jobs.example.com");
        assert_eq!(
            authority("https://jobs.example.com:443"),
            "jobs.example.com"
        );
        assert_eq!(
            authority("http://jobs.example.com:8080"),
            "jobs.example.com:8080"
        );
        assert_eq!(
            Config::from_lookup(KINDS, |_| None).unwrap().public_url,
            None
        );
        for bad in [
            "jobs.example.com",
            "ftp://jobs.example.com",
            "https://",
            "https://a/b",
            "https://u@evil.example",
        ] {
            let err = read(bad).unwrap_err();
            assert!(
                err.to_string().contains("CANDOR_PUBLIC_URL"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn limits_and_identity_settings_are_read_and_checked() {
        let config = Config::from_lookup(KINDS, |name| match name {
            "CANDOR_QUEUE_MAX" => Some("5".into()),
            "CANDOR_OWNER_MAX_STREAMS" => Some("3".into()),
            "CANDOR_SECURE_COOKIES" => Some("true".into()),
            "CANDOR_ALLOWED_ORIGINS" => Some("https://A.example/, https://b.example".into()),
            "CANDOR_SESSION_KEY" => Some("a".repeat(88)),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.limits.queue_max, 5);
        assert_eq!(config.limits.owner_max_streams, 3);
        assert_eq!(config.limits.owner_max_in_flight, 100);
        assert!(config.secure_cookies);
        assert_eq!(
            config.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(config.session_key.as_ref().map(Vec::len), Some(66));

        for (name, value, says) in [
            ("CANDOR_SESSION_KEY", "c2hvcnQ=", "at least 64 bytes"),
            ("CANDOR_SESSION_KEY", "not base64!", "base64"),
            ("CANDOR_SECURE_COOKIES", "yes", "true or false"),
            ("CANDOR_QUEUE_MAX", "0", "between"),
            ("CANDOR_MAX_CONNECTIONS", "8", "between"),
        ] {
            let err =
                Config::from_lookup(KINDS, |n| (n == name).then(|| value.to_owned())).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(name) && text.contains(says), "{text}");
            if name == "CANDOR_SESSION_KEY" {
                assert!(!text.contains(value), "the key is not logged: {text}");
            }
        }
    }
}
