//! One HTTP exchange with a registry (or its token service), made politely: paced, bounded in
//! concurrency, retried with back-off on 429/5xx/timeouts/dropped connections, body size capped,
//! every outcome counted.

use std::time::SystemTime;

use bytes::Bytes;
use ml_operator_retry::parse_retry_after;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use url::Url;

use crate::error::{Error, ErrorKind, classify_transport, display_url};
use crate::options::ClientOptions;
use crate::politeness::Pacer;
use crate::stats::{Recorder, RequestKind, RetryEvent};

/// A request to send; cloned for each retry.
#[derive(Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// `application/x-www-form-urlencoded` body (token POSTs).
    pub form: Option<String>,
    /// Overrides [`ClientOptions::max_retries`] (0 when probing a transport that may be wrong).
    pub max_retries: Option<u32>,
    /// What the request asks for, when its URL does not say (a blob served from a CDN).
    pub kind: Option<RequestKind>,
}

impl Request {
    pub(crate) fn get(url: Url) -> Self {
        Request {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            form: None,
            max_retries: None,
            kind: None,
        }
    }

    pub(crate) fn head(url: Url) -> Self {
        Request {
            method: Method::HEAD,
            ..Request::get(url)
        }
    }
}

/// A complete response: status, headers, and the whole (size-capped) body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a registry connection needs to send politely.
pub(crate) struct Lane<'a> {
    pub client: &'a reqwest::Client,
    pub pacer: &'a Pacer,
    pub permits: &'a Semaphore,
    pub options: &'a ClientOptions,
    pub recorder: &'a Recorder,
}

/// `host[:port]` of a URL, the key for request counts.
pub(crate) fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// Sends `req`, retrying what is worth retrying. Returns any HTTP response that is not a
/// retryable failure (including 4xx for the caller to interpret); fails after the retries.
pub(crate) async fn execute(lane: &Lane<'_>, req: &Request) -> Result<Reply, Error> {
    let opts = lane.options;
    let policy = opts.retry_policy(req.max_retries);
    let host = authority(&req.url);
    let shown = display_url(&req.url);
    let mut attempt: u32 = 0;
    loop {
        lane.pacer.acquire().await;
        let result = {
            // Permits are only held while a request is on the wire, never while backing off.
            let _permit =
                lane.permits.acquire().await.map_err(|_| {
                    Error::new(ErrorKind::Connect, &shown, "client is shutting down")
                })?;
            send_once(lane, req, &host).await
        };

        // Decide whether to retry, why, and whether the server told us how long to wait.
        let (reason, server_wait, final_error) = match result {
            Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS => {
                let raw = reply.header(RETRY_AFTER).map(str::to_string);
                let asked = raw
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                if let Some(asked) = asked.filter(|a| *a > policy.max_retry_after) {
                    return Err(Error::new(
                        ErrorKind::RateLimited,
                        &shown,
                        format!(
                            "registry asked to retry after {}s, more than the {}s we wait at most",
                            asked.as_secs(),
                            policy.max_retry_after.as_secs()
                        ),
                    )
                    .with_retry_after(Some(asked)));
                }
                let reason = match &raw {
                    Some(r) => format!("429 Retry-After: {r}"),
                    None => "429".to_string(),
                };
                let err = Error::new(
                    ErrorKind::RateLimited,
                    &shown,
                    format!("still rate-limited (429) after {attempt} retries"),
                )
                .with_retry_after(asked);
                (reason, asked, err)
            }
            Ok(reply) if is_retryable_status(reply.status) => {
                let err = Error::new(
                    ErrorKind::Server,
                    &shown,
                    format!(
                        "{} after {attempt} retries{}",
                        reply.status,
                        error_summary(&reply.body)
                    ),
                );
                // A 503 may say when to come back; honoured within the cap, else we back off
                // (RetryPolicy::wait).
                let asked = reply
                    .header(RETRY_AFTER)
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                (reply.status.as_u16().to_string(), asked, err)
            }
            Ok(reply) => return Ok(reply),
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connect) => {
                let reason = format!("{}: {}", e.kind(), e.message());
                let err = e.context(format_args!("after {attempt} retries"));
                (reason, None, err)
            }
            Err(e) => return Err(e),
        };
        if !policy.allows(attempt + 1) {
            return Err(final_error);
        }
        attempt += 1;
        let wait = policy.wait(attempt, server_wait);
        tracing::info!(host = %host, url = %shown, attempt, reason = %reason, wait_ms = wait.as_millis() as u64, "retrying registry request");
        lane.recorder.retry(RetryEvent {
            host: host.clone(),
            url: shown.clone(),
            attempt,
            reason: reason.clone(),
            wait,
        });
        if reason.starts_with("429") {
            // A 429 is about all of our traffic to this registry, not this request alone.
            lane.pacer.pause_until(tokio::time::Instant::now() + wait);
        } else {
            tokio::time::sleep(wait).await;
        }
    }
}

fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 500 | 502 | 503 | 504)
}

async fn send_once(lane: &Lane<'_>, req: &Request, host: &str) -> Result<Reply, Error> {
    let shown = display_url(&req.url);
    let mut builder = lane
        .client
        .request(req.method.clone(), req.url.clone())
        .headers(req.headers.clone());
    if let Some(form) = &req.form {
        builder = builder
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.clone());
    }
    lane.recorder.request_kind(
        req.kind
            .unwrap_or_else(|| RequestKind::of(&req.method, req.url.path())),
    );
    let transport_err = |e: reqwest::Error| {
        let (kind, msg) = classify_transport(&e);
        lane.recorder.request(host, kind.as_str());
        Error::new(kind, &shown, msg)
    };
    let mut resp = builder.send().await.map_err(transport_err)?;
    let status = resp.status();
    let headers = std::mem::take(resp.headers_mut());
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > lane.options.max_body_bytes {
                    lane.recorder.request(host, "too-large");
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        &shown,
                        format!("response larger than {} bytes", lane.options.max_body_bytes),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            // The status arrived but the body did not: a dropped connection or a timeout mid-way.
            Err(e) => return Err(transport_err(e)),
        }
    }
    lane.recorder.request(host, status.as_str());
    Ok(Reply {
        status,
        headers,
        body: Bytes::from(body),
    })
}

/// `": NAME_UNKNOWN: repository name not known to registry"` from a distribution error body,
/// or the start of a non-JSON body; empty if there is nothing useful. Bodies of registry errors
/// carry no secrets, but are still cut short.
pub(crate) fn error_summary(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .take(3)
            .map(|i| {
                [i.code.as_deref(), i.message.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return format!(": {}", truncate(&parts.join("; "), 300));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        return String::new();
    }
    format!(": {}", truncate(text, 200))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summary_forms() {
        assert_eq!(
            error_summary(br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#),
            ": NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(error_summary(b"<html>bad gateway</html>"), "");
        assert_eq!(error_summary(b""), "");
        assert!(error_summary("x".repeat(1000).as_bytes()).len() < 220);
    }

    #[test]
    fn authority_forms() {
        assert_eq!(
            authority(&Url::parse("http://127.0.0.1:5000/v2/").unwrap()),
            "127.0.0.1:5000"
        );
        assert_eq!(
            authority(&Url::parse("https://ghcr.io/v2/").unwrap()),
            "ghcr.io"
        );
        assert_eq!(
            authority(&Url::parse("http://[::1]:5000/v2/").unwrap()),
            "[::1]:5000"
        );
    }
}
