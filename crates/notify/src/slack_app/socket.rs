//! Socket Mode, for clusters Slack cannot reach: the operator dials out. With the app-level
//! token (`xapp-…`, scope `connections:write`) it asks `apps.connections.open` for a WebSocket
//! URL, connects, and receives the same `block_actions` payloads the HTTP endpoint would get,
//! each in an envelope (`{"envelope_id", "type": "interactive", "payload"}`) that must be
//! acknowledged (`{"envelope_id"}`) within 3 seconds — so every envelope is acknowledged as
//! soon as it is read, before it is handled. `hello` opens a connection; `disconnect` (Slack
//! refreshes connections every few hours) closes it, and the loop opens a new one at once; a
//! failed connection is retried with a back-off up to [`MAX_BACKOFF`]. Slack may deliver an
//! envelope again: handlers must be idempotent (ml-operator's votes are).
//!
//! The WebSocket authenticates itself by its URL (a one-time ticket): no credential is sent on
//! it, and neither the URL nor the token is logged. Messages are bounded to [`MAX_MESSAGE_BYTES`].

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::web::SlackWeb;
use crate::Secret;

/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The largest WebSocket message read.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// One message from Slack on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// The connection is ready.
    Hello,
    /// A click (or another interaction): acknowledge `envelope_id`, then handle `payload`.
    Interactive {
        /// What to acknowledge.
        envelope_id: String,
        /// The `block_actions` payload.
        payload: Value,
    },
    /// Slack closes this connection; open another.
    Disconnect {
        /// Why (`refresh_requested`, `link_disabled`, …).
        reason: String,
    },
    /// Anything else (Events API, slash commands): acknowledged when it has an id, not handled.
    Other {
        /// What to acknowledge, if anything.
        envelope_id: Option<String>,
        /// Its `type`.
        kind: String,
    },
}

impl Envelope {
    /// Reads one text message.
    pub fn parse(text: &str) -> Result<Envelope, serde_json::Error> {
        let value: Value = serde_json::from_str(text)?;
        let kind = value["type"].as_str().unwrap_or_default().to_string();
        let envelope_id = value["envelope_id"]
            .as_str()
            .filter(|id| id.len() <= 200)
            .map(str::to_string);
        Ok(match (kind.as_str(), envelope_id) {
            ("hello", _) => Envelope::Hello,
            ("disconnect", _) => Envelope::Disconnect {
                reason: value["reason"]
                    .as_str()
                    .unwrap_or("unknown")
                    .chars()
                    .take(80)
                    .collect(),
            },
            ("interactive", Some(envelope_id)) => Envelope::Interactive {
                envelope_id,
                payload: value["payload"].clone(),
            },
            (_, envelope_id) => Envelope::Other { envelope_id, kind },
        })
    }
}

/// The acknowledgement of an envelope.
pub fn ack(envelope_id: &str) -> String {
    json!({ "envelope_id": envelope_id }).to_string()
}

/// A Socket Mode client.
pub struct SocketMode {
    web: SlackWeb,
    app_token: Secret,
}

/// How one connection ended.
enum Ended {
    /// `disconnect` or a close: reconnect at once.
    Reconnect,
    /// An error: reconnect after the back-off.
    Failed(String),
    /// The stop signal.
    Stopped,
}

impl SocketMode {
    /// Socket Mode through `web` (the Web API base) with the app-level token.
    pub fn new(web: SlackWeb, app_token: Secret) -> SocketMode {
        SocketMode { web, app_token }
    }

    /// Receives interactions until `stop`: each `interactive` payload is acknowledged, then
    /// handed to `handle` on its own task. Reconnects on `disconnect`, and after errors with
    /// a back-off (1 s doubling to [`MAX_BACKOFF`]); never returns before `stop`.
    pub async fn run<F, Fut>(&self, handle: F, stop: impl Future<Output = ()>)
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = pin!(stop);
        let mut backoff = Duration::from_secs(1);
        loop {
            let ended = tokio::select! {
                biased;
                () = &mut stop => Ended::Stopped,
                ended = self.connection(&handle, &mut backoff) => ended,
            };
            match ended {
                Ended::Stopped => return,
                Ended::Reconnect => continue,
                Ended::Failed(why) => {
                    tracing::warn!(
                        "slack socket mode: {why}; reconnecting in {}s",
                        backoff.as_secs()
                    );
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One connection, from `apps.connections.open` to its end.
    async fn connection<F, Fut>(&self, handle: &F, backoff: &mut Duration) -> Ended
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let url = match self.web.open_connection(&self.app_token).await {
            Ok(url) => url,
            Err(e) => return Ended::Failed(e.to_string()),
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let (mut socket, _) =
            match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false)
                .await
            {
                Ok(connected) => connected,
                Err(e) => return Ended::Failed(format!("connecting the WebSocket: {e}")),
            };
        while let Some(message) = socket.next().await {
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) => return Ended::Reconnect,
                Ok(_) => continue,
                Err(e) => return Ended::Failed(format!("reading the WebSocket: {e}")),
            };
            let envelope = match Envelope::parse(&text) {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::warn!("slack socket mode: a message that is not JSON: {e}");
                    continue;
                }
            };
            match envelope {
                Envelope::Hello => {
                    *backoff = Duration::from_secs(1);
                    tracing::info!("slack socket mode: connected");
                }
                Envelope::Disconnect { reason } => {
                    tracing::info!("slack socket mode: disconnect ({reason}); reconnecting");
                    let _ = socket.close(None).await;
                    return Ended::Reconnect;
                }
                Envelope::Interactive {
                    envelope_id,
                    payload,
                } => {
                    if let Err(e) = socket.send(Message::text(ack(&envelope_id))).await {
                        return Ended::Failed(format!("acknowledging an envelope: {e}"));
                    }
                    tokio::spawn(handle(payload));
                }
                Envelope::Other { envelope_id, kind } => {
                    tracing::debug!("slack socket mode: {kind:?} envelope ignored");
                    if let Some(id) = envelope_id
                        && let Err(e) = socket.send(Message::text(ack(&id))).await
                    {
                        return Ended::Failed(format!("acknowledging an envelope: {e}"));
                    }
                }
            }
        }
        Ended::Reconnect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_as_slack_documents_them() {
        let hello = r#"{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1","build_number":10,"approximate_connection_time":18060},"connection_info":{"app_id":"A0001"}}"#;
        assert_eq!(Envelope::parse(hello).unwrap(), Envelope::Hello);
        let click = r#"{"envelope_id":"dbdd0ef3-1543-4f94-bfb4-133d0e6c1545","payload":{"type":"block_actions"},"type":"interactive","accepts_response_payload":false}"#;
        assert_eq!(
            Envelope::parse(click).unwrap(),
            Envelope::Interactive {
                envelope_id: "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545".into(),
                payload: json!({"type": "block_actions"}),
            }
        );
        let bye = r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#;
        assert_eq!(
            Envelope::parse(bye).unwrap(),
            Envelope::Disconnect {
                reason: "refresh_requested".into()
            }
        );
        let event = r#"{"envelope_id":"e1","type":"events_api","payload":{}}"#;
        assert_eq!(
            Envelope::parse(event).unwrap(),
            Envelope::Other {
                envelope_id: Some("e1".into()),
                kind: "events_api".into()
            }
        );
        assert!(Envelope::parse("not json").is_err());
        assert_eq!(ack("e1"), r#"{"envelope_id":"e1"}"#);
    }
}
