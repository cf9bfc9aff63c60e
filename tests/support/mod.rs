//! Shared by the operator tests: a webhook receiver, the operator as a real process, and a
//! registry filled with the small hub's tags.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ml_operator::inventory::image::ImageRef;
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use tokio::process::{Child, Command};

/// Waits until `check` is true, polling; panics with `what` after `limit`.
pub async fn eventually(what: &str, limit: Duration, check: impl AsyncFnMut() -> bool) {
    eventually_or(what, limit, check, String::new).await
}

/// Like [`eventually`], adding `context()` (e.g. a log) to the panic message.
pub async fn eventually_or(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
pub struct Operator {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    http: reqwest::Client,
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
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
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
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = command.spawn().unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let operator = Operator {
            name: name.into(),
            port,
            child: Some(child),
            log,
            http: reqwest::Client::new(),
        };
        let probe = operator.http.clone();
        let url = operator.url("/healthz");
        eventually(
            &format!("{name} to serve /healthz"),
            Duration::from_secs(30),
            async || {
                probe
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await;
        operator
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(self.url(path)).send().await {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// The value of one metric line (exact name and labels as printed), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)?
                    .trim()
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// Scans this replica has run.
    pub async fn scans(&self) -> f64 {
        self.metric("ml_operator_scans_total{result=\"complete\"}")
            .await
            + self
                .metric("ml_operator_scans_total{result=\"partial\"}")
                .await
    }

    /// Waits until this replica has run `more` scans beyond now.
    pub async fn wait_for_scans(&self, more: f64) {
        let start = self.scans().await;
        eventually_or(
            &format!("{} to scan {more} more times", self.name),
            Duration::from_secs(60),
            async || self.scans().await >= start + more,
            || self.log(),
        )
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }

    /// SIGTERM, then wait at most twice `limit` for the exit; returns the status and how long
    /// the exit took after the signal.
    pub async fn terminate_within(
        &mut self,
        limit: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let signalled = Instant::now();
        match tokio::time::timeout(limit * 2, child.wait()).await {
            Ok(status) => (status.unwrap(), signalled.elapsed()),
            Err(_) => {
                let _ = child.start_kill();
                panic!(
                    "{} still running {:?} after SIGTERM\n{}",
                    self.name,
                    limit * 2,
                    self.log()
                );
            }
        }
    }

    /// SIGKILL: a crash, nothing released.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.unwrap();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The small hub's tag index, by repository path in the registry.
pub fn small_hub_tags() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/small-tags.json")).unwrap();
    let index: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&text).unwrap();
    index
        .into_iter()
        .map(|(name, tags)| (ImageRef::parse(&name).unwrap().repository(), tags))
        .collect()
}

/// The real registry with the small hub's tags, behind a proxy that counts and injects faults.
pub async fn small_hub_registry() -> (RegistryProc, FaultProxy) {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    for (repository, tags) in small_hub_tags() {
        registry.push(&repository, &tags, false).await;
    }
    let proxy = FaultProxy::start(&registry.base()).await;
    (registry, proxy)
}
