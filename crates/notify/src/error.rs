//! The error type of every notifier.

use std::fmt;

/// What went wrong, as a small closed set: for decisions (retry next tick?) and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The notifier was configured wrongly (bad URL, HTTP client could not be built).
    InvalidConfig,
    /// The message could not be serialized.
    Payload,
    /// The request timed out (after all retries).
    Timeout,
    /// Connecting, sending or reading failed (after all retries).
    Connection,
    /// The server kept answering 408 or 5xx until the retries ran out.
    ServerError,
    /// The server answered 429 with a `Retry-After` above the cap, or kept answering 429.
    RateLimited,
    /// The server answered a final 4xx: wrong URL, revoked webhook or invalid payload.
    Rejected,
    /// The server answered 2xx but said the message was not accepted (Slack's body not `ok`).
    Refused,
}

impl ErrorKind {
    /// A stable snake_case name, safe as a Prometheus label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Payload => "payload",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::ServerError => "server_error",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Refused => "refused",
        }
    }

    /// Whether trying again later (next scan) may succeed without changing the configuration.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Connection
                | ErrorKind::ServerError
                | ErrorKind::RateLimited
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notification that could not be delivered (or a notifier that could not be built).
///
/// The Display names the notifier, the target as `scheme://host/…` (never the secret path),
/// which message of a split report failed, how many requests were made and why. Text that came
/// from the server is shortened and scrubbed of the URL's secret parts.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{notifier}: {}{target}{}: {detail}", part_prefix(.part), attempts_suffix(*.requests))]
pub struct NotifyError {
    /// Notifier name (`slack`, `teams`, `webhook` or a configured name).
    pub notifier: String,
    /// Redacted target URL.
    pub target: String,
    /// For a report split into several messages: which one failed (1-based) of how many.
    pub part: Option<(usize, usize)>,
    /// What went wrong.
    pub kind: ErrorKind,
    /// HTTP status of the last response, when there was one.
    pub status: Option<u16>,
    /// HTTP requests made for the failed message, including retries.
    pub requests: u32,
    /// Explanation, naming the status, the server's answer or the transport error.
    pub detail: String,
}

fn part_prefix(part: &Option<(usize, usize)>) -> String {
    match part {
        Some((i, n)) => format!("message {i}/{n} to "),
        None => String::new(),
    }
}

fn attempts_suffix(requests: u32) -> String {
    match requests {
        0 => String::new(),
        1 => " (1 request)".to_owned(),
        n => format!(" ({n} requests)"),
    }
}

impl NotifyError {
    /// What went wrong, as a closed set.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn config(notifier: &str, target: String, detail: impl Into<String>) -> NotifyError {
        NotifyError {
            notifier: notifier.to_owned(),
            target,
            part: None,
            kind: ErrorKind::InvalidConfig,
            status: None,
            requests: 0,
            detail: detail.into(),
        }
    }
}
