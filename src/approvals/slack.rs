//! A click on a proposal's Approve or Reject button, from Slack's HTTP interactivity endpoint
//! or Socket Mode: verified (HTTP: Slack's request signature, 5-minute bound), read as a
//! `block_actions` payload, its clicker checked against `slack.approvers`, the decision
//! counted on the ImageUpgrade ([`crate::upgrade::vote::cast`], bound to the button's
//! [`Ballot`]), then the message updated in place (`chat.update` with the bot token, else the
//! click's `response_url`) and the decision told in the message's thread (bot token). Someone
//! not allowed, a stale button, a repeated click get an ephemeral answer; nothing changes.
//!
//! In: a delivery's headers and raw body (HTTP) or payload (Socket Mode). Out: a
//! [`Refused`] for deliveries that are not Slack's (the HTTP layer answers 401/400), else the
//! decision recorded and Slack answered; every decision and refusal logged naming the user.

use chrono::Utc;
use kube::Client;
use ml_operator_notify::slack_app::action::{BlockAction, Choice, PayloadError};
use ml_operator_notify::slack_app::signature::{self, SignatureError};
use serde_json::Value;

use super::message;
use super::settings::SlackSettings;
use crate::upgrade::ballot::Ballot;
use crate::upgrade::decide::Decision;
use crate::upgrade::vote::{self, Outcome, VoteError, Voter};

/// Why a delivery was refused before anything was looked at.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not signed by Slack with our secret, or too old (HTTP 401).
    #[error("not a request from Slack: {0}")]
    Signature(#[from] SignatureError),
    /// Signed, but not a click on one of our buttons (HTTP 400).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// HTTP interactivity is not configured (no signing secret) (HTTP 404).
    #[error("slack.signingSecretFile is not configured")]
    NotConfigured,
}

/// Slack approvals: the settings and the cluster.
pub struct SlackApprovals {
    settings: SlackSettings,
    client: Client,
}

impl SlackApprovals {
    /// Approvals through `settings`, written with `client`.
    pub fn new(settings: SlackSettings, client: Client) -> SlackApprovals {
        SlackApprovals { settings, client }
    }

    /// The settings.
    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    /// Checks an HTTP delivery (the two signing headers, the raw body, now in Unix seconds)
    /// and reads the click.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<BlockAction, Refused> {
        let secret = self
            .settings
            .signing_secret
            .as_ref()
            .ok_or(Refused::NotConfigured)?;
        signature::verify(secret, timestamp, signature, body, now)?;
        Ok(BlockAction::from_form(body)?)
    }

    /// Decides a Socket Mode `block_actions` payload (already acknowledged): like an HTTP
    /// click, without the signature (the socket is the app's own connection to Slack).
    pub async fn decide_payload(&self, payload: Value) {
        match BlockAction::from_json(payload) {
            Ok(click) => self.decide(click).await,
            Err(e) => tracing::warn!("slack socket mode: {e}; ignored"),
        }
    }

    /// Decides `click` and answers in Slack. Never fails: every problem is logged and, where
    /// Slack can be reached, told to the clicker.
    pub async fn decide(&self, click: BlockAction) {
        let user = click.user_id.clone();
        let answer = match self.outcome(&click).await {
            Ok((ballot, outcome)) => {
                let voter = format!("slack:{user}");
                tracing::info!(
                    user = %user,
                    "slack: {} {}/{}: {outcome:?}",
                    voter,
                    ballot.namespace,
                    ballot.name
                );
                match message::status_line(&outcome, &voter) {
                    Some((line, keep_buttons)) => {
                        self.show(&click, &line, keep_buttons).await;
                        return;
                    }
                    None => message::unchanged_line(&outcome).unwrap_or_default(),
                }
            }
            Err(text) => text,
        };
        self.tell(&click, &answer).await;
    }

    /// The click's effect, or what to tell the clicker when there was none.
    async fn outcome(&self, click: &BlockAction) -> Result<(Ballot, Outcome), String> {
        let user = &click.user_id;
        let ballot = Ballot::parse(&click.value).map_err(|e| {
            tracing::warn!(user = %user, "slack: {e}; refused");
            "This button was not made by ml-operator. Nothing changed.".to_string()
        })?;
        match self
            .settings
            .approvers
            .allow(user, &self.settings.web)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    user = %user,
                    "slack: {user} is not in slack.approvers; refused a decision on {}/{}",
                    ballot.namespace,
                    ballot.name
                );
                return Err("You are not allowed to approve or reject upgrades (not in ml-operator's slack.approvers). Nothing changed.".into());
            }
            Err(e) => {
                tracing::warn!(user = %user, "slack: cannot check the approvers' groups: {e}; refused");
                return Err("ml-operator could not check whether you may approve (Slack user groups unavailable). Nothing changed; try again.".into());
            }
        }
        let decision = match click.choice {
            Choice::Approve => Decision::Approve,
            Choice::Reject => Decision::Reject,
        };
        let voter = Voter {
            id: format!("slack:{user}"),
            name: click.user_name.clone(),
            how: "slack",
        };
        let outcome = vote::cast(
            &self.client,
            &vote::Request {
                namespace: &ballot.namespace,
                name: &ballot.name,
                made_on: Some(&ballot),
                decision,
                voter: &voter,
                required: self.settings.required_approvals,
                // Recorded only when the bot token can post in the thread later.
                thread: click
                    .channel
                    .as_deref()
                    .zip(click.message_ts.as_deref())
                    .filter(|_| self.settings.web.has_bot_token()),
            },
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            VoteError::NotFound { .. } => {
                "Nothing changed: the ImageUpgrade no longer exists.".to_string()
            }
            e => {
                tracing::error!(user = %user, "slack: recording a decision: {e}");
                "Nothing changed: ml-operator could not record the decision; try again.".into()
            }
        })?;
        Ok((ballot, outcome))
    }

    /// Updates the proposal in place with `line` and tells the decision in its thread.
    async fn show(&self, click: &BlockAction, line: &str, keep_buttons: bool) {
        let web = &self.settings.web;
        let updated = message::updated(click.message.as_ref(), line, keep_buttons);
        let place = click.channel.as_deref().zip(click.message_ts.as_deref());
        let result = match (place, &click.response_url) {
            (Some((channel, ts)), _) if web.has_bot_token() => {
                web.update_message(channel, ts, &updated).await
            }
            (_, Some(url)) => {
                let mut body = updated;
                body["replace_original"] = Value::Bool(true);
                web.respond(url, &body).await
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!("slack: updating the proposal message: {e}");
        }
        if let Some((channel, ts)) = place
            && web.has_bot_token()
            && let Err(e) = web.post_in_thread(channel, ts, line).await
        {
            tracing::warn!("slack: replying in the proposal's thread: {e}");
        }
    }

    /// An ephemeral answer to the clicker (through the click's `response_url`).
    async fn tell(&self, click: &BlockAction, text: &str) {
        if let Some(url) = &click.response_url
            && let Err(e) = self
                .settings
                .web
                .respond(url, &message::ephemeral(text))
                .await
        {
            tracing::warn!("slack: answering the clicker: {e}");
        }
    }
}
