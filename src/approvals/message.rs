//! What Slack shows after a decision: the proposal message updated in place (its buttons kept
//! while more approvals are needed, removed once decided; a status line under it), the reply
//! in its thread, and the ephemeral answers only the clicker sees.
//!
//! In: the message as Slack sent it with the click, who decided. Out: Slack message JSON. Pure.

use ml_operator_notify::slack_app::action::{ACTIONS_BLOCK, STATUS_BLOCK};
use serde_json::{Value, json};

use crate::upgrade::vote::Outcome;

/// Blocks of the original message kept at most (Slack allows 50; one is the status line).
const MAX_KEPT_BLOCKS: usize = 48;

/// How a voter label (`slack:U012ABCDEF (amina)`, `api:alice`) shows in Slack: a mention for
/// Slack users, the escaped name otherwise.
pub fn mention(label: &str) -> String {
    match label.strip_prefix("slack:") {
        Some(rest) => format!("<@{}>", rest.split(' ').next().unwrap_or_default()),
        None => escape(label),
    }
}

/// `&`, `<` and `>` escaped, as Slack's mrkdwn wants.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn mentions(votes: &[String]) -> String {
    votes
        .iter()
        .map(|v| mention(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status line for a decision that changed the group, and whether the buttons stay.
pub fn status_line(outcome: &Outcome, decider: &str) -> Option<(String, bool)> {
    match outcome {
        Outcome::Counted { votes, required } => Some((
            format!(
                ":ballot_box_with_check: Approved by {} — {} of {required} approvals; waiting for {} more.",
                mentions(votes),
                votes.len(),
                required - votes.len()
            ),
            true,
        )),
        Outcome::Approved { votes } => Some((
            format!(
                ":white_check_mark: Approved by {}: ml-operator applies it in its upgrade window.",
                mentions(votes)
            ),
            false,
        )),
        Outcome::Rejected => Some((
            format!(
                ":no_entry_sign: Rejected by {}: it will never be applied.",
                mention(decider)
            ),
            false,
        )),
        Outcome::AlreadyCounted { .. } | Outcome::Unchanged(_) => None,
    }
}

/// The ephemeral answer for a decision that changed nothing.
pub fn unchanged_line(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::AlreadyCounted { votes, required } => Some(format!(
            "You already approved this upgrade ({} of {required} approvals). Nothing changed.",
            votes.len()
        )),
        Outcome::Unchanged(why) => Some(format!("Nothing changed: {why}.")),
        _ => None,
    }
}

/// The proposal `original` (as Slack sent it with the click) with `status` under it, the
/// buttons kept only when `keep_buttons`.
pub fn updated(original: Option<&Value>, status: &str, keep_buttons: bool) -> Value {
    let text = original
        .and_then(|m| m["text"].as_str())
        .unwrap_or("ml-operator upgrade proposal");
    let mut blocks: Vec<Value> = original
        .and_then(|m| m["blocks"].as_array())
        .into_iter()
        .flatten()
        .filter(|b| b["block_id"] != STATUS_BLOCK)
        .filter(|b| keep_buttons || b["block_id"] != ACTIONS_BLOCK)
        .take(MAX_KEPT_BLOCKS)
        .cloned()
        .collect();
    blocks.push(json!({
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": status}],
    }));
    json!({"text": text, "blocks": blocks})
}

/// An ephemeral reply (only the clicker sees it; the message stays as it is).
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_updates_the_message_in_place() {
        let original = json!({"text": "upgrade", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "upgrade"}},
            {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": []}]});
        let counted = Outcome::Counted {
            votes: vec!["slack:U1 (amina)".into()],
            required: 2,
        };
        let (line, keep) = status_line(&counted, "slack:U1").unwrap();
        assert_eq!(
            line,
            ":ballot_box_with_check: Approved by <@U1> — 1 of 2 approvals; waiting for 1 more."
        );
        let once = updated(Some(&original), &line, keep);
        assert_eq!(once["blocks"].as_array().unwrap().len(), 3);
        let approved = Outcome::Approved {
            votes: vec!["slack:U1 (a)".into(), "api:<b>".into()],
        };
        let (line, keep) = status_line(&approved, "api:<b>").unwrap();
        assert!(line.contains("<@U1>, api:&lt;b&gt;"), "{line}");
        let twice = updated(Some(&once), &line, keep);
        let blocks = twice["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.len(),
            2,
            "buttons gone, one status line: {blocks:#?}"
        );
        assert_eq!(blocks[1]["elements"][0]["text"], line);
        assert!(status_line(&Outcome::Unchanged("x".into()), "").is_none());
        assert_eq!(
            unchanged_line(&Outcome::Unchanged("it was superseded".into())).unwrap(),
            "Nothing changed: it was superseded."
        );
    }
}
