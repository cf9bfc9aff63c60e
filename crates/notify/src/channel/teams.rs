//! Microsoft Teams: a scan's [`Notification`] as Adaptive Card 1.4 messages — one card
//! section per upgrade group with its workloads' commands — split above [`SPLIT_BYTES`]
//! ([`render`]), and an [`UpgradeNotice`] as one card ([`render_upgrade`]), for Incoming
//! Webhooks and Workflows URLs.

use serde_json::{Value, json};

use crate::channel::chat::{ChatFormat, ChatNotifier, ChatOptions, split, title};
use crate::groups::{UpdateGroup, groups};
use crate::model::Notification;
use crate::notice::UpgradeNotice;
use crate::text::truncate;

/// Payload size a report is split at. Teams refuses messages above about 28 KB.
pub const SPLIT_BYTES: usize = 25_000;

/// How Teams messages are written and paced.
pub type TeamsOptions = ChatOptions;

/// Sends notifications to a Microsoft Teams Incoming Webhook or a Power Automate Workflows
/// ("When a Teams webhook request is received") URL, as an Adaptive Card.
///
/// Any 2xx is delivered, except the old connector's `200` whose body starts with
/// `Webhook message delivery failed`, which is a final [`ErrorKind::Refused`](crate::ErrorKind::Refused).
pub type TeamsNotifier = ChatNotifier<Teams>;

/// Microsoft Teams' message format (see [`TeamsNotifier`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Teams;

impl ChatFormat for Teams {
    const KIND: &'static str = "teams";
    const TYPE_NAME: &'static str = "TeamsNotifier";

    fn render(n: &Notification, options: &TeamsOptions) -> Vec<Value> {
        render(n, options)
    }

    fn render_upgrade(n: &UpgradeNotice) -> Value {
        render_upgrade(n)
    }

    fn accept(body: &str) -> Result<(), String> {
        accept(body)
    }
}

/// The retired Office 365 connector answered some failures with `200` and an error text.
fn accept(body: &str) -> Result<(), String> {
    let body = body.trim();
    if body.starts_with("Webhook message delivery failed") {
        Err(format!("`{body}`"))
    } else {
        Ok(())
    }
}

/// Renders the Teams messages for `n`: one Adaptive Card message, or several `(part i/n)`
/// messages each under [`SPLIT_BYTES`] serialized (unless one group alone is larger). One
/// section per upgrade group, in order, each in exactly one part; resolved updates and
/// failures in the last.
pub fn render(n: &Notification, options: &TeamsOptions) -> Vec<Value> {
    let groups = groups(&n.updates, &n.added);
    let fits = |chunk: &[UpdateGroup]| {
        let card = card(body(n, chunk, options, Some((999, 999)), true));
        serde_json::to_vec(&card)
            .map(|b| b.len())
            .unwrap_or(usize::MAX)
            <= SPLIT_BYTES
    };
    let chunks = split(&groups, fits);
    let total = chunks.len();
    let mut cards: Vec<Value> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let part = (total > 1).then_some((i + 1, total));
            card(body(n, chunk, options, part, i + 1 == total))
        })
        .collect();
    cards.extend(render_alerts(n));
    cards
}

/// The supply-chain alerts of a notification as one more card (a title, then each alert with
/// both digests); `None` without alerts.
pub fn render_alerts(n: &Notification) -> Option<Value> {
    if n.alerts.is_empty() {
        return None;
    }
    let on = n
        .cluster
        .as_ref()
        .map(|c| format!(" on {c}"))
        .unwrap_or_default();
    let mut body = vec![
        json!({"type": "TextBlock", "wrap": true, "weight": "Bolder",
        "size": "Large", "color": "Warning",
        "text": format!("ml-operator: {} supply-chain alert{}{on}", n.alerts.len(),
            if n.alerts.len() == 1 { "" } else { "s" })}),
    ];
    for alert in &n.alerts {
        body.push(text_block(alert.headline()));
        if let (Some(running), Some(registry)) = (&alert.running_digest, &alert.registry_digest) {
            body.push(
                json!({"type": "TextBlock", "wrap": true, "fontType": "Monospace",
                "text": format!("running {running} · registry {registry}")}),
            );
        }
    }
    Some(card(body))
}

/// The envelope Teams expects around an Adaptive Card with `body`.
fn card(body: Vec<Value>) -> Value {
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

fn text_block(text: impl Into<String>) -> Value {
    json!({ "type": "TextBlock", "text": text.into(), "wrap": true })
}

fn body(
    n: &Notification,
    chunk: &[UpdateGroup],
    options: &TeamsOptions,
    part: Option<(usize, usize)>,
    last: bool,
) -> Vec<Value> {
    let count = n.updates.len();
    let mut title = title(n);
    if let Some((i, total)) = part {
        title.push_str(&format!(" (part {i}/{total})"));
    }
    let mut body = vec![json!({
        "type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": true
    })];
    if !chunk.is_empty() {
        body.push(text_block(
            "The following services are not on the latest secure version and should be updated:",
        ));
    }
    for group in chunk {
        let mut summary = group.summary.clone();
        if group.new {
            summary.push_str(" (new)");
        }
        body.push(json!({
            "type": "TextBlock", "text": summary, "weight": "Bolder", "wrap": true, "spacing": "Medium"
        }));
        let facts: Vec<Value> = group
            .workloads
            .iter()
            .map(|w| {
                let containers: Vec<String> = w
                    .containers
                    .iter()
                    .map(|c| {
                        if c.init_container {
                            format!("{} (init container)", c.name)
                        } else {
                            c.name.clone()
                        }
                    })
                    .collect();
                let mut value = containers.join(", ");
                if let Some(release) = &w.helm_release {
                    value.push_str(&format!(" · Helm release {release}"));
                }
                if let Some(in_git) = &w.in_git {
                    value.push_str(&format!(" · {in_git}"));
                }
                json!({ "title": format!("{} {}", w.kind, w.name), "value": value })
            })
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
        if !group.strategy.is_empty() {
            body.push(json!({
                "type": "TextBlock", "text": format!("{}: {}", group.strategy, truncate(&group.reason, 300)),
                "isSubtle": true, "wrap": true, "spacing": "Small"
            }));
        }
        let commands = group.commands();
        if options.include_commands && !commands.is_empty() {
            body.push(json!({
                "type": "TextBlock", "text": "Use the following commands to patch your deployments with kubectl:",
                "weight": "Bolder", "wrap": true
            }));
            for c in commands {
                body.push(json!({
                    "type": "TextBlock", "text": c, "fontType": "Monospace", "wrap": true, "spacing": "Small"
                }));
            }
        }
    }
    if last && !n.resolved.is_empty() {
        body.push(json!({
            "type": "TextBlock", "text": format!("Resolved since the last notification ({})", n.resolved.len()),
            "weight": "Bolder", "wrap": true
        }));
        let facts: Vec<Value> = n
            .resolved
            .iter()
            .take(50)
            .map(|u| json!({ "title": format!("{}/{}", u.namespace, u.name), "value": format!("{} was {}", u.repository, u.current_tag) }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
        if n.resolved.len() > 50 {
            body.push(text_block(format!("…and {} more", n.resolved.len() - 50)));
        }
    }
    if last && !n.failures.is_empty() {
        let k = n.failures.len();
        let mut text = format!(
            "Warning: encountered {k} processing errors. Please check your logs for more information."
        );
        for f in n.failures.iter().take(20) {
            text.push_str(&format!("\n\n- {}", truncate(f, 300)));
        }
        if k > 20 {
            text.push_str(&format!("\n\n…and {} more", k - 20));
        }
        body.push(json!({ "type": "TextBlock", "text": text, "color": "Warning", "wrap": true }));
    }
    let mut context = format!(
        "{} pending · {} new · {} resolved",
        count,
        n.added.len(),
        n.resolved.len()
    );
    if !n.failures.is_empty() {
        context.push_str(&format!(" · {} could not be checked", n.failures.len()));
    }
    body.push(json!({ "type": "TextBlock", "text": context, "isSubtle": true, "size": "Small", "wrap": true }));
    body
}

/// The Teams message for an upgrade notice: an Adaptive Card with the headline (naming the
/// group), a fact per workload with its result, the rollback, details and commands.
pub fn render_upgrade(n: &UpgradeNotice) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": format!("ml-operator: {}", n.headline()), "wrap": true, "weight": "Bolder", "size": "Medium"}),
        json!({"type": "TextBlock", "text": format!("ImageUpgrade {} in {}", n.upgrade, n.namespace), "wrap": true, "isSubtle": true}),
    ];
    let facts: Vec<Value> = n
        .workloads
        .iter()
        .map(|w| {
            let containers: Vec<String> = w
                .containers
                .iter()
                .map(|c| {
                    if c.init_container {
                        format!("{} (init container)", c.name)
                    } else {
                        c.name.clone()
                    }
                })
                .collect();
            let mut value = containers.join(", ");
            if let Some(result) = &w.result {
                value.push_str(&format!(" · **{result}**"));
            }
            if let Some(detail) = &w.detail {
                value.push_str(&format!(" · {}", truncate(detail, 300)));
            }
            json!({"title": format!("{} {}", w.kind, w.name), "value": value})
        })
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(rollback) = &n.rollback {
        body.push(json!({"type": "TextBlock", "text": format!("Rolled back: {rollback}"), "wrap": true, "color": "Warning"}));
    }
    if !n.message.is_empty() {
        body.push(json!({"type": "TextBlock", "text": n.message, "wrap": true}));
    }
    for command in &n.approve_commands {
        body.push(
            json!({"type": "TextBlock", "text": command, "wrap": true, "fontType": "Monospace"}),
        );
    }
    card(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::UpgradeEvent;

    #[test]
    fn alerts_come_as_one_more_card() {
        let n = Notification::diff(crate::model::Event::Changed, None, &[], &[], vec![])
            .with_alerts(vec![crate::model::Alert::example()], vec![]);
        let cards = render(&n, &TeamsOptions::default());
        assert_eq!(cards.len(), 2);
        let body = &cards[1]["attachments"][0]["content"]["body"];
        assert!(
            body[1]["text"]
                .as_str()
                .unwrap()
                .starts_with("tag-overwritten: Deployment hub/central-ledger")
        );
    }

    #[test]
    fn renders_an_upgrade_notice() {
        let teams = render_upgrade(&UpgradeNotice::example(UpgradeEvent::RolledBack));
        let title = teams["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap();
        assert!(title.ends_with("failed and was rolled back"), "{title}");
        assert!(
            title.contains("mojaloop/central-ledger v19.8.3 → v19.8.9: 2 workloads in hub"),
            "{title}"
        );
        let facts = &teams["attachments"][0]["content"]["body"][2]["facts"];
        assert_eq!(facts[0]["title"], "Deployment central-ledger");
        assert_eq!(
            facts[0]["value"],
            "central-ledger, run-migration (init container) · **Succeeded**"
        );
    }
}
