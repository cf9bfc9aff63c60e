//! The configuration file (`--config FILE`), shared by `check` and the operator.
//!
//! YAML, camelCase keys. Unknown keys are errors, so a typo fails at start with the file, line
//! and key instead of being silently ignored. Command-line flags win over the file.
//!
//! ```yaml
//! strategy: bugfix              # patch | bugfix | minor | major
//! services: [central-ledger]    # only workloads with these app.kubernetes.io/name labels
//! cacheDir: /var/cache/ml-operator
//! cacheTtl: 5m
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
//! # operator mode (`run`)
//! namespaces: [mojaloop]        # empty: all namespaces
//! selector: app.kubernetes.io/part-of=mojaloop
//! schedule: "0 */5 * * * *"     # CHECK_FOR_UPDATE_CRON: 5 fields, or 6 with seconds
//! scanOnChange: true           # also scan when a workload's images change
//! reminderInterval: 24h         # re-send pending updates this often (off when unset)
//! listen: 0.0.0.0:4006
//! imageWatcherUrl: http://image-watcher:4006   # IMAGE_WATCHER_CLIENT_URL: ask it instead of registries
//! notify:
//!   kubectlPatchInstructions: true             # NOTIFY_KUBECTL_PATCH_INSTRUCTIONS
//!   events: true                               # a Kubernetes Event on each affected workload
//!   slack: {webhookUrlFile: /etc/ml-operator/slack/url}          # or SLACK_WEBHOOK_URL
//!   teams: {webhookUrlFile: /etc/ml-operator/teams/url}
//!   webhooks:
//!     - {name: ops, urlFile: /etc/ml-operator/ops/url, signingKeyFile: /etc/ml-operator/ops/key}
//! state: {namespace: ml-operator, configMap: ml-operator-state}
//! leaderElection: {enabled: true, leaseName: ml-operator, leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 2s}
//! upgrades:                     # see docs/upgrades.md
//!   enabled: false              # nothing is ever patched unless true
//!   autoApprove: none           # none | patch | bugfix | minor | major
//!   namespaceAutoApprove: {lab: bugfix}
//!   maxConcurrent: 1
//!   rolloutTimeout: 10m
//!   windows:
//!     - {name: weekend-nights, schedule: "0 2 * * SAT,SUN", duration: 4h, timeZone: Africa/Nairobi}
//!   defaultWindow: weekend-nights
//!   namespaceWindows: {lab: weekend-nights}
//!   dependencies: {central-ledger: [mysql]}
//! ```
//!
//! The original ml-operator's environment variables keep their meaning and win over the file:
//! `SERVICES` (a JSON array as the original wrote it, or comma-separated), `UPGRADE_STRATEGY`, `CHECK_FOR_UPDATE_CRON`,
//! `SLACK_WEBHOOK_URL`, `NOTIFY_KUBECTL_PATCH_INSTRUCTIONS`, `SHOULD_USE_DEFAULT_K8S`,
//! `IMAGE_WATCHER_CLIENT_URL`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ml_operator_registry::RegistryConfig;
use ml_operator_version::Strategy;
use serde::Deserialize;

use crate::inventory::names::{check_label, check_subdomain};

pub mod duration;

/// The settings of a configuration file; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Default upgrade strategy.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
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
    /// How long a repository's tag list is reused before it is asked for again (revalidated with
    /// ETags where the registry offers them). Default: 5m for `check`, 0s for `run`, so every
    /// scan sees new tags.
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub cache_ttl: Option<Duration>,
    /// Namespaces to watch (`run`); empty means all.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Label selector for the workloads to watch (`run`).
    #[serde(default)]
    pub selector: Option<String>,
    /// When to scan (`run`): cron, 5 fields or 6 with seconds. Env `CHECK_FOR_UPDATE_CRON`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Also scan (after a one-second settle) whenever a workload is added, removed or changes
    /// its images, not only on the schedule (default false).
    #[serde(default)]
    pub scan_on_change: Option<bool>,
    /// Re-send the pending updates this often even when nothing changed; off when unset.
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub reminder_interval: Option<Duration>,
    /// HTTP listen address for the API, health and metrics (`run`). Env `ML_OPERATOR_LISTEN`.
    #[serde(default)]
    pub listen: Option<String>,
    /// An original image-watcher to ask for the newest tags instead of the registries.
    /// Env `IMAGE_WATCHER_CLIENT_URL`.
    #[serde(default)]
    pub image_watcher_url: Option<String>,
    /// Use the kubeconfig even inside a cluster. Env `SHOULD_USE_DEFAULT_K8S`.
    #[serde(default)]
    pub use_default_kubeconfig: Option<bool>,
    /// Where notifications go.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Where the operator remembers what it notified.
    #[serde(default)]
    pub state: StateConfig,
    /// Leader election between replicas.
    #[serde(default)]
    pub leader_election: LeaderElectionConfig,
    /// Applying upgrades on approval, in windows (`run`); off by default.
    #[serde(default)]
    pub upgrades: UpgradesConfig,
}

/// `upgrades:`: ImageUpgrade objects, approvals, windows, apply, rollout watch and rollback.
/// See docs/upgrades.md.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradesConfig {
    /// Nothing is ever patched unless true (default false).
    #[serde(default)]
    pub enabled: bool,
    /// The highest level approved without a person: none (default), patch, bugfix, minor, major.
    #[serde(default)]
    pub auto_approve: Option<crate::upgrade::AutoApprove>,
    /// Per-namespace auto-approve levels, overriding `autoApprove`.
    #[serde(default)]
    pub namespace_auto_approve: std::collections::BTreeMap<String, crate::upgrade::AutoApprove>,
    /// How many upgrades may be applying at once (default 1).
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// How long a rollout may take before it is rolled back (default 10m).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub rollout_timeout: Option<Duration>,
    /// Named upgrade windows.
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    /// The window for workloads without their own (none: any time after approval).
    #[serde(default)]
    pub default_window: Option<String>,
    /// Per-namespace windows, overriding `defaultWindow`.
    #[serde(default)]
    pub namespace_windows: std::collections::BTreeMap<String, String>,
    /// Workload name to the workloads (same namespace) whose approved upgrades go first.
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, Vec<String>>,
    /// How often the upgrade controller looks at ImageUpgrades and rollouts (default 5s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
}

/// One upgrade window: a 5-field cron schedule in a time zone, open for a duration.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowConfig {
    /// The name workloads and namespaces refer to.
    pub name: String,
    /// When it opens: 5-field cron (minute hour day month weekday).
    pub schedule: String,
    /// How long it stays open, e.g. `4h`.
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    /// IANA time zone of the schedule (default UTC), e.g. `Africa/Nairobi`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `notify:`: the notifiers, several at once.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyConfig {
    /// Put ready-to-run `kubectl patch` commands in messages (default true).
    /// Env `NOTIFY_KUBECTL_PATCH_INSTRUCTIONS`.
    #[serde(default)]
    pub kubectl_patch_instructions: Option<bool>,
    /// Record a Kubernetes Event on each workload with an update (default true).
    #[serde(default)]
    pub events: Option<bool>,
    /// Slack incoming webhook. Env `SLACK_WEBHOOK_URL`.
    #[serde(default)]
    pub slack: Option<SecretUrl>,
    /// Microsoft Teams incoming webhook or Workflows URL.
    #[serde(default)]
    pub teams: Option<SecretUrl>,
    /// Generic webhooks receiving the findings as signed JSON.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// A webhook URL (a secret): inline, or better from a file such as a mounted Secret.
#[derive(Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretUrl {
    /// The URL itself (avoid: it is a secret; prefer `webhookUrlFile`).
    #[serde(default, alias = "url")]
    pub webhook_url: Option<String>,
    /// A file holding the URL.
    #[serde(default, alias = "urlFile")]
    pub webhook_url_file: Option<PathBuf>,
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretUrl")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("webhook_url_file", &self.webhook_url_file)
            .finish()
    }
}

/// One generic webhook.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for logs and metrics (default `webhook`).
    #[serde(default)]
    pub name: Option<String>,
    /// The URL, inline or from a file.
    #[serde(flatten)]
    pub url: SecretUrl,
    /// A file holding the HMAC-SHA256 signing key.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
}

/// `state:`: the ConfigMap that remembers what was notified, so a restart does not re-send.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateConfig {
    /// Its namespace (default: the operator's own, from `POD_NAMESPACE` or the service account).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Its name (default `ml-operator-state`).
    #[serde(default)]
    pub config_map: Option<String>,
}

/// `leaderElection:`: a `coordination.k8s.io` Lease decides which replica works.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// On by default; off only makes sense with one replica.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The Lease's name (default `ml-operator`).
    #[serde(default)]
    pub lease_name: Option<String>,
    /// How long a lease holds without renewal (default 15s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub lease_duration: Option<Duration>,
    /// How long the leader keeps trying to renew before it steps down (default 10s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub renew_deadline: Option<Duration>,
    /// How often to try to acquire or renew (default 2s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub retry_period: Option<Duration>,
}

/// The original ml-operator's environment variables, and ours, that override the file.
pub const ENVIRONMENT_VARIABLES: [&str; 8] = [
    "SERVICES",
    "UPGRADE_STRATEGY",
    "CHECK_FOR_UPDATE_CRON",
    "SLACK_WEBHOOK_URL",
    "NOTIFY_KUBECTL_PATCH_INSTRUCTIONS",
    "SHOULD_USE_DEFAULT_K8S",
    "IMAGE_WATCHER_CLIENT_URL",
    "ML_OPERATOR_LISTEN",
];

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
        config.validate().map_err(|problem| InvalidConfig {
            location: name.to_string(),
            problem,
        })?;
        Ok(config)
    }

    /// Checks what the types alone cannot: names the API server would refuse, registry
    /// settings that could never work. Each problem names its key.
    fn validate(&self) -> Result<(), String> {
        for (i, registry) in self.registries.iter().enumerate() {
            if registry.host.trim().is_empty() {
                return Err(format!("registries[{i}].host must not be empty"));
            }
            let key = format!("registries[{i}] ({})", registry.host);
            if registry.username.is_some() != registry.password_file.is_some() {
                return Err(format!("{key}: username and passwordFile go together"));
            }
            if let Some(rate) = registry.requests_per_second
                && !(MIN_REQUESTS_PER_SECOND..=MAX_REQUESTS_PER_SECOND).contains(&rate)
            {
                return Err(format!(
                    "{key}.requestsPerSecond: {rate} is out of range; give a number from \
                     {MIN_REQUESTS_PER_SECOND} (one request every 10 s) to {MAX_REQUESTS_PER_SECOND}"
                ));
            }
            if let Some(concurrency) = registry.concurrency
                && !(1..=MAX_CONCURRENCY).contains(&concurrency)
            {
                return Err(format!(
                    "{key}.concurrency: {concurrency} is out of range; give a whole number from 1 to {MAX_CONCURRENCY}"
                ));
            }
        }
        for (i, namespace) in self.namespaces.iter().enumerate() {
            check_label(namespace).map_err(|e| format!("namespaces[{i}]: {e}"))?;
        }
        if let Some(namespace) = &self.state.namespace {
            check_label(namespace).map_err(|e| format!("state.namespace: {e}"))?;
        }
        if let Some(config_map) = &self.state.config_map {
            check_subdomain(config_map).map_err(|e| format!("state.configMap: {e}"))?;
        }
        if let Some(lease) = &self.leader_election.lease_name {
            check_subdomain(lease).map_err(|e| format!("leaderElection.leaseName: {e}"))?;
        }
        Ok(())
    }
}

/// The slowest pace a registry may be given (`requestsPerSecond`): one request every 10 s.
/// Anything slower would make a scan of a few dozen repositories take hours.
pub const MIN_REQUESTS_PER_SECOND: f64 = 0.1;
/// The fastest pace a registry may be given (`requestsPerSecond`).
pub const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;
/// The most requests in flight a registry may be given (`concurrency`).
pub const MAX_CONCURRENCY: usize = 64;

impl Config {
    /// Applies the environment variables in [`ENVIRONMENT_VARIABLES`] over the file's settings.
    /// `get` reads one variable (the process environment in production, a map in tests).
    /// A bad value is an error naming the variable and the value — except secrets, which are
    /// never echoed.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), InvalidConfig> {
        let fail = |key: &str, problem: String| InvalidConfig {
            location: format!("environment variable {key}"),
            problem,
        };
        let boolean = |key: &str, value: &str| match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(fail(key, format!("{value:?} is not true or false"))),
        };
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        if let Some(value) = set(get("SERVICES")) {
            self.services = parse_services(&value).map_err(|problem| fail("SERVICES", problem))?;
        }
        if let Some(value) = set(get("UPGRADE_STRATEGY")) {
            let strategy = value
                .trim()
                .parse::<Strategy>()
                .map_err(|e| fail("UPGRADE_STRATEGY", e.to_string()))?;
            self.strategy = Some(strategy);
        }
        if let Some(value) = set(get("CHECK_FOR_UPDATE_CRON")) {
            self.schedule = Some(value);
        }
        if let Some(value) = set(get("SLACK_WEBHOOK_URL")) {
            self.notify.slack = Some(SecretUrl {
                webhook_url: Some(value.trim().to_string()),
                webhook_url_file: None,
            });
        }
        if let Some(value) = set(get("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS")) {
            self.notify.kubectl_patch_instructions =
                Some(boolean("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS", &value)?);
        }
        if let Some(value) = set(get("SHOULD_USE_DEFAULT_K8S")) {
            self.use_default_kubeconfig = Some(boolean("SHOULD_USE_DEFAULT_K8S", &value)?);
        }
        if let Some(value) = set(get("IMAGE_WATCHER_CLIENT_URL")) {
            self.image_watcher_url = Some(value.trim().to_string());
        }
        if let Some(value) = set(get("ML_OPERATOR_LISTEN")) {
            self.listen = Some(value.trim().to_string());
        }
        Ok(())
    }
}

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

/// `SERVICES` as either program writes it: the original's JSON array
/// (`["central-ledger","quoting-service"]`, what its convict schema parses) or a comma list
/// (`central-ledger,quoting-service`). Anything else is refused rather than matching nothing.
fn parse_services(value: &str) -> Result<Vec<String>, String> {
    let value = value.trim();
    let names: Vec<String> = if value.starts_with('[') {
        serde_json::from_str::<Vec<String>>(value).map_err(|e| {
            format!(
                "{value:?} is neither a JSON array of names (like [\"central-ledger\",\"quoting-service\"]) \
                 nor a comma-separated list: {e}"
            )
        })?
    } else {
        value.split(',').map(str::to_string).collect()
    };
    let names: Vec<String> = names
        .into_iter()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    for name in &names {
        // Label values: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends.
        let valid = name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(format!(
                "{name:?} is not a label value (the app.kubernetes.io/name of a workload); \
                 give a JSON array like [\"central-ledger\"] or a comma-separated list"
            ));
        }
    }
    Ok(names)
}

impl Config {
    /// Every key a configuration file may hold, as dotted paths (`notify.slack.webhookUrlFile`,
    /// `registries[].host`), from the configuration's own schema — so documentation and chart
    /// values can be checked against the code.
    pub fn keys() -> Vec<String> {
        let schema =
            serde_json::to_value(schemars::schema_for!(Config)).expect("a schema serializes");
        let mut keys = Vec::new();
        collect_keys(&schema, &schema, "", &mut keys);
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Walks a JSON schema's `properties`, following `$ref`s, `items` and `anyOf`/`allOf`.
fn collect_keys(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    keys: &mut Vec<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(serde_json::Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = root.get("$defs").and_then(|defs| defs.get(name)) {
            collect_keys(root, target, prefix, keys);
        }
    }
    for combinator in ["anyOf", "allOf", "oneOf"] {
        for branch in node
            .get(combinator)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_keys(root, branch, prefix, keys);
        }
    }
    if let Some(items) = node.get("items") {
        collect_keys(root, items, &format!("{prefix}[]"), keys);
    }
    if let Some(properties) = node
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (name, property) in properties {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            keys.push(key.clone());
            collect_keys(root, property, &key, keys);
        }
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
    fn environment_wins_and_names_bad_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut config = Config::parse("strategy: patch\nservices: [x]\n", "c.yaml").unwrap();
        config
            .apply_env(env(&[
                ("SERVICES", "central-ledger, quoting-service"),
                ("UPGRADE_STRATEGY", "minor"),
                ("CHECK_FOR_UPDATE_CRON", "*/10 * * * * *"),
                (
                    "SLACK_WEBHOOK_URL",
                    "https://hooks.slack.com/services/T/B/SECRET",
                ),
                ("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS", "false"),
                ("SHOULD_USE_DEFAULT_K8S", "TRUE"),
            ]))
            .unwrap();
        assert_eq!(config.services, ["central-ledger", "quoting-service"]);
        assert_eq!(config.strategy, Some(Strategy::Minor));
        assert_eq!(config.schedule.as_deref(), Some("*/10 * * * * *"));
        assert_eq!(config.notify.kubectl_patch_instructions, Some(false));
        assert_eq!(config.use_default_kubeconfig, Some(true));
        assert!(
            !format!("{config:?}").contains("SECRET"),
            "secrets stay out of Debug"
        );

        let err = Config::default()
            .apply_env(env(&[("UPGRADE_STRATEGY", "newest")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("UPGRADE_STRATEGY") && err.contains("newest"),
            "{err}"
        );
        let err = Config::default()
            .apply_env(env(&[("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS") && err.contains("maybe"),
            "{err}"
        );
    }

    #[test]
    fn keys_come_from_the_schema() {
        let keys = Config::keys();
        for key in [
            "strategy",
            "registries[].passwordFile",
            "notify.slack.webhookUrlFile",
            "notify.webhooks[].signingKeyFile",
            "leaderElection.leaseDuration",
            "state.configMap",
        ] {
            assert!(
                keys.contains(&key.to_string()),
                "{key} missing from {keys:#?}"
            );
        }
    }

    #[test]
    fn operator_sections() {
        let config = Config::parse(
            "schedule: '0 */5 * * * *'\nreminderInterval: 24h\nnotify:\n  slack: {webhookUrlFile: /s}\n  webhooks:\n    - {name: ops, url: 'http://x', signingKeyFile: /k}\nleaderElection: {leaseDuration: 30s}\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(config.reminder_interval, Some(Duration::from_secs(86_400)));
        assert_eq!(
            config.notify.webhooks[0].url.webhook_url.as_deref(),
            Some("http://x")
        );
        assert_eq!(
            config.leader_election.lease_duration,
            Some(Duration::from_secs(30))
        );
        let err = Config::parse("reminderInterval: soon\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn upgrades_section() {
        let config = Config::parse(
            "upgrades:\n  enabled: true\n  autoApprove: bugfix\n  maxConcurrent: 2\n  rolloutTimeout: 10m\n  windows:\n    - name: weekend-nights\n      schedule: '0 2 * * SAT,SUN'\n      duration: 4h\n      timeZone: Africa/Nairobi\n  defaultWindow: weekend-nights\n  namespaceAutoApprove: {lab: minor}\n",
            "c.yaml",
        )
        .unwrap();
        let upgrades = &config.upgrades;
        assert!(upgrades.enabled);
        assert_eq!(
            upgrades.auto_approve,
            Some(crate::upgrade::AutoApprove::Bugfix)
        );
        assert_eq!(
            upgrades.windows[0].duration,
            Some(Duration::from_secs(4 * 3600))
        );
        assert_eq!(
            upgrades.namespace_auto_approve["lab"],
            crate::upgrade::AutoApprove::Minor
        );
        assert!(!Config::default().upgrades.enabled, "off by default");
        let err = Config::parse("upgrades:\n  autoApprove: always\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("always"), "{err}");
        let err = Config::parse("upgrades:\n  window: x\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config c.yaml:2") && err.contains("window"),
            "{err}"
        );
        assert!(Config::keys().contains(&"upgrades.windows[].timeZone".to_string()));
    }

    #[test]
    fn services_as_the_original_writes_them() {
        let services = |value: &'static str| {
            let mut config = Config::default();
            config
                .apply_env(|key| (key == "SERVICES").then(|| value.to_string()))
                .map(|()| config.services)
                .map_err(|e| e.to_string())
        };
        let both = ["central-ledger", "quoting-service"];
        assert_eq!(
            services(r#"["central-ledger","quoting-service"]"#).unwrap(),
            both
        );
        assert_eq!(
            services(r#" [ "central-ledger" , "quoting-service" ] "#).unwrap(),
            both
        );
        assert_eq!(services("central-ledger, quoting-service").unwrap(), both);
        assert_eq!(services("[]").unwrap(), Vec::<String>::new());
        for bad in ["[a", r#"["a", 1]"#, r#"{"a": 1}"#, "a b", r#""a""#] {
            let err = services(bad).unwrap_err();
            assert!(err.contains("SERVICES"), "{bad}: {err}");
        }
    }

    #[test]
    fn wrong_types_and_impossible_values_name_the_key() {
        let cases = [
            (
                "upgrades:\n  maxConcurrent: -1\n",
                "c.yaml:2",
                "upgrades.maxConcurrent: expected a whole number of 0 or more",
            ),
            ("services: x\n", "c.yaml:1", "services: expected a list"),
            ("notify:\n  slack: [a]\n", "c.yaml:2", "notify.slack"),
            (
                "registries: [{host: h, requestsPerSecond: 0}]\n",
                "c.yaml",
                "registries[0] (h).requestsPerSecond",
            ),
            (
                "registries: [{host: h, requestsPerSecond: 1e-9}]\n",
                "c.yaml",
                "registries[0] (h).requestsPerSecond",
            ),
            (
                "registries: [{host: h, concurrency: 0}]\n",
                "c.yaml",
                "registries[0] (h).concurrency",
            ),
            (
                "namespaces: [mojaloop, 'Bad_NS!']\n",
                "c.yaml",
                "namespaces[1]",
            ),
            (
                "state: {configMap: 'state!'}\n",
                "c.yaml",
                "state.configMap",
            ),
            ("state: {namespace: 'A'}\n", "c.yaml", "state.namespace"),
            (
                "leaderElection: {leaseName: 'a b'}\n",
                "c.yaml",
                "leaderElection.leaseName",
            ),
        ];
        for (text, location, key) in cases {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("config {location}:")) && err.contains(key),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "strategy: bugfix\nstrategyy: patch\n",
                "c.yaml:2",
                "strategyy",
            ),
            ("strategy: newest\n", "c.yaml:1", "newest"),
            (
                "registries:\n  - host: a\n    pasword: x\n",
                "c.yaml:3",
                "pasword",
            ),
            (
                "registries:\n  - host: a\n    username: u\n",
                "c.yaml",
                "passwordFile go together",
            ),
            (
                "registries: [{host: ''}]\n",
                "c.yaml",
                "host must not be empty",
            ),
        ];
        for (text, location, problem) in cases {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(err.starts_with(&format!("config {location}")), "{err}");
            assert!(err.contains(problem), "{err}");
        }
    }
}
