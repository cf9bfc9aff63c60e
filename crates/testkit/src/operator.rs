//! `ml-operator run` as a real process for the tests: its log in a file, its HTTP endpoints
//! (`/healthz`, `/report`, `/metrics`) asked over loopback, and its end (SIGTERM, SIGKILL, or
//! killed when dropped). The test suites build the command line; this owns the process.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::wait::eventually_or;

/// A running `ml-operator run`; killed when dropped.
pub struct OperatorProcess {
    /// `POD_NAME`, and the name in messages.
    pub name: String,
    /// The loopback port it listens on (`--listen 127.0.0.1:PORT`).
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    http: reqwest::Client,
}

impl OperatorProcess {
    /// Spawns `command` (stdin and stdout closed, stderr appended to `log`) and waits until it
    /// serves `/healthz` on `port`; panics with the log when it exits first or after 30 s.
    pub async fn spawn(name: &str, port: u16, mut command: Command, log: PathBuf) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut operator = OperatorProcess {
            name: name.into(),
            port,
            child: Some(child),
            log,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if operator.get("/healthz").await.0 == 200 {
                return operator;
            }
            if let Some(status) = operator.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before serving /healthz\n{}",
                    operator.name,
                    operator.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve /healthz within 30s\n{}",
                operator.name,
                operator.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// `GET path`: the status and body (`0` and empty when nothing answered).
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(self.url(path)).send().await {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// The last scan's report (`/report`), when there is one.
    pub async fn report(&self) -> Option<Value> {
        match self.get("/report").await {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
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

    /// Scans this replica has run (complete and partial).
    pub async fn scans(&self) -> f64 {
        self.metric("ml_operator_scans_total{result=\"complete\"}")
            .await
            + self
                .metric("ml_operator_scans_total{result=\"partial\"}")
                .await
    }

    /// Waits (at most 60 s) until this replica has run `more` scans beyond now.
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

    /// Waits (at most 60 s) until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        eventually_or(
            &format!("{:?} in the log of {}", needle, self.name),
            Duration::from_secs(60),
            async || self.log().contains(needle),
            || self.log(),
        )
        .await;
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Waits (at most `limit`) for the process to exit on its own; its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("started");
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{} still running after {limit:?}\n{}",
                self.name,
                self.log()
            ),
        }
    }

    /// SIGTERM (unless it has exited already), then wait at most 30 s for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        self.terminate_within(Duration::from_secs(15)).await.0
    }

    /// SIGTERM (unless it has exited already), then wait at most twice `limit` for the exit;
    /// the status and how long the exit took after the signal.
    pub async fn terminate_within(
        &mut self,
        limit: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let child = self.child.as_mut().expect("started");
        if let Some(status) = child.try_wait().unwrap() {
            return (status, Duration::ZERO);
        }
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
        let child = self.child.as_mut().expect("started");
        let _ = child.kill().await;
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
