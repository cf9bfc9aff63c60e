//! A local receiver on 127.0.0.1:0 that records every request and answers from a script, plus
//! builders for test updates.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ml_operator_notify::{Event, Notification, RetryPolicy, Update};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, &'static str),
    WithHeader(u16, &'static str, &'static str, &'static str),
    Hang,
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Option<Reply>>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    pub dropped: Arc<AtomicUsize>,
}

impl Receiver {
    /// A receiver that answers `script` in order, then `default` (200 `ok`) forever.
    pub async fn start(script: Vec<Reply>) -> Receiver {
        Self::start_dropping(script, 0).await
    }

    /// Like [`Receiver::start`], but the first `drop_first` connections are read from and closed
    /// without an answer.
    pub async fn start_dropping(script: Vec<Reply>, drop_first: usize) -> Receiver {
        let shared = Shared::default();
        *shared.script.lock().unwrap() = script.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = DropFirst {
            inner: listener,
            left: drop_first,
            dropped: dropped.clone(),
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            addr,
            shared,
            dropped,
        }
    }

    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = Some(reply);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.requests.lock().unwrap().push(Recorded {
        at: Instant::now(),
        method,
        path: uri.to_string(),
        headers,
        body,
    });
    let next = s.script.lock().unwrap().pop_front();
    let reply = next
        .or_else(|| s.default.lock().unwrap().clone())
        .unwrap_or(Reply::Status(200, "ok"));
    match reply {
        Reply::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Reply::WithHeader(code, name, value, body) => {
            (StatusCode::from_u16(code).unwrap(), [(name, value)], body).into_response()
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}

/// A listener that swallows the first `left` connections: reads the request head, then closes.
struct DropFirst {
    inner: TcpListener,
    left: usize,
    dropped: Arc<AtomicUsize>,
}

impl axum::serve::Listener for DropFirst {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let (mut stream, addr) = self.inner.accept().await.unwrap();
            if self.left == 0 {
                return (stream, addr);
            }
            self.left -= 1;
            let mut buf = vec![0u8; 16 * 1024];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            drop(stream);
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A fast retry policy for tests (no timing is asserted on it).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        base: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
    }
}

/// An update for `repository` from `current` to `latest`, with a kubectl command.
pub fn update(
    namespace: &str,
    name: &str,
    repository: &str,
    current: &str,
    latest: &str,
) -> Update {
    let image = format!("{repository}:{current}");
    let latest_image = format!("{repository}:{latest}");
    Update {
        namespace: namespace.into(),
        kind: "Deployment".into(),
        name: name.into(),
        container: name.into(),
        init_container: false,
        image,
        repository: repository.into(),
        current_tag: current.into(),
        latest_tag: latest.into(),
        latest_image: latest_image.clone(),
        strategy: "bugfix".into(),
        reason: format!("newest {latest} in the same minor line"),
        command: Some(format!(
            "kubectl patch deployment {name} -n {namespace} --patch '{{\"spec\":{{\"template\":{{\"spec\":{{\"containers\":[{{\"name\":\"{name}\",\"image\":\"{latest_image}\"}}]}}}}}}}}'"
        )),
        helm_release: None,
        in_git: None,
    }
}

/// The two-service report of the original README.
pub fn two_updates() -> Vec<Update> {
    vec![
        update(
            "pisp-lab",
            "account-lookup-service",
            "mojaloop/account-lookup-service",
            "v10.3.0",
            "v10.3.4",
        ),
        update(
            "pisp-lab",
            "central-ledger",
            "mojaloop/central-ledger",
            "v13.14.0",
            "v13.16.1",
        ),
    ]
}

pub fn notification(updates: &[Update], failures: Vec<String>) -> Notification {
    Notification::diff(Event::Changed, None, &[], updates, failures)
}

/// `count` distinct updates across namespaces and repositories.
pub fn many_updates(count: usize) -> Vec<Update> {
    (0..count)
        .map(|i| {
            update(
                &format!("ns-{:02}", i % 7),
                &format!("service-{i:03}"),
                &format!("mojaloop/service-{}", i % 40),
                "v1.0.0",
                &format!("v1.0.{}", 1 + i % 5),
            )
        })
        .collect()
}
