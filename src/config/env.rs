//! The original ml-operator's environment variables (and ours), which keep their meaning and
//! win over the configuration file for every command.

use ml_operator_version::Strategy;

use super::{Config, InvalidConfig, SecretUrl};

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
            self.services = parse_services(&value)?;
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

/// `SERVICES` as either program writes it: the original's JSON array
/// (`["central-ledger","quoting-service"]`, what its convict schema parses) or a comma list
/// (`central-ledger,quoting-service`). Anything else is refused rather than matching nothing.
fn parse_services(value: &str) -> Result<Vec<String>, InvalidConfig> {
    let fail = |problem: String| InvalidConfig {
        location: "environment variable SERVICES".to_string(),
        problem,
    };
    let value = value.trim();
    let names: Vec<String> = if value.starts_with('[') {
        serde_json::from_str::<Vec<String>>(value).map_err(|e| {
            fail(format!(
                "{value:?} is neither a JSON array of names (like [\"central-ledger\",\"quoting-service\"]) \
                 nor a comma-separated list: {e}"
            ))
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
        crate::inventory::selector::check_label_value(name).map_err(|_| {
            fail(format!(
                "{name:?} is not a label value (the app.kubernetes.io/name of a workload); \
                 give a JSON array like [\"central-ledger\"] or a comma-separated list"
            ))
        })?;
    }
    Ok(names)
}
