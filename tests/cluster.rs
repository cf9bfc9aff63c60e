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
    serve(sim)
}

/// A kubeconfig for `sim` in a temporary directory.
fn serve(
    sim: kube_sim::BlockingRunning,
) -> (kube_sim::BlockingRunning, tempfile::TempDir, PathBuf) {
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

/// The bundled example hub on kube-sim with no simulated ReplicaSets and Pods, plus `objects`:
/// every object is in the store before the server answers (the simulated ones come later).
fn start_example_hub_with(
    objects: Vec<Value>,
) -> (kube_sim::BlockingRunning, tempfile::TempDir, PathBuf) {
    let sim = KubeSim::builder()
        .load(repo().join("examples/hub"))
        .unwrap()
        .simulate_pods(false)
        .objects(objects)
        .start_blocking()
        .unwrap();
    serve(sim)
}

/// Namespace `lab` with `bare` Pods no workload controls and, beside them, what controllers
/// leave: a Deployment's ReplicaSet and its Pod (both controlled) and a ReplicaSet no workload
/// controls with a Pod of its own (3 controlled objects in all).
fn lab_objects(bare: usize) -> Vec<Value> {
    use serde_json::json;
    let spec = |image: &str| json!({"containers": [{"name": "app", "image": image}]});
    let owned_by = |kind: &str, name: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}]);
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d8f", "namespace": "lab", "ownerReferences": owned_by("Deployment", "web")},
            "spec": {"selector": {"matchLabels": {"a": "web"}}, "template": {"metadata": {"labels": {"a": "web"}}, "spec": spec("mojaloop/quoting-service:v15.0.0")}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-5d8f-x1", "namespace": "lab", "ownerReferences": owned_by("ReplicaSet", "web-5d8f")},
            "spec": spec("mojaloop/quoting-service:v15.0.0")}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "legacy", "namespace": "lab"},
            "spec": {"selector": {"matchLabels": {"a": "legacy"}}, "template": {"metadata": {"labels": {"a": "legacy"}}, "spec": spec("mojaloop/account-lookup-service:v15.0.0")}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "legacy-y2", "namespace": "lab", "ownerReferences": owned_by("ReplicaSet", "legacy")},
            "spec": spec("mojaloop/account-lookup-service:v15.0.0")}),
    ];
    objects.extend((0..bare).map(|i| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("debug-{i}"), "namespace": "lab"},
            "spec": spec("mojaloop/central-ledger:v17.0.0")})
    }));
    objects
}

/// The example hub plus `lab_objects(bare)` on kube-sim (`prepare` may add faults), then
/// `check` on it — with the offline index nothing reads what Pods run, so Pods and ReplicaSets
/// are listed by metadata — and `check -f` of the same objects as files: the same findings and
/// counts (the files also count their other objects, such as Services). Returns the simulator,
/// to count its requests, and the cluster's report.
fn by_metadata_as_from_files(
    bare: usize,
    prepare: impl FnOnce(&kube_sim::BlockingRunning),
) -> (kube_sim::BlockingRunning, Value) {
    let lab = lab_objects(bare);
    let (sim, dir, kubeconfig) = start_example_hub_with(lab.clone());
    prepare(&sim);
    let file = dir.path().join("lab.json");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": lab});
    std::fs::write(&file, list.to_string()).unwrap();
    let by_metadata = report(&kubeconfig, &["--tags", "examples/tags.json"]);
    let from_files = manifests_report(&["-f", file.to_str().unwrap()]);
    assert_eq!(rows(&by_metadata), rows(&from_files));
    for count in [
        "workloads",
        "containers",
        "controlled",
        "updates",
        "upToDate",
        "unresolved",
    ] {
        assert_eq!(
            by_metadata["summary"][count], from_files["summary"][count],
            "{count}: {} vs {}",
            by_metadata["summary"], from_files["summary"]
        );
    }
    (sim, by_metadata)
}

/// When nothing reads what Pods run, `check` lists Pods and ReplicaSets by their metadata and
/// reads in full only the few no workload controls: the same report as the objects as files.
#[test]
fn pods_and_replica_sets_listed_by_metadata_give_the_report_of_the_same_files() {
    let (sim, by_metadata) = by_metadata_as_from_files(2, |_| {});
    assert_eq!(by_metadata["summary"]["controlled"], 3);
    let lab_rows: Vec<String> = rows(&by_metadata)
        .into_iter()
        .filter(|row| row.starts_with("\"lab\""))
        .collect();
    assert_eq!(
        lab_rows.len(),
        3,
        "the two debug Pods and the ReplicaSet: {lab_rows:?}"
    );
    // One list of each, then each object no workload controls read by name: the bare
    // ReplicaSet, the two debug Pods and the example's Helm test Pod; nothing controlled.
    assert_eq!(sim.request_count("list", "/api/v1/pods"), 1);
    assert_eq!(sim.request_count("list", "/apis/apps/v1/replicasets"), 1);
    assert_eq!(
        sim.request_count("get", "/apis/apps/v1/namespaces/lab/replicasets/legacy"),
        1
    );
    assert_eq!(
        sim.request_count("get", "/api/v1/namespaces/lab/pods/debug-"),
        2
    );
    assert_eq!(
        sim.request_count(
            "get",
            "/api/v1/namespaces/mojaloop/pods/moja-ml-api-adapter-service-test-connection"
        ),
        1
    );
    assert_eq!(sim.request_count("get", "/api"), 4);
}

/// Many Pods no workload controls are not read one by one: the kind is listed again in full.
#[test]
fn many_uncontrolled_pods_are_listed_again_in_full_not_read_one_by_one() {
    let (sim, _) = by_metadata_as_from_files(40, |_| {});
    assert_eq!(sim.request_count("list", "/api/v1/pods"), 2);
    assert_eq!(sim.request_count("get", "/api/v1/"), 0);
    assert_eq!(
        sim.request_count("get", "/apis/apps/v1/namespaces/lab/replicasets/legacy"),
        1
    );
}

/// Allowed to list but not to get by name (a Role with `list` alone): the Pods no workload
/// controls come from the list in full instead, and the report is the same.
#[test]
fn a_forbidden_get_by_name_falls_back_to_the_list_in_full() {
    let (sim, _) = by_metadata_as_from_files(2, |sim| {
        sim.inject_errors("/api/v1/namespaces/lab/pods/debug-", 1, 403)
    });
    assert_eq!(sim.request_count("list", "/api/v1/pods"), 2);
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
