//! The `upgrades:` configuration, checked: windows parsed, names resolved, defaults filled.
//!
//! In: [`UpgradesConfig`], as read from the file. Out: [`UpgradeSettings`], or an
//! [`InvalidSettings`] naming the key (`upgrades.windows[nights].timeZone`, …).

use std::collections::BTreeMap;
use std::time::Duration;

use super::policy::Policy;
use super::window::{InvalidWindow, InvalidWindows, Window, Windows};
use crate::config::{Delivery, OnFailure, UpgradesConfig};

/// Default `upgrades.rolloutTimeout`.
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default `upgrades.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// An `upgrades:` configuration that cannot be used: names the key (and the window).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSettings {
    /// A window without `duration`.
    #[error("upgrades.windows[{window}].duration is required (e.g. 4h)")]
    MissingDuration {
        /// The window's name (its index when it has none).
        window: String,
    },
    /// A window that cannot be used.
    #[error(transparent)]
    Window(#[from] InvalidWindow),
    /// Windows that do not fit together.
    #[error(transparent)]
    Windows(#[from] InvalidWindows),
    /// `upgrades.maxConcurrent: 0` or `upgrades.groupConcurrency: 0`.
    #[error("upgrades.{key}: 0 would never apply anything; use at least 1")]
    NoConcurrency {
        /// The key below `upgrades`.
        key: &'static str,
    },
    /// A duration that must not be zero (`rolloutTimeout`, `interval`).
    #[error("upgrades.{key}: must be longer than 0s")]
    ZeroDuration {
        /// The key below `upgrades`.
        key: &'static str,
    },
    /// A workload listed among its own dependencies.
    #[error("upgrades.dependencies.{workload}: a workload cannot depend on itself")]
    SelfDependency {
        /// The workload.
        workload: String,
    },
}

/// Everything the upgrader needs from the configuration.
#[derive(Debug, Clone)]
pub struct UpgradeSettings {
    /// The windows and how one is chosen.
    pub windows: Windows,
    /// Auto-approval rules.
    pub policy: Policy,
    /// Upgrade groups applying at once.
    pub max_concurrent: usize,
    /// Workloads of one group rolling out at once, once the first (the canary) succeeded.
    pub group_concurrency: usize,
    /// What a failed rollout rolls back.
    pub on_failure: OnFailure,
    /// How long a rollout may take.
    pub rollout_timeout: Duration,
    /// Workload → workloads whose approved upgrades go first (same namespace).
    pub dependencies: BTreeMap<String, Vec<String>>,
    /// How often the upgrader takes its steps.
    pub interval: Duration,
    /// Decide and log, but write nothing (`run --dry-run`).
    pub dry_run: bool,
    /// How groups are delivered unless their namespace or workloads say otherwise.
    pub delivery: Delivery,
    /// Per-namespace delivery.
    pub namespace_delivery: BTreeMap<String, Delivery>,
    /// Read Argo CD Applications (in this namespace unless a tracking id names another) for
    /// their selfHeal, to say it when a group is refused (`argocd.readApplications`).
    pub argocd_applications: Option<String>,
}

impl Default for UpgradeSettings {
    fn default() -> UpgradeSettings {
        UpgradeSettings {
            windows: Windows::default(),
            policy: Policy::default(),
            max_concurrent: 1,
            group_concurrency: 1,
            on_failure: OnFailure::default(),
            rollout_timeout: DEFAULT_ROLLOUT_TIMEOUT,
            dependencies: BTreeMap::new(),
            interval: DEFAULT_INTERVAL,
            dry_run: false,
            delivery: Delivery::default(),
            namespace_delivery: BTreeMap::new(),
            argocd_applications: None,
        }
    }
}

impl UpgradeSettings {
    /// Whether any group may be delivered with git (the default or a namespace's).
    pub fn uses_git(&self) -> bool {
        self.delivery == Delivery::Git
            || self
                .namespace_delivery
                .values()
                .any(|d| *d == Delivery::Git)
    }

    /// Checks `upgrades:`; every error names the key and value.
    pub fn from_config(config: &UpgradesConfig) -> Result<UpgradeSettings, InvalidSettings> {
        let mut windows = Vec::new();
        for (i, window) in config.windows.iter().enumerate() {
            let name = if window.name.trim().is_empty() {
                format!("{i}")
            } else {
                window.name.clone()
            };
            let duration = window
                .duration
                .ok_or(InvalidSettings::MissingDuration { window: name })?;
            let zone = window.time_zone.as_deref().unwrap_or("UTC");
            windows.push(Window::new(&window.name, &window.schedule, duration, zone)?);
        }
        let windows = Windows::new(
            windows,
            config.default_window.clone(),
            config.namespace_windows.clone(),
        )?;
        let max_concurrent = config.max_concurrent.unwrap_or(1);
        if max_concurrent == 0 {
            return Err(InvalidSettings::NoConcurrency {
                key: "maxConcurrent",
            });
        }
        let group_concurrency = config.group_concurrency.unwrap_or(1);
        if group_concurrency == 0 {
            return Err(InvalidSettings::NoConcurrency {
                key: "groupConcurrency",
            });
        }
        let rollout_timeout = config.rollout_timeout.unwrap_or(DEFAULT_ROLLOUT_TIMEOUT);
        if rollout_timeout.is_zero() {
            return Err(InvalidSettings::ZeroDuration {
                key: "rolloutTimeout",
            });
        }
        let interval = config.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval.is_zero() {
            return Err(InvalidSettings::ZeroDuration { key: "interval" });
        }
        for (workload, first) in &config.dependencies {
            if first.contains(workload) {
                return Err(InvalidSettings::SelfDependency {
                    workload: workload.clone(),
                });
            }
        }
        Ok(UpgradeSettings {
            windows,
            policy: Policy {
                default: config.auto_approve.unwrap_or_default(),
                by_namespace: config.namespace_auto_approve.clone(),
            },
            max_concurrent,
            group_concurrency,
            on_failure: config.on_failure.unwrap_or_default(),
            rollout_timeout,
            dependencies: config.dependencies.clone(),
            interval,
            dry_run: false,
            delivery: config.delivery.unwrap_or_default(),
            namespace_delivery: config.namespace_delivery.clone(),
            argocd_applications: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(text: &str) -> Result<UpgradeSettings, InvalidSettings> {
        UpgradeSettings::from_config(&Config::parse(text, "c.yaml").unwrap().upgrades)
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let s = settings("upgrades: {enabled: true}\n").unwrap();
        assert_eq!(
            (
                s.max_concurrent,
                s.group_concurrency,
                s.on_failure,
                s.rollout_timeout
            ),
            (1, 1, OnFailure::RollbackGroup, DEFAULT_ROLLOUT_TIMEOUT)
        );
        let s = settings("upgrades: {groupConcurrency: 3, onFailure: rollbackFailed}\n").unwrap();
        assert_eq!(
            (s.group_concurrency, s.on_failure),
            (3, OnFailure::RollbackFailed)
        );
        for (text, key) in [
            ("upgrades: {maxConcurrent: 0}\n", "upgrades.maxConcurrent"),
            (
                "upgrades: {groupConcurrency: 0}\n",
                "upgrades.groupConcurrency",
            ),
            (
                "upgrades: {defaultWindow: nights}\n",
                "upgrades.defaultWindow",
            ),
            (
                "upgrades: {windows: [{name: n, schedule: '0 2 * * *'}]}\n",
                "upgrades.windows[n].duration",
            ),
            (
                "upgrades: {windows: [{name: n, schedule: '0 2 * * *', duration: 1h, timeZone: Nowhere/City}]}\n",
                "upgrades.windows[n].timeZone",
            ),
            (
                "upgrades: {namespaceWindows: {hub: nope}}\n",
                "upgrades.namespaceWindows.hub",
            ),
            (
                "upgrades: {dependencies: {a: [a]}}\n",
                "upgrades.dependencies.a",
            ),
        ] {
            let err = settings(text).unwrap_err().to_string();
            assert!(err.starts_with(key), "{key}: {err}");
        }
    }
}
