//! The kustomize base and the example overlay on the real control plane: `kubectl apply -k
//! deploy/kustomize/base` (the namespace enforces the restricted Pod Security Standard, so
//! admission checks the Pod), every object there and the Deployment available on the fake
//! nodes; the operator binary run as the base's ServiceAccount holds its Lease and scans; then
//! `kubectl kustomize deploy/kustomize/overlays/example | kubectl apply -f -` as its comments say,
//! two replicas available, and the binary run as the overlay's Pod notifies Slack through the
//! URL in the Secret the overlay mounts.
//!
//! Both use fixed names (namespaces `ml-operator` and `hub-ops`, the ClusterRole and
//! ClusterRoleBinding `ml-operator`), so one test does both, one after the other. The
//! ImageUpgrade CRD is shared with the other tests and never deleted.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use serde_json::Value;

/// Deletes what the base and the overlay created (but the shared CRD) when dropped.
struct Cleanup<'a>(&'a ControlPlane);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for object in [
            "namespace/ml-operator",
            "namespace/hub-ops",
            "clusterrolebinding/ml-operator",
            "clusterrole/ml-operator",
        ] {
            let _ = self
                .0
                .run(&["delete", object, "--ignore-not-found", "--wait=false"]);
        }
    }
}

/// Waits until a namespace left over by an earlier run has gone.
fn wait_gone(cp: &ControlPlane, namespace: &str) {
    let _ = cp.run(&[
        "wait",
        "--for=delete",
        &format!("namespace/{namespace}"),
        "--timeout=90s",
    ]);
}

/// Runs `kubectl ARGS…` (an apply that may race another test applying the same CRD) until it
/// succeeds, at most five times.
fn apply_retrying(cp: &ControlPlane, args: &[&str], input: Option<&str>) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        let output = match input {
            Some(input) => {
                let mut cmd = cp.kubectl();
                cmd.args(args);
                with_stdin(cmd, input)
            }
            None => cp.run(args),
        };
        if output.status.success() {
            return String::from_utf8(output.stdout).unwrap();
        }
        last = text(&output);
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("kubectl {}: {last}", args.join(" "));
}

fn labels(object: &Value) -> &Value {
    &object["metadata"]["labels"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kustomize_base_and_the_example_overlay_apply_and_run() {
    let Some(cp) = fake_node_cluster_or_skip("the kustomize base and overlay") else {
        return;
    };
    let _cleanup = Cleanup(cp);
    wait_gone(cp, "ml-operator");
    wait_gone(cp, "hub-ops");

    // The base, exactly as its kustomization.yaml says.
    let base = repo().join("deploy/kustomize/base");
    let applied = apply_retrying(cp, &["apply", "-k", base.to_str().unwrap()], None);
    for line in [
        "namespace/ml-operator",
        "customresourcedefinition.apiextensions.k8s.io/imageupgrades.ml-operator.mojaloop.io",
        "serviceaccount/ml-operator",
        "role.rbac.authorization.k8s.io/ml-operator",
        "clusterrole.rbac.authorization.k8s.io/ml-operator",
        "rolebinding.rbac.authorization.k8s.io/ml-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/ml-operator",
        "configmap/ml-operator-config-",
        "service/ml-operator",
        "deployment.apps/ml-operator",
    ] {
        assert!(applied.contains(line), "{line} in:\n{applied}");
    }
    cp.ok(&[
        "rollout",
        "status",
        "deployment/ml-operator",
        "-n",
        "ml-operator",
        "--timeout=120s",
    ]);
    let namespace = cp.get_json(&["namespace", "ml-operator"]);
    assert_eq!(
        labels(&namespace)["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let d = cp.get_json(&["deployment", "ml-operator", "-n", "ml-operator"]);
    assert!(deployment_rolled_out(&d), "{:#}", d["status"]);
    assert_eq!(labels(&d)["app.kubernetes.io/managed-by"], "kustomize");
    let config_map = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        config_map.starts_with("ml-operator-config-") && config_map.len() > 19,
        "the generated, hashed name: {config_map}"
    );
    cp.ok(&["get", "configmap", &config_map, "-n", "ml-operator"]);
    let binding = cp.get_json(&["clusterrolebinding", "ml-operator"]);
    assert_eq!(binding["subjects"][0]["namespace"], "ml-operator");
    cp.ok(&["get", &format!("crd/{IU_RESOURCE}")]);

    // The binary as the base's Pod runs it, with the base's ServiceAccount: it watches the whole
    // cluster, holds its Lease. An empty tag index: it reports nothing about other tests'
    // workloads (no Events on them).
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("tags.json");
    std::fs::write(&empty, "{}").unwrap();
    let deployed = deployed(cp, "ml-operator", "ml-operator", dir.path());
    assert_eq!(deployed.service_account, "ml-operator");
    wait_can_i(cp, &deployed.user(), "watch", "pods", "default", true);
    let mut operator = deployed
        .start(dir.path(), &["--tags", empty.to_str().unwrap()])
        .await;
    let lease = |ns: &str| {
        let output = cp.run(&["get", "lease", "ml-operator", "-n", ns, "-o", "json"]);
        output
            .status
            .success()
            .then(|| serde_json::from_slice::<Value>(&output.stdout).unwrap())
    };
    let outcome = works(&mut operator, Duration::from_secs(60), async |o| {
        o.scans().await >= 1.0
            && lease("ml-operator").is_some_and(|l| {
                l["spec"]["holderIdentity"] == o.name.as_str()
                    && l["spec"]["renewTime"] != l["spec"]["acquireTime"]
            })
    })
    .await;
    if let Err(log) = outcome {
        panic!("the operator did not work with the base's RBAC: {log}");
    }
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());

    // The example overlay, as its kustomization.yaml's comments say: the namespace and the
    // Secret first, then the rendered overlay.
    let receiver = Receiver::start().await;
    cp.ok(&["create", "namespace", "hub-ops"]);
    cp.ok(&[
        "-n",
        "hub-ops",
        "create",
        "secret",
        "generic",
        "ml-operator-secrets",
        &format!("--from-literal=slack-webhook-url={}", receiver.slack_url()),
    ]);
    let overlay = repo().join("deploy/kustomize/overlays/example");
    let rendered = cp.ok(&["kustomize", overlay.to_str().unwrap()]);
    apply_retrying(cp, &["apply", "-f", "-"], Some(&rendered));
    cp.ok(&[
        "rollout",
        "status",
        "deployment/ml-operator",
        "-n",
        "hub-ops",
        "--timeout=120s",
    ]);
    let d = cp.get_json(&["deployment", "ml-operator", "-n", "hub-ops"]);
    assert_eq!(d["status"]["availableReplicas"], 2, "{:#}", d["status"]);
    assert_eq!(
        image_of(&d, "ml-operator"),
        "registry.hub.local:5000/mojaloop/ml-operator:0.1.0"
    );
    let pod_spec = &d["spec"]["template"]["spec"];
    assert!(
        pod_spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "ml-operator-secrets"),
        "{pod_spec:#}"
    );
    let pods = cp.get_json(&[
        "pods",
        "-n",
        "hub-ops",
        "-l",
        "app.kubernetes.io/name=ml-operator",
    ]);
    let ready = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| condition(p, "Ready").is_some_and(|c| c["status"] == "True"))
        .count();
    assert_eq!(ready, 2, "{pods:#}");
    let binding = cp.get_json(&["clusterrolebinding", "ml-operator"]);
    assert_eq!(binding["subjects"][0]["namespace"], "hub-ops");
    cp.ok(&["get", "role", "ml-operator", "-n", "hub-ops"]);

    // Run as the overlay's Pod: its configuration reads the Slack URL from the Secret mounted
    // where the overlay mounts it, and it leads through the Lease in hub-ops.
    let dir = tempfile::tempdir().unwrap();
    let deployed = e2e_support::deployed(cp, "hub-ops", "ml-operator", dir.path());
    wait_can_i(cp, &deployed.user(), "watch", "pods", "default", true);
    let config = std::fs::read_to_string(&deployed.config).unwrap();
    let secret_file = dir
        .path()
        .join("root/etc/ml-operator/secrets/slack-webhook-url");
    assert!(
        config.contains(secret_file.to_str().unwrap()),
        "the Secret's mount: {config}"
    );
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        receiver.slack_url()
    );
    // One of the overlay's services, on a repository only this test uses: the one update in the
    // whole cluster the tag index knows (no Events land on other tests' workloads).
    let hub = cp.namespace("e2e-kustomize-hub");
    let mut quoting = deployment(
        "quoting-service",
        0,
        pod_template(
            "quoting-service",
            &[container(
                "quoting-service",
                "e2e-kustomize/quoting-service:v1.0.0",
            )],
            &[],
            serde_json::json!({}),
        ),
    );
    quoting["metadata"]["labels"]["app.kubernetes.io/name"] = "quoting-service".into();
    hub.apply(&list(&[quoting]));
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        r#"{"e2e-kustomize/quoting-service": ["v1.0.0", "v1.0.1"]}"#,
    )
    .unwrap();
    let mut operator = deployed
        .start(dir.path(), &["--tags", tags.to_str().unwrap()])
        .await;
    let outcome = works(&mut operator, Duration::from_secs(60), async |o| {
        lease("hub-ops").is_some_and(|l| l["spec"]["holderIdentity"] == o.name.as_str())
            && !receiver.received().is_empty()
    })
    .await;
    if let Err(log) = outcome {
        panic!("the operator did not work with the overlay: {log}");
    }
    let slack = receiver.received()[0].json();
    let message = slack["text"].as_str().unwrap();
    assert!(
        message.contains("`e2e-kustomize/quoting-service`: latest version is `v1.0.1`"),
        "{message}"
    );
    assert!(!operator.log().contains("s3cr3t-webhook-token"));
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());
}
