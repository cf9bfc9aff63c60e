//! Retries, back-off, Retry-After, final answers, dropped connections and timeouts.

mod support;

use std::time::Duration;

use ml_operator_notify::{
    ErrorKind, Notifier, RetryPolicy, Secret, SlackNotifier, SlackOptions, WebhookNotifier,
};
use support::*;

fn slack(rx: &Receiver, retry: RetryPolicy) -> SlackNotifier {
    let options = SlackOptions {
        include_commands: true,
        part_interval: Duration::ZERO,
    };
    SlackNotifier::new(Secret::new(rx.url("/services/T/B/X")), options, retry).unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered() {
    let rx = Receiver::start(vec![Reply::Status(500, "boom"), Reply::Status(500, "boom")]).await;
    let notifier = slack(&rx, fast_retry());
    let d = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap();
    assert_eq!((d.requests, d.messages), (3, 1));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].body, reqs[2].body, "the same message is resent");
    let s = notifier.stats();
    assert_eq!(
        (s.sent, s.failed, s.messages, s.requests, s.retries),
        (1, 0, 1, 3, 2)
    );
    assert_eq!(s.last_error_kind, None);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let rx = Receiver::start(vec![Reply::WithHeader(
        429,
        "retry-after",
        "1",
        "rate_limited",
    )])
    .await;
    let notifier = slack(&rx, fast_retry());
    let d = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap();
    assert_eq!(d.requests, 2);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].at.duration_since(reqs[0].at);
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert_eq!(notifier.stats().retries, 1);
}

#[tokio::test]
async fn a_retry_after_above_the_cap_fails_fast_as_rate_limited() {
    let rx = Receiver::start(vec![Reply::WithHeader(
        429,
        "retry-after",
        "3600",
        "slow down",
    )])
    .await;
    let notifier = slack(&rx, fast_retry());
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.status, Some(429));
    assert_eq!(err.requests, 1);
    assert_eq!(rx.requests().len(), 1);
    let text = err.to_string();
    assert!(
        text.contains("Retry-After 3600s exceeds the cap of 60s"),
        "{text}"
    );
    assert_eq!(
        notifier.stats().last_error_kind,
        Some(ErrorKind::RateLimited)
    );
}

#[tokio::test]
async fn too_many_requests_without_retry_after_backs_off() {
    let rx = Receiver::start(vec![Reply::Status(429, ""), Reply::Status(429, "")]).await;
    let d = slack(&rx, fast_retry())
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap();
    assert_eq!(d.requests, 3);
}

#[tokio::test]
async fn a_client_error_is_final() {
    let rx = Receiver::start(vec![Reply::Status(400, "invalid_payload")]).await;
    let notifier = slack(&rx, fast_retry());
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.status, Some(400));
    assert_eq!(rx.requests().len(), 1, "no retry");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 400 Bad Request: invalid_payload"),
        "{text}"
    );
    assert!(text.contains("not retried"), "{text}");
    let s = notifier.stats();
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 0));
}

#[tokio::test]
async fn request_timeout_408_is_retried_and_redirects_are_not_followed() {
    let rx = Receiver::start(vec![
        Reply::Status(408, ""),
        Reply::WithHeader(302, "location", "/elsewhere", ""),
    ])
    .await;
    let err = slack(&rx, fast_retry())
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.status, Some(302));
    assert!(
        err.to_string().contains("redirects are not followed"),
        "{err}"
    );
    let paths: Vec<String> = rx.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/services/T/B/X", "/services/T/B/X"]);
}

#[tokio::test]
async fn retries_are_bounded() {
    let rx = Receiver::start(vec![]).await;
    rx.set_default(Reply::Status(503, "down"));
    let retry = RetryPolicy {
        max_retries: 3,
        ..fast_retry()
    };
    let notifier = slack(&rx, retry);
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerError);
    assert_eq!(err.requests, 4);
    assert_eq!(rx.requests().len(), 4);
    assert!(
        err.to_string()
            .contains("gave up after 4 attempts; last: HTTP 503 Service Unavailable: down"),
        "{err}"
    );
    let s = notifier.stats();
    assert_eq!((s.requests, s.retries, s.failed), (4, 3, 1));
    assert_eq!(s.last_error_kind, Some(ErrorKind::ServerError));

    let once = Receiver::start(vec![]).await;
    once.set_default(Reply::Status(500, ""));
    let err = slack(
        &once,
        RetryPolicy {
            max_retries: 0,
            ..fast_retry()
        },
    )
    .notify(&notification(&two_updates(), vec![]))
    .await
    .unwrap_err();
    assert_eq!((err.kind(), err.requests), (ErrorKind::ServerError, 1));
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let rx = Receiver::start_dropping(vec![], 1).await;
    let notifier = WebhookNotifier::new(Secret::new(rx.url("/h")), None, fast_retry()).unwrap();
    let d = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap();
    assert_eq!(rx.dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(rx.requests().len(), 1, "the retry reached the handler");
    assert_eq!(d.requests, 2);
    assert_eq!(notifier.stats().retries, 1);
}

#[tokio::test]
async fn a_timeout_is_retried_then_fails_after_max_retries() {
    let rx = Receiver::start(vec![]).await;
    rx.set_default(Reply::Hang);
    let retry = RetryPolicy {
        max_retries: 2,
        timeout: Duration::from_millis(300),
        ..fast_retry()
    };
    let notifier = slack(&rx, retry);
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.requests, 3);
    assert_eq!(rx.requests().len(), 3);
    assert!(err.to_string().contains("no answer within 300ms"), "{err}");
    assert_eq!(notifier.stats().retries, 2);
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    // Bind and drop a listener to get a port that refuses connections.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let retry = RetryPolicy {
        max_retries: 1,
        ..fast_retry()
    };
    let notifier = WebhookNotifier::new(
        Secret::new(format!("http://127.0.0.1:{port}/h")),
        None,
        retry,
    )
    .unwrap();
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.kind().is_transient());
    assert_eq!(err.requests, 2);
    assert!(
        err.to_string().starts_with(&format!(
            "webhook: http://127.0.0.1:{port}/… (2 requests): gave up"
        )),
        "{err}"
    );
}

#[test]
fn invalid_urls_are_configuration_errors() {
    for bad in ["not a url", "ftp://example.com/x", "unix:/var/run/sock"] {
        let err = WebhookNotifier::new(Secret::new(bad), None, RetryPolicy::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("invalid webhook URL"), "{err}");
        assert!(!err.to_string().contains(bad), "{err}");
    }
}
