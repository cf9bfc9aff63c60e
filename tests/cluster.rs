//! `check` against a live cluster: kube-sim serves the bundled example hub over real HTTP, and
//! the real `kubectl` runs every command `check` prints — the loop a Hub operator runs.
//!
//! With `ML_OPERATOR_E2E_KUBECONFIG` set, the same loop also runs against that real cluster in a
//! throwaway namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_sim::KubeSim;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ml_operator(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .env_remove("KUBECONFIG")
        .arg("check")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap()
}

fn report(kubeconfig: &Path, args: &[&str]) -> Value {
    json_report(ml_operator(kubeconfig, &[args, &["-o", "json"]].concat()))
}

/// The JSON report of a `check -o json` run that must have succeeded (else its stderr).
fn json_report(output: Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `check -o json` of the bundled example's manifests with the offline index, plus `args`.
fn manifests_report(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .args([
            "check",
            "-f",
            "examples/hub",
            "--tags",
            "examples/tags.json",
        ])
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    json_report(output)
}

/// The findings as comparable rows: (namespace, kind, name, container, image, status, latest).
fn rows(report: &Value) -> Vec<String> {
    let mut rows: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {} {} {}",
                f["namespace"],
                f["kind"],
                f["name"],
                f["container"],
                f["image"],
                f["status"],
                f["latestTag"]
            )
        })
        .collect();
    rows.sort();
    rows
}

fn start_example_hub() -> (kube_sim::BlockingRunning, tempfile::TempDir, PathBuf) {
    let sim = KubeSim::builder()
        .load(repo().join("examples/hub"))
        .unwrap()
        .start_blocking()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    (sim, dir, kubeconfig)
}

#[test]
fn a_cluster_and_its_manifests_give_the_same_findings() {
    let (sim, _dir, kubeconfig) = start_example_hub();
    let from_cluster = report(&kubeconfig, &["--tags", "examples/tags.json"]);
    let from_files = manifests_report(&[]);
    // kube-sim creates ReplicaSets and Pods for Deployments; each is reported once, through its controller.
    assert_eq!(rows(&from_cluster), rows(&from_files));
    assert!(
        from_cluster["summary"]["controlled"].as_u64().unwrap() > 0,
        "{}",
        from_cluster["summary"]
    );
    // One cluster-wide list per kind (the hub fits in one page of 250), no per-object reads.
    assert_eq!(sim.request_count("list", "/apis/apps/v1/deployments"), 1);
    assert_eq!(sim.request_count("list", "/api/v1/pods"), 1);
    assert_eq!(sim.request_count("get", "/apis/apps/v1/namespaces/"), 0);
}

#[test]
fn a_label_selector_keeps_the_same_workloads_on_a_cluster_as_in_its_manifests() {
    // `helm.sh/chart` is a label no scan reads: the cluster's list applies the selector, and
    // what is kept of each object afterwards must not undo it.
    let (_sim, _dir, kubeconfig) = start_example_hub();
    let selector = ["-l", "helm.sh/chart=account-lookup-service-17.1.0"];
    let from_cluster = report(
        &kubeconfig,
        &[&selector[..], &["--tags", "examples/tags.json"]].concat(),
    );
    let from_files = manifests_report(&selector);
    assert!(
        !rows(&from_files).is_empty(),
        "the selector matches workloads of the example"
    );
    assert_eq!(rows(&from_cluster), rows(&from_files));
}

#[test]
fn an_unreachable_cluster_names_context_and_server() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\nusers:\n- name: u\n  user: {{token: secret-token-value}}\ncontexts:\n- name: hub-prod\n  context: {{cluster: gone, user: u}}\ncurrent-context: hub-prod\n"
        ),
    )
    .unwrap();
    let output = ml_operator(&kubeconfig, &["--tags", "examples/tags.json"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"hub-prod\""), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("secret-token-value"), "{stderr}");
}

/// A list page is read only up to `--max-input-size`: a larger one stops the read with an error
/// naming the list and the bound, and nothing is reported from a half-read cluster.
#[test]
fn a_list_page_larger_than_the_input_bound_is_an_error_naming_it() {
    let (_sim, _dir, kubeconfig) = start_example_hub();
    let output = ml_operator(
        &kubeconfig,
        &[
            "--tags",
            "examples/tags.json",
            "--max-input-size",
            "4K",
            "-o",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a list page of /api"), "{stderr}");
    assert!(
        stderr.contains("larger than the limit of 4 KiB for one input (--max-input-size)"),
        "{stderr}"
    );
    // With the default bound the same cluster reads whole.
    let report = report(&kubeconfig, &["--tags", "examples/tags.json"]);
    assert!(report["summary"]["workloads"].as_u64().unwrap() > 0);
}
