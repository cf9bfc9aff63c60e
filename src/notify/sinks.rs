//! Where notifications go: the HTTP notifiers built from the configuration (their secrets read
//! from files at start, so a missing file fails naming it) and Kubernetes Events.

use std::path::Path;
use std::sync::Arc;

use ml_operator_notify::{
    Notification, Notifier, RetryPolicy, Secret, SlackNotifier, SlackOptions, TeamsNotifier,
    TeamsOptions, WebhookNotifier,
};

use crate::config::{Config, SecretUrl};
use crate::notify::events::EventRecorder;
use crate::operator::settings::StartError;

/// One place a notification goes.
pub enum Sink {
    /// Slack, Teams or a webhook.
    Http(Arc<dyn Notifier>),
    /// Kubernetes Events on the workloads.
    Events(EventRecorder),
}

impl Sink {
    /// The name state, logs and metrics use (`slack`, `events`, a webhook's name).
    pub fn name(&self) -> String {
        match self {
            Sink::Http(notifier) => notifier.name().to_string(),
            Sink::Events(_) => "events".to_string(),
        }
    }

    /// Delivers one notification; the error says why it was not delivered.
    pub async fn send(&self, notification: &Notification) -> Result<(), String> {
        match self {
            Sink::Http(notifier) => notifier
                .notify(notification)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Sink::Events(recorder) => recorder.publish(notification).await.map(|_| ()),
        }
    }
}

/// Builds the HTTP notifiers from the configuration (secrets read from their files now, so a
/// missing file fails at start naming it).
pub fn http_notifiers(config: &Config) -> Result<Vec<Arc<dyn Notifier>>, StartError> {
    let include_commands = config.notify.kubectl_patch_instructions.unwrap_or(true);
    let retry = RetryPolicy::default();
    let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::new();
    if let Some(url) = &config.notify.slack {
        let url = read_secret_url(url, "notify.slack (SLACK_WEBHOOK_URL)")?;
        let options = SlackOptions {
            include_commands,
            ..SlackOptions::default()
        };
        notifiers.push(Arc::new(
            SlackNotifier::new(url, options, retry).map_err(|e| format!("notify.slack: {e}"))?,
        ));
    }
    if let Some(url) = &config.notify.teams {
        let url = read_secret_url(url, "notify.teams")?;
        let options = TeamsOptions {
            include_commands,
            ..TeamsOptions::default()
        };
        notifiers.push(Arc::new(
            TeamsNotifier::new(url, options, retry).map_err(|e| format!("notify.teams: {e}"))?,
        ));
    }
    for (i, webhook) in config.notify.webhooks.iter().enumerate() {
        let key = format!("notify.webhooks[{i}]");
        let url = read_secret_url(&webhook.url, &key)?;
        let signing_key = match &webhook.signing_key_file {
            Some(path) => Some(read_secret_file(path, &format!("{key}.signingKeyFile"))?),
            None => None,
        };
        let mut notifier =
            WebhookNotifier::new(url, signing_key, retry).map_err(|e| format!("{key}: {e}"))?;
        if let Some(name) = &webhook.name {
            notifier = notifier.with_name(name);
        }
        notifiers.push(Arc::new(notifier));
    }
    Ok(notifiers)
}

fn read_secret_url(url: &SecretUrl, key: &str) -> Result<Secret, StartError> {
    match (&url.webhook_url, &url.webhook_url_file) {
        (Some(url), None) => Ok(Secret::new(url.trim())),
        (None, Some(path)) => read_secret_file(path, &format!("{key}.webhookUrlFile")),
        (Some(_), Some(_)) => Err(format!(
            "{key}: give webhookUrl or webhookUrlFile, not both"
        )),
        (None, None) => Err(format!("{key}: webhookUrl or webhookUrlFile is required")),
    }
}

fn read_secret_file(path: &Path, key: &str) -> Result<Secret, StartError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{key}: {} is empty", path.display()));
    }
    Ok(Secret::new(text))
}
