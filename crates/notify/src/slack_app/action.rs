//! A button click as Slack delivers it: `application/x-www-form-urlencoded` with one field,
//! `payload`, holding a `block_actions` JSON object — who clicked (`user`), which button
//! (`actions[0]`: `action_id`, `value`), where the message is (`container`, `channel`) and
//! where to answer (`response_url`). [`BlockAction::from_form`] and [`BlockAction::from_json`]
//! (Socket Mode delivers the same object inside an envelope) read it into bounded, typed
//! fields; anything else is a [`PayloadError`].

use serde::Deserialize;
use serde_json::Value;

/// `action_id` of the Approve button on an upgrade proposal.
pub const APPROVE_ACTION: &str = "ml-operator-approve";
/// `action_id` of the Reject button on an upgrade proposal.
pub const REJECT_ACTION: &str = "ml-operator-reject";
/// `block_id` of the buttons' `actions` block.
pub const ACTIONS_BLOCK: &str = "ml-operator-decision";
/// `block_id` of the context block that shows the decision so far.
pub const STATUS_BLOCK: &str = "ml-operator-decision-status";
/// The longest `value` Slack allows on a button.
pub const MAX_VALUE_CHARS: usize = 2000;

/// Which button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

/// One click on one of ml-operator's buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAction {
    /// The Slack user id of who clicked (`U…` or `W…`).
    pub user_id: String,
    /// Their user name, as Slack sent it (for messages; never trusted for authorization).
    pub user_name: Option<String>,
    /// Which button.
    pub choice: Choice,
    /// The button's `value`, as ml-operator wrote it in the message.
    pub value: String,
    /// Where to answer (valid 30 minutes, 5 times).
    pub response_url: Option<String>,
    /// The channel of the message, when it is in one.
    pub channel: Option<String>,
    /// The message's `ts`, when the click came from a message.
    pub message_ts: Option<String>,
    /// The message as Slack showed it (`text`, `blocks`), to update it in place.
    pub message: Option<Value>,
}

/// Why a delivery is not a click on one of ml-operator's buttons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body has no `payload` field.
    #[error("the body has no payload field")]
    NoPayload,
    /// `payload` is not the JSON Slack sends.
    #[error("the payload is not a block_actions object: {0}")]
    Malformed(String),
    /// Another kind of interaction (a shortcut, a modal submission, …).
    #[error("payload type {0:?} is not handled (only block_actions)")]
    OtherType(String),
    /// A click on a button that is not ml-operator's.
    #[error("action {0:?} is not one of ml-operator's buttons")]
    UnknownAction(String),
    /// A field outside its bounds.
    #[error("{0} is missing or too long")]
    Field(&'static str),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    message: Option<Value>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

/// `field` when it is 1..=`max` characters of `allowed`.
fn bounded(
    field: &'static str,
    value: Option<String>,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, PayloadError> {
    value
        .filter(|v| !v.is_empty() && v.len() <= max && v.chars().all(&allowed))
        .ok_or(PayloadError::Field(field))
}

/// An optional field: dropped when it is not 1..=`max` characters of `allowed`.
fn optional(value: Option<String>, max: usize, allowed: impl Fn(char) -> bool) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= max && v.chars().all(allowed))
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

impl BlockAction {
    /// Reads a form-encoded interactivity request body (`payload=<JSON>`).
    pub fn from_form(body: &[u8]) -> Result<BlockAction, PayloadError> {
        let payload = url::form_urlencoded::parse(body)
            .find(|(key, _)| key == "payload")
            .map(|(_, value)| value.into_owned())
            .ok_or(PayloadError::NoPayload)?;
        let json: Value =
            serde_json::from_str(&payload).map_err(|e| PayloadError::Malformed(e.to_string()))?;
        BlockAction::from_json(json)
    }

    /// Reads a `block_actions` payload object.
    pub fn from_json(json: Value) -> Result<BlockAction, PayloadError> {
        let payload: Payload =
            serde_json::from_value(json).map_err(|e| PayloadError::Malformed(e.to_string()))?;
        if payload.kind != "block_actions" {
            let mut kind = payload.kind;
            kind.truncate(40);
            return Err(PayloadError::OtherType(kind));
        }
        let user = payload.user.ok_or(PayloadError::Field("user.id"))?;
        let action = payload
            .actions
            .into_iter()
            .next()
            .ok_or(PayloadError::Field("actions"))?;
        let choice = match action.action_id.as_str() {
            APPROVE_ACTION => Choice::Approve,
            REJECT_ACTION => Choice::Reject,
            other => {
                let mut other = other.to_string();
                other.truncate(80);
                return Err(PayloadError::UnknownAction(other));
            }
        };
        let container = payload.container;
        let message_ts = container.as_ref().and_then(|c| c.message_ts.clone());
        let channel = payload
            .channel
            .map(|c| c.id)
            .or_else(|| container.and_then(|c| c.channel_id));
        Ok(BlockAction {
            user_id: bounded("user.id", Some(user.id), 32, id_char)?,
            user_name: optional(user.username.or(user.name), 80, |c| !c.is_control()),
            choice,
            value: bounded("actions[0].value", action.value, MAX_VALUE_CHARS, |c| {
                c.is_ascii_graphic()
            })?,
            response_url: optional(payload.response_url, 1000, |c| c.is_ascii_graphic()),
            channel: optional(channel, 32, id_char),
            message_ts: optional(message_ts, 32, |c| c.is_ascii_digit() || c == '.'),
            message: payload.message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn click(action_id: &str) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U012ABCDEF", "username": "amina", "team_id": "T0001"},
            "api_app_id": "A0001", "token": "legacy", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0001", "is_ephemeral": false},
            "channel": {"id": "C0001", "name": "hub-ops"},
            "message": {"type": "message", "ts": "1700000000.000100", "text": "upgrade", "blocks": []},
            "response_url": "https://hooks.slack.com/actions/T0001/1/abc",
            "actions": [{"type": "button", "action_id": action_id, "block_id": ACTIONS_BLOCK,
                         "value": "mojaloop/central-ledger-v19.8.9/uid/abc", "action_ts": "1700000001.0"}]
        })
    }

    #[test]
    fn a_click_reads_into_typed_fields() {
        let body = format!(
            "payload={}",
            url::form_urlencoded::byte_serialize(click(APPROVE_ACTION).to_string().as_bytes())
                .collect::<String>()
        );
        let action = BlockAction::from_form(body.as_bytes()).unwrap();
        assert_eq!(action.user_id, "U012ABCDEF");
        assert_eq!(action.user_name.as_deref(), Some("amina"));
        assert_eq!(action.choice, Choice::Approve);
        assert_eq!(action.value, "mojaloop/central-ledger-v19.8.9/uid/abc");
        assert_eq!(action.channel.as_deref(), Some("C0001"));
        assert_eq!(action.message_ts.as_deref(), Some("1700000000.000100"));
        assert_eq!(
            BlockAction::from_json(click(REJECT_ACTION)).unwrap().choice,
            Choice::Reject
        );
    }

    #[test]
    fn anything_else_is_a_typed_error() {
        assert_eq!(BlockAction::from_form(b"x=1"), Err(PayloadError::NoPayload));
        assert!(matches!(
            BlockAction::from_form(b"payload=%7Bnot"),
            Err(PayloadError::Malformed(_))
        ));
        assert_eq!(
            BlockAction::from_json(click("someone-else")),
            Err(PayloadError::UnknownAction("someone-else".into()))
        );
        let mut other = click(APPROVE_ACTION);
        other["type"] = json!("view_submission");
        assert_eq!(
            BlockAction::from_json(other),
            Err(PayloadError::OtherType("view_submission".into()))
        );
        let mut bad_user = click(APPROVE_ACTION);
        bad_user["user"]["id"] = json!("U1\"><script>");
        assert_eq!(
            BlockAction::from_json(bad_user),
            Err(PayloadError::Field("user.id"))
        );
        let mut long = click(APPROVE_ACTION);
        long["actions"][0]["value"] = json!("x".repeat(MAX_VALUE_CHARS + 1));
        assert_eq!(
            BlockAction::from_json(long),
            Err(PayloadError::Field("actions[0].value"))
        );
    }
}
