//! Where kube-sim used to differ from a real kube-apiserver (v1.37, `scripts/control-plane`),
//! found by running the same clients against both: each test here is what the real server did,
//! now asserted against kube-sim. The real server's answers are quoted in the comments.

use kube_sim::{BlockingRunning, KubeSim};
use ml_operator_testkit::tools;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Cluster {
    sim: BlockingRunning,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let sim = KubeSim::builder().start_blocking().unwrap();
        let dir = tempfile::tempdir().unwrap();
        sim.write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        Cluster { sim, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(tools::kubectl());
        cmd.env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("kubectl (scripts/install-test-deps installs it)");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// helm v4 stores its release in a Secret it sends as protobuf, whose `metadata.namespace` is
/// present and empty. The real server takes the request's namespace; kube-sim used to answer
/// `the namespace of the provided object does not match the namespace sent on the request`.
#[test]
fn helm_v4_installs_and_uninstalls_a_two_file_chart() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "demo"], None);
    let chart = cluster.dir.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  a: b\n",
    )
    .unwrap();
    let helm = |args: &[&str]| -> Output {
        Command::new(tools::helm())
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("HELM_CACHE_HOME", cluster.dir.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", cluster.dir.path().join("helm-config"))
            .env("HELM_DATA_HOME", cluster.dir.path().join("helm-data"))
            .args(args)
            .output()
            .expect("helm (scripts/install-test-deps installs it)")
    };
    let out = helm(&[
        "install",
        "first",
        chart.to_str().unwrap(),
        "-n",
        "demo",
        "--wait",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("STATUS: deployed"));
    let cm = cluster
        .sim
        .get("v1", "ConfigMap", Some("demo"), "first-config");
    assert_eq!(cm.unwrap()["data"]["a"], "b");
    let release = cluster
        .sim
        .get("v1", "Secret", Some("demo"), "sh.helm.release.v1.first.v1")
        .expect("helm's release Secret");
    assert_eq!(release["metadata"]["namespace"], "demo");
    assert_eq!(release["type"], "helm.sh/release.v1");
    let out = helm(&["list", "-n", "demo", "-o", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["status"], "deployed", "{list}");
    let out = helm(&["uninstall", "first", "-n", "demo", "--wait"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        cluster
            .sim
            .get("v1", "ConfigMap", Some("demo"), "first-config")
            .is_none()
    );
}

/// A PUT whose body names another namespace than the URL: real server `400 the namespace of
/// the provided object does not match the namespace sent on the request` (kube-sim used to
/// store it under the URL's namespace).
#[test]
fn an_update_naming_another_namespace_is_refused() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "a"], None);
    cluster.ok(&["create", "configmap", "cm", "-n", "a"], None);
    let mut cm: Value = serde_json::from_str(
        &cluster.ok(&["get", "configmap", "cm", "-n", "a", "-o", "json"], None),
    )
    .unwrap();
    cm["metadata"]["namespace"] = json!("b");
    let out = cluster.kubectl(
        &[
            "replace",
            "--raw",
            "/api/v1/namespaces/a/configmaps/cm",
            "-f",
            "-",
        ],
        Some(&cm.to_string()),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(
            "the namespace of the provided object does not match the namespace sent on the request"
        ),
        "{}",
        text(&out)
    );
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "upgrades.example.test"},
        "spec": {
            "group": "example.test", "scope": "Namespaced",
            "names": {"plural": "upgrades", "singular": "upgrade", "kind": "Upgrade", "listKind": "UpgradeList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object", "required": ["spec"],
                    "properties": {
                        "spec": {"type": "object", "required": ["image", "target"], "properties": {
                            "image": {"type": "string"},
                            "approved": {"type": "boolean", "default": false},
                            "level": {"type": "string", "nullable": true},
                            "target": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"},
                                "init": {"type": "boolean", "default": false}
                            }}
                        }},
                        "status": {"type": "object", "properties": {
                            "phase": {"type": "string", "enum": ["Available", "Succeeded"]},
                            "history": {"type": "array", "default": [], "items": {
                                "type": "object", "required": ["at"],
                                "properties": {"at": {"type": "string"}}
                            }},
                            "generation": {"type": "integer", "format": "int64"}
                        }}
                    }
                }}
            }]
        }
    })
}

fn upgrade(name: &str, spec: Value) -> String {
    json!({"apiVersion": "example.test/v1", "kind": "Upgrade", "metadata": {"name": name}, "spec": spec})
        .to_string()
}

/// Custom resources against their CRD's structural schema, as the real server takes them.
#[test]
fn custom_resources_are_pruned_defaulted_and_validated() {
    let cluster = Cluster::start();
    cluster.ok(&["apply", "-f", "-"], Some(&crd().to_string()));
    cluster.ok(&["create", "namespace", "hub"], None);

    // Real: `The Upgrade "bad" is invalid: * spec.approved: Invalid value: "string":
    // spec.approved in body must be of type boolean: "string" * spec.target.name: Required value`
    let out = cluster.kubectl(
        &["apply", "-n", "hub", "-f", "-"],
        Some(&upgrade(
            "bad",
            json!({"image": 1, "approved": "yes", "target": {}}),
        )),
    );
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains("The Upgrade \"bad\" is invalid"), "{err}");
    for cause in [
        "spec.approved: Invalid value: \"string\": spec.approved in body must be of type boolean: \"string\"",
        "spec.image: Invalid value: \"integer\": spec.image in body must be of type string: \"integer\"",
        "spec.target.name: Required value",
    ] {
        assert!(err.contains(cause), "{cause}\n{err}");
    }
    let out = cluster.kubectl(
        &["create", "-n", "hub", "-f", "-"],
        Some(&json!({"apiVersion": "example.test/v1", "kind": "Upgrade", "metadata": {"name": "nospec"}}).to_string()),
    );
    assert!(
        text(&out).contains("spec: Required value"),
        "{}",
        text(&out)
    );

    // kubectl validates strictly: unknown fields are refused. Real: `Upgrade in version "v1"
    // cannot be handled as a Upgrade: strict decoding error: unknown field "spec.zzz"`.
    let out = cluster.kubectl(
        &["create", "-n", "hub", "-f", "-"],
        Some(&upgrade(
            "strict",
            json!({"image": "a:1", "target": {"name": "x"}, "zzz": 1}),
        )),
    );
    assert!(
        text(&out).contains(
            "cannot be handled as a Upgrade: strict decoding error: unknown field \"spec.zzz\""
        ),
        "{}",
        text(&out)
    );
    // Without strict validation they are pruned; defaults are filled in, a null for a
    // non-nullable field with a default is defaulted, a nullable null kept.
    cluster.ok(
        &["create", "--validate=false", "-n", "hub", "-f", "-"],
        Some(&upgrade(
            "good",
            json!({"image": "a:1", "target": {"name": "x", "extra": 1}, "approved": null, "level": null, "zzz": 1}),
        )),
    );
    let stored = cluster
        .sim
        .get("example.test/v1", "Upgrade", Some("hub"), "good")
        .unwrap();
    assert_eq!(
        stored["spec"],
        json!({"image": "a:1", "target": {"name": "x", "init": false}, "approved": false, "level": null})
    );

    // The status subresource: validated with the status schema's own paths in the message
    // (real: `status.generation: Invalid value: "string": generation in body must be of type
    // integer: "string"`), enums checked, defaults applied.
    let out = cluster.kubectl(
        &[
            "patch",
            "upgrade",
            "good",
            "-n",
            "hub",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Finished","generation":"3","history":[{}]}}"#,
        ],
        None,
    );
    let err = text(&out);
    assert!(!out.status.success(), "{err}");
    for cause in [
        "status.phase: Unsupported value: \"Finished\": supported values: \"Available\", \"Succeeded\"",
        "status.generation: Invalid value: \"string\": generation in body must be of type integer: \"string\"",
        "status.history[0].at: Required value",
    ] {
        assert!(err.contains(cause), "{cause}\n{err}");
    }
    cluster.ok(
        &[
            "patch",
            "upgrade",
            "good",
            "-n",
            "hub",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Available"}}"#,
        ],
        None,
    );
    let stored = cluster
        .sim
        .get("example.test/v1", "Upgrade", Some("hub"), "good")
        .unwrap();
    assert_eq!(
        stored["status"],
        json!({"phase": "Available", "history": []})
    );
}

fn statefulset(image: &str) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "hub"},
        "spec": {
            "replicas": 2, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "db", "image": image}]}}
        }
    })
    .to_string()
}

fn pod_image(sim: &BlockingRunning, name: &str) -> (String, String) {
    let pod = sim.get("v1", "Pod", Some("hub"), name).unwrap();
    (
        pod["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string(),
        pod["status"]["phase"].as_str().unwrap().to_string(),
    )
}

/// A StatefulSet whose rollout failed keeps the stuck Pod when its template goes back: the real
/// controller (OrderedReady) waits for that Pod to become Ready before it replaces it, which it
/// never does ("forced rollback": a person deletes it). kube-sim used to replace it.
#[test]
fn a_statefulset_rolled_back_after_a_failed_rollout_keeps_its_stuck_pod_until_deleted() {
    let cluster = Cluster::start();
    let sim = &cluster.sim;
    cluster.ok(&["create", "namespace", "hub"], None);
    cluster.ok(&["apply", "-f", "-"], Some(&statefulset("db:1")));
    let ready = |n: i64| {
        move |s: &Value| {
            s["status"]["observedGeneration"] == s["metadata"]["generation"]
                && s["status"]["readyReplicas"] == n
        }
    };
    let limit = Duration::from_secs(10);
    sim.wait_for("apps/v1", "StatefulSet", Some("hub"), "db", limit, ready(2))
        .expect("rolled out");

    sim.fail_rollout("StatefulSet", "hub", "db");
    cluster.ok(&["apply", "-f", "-"], Some(&statefulset("db:2")));
    sim.wait_for("apps/v1", "StatefulSet", Some("hub"), "db", limit, ready(1))
        .expect("the highest ordinal is replaced and stuck");
    assert_eq!(pod_image(sim, "db-1"), ("db:2".into(), "Pending".into()));
    assert_eq!(pod_image(sim, "db-0"), ("db:1".into(), "Running".into()));

    // The template goes back. Real status: readyReplicas 1, updatedReplicas 1, currentRevision
    // == updateRevision, and db-1 still on db:2.
    cluster.ok(&["apply", "-f", "-"], Some(&statefulset("db:1")));
    let sts = sim
        .wait_for("apps/v1", "StatefulSet", Some("hub"), "db", limit, ready(1))
        .unwrap();
    assert_eq!(sts["status"]["updatedReplicas"], 1, "{:#}", sts["status"]);
    assert_eq!(pod_image(sim, "db-1"), ("db:2".into(), "Pending".into()));
    assert!(
        sim.wait_for(
            "apps/v1",
            "StatefulSet",
            Some("hub"),
            "db",
            Duration::from_millis(300),
            ready(2)
        )
        .is_none(),
        "the stuck Pod is not replaced"
    );

    // Deleting it lets the controller recreate it on the current revision.
    cluster.ok(&["delete", "pod", "db-1", "-n", "hub"], None);
    let sts = sim
        .wait_for("apps/v1", "StatefulSet", Some("hub"), "db", limit, ready(2))
        .expect("recovered once the stuck Pod is deleted");
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    assert_eq!(pod_image(sim, "db-1"), ("db:1".into(), "Running".into()));
}
