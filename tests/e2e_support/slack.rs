//! A local Slack: the incoming webhook ml-operator posts proposals to, the Web API methods it
//! calls (`usergroups.users.list`, `chat.update`, `chat.postMessage`, `apps.connections.open`)
//! and `response_url`s — recording every request — and clicks built as Slack sends them:
//! `payload=<block_actions JSON>`, form-encoded, signed with `X-Slack-Signature`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// The signing secret the tests configure.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5-test";
/// The bot token the tests configure.
pub const BOT_TOKEN: &str = "xoxb-test-bot-token";

/// One request the local Slack got.
#[derive(Debug, Clone)]
pub struct SlackRequest {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SlackRequest {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct SlackState {
    requests: Mutex<Vec<SlackRequest>>,
    groups: BTreeMap<String, Vec<String>>,
    /// What `apps.connections.open` hands out.
    socket_url: Mutex<Option<String>>,
}

/// The local Slack.
pub struct FakeSlack {
    pub addr: SocketAddr,
    state: Arc<SlackState>,
    task: tokio::task::JoinHandle<()>,
}

async fn handle(
    State(state): State<Arc<SlackState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    state.requests.lock().unwrap().push(SlackRequest {
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if path.starts_with("/services/") || path.starts_with("/respond/") {
        return (StatusCode::OK, "ok").into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let answer = match path.as_str() {
        "/api/usergroups.users.list" => {
            let group = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "usergroup")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if token != format!("Bearer {BOT_TOKEN}") {
                json!({"ok": false, "error": "invalid_auth"})
            } else {
                match state.groups.get(&group) {
                    Some(users) => json!({"ok": true, "users": users}),
                    None => json!({"ok": false, "error": "no_such_subteam"}),
                }
            }
        }
        "/api/chat.update" | "/api/chat.postMessage" => {
            if token == format!("Bearer {BOT_TOKEN}") {
                json!({"ok": true, "ts": "1700000099.000200"})
            } else {
                json!({"ok": false, "error": "invalid_auth"})
            }
        }
        "/api/apps.connections.open" => match state.socket_url.lock().unwrap().clone() {
            Some(url) if token.starts_with("Bearer xapp-") => json!({"ok": true, "url": url}),
            _ => json!({"ok": false, "error": "invalid_auth"}),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    axum::Json(answer).into_response()
}

impl FakeSlack {
    /// Starts it; `groups` are the user groups and their members.
    pub async fn start(groups: &[(&str, &[&str])]) -> FakeSlack {
        let state = Arc::new(SlackState {
            groups: groups
                .iter()
                .map(|(g, users)| (g.to_string(), users.iter().map(|u| u.to_string()).collect()))
                .collect(),
            ..SlackState::default()
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeSlack { addr, state, task }
    }

    /// The incoming webhook (a secret in its path, as Slack's).
    pub fn webhook_url(&self) -> String {
        format!(
            "http://{}/services/T0000/B0000/s3cr3t-webhook-token",
            self.addr
        )
    }

    /// The Web API base (`ML_OPERATOR_SLACK_API_URL`).
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// A `response_url` for click number `n`.
    pub fn response_url(&self, n: usize) -> String {
        format!("http://{}/respond/{n}", self.addr)
    }

    /// What `apps.connections.open` answers from now on.
    pub fn set_socket_url(&self, url: &str) {
        *self.state.socket_url.lock().unwrap() = Some(url.to_string());
    }

    /// Every request to `path` (exact), in order.
    pub fn requests(&self, path: &str) -> Vec<SlackRequest> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Every request, in order.
    pub fn all_requests(&self) -> Vec<SlackRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The proposal messages posted to the webhook that carry buttons, in order.
    pub fn proposals(&self) -> Vec<Value> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/services/"))
            .map(SlackRequest::json)
            .filter(|m| buttons(m).is_some())
            .collect()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Approve and Reject buttons of a proposal message.
pub fn buttons(message: &Value) -> Option<(Value, Value)> {
    let actions = message["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["type"] == "actions")?;
    let elements = actions["elements"].as_array()?;
    let find = |id: &str| elements.iter().find(|e| e["action_id"] == id).cloned();
    Some((find("ml-operator-approve")?, find("ml-operator-reject")?))
}

/// The `block_actions` payload Slack sends when `user` clicks `button` on `message`.
pub fn click_payload(message: &Value, button: &Value, user: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0000"},
        "api_app_id": "A0000",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0HUBOPS", "is_ephemeral": false},
        "trigger_id": "1000.2000.abc",
        "team": {"id": "T0000", "domain": "hub"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": "C0HUBOPS", "name": "hub-ops"},
        "message": {"type": "message", "subtype": "bot_message", "ts": "1700000000.000100",
                    "text": message["text"], "blocks": message["blocks"]},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{
            "type": "button", "action_id": button["action_id"], "block_id": "ml-operator-decision",
            "text": button["text"], "value": button["value"], "style": button["style"],
            "action_ts": "1700000001.000300"
        }]
    })
}

/// The form body Slack posts for `payload`.
pub fn form(payload: &Value) -> String {
    format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
    )
}

/// `v0=<hex>` of `v0:{timestamp}:{body}` with `secret`, as Slack signs.
pub fn slack_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Posts `body` to `url` as Slack's interactivity request, signed at `timestamp` with
/// `signature` (the right one unless a test forges it); the status code.
pub async fn post_signed(url: &str, body: &str, timestamp: i64, signature: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
