//! A faithful test Kubernetes API server over real HTTP, for `kubectl` and kube-rs.
//!
//! No real cluster is needed: kube-sim serves discovery, list/get/watch with
//! `resourceVersion`s, bookmarks and `410 Gone`, label and field selectors,
//! create/update/delete, strategic-merge/JSON-merge/JSON patches and server-side apply,
//! status and scale subresources, CRDs, and simulated Deployment/StatefulSet/DaemonSet rollouts
//! (with owned ReplicaSets and Pods), plus fault injection (errors, latency, dropped watches,
//! compaction, forbidden namespaces) and request counters. Objects are generic JSON; the
//! discovery table is data (see `resources.rs`). What is *not* simulated is listed in the
//! crate's `README.md`.
//!
//! Start here: [`KubeSim::builder`] → [`Builder::start`] (async) or
//! [`Builder::start_blocking`] (own runtime, for sync tests) → a [`Running`] /
//! [`BlockingRunning`] whose [`Handle`] methods write a kubeconfig, drive hooks and faults,
//! and read the store. The `kube-sim` binary does the same from the command line:
//! `kube-sim --load DIR_OR_FILE... --write-kubeconfig PATH [--port N]`.
//!
//! ```
//! use serde_json::json;
//!
//! let sim = kube_sim::KubeSim::builder()
//!     .objects(vec![json!({
//!         "apiVersion": "apps/v1", "kind": "Deployment",
//!         "metadata": {"name": "web", "namespace": "default"},
//!         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
//!                  "template": {"metadata": {"labels": {"app": "web"}},
//!                               "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}
//!     })])
//!     .start_blocking()?;
//! assert!(sim.url().starts_with("http://127.0.0.1:"));
//!
//! // The simulated controller rolls the Deployment out and creates its Pods.
//! let web = sim
//!     .wait_for("apps/v1", "Deployment", Some("default"), "web", std::time::Duration::from_secs(10), |d| {
//!         d["status"]["availableReplicas"] == 2
//!     })
//!     .expect("rolled out");
//! assert_eq!(web["status"]["observedGeneration"], 1);
//! assert_eq!(sim.list("v1", "Pod", Some("default")).len(), 2);
//!
//! let dir = tempfile::tempdir()?;
//! sim.write_kubeconfig(&dir.path().join("config"))?; // for kubectl and kube-rs
//! sim.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod controller;
mod defaults;
mod error;
mod faults;
mod http;
mod kubeconfig;
mod load;
mod patch;
mod protobuf;
mod resources;
mod schema;
mod selector;
mod sim;
mod status;
mod store;
mod util;

pub use error::Error;
pub use faults::RequestCount;

use controller::ControllerConfig;
use serde_json::Value;
use sim::{ServerConfig, Sim};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store;

/// Entry point: `KubeSim::builder()`.
#[derive(Debug)]
pub struct KubeSim;

impl KubeSim {
    /// A builder with defaults: any free port, no objects, Pods and ReplicaSets simulated.
    pub fn builder() -> Builder {
        Builder {
            objects: vec![],
            port: 0,
            bookmark_interval: Duration::from_secs(1),
            step_delay: Duration::from_millis(20),
            children: true,
            history_limit: 10_000,
        }
    }
}

/// Configures and starts a simulator.
#[derive(Debug)]
pub struct Builder {
    objects: Vec<load::Loaded>,
    port: u16,
    bookmark_interval: Duration,
    step_delay: Duration,
    children: bool,
    history_limit: usize,
}

impl Builder {
    /// Loads manifests from a file or directory (YAML multi-doc, JSON, `kind: List`).
    pub fn load(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        self.objects.extend(load::load_path(path.as_ref())?);
        Ok(self)
    }

    /// Listens on this loopback port (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Adds objects given in code (validated at [`start`](Self::start)).
    pub fn objects(mut self, objects: Vec<Value>) -> Self {
        for (i, o) in objects.into_iter().enumerate() {
            self.objects.push(load::Loaded {
                path: PathBuf::from("<objects>"),
                line: i + 1,
                object: o,
            });
        }
        self
    }

    /// Interval of BOOKMARK events on watches with `allowWatchBookmarks=true` (default 1 s).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    /// Pause between simulated rollout steps (default 20 ms).
    pub fn rollout_step(mut self, d: Duration) -> Self {
        self.step_delay = d;
        self
    }

    /// Whether Deployments/StatefulSets/DaemonSets get owned ReplicaSets and Pods (default true).
    pub fn simulate_pods(mut self, on: bool) -> Self {
        self.children = on;
        self
    }

    /// How many change events are kept for watches (default 10 000); watches from older
    /// resourceVersions get `410 Gone`.
    pub fn history_limit(mut self, n: usize) -> Self {
        self.history_limit = n;
        self
    }

    /// Builds the store from the loaded objects (CRDs and Namespaces first).
    fn build_sim(self) -> Result<(Arc<Sim>, u16), Error> {
        let sim = Arc::new(Sim {
            store: Store::new(self.history_limit),
            faults: Default::default(),
            hooks: Default::default(),
            controller: ControllerConfig {
                step_delay: self.step_delay,
                children: self.children,
            },
            server: ServerConfig {
                bookmark_interval: self.bookmark_interval,
                token: "kube-sim".into(),
            },
        });
        let rank = |l: &load::Loaded| match l.object["kind"].as_str() {
            Some("CustomResourceDefinition") => 0,
            Some("Namespace") => 1,
            _ => 2,
        };
        let mut objects = self.objects;
        objects.sort_by_key(rank);
        for l in objects {
            insert(&sim.store, &l)?;
        }
        Ok((sim, self.port))
    }

    /// Starts serving on 127.0.0.1 in the current tokio runtime.
    pub async fn start(self) -> Result<Running, Error> {
        let (sim, port) = self.build_sim()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| Error::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { port, source })?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = http::router(sim.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let controller = tokio::spawn(controller::run(sim.clone()));
        tracing::info!(%addr, "kube-sim serving");
        Ok(Running {
            handle: Handle { sim, addr },
            stop: Some(stop_tx),
            server: Some(server),
            controller,
        })
    }

    /// Starts serving on its own runtime thread; for synchronous tests and tools.
    pub fn start_blocking(self) -> Result<BlockingRunning, Error> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Handle, Error>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::Runtime(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    match self.start().await {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok(running.handle.clone()));
                            let _ = stop_rx.await;
                            running.stop().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let handle = ready_rx
            .recv()
            .map_err(|_| Error::Runtime("kube-sim thread exited before serving".into()))??;
        Ok(BlockingRunning {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// Inserts one loaded object as the loader does (status kept, namespace created).
fn insert(store: &Store, l: &load::Loaded) -> Result<Value, Error> {
    let bad = |message: String| Error::Manifest {
        path: l.path.clone(),
        line: l.line,
        message,
    };
    let mut v = vec![];
    load::flatten(&l.path, l.line, l.object.clone(), &mut v)?;
    let mut last = Value::Null;
    for item in v {
        let o = item.object;
        let av = o["apiVersion"].as_str().unwrap_or_default();
        let kind = o["kind"].as_str().unwrap_or_default();
        let info = store
            .info_for_kind(av, kind)
            .ok_or_else(|| bad(format!("no matches for kind \"{kind}\" in version \"{av}\" (create its CustomResourceDefinition first)")))?;
        let ns = o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        last = store
            .load(&info, Some(&ns), o)
            .map_err(|e| bad(e.message))?;
    }
    Ok(last)
}

/// A cheap, cloneable handle on a running simulator: URL, kubeconfig, hooks, faults, store reads.
#[derive(Clone)]
pub struct Handle {
    sim: Arc<Sim>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Handle {
    /// Shows the address only: the store may hold Secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("url", &self.url())
            .field("resource_version", &self.resource_version())
            .finish()
    }
}

impl Handle {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig text (cluster/user/context `kube-sim`, namespace `default`, token `kube-sim`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url(), &self.sim.server.token)
    }

    /// Writes the kubeconfig for `kubectl --kubeconfig` and kube-rs.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        kubeconfig::write(path, &self.url(), &self.sim.server.token)
    }

    /// Makes the next rollout of this workload stall (`Progressing=False`,
    /// `ProgressDeadlineExceeded` for Deployments; a Pod stuck in `ImagePullBackOff`).
    /// `kind` is `Deployment`, `StatefulSet` or `DaemonSet` (any case, plural or short name).
    pub fn fail_rollout(&self, kind: &str, ns: &str, name: &str) {
        match controller::workload_plural(kind) {
            Some(p) => self.sim.hooks.fail_rollout(p, ns, name),
            None => tracing::warn!(kind, "fail_rollout: kind has no simulated rollout"),
        }
    }

    /// Ends every open watch stream (clients must re-watch from their last resourceVersion).
    pub fn drop_watches(&self) {
        self.sim.faults.drop_watches();
    }

    /// Forgets the event history: the next watch from any earlier resourceVersion gets `410 Gone`.
    pub fn compact(&self) {
        self.sim.store.compact();
    }

    /// The next `count` requests whose path starts with `path_prefix` answer `status` with a `Status` body.
    pub fn inject_errors(&self, path_prefix: &str, count: usize, status: u16) {
        self.sim.faults.inject_errors(path_prefix, count, status);
    }

    /// Adds `delay` before answering requests whose path starts with `path_prefix`.
    pub fn add_latency(&self, path_prefix: &str, delay: Duration) {
        self.sim.faults.add_latency(path_prefix, delay);
    }

    /// Answers list and watch in namespace `ns` with `403 Forbidden`, like a missing RBAC grant;
    /// cluster-wide lists and watches of namespaced resources are then forbidden too, as for a
    /// user whose permissions come from namespaced Roles only.
    pub fn forbid_namespace(&self, ns: &str) {
        self.sim.faults.forbid_namespace(ns);
    }

    /// Removes all error, latency and forbid rules.
    pub fn clear_faults(&self) {
        self.sim.faults.clear();
    }

    /// Requests with `verb` (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; `*` for any) whose path starts with `path_prefix`.
    pub fn request_count(&self, verb: &str, path_prefix: &str) -> usize {
        self.sim.faults.request_count(verb, path_prefix)
    }

    /// All request counters.
    pub fn request_counts(&self) -> Vec<RequestCount> {
        self.sim.faults.request_counts()
    }

    /// Zeroes the request counters.
    pub fn reset_request_counts(&self) {
        self.sim.faults.reset_counts();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.sim.store.current_rv()
    }

    /// Reads an object by `apiVersion`, `kind`, namespace and name.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let info = self.sim.store.info_for_kind(api_version, kind)?;
        self.sim.store.get(&info, ns, name).ok()
    }

    /// All objects of a kind (in one namespace, or everywhere with `None`).
    pub fn list(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
        match self.sim.store.info_for_kind(api_version, kind) {
            Some(info) => self.sim.store.all(&info, ns),
            None => vec![],
        }
    }

    /// Creates or replaces an object directly in the store (status kept), as the loader does.
    pub fn insert(&self, object: Value) -> Result<Value, Error> {
        insert(
            &self.sim.store,
            &load::Loaded {
                path: PathBuf::from("<insert>"),
                line: 1,
                object,
            },
        )
    }

    /// Async form of [`wait_for`](Self::wait_for): waits on change notifications, no polling.
    pub async fn wait_for_async(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let mut rx = self.sim.store.subscribe();
        let check = || self.get(api_version, kind, ns, name).filter(|o| pred(o));
        let wait = async {
            loop {
                if let Some(o) = check() {
                    return Some(o);
                }
                match rx.recv().await {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(v) => v,
            Err(_) => check(),
        }
    }

    /// Waits until the object exists and `pred` holds (checked on every change), or `timeout`.
    pub fn wait_for(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut rx = self.sim.store.subscribe();
        loop {
            if let Some(o) = self.get(api_version, kind, ns, name).filter(|o| pred(o)) {
                return Some(o);
            }
            // Wait for any change (or the deadline), then re-check.
            loop {
                match rx.try_recv() {
                    Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::TryRecvError::Empty)
                        if Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return self.get(api_version, kind, ns, name).filter(|o| pred(o)),
                }
            }
        }
    }
}

/// A simulator serving on the caller's tokio runtime. Dropping it stops the server.
#[derive(Debug)]
pub struct Running {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    controller: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Running {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Running {
    /// A cloneable handle for other tasks.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Signals the server to stop (open watches are ended) without waiting.
    pub fn shutdown(mut self) {
        self.signal_stop();
    }

    /// Stops the server and waits until it has closed.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(mut server) = self.server.take() {
            // The graceful shutdown waits for open requests: a watch that began as the stop
            // was signalled would hold it for the watch's whole timeout (minutes), so the
            // watches are ended again until the server is done.
            loop {
                tokio::select! {
                    _ = &mut server => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                        self.handle.sim.faults.drop_watches();
                    }
                }
            }
        }
    }

    fn signal_stop(&mut self) {
        self.handle.sim.faults.drop_watches();
        self.controller.abort();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// A simulator serving on its own runtime thread. Dropping it stops the server.
#[derive(Debug)]
pub struct BlockingRunning {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for BlockingRunning {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl BlockingRunning {
    /// A cloneable handle.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops the server and joins its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BlockingRunning {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
