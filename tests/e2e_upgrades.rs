//! Upgrades end to end on the real control plane: `ml-operator run` with `upgrades.enabled`
//! proposes ImageUpgrades, a person approves (the kubectl command from the notice, or
//! `ml-operator approve`) or a policy does, the operator patches the workload, the real
//! kube-controller-manager rolls it out onto the fake nodes, and the operator records
//! `Succeeded` — or, when the fake nodes cannot pull the target image, sees
//! `ProgressDeadlineExceeded` (or its own rollout timeout), patches the previous image back and
//! records `RolledBack`. A newer patch supersedes an approved upgrade; a kill while applying
//! is survived.
//!
//! The target tags are real tags in the real docker-registry (the docker.io mirror). Which
//! image fails on the fake nodes is said by the Pod annotation
//! `fake-node.ml-operator.test/fail-images` (scripts/control-plane): the operator never picks a
//! `fail…` or `does-not-exist` tag, since those are no versions or on another track.
//!
//! The helpers find ImageUpgrades by `spec.target` (workload, container) and `targetImage`,
//! not by name, so grouping ImageUpgrades later only changes `e2e_support::upgrades_of`.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use serde_json::{Value, json};

const FROM: &str = "mojaloop/central-ledger:v13.14.0";
const TO: &str = "mojaloop/central-ledger:v13.14.1";
const LIMIT: Duration = Duration::from_secs(90);

/// central-ledger (two replicas, a sidecar that is up to date), failing to pull `fail_images`.
fn ledger(progress_deadline: u32, min_ready: u32, fail_images: &[&str]) -> Value {
    let annotations = if fail_images.is_empty() {
        json!({})
    } else {
        json!({"fake-node.ml-operator.test/fail-images": fail_images.join(",")})
    };
    let mut d = deployment(
        "central-ledger",
        2,
        pod_template(
            "central-ledger",
            &[
                container("central-ledger", FROM),
                container("sidecar", "mojaloop/event-sidecar:v9.5.0"),
            ],
            &[],
            annotations,
        ),
    );
    d["spec"]["progressDeadlineSeconds"] = json!(progress_deadline);
    d["spec"]["minReadySeconds"] = json!(min_ready);
    d
}

const TAGS: &[(&str, &[&str])] = &[
    ("mojaloop/central-ledger", &["v13.14.0", "v13.14.1"]),
    ("mojaloop/event-sidecar", &["v9.5.0"]),
    (
        "bitnami/mysql",
        &["8.0.32-debian-11-r0", "8.0.32-debian-11-r5"],
    ),
];

/// One test's cluster side: a namespace with the CRD installed and the workloads rolled out,
/// the registry, a webhook receiver, and the operator's configuration.
struct Setup<'a> {
    cp: &'a ControlPlane,
    ns: Namespace<'a>,
    registry: ml_operator_testkit::registry::RegistryProc,
    webhook: Receiver,
    dir: tempfile::TempDir,
}

impl<'a> Setup<'a> {
    async fn new(cp: &'a ControlPlane, prefix: &str, workloads: &[Value]) -> Setup<'a> {
        install_crd(cp);
        let ns = cp.namespace(prefix);
        ns.apply(&list(workloads));
        for w in workloads {
            let kind = w["kind"].as_str().unwrap().to_lowercase();
            ns.ok(&[
                "rollout",
                "status",
                &format!("{kind}/{}", name(w)),
                "--timeout=120s",
            ]);
        }
        Setup {
            cp,
            ns,
            registry: registry_with(TAGS).await,
            webhook: Receiver::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts the operator (admin kubeconfig) with `upgrades` lines added to the config.
    async fn operator(&self, name: &str, upgrades: &str) -> Operator {
        let config = run_config(
            self.dir.path(),
            &[self.ns.name()],
            EVERY_SECOND,
            &format!(
                "{}notify:\n  webhooks:\n    - {{name: ops, webhookUrl: '{}'}}\n{upgrades}",
                mirror_config(&self.registry),
                self.webhook.url("/hook")
            ),
        );
        Operator::start(OperatorSpec {
            name,
            namespace: self.ns.name(),
            kubeconfig: self.cp.kubeconfig(),
            config: &config,
            dir: self.dir.path(),
            env: vec![],
            args: vec![],
        })
        .await
    }

    fn deployment(&self) -> Value {
        self.ns.get_json(&["deployment", "central-ledger"])
    }

    fn upgrade_events(&self) -> Vec<String> {
        self.webhook
            .events()
            .into_iter()
            .filter(|e| e.starts_with("upgrade-"))
            .collect()
    }

    /// The webhook notices `event` about `workload`.
    fn notices(&self, event: &str, workload: &str) -> Vec<Value> {
        self.webhook
            .received()
            .into_iter()
            .map(|r| r.json())
            .filter(|b| b["event"] == event && b["name"] == workload)
            .collect()
    }

    /// Waits for the webhook notice `event` about `workload`.
    async fn wait_notice(&self, event: &str, workload: &str, operator: &Operator) -> Value {
        eventually_or(
            &format!("the {event} notice about {workload}"),
            LIMIT,
            async || !self.notices(event, workload).is_empty(),
            || operator.log(),
        )
        .await;
        self.notices(event, workload).remove(0)
    }
}

/// The ReplicaSet of the Deployment running `image`, with its ready replicas.
fn replica_set_with(ns: &Namespace<'_>, image: &str) -> Option<Value> {
    ns.get_json(&["replicasets", "-l", "app=central-ledger"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rs| image_of(rs, "central-ledger") == image)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approved_with_the_kubectl_command_from_the_notice_it_rolls_out_and_succeeds() {
    let Some(cp) = fake_node_cluster_or_skip("an approved upgrade rolls out") else {
        return;
    };
    let mut mysql = statefulset(
        "mysql",
        1,
        pod_template(
            "mysql",
            &[container("mysql", "bitnami/mysql:8.0.32-debian-11-r0")],
            &[],
            json!({}),
        ),
    );
    mysql["metadata"]["annotations"] = json!({"ml-operator.mojaloop.io/auto-approve": "true"});
    let setup = Setup::new(cp, "e2e-upgrade", &[ledger(600, 0, &[]), mysql]).await;
    let ns = &setup.ns;
    let generation = setup.deployment()["metadata"]["generation"]
        .as_i64()
        .unwrap();
    let operator = setup
        .operator(
            "replica-a",
            "upgrades: {enabled: true, interval: 200ms, rolloutTimeout: 2m}\n",
        )
        .await;
    let log = || operator.log();

    let proposed = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Available",
        LIMIT,
        log,
    );
    assert_eq!(proposed["spec"]["currentImage"], FROM);
    assert_eq!(proposed["spec"]["target"]["kind"], "Deployment");
    assert_eq!(proposed["spec"]["level"], "bugfix");
    assert!(
        upgrades_of(ns, "central-ledger", "sidecar").is_empty(),
        "the sidecar is up to date"
    );
    let notice = setup
        .wait_notice("upgrade-proposed", "central-ledger", &operator)
        .await;
    let commands: Vec<&str> = notice["approveCommands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let kubectl = commands
        .iter()
        .find(|c| c.starts_with("kubectl patch imageupgrade "))
        .unwrap_or_else(|| panic!("{notice:#}"));
    assert!(
        kubectl.ends_with(r#"--type merge -p '{"spec":{"approved":true}}'"#),
        "{kubectl}"
    );

    // The kubectl command from the notice, as a person pastes it.
    let output = sh(kubectl, cp.kubeconfig());
    assert!(output.status.success(), "{kubectl}: {}", text(&output));
    let done = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Succeeded",
        LIMIT,
        log,
    );
    assert_eq!(done["status"]["approval"]["how"], "kubectl", "{done:#}");
    assert_eq!(done["status"]["rollout"]["previousImage"], FROM);
    let phases = history(&done);
    assert_eq!(
        phases.first().map(String::as_str),
        Some("Available"),
        "{phases:?}"
    );
    for phase in ["Approved", "Applying", "Succeeded"] {
        assert!(phases.iter().any(|p| p == phase), "{phases:?}");
    }

    // A real rollout: one patch (generation + 1) of that one container by the field manager
    // ml-operator, the new ReplicaSet's Pods Ready, the old one scaled down.
    let d = setup.deployment();
    assert_eq!(image_of(&d, "central-ledger"), TO);
    assert_eq!(image_of(&d, "sidecar"), "mojaloop/event-sidecar:v9.5.0");
    assert_eq!(
        d["metadata"]["generation"].as_i64().unwrap(),
        generation + 1
    );
    assert_eq!(done["status"]["rollout"]["generation"], generation + 1);
    assert!(deployment_rolled_out(&d), "{:#}", d["status"]);
    let managed = ns.get_json(&["deployment", "central-ledger", "--show-managed-fields"]);
    let managers = &managed["metadata"]["managedFields"];
    assert!(
        managers
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "ml-operator" && m["operation"] == "Update"),
        "{managers:#}"
    );
    let new = replica_set_with(ns, TO).expect("a ReplicaSet for the new image");
    assert_eq!(new["status"]["readyReplicas"], 2, "{new:#}");
    let old = replica_set_with(ns, FROM).expect("the old ReplicaSet");
    assert_eq!(old["spec"]["replicas"], 0, "{old:#}");
    let pods = ns.get_json(&["pods", "-l", "app=central-ledger"]);
    let running_new = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            image_of(p, "central-ledger") == TO
                && condition(p, "Ready").is_some_and(|c| c["status"] == "True")
        })
        .count();
    assert_eq!(running_new, 2, "{pods:#}");

    // Told once, by webhook and by an Event on the Deployment.
    let notice = setup
        .wait_notice("upgrade-succeeded", "central-ledger", &operator)
        .await;
    assert_eq!(notice["toImage"], TO, "{notice:#}");
    wait_for(
        "the UpgradeSucceeded Event",
        LIMIT,
        || (!events(ns, "UpgradeSucceeded", "central-ledger").is_empty()).then_some(()),
        log,
    );

    // The StatefulSet, approved by its annotation (`true`: any level), rolls out too.
    let mysql = wait_upgrade_phase(
        ns,
        "mysql",
        "mysql",
        "bitnami/mysql:8.0.32-debian-11-r5",
        "Succeeded",
        LIMIT,
        log,
    );
    assert_eq!(
        mysql["status"]["approval"]["how"], "policy:annotation=major",
        "{mysql:#}"
    );
    let sts = ns.get_json(&["statefulset", "mysql"]);
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    assert_eq!(image_of(&sts, "mysql"), "bitnami/mysql:8.0.32-debian-11-r5");

    operator.wait_for_scans(2.0).await;
    let succeeded = setup
        .upgrade_events()
        .iter()
        .filter(|e| *e == "upgrade-succeeded")
        .count();
    assert_eq!(succeeded, 2, "{:?}", setup.upgrade_events());
    assert_eq!(events(ns, "UpgradeSucceeded", "central-ledger").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approved_with_ml_operator_a_rollout_that_exceeds_its_deadline_is_rolled_back() {
    let Some(cp) = fake_node_cluster_or_skip("a failed rollout is rolled back") else {
        return;
    };
    // The fake nodes cannot pull v13.14.1 (a real tag in the registry).
    let setup = Setup::new(cp, "e2e-rollback", &[ledger(4, 0, &[TO])]).await;
    let ns = &setup.ns;
    let operator = setup
        .operator(
            "replica-a",
            "upgrades: {enabled: true, interval: 200ms, rolloutTimeout: 2m}\n",
        )
        .await;
    let log = || operator.log();
    let proposed = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Available",
        LIMIT,
        log,
    );

    ml_operator_ok(&[
        "approve",
        name(&proposed),
        "-n",
        ns.name(),
        "--by",
        "alice",
        "--kubeconfig",
        cp.kubeconfig().to_str().unwrap(),
    ]);
    let done = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "RolledBack",
        LIMIT,
        log,
    );
    assert_eq!(done["status"]["approval"]["by"], "alice", "{done:#}");
    assert_eq!(done["status"]["approval"]["how"], "cli", "{done:#}");
    let message = done["status"]["message"].as_str().unwrap();
    assert!(message.contains("ProgressDeadlineExceeded"), "{message}");
    let reason = done["status"]["rollout"]["rollbackReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("ProgressDeadlineExceeded"), "{reason}");

    // The previous image is back and the Deployment recovers on it; the stuck Pods go.
    let d = setup.deployment();
    assert_eq!(image_of(&d, "central-ledger"), FROM);
    ns.ok(&[
        "rollout",
        "status",
        "deployment/central-ledger",
        "--timeout=120s",
    ]);
    let d = setup.deployment();
    assert_eq!(
        condition(&d, "Progressing").unwrap()["reason"],
        "NewReplicaSetAvailable",
        "{:#}",
        d["status"]
    );
    assert_eq!(replica_set_with(ns, TO).unwrap()["spec"]["replicas"], 0);

    let notice = setup
        .wait_notice("upgrade-rolled-back", "central-ledger", &operator)
        .await;
    assert!(
        notice["message"]
            .as_str()
            .unwrap()
            .contains("ProgressDeadlineExceeded"),
        "{notice:#}"
    );
    wait_for(
        "the UpgradeRolledBack Event",
        LIMIT,
        || {
            events(ns, "UpgradeRolledBack", "central-ledger")
                .first()
                .cloned()
        },
        log,
    );
    let warning = &events(ns, "UpgradeRolledBack", "central-ledger")[0];
    assert_eq!(warning["type"], "Warning", "{warning:#}");
    // It stays rolled back: the same upgrade is not proposed again, nothing is patched again.
    operator.wait_for_scans(3.0).await;
    assert_eq!(upgrades_of(ns, "central-ledger", "central-ledger").len(), 1);
    assert_eq!(image_of(&setup.deployment(), "central-ledger"), FROM);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_approved_a_rollout_past_the_rollout_timeout_is_rolled_back() {
    let Some(cp) = fake_node_cluster_or_skip("a rollout timeout") else {
        return;
    };
    // The Deployment's own deadline is far away: the operator's rolloutTimeout decides.
    let setup = Setup::new(cp, "e2e-timeout", &[ledger(600, 0, &[TO])]).await;
    let ns = &setup.ns;
    let operator = setup
        .operator(
            "replica-a",
            "upgrades: {enabled: true, autoApprove: bugfix, interval: 200ms, rolloutTimeout: 3s}\n",
        )
        .await;
    let log = || operator.log();
    let done = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "RolledBack",
        LIMIT,
        log,
    );
    assert_eq!(
        done["status"]["approval"]["how"], "policy:autoApprove=bugfix",
        "{done:#}"
    );
    let reason = done["status"]["rollout"]["rollbackReason"]
        .as_str()
        .unwrap();
    assert!(!reason.contains("ProgressDeadlineExceeded"), "{reason}");
    assert!(reason.contains("3s"), "names the timeout: {reason}");
    assert_eq!(image_of(&setup.deployment(), "central-ledger"), FROM);
    ns.ok(&[
        "rollout",
        "status",
        "deployment/central-ledger",
        "--timeout=120s",
    ]);
    assert!(
        !setup
            .upgrade_events()
            .iter()
            .any(|e| e == "upgrade-proposed"),
        "auto-approved: no request for approval: {:?}",
        setup.upgrade_events()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_patch_supersedes_an_approved_upgrade_and_a_kill_while_applying_is_survived() {
    let Some(cp) = fake_node_cluster_or_skip("superseding and a kill") else {
        return;
    };
    const NEWER: &str = "mojaloop/central-ledger:v13.14.2";
    // minReadySeconds keeps the rollout (and so the Applying phase) going for a few seconds.
    let setup = Setup::new(cp, "e2e-supersede", &[ledger(600, 4, &[])]).await;
    let ns = &setup.ns;
    let upgrades = "upgrades:
  enabled: true
  interval: 200ms
  windows:
    - {name: rarely, schedule: '0 3 1 1 *', duration: 1m, timeZone: UTC}
    - {name: always, schedule: '* * * * *', duration: 1h, timeZone: UTC}
  defaultWindow: rarely
";
    let mut operator = setup.operator("replica-a", upgrades).await;
    let proposed = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Available",
        LIMIT,
        || operator.log(),
    );
    ns.ok(&[
        "patch",
        "imageupgrade",
        name(&proposed),
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"approved":true}}"#,
    ]);
    let scheduled = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Scheduled",
        LIMIT,
        || operator.log(),
    );
    assert_eq!(
        scheduled["status"]["window"]["name"], "rarely",
        "{scheduled:#}"
    );

    // v13.14.2 appears before the window opens.
    setup
        .registry
        .push("mojaloop/central-ledger", &["v13.14.2".to_string()], false)
        .await;
    let newer = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        NEWER,
        "Available",
        LIMIT,
        || operator.log(),
    );
    let old = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Superseded",
        LIMIT,
        || operator.log(),
    );
    assert_eq!(old["status"]["supersededBy"], name(&newer), "{old:#}");
    assert_eq!(
        newer["spec"]["approved"], false,
        "the approval does not carry over"
    );
    assert_eq!(image_of(&setup.deployment(), "central-ledger"), FROM);

    // Any time for this workload now; approve the new one, and kill the operator mid-rollout.
    ns.ok(&[
        "annotate",
        "deployment",
        "central-ledger",
        "ml-operator.mojaloop.io/window=always",
    ]);
    let generation = setup.deployment()["metadata"]["generation"]
        .as_i64()
        .unwrap();
    ml_operator_ok(&[
        "approve",
        name(&newer),
        "-n",
        ns.name(),
        "--kubeconfig",
        cp.kubeconfig().to_str().unwrap(),
    ]);
    let applying = wait_for(
        "the new upgrade to be patched and watched",
        LIMIT,
        || {
            upgrade_to(ns, "central-ledger", "central-ledger", NEWER).filter(|u| {
                phase(u) == "Applying" && u["status"]["rollout"]["patchedAt"].is_string()
            })
        },
        || operator.log(),
    );
    operator.kill().await;
    assert!(
        !deployment_rolled_out(&setup.deployment()),
        "killed mid-rollout"
    );
    assert_eq!(applying["status"]["rollout"]["previousImage"], FROM);

    let restarted = setup.operator("replica-b", upgrades).await;
    let done = wait_upgrade_phase(
        ns,
        "central-ledger",
        "central-ledger",
        NEWER,
        "Succeeded",
        LIMIT,
        || restarted.log(),
    );
    let d = setup.deployment();
    assert_eq!(image_of(&d, "central-ledger"), NEWER);
    assert_eq!(
        d["metadata"]["generation"].as_i64().unwrap(),
        generation + 1,
        "one patch across the kill"
    );
    let patched = done["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("patched to")
        })
        .count();
    assert_eq!(patched, 1, "{:#}", done["status"]["history"]);
    assert!(deployment_rolled_out(&d));
    restarted.wait_for_scans(2.0).await;
    let succeeded = setup
        .upgrade_events()
        .iter()
        .filter(|e| *e == "upgrade-succeeded")
        .count();
    assert_eq!(succeeded, 1, "{:?}", setup.upgrade_events());
}

/// Found on the real control plane (kube-sim used to hide it): a StatefulSet whose rollout to
/// the target image failed is patched back and recorded `RolledBack`, but the real StatefulSet
/// controller (`OrderedReady`) never replaces the Pod stuck on the target image — Kubernetes'
/// "forced rollback" needs a person to delete it. This pins down what a Hub sees today.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statefulset_rolled_back_keeps_its_stuck_pod_until_someone_deletes_it() {
    let Some(cp) = fake_node_cluster_or_skip("a StatefulSet rollback") else {
        return;
    };
    const MYSQL_FROM: &str = "bitnami/mysql:8.0.32-debian-11-r0";
    const MYSQL_TO: &str = "bitnami/mysql:8.0.32-debian-11-r5";
    let mysql = statefulset(
        "mysql",
        2,
        pod_template(
            "mysql",
            &[container("mysql", MYSQL_FROM)],
            &[],
            json!({"fake-node.ml-operator.test/fail-images": MYSQL_TO}),
        ),
    );
    let setup = Setup::new(cp, "e2e-sts-rollback", &[mysql]).await;
    let ns = &setup.ns;
    let operator = setup
        .operator(
            "replica-a",
            "upgrades: {enabled: true, autoApprove: patch, interval: 200ms, rolloutTimeout: 3s}\n",
        )
        .await;
    let done = wait_upgrade_phase(ns, "mysql", "mysql", MYSQL_TO, "RolledBack", LIMIT, || {
        operator.log()
    });
    let reason = done["status"]["rollout"]["rollbackReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("3s"), "{reason}");
    let sts = ns.get_json(&["statefulset", "mysql"]);
    assert_eq!(image_of(&sts, "mysql"), MYSQL_FROM, "the template is back");

    // The Pod the failed rollout replaced stays on the target image, not Ready.
    let stuck = |ns: &Namespace<'_>| {
        let pod = ns.get_json(&["pod", "mysql-1"]);
        (
            image_of(&pod, "mysql"),
            condition(&pod, "Ready").is_some_and(|c| c["status"] == "True"),
        )
    };
    wait_for(
        "the StatefulSet controller to settle on the old revision",
        LIMIT,
        || {
            let s = ns.get_json(&["statefulset", "mysql"]);
            (s["status"]["observedGeneration"] == s["metadata"]["generation"]
                && s["status"]["updateRevision"] == s["status"]["currentRevision"])
                .then_some(())
        },
        || operator.log(),
    );
    assert_eq!(stuck(ns), (MYSQL_TO.to_string(), false));
    let sts = ns.get_json(&["statefulset", "mysql"]);
    assert_eq!(sts["status"]["readyReplicas"], 1, "{:#}", sts["status"]);
    assert_eq!(
        image_of(&ns.get_json(&["pod", "mysql-0"]), "mysql"),
        MYSQL_FROM
    );

    // Deleting that Pod (what Kubernetes documents) recovers the StatefulSet.
    ns.ok(&["delete", "pod", "mysql-1", "--wait=false"]);
    ns.ok(&["rollout", "status", "statefulset/mysql", "--timeout=120s"]);
    assert_eq!(stuck(ns), (MYSQL_FROM.to_string(), true));
}
