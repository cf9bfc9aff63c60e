//! No webhook URL secret and no signing key in any log line, error or Debug output.
//!
//! One test function: it installs the process-wide tracing subscriber (and the `log` bridge,
//! so reqwest's own log lines are captured too) at TRACE level.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_operator_notify::*;
use support::*;
use tracing_subscriber::util::SubscriberInitExt;

const SECRET_PATH: &str = "SECRETXYZ";
const KEY: &str = "hmac-secret-key";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_retries: 1,
        timeout: Duration::from_millis(300),
        ..fast_retry()
    }
}

fn slack_options() -> SlackOptions {
    SlackOptions {
        include_commands: true,
        part_interval: Duration::ZERO,
    }
}

#[tokio::test]
async fn secrets_never_appear_in_logs_errors_or_debug() {
    let logs = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish()
        .try_init()
        .expect("first subscriber in this process");

    let mut outputs: Vec<String> = Vec::new();
    let n = notification(&two_updates(), vec!["mojaloop/x: timeout".into()]);
    let path = format!("/services/T000/B000/{SECRET_PATH}");
    let echo_path: &'static str = Box::leak(format!("no_service for {path}").into_boxed_str());

    let rx = Receiver::start(vec![
        Reply::Status(200, "ok"),                          // delivered
        Reply::Status(500, "internal"),                    // retried, then
        Reply::Status(200, "ok"),                          // delivered
        Reply::Status(404, echo_path),                     // final, body echoes the secret path
        Reply::Status(200, echo_path),                     // Slack refusal echoing it
        Reply::WithHeader(429, "retry-after", "3600", ""), // rate limited
    ])
    .await;
    let url = rx.url(&path);
    let echo_url: &'static str =
        Box::leak(format!("bad request to {url} signed with {KEY}").into_boxed_str());

    let slack = SlackNotifier::new(Secret::new(url.clone()), slack_options(), quick()).unwrap();
    outputs.push(format!("{slack:?}"));
    for _ in 0..5 {
        match slack.notify(&n).await {
            Ok(d) => outputs.push(format!("{d:?}")),
            Err(e) => outputs.push(format!("{e} {e:?}")),
        }
    }
    outputs.push(format!("{:?}", slack.stats()));
    assert_eq!(rx.requests().len(), 6, "every scripted answer was used");

    // Signed webhook: a 400 whose body echoes the URL and the key.
    let rx2 = Receiver::start(vec![Reply::Status(400, echo_url)]).await;
    let webhook =
        WebhookNotifier::new(Secret::new(rx2.url(&path)), Some(Secret::new(KEY)), quick()).unwrap();
    outputs.push(format!("{webhook:?}"));
    let e = webhook.notify(&n).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected);
    outputs.push(format!("{e} {e:?}"));
    // The signature went out, so the key was really used.
    assert!(
        rx2.requests()[0]
            .header("x-ml-operator-signature-256")
            .is_some()
    );

    // Timeouts.
    let hang = Receiver::start(vec![]).await;
    hang.set_default(Reply::Hang);
    let webhook = WebhookNotifier::new(
        Secret::new(hang.url(&path)),
        Some(Secret::new(KEY)),
        quick(),
    )
    .unwrap();
    let e = webhook.notify(&n).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    outputs.push(format!("{e} {e:?}"));

    // Dropped connections.
    let drop = Receiver::start_dropping(vec![], 2).await;
    let teams = TeamsNotifier::new(
        Secret::new(drop.url(&format!("{path}?sig={SECRET_PATH}"))),
        TeamsOptions::default(),
        quick(),
    )
    .unwrap();
    outputs.push(format!("{teams:?}"));
    let e = teams.notify(&n).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection);
    outputs.push(format!("{e} {e:?}"));

    // Connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = SlackNotifier::new(
        Secret::new(format!("http://127.0.0.1:{port}{path}")),
        slack_options(),
        quick(),
    )
    .unwrap();
    let e = refused.notify(&n).await.unwrap_err();
    outputs.push(format!("{e} {e:?}"));

    // Invalid URLs carrying the secret.
    for bad in [
        format!("http//hooks.slack.com{path}"),
        format!("ftp://hooks.slack.com{path}"),
        format!("http://[::1{path}"),
    ] {
        let e = SlackNotifier::new(Secret::new(bad), slack_options(), quick()).unwrap_err();
        outputs.push(format!("{e} {e:?}"));
    }
    outputs.push(format!(
        "{:?} {}",
        Secret::new(KEY),
        Secret::new(url.clone())
    ));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the retry was logged:\n{logs}");
    assert!(
        logs.contains("http://127.0.0.1:"),
        "targets are logged redacted:\n{logs}"
    );
    for secret in [SECRET_PATH, KEY] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
        for o in &outputs {
            assert!(!o.contains(secret), "{secret} leaked: {o}");
        }
    }
    // The errors still say what happened.
    let all = outputs.join("\n");
    assert!(all.contains("no_service for <redacted>"), "{all}");
    assert!(all.contains("HTTP 429"), "{all}");
}
