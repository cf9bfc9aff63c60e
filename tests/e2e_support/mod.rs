//! Shared by the `tests/e2e_*.rs` suites: black-box tests of the `ml-operator` binary against
//! the real Kubernetes control plane `ML_OPERATOR_E2E_KUBECONFIG` names (`scripts/test` starts
//! one with `scripts/control-plane`), with the real kubectl, helm and docker-registry.
//!
//! Nothing here imports `ml_operator::…`: the tests talk to the binary (its flags, its JSON
//! output, its HTTP endpoints, its log) and to the cluster (kubectl), so a restructure of the
//! library does not touch them.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod slack;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
pub use ml_operator_testkit::control_plane::{ControlPlane, Namespace, kubectl_with};
use ml_operator_testkit::operator::OperatorProcess;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use ml_operator_testkit::tools;
use serde_json::{Value, json};
use tokio::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ml-operator");

/// The ImageUpgrade API version, as `kubectl get` names it.
pub const IU_RESOURCE: &str = "imageupgrades.ml-operator.mojaloop.io";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `PATH` with the tool cache (kubectl v1.37, helm v4) first, so printed `kubectl …` commands
/// run the right kubectl.
pub fn tool_path() -> OsString {
    let mut dirs = vec![tools::bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

/// stdout and stderr, for failure messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `ml-operator ARGS…` (no KUBECONFIG from the environment; the tool cache on PATH).
pub fn ml_operator(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(repo())
        .env_remove("KUBECONFIG")
        .env("PATH", tool_path())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Runs `ml-operator ARGS…` and panics unless it exits 0; returns stdout.
pub fn ml_operator_ok(args: &[&str]) -> String {
    let output = ml_operator(args).output().unwrap();
    assert!(
        output.status.success(),
        "ml-operator {}: {}\n{}",
        args.join(" "),
        output.status,
        text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `ml-operator check --kubeconfig K ARGS… -o json`, parsed; panics unless it exits 0.
pub fn check_json(kubeconfig: &Path, args: &[&str]) -> Value {
    let kubeconfig = kubeconfig.to_str().unwrap();
    let mut all = vec!["check", "--kubeconfig", kubeconfig];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&ml_operator_ok(&all)).expect("check -o json prints JSON")
}

#[allow(unused_imports)] // each test binary uses some of them
pub use ml_operator_testkit::wait::{eventually, eventually_or};

/// The blocking twin of [`eventually_or`], returning what `check` found.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the cluster's nodes are kwok fake nodes (label `type=kwok`), which run any image.
/// Tests that need Pods to become Ready with made-up images need them.
pub fn has_fake_nodes(cp: &ControlPlane) -> bool {
    !cp.ok(&["get", "nodes", "-l", "type=kwok", "-o", "name"])
        .trim()
        .is_empty()
}

/// The shared cluster, when it has fake nodes; otherwise prints `skipped: …`.
pub fn fake_node_cluster_or_skip(test: &str) -> Option<&'static ControlPlane> {
    let cp = ControlPlane::shared_or_skip(test)?;
    if !has_fake_nodes(cp) {
        println!(
            "skipped: {test}: needs kwok fake nodes (scripts/control-plane) to run made-up images"
        );
        return None;
    }
    Some(cp)
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

/// A container `{name, image}`.
pub fn container(name: &str, image: &str) -> Value {
    json!({"name": name, "image": image})
}

/// A pod template with `containers`, `init` containers, the label `app: NAME` and
/// `annotations` (e.g. the fake nodes' `fake-node.ml-operator.test/fail-images`).
pub fn pod_template(name: &str, containers: &[Value], init: &[Value], annotations: Value) -> Value {
    let mut spec = json!({"containers": containers});
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
    }
    json!({
        "metadata": {"labels": {"app": name}, "annotations": annotations},
        "spec": spec,
    })
}

/// A Deployment `name` with `replicas` and the given template.
pub fn deployment(name: &str, replicas: u32, template: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        }
    })
}

pub fn statefulset(name: &str, replicas: u32, template: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        }
    })
}

pub fn daemonset(name: &str, template: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        }
    })
}

/// A suspended CronJob (it never creates Jobs during a test).
pub fn cronjob(name: &str, template: Value) -> Value {
    let mut template = template;
    template["spec"]["restartPolicy"] = json!("OnFailure");
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "schedule": "0 3 1 1 *",
            "suspend": true,
            "jobTemplate": {"spec": {"template": template}},
        }
    })
}

/// `objects` as one `kind: List` document.
pub fn list(objects: &[Value]) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string()
}

/// The containers (and init containers) of a workload as (list, name, image), whatever its kind.
pub fn images_of(object: &Value) -> Vec<(String, String, String)> {
    let spec = match object["kind"].as_str().unwrap_or_default() {
        "Pod" => &object["spec"],
        "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &object["spec"]["template"]["spec"],
    };
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| {
            spec[*list].as_array().into_iter().flatten().map(move |c| {
                (
                    list.to_string(),
                    c["name"].as_str().unwrap().to_string(),
                    c["image"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

/// The image of container `name` of a workload (containers first, then init containers).
pub fn image_of(object: &Value, name: &str) -> String {
    images_of(object)
        .into_iter()
        .find(|(_, n, _)| n == name)
        .map(|(_, _, image)| image)
        .unwrap_or_else(|| panic!("no container {name} in {object}"))
}

pub fn condition<'a>(object: &'a Value, ty: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// Whether a Deployment has rolled out its current generation completely (what
/// `kubectl rollout status` waits for).
pub fn deployment_rolled_out(d: &Value) -> bool {
    let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
    d["status"]["observedGeneration"] == d["metadata"]["generation"]
        && d["status"]["updatedReplicas"].as_u64().unwrap_or(0) == replicas
        && d["status"]["replicas"].as_u64().unwrap_or(0) == replicas
        && d["status"]["availableReplicas"].as_u64().unwrap_or(0) == replicas
}

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

/// The real docker-registry (anonymous, plain HTTP on loopback) holding `tags` per repository
/// path (`mojaloop/central-ledger`, `library/busybox`), as a docker.io mirror would.
pub async fn registry_with(tags: &[(&str, &[&str])]) -> RegistryProc {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    for (repository, tags) in tags {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        registry.push(repository, &tags, false).await;
    }
    registry
}

/// The configuration lines making `registry` the docker.io mirror.
pub fn mirror_config(registry: &RegistryProc) -> String {
    format!(
        "registries:\n  - {{host: docker.io, mirror: '{}'}}\n",
        registry.host()
    )
}

// ---------------------------------------------------------------------------------------------
// RBAC: running as a ServiceAccount
// ---------------------------------------------------------------------------------------------

/// A kubeconfig in `dir` authenticating as ServiceAccount `namespace/name` with a fresh token
/// (`kubectl create token`), and nothing else.
pub fn service_account_kubeconfig(
    cp: &ControlPlane,
    namespace: &str,
    name: &str,
    dir: &Path,
) -> PathBuf {
    let token = cp.ok(&["create", "token", name, "-n", namespace, "--duration=30m"]);
    cp.kubeconfig_with_token(token.trim(), &dir.join(format!("{name}.kubeconfig")))
}

/// The user name of ServiceAccount `namespace/name`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Waits until the API server's authorizer answers `can-i VERB RESOURCE` for `user` in
/// `namespace` with `allowed` (RBAC changes reach the authorizer through its informers).
pub fn wait_can_i(
    cp: &ControlPlane,
    user: &str,
    verb: &str,
    resource: &str,
    namespace: &str,
    allowed: bool,
) {
    let expected = if allowed { "yes" } else { "no" };
    wait_for(
        &format!(
            "`kubectl auth can-i {verb} {resource} -n {namespace} --as {user}` to say {expected}"
        ),
        Duration::from_secs(30),
        || {
            let output = cp.run(&[
                "auth", "can-i", verb, resource, "-n", namespace, "--as", user,
            ]);
            (String::from_utf8_lossy(&output.stdout).trim() == expected).then_some(())
        },
        String::new,
    )
}

// ---------------------------------------------------------------------------------------------
// The ImageUpgrade CRD and objects
// ---------------------------------------------------------------------------------------------

/// `ml-operator crd | kubectl apply -f -` (the CRD is shared by every test: applied again when
/// another test raced us to creating it), then waits until the API server serves it.
pub fn install_crd(cp: &ControlPlane) {
    let crd = ml_operator_ok(&["crd"]);
    let mut last = String::new();
    for _ in 0..5 {
        let mut apply = cp.kubectl();
        apply.args(["apply", "-f", "-"]);
        let output = with_stdin(apply, &crd);
        if output.status.success() {
            cp.ok(&[
                "wait",
                &format!("crd/{IU_RESOURCE}"),
                "--for=condition=Established",
                "--timeout=60s",
            ]);
            return;
        }
        last = text(&output);
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("ml-operator crd | kubectl apply -f - failed:\n{last}");
}

/// Every ImageUpgrade in the namespace.
pub fn image_upgrades(ns: &Namespace<'_>) -> Vec<Value> {
    ns.get_json(&[IU_RESOURCE])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The ImageUpgrades proposing a change of `workload`'s `container` (whatever they are named;
/// oldest first). Written against `spec.target`, so a later grouping of ImageUpgrades only
/// changes this selection.
pub fn upgrades_of(ns: &Namespace<'_>, workload: &str, container: &str) -> Vec<Value> {
    let mut found: Vec<Value> = image_upgrades(ns)
        .into_iter()
        .filter(|u| target_container(u, workload, container).is_some())
        .collect();
    found.sort_by_key(|u| {
        u["metadata"]["creationTimestamp"]
            .as_str()
            .map(String::from)
    });
    found
}

/// The one ImageUpgrade group moving `workload`'s `container` to `target_image`, once it
/// exists.
pub fn upgrade_to(
    ns: &Namespace<'_>,
    workload: &str,
    container: &str,
    target_image: &str,
) -> Option<Value> {
    upgrades_of(ns, workload, container).into_iter().find(|u| {
        target_container(u, workload, container).is_some_and(|c| c["targetImage"] == target_image)
    })
}

/// The group's target `workload` (`spec.targets[]`), if the group covers it.
pub fn target<'u>(upgrade: &'u Value, workload: &str) -> Option<&'u Value> {
    upgrade["spec"]["targets"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == workload)
}

/// The group's `container` of target `workload` (`spec.targets[].containers[]`).
pub fn target_container<'u>(
    upgrade: &'u Value,
    workload: &str,
    container: &str,
) -> Option<&'u Value> {
    target(upgrade, workload)?["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == container)
}

/// The apply's record of `workload` (`status.rollout.workloads[]`), `Null` before the apply.
pub fn workload_rollout<'u>(upgrade: &'u Value, workload: &str) -> &'u Value {
    upgrade["status"]["rollout"]["workloads"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["name"] == workload))
        .unwrap_or(&Value::Null)
}

/// The image the apply recorded for `workload`'s `container` before patching it (what a
/// rollback restores).
pub fn previous_image<'u>(upgrade: &'u Value, workload: &str, container: &str) -> &'u Value {
    workload_rollout(upgrade, workload)["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .map_or(&Value::Null, |c| &c["previousImage"])
}

pub fn phase(upgrade: &Value) -> &str {
    upgrade["status"]["phase"].as_str().unwrap_or("")
}

pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

/// Waits until the ImageUpgrade of `workload`'s `container` to `target_image` is in `phase`;
/// returns it. `context` (e.g. the operator's log) goes into the failure message.
pub fn wait_upgrade_phase(
    ns: &Namespace<'_>,
    workload: &str,
    container: &str,
    target_image: &str,
    wanted: &str,
    limit: Duration,
    context: impl Fn() -> String,
) -> Value {
    wait_for(
        &format!("the ImageUpgrade of {workload}/{container} to {target_image} to be {wanted}"),
        limit,
        || upgrade_to(ns, workload, container, target_image).filter(|u| phase(u) == wanted),
        || {
            format!(
                "ImageUpgrades: {:#}\n{}",
                json!(upgrades_of(ns, workload, container)),
                context()
            )
        },
    )
}

/// The phases an ImageUpgrade went through (`status.history`).
pub fn history(upgrade: &Value) -> Vec<String> {
    upgrade["status"]["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["phase"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Kubernetes Events in the namespace with `reason` about object `name` (core/v1 view, as
/// `kubectl get events` shows them).
pub fn events(ns: &Namespace<'_>, reason: &str, name: &str) -> Vec<Value> {
    ns.get_json(&[
        "events",
        "--field-selector",
        &format!("reason={reason},involvedObject.name={name}"),
    ])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A local webhook receiver
// ---------------------------------------------------------------------------------------------

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<VecDeque<Received>>,
}

/// A local webhook receiver (Slack or generic) that answers 200 and records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .fallback(post(
                |State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes| async move {
                    state
                        .received
                        .lock()
                        .unwrap()
                        .push_back(Received { headers, body });
                    (StatusCode::OK, "ok")
                },
            ))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, state, task }
    }

    /// A Slack-looking URL with a secret in its path.
    pub fn slack_url(&self) -> String {
        format!(
            "http://{}/services/T0000/B0000/s3cr3t-webhook-token",
            self.addr
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect()
    }

    /// The `event` field of every generic-webhook body received (`upgrade-proposed`, …).
    pub fn events(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| r.json()["event"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// The operator as a process
// ---------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start `ml-operator run`.
pub struct OperatorSpec<'a> {
    /// `POD_NAME`: the Lease holder identity.
    pub name: &'a str,
    /// `POD_NAMESPACE`: where the Lease and the state ConfigMap live.
    pub namespace: &'a str,
    pub kubeconfig: &'a Path,
    pub config: &'a Path,
    /// Where the log goes (`NAME.log`).
    pub dir: &'a Path,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

/// `ml-operator run` as a real process, with its log in a file; killed when dropped.
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
    /// Starts the operator and waits until it serves `/healthz`.
    pub async fn start(spec: OperatorSpec<'_>) -> Operator {
        let port = free_port();
        let log = spec.dir.join(format!("{}.log", spec.name));
        let mut command = Command::new(BIN);
        command
            .args(["run", "--kubeconfig"])
            .arg(spec.kubeconfig)
            .arg("--config")
            .arg(spec.config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(&spec.args)
            .env_clear()
            .env("PATH", tool_path())
            .env("HOME", spec.dir)
            .env("DOCKER_CONFIG", spec.dir)
            .env("POD_NAME", spec.name)
            .env("POD_NAMESPACE", spec.namespace)
            .env("RUST_LOG", "info")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Operator(OperatorProcess::spawn(spec.name, port, command, log).await)
    }
}

/// Every second, for [`run_config`].
pub const EVERY_SECOND: &str = "* * * * * *";

/// A short configuration for `run`: scan on `schedule`, watch only `namespaces`, a fast Lease
/// named `ml-operator`, the state ConfigMap `ml-operator-state`, then `extra` lines.
pub fn run_config(dir: &Path, namespaces: &[&str], schedule: &str, extra: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "schedule: '{schedule}'\nnamespaces: {}\nleaderElection: {{leaseName: ml-operator, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}}\nstate: {{configMap: ml-operator-state}}\n{extra}",
            json!(namespaces)
        ),
    )
    .unwrap();
    path
}

/// Where kubectl output of a test goes when a printed command runs through `sh`.
pub fn sh(script: &str, kubeconfig: &Path) -> Output {
    std::process::Command::new("sh")
        .arg("-e")
        .arg("-c")
        .arg(script)
        .env("PATH", tool_path())
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `kubectl` with `kubeconfig` (e.g. a ServiceAccount's) and the tool cache's binary.
pub fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_with(kubeconfig).args(args).output().unwrap()
}

/// Runs `cmd` with `input` on stdin.
pub fn with_stdin(mut cmd: std::process::Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The operator as an installed Deployment would run it
// ---------------------------------------------------------------------------------------------

/// What an installed operator Deployment (chart or kustomize) runs, read back from the cluster.
pub struct Deployed {
    /// The Pod the binary stands in for (its name is the Lease identity).
    pub pod: String,
    pub namespace: String,
    pub service_account: String,
    /// The container's args (after `run --config FILE`), paths moved under `dir/root`.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The mounted configuration file, paths in it moved under `dir/root`.
    pub config: PathBuf,
    /// A kubeconfig holding a token of the Deployment's ServiceAccount, and nothing else.
    pub kubeconfig: PathBuf,
}

/// Reads Deployment `namespace/deployment` (waiting until a Pod of it runs on a node): its
/// ServiceAccount, its container's args and environment, and its volumes — ConfigMaps, Secrets
/// (with `items` and `subPath`) and emptyDirs, materialized as files under `dir/root`, every
/// path in the args, the environment and the mounted config file moved there — so that the
/// binary runs here exactly as in that Pod, with exactly that ServiceAccount's permissions.
pub fn deployed(cp: &ControlPlane, namespace: &str, deployment: &str, dir: &Path) -> Deployed {
    use base64::Engine as _;
    let d = cp.get_json(&["deployment", deployment, "-n", namespace]);
    let pod_spec = &d["spec"]["template"]["spec"];
    let service_account = pod_spec["serviceAccountName"].as_str().unwrap().to_string();
    let selector: Vec<String> = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    let pod = wait_for(
        &format!("a running Pod of {namespace}/{deployment}"),
        Duration::from_secs(60),
        || {
            let pods = cp.get_json(&["pods", "-n", namespace, "-l", &selector.join(",")]);
            pods["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["status"]["phase"] == "Running")
                .map(|p| name(p).to_string())
        },
        String::new,
    );
    let c = &pod_spec["containers"][0];
    let root = dir.join("root");
    let volumes = pod_spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut mount_paths = Vec::new();
    let decode = |b64: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    };
    for mount in c["volumeMounts"].as_array().into_iter().flatten() {
        let mount_path = mount["mountPath"].as_str().unwrap().to_string();
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume for {mount}"));
        let target = root.join(mount_path.trim_start_matches('/'));
        let (source, optional, mut files): (&Value, bool, Vec<(String, Vec<u8>)>) =
            if let Some(cm) = volume.get("configMap") {
                let found = cp.run(&[
                    "get",
                    "configmap",
                    cm["name"].as_str().unwrap(),
                    "-n",
                    namespace,
                    "-o",
                    "json",
                ]);
                let files = if found.status.success() {
                    let cm_obj: Value = serde_json::from_slice(&found.stdout).unwrap();
                    let mut files: Vec<(String, Vec<u8>)> = cm_obj["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
                        .collect();
                    files.extend(
                        cm_obj["binaryData"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), decode(v))),
                    );
                    files
                } else {
                    Vec::new()
                };
                (cm, cm["optional"] == true, files)
            } else if let Some(secret) = volume.get("secret") {
                let found = cp.run(&[
                    "get",
                    "secret",
                    secret["secretName"].as_str().unwrap(),
                    "-n",
                    namespace,
                    "-o",
                    "json",
                ]);
                let files = if found.status.success() {
                    let secret_obj: Value = serde_json::from_slice(&found.stdout).unwrap();
                    secret_obj["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), decode(v)))
                        .collect()
                } else {
                    Vec::new()
                };
                (secret, secret["optional"] == true, files)
            } else if volume.get("emptyDir").is_some() {
                std::fs::create_dir_all(&target).unwrap();
                mount_paths.push(mount_path);
                continue;
            } else {
                panic!("a volume of a kind not materialized here: {volume}");
            };
        if files.is_empty() {
            assert!(
                optional,
                "{} mounts {source} which does not exist",
                mount_path
            );
            continue;
        }
        if let Some(items) = source["items"].as_array() {
            files = items
                .iter()
                .map(|i| {
                    let key = i["key"].as_str().unwrap();
                    let bytes = files.iter().find(|(k, _)| k == key).unwrap().1.clone();
                    (i["path"].as_str().unwrap().to_string(), bytes)
                })
                .collect();
        }
        match mount["subPath"].as_str() {
            Some(sub) => {
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                let bytes = &files.iter().find(|(k, _)| k == sub).unwrap().1;
                std::fs::write(&target, bytes).unwrap();
            }
            None => {
                std::fs::create_dir_all(&target).unwrap();
                for (file, bytes) in files {
                    std::fs::write(target.join(file), bytes).unwrap();
                }
            }
        }
        mount_paths.push(mount_path);
    }
    mount_paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    // Two passes through placeholders, so a relocated path (under a temporary directory) is
    // never relocated again by a shorter mount path such as `/tmp`.
    let relocate = |text: &str| {
        let mut text = text.to_string();
        for (i, path) in mount_paths.iter().enumerate() {
            text = text.replace(path.as_str(), &format!("\u{0}{i}\u{0}"));
        }
        for (i, path) in mount_paths.iter().enumerate() {
            text = text.replace(
                &format!("\u{0}{i}\u{0}"),
                root.join(path.trim_start_matches('/')).to_str().unwrap(),
            );
        }
        text
    };
    let mounted = root.join("etc/ml-operator/config.yaml");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        relocate(&std::fs::read_to_string(&mounted).unwrap()),
    )
    .unwrap();
    let mut args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| relocate(a.as_str().unwrap()))
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    args.remove(0);
    let at = args.iter().position(|a| a == "--config").unwrap();
    args.drain(at..at + 2);
    let env = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let var = e["name"].as_str().unwrap().to_string();
            let value = match (
                e["value"].as_str(),
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            ) {
                (Some(v), _) => relocate(v),
                (None, Some("metadata.name")) => pod.clone(),
                (None, Some("metadata.namespace")) => namespace.to_string(),
                _ => return None,
            };
            Some((var, value))
        })
        .filter(|(var, _)| var != "POD_NAME" && var != "POD_NAMESPACE")
        .collect();
    let kubeconfig = service_account_kubeconfig(cp, namespace, &service_account, dir);
    Deployed {
        pod,
        namespace: namespace.to_string(),
        service_account,
        args,
        env,
        config,
        kubeconfig,
    }
}

impl Deployed {
    /// Starts the binary as that Pod would run it, plus `extra` args (e.g. `--tags`).
    pub async fn start(&self, dir: &Path, extra: &[&str]) -> Operator {
        let mut args = self.args.clone();
        args.extend(extra.iter().map(|a| a.to_string()));
        Operator::start(OperatorSpec {
            name: &self.pod,
            namespace: &self.namespace,
            kubeconfig: &self.kubeconfig,
            config: &self.config,
            dir,
            env: self.env.clone(),
            args,
        })
        .await
    }

    pub fn user(&self) -> String {
        service_account_user(&self.namespace, &self.service_account)
    }
}

/// The log with JSON and Debug escaping of quotes undone, for matching the API server's words.
pub fn unescaped(log: &str) -> String {
    log.replace("\\\\\\\"", "\"").replace("\\\"", "\"")
}

/// Waits until `done` is true while the operator runs and logs nothing forbidden. `Err` carries
/// the log when the API server refused something (403), the operator exited, or time ran out.
pub async fn works(
    operator: &mut Operator,
    limit: Duration,
    mut done: impl AsyncFnMut(&Operator) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let log = operator.log();
        if log.to_lowercase().contains("forbidden") {
            // Let the line (and what follows it) reach the file.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Err(format!("forbidden:\n{}", operator.log()));
        }
        if !operator.running() {
            return Err(format!("exited:\n{}", operator.log()));
        }
        if done(operator).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {limit:?}:\n{log}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// examples/hub as the API server would take it: every object of its files (kubectl's client
/// side reads them), server-set fields dropped, each namespace renamed with `rename`.
pub fn example_hub(cp: &ControlPlane, rename: &impl Fn(&str) -> String) -> Vec<Value> {
    let stream = cp.ok(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-R",
        "-f",
        repo().join("examples/hub").to_str().unwrap(),
    ]);
    serde_json::Deserializer::from_str(&stream)
        .into_iter::<Value>()
        .map(|object| {
            let mut object = object.unwrap();
            let metadata = object["metadata"].as_object_mut().unwrap();
            for field in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "managedFields",
            ] {
                metadata.remove(field);
            }
            let namespace = metadata["namespace"].as_str().unwrap().to_string();
            metadata.insert("namespace".into(), json!(rename(&namespace)));
            object.as_object_mut().unwrap().remove("status");
            object
        })
        .collect()
}
