//! The supply-chain signals on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`), against
//! the real docker-registry behind the testkit proxy (which counts every request by method):
//! a tag re-pushed with other content (`tag-overwritten`), a tag deleted from the registry
//! (`tag-missing`), a signed and an unsigned target on a registry that verifies, and a tag
//! pushed "now" (the 24h cool-down).
//!
//! The Deployments are rolled out by the real kube-controller-manager onto the kwok fake
//! nodes, whose Pods report in `status.containerStatuses[].imageID` (and
//! `initContainerStatuses`) the digest the pod template's annotation
//! `fake-node.ml-operator.test/digest.<container>` names: the digest the node "pulled"
//! (scripts/control-plane). Signatures are made by the real `cosign` when
//! `scripts/install-test-deps` built it, else laid out exactly as cosign documents them (each
//! test prints which).

mod e2e_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_support::*;
use ml_operator_testkit::cosign::{FormatSigner, RealCosign, cosign_binary};
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};

/// A build time long before any cool-down.
const OLD: &str = "2020-01-01T00:00:00Z";
const LIMIT: Duration = Duration::from_secs(90);

/// Two real registries, each behind a counting proxy: `plain` (cool-down 24h) holds the
/// overwritten, missing and fresh images; `verified` (a cosign key) the signed and unsigned.
struct Registries {
    _plain: RegistryProc,
    _verified: RegistryProc,
    plain_proxy: FaultProxy,
    verified_proxy: FaultProxy,
    /// The digest the overwritten tag had when the nodes pulled it, and the one it has now.
    pulled: String,
    repushed: String,
    /// The digest each running image was pulled at, by repository (`hub/NAME`).
    running: BTreeMap<&'static str, String>,
    /// The signed target's digest.
    signed_target: String,
    /// `cosign.pub`.
    key: PathBuf,
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
        let key = match cosign_binary() {
            Some(binary) => {
                println!("signatures made by the real cosign ({})", binary.display());
                let cosign = RealCosign::generate(&binary, dir);
                cosign.sign(&format!("{}/hub/signed@{signed_target}", verified.host()));
                cosign.public_key
            }
            None => {
                println!(
                    "signatures laid out in cosign's documented format (cosign not installed)"
                );
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
                key
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
        }
    }

    /// The running image of repository `hub/NAME`, through its registry's proxy.
    fn image(&self, name: &str) -> String {
        let (host, tag) = match name {
            "overwritten" => (self.plain_proxy.host(), "v1.0.0"),
            "missing" => (self.plain_proxy.host(), "v2.0.0"),
            "fresh" => (self.plain_proxy.host(), "v5.0.0"),
            "signed" => (self.verified_proxy.host(), "v3.0.0"),
            "unsigned" => (self.verified_proxy.host(), "v4.0.0"),
            other => panic!("no image {other}"),
        };
        format!("{host}/hub/{name}:{tag}")
    }

    /// The registries' lines of the configuration: the cool-down on `plain`, the cosign key
    /// on `verified`, the digest check interval.
    fn config_lines(&self) -> String {
        format!(
            "registries:\n  - {{host: '{}', minimumReleaseAge: 24h}}\n  - {{host: '{}', verify: {{cosignPublicKeyFile: '{}'}}}}\ndigestCheckInterval: 6h\n",
            self.plain_proxy.host(),
            self.verified_proxy.host(),
            self.key.display()
        )
    }

    /// The five Deployments, each Pod reporting the digest its node pulled. `overwritten` runs
    /// the overwritten tag in its init container `migrate` beside `hub/fresh:v5.0.0` (so two
    /// workloads share that tag: still one `HEAD`).
    fn workloads(&self) -> Vec<Value> {
        let one = |name: &str| {
            deployment(
                name,
                1,
                pod_template(
                    name,
                    &[container("app", &self.image(name))],
                    &[],
                    json!({"fake-node.ml-operator.test/digest.app": self.running[name]}),
                ),
            )
        };
        let overwritten = deployment(
            "overwritten",
            1,
            pod_template(
                "overwritten",
                &[container("app", &self.image("fresh"))],
                &[container("migrate", &self.image("overwritten"))],
                json!({
                    "fake-node.ml-operator.test/digest.app": self.running["fresh"],
                    "fake-node.ml-operator.test/digest.migrate": self.pulled,
                }),
            ),
        );
        vec![
            overwritten,
            one("missing"),
            one("fresh"),
            one("signed"),
            one("unsigned"),
        ]
    }
}

/// A namespace holding the five Deployments, rolled out, every Pod reporting a digest.
fn rolled_out<'a>(cp: &'a ControlPlane, prefix: &str, registries: &Registries) -> Namespace<'a> {
    let ns = cp.namespace(prefix);
    let workloads = registries.workloads();
    ns.apply(&list(&workloads));
    for w in &workloads {
        ns.ok(&[
            "rollout",
            "status",
            &format!("deployment/{}", name(w)),
            "--timeout=120s",
        ]);
    }
    wait_for(
        "every Pod to report the digests its node pulled",
        LIMIT,
        || {
            let pods = ns.get_json(&["pods"]);
            let items = pods["items"].as_array()?;
            let reported = items.iter().all(|p| {
                ["containerStatuses", "initContainerStatuses"]
                    .iter()
                    .flat_map(|list| p["status"][*list].as_array().into_iter().flatten())
                    .all(|s| {
                        s["imageID"]
                            .as_str()
                            .is_some_and(|id| id.contains("@sha256:"))
                    })
            });
            (items.len() == workloads.len() && reported).then_some(())
        },
        || format!("{:#}", ns.get_json(&["pods"])),
    );
    ns
}

fn finding<'a>(report: &'a Value, name: &str, container: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name && f["container"] == container)
        .unwrap_or_else(|| panic!("no finding for {name}/{container}: {report:#}"))
}

/// Requests a proxy saw with `method` whose target contains `pattern`.
fn seen(proxy: &FaultProxy, method: &str, pattern: &str) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.method == method && s.target.contains(pattern))
        .count()
}

/// `ml-operator check --kubeconfig K -n NS --config C ARGS… -o json`: the exit code and report.
fn check(cp: &ControlPlane, ns: &Namespace<'_>, config: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec![
        "check",
        "--kubeconfig",
        cp.kubeconfig().to_str().unwrap(),
        "-n",
        ns.name(),
        "--config",
        config.to_str().unwrap(),
        "-o",
        "json",
    ];
    all.extend_from_slice(args);
    let output = ml_operator(&all)
        .env("DOCKER_CONFIG", config.parent().unwrap())
        .output()
        .unwrap();
    let report =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)));
    (output.status.code().unwrap(), report)
}

/// Runs a printed `kubectl patch` command with the real kubectl against the cluster.
fn run_command(cp: &ControlPlane, command: &str) {
    let output = std::process::Command::new("sh")
        .args(["-c", command])
        .env("KUBECONFIG", cp.kubeconfig())
        .env("PATH", tool_path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{command}: {}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_reports_each_signal_once_and_its_pinned_commands_apply_with_kubectl() {
    let Some(cp) = fake_node_cluster_or_skip("the supply-chain signals in check") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let registries = Registries::start(dir.path()).await;
    let ns = tokio::task::block_in_place(|| rolled_out(cp, "e2e-supply", &registries));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, registries.config_lines()).unwrap();
    registries.plain_proxy.clear_log();
    registries.verified_proxy.clear_log();

    let (code, report) =
        tokio::task::block_in_place(|| check(cp, &ns, &config, &["--pin-digests"]));
    assert_eq!(code, 1, "tag-overwritten exits 1: {report:#}");
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
    assert_eq!(report["summary"]["tagOverwritten"], 1);
    assert_eq!(report["summary"]["tagMissing"], 1);

    // Overwritten, in an init container: both digests, and the update still there, pinned.
    let overwritten = finding(&report, "overwritten", "migrate");
    assert_eq!(overwritten["status"], "tag-overwritten", "{overwritten:#}");
    assert_eq!(overwritten["initContainer"], true);
    assert_eq!(overwritten["runningDigest"], registries.pulled.as_str());
    assert_eq!(overwritten["registryDigest"], registries.repushed.as_str());
    assert_eq!(overwritten["latestTag"], "v1.0.1");
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
        reason.contains("v1.0.0 was overwritten") && reason.contains("v1.0.1"),
        "the reason says both: {reason}"
    );

    let missing = finding(&report, "missing", "app");
    assert_eq!(missing["status"], "tag-missing");
    assert_eq!(missing["latestTag"], "v2.0.1");
    assert!(missing["command"].is_string());
    let reason = missing["reason"].as_str().unwrap();
    assert!(
        reason.contains("rescheduling a Pod and rolling back to it will fail"),
        "{reason}"
    );

    let signed = finding(&report, "signed", "app");
    assert_eq!(signed["status"], "update-available");
    assert_eq!(signed["signature"], "verified");
    let signed_target = format!(
        "{}/hub/signed:v3.0.1@{}",
        registries.verified_proxy.host(),
        registries.signed_target
    );
    assert_eq!(signed["latestImage"], signed_target.as_str());
    assert!(signed["command"].is_string());

    let unsigned = finding(&report, "unsigned", "app");
    assert_eq!(unsigned["status"], "update-available");
    assert_eq!(unsigned["signature"], "unsigned");
    assert!(unsigned["command"].is_null(), "never applied: {unsigned:#}");
    let reason = unsigned["reason"].as_str().unwrap();
    assert!(
        reason.contains("not proposed") && reason.contains("no cosign signature"),
        "{reason}"
    );

    for (workload, container) in [("fresh", "app"), ("overwritten", "app")] {
        let fresh = finding(&report, workload, container);
        assert_eq!(fresh["status"], "up-to-date", "{fresh:#}");
        assert_eq!(fresh["heldBack"]["tag"], "v5.0.1");
        assert!(
            fresh["reason"]
                .as_str()
                .unwrap()
                .contains("held back until"),
            "{fresh:#}"
        );
    }

    // The request budget: one HEAD per distinct tag asked about (hub/fresh:v5.0.0 runs in two
    // workloads), never a GET of a running tag's manifest; manifest and config GETs only for
    // the cool-down's candidates; a missing tag costs nothing.
    let plain = &registries.plain_proxy;
    assert_eq!(seen(plain, "HEAD", "/manifests/v1.0.0"), 1);
    assert_eq!(seen(plain, "HEAD", "/manifests/v5.0.0"), 1);
    assert_eq!(seen(plain, "HEAD", "/manifests/v2.0.0"), 0);
    // v1.0.0 and v5.0.0 running; v1.0.1, v2.0.1 and v5.0.1 chosen (pin, cool-down).
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
    assert_eq!(seen(plain, "GET", "/manifests/"), 3, "one per candidate");
    assert_eq!(seen(plain, "GET", "/blobs/"), 3, "one config per candidate");
    assert_eq!(seen(plain, "GET", "/tags/list"), 3);
    let verified = &registries.verified_proxy;
    assert_eq!(seen(verified, "HEAD", "/manifests/"), 4);
    assert_eq!(seen(verified, "GET", ".sig"), 2, "one per target");
    assert_eq!(seen(verified, "GET", "/manifests/v3.0.0"), 0);

    // --allow-overwritten: the same findings, exit 0.
    let (code, allowed) = tokio::task::block_in_place(|| {
        check(cp, &ns, &config, &["--pin-digests", "--allow-overwritten"])
    });
    assert_eq!(code, 0, "{allowed:#}");
    assert_eq!(allowed["summary"]["tagOverwritten"], 1);

    // The pinned commands apply with the real kubectl and roll out; the pins are then what is
    // compared, and they match the registry: nothing overwritten any more, exit 0.
    tokio::task::block_in_place(|| {
        for (workload, container) in [("signed", "app"), ("overwritten", "migrate")] {
            run_command(
                cp,
                finding(&report, workload, container)["command"]
                    .as_str()
                    .unwrap(),
            );
            ns.ok(&[
                "rollout",
                "status",
                &format!("deployment/{workload}"),
                "--timeout=120s",
            ]);
        }
    });
    let applied = ns.get_json(&["deployment", "signed"]);
    assert_eq!(image_of(&applied, "app"), signed_target);
    let applied = ns.get_json(&["deployment", "overwritten"]);
    assert_eq!(image_of(&applied, "migrate"), latest);
    let (code, after) = tokio::task::block_in_place(|| check(cp, &ns, &config, &["--pin-digests"]));
    assert_eq!(code, 0, "{after:#}");
    assert!(
        after["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] != "tag-overwritten"),
        "{after:#}"
    );
    for (workload, container) in [("signed", "app"), ("overwritten", "migrate")] {
        let now = finding(&after, workload, container);
        assert_eq!(now["status"], "up-to-date", "{now:#}");
        assert!(
            now["image"].as_str().unwrap().contains("@sha256:"),
            "{now:#}"
        );
    }
    assert_eq!(finding(&after, "missing", "app")["status"], "tag-missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_tells_each_alert_once_on_every_channel_and_applies_only_signed_targets() {
    let Some(cp) = fake_node_cluster_or_skip("the supply-chain signals in run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let registries = Registries::start(dir.path()).await;
    install_crd(cp);
    let ns = tokio::task::block_in_place(|| rolled_out(cp, "e2e-supply-run", &registries));
    let slack = Receiver::start().await;
    let teams = Receiver::start().await;
    let webhook = Receiver::start().await;
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &format!(
            "{}notify:\n  slack: {{webhookUrl: '{}'}}\n  teams: {{webhookUrl: '{}'}}\n  webhooks:\n    - {{name: ops, webhookUrl: '{}'}}\nupgrades: {{enabled: true, pinDigests: true}}\n",
            registries.config_lines(),
            slack.slack_url(),
            teams.url("/teams"),
            webhook.url("/hook"),
        ),
    );
    let operator = Operator::start(OperatorSpec {
        name: "supply",
        namespace: ns.name(),
        kubeconfig: cp.kubeconfig(),
        config: &config,
        dir: dir.path(),
        env: vec![],
        args: vec![],
    })
    .await;
    let alerts_on = |receiver: &Receiver| -> Vec<Value> {
        receiver
            .received()
            .iter()
            .flat_map(|r| r.json()["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    eventually_or(
        "the alerts on every channel",
        LIMIT,
        async || {
            alerts_on(&webhook).len() >= 2
                && !slack.received().is_empty()
                && !teams.received().is_empty()
        },
        || operator.log(),
    )
    .await;
    operator.wait_for_scans(3.0).await;

    // The webhook: each alert once over every delivery, with both digests.
    let alerts = alerts_on(&webhook);
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
    assert_eq!(overwritten["name"], "overwritten");
    assert_eq!(overwritten["container"], "migrate");
    assert_eq!(overwritten["initContainer"], true);
    assert_eq!(overwritten["runningDigest"], registries.pulled.as_str());
    assert_eq!(overwritten["registryDigest"], registries.repushed.as_str());

    // Slack and Teams: each alert's headline once over every message.
    for (channel, receiver) in [("slack", &slack), ("teams", &teams)] {
        let bodies: Vec<String> = receiver
            .received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        for headline in ["tag-overwritten: Deployment ", "tag-missing: Deployment "] {
            // Messages that carry it (Slack has it twice in one: the fallback text and a block).
            let mentions = bodies.iter().filter(|b| b.contains(headline)).count();
            assert_eq!(mentions, 1, "{channel}: {headline}: {bodies:#?}");
        }
    }

    // Events: one Warning per alert on its workload, as kubectl shows them.
    for (reason, workload) in [("TagOverwritten", "overwritten"), ("TagMissing", "missing")] {
        let on = events(&ns, reason, workload);
        assert_eq!(on.len(), 1, "{reason}: {on:#?}");
        assert_eq!(on[0]["type"], "Warning");
        assert_eq!(on[0]["involvedObject"]["kind"], "Deployment");
    }

    // The metric, and the requests by kind.
    let (_, metrics) = operator.get("/metrics").await;
    let integrity: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ml_operator_tag_integrity{"))
        .collect();
    assert_eq!(integrity.len(), 2, "{metrics}");
    assert!(
        integrity
            .iter()
            .any(|l| l.contains("status=\"tag-overwritten\"") && l.ends_with(" 1")),
        "{integrity:#?}"
    );
    assert!(
        metrics.contains("ml_operator_registry_requests_by_kind_total{kind=\"head-manifest\"}"),
        "{metrics}"
    );

    // Proposals: the signed target pinned by its digest; none for the unsigned one; the
    // proposal for the vanished tag says rescheduling and rollback will fail.
    let signed_target = format!(
        "{}/hub/signed:v3.0.1@{}",
        registries.verified_proxy.host(),
        registries.signed_target
    );
    let signed = tokio::task::block_in_place(|| {
        wait_upgrade_phase(
            &ns,
            "signed",
            "app",
            &signed_target,
            "Available",
            LIMIT,
            || operator.log(),
        )
    });
    let missing_upgrade = tokio::task::block_in_place(|| {
        wait_for(
            "the proposal for the vanished tag",
            LIMIT,
            || upgrades_of(&ns, "missing", "app").into_iter().next(),
            || operator.log(),
        )
    });
    assert!(
        target_container(&missing_upgrade, "missing", "app").unwrap()["targetImage"]
            .as_str()
            .unwrap()
            .contains("/hub/missing:v2.0.1@sha256:"),
        "{missing_upgrade:#}"
    );
    eventually_or(
        "the proposal notice for the vanished tag",
        LIMIT,
        async || {
            webhook.received().iter().any(|r| {
                let body = r.json();
                body["event"] == "upgrade-proposed"
                    && body["workloads"]
                        .as_array()
                        .is_some_and(|ws| ws.iter().any(|w| w["name"] == "missing"))
                    && body["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("rolling back to it will fail"))
            })
        },
        || format!("{:#?}\n{}", webhook.events(), operator.log()),
    )
    .await;
    assert!(
        upgrades_of(&ns, "unsigned", "app").is_empty(),
        "an unsigned target is not proposed: {:#?}",
        upgrades_of(&ns, "unsigned", "app")
    );

    // Approved, the signed target is applied, pinned.
    tokio::task::block_in_place(|| {
        ns.ok(&[
            "patch",
            IU_RESOURCE,
            name(&signed),
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"approved":true}}"#,
        ]);
        wait_upgrade_phase(
            &ns,
            "signed",
            "app",
            &signed_target,
            "Succeeded",
            LIMIT,
            || operator.log(),
        );
    });
    assert_eq!(
        image_of(&ns.get_json(&["deployment", "signed"]), "app"),
        signed_target
    );

    // An ImageUpgrade to the unsigned target, written and approved by hand, is never applied:
    // the operator checks the signature right before it patches.
    let unsigned_target = format!("{}/hub/unsigned:v4.0.1", registries.verified_proxy.host());
    let by_hand = json!({
        "apiVersion": signed["apiVersion"], "kind": "ImageUpgrade",
        "metadata": {"name": "unsigned-by-hand"},
        "spec": {
            "repository": format!("{}/hub/unsigned", registries.verified_proxy.host()),
            "currentTag": "v4.0.0",
            "targetTag": "v4.0.1",
            "workloadCount": 1,
            "targets": [{"kind": "Deployment", "name": "unsigned", "containers": [
                {"name": "app", "currentImage": registries.image("unsigned"),
                 "targetImage": unsigned_target}]}],
            "strategy": "bugfix",
            "approved": true,
        }
    });
    let failed = tokio::task::block_in_place(|| {
        ns.apply(&by_hand.to_string());
        wait_upgrade_phase(
            &ns,
            "unsigned",
            "app",
            &unsigned_target,
            "Failed",
            LIMIT,
            || operator.log(),
        )
    });
    let message = failed["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not applied") && message.contains("no cosign signature"),
        "{failed:#}"
    );
    assert_eq!(
        image_of(&ns.get_json(&["deployment", "unsigned"]), "app"),
        registries.image("unsigned"),
        "the workload is untouched"
    );
}
