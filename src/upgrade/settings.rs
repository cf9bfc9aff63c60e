//! The `upgrades:` configuration, checked: windows parsed, names resolved, defaults filled.

use std::collections::BTreeMap;
use std::time::Duration;

use super::policy::Policy;
use super::window::{Window, Windows};
use crate::config::UpgradesConfig;

/// Default `upgrades.rolloutTimeout`.
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default `upgrades.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Everything the upgrader needs from the configuration.
#[derive(Debug, Clone)]
pub struct UpgradeSettings {
    /// The windows and how one is chosen.
    pub windows: Windows,
    /// Auto-approval rules.
    pub policy: Policy,
    /// Upgrades applying at once.
    pub max_concurrent: usize,
    /// How long a rollout may take.
    pub rollout_timeout: Duration,
    /// Workload → workloads whose approved upgrades go first (same namespace).
    pub dependencies: BTreeMap<String, Vec<String>>,
    /// How often the upgrader takes its steps.
    pub interval: Duration,
    /// Decide and log, but write nothing (`run --dry-run`).
    pub dry_run: bool,
}

impl Default for UpgradeSettings {
    fn default() -> UpgradeSettings {
        UpgradeSettings {
            windows: Windows::default(),
            policy: Policy::default(),
            max_concurrent: 1,
            rollout_timeout: DEFAULT_ROLLOUT_TIMEOUT,
            dependencies: BTreeMap::new(),
            interval: DEFAULT_INTERVAL,
            dry_run: false,
        }
    }
}

impl UpgradeSettings {
    /// Checks `upgrades:`; every error names the key and value.
    pub fn from_config(config: &UpgradesConfig) -> Result<UpgradeSettings, String> {
        let mut windows = Vec::new();
        for (i, window) in config.windows.iter().enumerate() {
            let name = if window.name.trim().is_empty() {
                format!("{i}")
            } else {
                window.name.clone()
            };
            let duration = window.duration.ok_or_else(|| {
                format!("upgrades.windows[{name}].duration is required (e.g. 4h)")
            })?;
            let zone = window.time_zone.as_deref().unwrap_or("UTC");
            windows.push(
                Window::new(&window.name, &window.schedule, duration, zone)
                    .map_err(|e| e.to_string())?,
            );
        }
        let windows = Windows::new(
            windows,
            config.default_window.clone(),
            config.namespace_windows.clone(),
        )?;
        let max_concurrent = config.max_concurrent.unwrap_or(1);
        if max_concurrent == 0 {
            return Err(
                "upgrades.maxConcurrent: 0 would never apply anything; use at least 1".into(),
            );
        }
        let rollout_timeout = config.rollout_timeout.unwrap_or(DEFAULT_ROLLOUT_TIMEOUT);
        if rollout_timeout.is_zero() {
            return Err("upgrades.rolloutTimeout: must be longer than 0s".into());
        }
        let interval = config.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval.is_zero() {
            return Err("upgrades.interval: must be longer than 0s".into());
        }
        for (workload, first) in &config.dependencies {
            if first.contains(workload) {
                return Err(format!(
                    "upgrades.dependencies.{workload}: a workload cannot depend on itself"
                ));
            }
        }
        Ok(UpgradeSettings {
            windows,
            policy: Policy {
                default: config.auto_approve.unwrap_or_default(),
                by_namespace: config.namespace_auto_approve.clone(),
            },
            max_concurrent,
            rollout_timeout,
            dependencies: config.dependencies.clone(),
            interval,
            dry_run: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(text: &str) -> Result<UpgradeSettings, String> {
        UpgradeSettings::from_config(&Config::parse(text, "c.yaml").unwrap().upgrades)
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let s = settings("upgrades: {enabled: true}\n").unwrap();
        assert_eq!(
            (s.max_concurrent, s.rollout_timeout),
            (1, DEFAULT_ROLLOUT_TIMEOUT)
        );
        for (text, key) in [
            ("upgrades: {maxConcurrent: 0}\n", "upgrades.maxConcurrent"),
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
            let err = settings(text).unwrap_err();
            assert!(err.starts_with(key), "{key}: {err}");
        }
    }
}
