//! Upgrade notices: what happened to one proposed image upgrade (an `ImageUpgrade` object) —
//! proposed and waiting for approval, succeeded, rolled back, or failed. Each notifier renders
//! it in its own format through [`Notifier::notify_upgrade`](crate::Notifier::notify_upgrade).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::text::slack_escape;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeEvent {
    /// A new upgrade waits for a person to approve it.
    Proposed,
    /// The upgrade was applied and rolled out.
    Succeeded,
    /// The rollout failed and the previous image was restored.
    RolledBack,
    /// The upgrade could not be applied (or rolled back); the message says why.
    Failed,
}

impl UpgradeEvent {
    /// The wire name, prefixed for the webhook's `X-ML-Operator-Event`: `upgrade-succeeded`, …
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeEvent::Proposed => "upgrade-proposed",
            UpgradeEvent::Succeeded => "upgrade-succeeded",
            UpgradeEvent::RolledBack => "upgrade-rolled-back",
            UpgradeEvent::Failed => "upgrade-failed",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            UpgradeEvent::Proposed => "is available and waits for approval",
            UpgradeEvent::Succeeded => "succeeded",
            UpgradeEvent::RolledBack => "failed and was rolled back",
            UpgradeEvent::Failed => "failed",
        }
    }

    fn emoji(self) -> &'static str {
        match self {
            UpgradeEvent::Proposed => ":arrow_up:",
            UpgradeEvent::Succeeded => ":white_check_mark:",
            UpgradeEvent::RolledBack => ":rewind:",
            UpgradeEvent::Failed => ":x:",
        }
    }
}

/// One upgrade's news.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeNotice {
    /// What happened.
    pub event: UpgradeEvent,
    /// Name of the cluster or hub, shown when set.
    pub cluster: Option<String>,
    /// The `ImageUpgrade` object's name.
    pub upgrade: String,
    /// Namespace of the workload (and of the ImageUpgrade).
    pub namespace: String,
    /// Workload kind, e.g. `Deployment`.
    pub kind: String,
    /// Workload name.
    pub name: String,
    /// Container name.
    pub container: String,
    /// The image before.
    pub from_image: String,
    /// The image proposed.
    pub to_image: String,
    /// Details: the reason for a rollback or failure, the window for a proposal.
    pub message: String,
    /// Commands that approve the upgrade (`ml-operator approve …`, `kubectl patch …`), for
    /// proposals.
    pub approve_commands: Vec<String>,
}

impl UpgradeNotice {
    /// The one-line summary every format starts with.
    pub fn headline(&self) -> String {
        let mut line = format!(
            "upgrade of {} {}/{} (container {}) from {} to {} {}",
            self.kind,
            self.namespace,
            self.name,
            self.container,
            self.from_image,
            self.to_image,
            self.event.verb()
        );
        if let Some(cluster) = &self.cluster {
            line.push_str(&format!(" on {cluster}"));
        }
        line
    }
}

/// The Slack message: `text` (also the notification fallback) and Block Kit blocks.
pub fn slack_message(n: &UpgradeNotice) -> Value {
    let mut text = format!(
        "*ml-operator* {} - upgrade of `{}` {}/{} (container `{}`) from `{}` to `{}` {}",
        n.event.emoji(),
        slack_escape(&n.kind),
        slack_escape(&n.namespace),
        slack_escape(&n.name),
        slack_escape(&n.container),
        slack_escape(&n.from_image),
        slack_escape(&n.to_image),
        n.event.verb()
    );
    if let Some(cluster) = &n.cluster {
        text.push_str(&format!(" on {}", slack_escape(cluster)));
    }
    if !n.message.is_empty() {
        text.push_str(&format!("\n{}", slack_escape(&n.message)));
    }
    if !n.approve_commands.is_empty() {
        text.push_str("\nApprove with:\n```\n");
        text.push_str(&n.approve_commands.join("\n"));
        text.push_str("\n```");
    }
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": crate::text::truncate(&text, crate::slack::MAX_SECTION_CHARS) } }]);
    json!({ "text": text, "blocks": blocks })
}

/// The Teams message: an Adaptive Card with the headline, details and commands.
pub fn teams_message(n: &UpgradeNotice) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": format!("ml-operator: {}", n.headline()), "wrap": true, "weight": "Bolder", "size": "Medium"}),
    ];
    if !n.message.is_empty() {
        body.push(json!({"type": "TextBlock", "text": n.message, "wrap": true}));
    }
    for command in &n.approve_commands {
        body.push(
            json!({"type": "TextBlock", "text": command, "wrap": true, "fontType": "Monospace"}),
        );
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            }
        }]
    })
}

/// The webhook body: `{"schemaVersion":1, "event":"upgrade-…", "upgrade":…, …}`.
pub fn webhook_body(n: &UpgradeNotice) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(n)?;
    value["schemaVersion"] = json!(crate::webhook::SCHEMA_VERSION);
    value["event"] = json!(n.event.as_str());
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(event: UpgradeEvent) -> UpgradeNotice {
        UpgradeNotice {
            event,
            cluster: None,
            upgrade: "central-ledger-central-ledger-v13.14.1".into(),
            namespace: "hub".into(),
            kind: "Deployment".into(),
            name: "central-ledger".into(),
            container: "central-ledger".into(),
            from_image: "mojaloop/central-ledger:v13.14.0".into(),
            to_image: "mojaloop/central-ledger:v13.14.1".into(),
            message: String::new(),
            approve_commands: vec![],
        }
    }

    #[test]
    fn renders_every_format() {
        let mut n = notice(UpgradeEvent::Proposed);
        n.approve_commands =
            vec!["ml-operator approve central-ledger-central-ledger-v13.14.1 -n hub".into()];
        let slack = slack_message(&n);
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("from `mojaloop/central-ledger:v13.14.0` to `mojaloop/central-ledger:v13.14.1` is available"), "{text}");
        assert!(
            text.contains("ml-operator approve central-ledger-central-ledger-v13.14.1 -n hub"),
            "{text}"
        );
        let teams = teams_message(&notice(UpgradeEvent::RolledBack));
        let title = teams["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap();
        assert!(title.ends_with("failed and was rolled back"), "{title}");
        let body: Value =
            serde_json::from_slice(&webhook_body(&notice(UpgradeEvent::Succeeded)).unwrap())
                .unwrap();
        assert_eq!(body["event"], "upgrade-succeeded");
        assert_eq!(body["schemaVersion"], 1);
        assert_eq!(body["toImage"], "mojaloop/central-ledger:v13.14.1");
    }
}
