//! Shared by the operator tests: a webhook receiver, the operator as a real process, and a
//! registry filled with the small hub's tags.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ml_operator::inventory::image::ImageRef;
use ml_operator_testkit::operator::OperatorProcess;
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use tokio::process::Command;

#[allow(unused_imports)] // each test binary uses some of them
pub use ml_operator_testkit::wait::{eventually, eventually_or};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Statuses to answer with, in order; 200 once they run out.
    script: Mutex<VecDeque<u16>>,
    received: Mutex<Vec<Received>>,
}

/// A local webhook receiver (Slack, Teams or generic) that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .fallback(post(|State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes| async move {
                let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
                state.received.lock().unwrap().push(Received { headers, body, status });
                let body = if status == 200 { "ok" } else { "server_error" };
                (StatusCode::from_u16(status).unwrap(), body)
            }))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, state, task }
    }

    /// A Slack-looking URL with a secret in its path.
    pub fn url(&self) -> String {
        format!(
            "http://{}/services/T0000/B0000/s3cr3t-webhook-token",
            self.addr
        )
    }

    /// Answer the next requests with these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The requests that were answered with 200.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status == 200)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ml-operator run` as a real process.
pub struct Operator(OperatorProcess);

impl std::ops::Deref for Operator {
    type Target = OperatorProcess;
    fn deref(&self) -> &OperatorProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Operator {
    fn deref_mut(&mut self) -> &mut OperatorProcess {
        &mut self.0
    }
}

impl Operator {
    /// Starts `ml-operator run` with a kubeconfig, config file and extra environment.
    pub async fn start(
        name: &str,
        dir: &Path,
        kubeconfig: &Path,
        config: &Path,
        env: &[(&str, &str)],
    ) -> Operator {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_ml-operator"));
        command
            .args(["run", "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOCKER_CONFIG", dir)
            .env("POD_NAME", name)
            .env("POD_NAMESPACE", "ml-operator")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        Operator(OperatorProcess::spawn(name, port, command, log).await)
    }
}

/// A tag index file of the repository (`examples/tags.json`), by repository path in the
/// registry (`library/redis`).
fn index_by_repository(file: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let index: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&text).unwrap();
    index
        .into_iter()
        .map(|(name, tags)| (ImageRef::parse(&name).unwrap().repository(), tags))
        .collect()
}

/// The real registry holding `index`'s tags, behind a proxy that counts and injects faults.
async fn filled_registry(
    index: &std::collections::BTreeMap<String, Vec<String>>,
) -> (RegistryProc, FaultProxy) {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    futures::future::join_all(
        index
            .iter()
            .map(|(repository, tags)| registry.push(repository, tags, false)),
    )
    .await;
    let proxy = FaultProxy::start(&registry.base()).await;
    (registry, proxy)
}

/// The real registry with the small hub's tags, behind a proxy that counts and injects faults.
pub async fn small_hub_registry() -> (RegistryProc, FaultProxy) {
    filled_registry(&index_by_repository("tests/fixtures/small-tags.json")).await
}

/// The bundled example's tag index (`examples/tags.json`), by repository path in the registry
/// (`library/redis`).
pub fn example_index() -> std::collections::BTreeMap<String, Vec<String>> {
    index_by_repository("examples/tags.json")
}

/// A registry filled with the example's tags, behind a counting proxy; and a config file in
/// `dir` that makes the proxy the mirror of every registry the example uses.
pub async fn example_registry(dir: &Path) -> (RegistryProc, FaultProxy, PathBuf) {
    let (registry, proxy) = filled_registry(&example_index()).await;
    let config = dir.join("config.yaml");
    // The example pins one image by a digest this registry does not hold for its tag: with the
    // overwritten-tag check on, that is (rightly) tag-overwritten. tests/supply_chain.rs covers
    // it; the tests using this registry want the offline index's findings.
    std::fs::write(
        &config,
        format!(
            "checkOverwrittenTags: false\nregistries:\n  - {{host: docker.io, mirror: '{0}'}}\n  - {{host: quay.io, mirror: '{0}'}}\n",
            proxy.host()
        ),
    )
    .unwrap();
    (registry, proxy, config)
}
