//! Shared test support: a kube-sim API server, a kube-rs client from its kubeconfig, electors
//! running in tasks, and waits on state changes (generous bounds, not timing assertions).
#![allow(dead_code)]

use kube::config::{KubeConfigOptions, Kubeconfig};
use ml_operator_leader::{Error, LeaderElector, LeaderState, LeaseConfig};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Namespace of the Lease in every test.
pub const NS: &str = "default";
/// Name of the Lease in every test.
pub const NAME: &str = "ml-operator-leader";
/// The Lease's URL path on the API server (GET/PUT).
pub const LEASE_PATH: &str =
    "/apis/coordination.k8s.io/v1/namespaces/default/leases/ml-operator-leader";
/// The Lease collection path (POST creates here; it is a prefix of `LEASE_PATH`).
pub const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
/// Upper bound for waits that normally finish within a few lease durations (not an assertion).
pub const WAIT: Duration = Duration::from_secs(60);

/// A running kube-sim and a kube-rs client configured from the kubeconfig it wrote.
pub struct Cluster {
    pub sim: kube_sim::Running,
    pub client: kube::Client,
    _dir: tempfile::TempDir,
}

/// Starts kube-sim and builds a client from its kubeconfig, as the operator would.
pub async fn cluster() -> Cluster {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ml_operator_leader=debug".into()),
        )
        .try_init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kube_sim::KubeSim::builder()
        .simulate_pods(false)
        .start()
        .await
        .expect("kube-sim starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).expect("kubeconfig written");
    let kubeconfig = Kubeconfig::read_from(&path).expect("kubeconfig read");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    let client = kube::Client::try_from(config).expect("kube client");
    Cluster {
        sim,
        client,
        _dir: dir,
    }
}

/// Short timings for tests: lease 2 s, renew deadline 1 s, retry 200 ms.
pub fn fast(identity: &str) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
        ..LeaseConfig::new(NS, NAME, identity)
    }
}

/// Long lease (15 s) and deadline (10 s) but a fast retry (200 ms): takeover by expiry would
/// be slow, so a quick takeover shows the release worked; errors stay within the deadline.
pub fn patient(identity: &str) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        ..fast(identity)
    }
}

/// An elector running in its own task.
pub struct Candidate {
    pub identity: String,
    pub state: watch::Receiver<LeaderState>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), Error>>,
}

impl Candidate {
    /// Spawns `LeaderElector::run` with a shutdown signal this handle controls.
    pub fn spawn(client: &kube::Client, config: LeaseConfig) -> Candidate {
        let identity = config.identity.clone();
        let elector = LeaderElector::new(client.clone(), config);
        let state = elector.subscribe();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(elector.run(async move {
            let _ = stopped.await;
        }));
        Candidate {
            identity,
            state,
            stop: Some(stop),
            task,
        }
    }

    /// The current state.
    pub fn now(&self) -> LeaderState {
        self.state.borrow().clone()
    }

    /// Waits until the state satisfies `pred`; panics with `what` after [`WAIT`].
    pub async fn wait(
        &mut self,
        what: &str,
        pred: impl FnMut(&LeaderState) -> bool,
    ) -> LeaderState {
        let outcome = tokio::time::timeout(WAIT, self.state.wait_for(pred))
            .await
            .map(|r| r.map(|s| s.clone()));
        match outcome {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => panic!(
                "{}: elector stopped while waiting for {what}",
                self.identity
            ),
            Err(_) => panic!(
                "{}: no {what} within {WAIT:?}; state {}",
                self.identity,
                self.now()
            ),
        }
    }

    /// Waits until this candidate leads.
    pub async fn wait_leading(&mut self) {
        self.wait("leadership", LeaderState::is_leading).await;
    }

    /// Graceful shutdown: signals and returns what `run` returned.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("elector task panicked")
    }

    /// The elector's result, once `run` returned on its own (fatal error).
    pub async fn result(&mut self) -> Result<(), Error> {
        match tokio::time::timeout(WAIT, &mut self.task).await {
            Ok(r) => r.expect("elector task panicked"),
            Err(_) => panic!("{}: run did not return within {WAIT:?}", self.identity),
        }
    }

    /// Kills the elector without releasing the Lease (like a crashed pod).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The Lease as stored by kube-sim.
pub fn lease(sim: &kube_sim::Running) -> Option<Value> {
    sim.get("coordination.k8s.io/v1", "Lease", Some(NS), NAME)
}

/// `spec.holderIdentity` of the stored Lease.
pub fn holder(sim: &kube_sim::Running) -> Option<String> {
    lease(sim).and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}

/// `spec.leaseTransitions` of the stored Lease.
pub fn transitions(sim: &kube_sim::Running) -> i64 {
    lease(sim)
        .and_then(|l| l["spec"]["leaseTransitions"].as_i64())
        .unwrap_or(0)
}

/// Waits until the stored Lease satisfies `pred` (checked on every store change).
pub async fn wait_lease(
    sim: &kube_sim::Running,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    sim.wait_for_async(
        "coordination.k8s.io/v1",
        "Lease",
        Some(NS),
        NAME,
        WAIT,
        pred,
    )
    .await
    .unwrap_or_else(|| {
        panic!(
            "no lease with {what} within {WAIT:?}; lease: {:?}",
            lease(sim)
        )
    })
}
