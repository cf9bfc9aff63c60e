//! The supply-chain signals end to end, against the real docker-registry (behind the testkit
//! proxy, which counts every request by method): a tag re-pushed with other content
//! (`tag-overwritten`), a tag deleted from the registry (`tag-missing`), a signed and an
//! unsigned target on a registry that verifies, and a tag pushed "now" (the cool-down).
//!
//! The cluster is kube-sim holding Deployments, their ReplicaSets and Pods with the digests
//! their nodes pulled; with `ML_OPERATOR_E2E_KUBECONFIG` the `check` loop also runs on that
//! real control plane, whose fake nodes report the digest each Pod's annotation
//! `fake-node.ml-operator.test/digest.<container>` names. Signatures are made by the real
//! `cosign` when it is installed, else laid out exactly as cosign documents them.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kube_sim::KubeSim;
use ml_operator::inventory::{RunningDigests, Workload};
use ml_operator::scan::ScanOptions;
use ml_operator::scan::pipeline::{self, Inputs};
use ml_operator::tags::TagSource;
use ml_operator::tags::supply::SupplyPolicy;
use ml_operator_registry::{ClientOptions, Registry, RegistryConfig, RequestKind};
use ml_operator_testkit::control_plane::ControlPlane;
use ml_operator_testkit::cosign::{FormatSigner, RealCosign, cosign_binary};
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};
use support::{Operator, Receiver, eventually_or};

const OLD: &str = "2020-01-01T00:00:00Z";
const NAMESPACE: &str = "supply";

/// Two real registries (kept running while the test lasts): `plain` (cool-down 24h) holds the overwritten, missing and fresh
/// images; `verified` (a cosign key) the signed and unsigned ones.
struct Registries {
    _plain: RegistryProc,
    _verified: RegistryProc,
    plain_proxy: FaultProxy,
    verified_proxy: FaultProxy,
    /// The digest the overwritten tag had when the nodes pulled it, and has now.
    pulled: String,
    repushed: String,
    /// The digest of each running image, by workload name (what its Pods pulled).
    running: BTreeMap<&'static str, String>,
    /// The signed target's digest.
    signed_target: String,
    /// `cosign.pub`.
    key: PathBuf,
    /// Whether the real cosign signed.
    real_cosign: bool,
}

impl Registries {
    async fn start(dir: &Path) -> Registries {
        let plain = RegistryProc::start(AuthMode::Anonymous, false).await;
        let verified = RegistryProc::start(AuthMode::Anonymous, false).await;
        let plain_proxy = FaultProxy::start(&plain.base()).await;
        let verified_proxy = FaultProxy::start(&verified.base()).await;
        let mut running = BTreeMap::new();

        // Re-pushed: the nodes pulled the first build; the tag now serves the second.
        let pulled = plain
            .push_image("hub/overwritten", &["v1.0.0"], "first build", Some(OLD))
            .await;
        let repushed = plain
            .push_image("hub/overwritten", &["v1.0.0"], "second build", Some(OLD))
            .await;
        plain
            .push_image("hub/overwritten", &["v1.0.1"], "the fix", Some(OLD))
            .await;
        running.insert("overwritten", pulled.clone());

        // Deleted: v2.0.0 runs, the registry no longer has it.
        let gone = plain
            .push_image("hub/missing", &["v2.0.0"], "old", Some(OLD))
            .await;
        plain
            .push_image("hub/missing", &["v2.0.1"], "new", Some(OLD))
            .await;
        plain.delete_manifest("hub/missing", &gone).await;
        running.insert("missing", gone);

        // Pushed now: held back by the 24h cool-down.
        let fresh = plain
            .push_image("hub/fresh", &["v5.0.0"], "old", Some(OLD))
            .await;
        let now = chrono::Utc::now().to_rfc3339();
        plain
            .push_image("hub/fresh", &["v5.0.1"], "just now", Some(&now))
            .await;
        running.insert("fresh", fresh);

        // A registry that verifies: one target signed, one not.
        let signed = verified
            .push_image("hub/signed", &["v3.0.0"], "old", Some(OLD))
            .await;
        let signed_target = verified
            .push_image("hub/signed", &["v3.0.1"], "signed", Some(OLD))
            .await;
        let unsigned = verified
            .push_image("hub/unsigned", &["v4.0.0"], "old", Some(OLD))
            .await;
        verified
            .push_image("hub/unsigned", &["v4.0.1"], "unsigned", Some(OLD))
            .await;
        running.insert("signed", signed);
        running.insert("unsigned", unsigned);
        let (key, real_cosign) = match cosign_binary() {
            Some(binary) => {
                let cosign = RealCosign::generate(&binary, dir);
                cosign.sign(&format!("{}/hub/signed@{signed_target}", verified.host()));
                (cosign.public_key, true)
            }
            None => {
                let signer = FormatSigner::generate();
                let payload = FormatSigner::payload(
                    &format!("{}/hub/signed", verified.host()),
                    &signed_target,
                );
                verified
                    .push_cosign_signature(
                        "hub/signed",
                        &signed_target,
                        &payload,
                        &signer.sign(&payload),
                    )
                    .await;
                let key = dir.join("cosign.pub");
                std::fs::write(&key, &signer.public_pem).unwrap();
                (key, false)
            }
        };
        plain_proxy.clear_log();
        verified_proxy.clear_log();
        Registries {
            _plain: plain,
            _verified: verified,
            plain_proxy,
            verified_proxy,
            pulled,
            repushed,
            running,
            signed_target,
            key,
            real_cosign,
        }
    }

    /// The image a workload runs, through the proxies.
    fn image(&self, name: &str) -> String {
        let (host, tag) = match name {
            "overwritten" => (self.plain_proxy.host(), "v1.0.0"),
            "missing" => (self.plain_proxy.host(), "v2.0.0"),
            "fresh" => (self.plain_proxy.host(), "v5.0.0"),
            "signed" => (self.verified_proxy.host(), "v3.0.0"),
            "unsigned" => (self.verified_proxy.host(), "v4.0.0"),
            other => panic!("no workload {other}"),
        };
        format!("{host}/hub/{name}:{tag}")
    }

    /// The configuration: every signal on.
    fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("config.yaml");
        std::fs::write(
            &path,
            format!(
                "registries:\n  - {{host: '{}', minimumReleaseAge: 24h}}\n  - {{host: '{}', verify: {{cosignPublicKeyFile: '{}'}}}}\ndigestCheckInterval: 6h\nupgrades: {{pinDigests: true}}\n{extra}",
                self.plain_proxy.host(),
                self.verified_proxy.host(),
                self.key.display()
            ),
        )
        .unwrap();
        path
    }
}

const WORKLOADS: [&str; 5] = ["overwritten", "missing", "fresh", "signed", "unsigned"];

fn deployment(name: &str, image: &str, digest: Option<&str>) -> Value {
    let mut template = json!({"metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]}});
    if let Some(digest) = digest {
        template["metadata"]["annotations"] =
            json!({"fake-node.ml-operator.test/digest.app": digest});
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template}})
}

/// A Deployment with its ReplicaSet and one Pod whose node pulled `digest`, as kube-sim holds
/// them (no simulated controllers: the Pod's status is what a node reported).
fn workload_objects(name: &str, image: &str, digest: &str) -> Vec<Value> {
    let repository = image.rsplit_once(':').unwrap().0;
    vec![
        deployment(name, image, None),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{name}-5d8f"), "namespace": NAMESPACE,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": "u", "controller": true}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{name}-5d8f-x2"), "namespace": NAMESPACE, "labels": {"app": name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-5d8f"), "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "image": image,
                "imageID": format!("docker-pullable://{repository}@{digest}"), "ready": true}]}}),
    ]
}

async fn start_sim(registries: &Registries) -> (kube_sim::Running, tempfile::TempDir, PathBuf) {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}),
    ];
    for name in WORKLOADS {
        objects.extend(workload_objects(
            name,
            &registries.image(name),
            &registries.running[name],
        ));
    }
    let sim = KubeSim::builder()
        .simulate_pods(false)
        .objects(objects)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    (sim, dir, kubeconfig)
}

fn check(kubeconfig: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .env_remove("KUBECONFIG")
        .env("DOCKER_CONFIG", config.parent().unwrap())
        .args(["check", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--config")
        .arg(config)
        .args(["-n", NAMESPACE])
        .args(args)
        .output()
        .unwrap()
}

fn finding<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no finding for {name}: {report:#}"))
}

/// Requests a proxy saw with `method` whose target contains `pattern`.
fn seen(proxy: &FaultProxy, method: &str, pattern: &str) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.method == method && s.target.contains(pattern))
        .count()
}

/// `check -o json` on a cluster holding the five workloads: every status once, both digests,
/// the request budget, and the exit code.
fn assert_check_report(registries: &Registries, kubeconfig: &Path, config: &Path) -> Value {
    let output = check(kubeconfig, config, &["-o", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "tag-overwritten exits 1: {stderr}"
    );
    assert!(stderr.contains("tag-overwritten"), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    for status in ["tag-overwritten", "tag-missing"] {
        assert_eq!(
            statuses.iter().filter(|s| **s == status).count(),
            1,
            "{status} once: {report:#}"
        );
    }

    let overwritten = finding(&report, "overwritten");
    assert_eq!(overwritten["status"], "tag-overwritten");
    assert_eq!(overwritten["runningDigest"], registries.pulled.as_str());
    assert_eq!(overwritten["registryDigest"], registries.repushed.as_str());
    assert_eq!(
        overwritten["latestTag"], "v1.0.1",
        "the update is still there"
    );
    let latest = overwritten["latestImage"].as_str().unwrap();
    assert!(
        latest.starts_with(&format!(
            "{}/hub/overwritten:v1.0.1@sha256:",
            registries.plain_proxy.host()
        )),
        "pinned: {latest}"
    );
    assert!(overwritten["command"].as_str().unwrap().contains(latest));
    let reason = overwritten["reason"].as_str().unwrap();
    assert!(
        reason.contains("was overwritten") && reason.contains("v1.0.1"),
        "the reason says both: {reason}"
    );

    let missing = finding(&report, "missing");
    assert_eq!(missing["status"], "tag-missing");
    assert_eq!(missing["latestTag"], "v2.0.1");
    assert!(missing["command"].is_string());
    let reason = missing["reason"].as_str().unwrap();
    assert!(
        reason.contains("rescheduling a Pod and rolling back to it will fail"),
        "{reason}"
    );

    let signed = finding(&report, "signed");
    assert_eq!(signed["status"], "update-available");
    assert_eq!(signed["signature"], "verified");
    assert_eq!(
        signed["latestImage"],
        format!(
            "{}/hub/signed:v3.0.1@{}",
            registries.verified_proxy.host(),
            registries.signed_target
        )
    );
    assert!(signed["command"].is_string());

    let unsigned = finding(&report, "unsigned");
    assert_eq!(unsigned["status"], "update-available");
    assert_eq!(unsigned["signature"], "unsigned");
    assert!(unsigned["command"].is_null(), "never applied: {unsigned:#}");
    let reason = unsigned["reason"].as_str().unwrap();
    assert!(
        reason.contains("not proposed") && reason.contains("no cosign signature"),
        "{reason}"
    );

    let fresh = finding(&report, "fresh");
    assert_eq!(fresh["status"], "up-to-date", "{fresh:#}");
    assert_eq!(fresh["heldBack"]["tag"], "v5.0.1");
    assert!(
        fresh["reason"]
            .as_str()
            .unwrap()
            .contains("held back until")
    );
    assert_eq!(report["summary"]["tagOverwritten"], 1);
    assert_eq!(report["summary"]["tagMissing"], 1);

    // The request budget: one HEAD per distinct tag asked about, never a GET of a running
    // tag's manifest; manifest and config GETs only for the cool-down's candidates.
    let plain = &registries.plain_proxy;
    assert_eq!(seen(plain, "HEAD", "/manifests/v1.0.0"), 1);
    assert_eq!(seen(plain, "HEAD", "/manifests/v5.0.0"), 1);
    assert_eq!(
        seen(plain, "HEAD", "/manifests/v2.0.0"),
        0,
        "a missing tag costs nothing"
    );
    assert_eq!(seen(plain, "HEAD", "/manifests/"), 5, "{:#?}", plain.seen());
    for running in [
        "/manifests/v1.0.0",
        "/manifests/v5.0.0",
        &registries.pulled,
        &registries.repushed,
    ] {
        assert_eq!(
            seen(plain, "GET", running),
            0,
            "no GET for the overwrite check: {running}"
        );
    }
    assert_eq!(
        seen(plain, "GET", "/manifests/"),
        3,
        "one per cool-down candidate"
    );
    assert_eq!(
        seen(plain, "GET", "/blobs/"),
        3,
        "one config per cool-down candidate"
    );
    assert_eq!(seen(plain, "GET", "/tags/list"), 3);
    let verified = &registries.verified_proxy;
    assert_eq!(seen(verified, "HEAD", "/manifests/"), 4);
    assert_eq!(
        seen(verified, "GET", ".sig"),
        2,
        "one signature manifest per target"
    );
    assert_eq!(seen(verified, "GET", "/manifests/v3.0.0"), 0);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_reports_each_signal_once_and_the_pinned_command_applies() {
    let dir = tempfile::tempdir().unwrap();
    let registries = Registries::start(dir.path()).await;
    println!(
        "signatures made by the real cosign: {}",
        registries.real_cosign
    );
    let (_sim, sim_dir, kubeconfig) = start_sim(&registries).await;
    let config = registries.config(sim_dir.path(), "");
    let report =
        tokio::task::block_in_place(|| assert_check_report(&registries, &kubeconfig, &config));

    // --allow-overwritten: the same report, exit 0.
    let output = tokio::task::block_in_place(|| {
        check(&kubeconfig, &config, &["-o", "json", "--allow-overwritten"])
    });
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The pinned command applies with the real kubectl.
    let command = finding(&report, "signed")["command"]
        .as_str()
        .unwrap()
        .to_string();
    let applied = tokio::task::block_in_place(|| {
        Command::new("sh")
            .args(["-c", &command])
            .env("KUBECONFIG", &kubeconfig)
            .env("PATH", path_with_kubectl())
            .output()
            .unwrap()
    });
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let image = tokio::task::block_in_place(|| deployment_image(&kubeconfig, "signed"));
    assert_eq!(
        image,
        finding(&report, "signed")["latestImage"].as_str().unwrap()
    );
}

/// `PATH` with the tools directory (kubectl v1.37) first.
fn path_with_kubectl() -> std::ffi::OsString {
    let tools = ml_operator_testkit::tools::kubectl();
    let mut paths = vec![tools.parent().unwrap().to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn deployment_image(kubeconfig: &Path, name: &str) -> String {
    let output = Command::new(ml_operator_testkit::tools::kubectl())
        .env("KUBECONFIG", kubeconfig)
        .args([
            "get",
            "deployment",
            name,
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_real_control_plane_the_nodes_digests_are_compared() {
    let Some(cp) = ControlPlane::shared_or_skip("the supply-chain check on the control plane")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let registries = Registries::start(dir.path()).await;
    let namespace = cp.namespace("supply");
    let mut manifests = String::new();
    for name in WORKLOADS {
        let mut object = deployment(
            name,
            &registries.image(name),
            Some(&registries.running[name]),
        );
        object["metadata"]["namespace"] = namespace.name().into();
        manifests.push_str(&format!(
            "---\n{}\n",
            serde_json::to_string(&object).unwrap()
        ));
    }
    tokio::task::block_in_place(|| namespace.apply(&manifests));
    // The fake nodes run the Pods and report the digests the annotations name.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let pods = tokio::task::block_in_place(|| namespace.get_json(&["pods"]));
        let reported = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["status"]["containerStatuses"][0]["imageID"]
                    .as_str()
                    .is_some_and(|id| id.contains("@sha256:"))
            })
            .count();
        if reported >= WORKLOADS.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Pods did not report digests: {pods:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let config = registries.config(dir.path(), "");
    let output = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .env_remove("KUBECONFIG")
            .env("DOCKER_CONFIG", dir.path())
            .args(["check", "--kubeconfig"])
            .arg(cp.kubeconfig())
            .arg("--config")
            .arg(&config)
            .args(["-n", namespace.name(), "-o", "json"])
            .output()
            .unwrap()
    });
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let overwritten = finding(&report, "overwritten");
    assert_eq!(overwritten["status"], "tag-overwritten", "{report:#}");
    assert_eq!(overwritten["runningDigest"], registries.pulled.as_str());
    assert_eq!(finding(&report, "missing")["status"], "tag-missing");
    assert_eq!(finding(&report, "signed")["status"], "update-available");
    // The pinned command applies on the real API server.
    let command = finding(&report, "signed")["command"]
        .as_str()
        .unwrap()
        .to_string();
    let applied = tokio::task::block_in_place(|| {
        Command::new("sh")
            .args(["-c", &command])
            .env("KUBECONFIG", cp.kubeconfig())
            .env("PATH", path_with_kubectl())
            .output()
            .unwrap()
    });
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let image = tokio::task::block_in_place(|| {
        namespace.ok(&[
            "get",
            "deployment",
            "signed",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
    });
    assert_eq!(
        image,
        finding(&report, "signed")["latestImage"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_tells_each_alert_once_on_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let registries = Registries::start(dir.path()).await;
    let (sim, sim_dir, kubeconfig) = start_sim(&registries).await;
    let handle = sim.handle();
    let slack = Receiver::start().await;
    let webhook = Receiver::start().await;
    let config = registries.config(
        sim_dir.path(),
        &format!(
            "schedule: '* * * * * *'\nnamespaces: [{NAMESPACE}]\nleaderElection: {{leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}}\nnotify:\n  slack: {{webhookUrl: '{}'}}\n  webhooks:\n    - {{name: ops, url: 'http://{}/hook'}}\n",
            slack.url(),
            webhook.addr
        ),
    );
    let operator = Operator::start("supply", sim_dir.path(), &kubeconfig, &config, &[]).await;
    eventually_or(
        "the first notifications",
        Duration::from_secs(60),
        async || !webhook.delivered().is_empty() && slack.delivered().len() >= 2,
        || operator.log(),
    )
    .await;
    operator.wait_for_scans(3.0).await;

    // The webhook: each alert once over every delivery.
    let alerts: Vec<Value> = webhook
        .delivered()
        .iter()
        .flat_map(|r| r.json()["alerts"].as_array().cloned().unwrap_or_default())
        .collect();
    let count = |kind: &str| alerts.iter().filter(|a| a["alert"] == kind).count();
    assert_eq!(
        count("tag-overwritten"),
        1,
        "{alerts:#?}\n{}",
        operator.log()
    );
    assert_eq!(count("tag-missing"), 1, "{alerts:#?}");
    let overwritten = alerts
        .iter()
        .find(|a| a["alert"] == "tag-overwritten")
        .unwrap();
    assert_eq!(overwritten["runningDigest"], registries.pulled.as_str());
    assert_eq!(overwritten["registryDigest"], registries.repushed.as_str());

    // Slack: one alert message, each alert once.
    let texts: Vec<String> = slack
        .delivered()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let mentions = |what: &str| texts.iter().map(|t| t.matches(what).count()).sum::<usize>();
    assert_eq!(mentions("- tag-overwritten: "), 1, "{texts:#?}");
    assert_eq!(mentions("- tag-missing: "), 1, "{texts:#?}");

    // Events: one Warning per alert on the workload.
    let events = handle.list("events.k8s.io/v1", "Event", Some(NAMESPACE));
    for (reason, name) in [("TagOverwritten", "overwritten"), ("TagMissing", "missing")] {
        let on: Vec<_> = events
            .iter()
            .filter(|e| e["reason"] == reason && e["regarding"]["name"] == name)
            .collect();
        assert_eq!(on.len(), 1, "{reason}: {events:#?}");
        assert_eq!(on[0]["type"], "Warning");
    }

    // The metric.
    let (_, metrics) = operator.get("/metrics").await;
    let integrity: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ml_operator_tag_integrity{"))
        .collect();
    assert_eq!(integrity.len(), 2, "{metrics}");
    assert!(
        integrity
            .iter()
            .any(|l| l.contains("status=\"tag-overwritten\"") && l.ends_with(" 1"))
    );
    assert!(
        metrics.contains("ml_operator_registry_requests_by_kind_total{kind=\"head-manifest\"}")
    );
}

/// The cool-down with a clock the test controls: a tag built now is held back until
/// `created + minimumReleaseAge`, then released; its build time is asked once.
#[tokio::test]
async fn the_cool_down_releases_the_tag_when_the_clock_passes_it() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    registry
        .push_image("hub/fresh", &["v5.0.0"], "old", Some(OLD))
        .await;
    let built = chrono::Utc::now();
    registry
        .push_image(
            "hub/fresh",
            &["v5.0.1"],
            "just now",
            Some(&built.to_rfc3339()),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let entry = RegistryConfig {
        host: registry.host(),
        minimum_release_age: Some(Duration::from_secs(24 * 3600)),
        ..Default::default()
    };
    let client = Registry::new(ClientOptions {
        registries: vec![entry.clone()],
        docker_config: Some(dir.path().into()),
        ..Default::default()
    })
    .unwrap();
    let source = TagSource::Registry(client.clone());
    let policy =
        SupplyPolicy::new(&[entry], true, Duration::from_secs(6 * 3600), false, None).unwrap();
    let object = json!({"kind": "Deployment", "metadata": {"name": "fresh", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": format!("{}/hub/fresh:v5.0.0", registry.host())}]}}}});
    let workloads = vec![Workload::from_object(&object, "default").unwrap().unwrap()];
    let running = RunningDigests::default();
    let scan_at = async |now: chrono::DateTime<chrono::Utc>| {
        let inputs = Inputs {
            running: &running,
            policy: &policy,
            now,
        };
        pipeline::run(&source, &workloads, &inputs, ScanOptions::default())
            .await
            .report
            .findings
            .remove(0)
    };

    let held = scan_at(built + chrono::Duration::hours(23)).await;
    assert_eq!(held.status.as_str(), "up-to-date");
    let held_back = held.held_back.expect("held back");
    assert_eq!(held_back.tag, "v5.0.1");
    assert!(held_back.until > built + chrono::Duration::hours(23));
    assert!(held.reason.contains("held back until"), "{}", held.reason);

    let released = scan_at(built + chrono::Duration::hours(25)).await;
    assert_eq!(
        released.status.as_str(),
        "update-available",
        "{}",
        released.reason
    );
    assert_eq!(released.latest_tag.as_deref(), Some("v5.0.1"));
    assert!(released.held_back.is_none());

    // The build time was asked once, by digest: one manifest and one config GET in all.
    let stats = client.stats();
    assert_eq!(stats.requests_of(RequestKind::GetManifest), 1, "{stats:#?}");
    assert_eq!(stats.requests_of(RequestKind::GetBlob), 1);
    assert_eq!(
        stats.requests_of(RequestKind::HeadManifest),
        1,
        "v5.0.1's digest, cached"
    );
}

/// `check -f` has no Pods: only digest-pinned images are compared (against their pin), the
/// others are skipped with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_have_no_pods_so_only_pins_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let pinned = registry
        .push_image("hub/app", &["v1.0.0"], "first", Some(OLD))
        .await;
    registry
        .push_image("hub/app", &["v1.0.0"], "second", Some(OLD))
        .await;
    let host = registry.host();
    let manifest = dir.path().join("hub.yaml");
    let pod = |name: &str, image: String| {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: hub}}\nspec:\n  containers:\n  - {{name: app, image: '{image}'}}\n"
        )
    };
    std::fs::write(
        &manifest,
        pod("pinned", format!("{host}/hub/app:v1.0.0@{pinned}"))
            + &pod("unpinned", format!("{host}/hub/app:v1.0.0")),
    )
    .unwrap();
    let output = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .env("DOCKER_CONFIG", dir.path())
            .args(["check", "-o", "json", "-f"])
            .arg(&manifest)
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("manifests have no Pods"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let pinned_finding = finding(&report, "pinned");
    assert_eq!(pinned_finding["status"], "tag-overwritten");
    assert_eq!(pinned_finding["runningDigest"], pinned.as_str());
    assert_eq!(finding(&report, "unpinned")["status"], "up-to-date");
}

/// The bundled example hub (`examples/hub`) with every signal on, against a real registry
/// holding its tags (the registry as the mirror of docker.io and quay.io), every container's
/// Pod reporting the digest it was pulled at: the requests of a first and a steady scan, by
/// kind. The steady scan makes one tag walk per repository and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_example_stays_within_the_request_budget() {
    use ml_operator::inventory::ImageRef;
    use ml_operator::source::manifest;

    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let text = std::fs::read_to_string(support::repo().join("examples/tags.json")).unwrap();
    let index: BTreeMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
    futures::future::join_all(index.iter().map(|(name, tags)| {
        let repository = ImageRef::parse(name).unwrap().repository();
        let registry = &registry;
        async move { registry.push(&repository, tags, false).await }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let signer = FormatSigner::generate();
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, &signer.public_pem).unwrap();
    let entries: Vec<RegistryConfig> = ["docker.io", "quay.io"]
        .iter()
        .map(|host| RegistryConfig {
            host: host.to_string(),
            mirror: Some(registry.host()),
            minimum_release_age: Some(Duration::from_secs(24 * 3600)),
            verify: Some(ml_operator_registry::VerifyConfig {
                cosign_public_key_file: key.clone(),
            }),
            ..Default::default()
        })
        .collect();
    let options = || ClientOptions {
        registries: entries.clone(),
        docker_config: Some(dir.path().into()),
        cache_ttl: Duration::ZERO,
        default_requests_per_second: None,
        ..Default::default()
    };
    let policy =
        SupplyPolicy::new(&entries, true, Duration::from_secs(6 * 3600), true, None).unwrap();
    let loaded =
        manifest::load(&[support::repo().join("examples/hub")], "default", u64::MAX).unwrap();
    let workloads = loaded.workloads;

    // Every container's Pod reports the digest its tag has in the registry (as a node that
    // pulled it would), or, pinned, its pin.
    let lookup = Registry::new(options()).unwrap();
    let mut listing = workloads.clone();
    let mut pods = BTreeMap::new();
    for (i, workload) in workloads.iter().enumerate() {
        let mut statuses = Vec::new();
        for container in &workload.containers {
            let Ok(image) = ImageRef::parse(&container.image) else {
                continue;
            };
            let digest = match (image.digest(), image.tag()) {
                (Some(pin), _) => Some(pin.to_string()),
                (None, Some(tag)) => lookup
                    .manifest_digest(image.registry(), &image.repository(), tag, Duration::ZERO)
                    .await
                    .ok()
                    .flatten(),
                (None, None) => None,
            };
            if let Some(digest) = digest {
                statuses.push(ml_operator::inventory::RunningImage {
                    container: container.name.as_str().into(),
                    image: container.image.as_str().into(),
                    digest: digest.into(),
                });
            }
        }
        let name = format!("pod-{i}");
        let pod = json!({"kind": "Pod", "metadata": {"name": name, "namespace": workload.namespace,
            "ownerReferences": [{"kind": workload.kind.as_str(), "name": workload.name, "controller": true}]},
            "spec": {"containers": [{"name": "x", "image": "x"}]}});
        listing.push(Workload::from_object(&pod, "default").unwrap().unwrap());
        pods.insert((workload.namespace.clone(), name), statuses);
    }
    let running = RunningDigests::from_listing(&listing, &pods);

    let client = Registry::new(options()).unwrap();
    let source = TagSource::Registry(client.clone());
    let kinds = [
        RequestKind::Ping,
        RequestKind::TagList,
        RequestKind::HeadManifest,
        RequestKind::GetManifest,
        RequestKind::GetBlob,
    ];
    let mut before: Vec<u64> = vec![0; kinds.len()];
    let repositories = {
        let mut names: Vec<String> = workloads
            .iter()
            .flat_map(|w| &w.containers)
            .filter_map(|c| ImageRef::parse(&c.image).ok())
            .map(|i| i.canonical_name())
            .collect();
        names.sort();
        names.dedup();
        names.len() as u64
    };
    let mut per_scan = Vec::new();
    for scan in ["first", "steady"] {
        let inputs = Inputs {
            running: &running,
            policy: &policy,
            now: chrono::Utc::now(),
        };
        let scanned = pipeline::run(&source, &workloads, &inputs, ScanOptions::default()).await;
        assert!(scanned.failures.is_empty(), "{:?}", scanned.failures);
        // The example pins central-event-processor to a digest this registry's v12.1.1 is not:
        // compared against its pin, it is (rightly) overwritten here.
        assert_eq!(scanned.report.summary.tag_overwritten, 1);
        let stats = client.stats();
        let now: Vec<u64> = kinds.iter().map(|k| stats.requests_of(*k)).collect();
        let delta: BTreeMap<&str, u64> = kinds
            .iter()
            .zip(now.iter().zip(&before))
            .map(|(k, (n, b))| (k.as_str(), n - b))
            .collect();
        println!(
            "{}",
            json!({"scan": scan, "workloads": workloads.len(), "repositories": repositories,
                "containers": scanned.report.summary.containers, "requestsByKind": delta})
        );
        per_scan.push(delta);
        before = now;
    }
    let steady = &per_scan[1];
    assert_eq!(
        steady["tag-list"], repositories,
        "one tag walk per repository: {steady:?}"
    );
    assert_eq!(
        steady["head-manifest"], 0,
        "digests are reused within digestCheckInterval"
    );
    assert_eq!(
        steady["get-manifest"], 0,
        "build times and signature checks are cached"
    );
    assert_eq!(steady["get-blob"], 0);
}
