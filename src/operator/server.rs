//! The HTTP server (`--listen`, default `0.0.0.0:4006`, the original image-watcher's port):
//! the image-watcher compatible API, health, readiness, metrics and the last report.
//!
//! `GET /images/{org}/{image}/{tag}?strategy=bugfix` answers like the original image-watcher:
//! `200 {"tag":"v10.3.4","fullImage":"mojaloop/account-lookup-service:v10.3.4"}` (the current
//! tag when it is already the newest), `404` for an unknown repository, `400` for a bad strategy
//! or a request outside the grammar of [`image_api`] (which also
//! accepts the `docker.io/…` and digest-pinned shapes the original client sends, and refuses
//! every registry host that is not Docker Hub or configured), `429` over the per-client rate
//! limit ([`API_REQUESTS_PER_SECOND`], [`API_BURST`]), `502` when the registry fails.
//!
//! [`serve`] runs the server with the [`Limits`] below: HTTP/1.1 only, a header read timeout
//! that also closes idle keep-alive connections, body and request timeouts, bounded header and
//! body sizes and a bounded number of connections; it stops accepting on the stop signal and
//! gives open connections [`SHUTDOWN_GRACE`] to finish.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ml_operator_version::Strategy;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::operator::image_api::{self, ImageQuestion, Unanswered};
use crate::operator::last_report::{LastReport, accepts_gzip};
use crate::operator::metrics::Metrics;
use crate::tags::TagSource;

/// How long a client may take to send a request's headers, from connecting (or from the end of
/// its previous response on a kept-alive connection) to the blank line: a slowloris socket, a
/// silent half-open one and an idle keep-alive connection are closed after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may go without sending anything (only `POST /slack/interactions`
/// reads one).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all, answered `503` after that (an `/images` question to a
/// slow registry is the only one that can take long).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body accepted: `413` over it (a Slack click is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest request head (request line and headers) accepted: `431` over it.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most request headers accepted: `431` over it.
pub const MAX_HEADERS: usize = 64;
/// The most connections served at once. Further connections wait in the listen backlog until
/// one closes (at the latest after [`HEADER_READ_TIMEOUT`] for a silent one).
pub const MAX_CONNECTIONS: usize = 512;
/// The most connections one client (a peer IP address, an IPv6 client by its /64) may hold
/// open at once; a further one is closed at once, so a single client cannot take every slot
/// of [`MAX_CONNECTIONS`] (health probes and Prometheus keep being served).
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// How long open connections get to finish after the stop signal before they are closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Requests per second one client may send to `/images`, sustained. A client is a peer IP
/// address (an IPv6 client by its /64).
pub const API_REQUESTS_PER_SECOND: u32 = 10;
/// Requests one client may send to `/images` in a burst: the original ml-operator asks about
/// every service of a hub at once on each tick (about 40 for a full Mojaloop hub).
pub const API_BURST: u32 = 50;
/// Clients the rate limiter keeps state for before forgetting those back at a full burst.
const RATE_LIMITED_CLIENTS: usize = 10_000;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where tags come from (the same source scans use).
    pub source: Arc<TagSource>,
    /// The metrics to expose.
    pub metrics: Metrics,
    /// Set once the inventory is synced and (on the leader) the first scan is done.
    pub ready: Arc<AtomicBool>,
    /// The last scan, for `GET /report`.
    pub last_report: Arc<RwLock<Option<LastReport>>>,
}

/// The routes. `/images/...` is rate limited per client ([`API_REQUESTS_PER_SECOND`],
/// [`API_BURST`]); [`serve`] adds the request [`Limits`].
pub fn router(state: AppState) -> Router {
    let quota = Quota::per_second(NonZeroU32::new(API_REQUESTS_PER_SECOND).expect("not zero"))
        .allow_burst(NonZeroU32::new(API_BURST).expect("not zero"));
    let limiter = ApiRateLimit(Arc::new(RateLimiter::keyed(quota)));
    let images = Router::new()
        .route("/images/{*path}", get(newest_image))
        .route_layer(middleware::from_fn_with_state(limiter, rate_limited));
    Router::new()
        .merge(images)
        .route("/health", get(|| async { Json(json!({"status": "OK"})) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .with_state(state)
}

/// The HTTP server's limits; [`Limits::default`] holds the constants above, which is what
/// `run` serves with (tests shorten the timeouts).
#[derive(Debug, Clone)]
pub struct Limits {
    /// [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// [`MAX_HEADER_BYTES`] (hyper's read buffer; at least 8 KiB).
    pub max_header_bytes: usize,
    /// [`MAX_HEADERS`].
    pub max_headers: usize,
    /// [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// [`MAX_CONNECTIONS_PER_CLIENT`].
    pub max_connections_per_client: usize,
    /// [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

impl Limits {
    /// The per-request limits as tower layers around `app`.
    fn apply(&self, app: Router) -> Router {
        app.layer(DefaultBodyLimit::max(self.max_body_bytes))
            .layer(RequestBodyLimitLayer::new(self.max_body_bytes))
            .layer(RequestBodyTimeoutLayer::new(self.body_read_timeout))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                self.request_timeout,
            ))
    }
}

/// Serves `app` on `listener` with the default [`Limits`] until `stop` resolves.
pub async fn serve(listener: TcpListener, app: Router, stop: impl Future<Output = ()>) {
    serve_with(listener, app, stop, Limits::default()).await;
}

/// Serves `app` on `listener` with `limits` until `stop` resolves, then stops accepting, lets
/// open connections finish for [`Limits::shutdown_grace`] and closes the rest.
///
/// HTTP/1.1 with hyper's connection builder (its header read timeout and head size limit are
/// not reachable through `axum::serve`); at most [`Limits::max_connections`] at once and
/// [`Limits::max_connections_per_client`] per client; each request carries the peer address
/// as [`ConnectInfo`] for the rate limit.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()>,
    limits: Limits,
) {
    let app = limits.apply(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(ClientConnections::default());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        // Wait for a free slot before accepting: the kernel's backlog holds the rest.
        let slot = tokio::select! {
            biased;
            () = &mut stop => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or the like: wait rather than spin.
                    tracing::error!("HTTP server: cannot accept a connection: {e}");
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        let Some(client) = per_client.open(peer.ip(), limits.max_connections_per_client) else {
            tracing::debug!(%peer, "HTTP server: too many connections from this client; closing");
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "HTTP connection closed: {e}");
            }
            drop((slot, client));
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let open = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                "HTTP server: {open} connection(s) still open {}s after the stop signal; closing them",
                limits.shutdown_grace.as_secs()
            );
        }
    }
    connections.shutdown().await;
}

/// Errors of one incoming connection (the peer gave up), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Open connections per client, for [`Limits::max_connections_per_client`].
#[derive(Default)]
struct ClientConnections(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One open connection of a client; closing it (dropping this) frees its place.
struct ClientConnection {
    clients: Arc<ClientConnections>,
    key: IpAddr,
}

impl ClientConnections {
    /// Counts a new connection from `ip`, unless that client already has `limit` open.
    fn open(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<ClientConnection> {
        let key = client_key(ip);
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_default();
        if *count >= limit.max(1) {
            return None;
        }
        *count += 1;
        Some(ClientConnection {
            clients: self.clone(),
            key,
        })
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The per-client rate limiter of `/images`.
#[derive(Clone)]
struct ApiRateLimit(Arc<DefaultKeyedRateLimiter<IpAddr>>);

/// The rate limiter's key for a peer: IPv4 as is (also when mapped into IPv6), IPv6 by /64,
/// the block one subscriber usually holds.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

async fn rate_limited(State(limit): State<ApiRateLimit>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
            client_key(peer.0.ip())
        });
    if limit.0.len() > RATE_LIMITED_CLIENTS {
        limit.0.retain_recent();
        limit.0.shrink_to_fit();
    }
    match limit.0.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(std::time::Instant::now());
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many requests: at most {API_REQUESTS_PER_SECOND} per second per client"
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            response
        }
    }
}

/// The image-watcher answer, in the original's key order: `{"tag":…,"fullImage":…}`.
#[derive(serde::Serialize)]
struct NewestImage<'a> {
    tag: &'a str,
    #[serde(rename = "fullImage")]
    full_image: &'a str,
}

#[derive(Deserialize)]
struct StrategyQuery {
    strategy: Option<String>,
}

async fn newest_image(
    State(state): State<AppState>,
    uri: Uri,
    Query(query): Query<StrategyQuery>,
) -> Response {
    let strategy = match query
        .strategy
        .as_deref()
        .map(str::parse::<Strategy>)
        .transpose()
    {
        Ok(strategy) => strategy.unwrap_or_default(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // The raw path: `%2F` must not become a separator.
    let path = uri.path().strip_prefix("/images/").unwrap_or_default();
    let question = match ImageQuestion::parse(path, |host| state.source.is_configured(host)) {
        Ok(question) => question,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match image_api::newest(&state.source, &question, strategy).await {
        Ok(newest) => {
            let full_image = question.full_image(&newest);
            let body = NewestImage {
                tag: &newest,
                full_image: &full_image,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e @ Unanswered::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ Unanswered::Failed(_)) => error(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: inventory not synced or first scan not done",
        )
            .into_response()
    }
}

/// The metrics, gzip-compressed for scrapers that accept it.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    let content_type = (header::CONTENT_TYPE, OPENMETRICS);
    let vary = (header::VARY, "accept-encoding");
    if accepts_gzip(&headers) {
        let gzip = (header::CONTENT_ENCODING, "gzip");
        ([content_type, gzip, vary], state.metrics.encode_gzip()).into_response()
    } else {
        ([content_type, vary], state.metrics.encode()).into_response()
    }
}

async fn report(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let last = state.last_report.read().await.clone();
    match last {
        Some(last) => last.response(&headers),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no scan yet".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;
    use crate::tags::index::TagIndex;

    /// A running server on a free loopback port, stopped by `stop` (or when dropped).
    struct Running {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(limits: Limits) -> Running {
        let index =
            TagIndex::from_json(r#"{"mojaloop/x": ["v1.0.0", "v1.0.1", "v1.1.0"]}"#).unwrap();
        let app = router(AppState {
            source: Arc::new(TagSource::Index(index)),
            metrics: Metrics::new(None),
            ready: Arc::new(AtomicBool::new(true)),
            last_report: Arc::new(RwLock::new(None)),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            limits,
        ));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn short() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        }
    }

    /// Reads until the server closes the connection (or `limit` passes: then `None`).
    async fn until_closed(socket: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
        let mut received = Vec::new();
        let read = tokio::time::timeout(limit, async {
            let mut buf = [0u8; 4096];
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        read.ok().map(|()| received)
    }

    /// Sends `request` on a new connection and returns the status of the answer.
    async fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.write_all(request).await.unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await.unwrap();
        std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn slowloris_and_silent_sockets_are_closed_by_the_header_timeout() {
        let server = start(short()).await;
        let started = Instant::now();
        let mut sockets = Vec::new();
        for i in 0..8 {
            let mut socket = TcpStream::connect(server.addr).await.unwrap();
            if i % 2 == 0 {
                // A request head that never ends.
                socket
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                    .await
                    .unwrap();
            }
            sockets.push(socket);
        }
        for socket in &mut sockets {
            let answer = until_closed(socket, Duration::from_secs(10))
                .await
                .expect("the server closes a stalled socket");
            assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "closed after {took:?}"
        );
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
        let server = start(short()).await;
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        for _ in 0..2 {
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            while !answer.ends_with(b"ok") {
                let mut buf = [0u8; 512];
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed while answering");
                answer.extend_from_slice(&buf[..n]);
            }
            assert!(answer.starts_with(b"HTTP/1.1 200"), "kept alive");
        }
        let idle = Instant::now();
        let rest = until_closed(&mut socket, Duration::from_secs(10))
            .await
            .expect("an idle connection is closed");
        assert!(rest.is_empty());
        assert!(
            idle.elapsed() >= Duration::from_millis(900),
            "{:?}",
            idle.elapsed()
        );
    }

    #[tokio::test]
    async fn oversized_heads_get_431_and_bodies_413() {
        let server = start(Limits::default()).await;
        let big = format!(
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES + 1)
        );
        assert_eq!(status_of(server.addr, big.as_bytes()).await, 431);
        let many: String = (0..=MAX_HEADERS)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect();
        let many = format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(status_of(server.addr, many.as_bytes()).await, 431);
        for path in ["/health", "/images/mojaloop/x/v1.0.0"] {
            let body = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY_BYTES + 1
            );
            assert_eq!(status_of(server.addr, body.as_bytes()).await, 413, "{path}");
        }
        let fine = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Small: a\r\n\r\n";
        assert_eq!(status_of(server.addr, fine).await, 200);
    }

    #[tokio::test]
    async fn connections_over_the_limit_wait_for_a_free_slot() {
        let server = start(Limits {
            max_connections: 4,
            ..Limits::default()
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(server.addr).await.unwrap());
        }
        // The fifth connects (the kernel queues it) but is not served while all slots are taken.
        let mut fifth = TcpStream::connect(server.addr).await.unwrap();
        fifth
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let early = tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buf)).await;
        assert!(early.is_err(), "served beyond the limit: {early:?}");
        // One slot frees up: the fifth is served.
        drop(held.pop());
        let answer = until_closed(&mut fifth, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    #[tokio::test]
    async fn one_client_cannot_take_every_connection() {
        let server = start(Limits {
            max_connections: 8,
            max_connections_per_client: 3,
            ..Limits::default()
        })
        .await;
        let from = |last: u8| {
            let addr = server.addr;
            async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket
                    .bind(SocketAddr::from(([127, 0, 0, last], 0)))
                    .unwrap();
                socket.connect(addr).await.unwrap()
            }
        };
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(from(2).await);
        }
        // The fourth from the same client is closed at once, without an answer.
        let mut fourth = from(2).await;
        fourth
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .ok();
        let answer = until_closed(&mut fourth, Duration::from_secs(5))
            .await
            .expect("closed at once");
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        // Another client is served, and the first gets its place back once one closes.
        let mut other = from(3).await;
        other
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut other, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        drop(held.pop());
        // The server notices the close asynchronously: ask until it has.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut again = from(2).await;
            again
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .ok();
            let answer = until_closed(&mut again, Duration::from_secs(5))
                .await
                .unwrap();
            if answer.starts_with(b"HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "the place was not given back");
        }
    }

    #[tokio::test]
    async fn stops_on_the_signal_with_connections_open() {
        let mut server = start(Limits::default()).await;
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        let mut partial = TcpStream::connect(server.addr).await.unwrap();
        partial
            .write_all(b"GET /health HTTP/1.1\r\n")
            .await
            .unwrap();
        // Both are accepted before the stop: a request on a third connection is answered.
        assert_eq!(
            status_of(server.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await,
            200
        );
        let stopping = Instant::now();
        server.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(2), &mut server.task)
            .await
            .expect("the server stops within its grace period")
            .unwrap();
        assert!(stopping.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(1));
        for socket in [&mut silent, &mut partial] {
            until_closed(socket, Duration::from_secs(2))
                .await
                .expect("closed at shutdown");
        }
        assert!(
            TcpStream::connect(server.addr).await.is_err(),
            "no longer listening"
        );
    }

    #[tokio::test]
    async fn the_api_is_rate_limited_per_client_with_retry_after() {
        let server = start(Limits::default()).await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let url = format!("http://{}/images/mojaloop/x/v1.0.0", server.addr);
        let mut statuses = Vec::new();
        let mut retry_after = None;
        for _ in 0..(API_BURST + 20) {
            let response = http.get(&url).send().await.unwrap();
            if response.status() == 429 {
                retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
            }
            statuses.push(response.status().as_u16());
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(ok + limited, statuses.len(), "{statuses:?}");
        assert!(
            ok >= API_BURST as usize,
            "the burst is allowed: {statuses:?}"
        );
        assert!(limited >= 10, "then limited: {statuses:?}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        // Health and metrics are not limited.
        for _ in 0..(API_BURST + 20) {
            let health = format!("http://{}/health", server.addr);
            assert_eq!(http.get(&health).send().await.unwrap().status(), 200);
        }
    }

    #[test]
    fn rate_limit_keys() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(client_key(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
    }
}
