//! The one error type of the crate.
//!
//! Errors are cloned to every caller that waited on the same tag walk (single-flight), so they
//! carry their cause as text rather than as a boxed source. They never contain a secret: URLs
//! are stripped of user info and query strings are kept only when they are ours (`n`, `last`,
//! `service`, `scope`), which carry no credentials.

use std::fmt;
use std::time::Duration;

/// What went wrong, coarsely, so callers can decide (retry later, tell the user to log in, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The registry (or its token service) refused the credentials, or needs credentials and
    /// none are configured. Docker Hub also answers this for repositories that do not exist.
    Unauthorized,
    /// The credentials were accepted but do not grant pull access (HTTP 403).
    Forbidden,
    /// The repository does not exist (HTTP 404, `NAME_UNKNOWN`).
    NotFound,
    /// The registry kept answering 429, or asked us to wait longer than the configured cap.
    RateLimited,
    /// The registry kept failing with 5xx after all retries.
    Server,
    /// A request timed out (after all retries).
    Timeout,
    /// The connection could not be made or was dropped (after all retries).
    Connect,
    /// TLS failed: unknown CA, wrong host name, expired certificate, bad CA file.
    Tls,
    /// The registry answered something that is not the distribution protocol: bad JSON, a
    /// malformed `WWW-Authenticate` or `Link` header, a pagination loop, too many pages.
    Protocol,
    /// Invalid configuration: a bad host, mirror, reference or docker config file.
    Config,
    /// A local file could not be read or written (password file, CA file, cache directory).
    Io,
}

impl ErrorKind {
    /// A short stable name (`"unauthorized"`, `"rate-limited"`, ...) for metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Server => "server-error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the registry client.
///
/// `Display` names what was being accessed (a URL without credentials, a file path, a host)
/// and the cause, e.g. `GET https://ghcr.io/v2/acme/app/tags/list: unauthorized: ...`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{subject}: {kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    subject: String,
    message: String,
    retry_after: Option<Duration>,
}

impl Error {
    /// Builds an error about `subject` (a URL, a file, a host) with a human-readable cause.
    pub(crate) fn new(
        kind: ErrorKind,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error {
            kind,
            subject: subject.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// Attaches the wait the registry asked for (429 `Retry-After`).
    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// Prefixes the message with context (e.g. which repository the request was for).
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The coarse kind of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was being accessed: a URL (without credentials), a file path or a host.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The cause, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For [`ErrorKind::RateLimited`]: how long the registry asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Renders a URL for messages and logs: no user info, no fragment.
pub(crate) fn display_url(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    url.to_string()
}

/// Turns a reqwest transport error into our kind, walking the source chain so TLS failures
/// (which reqwest reports as connect errors) are told apart.
pub(crate) fn classify_transport(err: &reqwest::Error) -> (ErrorKind, String) {
    let mut chain = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut tls = false;
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        let text = e.to_string();
        // reqwest repeats the URL in its own message; keep the inner causes only.
        if !chain.is_empty() || e.downcast_ref::<reqwest::Error>().is_none() {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&text);
        }
        source = e.source();
    }
    let lower = chain.to_ascii_lowercase();
    if !tls
        && (lower.contains("certificate")
            || lower.contains("tls handshake")
            || lower.contains("invalidcontenttype"))
    {
        tls = true;
    }
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if tls {
        ErrorKind::Tls
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    };
    if chain.is_empty() {
        chain = err.to_string();
    }
    (kind, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_subject_kind_and_cause() {
        let e = Error::new(
            ErrorKind::NotFound,
            "https://ghcr.io/v2/a/b/tags/list",
            "repository a/b does not exist",
        );
        assert_eq!(
            e.to_string(),
            "https://ghcr.io/v2/a/b/tags/list: not-found: repository a/b does not exist"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn display_url_strips_credentials() {
        let u =
            url::Url::parse("https://user:secret@example.com/v2/x/tags/list?n=10#frag").unwrap();
        let shown = display_url(&u);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
        assert_eq!(shown, "https://example.com/v2/x/tags/list?n=10");
    }
}
