//! The image-watcher API and the HTTP server of `ml-operator run`, as a real process against
//! kube-sim and the real docker-registry (behind the counting proxy), the way a hostile or a
//! careless client meets it: hosts it must not contact, the request shapes the original
//! ml-operator sends, repeated questions, slowloris and half-open sockets.
//!
//! Requests are written on raw sockets so nothing normalises them (`%2F`, `[::1]`), from
//! distinct loopback source addresses where the per-client limits would otherwise mix in.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube_sim::KubeSim;
use ml_operator::operator::server::MAX_CONNECTIONS;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use support::{Operator, eventually, repo, small_hub_registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const HEX: &str = "3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79";

struct Hub {
    _sim: kube_sim::Running,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn hub() -> Hub {
    let sim = KubeSim::builder()
        .load(repo().join("tests/fixtures/small-hub.yaml"))
        .unwrap()
        .start()
        .await
        .unwrap();
    sim.handle()
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    Hub {
        _sim: sim,
        dir,
        kubeconfig,
    }
}

/// The proxy as the hub's docker.io mirror, one scan at start (the schedule is yearly), and
/// `extra` configuration.
fn config(dir: &Path, mirror: &str, extra: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "schedule: '0 0 0 1 1 *'\nnotify: {{events: false}}\nleaderElection: {{leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}}\nregistries:\n  - {{host: docker.io, mirror: '{mirror}'}}\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// A TCP connection to the operator from the loopback address `127.0.0.{from}`.
async fn connect_from(from: u8, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from(([127, 0, 0, from], 0)))
        .unwrap();
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap()
}

/// `GET path` written as is on a new connection from `127.0.0.{from}`: status and body.
async fn get_from(from: u8, port: u16, path: &str) -> (u16, String) {
    let mut socket = connect_from(from, port).await;
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// What the original ml-operator does with an image string (`imageStringToSpec`, the regex
/// `(.*)/(.*):(.*)`, both groups greedy): `(orgId, imageName, tag)`.
fn original_spec(image: &str) -> (String, String, String) {
    let colon = image.rfind(':').expect("a tag");
    let slash = image[..colon].rfind('/').expect("an org");
    (
        image[..slash].to_string(),
        image[slash + 1..colon].to_string(),
        image[colon + 1..].to_string(),
    )
}

/// The path the original ml-operator asks for an image: `/images/{orgId}/{imageName}/{tag}`.
fn original_path(image: &str) -> String {
    let (org, name, tag) = original_spec(image);
    format!("/images/{org}/{name}/{tag}")
}

/// A listener that counts the connections made to it (and accepts them, so a request would
/// be seen if one were sent).
struct Witness {
    port: u16,
    connections: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Witness {
    async fn start() -> Witness {
        let v4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let mut listeners = vec![v4];
        // The same port on ::1 too, when the machine has IPv6 loopback.
        if let Ok(v6) = tokio::net::TcpListener::bind(("::1", port)).await {
            listeners.push(v6);
        }
        let tasks = listeners
            .into_iter()
            .map(|listener| {
                let connections = connections.clone();
                tokio::spawn(async move {
                    while let Ok((_socket, _)) = listener.accept().await {
                        connections.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Witness {
            port,
            connections,
            tasks,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// `registry` label values of `ml_operator_registry_requests_total`.
fn registry_labels(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("ml_operator_registry_requests_total{registry=\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refuses_every_other_host_without_contacting_it() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    // A configured private registry with a robot password.
    let private = RegistryProc::start(
        AuthMode::Htpasswd(vec![("robot".into(), "robot-secret".into())]),
        false,
    )
    .await;
    private
        .push("private/app", &["v1.0.0".into(), "v1.0.1".into()], true)
        .await;
    let password = hub.dir.path().join("robot-password");
    std::fs::write(&password, "robot-secret\n").unwrap();
    let config = config(
        hub.dir.path(),
        &proxy.host(),
        &format!(
            "  - {{host: '{}', username: robot, passwordFile: '{}'}}\n",
            private.host(),
            password.display()
        ),
    );
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;
    let witness = Witness::start().await;
    let p = witness.port;

    let attempts = [
        format!("/images/127.0.0.1:{p}/x/v1.0.0"),
        format!("/images/127.0.0.1:{p}/mojaloop/x/v1.0.0"),
        format!("/images/127.0.0.1:{p}/x/v1.0.0@sha256/{HEX}"),
        format!("/images/localhost:{p}/x/v1.0.0"),
        format!("/images/LOCALHOST:{p}/x/v1.0.0"),
        format!("/images/[::1]:{p}/x/v1.0.0"),
        format!("/images/127.0.0.1%3A{p}/x/v1.0.0"),
        format!("/images/127.0.0.1:{p}%2Fx/y/v1.0.0"),
        format!("/images/127.0.0.1:{p}%2fx/y/v1.0.0"),
        format!("/images/mojaloop%2F..%2F127.0.0.1:{p}/x/v1.0.0"),
        format!("/images/x/127.0.0.1:{p}/v1.0.0"),
        "/images/host.with.dots/x/v1.0.0".to_string(),
        "/images/host.with.dots/x/y/v1.0.0".to_string(),
        // The private registry's host name, but another port: not the configured host.
        format!(
            "/images/{}/private/app/v1.0.0",
            private
                .host()
                .replace(&private.addr.port().to_string(), &p.to_string())
        ),
    ];
    for path in &attempts {
        let (status, body) = get_from(2, operator.port, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            !body.contains(&p.to_string()) && !body.contains("127.0.0.1"),
            "{path}: the answer repeats the host: {body}"
        );
    }
    let (_, refused) = get_from(2, operator.port, &attempts[0]).await;
    assert_eq!(
        refused,
        r#"{"error":"registry not allowed: only Docker Hub repositories and the configured registries are served"}"#
    );

    // The configured private registry is served, with its credentials, through the API.
    let (status, body) = get_from(
        2,
        operator.port,
        &format!("/images/{}/private/app/v1.0.0", private.host()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"tag": "v1.0.1", "fullImage": format!("{}/private/app:v1.0.1", private.host())})
    );

    assert_eq!(
        witness.connections(),
        0,
        "the operator connected to a host nobody configured"
    );
    let (_, metrics) = operator.get("/metrics").await;
    assert!(!metrics.contains(&format!(":{p}")), "{metrics}");
    for label in registry_labels(&metrics) {
        assert!(
            [proxy.host(), private.host(), "other".to_string()].contains(&label),
            "unexpected registry label {label:?}\n{metrics}"
        );
    }
    assert!(
        !operator.log().contains("robot-secret"),
        "{}",
        operator.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_the_request_shapes_of_the_original_client() {
    let hub = hub().await;
    let (registry, proxy) = small_hub_registry().await;
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    registry
        .push(
            "mojaloop/central-settlement",
            &tags(&["v17.2.2", "v17.2.3", "v17.3.0"]),
            false,
        )
        .await;
    registry
        .push(
            "mojaloop/central-event-processor",
            &tags(&["v12.1.1", "v12.1.2", "v13.0.0"]),
            false,
        )
        .await;
    let config = config(hub.dir.path(), &proxy.host(), "");
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;

    // (image in the workload, path asked, expected tag, expected fullImage)
    let cases = [
        (
            "mojaloop/account-lookup-service:v10.3.1",
            None,
            "v10.3.4",
            "mojaloop/account-lookup-service:v10.3.4",
        ),
        (
            "docker.io/mojaloop/central-settlement:v17.2.2",
            None,
            "v17.2.3",
            "docker.io/mojaloop/central-settlement:v17.2.3",
        ),
        (
            "index.docker.io/mojaloop/central-settlement:v17.2.2",
            None,
            "v17.2.3",
            "index.docker.io/mojaloop/central-settlement:v17.2.3",
        ),
        (
            "registry-1.docker.io/mojaloop/central-settlement:v17.2.2",
            None,
            "v17.2.3",
            "registry-1.docker.io/mojaloop/central-settlement:v17.2.3",
        ),
        // Digest-pinned: the original client's regex puts the tag into the image segment.
        (
            &*format!("mojaloop/central-event-processor:v12.1.1@sha256:{HEX}"),
            None,
            "v12.1.2",
            "mojaloop/central-event-processor:v12.1.2",
        ),
        // The same image, as the hardening issue wrote the path.
        (
            &*format!("mojaloop/central-event-processor:v12.1.1@sha256:{HEX}"),
            Some(format!(
                "/images/mojaloop/central-event-processor/v12.1.1@sha256/{HEX}"
            )),
            "v12.1.2",
            "mojaloop/central-event-processor:v12.1.2",
        ),
        // Already the newest: the tag before `@`, never the hex.
        (
            &*format!("mojaloop/central-event-processor:v12.1.2@sha256:{HEX}"),
            None,
            "v12.1.2",
            "mojaloop/central-event-processor:v12.1.2",
        ),
    ];
    for (image, path, tag, full_image) in cases {
        let path = path.unwrap_or_else(|| original_path(image));
        let (status, body) = get_from(2, operator.port, &format!("{path}?strategy=bugfix")).await;
        assert_eq!(status, 200, "{path}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"tag": tag, "fullImage": full_image}),
            "{path}"
        );
        assert_ne!(answer["tag"], HEX, "{path}");
        // The original client reads `fullImage` back with its regex and matches containers by
        // org and image: a plain or `docker.io/` image keeps both.
        let (org, name, _) = original_spec(image);
        let (answer_org, answer_name, answer_tag) = original_spec(full_image);
        assert_eq!(answer_tag, tag);
        if !image.contains('@') {
            assert_eq!((answer_org, answer_name), (org, name), "{path}");
        }
    }
    // Default strategy (bugfix) and the other strategies, on the prefixed shape too.
    let (status, body) = get_from(
        2,
        operator.port,
        "/images/docker.io/mojaloop/central-settlement/v17.2.2?strategy=minor",
    )
    .await;
    assert_eq!(
        (status, body.contains(r#""tag":"v17.3.0""#)),
        (200, true),
        "{body}"
    );

    for (path, status, needle) in [
        (
            "/images/mojaloop/central-event-processor/v12.1.1@sha256/abc".to_string(),
            400,
            "malformed digest: a sha256 digest is 64 hex digits",
        ),
        (
            format!("/images/mojaloop/central-event-processor/v12.1.1@md5/{HEX}"),
            400,
            "malformed digest: the algorithm must be sha256 or sha512",
        ),
        (
            format!(
                "/images/mojaloop/central-event-processor/v12.1.1@sha256/{}",
                HEX.to_uppercase()
            ),
            400,
            "malformed digest: the digest must be lower-case hex",
        ),
        (
            "/images/mojaloop/account-lookup-service/v10.3.1?strategy=newest".to_string(),
            400,
            "newest",
        ),
        (
            "/images/mojaloop/no-such-service/v1.0.0".to_string(),
            404,
            r#"{"error":"unknown repository docker.io/mojaloop/no-such-service"}"#,
        ),
        (
            "/images/docker.io/mojaloop/no-such-service/v1.0.0".to_string(),
            404,
            "unknown repository docker.io/mojaloop/no-such-service",
        ),
        (
            "/images/Mojaloop/central-ledger/v1.0.0".to_string(),
            400,
            "invalid org",
        ),
        (
            "/images/mojaloop/Central-Ledger/v1.0.0".to_string(),
            400,
            "invalid image",
        ),
    ] {
        let (got, body) = get_from(2, operator.port, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(needle), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_identical_questions_make_one_registry_walk() {
    let hub = hub().await;
    let (registry, proxy) = small_hub_registry().await;
    // A repository no workload uses, so the start-up scan has not listed it.
    registry
        .push(
            "mojaloop/not-in-the-hub",
            &["v1.0.0".into(), "v1.0.1".into(), "v1.1.0".into()],
            false,
        )
        .await;
    let config = config(hub.dir.path(), &proxy.host(), "cacheTtl: 0s\n");
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;
    eventually("the start-up scan", Duration::from_secs(30), async || {
        operator.get("/readyz").await.0 == 200
    })
    .await;
    let path = "/images/mojaloop/not-in-the-hub/v1.0.0?strategy=bugfix";
    let expected = r#"{"tag":"v1.0.1","fullImage":"mojaloop/not-in-the-hub:v1.0.1"}"#;
    // Fifteen at once, then fifteen one after another.
    let at_once =
        futures::future::join_all((0..15).map(|_| get_from(3, operator.port, path))).await;
    let mut answers = at_once;
    for _ in 0..15 {
        answers.push(get_from(3, operator.port, path).await);
    }
    for (status, body) in &answers {
        assert_eq!((*status, body.as_str()), (200, expected));
    }
    assert_eq!(
        proxy.count("/v2/mojaloop/not-in-the-hub/tags/list"),
        1,
        "30 questions, one tag walk\n{:?}",
        proxy.seen()
    );
    // A repository the start-up scan listed is answered from that walk (cacheTtl 0s for scans).
    let before = proxy.count("/v2/mojaloop/account-lookup-service/tags/list");
    for _ in 0..5 {
        let (status, _) = get_from(
            3,
            operator.port,
            "/images/mojaloop/account-lookup-service/v10.3.1",
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        proxy.count("/v2/mojaloop/account-lookup-service/tags/list"),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_each_client_and_not_the_others() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(hub.dir.path(), &proxy.host(), "");
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;
    let path = "/images/mojaloop/account-lookup-service/v10.3.1";
    let mut limited = 0;
    for _ in 0..80 {
        let (status, _) = get_from(4, operator.port, path).await;
        assert!(status == 200 || status == 429, "{status}");
        limited += usize::from(status == 429);
    }
    assert!(limited >= 10, "{limited} of 80 limited");
    // Another client is not affected, nor are health checks of the limited one.
    assert_eq!(get_from(5, operator.port, path).await.0, 200);
    assert_eq!(get_from(4, operator.port, "/health").await.0, 200);
    // And the answer says when to come back.
    let mut socket = connect_from(4, operator.port).await;
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    if answer.starts_with("HTTP/1.1 429") {
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 1"),
            "{answer}"
        );
    }
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_and_half_open_sockets_are_bounded() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(hub.dir.path(), &proxy.host(), "");
    let mut operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;
    eventually("the start-up scan", Duration::from_secs(30), async || {
        operator.get("/readyz").await.0 == 200
    })
    .await;
    let pid = operator.pid().unwrap();
    let rss_before = rss_kib(pid);

    // 2,000 half-open sockets from 100 clients (20 each): the server holds at most its
    // connection limit, the rest wait in the backlog; memory stays flat.
    let mut half_open = Vec::new();
    for i in 0..2000u32 {
        let from = 10 + (i % 100) as u8;
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, from], 0)))
            .unwrap();
        let target = SocketAddr::from(([127, 0, 0, 1], operator.port));
        // Beyond the backlog the kernel drops the handshake; such a connect would retry for
        // minutes, so each gets a few seconds: "refused or queued" either way.
        half_open.push(tokio::spawn(tokio::time::timeout(
            Duration::from_secs(3),
            socket.connect(target),
        )));
    }
    let mut connected = Vec::new();
    for task in half_open {
        if let Ok(Ok(Ok(socket))) = task.await {
            connected.push(socket);
        }
    }
    // The server has accepted what it will accept once its connection count stops rising.
    let mut held = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let now = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        if now == held {
            break;
        }
        held = now;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_with_sockets = rss_kib(pid);
    println!(
        "{} half-open sockets connected; operator fds {held}; RSS {rss_before} KiB -> {rss_with_sockets} KiB",
        connected.len()
    );
    assert!(
        held < MAX_CONNECTIONS + 100,
        "the operator holds {held} descriptors with 2,000 half-open sockets"
    );
    assert!(
        rss_with_sockets < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_with_sockets} KiB"
    );
    drop(connected);

    // Slowloris: 8 sockets that send half a request head and stall are closed by the header
    // read timeout (10 s), and a probe from another client is answered meanwhile.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut socket = connect_from(6, operator.port).await;
        socket
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            .await
            .unwrap();
        slow.push(socket);
    }
    let started = Instant::now();
    assert_eq!(get_from(7, operator.port, "/healthz").await.0, 200);
    for socket in &mut slow {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf))
            .await
            .expect("the operator closes a slowloris socket");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    let closed_after = started.elapsed();
    println!("8 slowloris sockets closed after {closed_after:?}");
    assert!(closed_after < Duration::from_secs(15), "{closed_after:?}");

    // SIGTERM with stalled sockets open: the server does not hold the exit up.
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(connect_from(8, operator.port).await);
    }
    let terminating = Instant::now();
    let status = operator.terminate().await;
    assert!(status.success(), "{status:?}\n{}", operator.log());
    assert!(
        terminating.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        terminating.elapsed()
    );
}
