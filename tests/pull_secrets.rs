//! `check` on a cluster uses the workloads' imagePullSecrets as registry credentials, the way
//! kubelet pulls: a real `docker-registry` behind htpasswd over TLS, a kube-sim Secret of type
//! `kubernetes.io/dockerconfigjson`.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube_sim::KubeSim;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};

fn deployment(name: &str, image: &str, pull_secret: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "hub"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "imagePullSecrets": [{"name": pull_secret}],
                    "containers": [{"name": name, "image": image}]
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_secrets_are_registry_credentials() {
    let registry = RegistryProc::start(
        AuthMode::Htpasswd(vec![("hub".into(), "pull-s3cret".into())]),
        true,
    )
    .await;
    let tags: Vec<String> = ["v10.3.1", "v10.3.2", "v10.3.4", "v10.4.0"]
        .map(String::from)
        .to_vec();
    registry
        .push("mojaloop/account-lookup-service", &tags, false)
        .await;
    let host = registry.host();

    let docker_config = json!({"auths": {&host: {"auth": STANDARD.encode("hub:pull-s3cret")}}});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "hub-registry", "namespace": "hub"},
        "data": {".dockerconfigjson": STANDARD.encode(docker_config.to_string())}
    });
    let image = format!("{host}/mojaloop/account-lookup-service:v10.3.1");
    let sim = KubeSim::builder()
        .objects(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hub"}}),
            secret,
            deployment("account-lookup-service", &image, "hub-registry"),
            deployment("als-admin", &image, "no-such-secret"),
        ])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  - host: '{host}'\n    caFile: '{}'\n",
            registry.ca_file().display()
        ),
    )
    .unwrap();

    let check = |extra: &'static [&'static str]| {
        let (kubeconfig, config, home): (PathBuf, PathBuf, PathBuf) =
            (kubeconfig.clone(), config.clone(), dir.path().to_path_buf());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
                .args(["check", "-o", "json", "--kubeconfig"])
                .arg(&kubeconfig)
                .arg("--config")
                .arg(&config)
                .args(extra)
                .env("DOCKER_CONFIG", &home)
                .output()
                .await
                .unwrap()
        }
    };

    // Both workloads use the same repository; the one secret that exists lets the walk through.
    let output = check(&[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for finding in report["findings"].as_array().unwrap() {
        assert_eq!(finding["latestTag"], "v10.3.4", "{finding}");
        assert_eq!(
            finding["latestImage"],
            format!("{host}/mojaloop/account-lookup-service:v10.3.4")
        );
    }
    assert!(
        stderr.contains("image pull secret hub/no-such-secret does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("pull-s3cret"), "{stderr}");

    // Without the secrets, the registry says 401: unresolved, and the scan is partial.
    let output = check(&["--no-pull-secrets"]).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(finding["status"], "unresolved", "{finding}");
    assert!(
        finding["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("unauthorized"),
        "{finding}"
    );
}
