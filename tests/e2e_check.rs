//! `ml-operator check` on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`): the loop a Hub
//! operator runs — check, run every printed `kubectl patch` with the real kubectl, check again —
//! on Deployments, StatefulSets, DaemonSets and CronJobs, with tags from the real docker-registry
//! as a docker.io mirror; the example hub loaded into the cluster giving the findings of its
//! manifests; live annotations and filters; RBAC-forbidden namespaces; image pull secrets.
//!
//! Each test works in namespaces of its own; without `ML_OPERATOR_E2E_KUBECONFIG` each says
//! `skipped: …` and passes.

mod e2e_support;

use std::collections::BTreeMap;

use e2e_support::*;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};

/// The tags of the docker.io repositories the workloads below use, as the mirror serves them.
const TAGS: &[(&str, &[&str])] = &[
    (
        "mojaloop/central-ledger",
        &["v13.14.0", "v13.14.1", "v13.15.0"],
    ),
    ("mojaloop/event-sidecar", &["v9.5.0", "v9.5.1", "v10.0.0"]),
    (
        "mojaloop/account-lookup-service",
        &["v10.3.1", "v10.3.4", "v10.3.5-snapshot.1", "v11.0.0"],
    ),
    ("mojaloop/ml-api-adapter", &["v14.0.0", "v13.0.0"]),
    (
        "mojaloop/event-stream-processor",
        &["v11.0.0", "v11.0.2", "v12.0.0"],
    ),
    ("mojaloop/central-settlement", &["v15.0.0", "v15.0.1"]),
    (
        "bitnami/mysql",
        &[
            "8.0.32-debian-11-r0",
            "8.0.32-debian-11-r5",
            "8.0.33-debian-11-r1",
            "8.0.33",
        ],
    ),
    // Official images live under library/ in a registry.
    ("library/busybox", &["1.36.0", "1.36.1", "1.37.0"]),
];

/// One of each workload kind, most on old tags; ml-api-adapter is up to date.
fn workloads() -> Vec<Value> {
    let t = |name: &str, containers: &[Value], init: &[Value]| {
        pod_template(name, containers, init, json!({}))
    };
    vec![
        deployment(
            "central-ledger",
            1,
            t(
                "central-ledger",
                &[
                    container("central-ledger", "mojaloop/central-ledger:v13.14.0"),
                    container("sidecar", "docker.io/mojaloop/event-sidecar:v9.5.0"),
                ],
                &[container("wait-for-kafka", "busybox:1.36.0")],
            ),
        ),
        deployment(
            "account-lookup-service",
            2,
            t(
                "account-lookup-service",
                &[container(
                    "account-lookup-service",
                    "mojaloop/account-lookup-service:v10.3.1",
                )],
                &[],
            ),
        ),
        deployment(
            "ml-api-adapter",
            1,
            t(
                "ml-api-adapter",
                &[container(
                    "ml-api-adapter",
                    "mojaloop/ml-api-adapter:v14.0.0",
                )],
                &[],
            ),
        ),
        statefulset(
            "mysql",
            1,
            t(
                "mysql",
                &[container("mysql", "bitnami/mysql:8.0.32-debian-11-r0")],
                &[],
            ),
        ),
        daemonset(
            "event-stream-processor",
            t(
                "event-stream-processor",
                &[container(
                    "event-stream-processor",
                    "mojaloop/event-stream-processor:v11.0.0",
                )],
                &[],
            ),
        ),
        cronjob(
            "settlement-close",
            t(
                "settlement-close",
                &[container(
                    "settlement-close",
                    "mojaloop/central-settlement:v15.0.0",
                )],
                &[],
            ),
        ),
    ]
}

/// (kind, name) → the live object.
fn live(ns: &Namespace<'_>) -> BTreeMap<(String, String), Value> {
    let mut objects = BTreeMap::new();
    for kind in ["deployments", "statefulsets", "daemonsets", "cronjobs"] {
        for object in ns.get_json(&[kind])["items"].as_array().unwrap() {
            let kind = match kind {
                "deployments" => "Deployment",
                "statefulsets" => "StatefulSet",
                "daemonsets" => "DaemonSet",
                _ => "CronJob",
            };
            objects.insert((kind.to_string(), name(object).to_string()), object.clone());
        }
    }
    objects
}

fn updates(report: &Value) -> Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "update-available")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_then_kubectl_runs_every_printed_command_then_everything_is_up_to_date() {
    let Some(cp) = ControlPlane::shared_or_skip("the check loop on a cluster") else {
        return;
    };
    let ns = cp.namespace("e2e-check");
    ns.apply(&list(&workloads()));
    let registry = registry_with(TAGS).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, mirror_config(&registry)).unwrap();
    let config = config.to_str().unwrap();
    let kubeconfig = cp.kubeconfig();
    let scope = ["-n", ns.name(), "--config", config];

    let before = check_json(kubeconfig, &scope);
    let expected: BTreeMap<(String, String), &str> = [
        (("central-ledger", "central-ledger"), "v13.14.1"),
        (("central-ledger", "sidecar"), "v9.5.1"),
        (("central-ledger", "wait-for-kafka"), "1.36.1"),
        (
            ("account-lookup-service", "account-lookup-service"),
            "v10.3.4",
        ),
        (("mysql", "mysql"), "8.0.33-debian-11-r1"),
        (
            ("event-stream-processor", "event-stream-processor"),
            "v11.0.2",
        ),
        (("settlement-close", "settlement-close"), "v15.0.1"),
    ]
    .into_iter()
    .map(|((w, c), t)| ((w.to_string(), c.to_string()), t))
    .collect();
    let found_updates = updates(&before);
    let found: BTreeMap<(String, String), &str> = found_updates
        .iter()
        .map(|f| {
            (
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["container"].as_str().unwrap().to_string(),
                ),
                f["latestTag"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, expected, "{before:#}");
    assert_eq!(before["summary"]["workloads"], 6, "{}", before["summary"]);
    assert_eq!(before["summary"]["upToDate"], 1, "{}", before["summary"]);
    // The registry was really asked: every latest tag is one it holds.
    assert!(
        before["warnings"].as_array().unwrap().is_empty(),
        "{before:#}"
    );

    // --fail-on-update says so with exit code 3.
    let output = ml_operator(&[
        "check",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        ns.name(),
        "--config",
        config,
        "--fail-on-update",
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));

    // The printed commands, piped to sh as a person would, with the real kubectl.
    let objects_before = live(&ns);
    let commands = ml_operator_ok(&[
        "check",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        ns.name(),
        "--config",
        config,
        "-o",
        "commands",
    ]);
    // One command per workload with an update (central-ledger's app, sidecar and init
    // container in one patch), and the JSON's `patches` say the same.
    let workloads_to_patch: std::collections::BTreeSet<&String> =
        expected.keys().map(|(workload, _)| workload).collect();
    assert_eq!(
        commands.lines().count(),
        workloads_to_patch.len(),
        "{commands}"
    );
    let patches = before["patches"].as_array().unwrap();
    assert_eq!(patches.len(), workloads_to_patch.len(), "{patches:#?}");
    let ledger = patches
        .iter()
        .find(|p| p["name"] == "central-ledger")
        .unwrap();
    assert_eq!(
        ledger["containers"].as_array().unwrap().len(),
        3,
        "{ledger}"
    );
    let printed: Vec<&str> = commands.lines().collect();
    for patch in patches {
        assert!(
            printed.contains(&patch["command"].as_str().unwrap()),
            "{patch} among {commands}"
        );
    }
    let ran = sh(&commands, kubeconfig);
    assert!(ran.status.success(), "{commands}\n{}", text(&ran));
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).lines().count(),
        workloads_to_patch.len(),
        "one `patched` line per command: {}",
        text(&ran)
    );

    let objects_after = live(&ns);
    for (key, old) in &objects_before {
        let new = &objects_after[key];
        let (kind, workload) = key;
        // Exactly the containers with an update changed, to exactly the latest image.
        let wanted: Vec<(String, String, String)> = images_of(old)
            .into_iter()
            .map(|(list, container, image)| {
                match expected.get(&(workload.clone(), container.clone())) {
                    Some(tag) => {
                        let repository = image.rsplit_once(':').unwrap().0;
                        (list, container, format!("{repository}:{tag}"))
                    }
                    None => (list, container, image),
                }
            })
            .collect();
        assert_eq!(images_of(new), wanted, "{kind} {workload}");
        // One patch per command: the generation went up by exactly that many.
        let patched = commands
            .lines()
            .filter(|c| {
                c.starts_with(&format!(
                    "kubectl patch {} {workload} ",
                    kind.to_lowercase()
                ))
            })
            .count() as i64;
        let generation = |o: &Value| o["metadata"]["generation"].as_i64().unwrap();
        assert_eq!(
            generation(new) - generation(old),
            patched,
            "{kind} {workload}: {patched} commands"
        );
        let wanted_patches = i64::from(workloads_to_patch.contains(workload));
        assert_eq!(patched, wanted_patches, "{kind} {workload}: one rollout");
    }
    assert_eq!(
        objects_before[&("Deployment".to_string(), "ml-api-adapter".to_string())]["metadata"]["generation"],
        objects_after[&("Deployment".to_string(), "ml-api-adapter".to_string())]["metadata"]["generation"],
        "the up-to-date Deployment is untouched"
    );

    // The patched Deployments really roll out (the fake nodes run any image).
    if has_fake_nodes(cp) {
        for deploy in ["central-ledger", "account-lookup-service"] {
            ns.ok(&[
                "rollout",
                "status",
                &format!("deployment/{deploy}"),
                "--timeout=120s",
            ]);
        }
    }

    // A second check: nothing left to do.
    let after = check_json(kubeconfig, &scope);
    assert_eq!(after["summary"]["updates"], 0, "{after:#}");
    assert_eq!(after["summary"]["upToDate"], 8, "{}", after["summary"]);
    assert_eq!(
        after["summary"]["containers"],
        before["summary"]["containers"]
    );
    let commands = ml_operator_ok(&[
        "check",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        ns.name(),
        "--config",
        config,
        "-o",
        "commands",
    ]);
    assert_eq!(commands.trim(), "", "nothing to run any more");
}

// ---------------------------------------------------------------------------------------------
// The example hub, loaded into the cluster
// ---------------------------------------------------------------------------------------------

/// The findings as comparable rows.
fn rows(report: &Value) -> Vec<String> {
    let mut rows: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {} {} {}",
                f["namespace"],
                f["kind"],
                f["name"],
                f["container"],
                f["image"],
                f["status"],
                f["latestTag"]
            )
        })
        .collect();
    rows.sort();
    rows
}

fn merged(reports: &[Value]) -> Value {
    let findings: Vec<Value> = reports
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap().clone())
        .collect();
    json!({ "findings": findings })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_hub_in_the_cluster_gives_its_manifests_findings_and_the_loop_empties_it() {
    let Some(cp) = ControlPlane::shared_or_skip("the example hub on a cluster") else {
        return;
    };
    let namespaces: BTreeMap<&str, Namespace<'_>> = ["mojaloop", "pisp-lab", "infra"]
        .into_iter()
        .map(|n| (n, cp.namespace(&format!("e2e-hub-{n}"))))
        .collect();
    let rename = |n: &str| namespaces[n].name().to_string();
    let hub = example_hub(cp, &rename);
    assert!(hub.len() > 50, "{}", hub.len());
    let mut apply = cp.kubectl();
    apply.args(["apply", "-f", "-"]);
    let applied = with_stdin(apply, &list(&hub));
    assert!(applied.status.success(), "{}", text(&applied));

    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("hub.json");
    std::fs::write(&manifests, list(&hub)).unwrap();
    let tags = repo().join("examples/tags.json");
    let tags = tags.to_str().unwrap();
    let kubeconfig = cp.kubeconfig();
    let per_namespace = |extra: &[&str]| -> Vec<Value> {
        namespaces
            .values()
            .map(|ns| {
                check_json(
                    kubeconfig,
                    &[&["-n", ns.name(), "--tags", tags], extra].concat(),
                )
            })
            .collect()
    };

    // The cluster (with its ReplicaSets, Pods and Jobs, each reported through its controller)
    // and the manifests give the same findings. With the offline index nothing reads what the
    // Pods run, so Pods and ReplicaSets come from the real server's metadata-only lists.
    let from_cluster = per_namespace(&[]);
    let from_files = ml_operator_ok(&[
        "check",
        "-f",
        manifests.to_str().unwrap(),
        "--tags",
        tags,
        "-o",
        "json",
    ]);
    let from_files: Value = serde_json::from_str(&from_files).unwrap();
    assert_eq!(rows(&merged(&from_cluster)), rows(&from_files));
    let controlled: u64 = from_cluster
        .iter()
        .map(|r| r["summary"]["controlled"].as_u64().unwrap())
        .sum();
    assert!(controlled > 0, "ReplicaSets and Pods exist in the cluster");

    // Filters: --services is the label app.kubernetes.io/name.
    let count = |reports: Vec<Value>| -> u64 {
        reports
            .iter()
            .map(|r| r["summary"]["workloads"].as_u64().unwrap())
            .sum()
    };
    let all = count(per_namespace(&[]));
    let als = count(per_namespace(&["--services", "account-lookup-service"]));
    assert!(als >= 1 && als < all, "{als} of {all}");
    assert_eq!(
        als,
        count(per_namespace(&[
            "-l",
            "app.kubernetes.io/name=account-lookup-service"
        ]))
    );

    // Annotations on the live objects are honoured.
    let mojaloop = &namespaces["mojaloop"];
    let ledger = |report: &Value| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["name"] == "moja-centralledger-service"
                    && f["container"] == "centralledger-service"
            })
            .unwrap()
            .clone()
    };
    let scope = ["-n", mojaloop.name(), "--tags", tags];
    mojaloop.ok(&[
        "annotate",
        "deployment",
        "moja-centralledger-service",
        "ml-operator.mojaloop.io/strategy=major",
    ]);
    assert_eq!(ledger(&check_json(kubeconfig, &scope))["strategy"], "major");
    mojaloop.ok(&[
        "annotate",
        "deployment",
        "moja-centralledger-service",
        "ml-operator.mojaloop.io/ignore=true",
    ]);
    assert_eq!(ledger(&check_json(kubeconfig, &scope))["status"], "skipped");
    mojaloop.ok(&[
        "annotate",
        "deployment",
        "moja-centralledger-service",
        "ml-operator.mojaloop.io/ignore-",
        "ml-operator.mojaloop.io/strategy-",
    ]);

    // The loop: every printed command through sh, then nothing is left.
    let mut ran = 0;
    for ns in namespaces.values() {
        let commands = ml_operator_ok(&[
            "check",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "-n",
            ns.name(),
            "--tags",
            tags,
            "-o",
            "commands",
        ]);
        ran += commands.lines().count();
        if commands.trim().is_empty() {
            continue;
        }
        let output = sh(&commands, kubeconfig);
        assert!(output.status.success(), "{commands}\n{}", text(&output));
    }
    assert!(ran >= 20, "only {ran} commands ran");
    let after = per_namespace(&[]);
    for report in &after {
        assert_eq!(report["summary"]["updates"], 0, "{:#}", report["summary"]);
    }
}

// ---------------------------------------------------------------------------------------------
// RBAC and credentials from the cluster
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_the_user_may_not_list_is_a_warning_with_the_servers_403_and_the_rest_goes_on()
{
    let Some(cp) = ControlPlane::shared_or_skip("a forbidden namespace") else {
        return;
    };
    let allowed = cp.namespace("e2e-allowed");
    let forbidden = cp.namespace("e2e-forbidden");
    for ns in [&allowed, &forbidden] {
        ns.apply(&list(&[deployment(
            "central-ledger",
            0,
            pod_template(
                "central-ledger",
                &[container(
                    "central-ledger",
                    "mojaloop/central-ledger:v13.14.0",
                )],
                &[],
                json!({}),
            ),
        )]));
    }
    // A user who may list namespaces, and workloads in `allowed` only.
    allowed.ok(&["create", "serviceaccount", "scanner"]);
    let user = service_account_user(allowed.name(), "scanner");
    let reader = format!("{}-reader", allowed.name());
    cp.ok(&[
        "create",
        "clusterrole",
        &reader,
        "--verb=get,list,watch",
        "--resource=deployments.apps,statefulsets.apps,daemonsets.apps,replicasets.apps,jobs.batch,cronjobs.batch,pods,replicationcontrollers",
    ]);
    let namespaces = format!("{}-namespaces", allowed.name());
    cp.ok(&[
        "create",
        "clusterrole",
        &namespaces,
        "--verb=list",
        "--resource=namespaces",
    ]);
    cp.ok(&[
        "create",
        "clusterrolebinding",
        &namespaces,
        &format!("--clusterrole={namespaces}"),
        &format!("--serviceaccount={}:scanner", allowed.name()),
    ]);
    allowed.ok(&[
        "create",
        "rolebinding",
        "scanner",
        &format!("--clusterrole={reader}"),
        &format!("--serviceaccount={}:scanner", allowed.name()),
    ]);
    let cleanup = ClusterScoped(
        cp,
        vec![
            format!("clusterrole/{reader}"),
            format!("clusterrole/{namespaces}"),
            format!("clusterrolebinding/{namespaces}"),
        ],
    );
    wait_can_i(cp, &user, "list", "deployments.apps", allowed.name(), true);
    wait_can_i(cp, &user, "list", "namespaces", "default", true);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(cp, allowed.name(), "scanner", dir.path());
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        r#"{"mojaloop/central-ledger": ["v13.14.0", "v13.14.1"]}"#,
    )
    .unwrap();

    let output = ml_operator(&[
        "check",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--tags",
        tags.to_str().unwrap(),
        "-o",
        "json",
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The API server's own words for the namespace it may not read.
    assert!(
        stderr.contains(&format!(
            "cannot list deployments in namespace {:?}: forbidden (deployments.apps is forbidden: User \"{user}\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"{}\")",
            forbidden.name(),
            forbidden.name()
        )),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let namespaces_found: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces_found, [allowed.name()], "{report:#}");
    assert_eq!(report["findings"][0]["latestTag"], "v13.14.1");
    drop(cleanup);
}

/// Deletes cluster-scoped objects (`kind/name`) when dropped.
struct ClusterScoped<'a>(&'a ControlPlane, Vec<String>);

impl Drop for ClusterScoped<'_> {
    fn drop(&mut self) {
        for object in &self.1 {
            let _ = self
                .0
                .run(&["delete", object, "--ignore-not-found", "--wait=false"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_secrets_in_the_cluster_are_the_registry_credentials() {
    let Some(cp) = ControlPlane::shared_or_skip("image pull secrets") else {
        return;
    };
    let ns = cp.namespace("e2e-pull-secrets");
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
    // The Secret as `kubectl create secret docker-registry` makes it (the server checks its type).
    ns.ok(&[
        "create",
        "secret",
        "docker-registry",
        "hub-registry",
        &format!("--docker-server={host}"),
        "--docker-username=hub",
        "--docker-password=pull-s3cret",
    ]);
    let image = format!("{host}/mojaloop/account-lookup-service:v10.3.1");
    let with_secret = |name: &str, secret: &str| {
        let mut template = pod_template(
            name,
            &[container("account-lookup-service", &image)],
            &[],
            json!({}),
        );
        template["spec"]["imagePullSecrets"] = json!([{"name": secret}]);
        deployment(name, 0, template)
    };
    ns.apply(&list(&[
        with_secret("account-lookup-service", "hub-registry"),
        with_secret("als-admin", "no-such-secret"),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  - host: '{host}'\n    caFile: '{}'\n",
            registry.ca_file().display()
        ),
    )
    .unwrap();
    let check = |extra: &[&str]| {
        let mut cmd = ml_operator(
            &[
                &[
                    "check",
                    "-o",
                    "json",
                    "-n",
                    ns.name(),
                    "--kubeconfig",
                    cp.kubeconfig().to_str().unwrap(),
                    "--config",
                    config.to_str().unwrap(),
                ],
                extra,
            ]
            .concat(),
        );
        cmd.env("DOCKER_CONFIG", dir.path()).output().unwrap()
    };

    let output = check(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
    for finding in report["findings"].as_array().unwrap() {
        assert_eq!(finding["latestTag"], "v10.3.4", "{finding}");
        assert_eq!(
            finding["latestImage"],
            format!("{host}/mojaloop/account-lookup-service:v10.3.4")
        );
    }
    assert!(
        stderr.contains(&format!(
            "image pull secret {}/no-such-secret does not exist",
            ns.name()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("pull-s3cret"), "{stderr}");

    // Without the secrets, the registry says 401: unresolved, and the scan is partial.
    let output = check(&["--no-pull-secrets"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
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
