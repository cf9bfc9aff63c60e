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
    let output = ml_operator(kubeconfig, &[args, &["-o", "json"]].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap()
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

/// The containers (and init containers) of a live object, as (list, name, image).
fn images(object: &Value) -> Vec<(String, String, String)> {
    let spec = match object["kind"].as_str().unwrap() {
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

/// The operator's loop: check → run every printed command (one per workload) with kubectl →
/// kubectl get shows exactly the containers its patch lists changed, and the workload's
/// generation went up by one (one rollout) → check again reports nothing to update.
fn operator_loop(kubeconfig: &Path, scope: &[&str], tags: &str) -> usize {
    let before = report(kubeconfig, &[scope, &["--tags", tags]].concat());
    let patches: Vec<&Value> = before["patches"].as_array().unwrap().iter().collect();
    assert!(!patches.is_empty(), "nothing to update: {before}");

    for patch in &patches {
        let (kind, namespace, name) = (
            patch["kind"].as_str().unwrap().to_lowercase(),
            patch["namespace"].as_str().unwrap(),
            patch["name"].as_str().unwrap(),
        );
        let get = |what: &str| {
            let output = kubectl(
                kubeconfig,
                &["get", &kind, name, "-n", namespace, "-o", "json"],
            );
            assert!(
                output.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice::<Value>(&output.stdout).unwrap()
        };
        let old_object = get("before");
        let old = images(&old_object);

        // Exactly the printed command, through a shell, as a person would paste it.
        let command = patch["command"].as_str().unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let new_object = get("after");
        let new = images(&new_object);
        let listed = patch["containers"].as_array().unwrap();
        let expected: Vec<(String, String, String)> = old
            .iter()
            .map(|(l, n, image)| {
                let change = listed.iter().find(|c| {
                    c["name"] == n.as_str()
                        && (c["initContainer"] == true) == (l == "initContainers")
                });
                let image = match change {
                    Some(c) => c["latestImage"].as_str().unwrap().to_string(),
                    None => image.clone(),
                };
                (l.clone(), n.clone(), image)
            })
            .collect();
        assert_ne!(old, expected, "{command} should change something");
        assert_eq!(
            new, expected,
            "{command} must change exactly the containers it lists"
        );
        if let (Some(before), Some(after)) = (
            old_object["metadata"]["generation"].as_i64(),
            new_object["metadata"]["generation"].as_i64(),
        ) {
            assert_eq!(after, before + 1, "{command}: one rollout per workload");
        }
    }

    let after = report(kubeconfig, &[scope, &["--tags", tags]].concat());
    assert_eq!(after["summary"]["updates"], 0, "{}", after["summary"]);
    assert_eq!(
        after["summary"]["containers"],
        before["summary"]["containers"]
    );
    patches.len()
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
fn the_hub_operator_loop_with_the_real_kubectl() {
    let (_sim, _dir, kubeconfig) = start_example_hub();
    let applied = operator_loop(&kubeconfig, &[], "examples/tags.json");
    assert!(applied >= 20, "only {applied} commands ran");
}

#[test]
fn a_cluster_and_its_manifests_give_the_same_findings() {
    let (sim, _dir, kubeconfig) = start_example_hub();
    let from_cluster = report(&kubeconfig, &["--tags", "examples/tags.json"]);
    let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .args([
            "check",
            "-f",
            "examples/hub",
            "--tags",
            "examples/tags.json",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let from_files: Value = serde_json::from_slice(&output.stdout).unwrap();
    // kube-sim creates ReplicaSets and Pods for Deployments; each is reported once, through its controller.
    assert_eq!(rows(&from_cluster), rows(&from_files));
    assert!(
        from_cluster["summary"]["controlled"].as_u64().unwrap() > 0,
        "{}",
        from_cluster["summary"]
    );
    // One cluster-wide list per kind (the hub fits in one page of 500), no per-object reads.
    assert_eq!(sim.request_count("list", "/apis/apps/v1/deployments"), 1);
    assert_eq!(sim.request_count("list", "/api/v1/pods"), 1);
    assert_eq!(sim.request_count("get", "/apis/apps/v1/namespaces/"), 0);
}

#[test]
fn namespace_selector_and_services_are_applied() {
    let (_sim, _dir, kubeconfig) = start_example_hub();
    let count = |args: &[&str]| {
        report(
            &kubeconfig,
            &[args, &["--tags", "examples/tags.json"]].concat(),
        )["summary"]["workloads"]
            .as_u64()
            .unwrap()
    };
    let all = count(&[]);
    let pisp = count(&["-n", "pisp-lab"]);
    assert!(pisp > 0 && pisp < all, "{pisp} of {all}");
    assert_eq!(
        count(&["--services", "account-lookup-service"]),
        count(&["-l", "app.kubernetes.io/name=account-lookup-service"])
    );
    assert!(count(&["--services", "account-lookup-service"]) >= 1);
}

#[test]
fn annotations_on_live_objects_are_honoured() {
    let (_sim, _dir, kubeconfig) = start_example_hub();
    let annotate = |key: &str, value: &str| {
        let output = kubectl(
            &kubeconfig,
            &[
                "annotate",
                "deployment",
                "moja-centralledger-service",
                "-n",
                "mojaloop",
                &format!("ml-operator.mojaloop.io/{key}={value}"),
            ],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ledger = |report: &Value| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["name"] == "moja-centralledger-service"
                    && f["container"] == "centralledger-service"
            })
            .unwrap()
            .clone()
    };
    annotate("strategy", "major");
    let finding = ledger(&report(&kubeconfig, &["--tags", "examples/tags.json"]));
    assert_eq!(finding["strategy"], "major");
    annotate("ignore", "true");
    let finding = ledger(&report(&kubeconfig, &["--tags", "examples/tags.json"]));
    assert_eq!(finding["status"], "skipped");
}

#[test]
fn a_forbidden_namespace_is_a_warning_and_the_rest_goes_on() {
    let (sim, _dir, kubeconfig) = start_example_hub();
    sim.forbid_namespace("infra");
    let output = ml_operator(&kubeconfig, &["--tags", "examples/tags.json", "-o", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"infra\""), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let namespaces: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["namespace"].as_str().unwrap())
        .collect();
    assert!(!namespaces.contains(&"infra"));
    assert!(namespaces.contains(&"mojaloop") && namespaces.contains(&"pisp-lab"));
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

/// The same loop against a real cluster, when one is offered.
#[test]
fn the_loop_against_a_real_cluster_when_configured() {
    let Some(kubeconfig) = std::env::var_os("ML_OPERATOR_E2E_KUBECONFIG") else {
        println!(
            "skipped: set ML_OPERATOR_E2E_KUBECONFIG to run the operator loop against a real cluster"
        );
        return;
    };
    let kubeconfig = PathBuf::from(kubeconfig);
    let namespace = format!("ml-operator-e2e-{}", std::process::id());
    let created = kubectl(&kubeconfig, &["create", "namespace", &namespace]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("workload.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: e2e, namespace: {namespace}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: e2e}}}}\n  template:\n    metadata: {{labels: {{app: e2e}}}}\n    spec:\n      containers: [{{name: app, image: 'busybox:1.36.0'}}]\n"
        ),
    )
    .unwrap();
    let tags = dir.path().join("tags.json");
    std::fs::write(&tags, r#"{"busybox": ["1.36.0", "1.36.1"]}"#).unwrap();
    let applied = kubectl(&kubeconfig, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let result = std::panic::catch_unwind(|| {
        operator_loop(&kubeconfig, &["-n", &namespace], tags.to_str().unwrap())
    });
    kubectl(
        &kubeconfig,
        &["delete", "namespace", &namespace, "--wait=false"],
    );
    assert_eq!(result.unwrap(), 1);
}
