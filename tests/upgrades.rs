//! Upgrades on kube-sim with simulated rollouts, driven in-process: windows on a controllable
//! clock, apply, rollout watch, rollback, a kill after every single step of a two-workload
//! group (the app with its migration init container, and a handler), dry run.
//!
//! The upgrader runs with an explicit `now` (the controllable clock); every restart is a fresh
//! upgrader that knows nothing but the cluster. The binary end to end, approvals by kubectl,
//! superseding and `onFailure` are tested on the real control plane (tests/e2e_upgrades.rs,
//! tests/e2e_groups.rs).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kube::Client;
use ml_operator::inventory::Workload;
use ml_operator::scan::{Report, ScanOptions, scan};
use ml_operator::source::cluster::{Cluster, ClusterOptions};
use ml_operator::tags::index::TagIndex;
use ml_operator::upgrade::{Announcer, UpgradeSettings, Upgrader, Window, Windows, propose};
use ml_operator_notify::{Notifier, RetryPolicy, Secret, WebhookNotifier};
use serde_json::{Value, json};
use support::{Receiver, eventually, eventually_or};

const NS: &str = "hub";
const DEPLOYMENT: &str = "central-ledger";
const FROM: &str = "mojaloop/central-ledger:v13.14.0";
const TO: &str = "mojaloop/central-ledger:v13.14.1";
const UPGRADE: &str = "central-ledger-v13.14.1";
const PATCHES: &str = "/apis/apps/v1/namespaces/hub/deployments/central-ledger";
/// The group's second workload: a handler on the same image.
const HANDLER: &str = "central-ledger-handler";
const HANDLER_PATCHES: &str = "/apis/apps/v1/namespaces/hub/deployments/central-ledger-handler";
const IU_API: &str = "ml-operator.mojaloop.io/v1alpha2";

fn deployment(annotations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NS, "annotations": annotations,
                     "labels": {"app.kubernetes.io/name": DEPLOYMENT}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {
                    "initContainers": [{"name": "run-migration", "image": FROM}],
                    "containers": [
                        {"name": DEPLOYMENT, "image": FROM},
                        {"name": "sidecar", "image": "mojaloop/event-sidecar:v9.5.0"}
                    ]
                }
            }
        }
    })
}

/// The handler: the same image, one container, in the same group; `annotations` as
/// central-ledger's (a group is auto-approved only when all its workloads allow it).
fn handler(annotations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": HANDLER, "namespace": NS, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": HANDLER}},
            "template": {
                "metadata": {"labels": {"app": HANDLER}},
                "spec": {"containers": [{"name": HANDLER, "image": FROM}]}
            }
        }
    })
}

fn statefulset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "mysql", "namespace": NS, "annotations": {"ml-operator.mojaloop.io/auto-approve": "true"}},
        "spec": {
            "replicas": 1, "serviceName": "mysql",
            "selector": {"matchLabels": {"app": "mysql"}},
            "template": {"metadata": {"labels": {"app": "mysql"}},
                         "spec": {"containers": [{"name": "mysql", "image": "bitnami/mysql:8.0.32-debian-11-r0"}]}}
        }
    })
}

struct Hub {
    sim: kube_sim::Running,
    /// Holds the kubeconfig.
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    client: Client,
}

async fn hub(annotations: Value) -> Hub {
    let crd = serde_json::to_value(ml_operator::upgrade::crd::crd()).unwrap();
    let sim = kube_sim::KubeSim::builder()
        .objects(vec![
            crd,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}),
            deployment(annotations.clone()),
            handler(annotations),
            statefulset(),
        ])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    // The fixture's first rollout: wait until it is done so ours is the only one.
    sim.wait_for_async(
        "apps/v1",
        "Deployment",
        Some(NS),
        DEPLOYMENT,
        Duration::from_secs(10),
        |d| d["status"]["availableReplicas"] == 2,
    )
    .await
    .expect("the fixture rolls out");
    sim.wait_for_async(
        "apps/v1",
        "Deployment",
        Some(NS),
        HANDLER,
        Duration::from_secs(10),
        |d| d["status"]["availableReplicas"] == 1,
    )
    .await
    .expect("the fixture rolls out");
    sim.wait_for_async(
        "apps/v1",
        "StatefulSet",
        Some(NS),
        "mysql",
        Duration::from_secs(10),
        |s| {
            s["status"]["readyReplicas"] == 1
                && s["status"]["currentRevision"] == s["status"]["updateRevision"]
        },
    )
    .await
    .expect("the fixture rolls out");
    let cluster = Cluster::connect(&ClusterOptions {
        kubeconfig: Some(kubeconfig.clone()),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    Hub {
        client: cluster.client().clone(),
        sim,
        _dir: dir,
        kubeconfig,
    }
}

/// A real scan of the hub's workloads with central-ledger's `tags` (bugfix strategy).
fn report(hub: &Hub, tags: &[&str]) -> Report {
    report_with(hub, tags, &["8.0.32-debian-11-r0"])
}

fn report_with(hub: &Hub, ledger_tags: &[&str], mysql_tags: &[&str]) -> Report {
    let workloads: Vec<Workload> = [
        ("Deployment", DEPLOYMENT),
        ("Deployment", HANDLER),
        ("StatefulSet", "mysql"),
    ]
    .iter()
    .map(|(kind, name)| {
        let object = hub.sim.get("apps/v1", kind, Some(NS), name).unwrap();
        Workload::from_object(&object, NS).unwrap().unwrap()
    })
    .collect();
    let index = TagIndex::from_json(
        &json!({"mojaloop/central-ledger": ledger_tags, "mojaloop/event-sidecar": ["v9.5.0"], "bitnami/mysql": mysql_tags})
            .to_string(),
    )
    .unwrap();
    scan(&workloads, &index, ScanOptions::default())
}

fn nairobi(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Africa::Nairobi
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn nightly_windows() -> Windows {
    let nightly = Window::new(
        "nightly",
        "0 2 * * *",
        Duration::from_secs(2 * 3600),
        "Africa/Nairobi",
    )
    .unwrap();
    Windows::new(vec![nightly], Some("nightly".into()), Default::default()).unwrap()
}

fn upgrader(hub: &Hub, settings: UpgradeSettings, webhook: &Receiver) -> Upgrader {
    let notifier: Arc<dyn Notifier> = Arc::new(
        WebhookNotifier::new(
            Secret::new(format!("http://{}/hook", webhook.addr)),
            None,
            RetryPolicy::default(),
        )
        .unwrap(),
    );
    let announcer = Announcer::new(vec![notifier], Some((hub.client.clone(), "test".into())));
    Upgrader::new(hub.client.clone(), settings, announcer, vec![])
}

fn upgrade(hub: &Hub, name: &str) -> Value {
    hub.sim
        .get(IU_API, "ImageUpgrade", Some(NS), name)
        .unwrap_or_else(|| panic!("ImageUpgrade {name} exists"))
}

fn phase(hub: &Hub, name: &str) -> String {
    upgrade(hub, name)["status"]["phase"]
        .as_str()
        .unwrap_or("Available")
        .to_string()
}

fn image(hub: &Hub) -> String {
    let d = hub
        .sim
        .get("apps/v1", "Deployment", Some(NS), DEPLOYMENT)
        .unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Patches sent to exactly `path` (kube-sim counts by prefix, and the handler's path extends
/// central-ledger's).
fn patches_to(hub: &Hub, path: &str) -> usize {
    hub.sim
        .request_counts()
        .iter()
        .filter(|c| c.verb == "patch" && c.path == path)
        .map(|c| c.count)
        .sum()
}

/// Patches of central-ledger.
fn patches(hub: &Hub) -> usize {
    patches_to(hub, PATCHES)
}

/// The handler's image, and whether central-ledger's migration init container runs its app's.
fn handler_image(hub: &Hub) -> String {
    let d = hub
        .sim
        .get("apps/v1", "Deployment", Some(NS), HANDLER)
        .unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

fn migration_with_app(hub: &Hub) -> bool {
    let d = hub
        .sim
        .get("apps/v1", "Deployment", Some(NS), DEPLOYMENT)
        .unwrap();
    let spec = &d["spec"]["template"]["spec"];
    spec["initContainers"][0]["image"] == spec["containers"][0]["image"]
}

/// Runs passes at `now` until the upgrade reaches `until` (rollouts progress in real time).
async fn drive(upgrader: &Upgrader, hub: &Hub, name: &str, now: DateTime<Utc>, until: &str) {
    eventually_or(
        &format!("{name} to reach {until}"),
        Duration::from_secs(30),
        async || {
            upgrader.step_each(now).await.unwrap();
            phase(hub, name) == until
        },
        || format!("{:#}", upgrade(hub, name)["status"]),
    )
    .await;
}

fn events(hub: &Hub, webhook: &Receiver) -> Vec<String> {
    let _ = hub;
    webhook
        .delivered()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn k8s_events(hub: &Hub, reason: &str) -> Vec<Value> {
    hub.sim
        .list("events.k8s.io/v1", "Event", Some(NS))
        .into_iter()
        .filter(|e| e["reason"] == reason && e["regarding"]["name"] == DEPLOYMENT)
        .collect()
}

fn history(hub: &Hub, name: &str) -> Vec<String> {
    upgrade(hub, name)["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["phase"].as_str().unwrap().to_string())
        .collect()
}

async fn cli(args: &[&str], kubeconfig: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approved_upgrade_waits_for_its_window_then_rolls_out_and_notifies() {
    let hub = hub(json!({})).await;
    let webhook = Receiver::start().await;
    let settings = UpgradeSettings {
        windows: nightly_windows(),
        ..UpgradeSettings::default()
    };
    let upgrader = upgrader(&hub, settings, &webhook);

    let done = propose(
        &hub.client,
        &report(&hub, &["v13.14.0", "v13.14.1"]),
        &[],
        Utc::now(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        done.created,
        [format!("{NS}/{UPGRADE}")],
        "one ImageUpgrade, for the one repository with an update"
    );
    let spec = &upgrade(&hub, UPGRADE)["spec"];
    assert_eq!(
        (
            spec["repository"].as_str(),
            spec["targetTag"].as_str(),
            spec["workloadCount"].as_i64()
        ),
        (Some("mojaloop/central-ledger"), Some("v13.14.1"), Some(2))
    );
    let names: Vec<&str> = spec["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [DEPLOYMENT, HANDLER],
        "by name: the first is the canary"
    );
    let target = &spec["targets"][0];
    assert_eq!(
        (target["kind"].as_str(), target["name"].as_str()),
        (Some("Deployment"), Some(DEPLOYMENT))
    );
    let container = &target["containers"][0];
    assert_eq!(
        (
            container["currentImage"].as_str(),
            container["targetImage"].as_str()
        ),
        (Some(FROM), Some(TO))
    );
    assert_eq!(spec["level"], "bugfix");

    // Tuesday 10:00 in Nairobi: proposed, not approved.
    let morning = nairobi(2026, 11, 24, 10, 0);
    upgrader.step_each(morning).await.unwrap();
    assert_eq!(phase(&hub, UPGRADE), "Available");
    upgrader.step_each(morning).await.unwrap();
    eventually("the proposal notice", Duration::from_secs(10), async || {
        events(&hub, &webhook) == ["upgrade-proposed"]
    })
    .await;
    let proposal = webhook.delivered()[0].json();
    let commands = proposal["approveCommands"].as_array().unwrap();
    assert_eq!(
        commands[0],
        format!("ml-operator approve {UPGRADE} -n {NS}")
    );
    assert!(
        proposal["message"]
            .as_str()
            .unwrap()
            .contains("window nightly opens 2026-11-25 02:00 EAT"),
        "{proposal}"
    );

    // Approve with the CLI, as a person would.
    let out = cli(
        &["approve", UPGRADE, "-n", NS, "--by", "alice"],
        &hub.kubeconfig,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));
    drive(&upgrader, &hub, UPGRADE, morning, "Scheduled").await;
    let status = &upgrade(&hub, UPGRADE)["status"];
    assert_eq!(status["approval"]["by"], "alice");
    assert_eq!(status["approval"]["how"], "cli");
    assert_eq!(status["window"]["name"], "nightly");
    assert_eq!(
        status["window"]["opensAt"], "2026-11-24T23:00:00Z",
        "02:00 EAT"
    );

    // Still outside the window: nothing happens, however often it looks.
    for minutes in [0, 60, 12 * 60 + 59] {
        let steps = upgrader
            .step_each(morning + chrono::Duration::minutes(minutes))
            .await
            .unwrap();
        assert!(steps.is_empty(), "{steps:?}");
    }
    assert_eq!(patches(&hub), 0, "nothing patched outside the window");

    // 02:30 in Nairobi: inside the window.
    let night = nairobi(2026, 11, 25, 2, 30);
    drive(&upgrader, &hub, UPGRADE, night, "Succeeded").await;
    assert_eq!(image(&hub), TO);
    let d = hub
        .sim
        .get("apps/v1", "Deployment", Some(NS), DEPLOYMENT)
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["image"], "mojaloop/event-sidecar:v9.5.0",
        "only that container"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["initContainers"][0]["image"], TO,
        "the migration init container with the app, in the same patch"
    );
    assert_eq!(patches(&hub), 1, "exactly one patch");
    assert_eq!(handler_image(&hub), TO);
    assert_eq!(
        patches_to(&hub, HANDLER_PATCHES),
        1,
        "one patch of the handler"
    );
    upgrader.step_each(night).await.unwrap();
    eventually("the success notice", Duration::from_secs(10), async || {
        events(&hub, &webhook) == ["upgrade-proposed", "upgrade-succeeded"]
    })
    .await;
    assert_eq!(k8s_events(&hub, "UpgradeSucceeded").len(), 1);
    assert_eq!(
        history(&hub, UPGRADE),
        [
            "Available",
            "Approved",
            "Scheduled",
            "Applying",
            "Applying",
            "Applying",
            "Applying",
            "Applying",
            "Applying",
            "Applying",
            "Succeeded"
        ],
        "every step recorded: the group starts; each workload starts, is patched, rolls out"
    );
    // Nothing more to do, and no second notice.
    assert!(upgrader.step_each(night).await.unwrap().is_empty());
    assert_eq!(webhook.delivered().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_that_never_finishes_times_out_and_rolls_back() {
    const MYSQL: &str = "mysql-8.0.32-debian-11-r5";
    let hub = hub(json!({})).await;
    let webhook = Receiver::start().await;
    let upgrader = upgrader(&hub, UpgradeSettings::default(), &webhook);
    // A StatefulSet reports no deadline condition: a stuck rollout is found by the timeout.
    hub.sim.fail_rollout("StatefulSet", NS, "mysql");
    let done = propose(
        &hub.client,
        &report_with(
            &hub,
            &["v13.14.0"],
            &["8.0.32-debian-11-r0", "8.0.32-debian-11-r5"],
        ),
        &[],
        Utc::now(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(done.created, [format!("{NS}/{MYSQL}")]);
    let t0 = Utc::now();
    eventually(
        "the patch to be recorded",
        Duration::from_secs(20),
        async || {
            upgrader.step_each(t0).await.unwrap();
            upgrade(&hub, MYSQL)["status"]["rollout"]["workloads"][0]["patchedAt"].is_string()
        },
    )
    .await;
    assert_eq!(
        upgrade(&hub, MYSQL)["status"]["approval"]["how"],
        "policy:annotation=major",
        "the workload's annotation approved it"
    );
    let patched_at: DateTime<Utc> =
        upgrade(&hub, MYSQL)["status"]["rollout"]["workloads"][0]["patchedAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let sts_patches = || {
        hub.sim
            .request_count("patch", "/apis/apps/v1/namespaces/hub/statefulsets/mysql")
    };
    // One second before the timeout: still waiting.
    let almost = patched_at + chrono::Duration::seconds(599);
    for _ in 0..3 {
        assert!(upgrader.step_each(almost).await.unwrap().is_empty());
    }
    assert_eq!(phase(&hub, MYSQL), "Applying");
    assert_eq!(sts_patches(), 1);
    // At the timeout: rolled back.
    drive(
        &upgrader,
        &hub,
        MYSQL,
        patched_at + chrono::Duration::seconds(600),
        "RolledBack",
    )
    .await;
    let message = upgrade(&hub, MYSQL)["status"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("did not finish within 10m"), "{message}");
    assert_eq!(sts_patches(), 2);
    let sts = hub
        .sim
        .get("apps/v1", "StatefulSet", Some(NS), "mysql")
        .unwrap();
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "bitnami/mysql:8.0.32-debian-11-r0"
    );
}

fn notified_outcome(status: &Value) -> bool {
    status["notified"].as_array().is_some_and(|n| {
        n.iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("upgrade-")))
    })
}

/// Runs a fresh upgrader (a "restart") to the end and returns the final phase.
async fn finish(
    hub: &Hub,
    webhook: &Receiver,
    settings: &UpgradeSettings,
    now: DateTime<Utc>,
) -> String {
    let upgrader = upgrader(hub, settings.clone(), webhook);
    eventually_or(
        "a final phase after the restart",
        Duration::from_secs(30),
        async || {
            upgrader.step_each(now).await.unwrap();
            let phase = phase(hub, UPGRADE);
            ["Succeeded", "RolledBack", "Failed"].contains(&phase.as_str())
                && notified_outcome(&upgrade(hub, UPGRADE)["status"])
        },
        || format!("{:#}", upgrade(hub, UPGRADE)["status"]),
    )
    .await;
    phase(hub, UPGRADE)
}

/// Kills the upgrader after each single step (a fresh upgrader resumes from the cluster
/// alone) and checks the end state and that the workload was patched exactly once (twice with
/// a rollback). Step k covers every phase: Available, Approved, Scheduled, Applying before the
/// patch, Applying after the patch but before it is recorded, watching, and (with a failing
/// rollout) the rollback's own steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_every_step_resumes_with_one_patch() {
    let settings = UpgradeSettings {
        windows: nightly_windows(),
        ..UpgradeSettings::default()
    };
    let night = nairobi(2026, 11, 25, 2, 30);
    for failing in [false, true] {
        let mut seen = std::collections::BTreeSet::new();
        for k in 1.. {
            let hub = hub(json!({})).await;
            let webhook = Receiver::start().await;
            if failing {
                // The canary succeeds; the handler fails; rollbackGroup restores both.
                hub.sim.fail_rollout("Deployment", NS, HANDLER);
            }
            propose(
                &hub.client,
                &report(&hub, &["v13.14.0", "v13.14.1"]),
                &[],
                Utc::now(),
                false,
            )
            .await
            .unwrap();
            let out = cli(&["approve", UPGRADE, "-n", NS], &hub.kubeconfig).await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Run k steps, then "crash" (drop the upgrader) wherever that leaves it.
            {
                let first = upgrader(&hub, settings.clone(), &webhook);
                let mut steps = 0;
                eventually("k steps", Duration::from_secs(30), async || {
                    steps += first.step_each(night).await.unwrap().len();
                    steps >= k
                })
                .await;
            }
            let status = upgrade(&hub, UPGRADE)["status"].clone();
            let workload_state = |i: usize| {
                status["rollout"]["workloads"][i]["state"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string()
            };
            let state = format!(
                "{} {} image={} | handler {} image={}",
                status["phase"].as_str().unwrap_or("-"),
                workload_state(0),
                image(&hub),
                workload_state(1),
                handler_image(&hub)
            );
            assert!(
                migration_with_app(&hub),
                "migration and app apart at {state}"
            );
            let final_before_restart = ["Succeeded", "RolledBack"]
                .contains(&phase(&hub, UPGRADE).as_str())
                && notified_outcome(&status);
            seen.insert(state.clone());
            let end = finish(&hub, &webhook, &settings, night).await;
            let expected = if failing {
                ("RolledBack", FROM, 2, FROM, 2)
            } else {
                ("Succeeded", TO, 1, TO, 1)
            };
            assert_eq!(
                (
                    end.as_str(),
                    image(&hub).as_str(),
                    patches(&hub),
                    handler_image(&hub).as_str(),
                    patches_to(&hub, HANDLER_PATCHES)
                ),
                expected,
                "killed after {k} steps at {state}: one patch per workload (and one back)"
            );
            assert!(migration_with_app(&hub), "after {k} steps at {state}");
            let outcomes: Vec<String> = events(&hub, &webhook)
                .into_iter()
                .filter(|e| e != "upgrade-proposed")
                .collect();
            assert_eq!(
                outcomes.len(),
                1,
                "one outcome notice after {k} steps at {state}: {outcomes:?}"
            );
            if final_before_restart {
                break;
            }
            assert!(k < 60, "the upgrade should finish within 60 steps");
        }
        for phase in [
            "Approved",
            "Scheduled",
            "Applying Pending",
            "Applying Patching",
            "Applying RollingOut",
        ] {
            assert!(
                seen.iter().any(|s| s.starts_with(phase)),
                "killed in {phase}: {seen:#?}"
            );
        }
        // Killed between each workload's patch and its record.
        assert!(
            seen.iter()
                .any(|s| s.starts_with(&format!("Applying Patching image={TO} |"))),
            "the canary: {seen:#?}"
        );
        assert!(
            seen.iter()
                .any(|s| s.ends_with(&format!("handler Patching image={TO}"))),
            "the handler: {seen:#?}"
        );
        if failing {
            // Killed on both sides of each rollback patch.
            for (workload, image) in [("handler", TO), ("handler", FROM)] {
                assert!(
                    seen.iter()
                        .any(|s| s.ends_with(&format!("{workload} RollingBack image={image}"))),
                    "the handler's rollback at image={image}: {seen:#?}"
                );
            }
            for image in [TO, FROM] {
                assert!(
                    seen.iter()
                        .any(|s| s.starts_with(&format!("Applying RollingBack image={image} |"))),
                    "the canary's rollback at image={image}: {seen:#?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_decides_but_changes_nothing() {
    let hub = hub(json!({"ml-operator.mojaloop.io/auto-approve": "bugfix"})).await;
    let webhook = Receiver::start().await;
    let report = report(&hub, &["v13.14.0", "v13.14.1"]);
    let done = propose(&hub.client, &report, &[], Utc::now(), true)
        .await
        .unwrap();
    assert_eq!(
        done.created,
        [format!("{NS}/{UPGRADE}")],
        "reports what it would create"
    );
    assert!(
        hub.sim.list(IU_API, "ImageUpgrade", Some(NS)).is_empty(),
        "but creates nothing"
    );

    // An existing, approved upgrade in an open window: a dry run says what it would do, only.
    propose(&hub.client, &report, &[], Utc::now(), false)
        .await
        .unwrap();
    let settings = UpgradeSettings {
        dry_run: true,
        ..UpgradeSettings::default()
    };
    let dry = upgrader(&hub, settings, &webhook);
    let before = upgrade(&hub, UPGRADE);
    for _ in 0..3 {
        let steps = dry.step_each(Utc::now()).await.unwrap();
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(
            steps[0]
                .what
                .starts_with("Approved: approved by policy:annotation=bugfix"),
            "{steps:?}"
        );
    }
    assert_eq!(
        upgrade(&hub, UPGRADE),
        before,
        "the ImageUpgrade is untouched"
    );
    assert_eq!(patches(&hub), 0);
    assert!(
        webhook.delivered().is_empty(),
        "no notices for things that did not happen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_notes_the_next_window_for_each_pending_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("hub.yaml");
    std::fs::write(
        &manifest,
        serde_json::to_string(&deployment(json!({}))).unwrap(),
    )
    .unwrap();
    let tags = dir.path().join("tags.json");
    std::fs::write(&tags, r#"{"mojaloop/central-ledger": ["v13.14.0", "v13.14.1"], "mojaloop/event-sidecar": ["v9.5.0"]}"#).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "upgrades:\n  enabled: true\n  windows: [{name: weekend-nights, schedule: '0 2 * * SAT,SUN', duration: 4h, timeZone: Africa/Nairobi}]\n  defaultWindow: weekend-nights\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(["check", "-f"])
        .arg(&manifest)
        .arg("--tags")
        .arg(&tags)
        .arg("--config")
        .arg(&config)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(
        notes[0].contains(&format!(
            "ImageUpgrade {UPGRADE} (mojaloop/central-ledger v13.14.0 → v13.14.1: 1 workload in hub)"
        )),
        "{stderr}"
    );
    assert!(
        notes[0].contains("window weekend-nights") && notes[0].contains("(Africa/Nairobi)"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout stays pure JSON");
    // Two containers (the app and its migration), one workload, one group, one note.
    assert_eq!(report["summary"]["updates"], 2);
}
