//! Slack incoming webhooks: a scan's [`Notification`] as the original ml-operator text plus
//! Block Kit — one section per upgrade group with its workloads' commands — split to fit
//! Slack's limits ([`render`]), and an [`UpgradeNotice`] as one message ([`render_upgrade`]).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::channel::chat::{
    ChatFormat, ChatNotifier, ChatOptions, commands, split, title, updates_of,
};
use crate::groups::{UpdateGroup, groups};
use crate::model::{Alert, Event, Notification, Update};
use crate::notice::{UpgradeEvent, UpgradeNotice};
use crate::text::{chars, slack_escape, truncate};

/// Most blocks Slack accepts in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters in a section block's text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Most characters in a header block's text.
pub const MAX_HEADER_CHARS: usize = 150;
/// Most characters Slack accepts in `text`; longer text is cut.
pub const MAX_TEXT_CHARS: usize = 40_000;
/// The `text` size a report is split at, well under the limit, so each part stays readable.
pub const SPLIT_TEXT_CHARS: usize = 3_500;

/// The first line of the original message when updates are pending.
const HEADLINE: &str = "*ml-operator* - The following services are not on the latest secure version and should be updated:";
/// The whole original message when nothing is pending.
const UP_TO_DATE: &str = "*ml-operator* - all monitored services are up to date";

/// How Slack messages are written and paced (Slack allows about one message per second per
/// webhook, hence the default 1 s between parts).
pub type SlackOptions = ChatOptions;

/// Sends notifications to a Slack incoming webhook (`https://hooks.slack.com/services/…`).
///
/// Each message carries `text` — the original ml-operator v1.0 message in its own wording (the
/// differences, such as `-n` in commands and sorted, de-duplicated lines, are listed in
/// docs/operations.md), for anything that reads it — and Block Kit `blocks` for people. Slack answers `ok`; any other
/// 2xx body (`invalid_payload`, `no_text`, …) is a final [`ErrorKind::Refused`](crate::ErrorKind::Refused).
pub type SlackNotifier = ChatNotifier<Slack>;

/// Slack's message format (see [`SlackNotifier`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slack;

impl ChatFormat for Slack {
    const KIND: &'static str = "slack";
    const TYPE_NAME: &'static str = "SlackNotifier";

    fn render(n: &Notification, options: &SlackOptions) -> Vec<Value> {
        render(n, options)
    }

    fn render_upgrade(n: &UpgradeNotice) -> Value {
        render_upgrade(n)
    }

    fn accept(body: &str) -> Result<(), String> {
        accept(body)
    }
}

/// Slack's answer to a good message is `ok` (workflow webhooks: `{"ok":true}`).
fn accept(body: &str) -> Result<(), String> {
    let body = body.trim();
    if body == "ok" {
        return Ok(());
    }
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && v.get("ok") == Some(&Value::Bool(true))
    {
        return Ok(());
    }
    if body.is_empty() {
        Err("empty body instead of `ok`".to_owned())
    } else {
        Err(format!("`{body}`"))
    }
}

/// The original ml-operator v1.0 Slack text for `updates`: its wording, line for line.
///
/// One list line per distinct (repository, latest tag), sorted; the `kubectl` block when
/// `include_commands` and some update has a command; the warning when `failures > 0`. `part`
/// appends ` (part i/n)` to the first line of a split report.
pub fn original_text(
    updates: &[Update],
    include_commands: bool,
    failures: usize,
    part: Option<(usize, usize)>,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    if updates.is_empty() {
        lines.push(UP_TO_DATE.to_owned());
    } else {
        match part {
            Some((i, n)) => lines.push(format!("{HEADLINE} (part {i}/{n})")),
            None => lines.push(HEADLINE.to_owned()),
        }
        let pairs: BTreeSet<(&str, &str)> = updates
            .iter()
            .map(|u| (u.repository.as_str(), u.latest_tag.as_str()))
            .collect();
        for (repository, tag) in pairs {
            lines.push(format!("  - `{repository}`: latest version is `{tag}`"));
        }
        let commands = commands(updates);
        if include_commands && !commands.is_empty() {
            lines.push(
                "Use the following commands to patch your deployments with `kubectl`:\n```"
                    .to_owned(),
            );
            lines.extend(commands.into_iter().map(str::to_owned));
            lines.push("```".to_owned());
        }
    }
    if failures > 0 {
        lines.push(format!(
            "**warning:** encountered {failures} processing errors. Please check your logs for more information."
        ));
    }
    lines.join("\n")
}

/// Renders the Slack messages for `n`: one, or several `(part i/n)` messages that each fit
/// Slack's limits (≤ 50 blocks, sections ≤ 3,000 characters, `text` ≤ 3,500 characters unless a
/// single group alone is longer). One section per upgrade group (namespace, repository, latest
/// tag), followed by its workloads' commands; every group appears in exactly one part, in
/// order; the resolved list and the failures go in the last part.
pub fn render(n: &Notification, options: &SlackOptions) -> Vec<Value> {
    let groups = groups(&n.updates, &n.added);
    let chunks = pack(n, &groups, options);
    let total = chunks.len();
    let mut messages: Vec<Value> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let part = (total > 1).then_some((i + 1, total));
            let last = i + 1 == total;
            let failures = if last { n.failures.len() } else { 0 };
            let text = truncate(
                &original_text(
                    &updates_of(n, chunk),
                    options.include_commands,
                    failures,
                    part,
                ),
                MAX_TEXT_CHARS,
            );
            let blocks = blocks(n, chunk, options, part, last);
            json!({ "text": text, "blocks": blocks })
        })
        .collect();
    messages.extend(render_alerts(n));
    messages
}

/// The supply-chain alerts of a notification as one more message: a `text` line per alert
/// (`:warning: *ml-operator* - tag-overwritten: …`) and a section per alert with both
/// digests; `None` without alerts. At most [`MAX_BLOCKS`] sections (the rest counted).
pub fn render_alerts(n: &Notification) -> Option<Value> {
    if n.alerts.is_empty() {
        return None;
    }
    let e = slack_escape;
    let on = n
        .cluster
        .as_ref()
        .map(|c| format!(" on {}", e(c)))
        .unwrap_or_default();
    let lines: Vec<String> = n
        .alerts
        .iter()
        .map(|a| format!(":warning: *ml-operator*{on} - {}", e(&a.headline())))
        .collect();
    let text = truncate(&lines.join("\n"), MAX_TEXT_CHARS);
    let shown = MAX_BLOCKS - 2;
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "emoji": true, "text": truncate(&format!(
            "ml-operator: {} supply-chain alert{}{on}", n.alerts.len(),
            if n.alerts.len() == 1 { "" } else { "s" }), MAX_HEADER_CHARS) }
    })];
    blocks.extend(n.alerts.iter().take(shown).map(|a| section(alert_text(a))));
    if n.alerts.len() > shown {
        blocks.push(section(format!("… and {} more", n.alerts.len() - shown)));
    }
    Some(json!({ "text": text, "blocks": blocks }))
}

/// One alert: where, what, both digests, what follows.
fn alert_text(a: &Alert) -> String {
    let e = slack_escape;
    let mut text = format!(
        ":warning: *{}* · *{}* / {} `{}` · container `{}`\n`{}`: {}",
        a.alert.as_str(),
        e(&a.namespace),
        e(&a.kind),
        e(&a.name),
        e(&a.container),
        e(&a.image),
        e(&a.message)
    );
    if let (Some(running), Some(registry)) = (&a.running_digest, &a.registry_digest) {
        text.push_str(&format!(
            "\nrunning `{}` · registry `{}`",
            e(running),
            e(registry)
        ));
    }
    text
}

/// Splits the groups into parts that fit, greedily and in order. Every part is sized as if it
/// were the last (room for the warning line and the resolved/failure blocks).
fn pack<'g>(
    n: &Notification,
    groups: &'g [UpdateGroup],
    options: &SlackOptions,
) -> Vec<&'g [UpdateGroup]> {
    let trailer = trailer_blocks(n).len();
    let fits = |chunk: &[UpdateGroup]| {
        let text = original_text(
            &updates_of(n, chunk),
            options.include_commands,
            n.failures.len(),
            Some((999, 999)),
        );
        let count = 1
            + chunk
                .iter()
                .map(|g| 1 + command_sections(&g.commands(), options).len())
                .sum::<usize>()
            + trailer
            + 1;
        chars(&text) <= SPLIT_TEXT_CHARS && count <= MAX_BLOCKS
    };
    split(groups, fits)
}

fn blocks(
    n: &Notification,
    chunk: &[UpdateGroup],
    options: &SlackOptions,
    part: Option<(usize, usize)>,
    last: bool,
) -> Vec<Value> {
    let mut blocks = vec![header(n, part)];
    for group in chunk {
        blocks.push(section(group_text(group)));
        blocks.extend(command_sections(&group.commands(), options));
    }
    if last {
        blocks.extend(trailer_blocks(n));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": truncate(&context_text(n), MAX_SECTION_CHARS) }]
    }));
    blocks
}

fn header(n: &Notification, part: Option<(usize, usize)>) -> Value {
    let mut title = title(n);
    if let Some((i, total)) = part {
        title = format!(
            "{} (part {i}/{total})",
            truncate(&title, MAX_HEADER_CHARS - 16)
        );
    }
    json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(&title, MAX_HEADER_CHARS), "emoji": true }
    })
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(&text, MAX_SECTION_CHARS) } })
}

/// One group: what moves where, new ones marked, then one line per workload with its
/// containers (init containers marked) and the strategy's reason.
fn group_text(g: &UpdateGroup) -> String {
    let e = slack_escape;
    let mut title = format!("*{}*", e(&g.summary));
    if g.new {
        title.push_str(" · :new: *new*");
    }
    let items: Vec<String> = g
        .workloads
        .iter()
        .map(|w| {
            let containers: Vec<String> = w
                .containers
                .iter()
                .map(|c| {
                    let init = if c.init_container { " (init)" } else { "" };
                    format!("`{}`{init}", e(&c.name))
                })
                .collect();
            let mut line = format!(
                "• {} `{}`: {}",
                e(&w.kind),
                e(&w.name),
                containers.join(", ")
            );
            if let Some(release) = &w.helm_release {
                line.push_str(&format!(" · Helm release `{}`", e(release)));
            }
            if let Some(in_git) = &w.in_git {
                line.push_str(&format!(" · {}", e(in_git)));
            }
            line
        })
        .collect();
    let mut reason = String::new();
    if !g.strategy.is_empty() || !g.reason.is_empty() {
        reason = format!("\n_{}_: {}", e(&g.strategy), e(&g.reason));
    }
    let room = MAX_SECTION_CHARS.saturating_sub(chars(&reason).min(600));
    let list = bounded_list_within(&title, &items, room);
    format!("{list}{}", truncate(&reason, 600))
}

/// The commands as code blocks, as many sections as needed to stay under the section limit.
fn command_sections(commands: &[&str], options: &SlackOptions) -> Vec<Value> {
    if !options.include_commands || commands.is_empty() {
        return Vec::new();
    }
    const INTRO: &str = "*Patch with `kubectl`:*\n";
    let room = MAX_SECTION_CHARS - chars(INTRO) - 8; // the ``` fences and a newline
    let mut groups: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in commands {
        let c = truncate(&slack_escape(c), room);
        if !current.is_empty() && chars(&current) + 1 + chars(&c) > room {
            groups.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&c);
    }
    groups.push(current);
    let count = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let intro = if i == 0 || count == 1 { INTRO } else { "" };
            section(format!("{intro}```\n{g}\n```"))
        })
        .collect()
}

/// The resolved list and the failures: at most one section each, cut with "…and N more".
fn trailer_blocks(n: &Notification) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !n.resolved.is_empty() {
        let title = format!(
            "*Resolved since the last notification ({}):*",
            n.resolved.len()
        );
        let items: Vec<String> = n
            .resolved
            .iter()
            .map(|u| {
                format!(
                    "• *{}* / {} `{}` · `{}` was `{}`",
                    slack_escape(&u.namespace),
                    slack_escape(&u.kind),
                    slack_escape(&u.name),
                    slack_escape(&u.repository),
                    slack_escape(&u.current_tag)
                )
            })
            .collect();
        blocks.push(section(bounded_list(&title, &items)));
    }
    if !n.failures.is_empty() {
        let title = format!(
            ":warning: *{} could not be checked:*",
            count(n.failures.len(), "image")
        );
        let items: Vec<String> = n
            .failures
            .iter()
            .map(|f| format!("• {}", slack_escape(f)))
            .collect();
        blocks.push(section(bounded_list(&title, &items)));
    }
    blocks
}

/// `title` and as many `items` as fit in one section, then "…and N more".
fn bounded_list(title: &str, items: &[String]) -> String {
    bounded_list_within(title, items, MAX_SECTION_CHARS)
}

/// `title` and as many `items` as fit in `room` characters, then "…and N more".
fn bounded_list_within(title: &str, items: &[String], room: usize) -> String {
    let mut out = truncate(title, room / 2);
    for (i, item) in items.iter().enumerate() {
        let rest = items.len() - i;
        let more = format!("\n…and {rest} more");
        let item = truncate(item, 500);
        if chars(&out) + 1 + chars(&item) + chars(&more) > room {
            out.push_str(&more);
            return out;
        }
        out.push('\n');
        out.push_str(&item);
    }
    out
}

fn count(k: usize, noun: &str) -> String {
    if k == 1 {
        format!("1 {noun}")
    } else {
        format!("{k} {noun}s")
    }
}

fn context_text(n: &Notification) -> String {
    let mut parts = vec![
        format!("{} pending", n.updates.len()),
        format!("{} new", n.added.len()),
        format!("{} resolved", n.resolved.len()),
    ];
    if !n.failures.is_empty() {
        parts.push(format!(
            "{} could not be checked",
            count(n.failures.len(), "image")
        ));
    }
    if let Some(cluster) = &n.cluster {
        parts.push(format!("cluster `{}`", slack_escape(cluster)));
    }
    if n.event == Event::Reminder {
        parts.push("reminder".to_owned());
    }
    parts.join(" · ")
}

/// The Slack message for an upgrade notice: `text` (also the notification fallback) naming
/// the group, one line per workload (its containers and result), the rollback if any, and one
/// section block with the same text.
pub fn render_upgrade(n: &UpgradeNotice) -> Value {
    let e = slack_escape;
    let count = n.workloads.len();
    let mut text = format!(
        "*ml-operator* {} - upgrade of `{}` from `{}` to `{}` ({count} {} in {}, ImageUpgrade `{}`) {}",
        emoji(n.event),
        e(&n.repository),
        e(&n.from_tags.join("`, `")),
        e(&n.target_tag),
        if count == 1 { "workload" } else { "workloads" },
        e(&n.namespace),
        e(&n.upgrade),
        n.event.verb()
    );
    if let Some(cluster) = &n.cluster {
        text.push_str(&format!(" on {}", e(cluster)));
    }
    for line in n.workload_lines() {
        text.push_str(&format!("\n• {}", e(&line)));
    }
    if let Some(rollback) = &n.rollback {
        text.push_str(&format!("\nRolled back: {}", e(rollback)));
    }
    if !n.message.is_empty() {
        text.push_str(&format!("\n{}", e(&n.message)));
    }
    if !n.approve_commands.is_empty() {
        text.push_str("\nApprove with:\n```\n");
        text.push_str(&n.approve_commands.join("\n"));
        text.push_str("\n```");
    }
    let text = truncate(&text, MAX_TEXT_CHARS);
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(&text, MAX_SECTION_CHARS) } }),
    ];
    if let (UpgradeEvent::Proposed, Some(value)) = (n.event, &n.decision) {
        blocks.push(decision_buttons(value, &n.summary()));
    }
    json!({ "text": text, "blocks": blocks })
}

/// The Approve / Reject buttons of a proposal (an `actions` block); both carry `value`, the
/// ImageUpgrade and the exact proposal they decide. Reject asks for confirmation.
pub fn decision_buttons(value: &str, summary: &str) -> Value {
    use crate::slack_app::action::{ACTIONS_BLOCK, APPROVE_ACTION, REJECT_ACTION};
    let plain = |text: &str| json!({ "type": "plain_text", "text": truncate(text, 75) });
    json!({
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            { "type": "button", "action_id": APPROVE_ACTION, "style": "primary",
              "text": plain("Approve"), "value": value },
            { "type": "button", "action_id": REJECT_ACTION, "style": "danger",
              "text": plain("Reject"), "value": value,
              "confirm": {
                  "title": plain("Reject this upgrade?"),
                  "text": { "type": "mrkdwn", "text": truncate(&format!("{} will never be applied.", slack_escape(summary)), 300) },
                  "confirm": plain("Reject"),
                  "deny": plain("Keep it") } }
        ]
    })
}

/// The emoji an upgrade notice starts with.
fn emoji(event: UpgradeEvent) -> &'static str {
    match event {
        UpgradeEvent::Proposed => ":arrow_up:",
        UpgradeEvent::Succeeded => ":white_check_mark:",
        UpgradeEvent::RolledBack => ":rewind:",
        UpgradeEvent::Failed => ":x:",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_with_a_decision_carries_the_buttons() {
        let mut n = UpgradeNotice::example(UpgradeEvent::Proposed);
        assert_eq!(render_upgrade(&n)["blocks"].as_array().unwrap().len(), 1);
        n.decision = Some("hub/central-ledger-v19.8.9/uid/abc".into());
        let body = render_upgrade(&n);
        let actions = &body["blocks"][1];
        assert_eq!(actions["type"], "actions");
        assert_eq!(actions["elements"][0]["action_id"], "ml-operator-approve");
        assert_eq!(actions["elements"][1]["action_id"], "ml-operator-reject");
        for button in actions["elements"].as_array().unwrap() {
            assert_eq!(button["value"], "hub/central-ledger-v19.8.9/uid/abc");
        }
        // Outcomes have nothing to decide.
        n.event = UpgradeEvent::Succeeded;
        assert_eq!(render_upgrade(&n)["blocks"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn slack_bodies() {
        assert!(accept("ok").is_ok());
        assert!(accept("ok\n").is_ok());
        assert!(accept(r#"{"ok":true}"#).is_ok());
        assert_eq!(accept("invalid_payload").unwrap_err(), "`invalid_payload`");
        assert!(accept("").is_err());
    }

    #[test]
    fn bounded_list_stays_under_the_section_limit() {
        let items: Vec<String> = (0..1000)
            .map(|i| format!("• item number {i} with some text"))
            .collect();
        let out = bounded_list("*T*", &items);
        assert!(chars(&out) <= MAX_SECTION_CHARS);
        assert!(out.ends_with("more"));
        let out = bounded_list("*T*", &items[..3]);
        assert_eq!(out.lines().count(), 4);
    }

    #[test]
    fn alerts_come_as_one_more_message() {
        let quiet = Notification::diff(Event::Changed, None, &[], &[], vec![]);
        assert_eq!(render(&quiet, &SlackOptions::default()).len(), 1);
        let n = quiet.with_alerts(vec![Alert::example()], vec![]);
        let messages = render(&n, &SlackOptions::default());
        assert_eq!(messages.len(), 2);
        let text = messages[1]["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                ":warning: *ml-operator* - tag-overwritten: Deployment hub/central-ledger"
            ),
            "{text}"
        );
        let section = messages[1]["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(
            section.contains(&"a".repeat(64)) && section.contains(&"b".repeat(64)),
            "{section}"
        );
    }

    #[test]
    fn renders_an_upgrade_notice() {
        let mut n = UpgradeNotice::example(UpgradeEvent::Proposed);
        n.approve_commands = vec!["ml-operator approve central-ledger-v19.8.9 -n hub".into()];
        let slack = render_upgrade(&n);
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("upgrade of `mojaloop/central-ledger` from `v19.8.3` to `v19.8.9` (2 workloads in hub, ImageUpgrade `central-ledger-v19.8.9`) is available"), "{text}");
        assert!(
            text.contains("• Deployment central-ledger (central-ledger, run-migration init)"),
            "{text}"
        );
        assert!(
            text.contains("ml-operator approve central-ledger-v19.8.9 -n hub"),
            "{text}"
        );
        let mut n = UpgradeNotice::example(UpgradeEvent::RolledBack);
        n.rollback = Some("the rollout of Deployment central-ledger-handler failed".into());
        let text = render_upgrade(&n)["text"].as_str().unwrap().to_string();
        assert!(
            text.contains(":rewind:")
                && text.contains(
                    "Rolled back: the rollout of Deployment central-ledger-handler failed"
                ),
            "{text}"
        );
    }
}
