//! The real control plane itself (`scripts/control-plane`): what the cluster tests rely on.
//!
//! Runs against the cluster `ML_OPERATOR_E2E_KUBECONFIG` points at (`scripts/test` starts the
//! local control plane and sets it); without it every test here says `skipped: …` and passes.
//! Each test works in its own namespace with the real kubectl v1.37.

use std::time::{Duration, Instant};

use ml_operator_testkit::control_plane::{ControlPlane, Namespace};
use serde_json::Value;

/// The server version the local control plane is built at (override for another cluster).
fn expected_server_version() -> String {
    std::env::var("ML_OPERATOR_E2E_SERVER_VERSION").unwrap_or_else(|_| "v1.37.".to_string())
}

/// Polls `check` every 200 ms until it returns `Some`, failing after `timeout` with `what`.
fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn deployment(name: &str, image: &str, replicas: u32, progress_deadline: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: {progress_deadline}
  revisionHistoryLimit: 5
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"#
    )
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn condition<'a>(object: &'a Value, ty: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

fn is_fake_node(cp: &ControlPlane, node: &str) -> bool {
    cp.get_json(&["node", node])["metadata"]["labels"]["type"] == "kwok"
}

#[test]
fn the_api_server_reports_the_version_it_was_built_at() {
    let Some(cp) = ControlPlane::shared_or_skip("the API server's version") else {
        return;
    };
    let version: Value = serde_json::from_str(&cp.ok(&["version", "-o", "json"])).unwrap();
    let server = version["serverVersion"]["gitVersion"].as_str().unwrap();
    let expected = expected_server_version();
    assert!(
        server.starts_with(&expected),
        "server {server}, expected {expected}*"
    );
    assert_eq!(version["serverVersion"]["major"], "1", "{version}");
    let minor = expected.trim_start_matches("v1.").trim_end_matches('.');
    assert_eq!(version["serverVersion"]["minor"], minor, "{version}");
    // kubectl of the same minor (no version skew warning).
    let client = version["clientVersion"]["gitVersion"].as_str().unwrap();
    assert!(
        client.starts_with(&format!("v1.{minor}.")),
        "kubectl {client} is not v1.{minor}: run scripts/install-test-deps"
    );
}

#[test]
fn an_applied_deployment_gets_a_replicaset_and_ready_pods_on_the_nodes() {
    let Some(cp) = ControlPlane::shared_or_skip("a Deployment becomes ready") else {
        return;
    };
    let ns = cp.namespace("cp-deploy");
    ns.apply(&deployment(
        "web",
        "registry.example.test/demo/web:1.0.0",
        2,
        600,
    ));
    ns.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);

    let replica_sets = ns.get_json(&["replicasets", "-l", "app=web"]);
    let replica_sets = replica_sets["items"].as_array().unwrap();
    assert_eq!(replica_sets.len(), 1, "{replica_sets:?}");
    let rs = &replica_sets[0];
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["status"]["readyReplicas"], 2, "{rs}");

    let pods = ns.get_json(&["pods", "-l", "app=web"]);
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{pods:?}");
    for pod in pods {
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert_eq!(condition(pod, "Ready").unwrap()["status"], "True", "{pod}");
        assert_eq!(
            condition(pod, "PodScheduled").unwrap()["status"],
            "True",
            "{pod}"
        );
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["name"],
            rs["metadata"]["name"]
        );
        // Bound by the real scheduler to one of the nodes.
        let node = pod["spec"]["nodeName"].as_str().expect("scheduled");
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["image"], "registry.example.test/demo/web:1.0.0");
        assert_eq!(status["ready"], true);
        if is_fake_node(cp, node) {
            // Not pinned and no digest annotation: an image with no repository digest.
            let image_id = status["imageID"].as_str().unwrap();
            assert!(image_id.starts_with("docker://sha256:"), "{image_id}");
            assert_eq!(image_id.len(), "docker://sha256:".len() + 64);
        }
    }
    let deploy = ns.get_json(&["deployment", "web"]);
    assert_eq!(condition(&deploy, "Available").unwrap()["status"], "True");
    assert_eq!(
        condition(&deploy, "Progressing").unwrap()["reason"],
        "NewReplicaSetAvailable"
    );
}

/// The image the fake nodes cannot pull (scripts/control-plane's default --fail-image-regex).
const FAILING_IMAGE: &str = "registry.example.test/demo/web:fail-2.0.0";

fn wait_for_progress_deadline(ns: &Namespace<'_>, name: &str) -> Value {
    ns.ok(&[
        "wait",
        &format!("deployment/{name}"),
        "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=ProgressDeadlineExceeded",
        "--timeout=120s",
    ]);
    ns.get_json(&["deployment", name])
}

#[test]
fn a_rollout_to_an_image_that_cannot_be_pulled_exceeds_its_deadline_and_undo_recovers() {
    let Some(cp) = ControlPlane::shared_or_skip("a failed rollout and its undo") else {
        return;
    };
    let ns = cp.namespace("cp-rollback");
    ns.apply(&deployment(
        "web",
        "registry.example.test/demo/web:1.0.0",
        2,
        4,
    ));
    ns.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);

    ns.ok(&[
        "set",
        "image",
        "deployment/web",
        &format!("app={FAILING_IMAGE}"),
    ]);
    let deploy = wait_for_progress_deadline(&ns, "web");
    let progressing = condition(&deploy, "Progressing").unwrap();
    assert_eq!(progressing["status"], "False", "{deploy}");
    // The old ReplicaSet keeps serving: maxUnavailable rounds down to 0 of 2.
    assert_eq!(deploy["status"]["availableReplicas"], 2, "{deploy}");
    let status = ns.run(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(!status.status.success());
    assert!(
        stderr(&status).contains("exceeded its progress deadline"),
        "{}",
        stderr(&status)
    );
    // The new Pod is stuck pulling its image.
    let pods = ns.get_json(&["pods", "-l", "app=web"]);
    let stuck: Vec<&Value> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == FAILING_IMAGE)
        .collect();
    assert!(!stuck.is_empty(), "{pods}");
    for pod in stuck {
        assert_eq!(condition(pod, "Ready").unwrap()["status"], "False", "{pod}");
        if is_fake_node(cp, pod["spec"]["nodeName"].as_str().unwrap()) {
            assert_eq!(
                pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
                "ImagePullBackOff",
                "{pod}"
            );
        }
    }

    ns.ok(&["rollout", "undo", "deployment/web"]);
    ns.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let deploy = ns.get_json(&["deployment", "web"]);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.test/demo/web:1.0.0"
    );
    assert_eq!(
        condition(&deploy, "Progressing").unwrap()["reason"],
        "NewReplicaSetAvailable",
        "{deploy}"
    );
    assert_eq!(deploy["status"]["updatedReplicas"], 2, "{deploy}");
    let history = ns.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains('3'), "{history}");
}

#[test]
fn a_service_account_allowed_only_get_gets_the_api_servers_own_403_on_list() {
    let Some(cp) = ControlPlane::shared_or_skip("RBAC holds a ServiceAccount to its Role") else {
        return;
    };
    let ns = cp.namespace("cp-rbac");
    ns.apply(&deployment(
        "web",
        "registry.example.test/demo/web:1.0.0",
        0,
        600,
    ));
    ns.ok(&["create", "serviceaccount", "reader"]);
    ns.ok(&[
        "create",
        "role",
        "deployment-getter",
        "--verb=get",
        "--resource=deployments.apps",
    ]);
    ns.ok(&[
        "create",
        "rolebinding",
        "reader-gets-deployments",
        "--role=deployment-getter",
        &format!("--serviceaccount={}:reader", ns.name()),
    ]);
    let token = ns.ok(&["create", "token", "reader", "--duration=10m"]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cp.kubeconfig_with_token(token.trim(), &dir.path().join("reader.kubeconfig"));
    let reader = |args: &[&str]| {
        ml_operator_testkit::control_plane::kubectl_with(&kubeconfig)
            .args(["--namespace", ns.name()])
            .args(args)
            .output()
            .unwrap()
    };

    let whoami = reader(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        format!("system:serviceaccount:{}:reader", ns.name()),
        "{}",
        stderr(&whoami)
    );
    // The RBAC authorizer sees the new RoleBinding through its informers: allow it a moment.
    eventually(
        Duration::from_secs(30),
        "the reader may get its deployment",
        || {
            reader(&["get", "deployment", "web", "-o", "name"])
                .status
                .success()
                .then_some(())
        },
    );
    let list = reader(&["get", "deployments"]);
    assert!(!list.status.success());
    let err = stderr(&list);
    assert!(err.contains("Error from server (Forbidden)"), "{err}");
    assert!(
        err.contains(&format!(
            "User \"system:serviceaccount:{}:reader\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"{}\"",
            ns.name(),
            ns.name()
        )),
        "{err}"
    );
    let can_i = reader(&["auth", "can-i", "list", "deployments.apps"]);
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");
}

#[test]
fn pod_security_admission_rejects_a_privileged_pod_in_a_restricted_namespace() {
    let Some(cp) = ControlPlane::shared_or_skip("Pod Security admission") else {
        return;
    };
    let ns = cp.namespace_with_labels(
        "cp-psa",
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
        ],
    );
    let privileged = ns.try_apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  containers:
  - name: app
    image: registry.example.test/demo/web:1.0.0
    securityContext: {privileged: true}
"#,
    );
    assert!(!privileged.status.success());
    let err = stderr(&privileged);
    assert!(err.contains("Error from server (Forbidden)"), "{err}");
    assert!(
        err.contains("violates PodSecurity \"restricted:latest\""),
        "{err}"
    );
    assert!(
        err.contains("privileged (container \"app\" must not set securityContext.privileged=true)"),
        "{err}"
    );
    assert!(ns.run(&["get", "pod", "privileged"]).status.code() != Some(0));

    // A Pod that meets the restricted profile is admitted (and runs).
    ns.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: restricted}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: registry.example.test/demo/web:1.0.0
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
"#,
    );
    ns.ok(&[
        "wait",
        "pod/restricted",
        "--for=condition=Ready",
        "--timeout=120s",
    ]);
}
