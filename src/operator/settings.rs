//! What `run` needs, checked before anything starts.
//!
//! In: the loaded [`Config`], the tag source and how to reach the cluster. Out: [`Settings`] —
//! the schedule parsed, the listen address, the label selector, the Lease and `upgrades:`
//! checked, and the notifiers built once (their secrets read) — or a [`StartError`] naming
//! the key (or variable) and value, which the CLI turns into exit code 2.

use std::net::{AddrParseError, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ml_operator_notify::Notifier;

use crate::approvals::settings::API_URL_VARIABLE;
use crate::approvals::{InvalidApprovals, SlackSettings};
use crate::config::Config;
use crate::deliver::git::{GitRepository, GitSettings, InvalidGit};
use crate::inventory::selector::{InvalidSelector, Selector};
use crate::notify::notifiers::{InvalidNotifier, http_notifiers};
use crate::operator::leader::lease_config;
use crate::operator::schedule::{DEFAULT_SCHEDULE, InvalidSchedule, Schedule};
use crate::tags::TagSource;
use crate::tags::supply::{DEFAULT_DIGEST_CHECK_INTERVAL, InvalidKey, SupplyPolicy};
use crate::upgrade::UpgradeSettings;

/// The default HTTP listen address: the original image-watcher's port.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4006";

/// Everything `run` needs, checked: built by [`Settings::from_config`] before anything starts.
pub struct Settings {
    /// The configuration as loaded (file + environment).
    pub config: Config,
    /// When to scan.
    pub schedule: Schedule,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where tags come from.
    pub source: TagSource,
    /// Kubeconfig to use instead of the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    pub context: Option<String>,
    /// The checked `upgrades:` section, when upgrades are enabled.
    pub upgrades: Option<UpgradeSettings>,
    /// `run --dry-run`: decide and log, change nothing in the cluster.
    pub dry_run: bool,
    /// The Slack, Teams and webhook notifiers, built once (their secrets read) at start and
    /// shared by scan notifications and upgrade announcements.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// The supply-chain checks (keys read at start), with `upgrades.pinDigests`.
    pub supply: SupplyPolicy,
    /// Slack approvals (`slack:`), when a signing secret or an app token is configured.
    pub slack: Option<SlackSettings>,
    /// The GitOps repository (`git:`), when `git.url` is set and upgrades are enabled.
    pub git: Option<Arc<GitRepository>>,
}

/// A start-up problem, naming the key (or variable) and value.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `schedule` (`CHECK_FOR_UPDATE_CRON`) is not a cron expression.
    #[error("schedule (CHECK_FOR_UPDATE_CRON): {0}")]
    Schedule(#[source] InvalidSchedule),
    /// `listen` (`ML_OPERATOR_LISTEN`) is not a socket address.
    #[error("listen (ML_OPERATOR_LISTEN): {text:?} is not an address like 0.0.0.0:4006: {source}")]
    Listen {
        /// The value as configured.
        text: String,
        /// Why it does not parse.
        #[source]
        source: AddrParseError,
    },
    /// `selector` is not a label selector.
    #[error("selector: {0}")]
    Selector(#[source] InvalidSelector),
    /// `leaderElection` timings the elector cannot work with.
    #[error("leaderElection: {0}")]
    LeaderElection(#[source] ml_operator_leader::Error),
    /// A notifier's URL or secret (the error names its key and file).
    #[error(transparent)]
    Notifier(#[from] InvalidNotifier),
    /// The `upgrades:` section (the error names the key and value).
    #[error(transparent)]
    Upgrades(#[from] crate::upgrade::settings::InvalidSettings),
    /// A `registries[].verify` key that cannot be read (names the entry and file).
    #[error(transparent)]
    VerifyKey(#[from] InvalidKey),
    /// The `slack:` section (the error names the key and file, never a secret).
    #[error(transparent)]
    Approvals(#[from] InvalidApprovals),
    /// The `git:` section (the error names the key and file, never a secret).
    #[error(transparent)]
    Git(#[from] InvalidGit),
    /// `upgrades.delivery` (or `namespaceDelivery`) is `git` without `git.url`.
    #[error("upgrades.delivery: git needs git.url (and git.paths): the repository to commit to")]
    GitNotConfigured,
}

/// The supply-chain checks the configuration asks for; `pin_digests` adds to
/// `upgrades.pinDigests` (`check --pin-digests`). Reads every `verify` key now.
pub fn supply_policy(config: &Config, pin_digests: bool) -> Result<SupplyPolicy, InvalidKey> {
    SupplyPolicy::new(
        &config.registries,
        config.check_overwritten_tags.unwrap_or(true),
        config
            .digest_check_interval
            .unwrap_or(DEFAULT_DIGEST_CHECK_INTERVAL),
        pin_digests || config.upgrades.pin_digests,
        config.minimum_release_age,
    )
}

impl Settings {
    /// Checks the configuration; every error names the setting.
    pub fn from_config(
        config: Config,
        source: TagSource,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    ) -> Result<Settings, StartError> {
        let schedule_text = config.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE);
        let schedule = Schedule::parse(schedule_text).map_err(StartError::Schedule)?;
        let listen_text = config.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.parse().map_err(|source| StartError::Listen {
            text: listen_text.to_string(),
            source,
        })?;
        if let Some(selector) = &config.selector {
            selector.parse::<Selector>().map_err(StartError::Selector)?;
        }
        if let Some(lease) = lease_config(&config, "namespace", "identity") {
            lease.validate().map_err(StartError::LeaderElection)?;
        }
        let notifiers = http_notifiers(&config)?;
        let supply = supply_policy(&config, false)?;
        let upgrades = if config.upgrades.enabled {
            let mut upgrades = UpgradeSettings::from_config(&config.upgrades)?;
            upgrades.argocd_applications = config.argocd.read_applications.then(|| {
                config
                    .argocd
                    .namespace
                    .clone()
                    .unwrap_or_else(|| crate::source::argocd::DEFAULT_ARGOCD_NAMESPACE.into())
            });
            Some(upgrades)
        } else {
            None
        };
        let git = match GitSettings::from_config(&config.git)? {
            Some(git) if upgrades.is_some() => Some(Arc::new(GitRepository::new(git)?)),
            _ => None,
        };
        if git.is_none() && upgrades.as_ref().is_some_and(UpgradeSettings::uses_git) {
            return Err(StartError::GitNotConfigured);
        }
        let api_url = std::env::var(API_URL_VARIABLE).ok();
        let slack = SlackSettings::from_config(&config, api_url.as_deref())?;
        Ok(Settings {
            slack,
            config,
            schedule,
            listen,
            source,
            kubeconfig,
            context,
            upgrades,
            dry_run: false,
            notifiers,
            supply,
            git,
        })
    }
}
