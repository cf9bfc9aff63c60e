//! The configured notifiers, built once at start.
//!
//! In: the `notify:` section (Slack, Teams, webhooks; URLs given inline or as files). Out: the
//! Slack, Teams and webhook notifiers of the `ml-operator-notify` crate, their secrets read
//! from files now — or an [`InvalidNotifier`] naming the key and file, so a missing secret
//! fails at start rather than at the first notification.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ml_operator_notify::slack::Slack;
use ml_operator_notify::teams::Teams;
use ml_operator_notify::{
    ChatFormat, ChatNotifier, ChatOptions, Notifier, NotifyError, RetryPolicy, Secret,
    WebhookNotifier,
};

use crate::config::{Config, SecretUrl};

/// A notifier that cannot be built: names the key (`notify.webhooks[0].webhookUrlFile`) and,
/// where there is one, the file.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct InvalidNotifier {
    key: String,
    problem: Problem,
}

/// What is wrong with a notifier's settings.
#[derive(Debug, thiserror::Error)]
enum Problem {
    /// Both the URL and a file holding it.
    #[error("give webhookUrl or webhookUrlFile, not both")]
    BothUrls,
    /// Neither the URL nor a file holding it.
    #[error("webhookUrl or webhookUrlFile is required")]
    NoUrl,
    /// A secret file that cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A secret file holding only white space.
    #[error("{} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The notifier refused the settings (a URL that is not one, a client not built).
    #[error(transparent)]
    Rejected(Box<NotifyError>),
}

/// `problem` at `key`.
fn invalid(key: &str, problem: Problem) -> InvalidNotifier {
    InvalidNotifier {
        key: key.to_string(),
        problem,
    }
}

/// The notifier at `key` refused its settings.
fn rejected(key: &str) -> impl FnOnce(NotifyError) -> InvalidNotifier + '_ {
    move |e| invalid(key, Problem::Rejected(Box::new(e)))
}

/// Builds the HTTP notifiers from the configuration (secrets read from their files now, so a
/// missing file fails at start naming it).
pub fn http_notifiers(config: &Config) -> Result<Vec<Arc<dyn Notifier>>, InvalidNotifier> {
    let retry = RetryPolicy::default();
    let chat_options = ChatOptions {
        include_commands: config.notify.kubectl_patch_instructions.unwrap_or(true),
        ..ChatOptions::default()
    };
    let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::new();
    if let Some(url) = &config.notify.slack {
        let url_key = "notify.slack (SLACK_WEBHOOK_URL)";
        let slack = chat::<Slack>(url, url_key, "notify.slack", &chat_options, retry)?;
        notifiers.push(slack);
    }
    if let Some(url) = &config.notify.teams {
        let key = "notify.teams";
        notifiers.push(chat::<Teams>(url, key, key, &chat_options, retry)?);
    }
    for (i, webhook) in config.notify.webhooks.iter().enumerate() {
        let key = format!("notify.webhooks[{i}]");
        let url = read_secret_url(&webhook.url, &key)?;
        let signing_key = match &webhook.signing_key_file {
            Some(path) => Some(read_secret_file(path, &format!("{key}.signingKeyFile"))?),
            None => None,
        };
        let mut notifier = WebhookNotifier::new(url, signing_key, retry).map_err(rejected(&key))?;
        if let Some(name) = &webhook.name {
            notifier = notifier.with_name(name);
        }
        notifiers.push(Arc::new(notifier));
    }
    Ok(notifiers)
}

/// A Slack or Teams notifier: its URL read from `url` (errors name `url_key`), then built
/// (errors name `key`).
fn chat<F: ChatFormat + 'static>(
    url: &SecretUrl,
    url_key: &str,
    key: &str,
    options: &ChatOptions,
    retry: RetryPolicy,
) -> Result<Arc<dyn Notifier>, InvalidNotifier> {
    let url = read_secret_url(url, url_key)?;
    let notifier = ChatNotifier::<F>::new(url, options.clone(), retry).map_err(rejected(key))?;
    Ok(Arc::new(notifier))
}

/// The URL given inline, or read from its file.
fn read_secret_url(url: &SecretUrl, key: &str) -> Result<Secret, InvalidNotifier> {
    match (&url.webhook_url, &url.webhook_url_file) {
        (Some(url), None) => Ok(Secret::new(url.trim())),
        (None, Some(path)) => read_secret_file(path, &format!("{key}.webhookUrlFile")),
        (Some(_), Some(_)) => Err(invalid(key, Problem::BothUrls)),
        (None, None) => Err(invalid(key, Problem::NoUrl)),
    }
}

/// A secret file's content, trimmed; never empty.
fn read_secret_file(path: &Path, key: &str) -> Result<Secret, InvalidNotifier> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        invalid(
            key,
            Problem::Unreadable {
                path: path.to_path_buf(),
                error,
            },
        )
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(
            key,
            Problem::Empty {
                path: path.to_path_buf(),
            },
        ));
    }
    Ok(Secret::new(text))
}
