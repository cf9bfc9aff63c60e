//! Reading a configuration file: YAML with camelCase keys, unknown keys refused, every wrong
//! type named by its key path and line, and what the types cannot say (names the API server
//! would refuse, registry pacing that could never work) checked before anything starts.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{Config, InvalidConfig};
use crate::inventory::names::{check_label, check_subdomain};

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, InvalidConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| InvalidConfig {
            location: path.display().to_string(),
            problem: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses configuration text; `name` is used in errors.
    pub fn parse(text: &str, name: &str) -> Result<Config, InvalidConfig> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        // Track the key path as serde walks the document, so a wrong type names its key
        // (`upgrades.maxConcurrent`), not only the line.
        let mut track = serde_path_to_error::Track::new();
        let parsed = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
            Config::deserialize(serde_path_to_error::Deserializer::new(
                deserializer,
                &mut track,
            ))
        });
        let config = parsed.map_err(|e| {
            let location = match e.location() {
                Some(l) => format!("{name}:{}", l.line()),
                None => name.to_string(),
            };
            let message = e.to_string();
            let message = message.lines().next().unwrap_or_default();
            let message = message.strip_prefix("error: ").unwrap_or(message);
            let message = match message
                .strip_prefix("line ")
                .and_then(|rest| rest.split_once(": "))
            {
                Some((_position, rest)) => rest,
                None => message,
            };
            let message = plain_type_error(message);
            let path = track.path().to_string();
            let problem = if path.is_empty() || path == "." || message.contains(&path) {
                message
            } else {
                format!("{path}: {message}")
            };
            InvalidConfig { location, problem }
        })?;
        config.validate(name)?;
        Ok(config)
    }

    /// Checks what the types alone cannot: names the API server would refuse, registry
    /// settings that could never work. Each problem names its key.
    fn validate(&self, name: &str) -> Result<(), InvalidConfig> {
        let fail = |problem: String| InvalidConfig {
            location: name.to_string(),
            problem,
        };
        for (i, registry) in self.registries.iter().enumerate() {
            if registry.host.trim().is_empty() {
                return Err(fail(format!("registries[{i}].host must not be empty")));
            }
            let key = format!("registries[{i}] ({})", registry.host);
            if registry.username.is_some() != registry.password_file.is_some() {
                return Err(fail(format!(
                    "{key}: username and passwordFile go together"
                )));
            }
            if let Some(rate) = registry.requests_per_second
                && !(MIN_REQUESTS_PER_SECOND..=MAX_REQUESTS_PER_SECOND).contains(&rate)
            {
                return Err(fail(format!(
                    "{key}.requestsPerSecond: {rate} is out of range; give a number from \
                     {MIN_REQUESTS_PER_SECOND} (one request every 10 s) to {MAX_REQUESTS_PER_SECOND}"
                )));
            }
            if let Some(burst) = registry.burst
                && !(1..=MAX_BURST).contains(&burst)
            {
                return Err(fail(format!(
                    "{key}.burst: {burst} is out of range; give a whole number from 1 to {MAX_BURST}"
                )));
            }
            if let Some(concurrency) = registry.concurrency
                && !(1..=MAX_CONCURRENCY).contains(&concurrency)
            {
                return Err(fail(format!(
                    "{key}.concurrency: {concurrency} is out of range; give a whole number from 1 to {MAX_CONCURRENCY}"
                )));
            }
        }
        for (key, age) in self
            .registries
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    format!("registries[{i}] ({}).minimumReleaseAge", r.host),
                    r.minimum_release_age,
                )
            })
            .chain([("minimumReleaseAge".to_string(), self.minimum_release_age)])
        {
            if let Some(age) = age
                && age > MAX_RELEASE_AGE
            {
                return Err(fail(format!(
                    "{key}: {} is longer than the most, 365d",
                    humantime::format_duration(age)
                )));
            }
        }
        if let Some(interval) = self.digest_check_interval
            && interval > MAX_DIGEST_CHECK_INTERVAL
        {
            return Err(fail(format!(
                "digestCheckInterval: {} is longer than the most, 30d",
                humantime::format_duration(interval)
            )));
        }
        for (i, namespace) in self.namespaces.iter().enumerate() {
            check_label(namespace).map_err(|e| fail(format!("namespaces[{i}]: {e}")))?;
        }
        if let Some(namespace) = &self.state.namespace {
            check_label(namespace).map_err(|e| fail(format!("state.namespace: {e}")))?;
        }
        if let Some(config_map) = &self.state.config_map {
            check_subdomain(config_map).map_err(|e| fail(format!("state.configMap: {e}")))?;
        }
        if let Some(namespace) = &self.argocd.namespace {
            check_label(namespace).map_err(|e| fail(format!("argocd.namespace: {e}")))?;
        }
        if let Some(lease) = &self.leader_election.lease_name {
            check_subdomain(lease).map_err(|e| fail(format!("leaderElection.leaseName: {e}")))?;
        }
        Ok(())
    }
}

/// The slowest pace a registry may be given (`requestsPerSecond`): one request every 10 s.
/// Anything slower would make a scan of a few dozen repositories take hours.
pub const MIN_REQUESTS_PER_SECOND: f64 = 0.1;
/// The fastest pace a registry may be given (`requestsPerSecond`).
pub const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;
/// The longest release cool-down (`minimumReleaseAge`): a year. Longer would hold back every
/// release for good.
pub const MAX_RELEASE_AGE: Duration = Duration::from_secs(365 * 86_400);
/// The longest `digestCheckInterval`: 30 days (a tag re-pushed is noticed within it).
pub const MAX_DIGEST_CHECK_INTERVAL: Duration = Duration::from_secs(30 * 86_400);

/// The largest burst a registry may be given (`burst`).
pub const MAX_BURST: u32 = 10_000;
/// The most requests in flight a registry may be given (`concurrency`).
pub const MAX_CONCURRENCY: usize = 64;

/// The YAML parser's type errors in words a Hub operator reads (`invalid u64` → "expected a
/// whole number of 0 or more"); other messages pass through unchanged.
fn plain_type_error(message: &str) -> String {
    let expected = match message.trim() {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid usize" => {
            "expected a whole number of 0 or more"
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" | "invalid isize" => {
            "expected a whole number"
        }
        "invalid f32" | "invalid f64" => "expected a number",
        "invalid bool" | "invalid boolean" => "expected true or false",
        "expected sequence start" => "expected a list, e.g. [a, b]",
        "expected mapping start" => "expected a mapping of keys to values",
        _ => return message.to_string(),
    };
    format!("{expected} ({message})")
}
