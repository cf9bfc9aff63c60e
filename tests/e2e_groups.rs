//! Upgrade groups on the real control plane, on the hub shape Mojaloop's charts render: three
//! Deployments on `mojaloop/central-ledger:v19.8.3`, each with a `run-migration` init container
//! on the same image and an `event-sidecar` on another repository.
//!
//! - `check -o commands` prints one command per workload, changing the init container, the app
//!   and the sidecar together; the real kubectl applies them, one rollout each.
//! - The operator proposes exactly two ImageUpgrades (central-ledger, event-sidecar); one
//!   approval rolls the central-ledger group out, one patch per workload, the canary first, and
//!   no ReplicaSet ever runs the migration and the app on different tags.
//! - When the second workload's rollout fails, `onFailure: rollbackGroup` restores the canary
//!   too, `rollbackFailed` only the failed one; the third is never touched.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use serde_json::{Value, json};

const FROM: &str = "mojaloop/central-ledger:v19.8.3";
const TO: &str = "mojaloop/central-ledger:v19.8.9";
const SIDECAR_FROM: &str = "mojaloop/event-sidecar:v14.2.0";
const SIDECAR_TO: &str = "mojaloop/event-sidecar:v14.2.3";
const LIMIT: Duration = Duration::from_secs(120);
/// The Deployments, in the order a group applies them (by name): the first is the canary.
const LEDGERS: [&str; 3] = [
    "moja-centralledger-handler-admin-transfer",
    "moja-centralledger-handler-transfer-fulfil",
    "moja-centralledger-service",
];

const TAGS: &[(&str, &[&str])] = &[
    (
        "mojaloop/central-ledger",
        &["v19.8.3", "v19.8.5", "v19.8.9"],
    ),
    ("mojaloop/event-sidecar", &["v14.2.0", "v14.2.3"]),
];

/// A central-ledger Deployment as Mojaloop's chart renders it: the app and its migration init
/// container on one image, an event sidecar. `fail` lists images the fake nodes cannot pull.
fn ledger(name: &str, fail: &[&str]) -> Value {
    let annotations = if fail.is_empty() {
        json!({})
    } else {
        json!({"fake-node.ml-operator.test/fail-images": fail.join(",")})
    };
    let mut d = deployment(
        name,
        1,
        pod_template(
            name,
            &[
                container("central-ledger", FROM),
                container("event-sidecar", SIDECAR_FROM),
            ],
            &[container("run-migration", FROM)],
            annotations,
        ),
    );
    d["spec"]["progressDeadlineSeconds"] = json!(if fail.is_empty() { 600 } else { 5 });
    d
}

/// The namespace with the three Deployments rolled out, the registry and the config file.
struct Hub<'a> {
    cp: &'a ControlPlane,
    ns: Namespace<'a>,
    registry: ml_operator_testkit::registry::RegistryProc,
    webhook: Receiver,
    dir: tempfile::TempDir,
}

impl<'a> Hub<'a> {
    async fn new(cp: &'a ControlPlane, prefix: &str, failing: Option<&str>) -> Hub<'a> {
        install_crd(cp);
        let ns = cp.namespace(prefix);
        let workloads: Vec<Value> = LEDGERS
            .iter()
            .map(|&n| ledger(n, if Some(n) == failing { &[TO] } else { &[] }))
            .collect();
        ns.apply(&list(&workloads));
        for n in LEDGERS {
            ns.ok(&[
                "rollout",
                "status",
                &format!("deployment/{n}"),
                "--timeout=120s",
            ]);
        }
        Hub {
            cp,
            ns,
            registry: registry_with(TAGS).await,
            webhook: Receiver::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn generation(&self, deployment: &str) -> i64 {
        self.ns.get_json(&["deployment", deployment])["metadata"]["generation"]
            .as_i64()
            .unwrap()
    }

    fn generations(&self) -> Vec<i64> {
        LEDGERS.iter().map(|d| self.generation(d)).collect()
    }

    /// (init container, app, sidecar) images of a Deployment.
    fn images(&self, deployment: &str) -> (String, String, String) {
        let d = self.ns.get_json(&["deployment", deployment]);
        (
            image_of(&d, "run-migration"),
            image_of(&d, "central-ledger"),
            image_of(&d, "event-sidecar"),
        )
    }

    async fn operator(&self, upgrades: &str) -> Operator {
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
            name: "replica-a",
            namespace: self.ns.name(),
            kubeconfig: self.cp.kubeconfig(),
            config: &config,
            dir: self.dir.path(),
            env: vec![],
            args: vec![],
        })
        .await
    }

    /// Every ReplicaSet of the central-ledger Deployments ran the migration and the app on
    /// one tag: no pod template ever had them apart.
    fn assert_no_template_split_migration_and_app(&self) {
        let sets = self.ns.get_json(&["replicasets"]);
        let sets = sets["items"].as_array().unwrap();
        assert!(sets.len() >= LEDGERS.len(), "{sets:#?}");
        for rs in sets {
            assert_eq!(
                image_of(rs, "run-migration"),
                image_of(rs, "central-ledger"),
                "ReplicaSet {}",
                name(rs)
            );
        }
    }

    /// Approves the central-ledger group with `ml-operator approve` and waits for `phase`.
    fn approve_ledger_and_wait(&self, operator: &Operator, phase_wanted: &str) -> Value {
        let group = wait_upgrade_phase(
            &self.ns,
            LEDGERS[0],
            "central-ledger",
            TO,
            "Available",
            LIMIT,
            || operator.log(),
        );
        ml_operator_ok(&[
            "approve",
            name(&group),
            "-n",
            self.ns.name(),
            "--by",
            "alice",
            "--kubeconfig",
            self.cp.kubeconfig().to_str().unwrap(),
        ]);
        wait_upgrade_phase(
            &self.ns,
            LEDGERS[0],
            "central-ledger",
            TO,
            phase_wanted,
            LIMIT,
            || operator.log(),
        )
    }
}

/// A workload's state in a group's apply.
fn state<'u>(upgrade: &'u Value, workload: &str) -> &'u str {
    workload_rollout(upgrade, workload)["state"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_one_command_per_workload_changing_migration_app_and_sidecar_together() {
    let Some(cp) = fake_node_cluster_or_skip("one command per workload") else {
        return;
    };
    let hub = Hub::new(cp, "e2e-groups-check", None).await;
    let config = hub.dir.path().join("config.yaml");
    std::fs::write(&config, mirror_config(&hub.registry)).unwrap();
    let kubeconfig = cp.kubeconfig();
    let args = [
        "check",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        hub.ns.name(),
        "--config",
        config.to_str().unwrap(),
    ];

    let report = check_json(kubeconfig, &args[3..]);
    let patches = report["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 3, "{patches:#?}");
    for (patch, deployment) in patches.iter().zip(LEDGERS) {
        assert_eq!(patch["name"], deployment, "{patch}");
        let containers: Vec<(&str, bool, &str)> = patch["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap(),
                    c["initContainer"].as_bool().unwrap(),
                    c["latestImage"].as_str().unwrap(),
                )
            })
            .collect();
        let mut containers = containers;
        containers.sort();
        assert_eq!(
            containers,
            [
                ("central-ledger", false, TO),
                ("event-sidecar", false, SIDECAR_TO),
                ("run-migration", true, TO)
            ],
            "{patch}"
        );
    }
    // JSON keeps one finding per container, each with its workload's command.
    let updates: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "update-available")
        .collect();
    assert_eq!(updates.len(), 9);
    for finding in updates {
        let patch = patches
            .iter()
            .find(|p| p["name"] == finding["name"])
            .unwrap();
        assert_eq!(finding["command"], patch["command"], "{finding}");
    }

    let commands = ml_operator_ok(&[&args[..], &["-o", "commands"]].concat());
    assert_eq!(commands.lines().count(), 3, "{commands}");
    let before = hub.generations();
    let ran = sh(&commands, kubeconfig);
    assert!(ran.status.success(), "{commands}\n{}", text(&ran));
    let after = hub.generations();
    for (i, deployment) in LEDGERS.iter().enumerate() {
        assert_eq!(after[i], before[i] + 1, "{deployment}: one rollout");
        assert_eq!(
            hub.images(deployment),
            (TO.to_string(), TO.to_string(), SIDECAR_TO.to_string()),
            "{deployment}"
        );
        hub.ns.ok(&[
            "rollout",
            "status",
            &format!("deployment/{deployment}"),
            "--timeout=120s",
        ]);
    }
    hub.assert_no_template_split_migration_and_app();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_approval_rolls_the_group_out_one_patch_per_workload_canary_first() {
    let Some(cp) = fake_node_cluster_or_skip("a group rolls out") else {
        return;
    };
    let hub = Hub::new(cp, "e2e-groups-ok", None).await;
    let before = hub.generations();
    let operator = hub
        .operator("upgrades: {enabled: true, interval: 200ms, rolloutTimeout: 2m}\n")
        .await;

    // Exactly two proposals: one per repository and target, each covering the three workloads.
    let sidecar = wait_upgrade_phase(
        &hub.ns,
        LEDGERS[0],
        "event-sidecar",
        SIDECAR_TO,
        "Available",
        LIMIT,
        || operator.log(),
    );
    operator.wait_for_scans(2.0).await;
    let all = image_upgrades(&hub.ns);
    let mut names: Vec<&str> = all.iter().map(name).collect();
    names.sort();
    assert_eq!(
        names,
        ["central-ledger-v19.8.9", "event-sidecar-v14.2.3"],
        "{all:#?}"
    );
    assert_eq!(sidecar["spec"]["workloadCount"], 3);
    let ledger = all
        .iter()
        .find(|u| name(u) == "central-ledger-v19.8.9")
        .unwrap();
    let targets: Vec<&str> = ledger["spec"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(targets, LEDGERS, "applied by name, the first is the canary");
    for deployment in LEDGERS {
        let init = target_container(ledger, deployment, "run-migration").unwrap();
        assert_eq!(init["initContainer"], true);
        assert_eq!(init["targetImage"], TO);
        assert!(target_container(ledger, deployment, "event-sidecar").is_none());
    }
    let table = hub.ns.ok(&["get", "imageupgrades"]);
    assert!(
        table.lines().any(|l| {
            let row: Vec<&str> = l.split_whitespace().collect();
            row.get(..6)
                == Some(&[
                    "central-ledger-v19.8.9",
                    "mojaloop/central-ledger",
                    "v19.8.3",
                    "v19.8.9",
                    "3",
                    "Available",
                ])
        }),
        "{table}"
    );

    // One approval; the group rolls out.
    let done = hub.approve_ledger_and_wait(&operator, "Succeeded");
    assert_eq!(done["status"]["approval"]["by"], "alice", "{done:#}");
    let after = hub.generations();
    for (i, deployment) in LEDGERS.iter().enumerate() {
        assert_eq!(state(&done, deployment), "Succeeded", "{done:#}");
        assert_eq!(after[i], before[i] + 1, "{deployment}: one patch");
        assert_eq!(
            hub.images(deployment),
            (TO.to_string(), TO.to_string(), SIDECAR_FROM.to_string()),
            "{deployment}: the sidecar's own group is not approved"
        );
    }
    hub.assert_no_template_split_migration_and_app();
    // The canary rolled out before the next workload was patched.
    let rollouts = done["status"]["rollout"]["workloads"].as_array().unwrap();
    let canary_done = done["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .position(|h| h["message"] == format!("Deployment {} rolled out", LEDGERS[0]))
        .unwrap_or_else(|| panic!("{:#}", done["status"]["history"]));
    let second_started = done["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .position(|h| {
            h["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("patched Deployment {}", LEDGERS[1]))
        })
        .unwrap();
    assert!(canary_done < second_started, "{rollouts:#?}");

    // Told once, as a group with each workload's result.
    let notice = wait_for(
        "the upgrade-succeeded notice",
        LIMIT,
        || {
            hub.webhook
                .received()
                .into_iter()
                .map(|r| r.json())
                .find(|b| b["event"] == "upgrade-succeeded")
        },
        || operator.log(),
    );
    assert_eq!(notice["upgrade"], "central-ledger-v19.8.9", "{notice:#}");
    assert_eq!(notice["repository"], "mojaloop/central-ledger");
    let results: Vec<&str> = notice["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Succeeded"; 3], "{notice:#}");
}

/// The second workload cannot pull v19.8.9: what `onFailure` rolls back.
async fn second_workload_fails(on_failure: &str) {
    let Some(cp) = fake_node_cluster_or_skip("a failing group") else {
        return;
    };
    let hub = Hub::new(
        cp,
        &format!("e2e-groups-{}", on_failure.to_lowercase()),
        Some(LEDGERS[1]),
    )
    .await;
    let before = hub.generations();
    let operator = hub
        .operator(&format!(
            "upgrades: {{enabled: true, interval: 200ms, rolloutTimeout: 2m, onFailure: {on_failure}}}\n"
        ))
        .await;
    let done = hub.approve_ledger_and_wait(&operator, "RolledBack");
    let reason = done["status"]["rollout"]["rollbackReason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains(LEDGERS[1]) && reason.contains("ProgressDeadlineExceeded"),
        "{done:#}"
    );
    assert_eq!(done["status"]["rollout"]["onFailure"], on_failure);
    let after = hub.generations();
    let old = (FROM.to_string(), FROM.to_string(), SIDECAR_FROM.to_string());
    let new = (TO.to_string(), TO.to_string(), SIDECAR_FROM.to_string());

    // The failed one: patched, then patched back.
    assert_eq!(state(&done, LEDGERS[1]), "RolledBack", "{done:#}");
    assert_eq!(hub.images(LEDGERS[1]), old);
    assert_eq!(after[1], before[1] + 2);
    // The canary: back too under rollbackGroup, left on the target under rollbackFailed.
    if on_failure == "rollbackGroup" {
        assert_eq!(state(&done, LEDGERS[0]), "RolledBack", "{done:#}");
        assert_eq!(hub.images(LEDGERS[0]), old);
        assert_eq!(after[0], before[0] + 2);
    } else {
        assert_eq!(state(&done, LEDGERS[0]), "Succeeded", "{done:#}");
        assert_eq!(hub.images(LEDGERS[0]), new);
        assert_eq!(after[0], before[0] + 1);
    }
    // The third: never patched.
    assert_eq!(state(&done, LEDGERS[2]), "Pending", "{done:#}");
    assert_eq!(hub.images(LEDGERS[2]), old);
    assert_eq!(after[2], before[2]);
    hub.assert_no_template_split_migration_and_app();
    for deployment in LEDGERS {
        hub.ns.ok(&[
            "rollout",
            "status",
            &format!("deployment/{deployment}"),
            "--timeout=120s",
        ]);
    }
    let notice = wait_for(
        "the upgrade-rolled-back notice",
        LIMIT,
        || {
            hub.webhook
                .received()
                .into_iter()
                .map(|r| r.json())
                .find(|b| b["event"] == "upgrade-rolled-back")
        },
        || operator.log(),
    );
    assert!(
        notice["rollback"]
            .as_str()
            .unwrap_or_default()
            .contains(LEDGERS[1]),
        "{notice:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_second_workload_rolls_the_whole_group_back_under_rollback_group() {
    second_workload_fails("rollbackGroup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_second_workload_rolls_back_only_itself_under_rollback_failed() {
    second_workload_fails("rollbackFailed").await;
}
