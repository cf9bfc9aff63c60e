//! Configuration, plain data at the bottom of the crate: one [`RegistryConfig`] per registry
//! from the config file's `registries:` list, the client-wide [`ClientOptions`], and the
//! [`Credential`]s they may carry. Depends on no other module of the crate.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use ml_operator_retry::RetryPolicy;
use serde::Deserialize;

/// A credential for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password: sent as Basic auth to the registry or to its token service.
    Basic {
        /// The user name.
        username: String,
        /// The password (or an access token used as password, e.g. a GitHub PAT or ECR token).
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`), exchanged at the token
    /// service with `grant_type=refresh_token`.
    IdentityToken {
        /// The user name recorded next to the token, if any (Docker stores `<token>`).
        username: Option<String>,
        /// The refresh token.
        token: String,
    },
    /// A ready bearer token for the registry itself (`registrytoken` in `config.json`).
    RegistryToken(String),
}

impl Credential {
    /// The user name, for logs ("using credentials of robot$scanner for harbor.example.com").
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Basic { username, .. } => Some(username),
            Credential::IdentityToken { username, .. } => username.as_deref(),
            Credential::RegistryToken(_) => None,
        }
    }

    /// The `Authorization` header value for Basic auth, if this credential has a password.
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// One entry of the config file's `registries:` list (keys in camelCase, exactly as documented:
/// `host`, `insecure`, `caFile`, `username`, `passwordFile`, `mirror`, `requestsPerSecond`, `burst`,
/// `concurrency`).
///
/// ```yaml
/// registries:
///   - host: docker.io
///     mirror: hub-mirror.internal:5000     # air-gapped hub: same repositories, other endpoint
///   - host: harbor.example.com
///     caFile: /etc/ml-operator/harbor-ca.pem
///     username: robot$scanner
///     passwordFile: /var/run/secrets/harbor/password
///     requestsPerSecond: 5
///     concurrency: 2
/// ```
#[derive(Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registry as written in image references: `docker.io`, `ghcr.io`, `localhost:5000`.
    pub host: String,
    /// Allow plain HTTP and unverified TLS for this registry (like `--insecure-registry`).
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of extra CA certificates trusted for this registry (added to the system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// User name for Basic auth or for the token service.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (a mounted secret). Read when credentials are needed, so a
    /// rotated secret (e.g. a refreshed ECR token) is picked up without a restart.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Another registry that serves the same repositories (`host[:port]` or a URL with scheme).
    /// Requests go there instead; the repository path is kept.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Most requests per second sent to this registry (default: [`ClientOptions::default_requests_per_second`]).
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// Most requests in flight to this registry at once (default: [`ClientOptions::default_concurrency`]).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// How many requests may go at once before `requestsPerSecond` paces them (a token
    /// bucket; default: `requestsPerSecond`, rounded up). 1 spaces every request.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Verify that every upgrade target from this registry is signed (cosign, key-based)
    /// before it is proposed or applied.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
    /// Hold back tags younger than this (their image config's `created`), e.g. `24h`;
    /// overrides the global `minimumReleaseAge` for this registry.
    #[serde(default, deserialize_with = "optional_duration")]
    #[schemars(with = "Option<String>")]
    pub minimum_release_age: Option<Duration>,
}

/// `registries[].verify`: how upgrade targets from a registry are verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyConfig {
    /// A cosign public key (PEM, as `cosign generate-key-pair` writes `cosign.pub`): the
    /// target digest must carry a signature made with its private key.
    pub cosign_public_key_file: PathBuf,
}

/// A duration written as text (`24h`, `30m`), humantime's grammar.
fn optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| {
            humantime::parse_duration(text.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a duration ({e}): write e.g. 30m, 24h or 7d"
                ))
            })
        })
        .transpose()
}

impl fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Nothing secret here (the password stays in its file), but keep the shape explicit.
        f.debug_struct("RegistryConfig")
            .field("host", &self.host)
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("mirror", &self.mirror)
            .field("requests_per_second", &self.requests_per_second)
            .field("concurrency", &self.concurrency)
            .field("burst", &self.burst)
            .field("verify", &self.verify)
            .field("minimum_release_age", &self.minimum_release_age)
            .finish()
    }
}

/// Everything the client needs to know; `ClientOptions::default()` is right for a CLI run.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Per-registry settings (the config file's `registries:` list).
    pub registries: Vec<RegistryConfig>,
    /// `--insecure-registry HOST[:PORT]` values: plain HTTP / unverified TLS allowed there.
    pub insecure_registries: Vec<String>,
    /// Directory holding `config.json`. `None` means `$DOCKER_CONFIG`, else `~/.docker`.
    /// A missing file is fine; a malformed one is an error.
    pub docker_config: Option<PathBuf>,
    /// Credentials from elsewhere (e.g. Kubernetes `dockerconfigjson` secrets), by registry host.
    /// They take precedence over `config.json`; a `registries:` entry's username/password wins
    /// over both.
    pub extra_credentials: Vec<(String, Credential)>,
    /// Optional on-disk cache of tag lists (with `ETag`s), shared across runs.
    pub cache_dir: Option<PathBuf>,
    /// How long a tag list is reused without asking the registry again.
    pub cache_ttl: Duration,
    /// How long a failure is remembered, so many workloads sharing a broken repository do not
    /// each repeat the walk and its retries.
    pub error_ttl: Duration,
    /// Timeout of one HTTP request (connect + response + body).
    pub timeout: Duration,
    /// Retries of one HTTP request after 429, 5xx, timeouts and dropped connections.
    pub max_retries: u32,
    /// The longest `Retry-After` we honour; a registry asking for more fails the lookup at once
    /// (as rate-limited, with the wait it asked for) instead of stalling the scan.
    pub max_retry_after: Duration,
    /// First back-off wait; doubled on each retry, with jitter.
    pub backoff_base: Duration,
    /// The longest single back-off wait.
    pub backoff_max: Duration,
    /// The most pages followed in one tag walk before giving up (a guard against endless `Link`s).
    pub max_pages: usize,
    /// `n` sent on the first tags request; `None` lets the registry choose its page size.
    pub page_size: Option<usize>,
    /// Requests per second per registry when its entry says nothing. `None` = unlimited.
    pub default_requests_per_second: Option<f64>,
    /// Requests in flight per registry when its entry says nothing.
    pub default_concurrency: usize,
    /// The largest response body read, in bytes (a guard against memory growth).
    pub max_body_bytes: usize,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            registries: Vec::new(),
            insecure_registries: Vec::new(),
            docker_config: None,
            extra_credentials: Vec::new(),
            cache_dir: None,
            cache_ttl: Duration::from_secs(300),
            error_ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            max_retries: 4,
            max_retry_after: Duration::from_secs(60),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(20),
            max_pages: 1000,
            page_size: None,
            default_requests_per_second: Some(20.0),
            default_concurrency: 4,
            max_body_bytes: 32 * 1024 * 1024,
            user_agent: concat!("ml-operator-registry/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl ClientOptions {
    /// The retry policy of one request: these options' retries, back-off and `Retry-After`
    /// cap, with `max_retries` overridden when the request says so.
    pub(crate) fn retry_policy(&self, max_retries: Option<u32>) -> RetryPolicy {
        RetryPolicy {
            max_retries: max_retries.unwrap_or(self.max_retries),
            base: self.backoff_base,
            max_backoff: self.backoff_max,
            max_retry_after: self.max_retry_after,
            timeout: self.timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_config_reads_camel_case_keys() {
        let json = r#"{"host":"harbor.example.com","insecure":true,"caFile":"/ca.pem","username":"robot",
            "passwordFile":"/pw","mirror":"m:5000","requestsPerSecond":2.5,"concurrency":3}"#;
        let c: RegistryConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.host, "harbor.example.com");
        assert!(c.insecure);
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert_eq!(c.username.as_deref(), Some("robot"));
        assert_eq!(
            c.password_file.as_deref(),
            Some(std::path::Path::new("/pw"))
        );
        assert_eq!(c.mirror.as_deref(), Some("m:5000"));
        assert_eq!(c.requests_per_second, Some(2.5));
        assert_eq!(c.concurrency, Some(3));
        let c: RegistryConfig = serde_json::from_str(
            r#"{"host":"h","verify":{"cosignPublicKeyFile":"/k.pub"},"minimumReleaseAge":"24h"}"#,
        )
        .unwrap();
        assert_eq!(
            c.verify.unwrap().cosign_public_key_file,
            std::path::Path::new("/k.pub")
        );
        assert_eq!(c.minimum_release_age, Some(Duration::from_secs(86_400)));
        let err =
            serde_json::from_str::<RegistryConfig>(r#"{"host":"h","minimumReleaseAge":"soon"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }

    #[test]
    fn registry_config_rejects_unknown_keys_and_password_on_command_line() {
        let err = serde_json::from_str::<RegistryConfig>(r#"{"host":"x","password":"hunter2"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Credential::IdentityToken {
            username: None,
            token: "tok-secret".into(),
        };
        assert!(!format!("{c:?}").contains("tok-secret"));
        let c = Credential::RegistryToken("rt-secret".into());
        assert!(!format!("{c:?}").contains("rt-secret"));
    }
}
