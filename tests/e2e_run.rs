//! `ml-operator run` on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`): its watches (a
//! change is seen after the ServiceAccount lost `list`, so nothing lists again), the Lease
//! (held, released on SIGTERM, taken over after a crash), `UpdateAvailable` Events read back with
//! `kubectl get events`, and the state ConfigMap (a restart does not notify again). The tags come
//! from the real docker-registry as the docker.io mirror; a local receiver plays Slack.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use serde_json::{Value, json};

const TAGS: &[(&str, &[&str])] = &[
    (
        "mojaloop/central-ledger",
        &["v13.14.0", "v13.14.1", "v13.15.0"],
    ),
    ("mojaloop/event-sidecar", &["v9.5.0", "v9.5.1"]),
    ("mojaloop/account-lookup-service", &["v10.3.1", "v10.3.4"]),
];

fn hub() -> String {
    list(&[
        deployment(
            "central-ledger",
            1,
            pod_template(
                "central-ledger",
                &[
                    container("central-ledger", "mojaloop/central-ledger:v13.14.0"),
                    container("sidecar", "mojaloop/event-sidecar:v9.5.0"),
                ],
                &[],
                json!({}),
            ),
        ),
        statefulset(
            "account-lookup-service",
            1,
            pod_template(
                "account-lookup-service",
                &[container(
                    "account-lookup-service",
                    "mojaloop/account-lookup-service:v10.3.1",
                )],
                &[],
                json!({}),
            ),
        ),
    ])
}

fn lease(ns: &Namespace<'_>) -> Option<Value> {
    let output = ns.run(&["get", "lease", "ml-operator", "-o", "json"]);
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).unwrap())
}

fn holder(ns: &Namespace<'_>) -> String {
    lease(ns)
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
        .unwrap_or_default()
}

fn slack_texts(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The Role a namespaced operator needs: the workload watches, its Lease, its state ConfigMap,
/// Events; `list` on the workloads only when `with_list`.
fn operator_role(with_list: bool) -> Value {
    let read: &[&str] = if with_list {
        &["get", "list", "watch"]
    } else {
        &["get", "watch"]
    };
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "operator"},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": read},
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": read},
            {"apiGroups": [""], "resources": ["pods", "replicationcontrollers"], "verbs": read},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "patch"]},
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_sees_a_workload_change_through_its_watches_without_listing_again() {
    let Some(cp) = ControlPlane::shared_or_skip("run's watches") else {
        return;
    };
    let ns = cp.namespace("e2e-watch");
    ns.apply(&hub());
    ns.ok(&["create", "serviceaccount", "operator"]);
    ns.apply(&list(&[
        operator_role(true),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "operator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operator"},
            "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns.name()}],
        }),
    ]));
    let user = service_account_user(ns.name(), "operator");
    wait_can_i(cp, &user, "list", "deployments.apps", ns.name(), true);
    wait_can_i(
        cp,
        &user,
        "update",
        "leases.coordination.k8s.io",
        ns.name(),
        true,
    );

    let registry = registry_with(TAGS).await;
    let slack = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(cp, ns.name(), "operator", dir.path());
    // A schedule that does not fire during the test: only the first scan and changes scan.
    let config = run_config(
        dir.path(),
        &[ns.name()],
        "0 0 3 1 1 *",
        &format!("scanOnChange: true\n{}", mirror_config(&registry)),
    );
    let operator = Operator::start(OperatorSpec {
        name: "replica-a",
        namespace: ns.name(),
        kubeconfig: &kubeconfig,
        config: &config,
        dir: dir.path(),
        env: vec![("SLACK_WEBHOOK_URL".into(), slack.slack_url())],
        args: vec![],
    })
    .await;
    eventually_or(
        "the first Slack message",
        Duration::from_secs(60),
        async || !slack.received().is_empty(),
        || operator.log(),
    )
    .await;
    let scans = operator.scans().await;
    assert_eq!(scans, 1.0, "{}", operator.log());

    // From now on this ServiceAccount may not list workloads: any new list would be the API
    // server's 403. Established watches go on.
    ns.apply(&list(&[operator_role(false)]));
    wait_can_i(cp, &user, "list", "deployments.apps", ns.name(), false);
    wait_can_i(cp, &user, "watch", "deployments.apps", ns.name(), true);

    // The operator's own advice, applied with kubectl: the watch sees it and a scan follows.
    let report = operator.report().await.expect("a report");
    let command = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["container"] == "central-ledger")
        .and_then(|f| f["command"].as_str())
        .unwrap()
        .to_string();
    let output = sh(&command, cp.kubeconfig());
    assert!(output.status.success(), "{}", text(&output));
    eventually_or(
        "a scan after the image change",
        Duration::from_secs(30),
        async || operator.scans().await > scans,
        || operator.log(),
    )
    .await;
    eventually_or(
        "the report to show the new image",
        Duration::from_secs(30),
        async || {
            operator.report().await.is_some_and(|r| {
                r["findings"].as_array().unwrap().iter().any(|f| {
                    f["container"] == "central-ledger"
                        && f["image"] == "mojaloop/central-ledger:v13.14.1"
                        && f["status"] == "up-to-date"
                })
            })
        },
        || operator.log(),
    )
    .await;
    let log = operator.log();
    assert!(
        log.contains("a workload's images changed: scanning now"),
        "{log}"
    );
    eventually_or(
        "a message saying central-ledger is resolved",
        Duration::from_secs(30),
        async || slack.received().len() >= 2,
        || operator.log(),
    )
    .await;
    let texts = slack_texts(&slack);
    assert!(
        !texts[1].contains("`mojaloop/central-ledger`: latest version is `v13.14.1`"),
        "{}",
        texts[1]
    );
    // Nothing was refused: no list was made after the revocation.
    let log = operator.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "a request the watches should not need:\n{log}"
    );

    // The revocation bites: a new replica, which must list first, gets the API server's 403.
    let newcomer = Operator::start(OperatorSpec {
        name: "replica-b",
        namespace: ns.name(),
        kubeconfig: &kubeconfig,
        config: &config,
        dir: dir.path(),
        env: vec![],
        args: vec![],
    })
    .await;
    newcomer
        .wait_for_log(&format!(
            "deployments.apps is forbidden: User \\\"{user}\\\" cannot list resource \\\"deployments\\\""
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_holds_the_lease_records_events_and_a_restart_does_not_notify_again() {
    let Some(cp) = ControlPlane::shared_or_skip("run's Lease, Events and state") else {
        return;
    };
    let ns = cp.namespace("e2e-run");
    ns.apply(&hub());
    let registry = registry_with(TAGS).await;
    let slack = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &mirror_config(&registry),
    );
    let env = vec![("SLACK_WEBHOOK_URL".to_string(), slack.slack_url())];
    let start = async |name: &'static str| {
        Operator::start(OperatorSpec {
            name,
            namespace: ns.name(),
            kubeconfig: cp.kubeconfig(),
            config: &config,
            dir: dir.path(),
            env: env.clone(),
            args: vec![],
        })
        .await
    };

    let mut operator = start("replica-a").await;
    eventually_or(
        "the first Slack message",
        Duration::from_secs(60),
        async || !slack.received().is_empty(),
        || operator.log(),
    )
    .await;
    operator.wait_for_scans(3.0).await;
    let texts = slack_texts(&slack);
    assert_eq!(
        texts.len(),
        1,
        "one message for one set of findings: {texts:#?}"
    );
    for line in [
        "  - `mojaloop/central-ledger`: latest version is `v13.14.1`",
        "  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`",
        &format!(
            r#"kubectl patch deployment central-ledger -n {} --patch '{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"central-ledger","image":"mojaloop/central-ledger:v13.14.1"}}]}}}}}}}}'"#,
            ns.name()
        ),
    ] {
        assert!(
            texts[0].contains(line),
            "missing {line:?} in:\n{}",
            texts[0]
        );
    }

    // The Lease, held by this replica.
    let held = lease(&ns).expect("the Lease exists");
    assert_eq!(held["spec"]["holderIdentity"], "replica-a", "{held:#}");
    assert_eq!(held["spec"]["leaseDurationSeconds"], 4, "{held:#}");

    // One UpdateAvailable Event per workload with updates, as kubectl shows it.
    let on_ledger = events(&ns, "UpdateAvailable", "central-ledger");
    assert_eq!(on_ledger.len(), 1, "{on_ledger:#?}");
    let event = &on_ledger[0];
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    assert_eq!(event["type"], "Normal");
    let message = event["message"].as_str().unwrap();
    for change in [
        "central-ledger: v13.14.0 -> v13.14.1",
        "sidecar: v9.5.0 -> v9.5.1",
    ] {
        assert!(message.contains(change), "{message}");
    }
    assert_eq!(
        events(&ns, "UpdateAvailable", "account-lookup-service").len(),
        1
    );
    let table = ns.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=UpdateAvailable",
    ]);
    assert!(
        table.contains("statefulset/account-lookup-service"),
        "{table}"
    );

    // A new patch in the registry: exactly one more message.
    registry
        .push(
            "mojaloop/account-lookup-service",
            &["v10.3.5".to_string()],
            false,
        )
        .await;
    eventually_or(
        "the second message",
        Duration::from_secs(60),
        async || slack.received().len() >= 2,
        || operator.log(),
    )
    .await;
    operator.wait_for_scans(3.0).await;
    let texts = slack_texts(&slack);
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[1].contains("`mojaloop/account-lookup-service`: latest version is `v10.3.5`"),
        "{}",
        texts[1]
    );

    // SIGTERM: a clean exit that releases the Lease and leaves the state in the cluster.
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());
    let released = lease(&ns).unwrap();
    assert_eq!(
        released["spec"]["holderIdentity"].as_str().unwrap_or(""),
        "",
        "released on SIGTERM: {released:#}"
    );
    let state = ns.get_json(&["configmap", "ml-operator-state"]);
    assert!(
        state["data"].as_object().is_some_and(|d| !d.is_empty()),
        "{state:#}"
    );

    // Restarted (under another name: it takes the released Lease at once), it remembers.
    let restarted = start("replica-b").await;
    eventually_or(
        "replica-b to lead",
        Duration::from_secs(30),
        async || holder(&ns) == "replica-b",
        || restarted.log(),
    )
    .await;
    restarted.wait_for_scans(3.0).await;
    assert_eq!(
        slack.received().len(),
        2,
        "no message again after a restart\n{}",
        restarted.log()
    );
    assert_eq!(
        events(&ns, "UpdateAvailable", "central-ledger").len(),
        1,
        "no Event again"
    );
    for text in [operator.log(), restarted.log()] {
        assert!(
            !text.contains("s3cr3t-webhook-token"),
            "the webhook URL leaked:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_one_leader_and_a_takeover_after_a_crash_without_resending() {
    let Some(cp) = ControlPlane::shared_or_skip("leader election between two replicas") else {
        return;
    };
    let ns = cp.namespace("e2e-leader");
    ns.apply(&hub());
    let registry = registry_with(TAGS).await;
    let slack = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &mirror_config(&registry),
    );
    let env = vec![("SLACK_WEBHOOK_URL".to_string(), slack.slack_url())];
    let start = async |name: &'static str| {
        Operator::start(OperatorSpec {
            name,
            namespace: ns.name(),
            kubeconfig: cp.kubeconfig(),
            config: &config,
            dir: dir.path(),
            env: env.clone(),
            args: vec![],
        })
        .await
    };
    let mut a = start("replica-a").await;
    let mut b = start("replica-b").await;
    eventually_or(
        "a message",
        Duration::from_secs(60),
        async || !slack.received().is_empty(),
        || format!("{}\n{}", a.log(), b.log()),
    )
    .await;
    let (leader, follower) = if holder(&ns) == "replica-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    leader.wait_for_scans(3.0).await;
    assert_eq!(follower.scans().await, 0.0, "only the leader scans");
    assert_eq!(slack.received().len(), 1);

    // The leader crashes (SIGKILL, nothing released): the follower takes over once the Lease
    // expires, and does not send again what the leader sent.
    let transitions = lease(&ns).unwrap()["spec"]["leaseTransitions"]
        .as_i64()
        .unwrap_or(0);
    leader.kill().await;
    eventually_or(
        "the follower to take over",
        Duration::from_secs(30),
        async || holder(&ns) == follower.name,
        || follower.log(),
    )
    .await;
    assert_eq!(
        lease(&ns).unwrap()["spec"]["leaseTransitions"],
        transitions + 1
    );
    follower.wait_for_scans(3.0).await;
    assert_eq!(
        slack.received().len(),
        1,
        "the new leader does not re-send\n{}",
        follower.log()
    );
}
