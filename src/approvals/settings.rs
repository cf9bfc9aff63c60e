//! The `slack:` section (and `upgrades.requiredApprovals`), checked at start: the signing
//! secret, app token and bot token read from their files now, the approvers parsed.
//!
//! In: the [`Config`]; the Slack API base URL when tests override it
//! ([`API_URL_VARIABLE`]). Out: [`SlackSettings`] when Slack approvals are configured (a
//! signing secret or an app token), or an [`InvalidApprovals`] naming the key (and file).
//! No error or `Debug` output ever shows a secret.

use std::path::{Path, PathBuf};

use ml_operator_notify::Secret;
use ml_operator_notify::slack_app::web::SlackWeb;
use url::Url;

use super::approvers::{Approvers, InvalidApprover};
use crate::config::Config;

/// Environment variable pointing the Slack Web API (and allowed `response_url`s) at a local
/// server: for tests only.
pub const API_URL_VARIABLE: &str = "ML_OPERATOR_SLACK_API_URL";

/// Slack approvals, ready to use.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// The signing secret (HTTP interactivity), when configured.
    pub signing_secret: Option<Secret>,
    /// The app-level token (Socket Mode), when configured.
    pub app_token: Option<Secret>,
    /// The Web API client (with the bot token, when configured).
    pub web: SlackWeb,
    /// Who may decide.
    pub approvers: Approvers,
    /// Different people needed to approve.
    pub required_approvals: usize,
}

/// A `slack:` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidApprovals {
    /// A secret file that cannot be read, or is empty.
    #[error("{key}: cannot read {}: {problem}", path.display())]
    Secret {
        /// The key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// An approver that is not an id.
    #[error(transparent)]
    Approver(#[from] InvalidApprover),
    /// No approvers.
    #[error("slack.approvers: name at least one Slack user id or user-group id who may approve")]
    NoApprovers,
    /// User groups without the bot token to look them up.
    #[error(
        "slack.approvers names user groups: slack.botTokenFile is needed to read their members"
    )]
    GroupsNeedBotToken,
    /// Slack approvals without upgrades.
    #[error("slack.signingSecretFile / slack.appTokenFile: approvals need upgrades.enabled: true")]
    UpgradesOff,
    /// `upgrades.requiredApprovals: 0`.
    #[error("upgrades.requiredApprovals: 0 would approve without anyone; use at least 1")]
    NoRequiredApprovals,
    /// The test override of the API URL is not a URL.
    #[error("{API_URL_VARIABLE}: not a URL")]
    ApiUrl,
    /// The Web API client could not be built.
    #[error("slack: {0}")]
    Client(String),
}

impl SlackSettings {
    /// Checks the section; `None` when neither a signing secret nor an app token is set.
    /// `api_url` is [`API_URL_VARIABLE`]'s value, if set.
    pub fn from_config(
        config: &Config,
        api_url: Option<&str>,
    ) -> Result<Option<SlackSettings>, InvalidApprovals> {
        let required_approvals = config.upgrades.required_approvals.unwrap_or(1);
        if required_approvals == 0 {
            return Err(InvalidApprovals::NoRequiredApprovals);
        }
        let slack = &config.slack;
        if slack.signing_secret_file.is_none() && slack.app_token_file.is_none() {
            return Ok(None);
        }
        if !config.upgrades.enabled {
            return Err(InvalidApprovals::UpgradesOff);
        }
        let read =
            |key, path: &Option<PathBuf>| path.as_deref().map(|p| read_secret(key, p)).transpose();
        let signing_secret = read("slack.signingSecretFile", &slack.signing_secret_file)?;
        let app_token = read("slack.appTokenFile", &slack.app_token_file)?;
        let bot_token = read("slack.botTokenFile", &slack.bot_token_file)?;
        let approvers = Approvers::parse(&slack.approvers)?;
        if approvers.is_empty() {
            return Err(InvalidApprovals::NoApprovers);
        }
        if approvers.has_groups() && bot_token.is_none() {
            return Err(InvalidApprovals::GroupsNeedBotToken);
        }
        let base = api_url
            .map(|u| Url::parse(u).map_err(|_| InvalidApprovals::ApiUrl))
            .transpose()?;
        let web =
            SlackWeb::new(base, bot_token).map_err(|e| InvalidApprovals::Client(e.to_string()))?;
        Ok(Some(SlackSettings {
            signing_secret,
            app_token,
            web,
            approvers,
            required_approvals,
        }))
    }
}

/// The secret in `path`, trimmed; an error naming `key` when it cannot be read or is empty.
fn read_secret(key: &'static str, path: &Path) -> Result<Secret, InvalidApprovals> {
    let problem = |problem: String| InvalidApprovals::Secret {
        key,
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(problem("the file is empty".into()));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn secrets_come_from_files_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signing");
        std::fs::write(&secret, "s3cr3t-signing\n").unwrap();
        let yaml = |extra: &str| {
            format!(
                "upgrades: {{enabled: true}}\nslack:\n  signingSecretFile: {}\n{extra}",
                secret.display()
            )
        };
        let settings =
            SlackSettings::from_config(&config(&yaml("  approvers: [U012ABCDEF]\n")), None)
                .unwrap()
                .unwrap();
        assert_eq!(
            settings.signing_secret.as_ref().unwrap().expose(),
            "s3cr3t-signing"
        );
        assert_eq!(settings.required_approvals, 1);
        assert!(!format!("{settings:?}").contains("s3cr3t"));
        let error = |extra: &str| {
            SlackSettings::from_config(&config(&yaml(extra)), None)
                .unwrap_err()
                .to_string()
        };
        assert!(error("").contains("slack.approvers"));
        assert!(error("  approvers: [S0GROUPID]\n").contains("slack.botTokenFile"));
        assert!(error("  approvers: [amina]\n").contains("\"amina\""));
        let missing = error("  approvers: [U1AB]\n  botTokenFile: /nonexistent/bot\n");
        assert!(
            missing.starts_with("slack.botTokenFile: cannot read /nonexistent/bot"),
            "{missing}"
        );
        let off = SlackSettings::from_config(
            &config(&format!(
                "slack:\n  signingSecretFile: {}\n  approvers: [U1AB]\n",
                secret.display()
            )),
            None,
        )
        .unwrap_err();
        assert!(matches!(off, InvalidApprovals::UpgradesOff));
        assert!(
            SlackSettings::from_config(&config("upgrades: {requiredApprovals: 0}\n"), None)
                .is_err()
        );
        assert!(
            SlackSettings::from_config(&config("{}"), None)
                .unwrap()
                .is_none()
        );
    }
}
