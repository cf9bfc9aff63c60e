//! The real `kubectl` (v1.37) against kube-sim: get, patch (strategic, merge, json), apply,
//! create, delete, scale, rollout status, and the `kube-sim` binary's contract (`ready` on
//! stdout, kubeconfig, admin endpoint, clean exit on SIGTERM).

mod common;

use kube_sim::{BlockingRunning, KubeSim};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs kubectl with an isolated kubeconfig and discovery cache.
struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

/// One kubectl run.
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(dir: &Path) -> Self {
        Kubectl {
            kubeconfig: dir.join("kubeconfig"),
            cache: dir.join("cache"),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("kubectl must be installed (scripts/install-test-deps)");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.ok, "kubectl {args:?} failed:\n{}\n{}", o.stdout, o.stderr);
        o.stdout
    }
}

fn sim_with_fixtures(dir: &Path) -> (BlockingRunning, Kubectl) {
    let sim = KubeSim::builder()
        .load(common::fixtures())
        .unwrap()
        .start_blocking()
        .unwrap();
    let k = Kubectl::new(dir);
    sim.write_kubeconfig(&k.kubeconfig).unwrap();
    (sim, k)
}

fn wait_rolled_out(sim: &BlockingRunning) {
    sim.wait_for(
        "apps/v1",
        "Deployment",
        Some("hub"),
        "central-ledger",
        common::WAIT,
        |d| d["status"]["availableReplicas"] == 2,
    )
    .expect("rolled out");
}

#[test]
fn get_prints_real_looking_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = sim_with_fixtures(dir.path());
    wait_rolled_out(&sim);
    sim.wait_for(
        "apps/v1",
        "StatefulSet",
        Some("hub"),
        "mysql",
        common::WAIT,
        |d| d["status"]["readyReplicas"] == 2,
    )
    .unwrap();

    let out = k.ok(&["get", "deploy", "-n", "hub"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["central-ledger", "2/2", "2", "2"]);

    let pods = k.ok(&["get", "pods", "-n", "hub"]);
    assert!(pods.lines().next().unwrap().starts_with("NAME"));
    assert!(
        pods.contains("mysql-0") && pods.contains("Running"),
        "{pods}"
    );

    let all = k.ok(&["get", "all", "-n", "hub"]);
    for want in [
        "deployment.apps/central-ledger",
        "statefulset.apps/mysql",
        "daemonset.apps/fluent-bit",
        "service/central-ledger",
        "replicaset.apps/central-ledger-",
    ] {
        assert!(all.contains(want), "{want} missing in:\n{all}");
    }

    // Custom resources by short name, with additionalPrinterColumns.
    let up = k.ok(&["get", "up", "-n", "hub"]);
    assert!(up.lines().next().unwrap().contains("IMAGE"), "{up}");
    assert!(up.contains("mojaloop/central-ledger:v17.0.0"), "{up}");

    let json: serde_json::Value = serde_json::from_str(&k.ok(&[
        "get",
        "deploy",
        "central-ledger",
        "-n",
        "hub",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["kind"], "Deployment");
    assert_eq!(json["status"]["observedGeneration"], 1);

    let missing = k.run(&["get", "cm", "nope", "-n", "hub"]);
    assert!(!missing.ok);
    assert!(
        missing
            .stderr
            .contains("Error from server (NotFound): configmaps \"nope\" not found"),
        "{}",
        missing.stderr
    );
}

#[test]
fn patch_strategic_merge_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = sim_with_fixtures(dir.path());
    let images = || {
        k.ok(&[
            "get",
            "deploy",
            "central-ledger",
            "-n",
            "hub",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
    };

    let out = k.ok(&["patch", "deploy", "central-ledger", "-n", "hub", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}"#]);
    assert_eq!(out.trim(), "deployment.apps/central-ledger patched");
    assert_eq!(
        images(),
        "mojaloop/central-ledger:v17.0.0 busybox:1.37",
        "strategic merge keeps the other container"
    );

    k.ok(&[
        "patch",
        "deploy",
        "central-ledger",
        "-n",
        "hub",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
    ]);
    assert_eq!(
        sim.get("apps/v1", "Deployment", Some("hub"), "central-ledger")
            .unwrap()["metadata"]["labels"]["patched"],
        "yes"
    );

    k.ok(&["patch", "deploy", "central-ledger", "-n", "hub", "--type", "json", "-p", r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"mojaloop/central-ledger:v17.1.0"}]"#]);
    assert_eq!(images(), "mojaloop/central-ledger:v17.1.0 busybox:1.37");

    let failed = k.run(&[
        "patch",
        "deploy",
        "central-ledger",
        "-n",
        "hub",
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":42}]"#,
    ]);
    assert!(!failed.ok);
    assert!(
        failed.stderr.contains("The request is invalid"),
        "{}",
        failed.stderr
    );

    let unchanged = k.ok(&[
        "patch",
        "deploy",
        "central-ledger",
        "-n",
        "hub",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
    ]);
    assert!(unchanged.contains("(no change)"), "{unchanged}");

    // Custom resources: merge patch works, strategic merge is refused like the real server.
    k.ok(&[
        "patch",
        "up",
        "central-ledger",
        "-n",
        "hub",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"image":"mojaloop/central-ledger:v17.1.0"}}"#,
    ]);
    let smp = k.run(&[
        "patch",
        "up",
        "central-ledger",
        "-n",
        "hub",
        "-p",
        r#"{"spec":{"image":"x"}}"#,
    ]);
    assert!(!smp.ok);
    assert!(
        smp.stderr
            .contains("strategic merge patch is not supported"),
        "{}",
        smp.stderr
    );
}

#[test]
fn apply_create_delete_scale() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = sim_with_fixtures(dir.path());
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: hub\ndata:\n  k: v1\n";
    assert_eq!(
        k.run_stdin(&["apply", "-f", "-"], Some(cm)).stdout.trim(),
        "configmap/applied created"
    );
    assert_eq!(
        k.run_stdin(&["apply", "-f", "-"], Some(cm)).stdout.trim(),
        "configmap/applied unchanged"
    );
    assert_eq!(
        k.run_stdin(&["apply", "-f", "-"], Some(&cm.replace("k: v1", "k: v2")))
            .stdout
            .trim(),
        "configmap/applied configured"
    );
    let stored = sim.get("v1", "ConfigMap", Some("hub"), "applied").unwrap();
    assert_eq!(stored["data"]["k"], "v2");
    assert!(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    // Client-side apply on a Deployment computes a strategic merge patch (containers by name).
    let mut deploy: serde_json::Value = sim
        .get("apps/v1", "Deployment", Some("hub"), "central-ledger")
        .unwrap();
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] =
        "mojaloop/central-ledger:v17.3.0".into();
    for k2 in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        deploy["metadata"].as_object_mut().unwrap().remove(k2);
    }
    deploy.as_object_mut().unwrap().remove("status");
    let out = k.run_stdin(&["apply", "-f", "-"], Some(&deploy.to_string()));
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "deployment.apps/central-ledger configured"
    );
    let d = sim
        .get("apps/v1", "Deployment", Some("hub"), "central-ledger")
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "mojaloop/central-ledger:v17.3.0"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["name"],
        "sidecar"
    );

    let ss = k.run_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "tester",
            "-f",
            "-",
        ],
        Some(&cm.replace("k: v1", "k: v3")),
    );
    assert!(ss.ok, "{}", ss.stderr);
    assert_eq!(ss.stdout.trim(), "configmap/applied serverside-applied");

    let dup = k.run_stdin(&["create", "-f", "-"], Some(cm));
    assert!(!dup.ok);
    assert!(
        dup.stderr.contains("Error from server (AlreadyExists)")
            && dup.stderr.contains("configmaps \"applied\" already exists"),
        "{}",
        dup.stderr
    );
    let created = k.run_stdin(
        &["create", "-f", "-"],
        Some(&cm.replace("name: applied", "name: created")),
    );
    assert_eq!(created.stdout.trim(), "configmap/created created");
    // Generators send protobuf bodies.
    assert_eq!(
        k.ok(&["create", "namespace", "extra"]).trim(),
        "namespace/extra created"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "configmap",
            "gen",
            "-n",
            "extra",
            "--from-literal",
            "a=1"
        ])
        .trim(),
        "configmap/gen created"
    );
    assert_eq!(
        sim.get("v1", "ConfigMap", Some("extra"), "gen").unwrap()["data"]["a"],
        "1"
    );
    let out = k.ok(&[
        "create",
        "secret",
        "docker-registry",
        "pull",
        "-n",
        "extra",
        "--docker-server",
        "registry.example",
        "--docker-username",
        "u",
        "--docker-password",
        "p",
    ]);
    assert_eq!(out.trim(), "secret/pull created");
    let secret = sim.get("v1", "Secret", Some("extra"), "pull").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert!(secret["data"][".dockerconfigjson"].is_string());
    assert_eq!(
        k.ok(&["create", "serviceaccount", "bot", "-n", "extra"])
            .trim(),
        "serviceaccount/bot created"
    );

    assert_eq!(
        k.ok(&["delete", "cm", "applied", "-n", "hub"]).trim(),
        "configmap \"applied\" deleted from hub namespace"
    );
    assert!(sim.get("v1", "ConfigMap", Some("hub"), "applied").is_none());

    assert_eq!(
        k.ok(&[
            "scale",
            "deploy",
            "central-ledger",
            "-n",
            "hub",
            "--replicas",
            "3"
        ])
        .trim(),
        "deployment.apps/central-ledger scaled"
    );
    let out = k.ok(&[
        "rollout",
        "status",
        "deploy/central-ledger",
        "-n",
        "hub",
        "--timeout",
        "20s",
    ]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(
        sim.list("v1", "Pod", Some("hub"))
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "central-ledger")
            .count(),
        3
    );

    k.ok(&["delete", "deploy", "central-ledger", "-n", "hub"]);
    assert!(
        sim.list("apps/v1", "ReplicaSet", Some("hub")).is_empty(),
        "owned ReplicaSets are garbage collected"
    );
}

#[test]
fn rollout_status_reports_a_failed_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = sim_with_fixtures(dir.path());
    wait_rolled_out(&sim);
    sim.fail_rollout("Deployment", "hub", "central-ledger");
    k.ok(&[
        "set",
        "image",
        "deploy/central-ledger",
        "-n",
        "hub",
        "app=mojaloop/central-ledger:v99.0.0",
    ]);
    let out = k.run(&[
        "rollout",
        "status",
        "deploy/central-ledger",
        "-n",
        "hub",
        "--timeout",
        "20s",
    ]);
    assert!(!out.ok);
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// POSTs JSON to the admin API with a plain TCP client (the binary has no library handle).
fn admin_post(url: &str, path: &str, body: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn binary_contract_ready_kubeconfig_admin_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .arg("--load")
        .arg(common::fixtures().join("00-namespace.yaml"))
        .arg(common::fixtures().join("20-workloads.yaml"))
        .arg("--write-kubeconfig")
        .arg(&k.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    assert_eq!(
        rx.recv_timeout(common::WAIT).expect("prints ready"),
        "ready"
    );

    let kc = std::fs::read_to_string(&k.kubeconfig).unwrap();
    assert!(kc.contains("current-context: kube-sim"));
    let url = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"));

    let out = k.ok(&[
        "rollout",
        "status",
        "deploy/central-ledger",
        "-n",
        "hub",
        "--timeout",
        "20s",
    ]);
    assert!(out.contains("successfully rolled out"), "{out}");

    let resp = admin_post(
        &url,
        "/kube-sim/hooks/fail-rollout",
        r#"{"kind":"Deployment","namespace":"hub","name":"central-ledger"}"#,
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    k.ok(&[
        "set",
        "image",
        "deploy/central-ledger",
        "-n",
        "hub",
        "app=broken:1",
    ]);
    let failed = k.run(&[
        "rollout",
        "status",
        "deploy/central-ledger",
        "-n",
        "hub",
        "--timeout",
        "20s",
    ]);
    assert!(
        failed.stderr.contains("exceeded its progress deadline"),
        "{}",
        failed.stderr
    );

    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(common::WAIT)
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}
