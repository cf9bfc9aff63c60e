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
//!   maxConcurrent: 1           # upgrade groups applying at once
//!   groupConcurrency: 1         # workloads of one group rolling out at once, after the canary
//!   onFailure: rollbackGroup    # rollbackGroup | rollbackFailed
//!   rolloutTimeout: 10m
//!   windows:
//!     - {name: weekend-nights, schedule: "0 2 * * SAT,SUN", duration: 4h, timeZone: Africa/Nairobi}
//!   defaultWindow: weekend-nights
//!   namespaceWindows: {lab: weekend-nights}
//!   dependencies: {central-ledger: [mysql]}
//!   pinDigests: false           # targets as repo:tag@sha256:… (check: --pin-digests)
//!   requiredApprovals: 1        # different people, through Slack or the admin API
//!   delivery: kubectl           # kubectl | git (docs/delivery.md)
//!   namespaceDelivery: {hub: git}
//! git:                          # the GitOps repository for `delivery: git`
//!   url: https://github.com/example/hub-deploy.git
//!   branch: main
//!   paths: [values-mojaloop.yaml]
//!   author: ml-operator <ml-operator@example.com>
//!   tokenFile: /etc/ml-operator/secrets/git-token   # or sshKeyFile + knownHostsFile
//!   pullRequest: {provider: github, baseBranch: main}   # none | github | gitlab
//! # supply-chain signals (docs/security.md)
//! checkOverwrittenTags: true    # tag-overwritten: running digest vs the registry's, one HEAD per tag
//! digestCheckInterval: 6h       # how long a tag's digest is reused
//! minimumReleaseAge: 24h        # hold back younger tags (also per registry)
//! slack:                        # approving from Slack, see docs/approvals.md
//!   signingSecretFile: /etc/ml-operator/secrets/slack-signing-secret
//!   appTokenFile: /etc/ml-operator/secrets/slack-app-token       # Socket Mode
//!   botTokenFile: /etc/ml-operator/secrets/slack-bot-token
//!   approvers: [U012ABCDEF, S0GROUPID]
//! api: {enabled: false, anonymousRead: false}                     # admin API and dashboard
//! argocd: {namespace: argocd, readApplications: false}   # Applications read for their selfHeal
//! helm: {readReleases: false}   # the operator reads Helm releases (values paths in findings)
//! ```
//!
//! The original ml-operator's environment variables keep their meaning and win over the file:
//! `SERVICES` (a JSON array as the original wrote it, or comma-separated), `UPGRADE_STRATEGY`, `CHECK_FOR_UPDATE_CRON`,
//! `SLACK_WEBHOOK_URL`, `NOTIFY_KUBECTL_PATCH_INSTRUCTIONS`, `SHOULD_USE_DEFAULT_K8S`,
//! `IMAGE_WATCHER_CLIENT_URL`.

use std::path::PathBuf;
use std::time::Duration;

use ml_operator_registry::RegistryConfig;
use ml_operator_version::Strategy;
use serde::Deserialize;

mod auto_approve;
mod delivery;
pub mod duration;
mod env;
mod keys;
mod load;
mod on_failure;

pub use auto_approve::{AutoApprove, InvalidLevel};
pub use delivery::{Delivery, GitConfig, Provider, PullRequestConfig};
pub use env::ENVIRONMENT_VARIABLES;
pub use load::{MAX_BURST, MAX_CONCURRENCY, MAX_REQUESTS_PER_SECOND, MIN_REQUESTS_PER_SECOND};
pub use on_failure::OnFailure;

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
    /// Compare the digest each running container was pulled at (and each digest pin) with
    /// what the registry serves for its tag now, and report `tag-overwritten` (default true;
    /// one `HEAD` per distinct running tag per `digestCheckInterval`).
    #[serde(default)]
    pub check_overwritten_tags: Option<bool>,
    /// How long a tag's digest is reused before the registry is asked again (default 6h).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub digest_check_interval: Option<Duration>,
    /// Hold back candidate tags younger than this (their image config's `created`), e.g.
    /// `24h`; `registries[].minimumReleaseAge` overrides it per registry. Off when unset.
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub minimum_release_age: Option<Duration>,
    /// Approving upgrades from Slack: the Slack app's secrets and who may approve
    /// (docs/approvals.md).
    #[serde(default)]
    pub slack: SlackConfig,
    /// The admin API and dashboard on the HTTP server (docs/approvals.md).
    #[serde(default)]
    pub api: ApiConfig,
    /// The GitOps repository approved upgrades are committed to (`upgrades.delivery: git`,
    /// docs/delivery.md).
    #[serde(default)]
    pub git: GitConfig,
    /// Where Argo CD keeps its Applications (`check` reads their `selfHeal`).
    #[serde(default)]
    pub argocd: ArgocdConfig,
    /// Helm releases in operator mode (`check` reads them with the caller's permissions).
    #[serde(default)]
    pub helm: HelmConfig,
}

/// `helm:`: the deployed Helm releases behind the workloads.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmConfig {
    /// The operator reads each Helm-managed workload's deployed release on every scan (default
    /// false), so its findings carry the release's values path. Grants `list` on `secrets` in
    /// the watched namespaces (the chart's RBAC): release Secrets hold the values' passwords,
    /// which are dropped as soon as a release is read.
    #[serde(default)]
    pub read_releases: bool,
}

/// `argocd:`: the Argo CD installation the workloads' tracking markers refer to.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArgocdConfig {
    /// The namespace of Argo CD's Applications when a workload's tracking id names none
    /// (default `argocd`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The operator reads the Applications too (default false): an ImageUpgrade it refuses,
    /// and its notification, then say whether selfHeal is on. Grants `get` on
    /// `applications.argoproj.io` (the chart's RBAC).
    #[serde(default)]
    pub read_applications: bool,
}

/// `slack:`: the Slack app through which people approve and reject upgrades. Its secrets are
/// files (mounted from a Secret), read once at start.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    /// The app's signing secret: turns on `POST /slack/interactions` (HTTP interactivity).
    #[serde(default)]
    pub signing_secret_file: Option<PathBuf>,
    /// The app-level token (`xapp-…`, scope `connections:write`): turns on Socket Mode.
    #[serde(default)]
    pub app_token_file: Option<PathBuf>,
    /// The bot token (`xoxb-…`): `chat.update`, replies in the proposal's thread and user-group
    /// membership; without it messages are updated through the click's `response_url`.
    #[serde(default)]
    pub bot_token_file: Option<PathBuf>,
    /// Who may approve or reject: Slack user ids (`U…`, `W…`) and user-group ids (`S…`, which
    /// need the bot token with `usergroups:read`).
    #[serde(default)]
    pub approvers: Vec<String>,
}

/// `api:`: the admin API (`/api/v1/…`) and the dashboard (`/`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the admin API and the dashboard (default false). Grants the operator `create` on
    /// `tokenreviews` and `subjectaccessreviews` (the chart's RBAC).
    #[serde(default)]
    pub enabled: bool,
    /// Answer the read endpoints without a token (default false: a token that may `list`
    /// imageupgrades).
    #[serde(default)]
    pub anonymous_read: bool,
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
    pub auto_approve: Option<AutoApprove>,
    /// Per-namespace auto-approve levels, overriding `autoApprove`.
    #[serde(default)]
    pub namespace_auto_approve: std::collections::BTreeMap<String, AutoApprove>,
    /// How many upgrades (groups) may be applying at once (default 1).
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// How many workloads of one upgrade group roll out at once, after the first (the canary)
    /// has succeeded (default 1: one at a time).
    #[serde(default)]
    pub group_concurrency: Option<usize>,
    /// What a failed rollout rolls back: `rollbackGroup` (default: every workload of the group
    /// already changed, in reverse order) or `rollbackFailed` (only the failed one).
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
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
    /// How many different people must approve an upgrade through Slack or the admin API
    /// before it is approved (default 1). `ml-operator approve` and `kubectl patch` approve at
    /// once.
    #[serde(default)]
    pub required_approvals: Option<usize>,
    /// How often the upgrade controller looks at ImageUpgrades and rollouts (default 5s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
    /// Pin every upgrade target by its digest (`repo:tag@sha256:…`, one `HEAD` of the chosen
    /// tag); a workload already pinned stays pinned either way (default false).
    #[serde(default)]
    pub pin_digests: bool,
    /// How approved groups are made: `kubectl` (default, a patch of each workload) or `git` (a
    /// commit to `git.url`; docs/delivery.md). A workload's `ml-operator.mojaloop.io/delivery`
    /// annotation wins over `namespaceDelivery`, which wins over this.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// Per-namespace delivery, overriding `delivery`.
    #[serde(default)]
    pub namespace_delivery: std::collections::BTreeMap<String, Delivery>,
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

/// A configuration file that cannot be used; names the file, line and problem.
#[derive(Debug, thiserror::Error)]
#[error("config {location}: {problem}")]
pub struct InvalidConfig {
    /// `file:line`, the file, or `environment variable NAME`.
    pub location: String,
    /// What is wrong, naming the key and, for anything but a secret, the value.
    pub problem: String,
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
        assert_eq!(upgrades.auto_approve, Some(AutoApprove::Bugfix));
        assert_eq!(
            upgrades.windows[0].duration,
            Some(Duration::from_secs(4 * 3600))
        );
        assert_eq!(upgrades.namespace_auto_approve["lab"], AutoApprove::Minor);
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
    fn supply_chain_keys() {
        let config = Config::parse(
            "checkOverwrittenTags: false\ndigestCheckInterval: 1h\nminimumReleaseAge: 24h\nupgrades: {pinDigests: true}\nregistries:\n  - host: ghcr.io\n    minimumReleaseAge: 2d\n    verify: {cosignPublicKeyFile: /k.pub}\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(config.check_overwritten_tags, Some(false));
        assert_eq!(
            config.digest_check_interval,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            config.minimum_release_age,
            Some(Duration::from_secs(86_400))
        );
        assert!(config.upgrades.pin_digests);
        assert_eq!(
            config.registries[0].minimum_release_age,
            Some(Duration::from_secs(2 * 86_400))
        );
        let keys = Config::keys();
        for key in [
            "registries[].verify.cosignPublicKeyFile",
            "registries[].minimumReleaseAge",
            "upgrades.pinDigests",
            "digestCheckInterval",
        ] {
            assert!(keys.contains(&key.to_string()), "{key}");
        }
        let err = Config::parse("registries: [{host: h, verify: {key: x}}]\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key"), "{err}");
        for (text, key) in [
            ("minimumReleaseAge: 400d\n", "minimumReleaseAge: "),
            (
                "registries: [{host: h, minimumReleaseAge: 366d}]\n",
                "registries[0] (h).minimumReleaseAge: ",
            ),
            ("digestCheckInterval: 31d\n", "digestCheckInterval: "),
        ] {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("longer than"), "{err}");
        }
        assert!(
            Config::parse(
                "minimumReleaseAge: 365d\ndigestCheckInterval: 30d\n",
                "c.yaml"
            )
            .is_ok()
        );
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
                "registries: [{host: h, burst: 0}]\n",
                "c.yaml",
                "registries[0] (h).burst",
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
