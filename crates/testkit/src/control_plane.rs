//! The real Kubernetes control plane the cluster tests run against.
//!
//! `scripts/control-plane start --dir DIR` runs etcd, kube-apiserver (client certificates, RBAC,
//! admission with Pod Security), kube-controller-manager, kube-scheduler and kwok fake nodes on
//! loopback, and writes `DIR/kubeconfig`; `scripts/test` starts one for the whole run and exports
//! `ML_OPERATOR_E2E_KUBECONFIG=DIR/kubeconfig`. Any other real cluster works the same way: point
//! `ML_OPERATOR_E2E_KUBECONFIG` at its kubeconfig (an admin user).
//!
//! One control plane is shared by every test; each test works in its own namespace
//! ([`ControlPlane::namespace`]), deleted when the handle drops.
//!
//! ```no_run
//! use ml_operator_testkit::control_plane::ControlPlane;
//!
//! let Some(cp) = ControlPlane::shared_or_skip("deployments become ready") else { return };
//! let ns = cp.namespace("demo");
//! ns.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
//! ns.ok(&["get", "configmap", "x"]);
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::tools;

/// The environment variable naming the kubeconfig of the cluster to test against.
pub const KUBECONFIG_ENV: &str = "ML_OPERATOR_E2E_KUBECONFIG";

/// The environment variable naming a second real cluster, for the fleet tests (optional:
/// without it they use a kube-sim as the second cluster).
pub const SECOND_KUBECONFIG_ENV: &str = "ML_OPERATOR_E2E_SECOND_KUBECONFIG";

/// A handle to the shared cluster (its admin kubeconfig).
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig: PathBuf,
}

impl ControlPlane {
    /// The cluster `ML_OPERATOR_E2E_KUBECONFIG` points at, or `None` when it is unset or empty.
    /// A path that does not exist is a failure, not a skip.
    pub fn shared() -> Option<&'static ControlPlane> {
        static SHARED: OnceLock<Option<ControlPlane>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let path = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty())?;
                let kubeconfig = PathBuf::from(path);
                assert!(
                    kubeconfig.is_file(),
                    "{KUBECONFIG_ENV}={} is not a file (scripts/control-plane start --dir DIR writes DIR/kubeconfig)",
                    kubeconfig.display()
                );
                Some(ControlPlane { kubeconfig })
            })
            .as_ref()
    }

    /// A second real cluster, `ML_OPERATOR_E2E_SECOND_KUBECONFIG` (another
    /// `scripts/control-plane start --dir DIR2`), or `None` when it is unset or empty.
    pub fn second() -> Option<&'static ControlPlane> {
        static SECOND: OnceLock<Option<ControlPlane>> = OnceLock::new();
        SECOND
            .get_or_init(|| {
                let path = std::env::var_os(SECOND_KUBECONFIG_ENV).filter(|p| !p.is_empty())?;
                let kubeconfig = PathBuf::from(path);
                assert!(
                    kubeconfig.is_file(),
                    "{SECOND_KUBECONFIG_ENV}={} is not a file",
                    kubeconfig.display()
                );
                Some(ControlPlane { kubeconfig })
            })
            .as_ref()
    }

    /// [`ControlPlane::shared`], printing `skipped: …` (and the way to run it) when there is none.
    pub fn shared_or_skip(test: &str) -> Option<&'static ControlPlane> {
        let cp = Self::shared();
        if cp.is_none() {
            println!(
                "skipped: {test}: set {KUBECONFIG_ENV} to a real cluster's kubeconfig \
                 (scripts/test starts one with scripts/control-plane)"
            );
        }
        cp
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `kubectl` (the v1.37 one from the tool cache) with this cluster's kubeconfig.
    pub fn kubectl(&self) -> Command {
        kubectl_with(&self.kubeconfig)
    }

    /// Runs `kubectl ARGS…` and returns its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.kubectl();
        cmd.args(args);
        output_of(cmd, args)
    }

    /// Runs `kubectl ARGS…`, panics (with stderr) unless it succeeds, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.run(args), args)
    }

    /// `kubectl get ARGS… -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl -o json prints JSON")
    }

    /// A new namespace with a unique name starting with `prefix`, deleted when the handle drops.
    pub fn namespace(&self, prefix: &str) -> Namespace<'_> {
        self.namespace_with_labels(prefix, &[])
    }

    /// A namespace named exactly `name` (another cluster's namespace name, for a fleet),
    /// deleted when the handle drops.
    pub fn namespace_named(&self, name: &str) -> Namespace<'_> {
        self.ok(&["create", "namespace", name]);
        Namespace {
            cp: self,
            name: name.to_string(),
        }
    }

    /// [`ControlPlane::namespace`] with labels set at creation (e.g. Pod Security levels).
    pub fn namespace_with_labels(&self, prefix: &str, labels: &[(&str, &str)]) -> Namespace<'_> {
        let name = unique_name(prefix);
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .chain([("ml-operator.test/e2e".to_string(), json!("true"))])
            .collect();
        let manifest = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        });
        expect_ok(
            stdin_run(
                self.kubectl(),
                &["create", "-f", "-"],
                &manifest.to_string(),
            ),
            &["create", "namespace", &name],
        );
        Namespace { cp: self, name }
    }

    /// A kubeconfig at `path` for the same server that authenticates with a bearer `token` only
    /// (no client certificate), e.g. one from `kubectl create token`.
    pub fn kubeconfig_with_token(&self, token: &str, path: &Path) -> PathBuf {
        let view: Value =
            serde_json::from_str(&self.ok(&["config", "view", "--raw", "--minify", "-o", "json"]))
                .expect("kubectl config view prints JSON");
        let cluster = view["clusters"][0]["cluster"].clone();
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": cluster}],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": "cluster", "user": "token"}}],
            "current-context": "token",
        });
        std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        path.to_path_buf()
    }
}

/// A namespace of the shared cluster owned by one test.
#[derive(Debug)]
pub struct Namespace<'a> {
    cp: &'a ControlPlane,
    name: String,
}

impl Namespace<'_> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn control_plane(&self) -> &ControlPlane {
        self.cp
    }

    /// `kubectl --namespace NAME` with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = self.cp.kubectl();
        cmd.args(["--namespace", &self.name]);
        cmd
    }

    /// Runs `kubectl --namespace NAME ARGS…`, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.kubectl();
        cmd.args(args);
        output_of(cmd, args)
    }

    /// Runs `kubectl --namespace NAME ARGS…`, panics unless it succeeds, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.run(args), args)
    }

    /// `kubectl --namespace NAME get ARGS… -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl -o json prints JSON")
    }

    /// `kubectl apply -f -` with `manifests` on stdin, whatever the exit status.
    pub fn try_apply(&self, manifests: &str) -> Output {
        stdin_run(self.kubectl(), &["apply", "-f", "-"], manifests)
    }

    /// `kubectl apply -f -` with `manifests` on stdin; panics unless it succeeds.
    pub fn apply(&self, manifests: &str) -> String {
        expect_ok(self.try_apply(manifests), &["apply", "-f", "-"])
    }
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        // The namespace controller deletes what is in it; nothing waits for that.
        let _ = self
            .cp
            .kubectl()
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `kubectl` from the tool cache with `KUBECONFIG=kubeconfig`.
pub fn kubectl_with(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new(tools::kubectl());
    cmd.env("KUBECONFIG", kubeconfig).stdin(Stdio::null());
    cmd
}

/// A DNS-1123 label `PREFIX-PID-N-XXXX`, unique in this run and very likely across runs.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut clean: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    clean.truncate(36);
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "test" } else { clean };
    format!("{clean}-{}-{n}-{:04x}", std::process::id(), nanos & 0xffff)
}

fn output_of(mut cmd: Command, args: &[&str]) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "kubectl {} did not run ({e}): run scripts/install-test-deps (kubectl goes into {})",
            args.join(" "),
            tools::bin_dir().display()
        )
    })
}

fn stdin_run(mut cmd: Command, args: &[&str], input: &str) -> Output {
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "kubectl did not run ({e}): run scripts/install-test-deps (kubectl goes into {})",
            tools::bin_dir().display()
        )
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn expect_ok(output: Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "kubectl {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
}
