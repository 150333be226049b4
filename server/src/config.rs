//! Settings, read from the environment. Every setting has a default that works on a
//! developer's machine with nothing to configure; the README lists them all.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A setting that is present but unreadable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `CANDOR_DATA_DIR`: where the database and the artifacts live. Default `./data`.
    pub data_dir: PathBuf,
    /// `CANDOR_WORKERS`: how many jobs run at once. Default: the number of CPU cores.
    pub workers: usize,
    /// `CANDOR_PROGRESS_INTERVAL_MS`: the shortest time between two progress events of one
    /// job; progress reported faster is coalesced (the latest value wins). Default 200.
    pub progress_interval: Duration,
    /// `CANDOR_KEEPALIVE_SECS`: how often an idle stream gets a `: keep-alive` comment.
    /// Default 15.
    pub keep_alive: Duration,
    /// `CANDOR_SHUTDOWN_GRACE_SECS`: how long running jobs may finish after a shutdown
    /// signal before they are ended as interrupted. Default 10.
    pub shutdown_grace: Duration,
    /// `CANDOR_BUS_CAPACITY`: how many events the live channel buffers for a slow
    /// subscriber before it has to catch up from the log. Default 1024.
    pub bus_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress_interval: Duration::from_millis(200),
            keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            bus_capacity: 1024,
        }
    }
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let read = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            data_dir: read("CANDOR_DATA_DIR").map_or(defaults.data_dir, PathBuf::from),
            workers: parse(read("CANDOR_WORKERS"), "CANDOR_WORKERS", 1..=1024)?
                .unwrap_or(defaults.workers),
            progress_interval: parse(
                read("CANDOR_PROGRESS_INTERVAL_MS"),
                "CANDOR_PROGRESS_INTERVAL_MS",
                0..=60_000,
            )?
            .map_or(defaults.progress_interval, Duration::from_millis),
            keep_alive: parse(
                read("CANDOR_KEEPALIVE_SECS"),
                "CANDOR_KEEPALIVE_SECS",
                1..=3600,
            )?
            .map_or(defaults.keep_alive, Duration::from_secs),
            shutdown_grace: parse(
                read("CANDOR_SHUTDOWN_GRACE_SECS"),
                "CANDOR_SHUTDOWN_GRACE_SECS",
                0..=3600,
            )?
            .map_or(defaults.shutdown_grace, Duration::from_secs),
            bus_capacity: parse(
                read("CANDOR_BUS_CAPACITY"),
                "CANDOR_BUS_CAPACITY",
                16..=1_048_576,
            )?
            .unwrap_or(defaults.bus_capacity),
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("candor.db")
    }

    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }
}

fn parse<T>(
    value: Option<String>,
    name: &'static str,
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
        name,
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

    #[test]
    fn defaults_apply_when_unset() {
        let config = Config::from_lookup(|_| None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.keep_alive, Duration::from_secs(15));
    }

    #[test]
    fn values_are_read_and_checked() {
        let config = Config::from_lookup(|name| match name {
            "CANDOR_WORKERS" => Some("3".into()),
            "CANDOR_DATA_DIR" => Some("/tmp/x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.workers, 3);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));

        let err =
            Config::from_lookup(|name| (name == "CANDOR_WORKERS").then(|| "0".into())).unwrap_err();
        assert!(err.to_string().contains("CANDOR_WORKERS"), "{err}");
        let err = Config::from_lookup(|name| (name == "CANDOR_WORKERS").then(|| "many".into()))
            .unwrap_err();
        assert!(err.to_string().contains("many"), "{err}");
    }
}
