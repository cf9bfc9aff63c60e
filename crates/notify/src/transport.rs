//! One HTTP POST, delivered dependably: timeouts, bounded retries, `Retry-After`, redaction.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use ml_operator_retry::{RetryPolicy, parse_retry_after};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use url::Url;

use crate::error::{ErrorKind, NotifyError};
use crate::notifier::Delivery;
use crate::secret::{Scrubber, Secret, redact_url};
use crate::stats::StatsCell;
use crate::text::truncate;

/// Longest piece of a server's answer quoted in an error.
const BODY_SNIPPET: usize = 300;

/// Judges the body of a 2xx answer: `Err(reason)` makes it a final [`ErrorKind::Refused`].
pub(crate) type Accept = fn(&str) -> Result<(), String>;

/// Accepts every 2xx answer.
pub(crate) fn accept_any(_: &str) -> Result<(), String> {
    Ok(())
}

/// A message ready to POST: the exact body bytes and extra headers.
pub(crate) struct Outgoing {
    pub(crate) body: Vec<u8>,
    pub(crate) headers: HeaderMap,
}

/// The HTTP side of a notifier: client, secret target, policy and counters.
pub(crate) struct Transport {
    pub(crate) name: String,
    client: reqwest::Client,
    url: Url,
    pub(crate) target: String,
    policy: RetryPolicy,
    scrub: Scrubber,
    pub(crate) stats: StatsCell,
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Retry {
        kind: ErrorKind,
        status: Option<u16>,
        detail: String,
        wait: Option<Duration>,
    },
    Fail {
        kind: ErrorKind,
        status: Option<u16>,
        detail: String,
    },
}

impl Transport {
    /// Validates the URL (http or https with a host) and builds the client. `extra` are other
    /// secrets (a signing key) to scrub from anything the server sends back.
    pub(crate) fn new(
        name: &str,
        url: &Secret,
        policy: RetryPolicy,
        extra: &[&Secret],
    ) -> Result<Transport, NotifyError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed = Url::parse(url.expose().trim()).map_err(|e| {
            NotifyError::config(
                name,
                "<redacted>".into(),
                format!("invalid webhook URL: {e}"),
            )
        })?;
        let target = redact_url(&parsed);
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(NotifyError::config(
                name,
                target,
                "invalid webhook URL: expected http:// or https:// with a host",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            // A webhook does not redirect; following one would send a signed body elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ml-operator-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                NotifyError::config(
                    name,
                    target.clone(),
                    format!("cannot build HTTP client: {}", chain(&e)),
                )
            })?;
        let scrub = Scrubber::new(&parsed, extra);
        Ok(Transport {
            name: name.to_owned(),
            client,
            url: parsed,
            target,
            policy,
            scrub,
            stats: StatsCell::default(),
        })
    }

    /// POSTs `msg` until it is delivered, a final answer comes, or the retries run out.
    /// Returns the number of requests made.
    pub(crate) async fn send(
        &self,
        msg: &Outgoing,
        part: Option<(usize, usize)>,
        accept: Accept,
    ) -> Result<u32, NotifyError> {
        let mut requests: u32 = 0;
        loop {
            self.stats.request(requests > 0);
            requests += 1;
            match self.attempt(msg, accept).await {
                Outcome::Delivered => {
                    self.stats.message();
                    tracing::debug!(
                        notifier = %self.name,
                        target = %self.target,
                        part = part.map(|(i, n)| format!("{i}/{n}")),
                        requests,
                        "notification message delivered"
                    );
                    return Ok(requests);
                }
                Outcome::Fail {
                    kind,
                    status,
                    detail,
                } => {
                    return Err(self.error(part, kind, status, requests, detail));
                }
                Outcome::Retry {
                    kind,
                    status,
                    detail,
                    wait,
                } => {
                    if !self.policy.allows(requests) {
                        let detail = format!("gave up after {requests} attempts; last: {detail}");
                        return Err(self.error(part, kind, status, requests, detail));
                    }
                    let delay = self.policy.wait(requests, wait);
                    tracing::warn!(
                        notifier = %self.name,
                        target = %self.target,
                        part = part.map(|(i, n)| format!("{i}/{n}")),
                        attempt = requests,
                        kind = kind.as_str(),
                        status,
                        delay_ms = delay.as_millis() as u64,
                        reason = %detail,
                        "notification attempt failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// A final [`ErrorKind::Payload`] error: `what` (the message, the notification) could not
    /// be serialized.
    pub(crate) fn payload_error(&self, what: &str, e: &serde_json::Error) -> NotifyError {
        NotifyError {
            notifier: self.name.clone(),
            target: self.target.clone(),
            part: None,
            kind: ErrorKind::Payload,
            status: None,
            requests: 0,
            detail: format!("cannot serialize {what}: {e}"),
        }
    }

    fn error(
        &self,
        part: Option<(usize, usize)>,
        kind: ErrorKind,
        status: Option<u16>,
        requests: u32,
        detail: String,
    ) -> NotifyError {
        NotifyError {
            notifier: self.name.clone(),
            target: self.target.clone(),
            part,
            kind,
            status,
            requests,
            detail,
        }
    }

    async fn attempt(&self, msg: &Outgoing, accept: Accept) -> Outcome {
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .headers(msg.headers.clone())
            .body(msg.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return self.transport_failure(&e),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return self.transport_failure(&e),
        };
        self.judge(status, retry_after.as_deref(), &body, accept)
    }

    fn judge(
        &self,
        status: StatusCode,
        retry_after: Option<&str>,
        body: &str,
        accept: Accept,
    ) -> Outcome {
        let code = Some(status.as_u16());
        let snippet = self.snippet(body);
        let said = if snippet.is_empty() {
            format!("HTTP {}", status_text(status))
        } else {
            format!("HTTP {}: {snippet}", status_text(status))
        };
        if status.is_success() {
            return match accept(body) {
                Ok(()) => Outcome::Delivered,
                Err(reason) => Outcome::Fail {
                    kind: ErrorKind::Refused,
                    status: code,
                    detail: format!(
                        "the server answered HTTP {} but refused the message: {} (not retried: the payload or the webhook is wrong)",
                        status_text(status),
                        self.snippet(&reason)
                    ),
                },
            };
        }
        let wait = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()));
        if status == StatusCode::TOO_MANY_REQUESTS {
            if let Some(w) = wait
                && w > self.policy.max_retry_after
            {
                return Outcome::Fail {
                    kind: ErrorKind::RateLimited,
                    status: code,
                    detail: format!(
                        "{said}; Retry-After {}s exceeds the cap of {}s, not waiting",
                        w.as_secs(),
                        self.policy.max_retry_after.as_secs()
                    ),
                };
            }
            return Outcome::Retry {
                kind: ErrorKind::RateLimited,
                status: code,
                detail: said,
                wait,
            };
        }
        if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
            // A longer Retry-After is ignored in favour of the back-off (RetryPolicy::wait).
            return Outcome::Retry {
                kind: ErrorKind::ServerError,
                status: code,
                detail: said,
                wait,
            };
        }
        let hint = if status.is_redirection() {
            "redirects are not followed: use the final URL"
        } else {
            "the webhook URL is wrong or revoked, or the payload was refused"
        };
        Outcome::Fail {
            kind: ErrorKind::Rejected,
            status: code,
            detail: format!("{said} (not retried: {hint})"),
        }
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Outcome {
        let (kind, what) = if e.is_timeout() {
            (
                ErrorKind::Timeout,
                format!("no answer within {:?}", self.policy.timeout),
            )
        } else if e.is_connect() {
            (ErrorKind::Connection, "connection failed".to_owned())
        } else {
            (ErrorKind::Connection, "request failed".to_owned())
        };
        let detail = format!("{what}: {}", self.scrub.scrub(&chain(e)));
        Outcome::Retry {
            kind,
            status: None,
            detail,
            wait: None,
        }
    }

    /// A short, scrubbed, single-line quote of server text.
    fn snippet(&self, text: &str) -> String {
        let clean = self.scrub.scrub(text.trim());
        let one_line: String = clean
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        truncate(&one_line, BODY_SNIPPET)
    }
}

/// Builds a header map from static names and owned values (values are ASCII we produced).
pub(crate) fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_static(name), v);
        }
    }
    map
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A reqwest error's sources, without the top-level Display (it names the URL, which holds
/// the secret).
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if !parts.is_empty() {
        return parts.join(": ");
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "transport error"
    };
    what.to_owned()
}

impl Transport {
    /// Sends the parts of one notification in order, pausing `interval` between them, and
    /// counts the notification as sent or failed. Stops at the first part that fails.
    pub(crate) async fn deliver(
        &self,
        bodies: Vec<Vec<u8>>,
        headers: HeaderMap,
        interval: Duration,
        accept: Accept,
    ) -> Result<Delivery, NotifyError> {
        let total = bodies.len();
        let mut delivery = Delivery::default();
        for (i, body) in bodies.into_iter().enumerate() {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let part = (total > 1).then_some((i + 1, total));
            let msg = Outgoing {
                body,
                headers: headers.clone(),
            };
            match self.send(&msg, part, accept).await {
                Ok(requests) => {
                    delivery.requests += requests as usize;
                    delivery.messages += 1;
                }
                Err(e) => {
                    self.stats.failed(e.kind);
                    tracing::warn!(notifier = %self.name, target = %self.target, kind = e.kind.as_str(), error = %e, "notification failed");
                    return Err(e);
                }
            }
        }
        self.stats.sent();
        Ok(delivery)
    }
}
