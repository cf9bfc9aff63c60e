//! Drop-in for the Node ml-operator: its environment, as its README and chart set it, works
//! unchanged with `check` and `run` — `SERVICES` as the JSON array it reads, `UPGRADE_STRATEGY`
//! in capitals, a 5-field `CHECK_FOR_UPDATE_CRON`, `IMAGE_WATCHER_CLIENT_URL`, and variables of
//! its own (`NODE_ENV`, `LOG_LEVEL`) that mean nothing to us and are ignored.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube_sim::KubeSim;
use support::{Operator, Receiver, eventually_or, small_hub_registry};

/// Three Deployments labelled `a`, `b` and `c`, each on an old account-lookup-service.
fn three_services() -> String {
    ["a", "b", "c"]
        .iter()
        .map(|name| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: mojaloop\n  labels: {{app.kubernetes.io/name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: app\n          image: mojaloop/account-lookup-service:v10.3.1\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `check -f` with only `SERVICES` set; returns the exit code, the workloads found, stderr.
fn check_with_services(dir: &Path, services: &str) -> (Option<i32>, Vec<String>, String) {
    let manifest = write(dir, "hub.yaml", &three_services());
    let tags = support::repo().join("tests/fixtures/small-tags.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(["check", "-o", "json", "--tags"])
        .arg(&tags)
        .arg("-f")
        .arg(&manifest)
        .env("SERVICES", services)
        .env_remove("UPGRADE_STRATEGY")
        .env_remove("IMAGE_WATCHER_CLIENT_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let mut names = Vec::new();
    if output.status.success() {
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        names = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names.dedup();
    }
    (output.status.code(), names, stderr)
}

#[test]
fn check_reads_services_as_a_json_array_or_a_comma_list() {
    let dir = tempfile::tempdir().unwrap();
    for services in [r#"["a","b"]"#, r#"[ "a", "b" ]"#, "a,b", "a, b"] {
        let (code, names, stderr) = check_with_services(dir.path(), services);
        assert_eq!(code, Some(0), "{services}: {stderr}");
        assert_eq!(names, ["a", "b"], "{services}");
    }
    for bad in ["[a", r#"["a", 2]"#, "a;b"] {
        let (code, _, stderr) = check_with_services(dir.path(), bad);
        assert_eq!(code, Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("SERVICES"), "{bad}: {stderr}");
    }
}

#[test]
fn run_fails_at_start_on_a_malformed_services() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .arg("run")
        .env("SERVICES", "[a")
        .env_remove("ML_OPERATOR_LISTEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SERVICES") && stderr.contains("[a"),
        "{stderr}"
    );
}

/// The operator's last report: the names of the workloads it has findings for.
async fn reported_names(operator: &Operator) -> Vec<String> {
    let (status, body) = operator.get("/report").await;
    if status != 200 {
        return Vec::new();
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_selects_exactly_the_services_of_a_json_array() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "hub.yaml", &three_services());
    let sim = KubeSim::builder()
        .load(&manifest)
        .unwrap()
        .start()
        .await
        .unwrap();
    sim.handle()
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let config = write(
        dir.path(),
        "config.yaml",
        &format!(
            "schedule: '* * * * * *'\nregistries:\n  - {{host: docker.io, mirror: '{}'}}\n",
            proxy.host()
        ),
    );
    for services in [r#"["a","b"]"#, "a,b"] {
        let operator = Operator::start(
            "services",
            dir.path(),
            &kubeconfig,
            &config,
            &[("SERVICES", services)],
        )
        .await;
        operator.wait_for_scans(1.0).await;
        assert_eq!(
            reported_names(&operator).await,
            ["a", "b"],
            "{services}\n{}",
            operator.log()
        );
    }
}

/// The original's environment, as its chart (`charts/templates/ml-operator.yaml` and
/// `charts/configs/ml-operator.json`) and README set it, asking an image-watcher — here our
/// own image-watcher API — for the newest tags. Slack gets the original's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_original_environment_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sim = KubeSim::builder()
        .load(support::repo().join("tests/fixtures/small-hub.yaml"))
        .unwrap()
        .start()
        .await
        .unwrap();
    sim.handle()
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();

    // The image-watcher: one of ours, reading the real registry.
    let (_registry, proxy) = small_hub_registry().await;
    let watcher_config = write(
        dir.path(),
        "watcher.yaml",
        &format!(
            "registries:\n  - {{host: docker.io, mirror: '{}'}}\nnotify: {{events: false}}\n",
            proxy.host()
        ),
    );
    let watcher = Operator::start(
        "image-watcher",
        dir.path(),
        &kubeconfig,
        &watcher_config,
        &[],
    )
    .await;

    // The original ml-operator's deployment: no config file of ours, only its variables.
    let slack = Receiver::start().await;
    let log = dir.path().join("original.log");
    let mut original = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "ml-operator-original")
        // Ours, only so parallel tests do not fight over port 4006.
        .env("ML_OPERATOR_LISTEN", "127.0.0.1:0")
        // The original's own.
        .env("NODE_ENV", "production")
        .env("LOG_LEVEL", "debug")
        .env("CSL_LOG_LEVEL", "debug")
        .env("SLACK_WEBHOOK_URL", slack.url())
        .env(
            "SERVICES",
            r#"["account-lookup-service","auth-service","central-ledger","quoting-service"]"#,
        )
        .env("UPGRADE_STRATEGY", "BUGFIX")
        .env("CHECK_FOR_UPDATE_CRON", "0 */3 * * *")
        .env("IMAGE_WATCHER_CLIENT_URL", watcher.url(""))
        .env("SHOULD_USE_DEFAULT_K8S", "true")
        .env("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    eventually_or(
        "the original's Slack message",
        Duration::from_secs(60),
        async || !slack.delivered().is_empty(),
        read_log,
    )
    .await;
    let text = slack.delivered()[0].json()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.starts_with("*ml-operator* - The following services are not on the latest secure version and should be updated:\n"),
        "{text}"
    );
    // Bugfix from v10.3.1 is v10.3.4 (not v10.4.0); central-ledger's cleanup job v13.14.2.
    assert!(
        text.contains("  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`"),
        "{text}"
    );
    assert!(
        text.contains("kubectl patch deployment account-lookup-service -n pisp-lab"),
        "{text}"
    );
    // Only the SERVICES: redis and mysql (no app.kubernetes.io/name in the list) are not named.
    assert!(!text.contains("bitnami/mysql"), "{text}");
    let _ = original.start_kill();
}
