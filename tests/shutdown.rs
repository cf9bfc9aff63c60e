//! SIGTERM ends `ml-operator run` within 5 s, whatever the endpoints and the API server do:
//! a Slack endpoint that never answers, an API server that is gone, one that never answers.
//! The Lease is released when the API server can still be reached.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_sim::KubeSim;
use support::{Operator, eventually, eventually_or, repo, small_hub_registry};
use tokio::io::AsyncReadExt;

/// Kubernetes' default grace is 30 s; we promise 5.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

async fn sim() -> kube_sim::Running {
    let sim = KubeSim::builder()
        .load(repo().join("tests/fixtures/small-hub.yaml"))
        .unwrap()
        .start()
        .await
        .unwrap();
    sim.handle()
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    sim
}

fn write_config(dir: &Path, registry: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "schedule: '* * * * * *'\nregistries:\n  - {{host: docker.io, mirror: '{registry}'}}\nleaderElection: {{leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 500ms}}\n"
        ),
    )
    .unwrap();
    path
}

/// A "Slack" that accepts connections, reads the request and never answers. Counts accepts.
struct BlackHole {
    addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while socket.read(&mut buffer).await.is_ok_and(|n| n > 0) {}
                });
            }
        });
        BlackHole {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn holder(handle: &kube_sim::Handle) -> String {
    handle
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("ml-operator"),
            "ml-operator",
        )
        .map(|lease| {
            lease["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_a_black_hole_slack_exits_within_5s_and_releases_the_lease() {
    let sim = sim().await;
    let handle = sim.handle();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let slack = BlackHole::start().await;
    let config = write_config(dir.path(), &proxy.host());
    let url = format!("http://{}/services/T0/B0/secret", slack.addr);
    let mut operator = Operator::start(
        "black-hole",
        dir.path(),
        &kubeconfig,
        &config,
        &[("SLACK_WEBHOOK_URL", url.as_str())],
    )
    .await;
    eventually_or(
        "a delivery to the black hole",
        Duration::from_secs(60),
        async || slack.accepted() > 0,
        || operator.log(),
    )
    .await;
    assert_eq!(holder(&handle), "black-hole");

    let (status, took) = operator.terminate_within(EXIT_LIMIT).await;
    eprintln!("black-hole Slack: exited {took:?} after SIGTERM");
    assert!(
        status.success(),
        "exits cleanly: {status:?}\n{}",
        operator.log()
    );
    assert!(took < EXIT_LIMIT, "took {took:?}\n{}", operator.log());
    assert_eq!(holder(&handle), "", "the Lease is released");
    assert!(
        operator.log().contains("delivery to slack cancelled"),
        "{}",
        operator.log()
    );
    // The undelivered message was not recorded as told.
    let state = handle.get("v1", "ConfigMap", Some("ml-operator"), "ml-operator-state");
    let told_slack = state
        .as_ref()
        .and_then(|s| s["data"].as_object())
        .is_some_and(|data| data.keys().any(|k| k.contains("slack")));
    assert!(!told_slack, "slack is not recorded as told: {state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_the_api_server_gone_exits_within_5s() {
    for gone in ["stopped", "not answering"] {
        let sim = sim().await;
        let handle = sim.handle();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        let (_registry, proxy) = small_hub_registry().await;
        let config = write_config(dir.path(), &proxy.host());
        let mut operator = Operator::start("gone", dir.path(), &kubeconfig, &config, &[]).await;
        eventually("leadership", Duration::from_secs(30), async || {
            holder(&handle) == "gone"
        })
        .await;
        operator.wait_for_scans(1.0).await;
        match gone {
            "stopped" => sim.stop().await,
            _ => {
                handle.add_latency("/", Duration::from_secs(600));
                // Keep `sim` serving (slowly) until the operator has exited.
                std::mem::forget(sim);
            }
        }
        let (status, took) = operator.terminate_within(EXIT_LIMIT).await;
        eprintln!("API server {gone}: exited {took:?} after SIGTERM");
        assert!(
            took < EXIT_LIMIT,
            "{gone}: took {took:?}\n{}",
            operator.log()
        );
        assert!(status.success(), "{gone}: {status:?}\n{}", operator.log());
    }
}
