//! The few Slack Web API calls an approval needs, with the bot token (`xoxb-…`) when one is
//! configured: `usergroups.users.list` (is the clicker in an approver group?), `chat.update`
//! (the proposal shows its state), `chat.postMessage` with `thread_ts` (the decision and the
//! outcome in the proposal's thread); replies to a click's `response_url` (which needs no
//! token); and `apps.connections.open` with the app-level token (Socket Mode).
//!
//! Every call has a timeout and a bounded answer; errors name the method, never a token or a
//! `response_url` (both are credentials). A `response_url` must be Slack's
//! (`https://hooks.slack.com/…`), or, when the API base URL is overridden for tests, on that
//! base's origin: a signed request cannot make the operator post elsewhere.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use crate::Secret;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
/// The host of every `response_url` Slack hands out.
pub const RESPONSE_URL_HOST: &str = "hooks.slack.com";
/// Each call's time limit.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a Slack call failed; names the method only.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The call needs the bot token, and none is configured.
    #[error("{0} needs slack.botTokenFile")]
    NoBotToken(&'static str),
    /// The `response_url` is not Slack's.
    #[error("the response_url is not on {RESPONSE_URL_HOST}: not answered")]
    ForeignResponseUrl,
    /// The request could not be made or read.
    #[error("Slack {method}: {reason}")]
    Transport {
        /// The method.
        method: &'static str,
        /// Why (without the URL).
        reason: String,
    },
    /// Slack answered with an error status.
    #[error("Slack {method}: HTTP {status}")]
    Status {
        /// The method.
        method: &'static str,
        /// The status code.
        status: u16,
    },
    /// Slack answered `{"ok": false, "error": …}`.
    #[error("Slack {method}: {error}")]
    Refused {
        /// The method.
        method: &'static str,
        /// Slack's error code (`not_in_channel`, `invalid_auth`, …).
        error: String,
    },
}

/// A Slack Web API client.
#[derive(Clone)]
pub struct SlackWeb {
    client: reqwest::Client,
    base: Url,
    overridden: bool,
    bot_token: Option<Secret>,
}

impl std::fmt::Debug for SlackWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWeb")
            .field("base", &self.base.as_str())
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SlackWeb {
    /// A client of Slack's API (`base: None`), or of a local one at `base` (tests: replies to
    /// `response_url`s are then allowed only on that origin), with the bot token if any.
    pub fn new(base: Option<Url>, bot_token: Option<Secret>) -> Result<SlackWeb, WebError> {
        // reqwest is built without a default TLS provider; the process uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ml-operator-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebError::Transport {
                method: "client",
                reason: e.without_url().to_string(),
            })?;
        let overridden = base.is_some();
        let mut base = base.unwrap_or_else(|| Url::parse(DEFAULT_API_URL).expect("a URL"));
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(SlackWeb {
            client,
            base,
            overridden,
            bot_token,
        })
    }

    /// Whether calls that need the bot token can be made.
    pub fn has_bot_token(&self) -> bool {
        self.bot_token.is_some()
    }

    /// The members (user ids) of user group `group` (`usergroups.users.list`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, WebError> {
        const METHOD: &str = "usergroups.users.list";
        let token = self
            .bot_token
            .as_ref()
            .ok_or(WebError::NoBotToken(METHOD))?;
        let answer = self
            .call(METHOD, token, &json!({"usergroup": group}), true)
            .await?;
        Ok(answer["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect())
    }

    /// Replaces the message at (`channel`, `ts`) with `message` (`text`, `blocks`): `chat.update`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Value,
    ) -> Result<(), WebError> {
        const METHOD: &str = "chat.update";
        let token = self
            .bot_token
            .as_ref()
            .ok_or(WebError::NoBotToken(METHOD))?;
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call(METHOD, token, &body, false).await.map(drop)
    }

    /// Posts `text` in the thread of the message at (`channel`, `ts`): `chat.postMessage`.
    pub async fn post_in_thread(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
    ) -> Result<(), WebError> {
        const METHOD: &str = "chat.postMessage";
        let token = self
            .bot_token
            .as_ref()
            .ok_or(WebError::NoBotToken(METHOD))?;
        let body = json!({"channel": channel, "thread_ts": ts, "text": text});
        self.call(METHOD, token, &body, false).await.map(drop)
    }

    /// Sends `body` to a click's `response_url` (`replace_original`, or an ephemeral reply).
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), WebError> {
        const METHOD: &str = "response_url";
        let url = self.response_url(response_url)?;
        let response = self
            .client
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| transport(METHOD, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(WebError::Status {
                method: METHOD,
                status: status.as_u16(),
            });
        }
        Ok(())
    }

    /// The WebSocket URL of a new Socket Mode connection: `apps.connections.open` with the
    /// app-level token (`xapp-…`).
    pub async fn open_connection(&self, app_token: &Secret) -> Result<Url, WebError> {
        const METHOD: &str = "apps.connections.open";
        let answer = self.call(METHOD, app_token, &json!({}), true).await?;
        answer["url"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "wss" | "ws"))
            .ok_or_else(|| WebError::Refused {
                method: METHOD,
                error: "no WebSocket url in the answer".into(),
            })
    }

    /// `response_url` when it is Slack's (or on the overridden base's origin).
    fn response_url(&self, response_url: &str) -> Result<Url, WebError> {
        let url = Url::parse(response_url).map_err(|_| WebError::ForeignResponseUrl)?;
        let allowed = if self.overridden {
            url.origin() == self.base.origin()
        } else {
            url.scheme() == "https"
                && url.host_str() == Some(RESPONSE_URL_HOST)
                && url.port().is_none()
        };
        if allowed && url.username().is_empty() && url.password().is_none() {
            Ok(url)
        } else {
            Err(WebError::ForeignResponseUrl)
        }
    }

    /// One Web API call: form-encoded when `form` (the methods that read arguments that way),
    /// else JSON; the answer must be `{"ok": true, …}`.
    async fn call(
        &self,
        method: &'static str,
        token: &Secret,
        arguments: &Value,
        form: bool,
    ) -> Result<Value, WebError> {
        let url = self
            .base
            .join(method)
            .expect("a method name joins a base URL");
        let request = self.client.post(url).bearer_auth(token.expose());
        let request = if form {
            let mut fields = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in arguments.as_object().into_iter().flatten() {
                fields.append_pair(key, value.as_str().unwrap_or_default());
            }
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(fields.finish())
        } else {
            request.json(arguments)
        };
        let mut response = request.send().await.map_err(|e| transport(method, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(WebError::Status {
                method,
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(method, e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(WebError::Transport {
                    method,
                    reason: format!("answer larger than {MAX_ANSWER_BYTES} bytes"),
                });
            }
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|_| WebError::Transport {
            method,
            reason: "the answer is not JSON".into(),
        })?;
        if answer["ok"] != json!(true) {
            let mut error = answer["error"].as_str().unwrap_or("not ok").to_string();
            error.truncate(100);
            return Err(WebError::Refused { method, error });
        }
        Ok(answer)
    }
}

fn transport(method: &'static str, e: reqwest::Error) -> WebError {
    WebError::Transport {
        method,
        reason: e.without_url().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slack_s_response_urls_are_answered() {
        let slack = SlackWeb::new(None, None).unwrap();
        assert!(
            slack
                .response_url("https://hooks.slack.com/actions/T1/2/x")
                .is_ok()
        );
        for foreign in [
            "http://hooks.slack.com/actions/T1/2/x",
            "https://hooks.slack.com.evil.example/actions",
            "https://hooks.slack.com:8443/actions",
            "https://user@hooks.slack.com/actions",
            "https://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(slack.response_url(foreign).is_err(), "{foreign}");
        }
        let local =
            SlackWeb::new(Some(Url::parse("http://127.0.0.1:9/api").unwrap()), None).unwrap();
        assert_eq!(local.base.as_str(), "http://127.0.0.1:9/api/");
        assert!(local.response_url("http://127.0.0.1:9/respond/1").is_ok());
        assert!(local.response_url("http://127.0.0.1:10/respond/1").is_err());
        assert!(
            local
                .response_url("https://hooks.slack.com/actions/T1/2/x")
                .is_err()
        );
        let debug = format!(
            "{:?}",
            SlackWeb::new(None, Some(Secret::new("xoxb-secret"))).unwrap()
        );
        assert!(!debug.contains("xoxb"), "{debug}");
    }
}
