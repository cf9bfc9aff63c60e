//! The configuration file (`--config FILE`), shared by `check` and the operator.
//!
//! YAML, camelCase keys. Unknown keys are errors, so a typo fails at start with the file, line
//! and key instead of being silently ignored. Command-line flags win over the file.
//!
//! ```yaml
//! strategy: bugfix              # patch | bugfix | minor | major
//! services: [central-ledger]    # only workloads with these app.kubernetes.io/name labels
//! cacheDir: /var/cache/ml-operator
//! insecureRegistries: [registry.hub.local:5000]
//! registries:
//!   - host: docker.io
//!     mirror: registry.hub.local:5000
//!   - host: harbor.example.com
//!     caFile: /etc/ml-operator/harbor-ca.pem
//!     username: robot$scanner
//!     passwordFile: /var/run/secrets/harbor/password
//!     requestsPerSecond: 5
//!     concurrency: 2
//! ```

use std::path::{Path, PathBuf};

use ml_operator_registry::RegistryConfig;
use ml_operator_version::Strategy;
use serde::Deserialize;

/// The settings of a configuration file; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Default upgrade strategy.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Only workloads whose `app.kubernetes.io/name` is one of these.
    #[serde(default)]
    pub services: Vec<String>,
    /// Per-registry settings: TLS, credentials, mirrors, rate limits.
    #[serde(default)]
    pub registries: Vec<RegistryConfig>,
    /// Registries reached over plain HTTP or unverified TLS (`HOST[:PORT]`).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Directory for the on-disk tag cache.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

/// A configuration file that cannot be used; names the file, line and problem.
#[derive(Debug, thiserror::Error)]
#[error("config {location}: {problem}")]
pub struct InvalidConfig {
    location: String,
    problem: String,
}

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
        let config: Config = serde_saphyr::from_str(text).map_err(|e| {
            let location = match e.location() {
                Some(l) => format!("{name}:{}", l.line()),
                None => name.to_string(),
            };
            let message = e.to_string();
            let message = message.lines().next().unwrap_or_default();
            let message = message.strip_prefix("error: ").unwrap_or(message);
            let message = match message.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
                Some((_position, rest)) => rest,
                None => message,
            };
            InvalidConfig {
                location,
                problem: message.to_string(),
            }
        })?;
        for (i, registry) in config.registries.iter().enumerate() {
            if registry.host.trim().is_empty() {
                return Err(InvalidConfig {
                    location: name.to_string(),
                    problem: format!("registries[{i}].host must not be empty"),
                });
            }
            if registry.username.is_some() != registry.password_file.is_some() {
                return Err(InvalidConfig {
                    location: name.to_string(),
                    problem: format!(
                        "registries[{i}] ({}): username and passwordFile go together",
                        registry.host
                    ),
                });
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let config = Config::parse(
            "strategy: minor\nservices: [a, b]\ncacheDir: /tmp/c\ninsecureRegistries: ['h:5000']\nregistries:\n  - host: docker.io\n    mirror: 'h:5000'\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(config.strategy, Some(Strategy::Minor));
        assert_eq!(config.services, ["a", "b"]);
        assert_eq!(config.registries[0].mirror.as_deref(), Some("h:5000"));
        assert_eq!(config.insecure_registries, ["h:5000"]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            ("strategy: bugfix\nstrategyy: patch\n", "c.yaml:2", "strategyy"),
            ("strategy: newest\n", "c.yaml:1", "newest"),
            ("registries:\n  - host: a\n    pasword: x\n", "c.yaml:3", "pasword"),
            ("registries:\n  - host: a\n    username: u\n", "c.yaml", "passwordFile go together"),
            ("registries: [{host: ''}]\n", "c.yaml", "host must not be empty"),
        ];
        for (text, location, problem) in cases {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(err.starts_with(&format!("config {location}")), "{err}");
            assert!(err.contains(problem), "{err}");
        }
    }
}
