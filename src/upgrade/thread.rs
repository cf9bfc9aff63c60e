//! Where a group's Slack conversation is: the proposal message a person decided on, recorded
//! on the ImageUpgrade (annotation [`SLACK_THREAD_ANNOTATION`]) by the decision's own write,
//! so the group's later news (its window, applied, rolled back, failed) is posted in that
//! message's thread ([`super::Announcer`], with the bot token).
//!
//! The annotation is `{"channel": "C…", "ts": "1733050000.000100", "proposal": "…"}`. It is
//! read as hostile (anyone allowed to patch the object can write it): the channel must look
//! like a Slack channel id and the timestamp like a message `ts`, and it counts only for the
//! proposal round it was recorded for ([`super::ballot::Ballot::proposal_of`]), so a group
//! proposed again does not post into the old message's thread.

use serde::{Deserialize, Serialize};

use super::ImageUpgrade;
use super::ballot::Ballot;

/// The annotation holding the proposal message's place.
pub const SLACK_THREAD_ANNOTATION: &str = "ml-operator.mojaloop.io/slack-thread";

/// A proposal message in Slack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackThread {
    /// The channel id.
    pub channel: String,
    /// The message's `ts`.
    pub ts: String,
    /// The proposal round the message is for.
    pub proposal: String,
}

impl SlackThread {
    /// The place of a message (`channel`, `ts`) about `upgrade`'s current proposal, when both
    /// look like Slack's.
    pub fn new(channel: &str, ts: &str, upgrade: &ImageUpgrade) -> Option<SlackThread> {
        let thread = SlackThread {
            channel: channel.into(),
            ts: ts.into(),
            proposal: Ballot::proposal_of(upgrade),
        };
        thread.is_well_formed().then_some(thread)
    }

    /// The annotation's value.
    pub fn annotation(&self) -> String {
        serde_json::to_string(self).expect("strings serialize")
    }

    /// The thread recorded on `upgrade`, when there is one for its current proposal.
    pub fn of(upgrade: &ImageUpgrade) -> Option<SlackThread> {
        let value = upgrade
            .metadata
            .annotations
            .as_ref()?
            .get(SLACK_THREAD_ANNOTATION)?;
        if value.len() > 256 {
            return None;
        }
        let thread: SlackThread = serde_json::from_str(value).ok()?;
        (thread.is_well_formed() && thread.proposal == Ballot::proposal_of(upgrade))
            .then_some(thread)
    }

    fn is_well_formed(&self) -> bool {
        let channel = self.channel.as_bytes();
        let ts = self.ts.split_once('.');
        (2..=32).contains(&channel.len())
            && matches!(channel[0], b'C' | b'G' | b'D')
            && channel
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && ts.is_some_and(|(secs, micros)| {
                (1..=12).contains(&secs.len())
                    && (1..=8).contains(&micros.len())
                    && secs
                        .bytes()
                        .chain(micros.bytes())
                        .all(|b| b.is_ascii_digit())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upgrade(annotation: Option<String>, history: serde_json::Value) -> ImageUpgrade {
        let mut object = json!({
            "apiVersion": super::super::crd::API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v19.8.9", "namespace": "mojaloop", "uid": "u-1"},
            "spec": {"repository": "mojaloop/central-ledger", "targetTag": "v19.8.9", "targets": []},
            "status": {"phase": "Succeeded", "history": history}
        });
        if let Some(a) = annotation {
            object["metadata"]["annotations"] = json!({SLACK_THREAD_ANNOTATION: a});
        }
        serde_json::from_value(object).unwrap()
    }

    #[test]
    fn recorded_for_the_current_proposal_only() {
        let fresh = upgrade(None, json!([]));
        let thread = SlackThread::new("C0PROPOSALS", "1733050000.000100", &fresh).unwrap();
        let recorded = upgrade(Some(thread.annotation()), json!([]));
        assert_eq!(SlackThread::of(&recorded), Some(thread.clone()));
        assert_eq!(SlackThread::of(&fresh), None);
        // Proposed again since: the old message is not this round's.
        let again = upgrade(
            Some(thread.annotation()),
            json!([{"at": "2026-12-01T12:00:00Z", "phase": "Available",
                    "message": format!("{}: mojaloop/central-ledger v19.8.3 → v19.8.9",
                                       super::super::propose::PROPOSED_AGAIN)}]),
        );
        assert_ne!(Ballot::proposal_of(&again), thread.proposal);
        assert_eq!(SlackThread::of(&again), None);
    }

    #[test]
    fn hostile_values_are_ignored() {
        let fresh = upgrade(None, json!([]));
        let proposal = Ballot::proposal_of(&fresh);
        assert!(SlackThread::new("#general", "1.2", &fresh).is_none());
        assert!(SlackThread::new("C123", "now", &fresh).is_none());
        for value in [
            "not json".to_string(),
            json!({"channel": "C1 2", "ts": "1.2", "proposal": proposal}).to_string(),
            json!({"channel": "C12", "ts": "1.2.3", "proposal": proposal}).to_string(),
            json!({"channel": "C12", "ts": "1.2", "proposal": "x".repeat(300)}).to_string(),
        ] {
            assert_eq!(
                SlackThread::of(&upgrade(Some(value.clone()), json!([]))),
                None,
                "{value}"
            );
        }
    }
}
