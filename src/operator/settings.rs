//! What `run` needs, checked before anything starts.
//!
//! In: the loaded [`Config`], the tag source and how to reach the cluster. Out: [`Settings`] —
//! the schedule parsed, the listen address, the label selector, the Lease and `upgrades:`
//! checked, and the notifiers built once (their secrets read) — or a [`StartError`] naming
//! the key (or variable) and value, which the CLI turns into exit code 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ml_operator_notify::Notifier;

use crate::config::Config;
use crate::inventory::selector::Selector;
use crate::notify::sinks::http_notifiers;
use crate::operator::leader::lease_config;
use crate::operator::schedule::{DEFAULT_SCHEDULE, Schedule};
use crate::tags::TagSource;
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
}

/// A start-up problem, naming the key (or variable) and value.
pub type StartError = String;

impl Settings {
    /// Checks the configuration; every error names the setting.
    pub fn from_config(
        config: Config,
        source: TagSource,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    ) -> Result<Settings, StartError> {
        let schedule_text = config.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE);
        let schedule = Schedule::parse(schedule_text)
            .map_err(|e| format!("schedule (CHECK_FOR_UPDATE_CRON): {e}"))?;
        let listen_text = config.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text
            .parse()
            .map_err(|e| format!("listen (ML_OPERATOR_LISTEN): {listen_text:?} is not an address like 0.0.0.0:4006: {e}"))?;
        if let Some(selector) = &config.selector {
            selector
                .parse::<Selector>()
                .map_err(|e| format!("selector: {e}"))?;
        }
        if let Some(lease) = lease_config(&config, "namespace", "identity") {
            lease
                .validate()
                .map_err(|e| format!("leaderElection: {e}"))?;
        }
        let notifiers = http_notifiers(&config)?;
        let upgrades = if config.upgrades.enabled {
            Some(UpgradeSettings::from_config(&config.upgrades)?)
        } else {
            None
        };
        Ok(Settings {
            config,
            schedule,
            listen,
            source,
            kubeconfig,
            context,
            upgrades,
            dry_run: false,
            notifiers,
        })
    }
}
