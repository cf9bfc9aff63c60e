//! The Helm chart on the real control plane: installed with the real `helm install` (v4, server-
//! side apply) into a namespace enforcing the `restricted` Pod Security Standard, its Pod
//! scheduled and Ready on a fake node, and the operator binary run here as that Pod would run
//! it — its args, environment and mounted configuration — with a token of the chart's
//! ServiceAccount and nothing else, so the chart's RBAC is exactly what it gets. It must scan,
//! hold the Lease, save its state and record Events; with one permission taken out of the
//! rendered Role or ClusterRole it must fail with the API server's own 403; with upgrades on, the
//! extra rules are granted and used.

mod e2e_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use e2e_support::*;
use ml_operator_testkit::tools;
use serde_json::{Value, json};

const TAGS: &[(&str, &[&str])] = &[
    ("mojaloop/central-ledger", &["v13.14.0", "v13.14.1"]),
    ("mojaloop/account-lookup-service", &["v10.3.1", "v10.3.4"]),
];

fn chart() -> PathBuf {
    repo().join("charts/ml-operator")
}

fn helm(args: &[&str], kubeconfig: &Path) -> Output {
    std::process::Command::new(tools::helm())
        .env("KUBECONFIG", kubeconfig)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ml-operator-e2e-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ml-operator-e2e-helm-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("ml-operator-e2e-helm-data"),
        )
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("helm did not run ({e}): run scripts/install-test-deps"))
}

/// The hub the operator watches: its own namespace, workloads labelled for this test only (the
/// chart's default RBAC reads the whole cluster; the selector keeps the operator to these).
fn hub<'a>(cp: &'a ControlPlane, prefix: &str) -> (Namespace<'a>, String) {
    let ns = cp.namespace(prefix);
    let label = format!("ml-operator.test/hub={}", ns.name());
    let labelled = |mut w: Value| {
        w["metadata"]["labels"]["ml-operator.test/hub"] = json!(ns.name());
        w["spec"]["template"]["metadata"]["labels"]["ml-operator.test/hub"] = json!(ns.name());
        w
    };
    ns.apply(&list(&[
        labelled(deployment(
            "central-ledger",
            1,
            pod_template(
                "central-ledger",
                &[container(
                    "central-ledger",
                    "mojaloop/central-ledger:v13.14.0",
                )],
                &[],
                json!({}),
            ),
        )),
        labelled(statefulset(
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
        )),
    ]));
    (ns, label)
}

/// The `--set` values every install here uses: the registry as docker.io mirror, a scan every
/// second, only the hub's workloads.
fn values(registry: &str, selector: &str) -> Vec<String> {
    vec![
        "config.registries[0].host=docker.io".into(),
        format!("config.registries[0].mirror={registry}"),
        "config.schedule=* * * * * *".into(),
        format!("config.selector={selector}"),
        "logLevel=info".into(),
    ]
}

/// Uninstalls a release (and deletes cluster-scoped leftovers of a `kubectl apply`) on drop.
struct Release<'a> {
    cp: &'a ControlPlane,
    name: String,
    namespace: String,
    cluster_scoped: Vec<String>,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = helm(
            &[
                "uninstall",
                &self.name,
                "-n",
                &self.namespace,
                "--wait=false",
            ],
            self.cp.kubeconfig(),
        );
        for object in &self.cluster_scoped {
            let _ = self
                .cp
                .run(&["delete", object, "--ignore-not-found", "--wait=false"]);
        }
    }
}

/// `helm install RELEASE charts/ml-operator -n NAMESPACE --wait --set …` into a new namespace
/// that enforces the restricted Pod Security Standard.
fn install<'a>(
    cp: &'a ControlPlane,
    prefix: &str,
    sets: &[String],
) -> (Namespace<'a>, Release<'a>) {
    let ns = cp.namespace_with_labels(
        prefix,
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
        ],
    );
    let release = ns.name().to_string();
    let mut args = vec![
        "install",
        &release,
        chart().to_str().unwrap(),
        "-n",
        ns.name(),
        "--wait",
        "--timeout",
        "2m",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for set in sets {
        args.extend(["--set".to_string(), set.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = helm(&args, cp.kubeconfig());
    let guard = Release {
        cp,
        name: release.clone(),
        namespace: ns.name().to_string(),
        cluster_scoped: vec![],
    };
    assert!(output.status.success(), "helm install: {}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("STATUS: deployed"),
        "{}",
        text(&output)
    );
    (ns, guard)
}

fn fullname(release: &str) -> String {
    format!("{release}-ml-operator")
}

/// Whether the Lease `name` is held by `holder` and was renewed since it was acquired.
fn holds_and_renewed(ns: &Namespace<'_>, name: &str, holder: &str) -> bool {
    let output = ns.run(&["get", "lease", name, "-o", "json"]);
    if !output.status.success() {
        return false;
    }
    let lease: Value = serde_json::from_slice(&output.stdout).unwrap();
    let spec = &lease["spec"];
    spec["holderIdentity"] == holder
        && spec["renewTime"].is_string()
        && spec["renewTime"] != spec["acquireTime"]
}

/// What a working operator shows: scans, holds (and has renewed) the chart's Lease, saved its
/// state in the chart's ConfigMap, recorded an UpdateAvailable Event on the hub's Deployment.
async fn serving(operator: &Operator, ns: &Namespace<'_>, hub: &Namespace<'_>, full: &str) -> bool {
    operator.scans().await >= 1.0
        && holds_and_renewed(ns, full, &operator.name)
        && ns
            .run(&["get", "configmap", &format!("{full}-state")])
            .status
            .success()
        && !events(hub, "UpdateAvailable", "central-ledger").is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_install_then_the_operator_works_as_the_charts_service_account() {
    let Some(cp) = fake_node_cluster_or_skip("the chart installed with helm") else {
        return;
    };
    let (hub, selector) = hub(cp, "e2e-chart-hub");
    let registry = registry_with(TAGS).await;
    let (ns, release) = install(cp, "e2e-chart", &values(&registry.host(), &selector));
    let full = fullname(&release.name);
    // Helm's objects, server-side applied, with the chart's names.
    for object in [
        format!("serviceaccount/{full}"),
        format!("configmap/{full}-config"),
        format!("service/{full}"),
        format!("role/{full}"),
        format!("rolebinding/{full}"),
    ] {
        ns.ok(&["get", &object]);
    }
    for object in [
        format!("clusterrole/{full}"),
        format!("clusterrolebinding/{full}"),
    ] {
        cp.ok(&["get", &object]);
    }
    let d = ns.get_json(&["deployment", &full]);
    assert!(deployment_rolled_out(&d), "{:#}", d["status"]);

    let dir = tempfile::tempdir().unwrap();
    let deployed = deployed(cp, ns.name(), &full, dir.path());
    assert_eq!(deployed.service_account, full);
    let user = deployed.user();
    // Exactly the chart's permissions: read-only on workloads, nothing else.
    wait_can_i(cp, &user, "watch", "deployments.apps", hub.name(), true);
    wait_can_i(cp, &user, "patch", "deployments.apps", hub.name(), false);
    wait_can_i(cp, &user, "get", "secrets", ns.name(), false);
    wait_can_i(
        cp,
        &user,
        "create",
        "imageupgrades.ml-operator.mojaloop.io",
        hub.name(),
        false,
    );

    let mut operator = deployed.start(dir.path(), &[]).await;
    let outcome = works(&mut operator, Duration::from_secs(60), async |o| {
        serving(o, &ns, &hub, &full).await
    })
    .await;
    if let Err(log) = outcome {
        panic!("the operator did not work with the chart's RBAC: {log}");
    }
    let event = &events(&hub, "UpdateAvailable", "central-ledger")[0];
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("central-ledger: v13.14.0 -> v13.14.1"),
        "{event:#}"
    );
    assert_eq!(
        events(&hub, "UpdateAvailable", "account-lookup-service").len(),
        1
    );
    // A clean stop releases the chart's Lease.
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());
    let holder = ns.ok(&[
        "get",
        "lease",
        &full,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(holder, "", "released");
    assert!(
        !operator.log().to_lowercase().contains("forbidden"),
        "{}",
        operator.log()
    );
}

/// `helm template` of the chart as the server would take it, one object per item.
fn render(cp: &ControlPlane, release: &str, namespace: &str, sets: &[String]) -> Vec<Value> {
    let mut args = vec![
        "template".to_string(),
        release.to_string(),
        chart().to_str().unwrap().to_string(),
        "-n".into(),
        namespace.to_string(),
    ];
    for set in sets {
        args.extend(["--set".to_string(), set.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = helm(&args, cp.kubeconfig());
    assert!(output.status.success(), "helm template: {}", text(&output));
    let mut to_json = cp.kubectl();
    to_json.args(["create", "--dry-run=client", "-o", "json", "-f", "-"]);
    let json = with_stdin(to_json, &String::from_utf8(output.stdout).unwrap());
    assert!(json.status.success(), "{}", text(&json));
    serde_json::Deserializer::from_slice(&json.stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

/// Removes `verb` from the rule of the `kind` (Role or ClusterRole) whose resources include
/// `resource`.
fn without(objects: &mut [Value], kind: &str, resource: &str, verb: &str) {
    let role = objects.iter_mut().find(|o| o["kind"] == kind).unwrap();
    let rule = role["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|v| v == verb)
        })
        .unwrap_or_else(|| panic!("no {kind} rule grants {verb} on {resource}"));
    rule["verbs"].as_array_mut().unwrap().retain(|v| v != verb);
}

/// Applies the rendered chart with one permission removed, runs the operator as its
/// ServiceAccount, and returns what `works` says.
async fn with_one_permission_removed(
    cp: &ControlPlane,
    prefix: &str,
    kind: &str,
    resource: &str,
    verb: &str,
) -> (Result<(), String>, String, String) {
    let (hub, selector) = hub(cp, &format!("{prefix}-hub"));
    let registry = registry_with(TAGS).await;
    let ns = cp.namespace(prefix);
    let release = ns.name().to_string();
    let full = fullname(&release);
    let mut objects = render(
        cp,
        &release,
        ns.name(),
        &values(&registry.host(), &selector),
    );
    without(&mut objects, kind, resource, verb);
    let _guard = Release {
        cp,
        name: release.clone(),
        namespace: ns.name().to_string(),
        cluster_scoped: vec![
            format!("clusterrole/{full}"),
            format!("clusterrolebinding/{full}"),
        ],
    };
    ns.apply(&list(&objects));
    let dir = tempfile::tempdir().unwrap();
    let deployed = deployed(cp, ns.name(), &full, dir.path());
    let user = deployed.user();
    // The rest of the RBAC has reached the authorizer; the removed verb is refused.
    wait_can_i(
        cp,
        &user,
        "watch",
        "pods",
        hub.name(),
        resource != "pods" || verb != "watch",
    );
    wait_can_i(
        cp,
        &user,
        "create",
        "leases.coordination.k8s.io",
        ns.name(),
        true,
    );
    let mut operator = deployed.start(dir.path(), &[]).await;
    let outcome = works(&mut operator, Duration::from_secs(60), async |o| {
        serving(o, &ns, &hub, &full).await
    })
    .await;
    (outcome, user, ns.name().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_update_on_its_lease_the_operator_fails_with_the_api_servers_403() {
    let Some(cp) = fake_node_cluster_or_skip("a missing Role permission") else {
        return;
    };
    let (outcome, user, namespace) =
        with_one_permission_removed(cp, "e2e-chart-no-lease", "Role", "leases", "update").await;
    let log = outcome.expect_err("the operator must not work without update on its Lease");
    let log = unescaped(&log);
    let full = fullname(&namespace);
    let forbidden = format!(
        "leases.coordination.k8s.io \"{full}\" is forbidden: User \"{user}\" cannot update resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"{namespace}\""
    );
    assert!(
        log.contains(&forbidden),
        "expected {forbidden:?} in:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_watch_on_deployments_the_operator_fails_with_the_api_servers_403() {
    let Some(cp) = fake_node_cluster_or_skip("a missing ClusterRole permission") else {
        return;
    };
    let (outcome, user, _) = with_one_permission_removed(
        cp,
        "e2e-chart-no-watch",
        "ClusterRole",
        "deployments",
        "watch",
    )
    .await;
    let log = outcome.expect_err("the operator must not work without watch on deployments");
    let log = unescaped(&log);
    let forbidden = format!(
        "deployments.apps is forbidden: User \"{user}\" cannot watch resource \"deployments\" in API group \"apps\" at the cluster scope"
    );
    assert!(
        log.contains(&forbidden),
        "expected {forbidden:?} in:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_upgrades_enabled_the_chart_grants_and_the_operator_uses_the_upgrade_rules() {
    let Some(cp) = fake_node_cluster_or_skip("the chart with upgrades") else {
        return;
    };
    let (hub, selector) = hub(cp, "e2e-chart-up-hub");
    hub.ok(&[
        "rollout",
        "status",
        "deployment/central-ledger",
        "--timeout=120s",
    ]);
    let registry = registry_with(TAGS).await;
    let mut sets = values(&registry.host(), &selector);
    sets.extend([
        "config.upgrades.enabled=true".to_string(),
        "config.upgrades.autoApprove=bugfix".to_string(),
        "config.upgrades.interval=500ms".to_string(),
        // Only the hub: RoleBindings there instead of a ClusterRoleBinding, and the controller
        // looks at no other test's ImageUpgrades.
        format!("config.namespaces[0]={}", hub.name()),
    ]);
    // helm installs the CRD from crds/ (or finds it installed by another test).
    let (ns, release) = install(cp, "e2e-chart-up", &sets);
    let full = fullname(&release.name);
    cp.ok(&["get", &format!("crd/{IU_RESOURCE}")]);
    hub.ok(&["get", "rolebinding", &full]);
    assert!(
        !cp.run(&["get", "clusterrolebinding", &full])
            .status
            .success(),
        "no cluster-wide binding with config.namespaces"
    );
    let dir = tempfile::tempdir().unwrap();
    let deployed = deployed(cp, ns.name(), &full, dir.path());
    let user = deployed.user();
    wait_can_i(cp, &user, "patch", "deployments.apps", hub.name(), true);
    wait_can_i(cp, &user, "patch", "deployments.apps", ns.name(), false);
    wait_can_i(
        cp,
        &user,
        "update",
        "imageupgrades.ml-operator.mojaloop.io/status",
        hub.name(),
        true,
    );

    let mut operator = deployed.start(dir.path(), &[]).await;
    let succeeded = async |_: &Operator| {
        upgrade_to(
            &hub,
            "central-ledger",
            "central-ledger",
            "mojaloop/central-ledger:v13.14.1",
        )
        .is_some_and(|u| phase(&u) == "Succeeded")
    };
    if let Err(log) = works(&mut operator, Duration::from_secs(90), succeeded).await {
        panic!(
            "the upgrade did not succeed with the chart's RBAC: {:#}\n{log}",
            json!(image_upgrades(&hub))
        );
    }
    let d = hub.get_json(&["deployment", "central-ledger"]);
    assert_eq!(
        image_of(&d, "central-ledger"),
        "mojaloop/central-ledger:v13.14.1"
    );
    // The StatefulSet's proposal was created, approved by policy and applied too, or is on its way.
    assert!(
        !upgrades_of(&hub, "account-lookup-service", "account-lookup-service").is_empty(),
        "{:#}",
        json!(image_upgrades(&hub))
    );
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());
    assert!(
        !operator.log().to_lowercase().contains("forbidden"),
        "{}",
        operator.log()
    );
}

/// A stand-in for the Prometheus Operator's ServiceMonitor CRD (shared, never deleted), so the
/// chart's `serviceMonitor.enabled` has a kind to create.
fn install_service_monitor_crd(cp: &ControlPlane) {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
            "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor", "listKind": "ServiceMonitorList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let mut last = String::new();
    for _ in 0..5 {
        let mut apply = cp.kubectl();
        apply.args(["apply", "-f", "-"]);
        let out = with_stdin(apply, &crd.to_string());
        if out.status.success() {
            cp.ok(&[
                "wait",
                "crd/servicemonitors.monitoring.coreos.com",
                "--for=condition=Established",
                "--timeout=60s",
            ]);
            return;
        }
        last = text(&out);
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the ServiceMonitor CRD: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_feature_of_the_chart_installs_and_the_operator_notifies_through_its_secrets() {
    let Some(cp) = fake_node_cluster_or_skip("the chart with every feature on") else {
        return;
    };
    install_crd(cp);
    install_service_monitor_crd(cp);
    // The two namespaces config.namespaces names, with workloads the values' selector and
    // services pick.
    let hubs = [
        cp.namespace("e2e-chart-all-a"),
        cp.namespace("e2e-chart-all-b"),
    ];
    for (hub, (service, image)) in hubs.iter().zip([
        ("central-ledger", "mojaloop/central-ledger:v13.14.0"),
        (
            "account-lookup-service",
            "mojaloop/account-lookup-service:v10.3.1",
        ),
    ]) {
        let mut d = deployment(
            service,
            0,
            pod_template(service, &[container(service, image)], &[], json!({})),
        );
        d["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("mojaloop");
        hub.apply(&list(&[d]));
    }
    let (slack, teams, ops) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let ns = cp.namespace_with_labels(
        "e2e-chart-all",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    );
    // What the values expect to exist: the registry credentials and the air-gapped tag index.
    ns.ok(&[
        "create",
        "secret",
        "docker-registry",
        "hub-registry-credentials",
        "--docker-server=registry.hub.local:5000",
        "--docker-username=scanner",
        "--docker-password=not-a-real-password",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        json!({
            "mojaloop/central-ledger": ["v13.14.0", "v13.14.1", "v13.15.0"],
            "mojaloop/account-lookup-service": ["v10.3.1", "v10.3.4", "v10.4.0"],
        })
        .to_string(),
    )
    .unwrap();
    ns.ok(&[
        "create",
        "configmap",
        "hub-tag-index",
        &format!("--from-file=tags.json={}", tags.display()),
    ]);
    let release = ns.name().to_string();
    let values = repo().join("charts/ml-operator/ci/all-features-values.yaml");
    let sets = [
        format!(
            "config.namespaces={{{},{}}}",
            hubs[0].name(),
            hubs[1].name()
        ),
        format!("secrets.values.slack-webhook-url={}", slack.slack_url()),
        format!("secrets.values.teams-webhook-url={}", teams.url("/teams")),
        format!("secrets.values.ops-webhook-url={}", ops.url("/ops")),
        "config.schedule=* * * * * *".to_string(),
    ];
    let mut args = vec![
        "install".to_string(),
        release.clone(),
        chart().to_str().unwrap().to_string(),
        "-n".into(),
        release.clone(),
        "-f".into(),
        values.to_str().unwrap().to_string(),
        "--wait".into(),
        "--timeout".into(),
        "2m".into(),
    ];
    for set in &sets {
        args.extend(["--set".to_string(), set.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _release = Release {
        cp,
        name: release.clone(),
        namespace: release.clone(),
        cluster_scoped: vec![],
    };
    let out = helm(&args, cp.kubeconfig());
    assert!(out.status.success(), "helm install: {}", text(&out));
    let full = fullname(&release);
    // Everything the values ask for is there, and the two replicas run on the fake nodes.
    for object in [
        format!("poddisruptionbudget/{full}"),
        format!("servicemonitor.monitoring.coreos.com/{full}"),
        "serviceaccount/ml-operator-sa".to_string(),
        format!("secret/{full}-secrets"),
    ] {
        ns.ok(&["get", &object]);
    }
    for hub in &hubs {
        hub.ok(&["get", "rolebinding", &full]);
    }
    let d = ns.get_json(&["deployment", &full]);
    assert_eq!(d["status"]["availableReplicas"], 2, "{:#}", d["status"]);

    let deployed = deployed(cp, ns.name(), &full, dir.path());
    assert_eq!(deployed.service_account, "ml-operator-sa");
    assert!(
        deployed
            .args
            .iter()
            .any(|a| a.ends_with("/root/etc/ml-operator/tags/tags.json")),
        "the tag index from its ConfigMap: {:?}",
        deployed.args
    );
    wait_can_i(
        cp,
        &deployed.user(),
        "watch",
        "deployments.apps",
        hubs[0].name(),
        true,
    );
    let mut operator = deployed.start(dir.path(), &[]).await;
    let outcome = works(&mut operator, Duration::from_secs(90), async |o| {
        holds_and_renewed(&ns, "hub-ml-operator", &o.name)
            && slack.received().iter().any(|m| {
                m.json()["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("latest version is"))
            })
            && !teams.received().is_empty()
            && !ops.received().is_empty()
            && ns
                .run(&["get", "configmap", "hub-ml-operator-state"])
                .status
                .success()
            && hubs.iter().all(|h| !image_upgrades(h).is_empty())
    })
    .await;
    if let Err(log) = outcome {
        panic!("the operator did not work with every feature on: {log}");
    }
    // The scan's message (the upgrade proposals go through the same webhook, in either order).
    let texts: Vec<String> = slack
        .received()
        .iter()
        .filter_map(|m| m.json()["text"].as_str().map(str::to_string))
        .collect();
    let text = texts
        .iter()
        .find(|t| t.contains("latest version is"))
        .cloned()
        .unwrap_or_else(|| texts.join("\n---\n"));
    assert!(
        text.contains("`mojaloop/account-lookup-service`: latest version is `v10.4.0`"),
        "strategy minor: {text}"
    );
    // The ops webhook is signed with the key from the Secret.
    let headers = &ops.received()[0].headers;
    assert!(
        headers.keys().any(|k| k.as_str().contains("signature")),
        "{headers:?}"
    );
    // Upgrades are proposed (the controller may not have looked at them yet); the weekend-nights
    // window keeps them from being applied.
    for hub in &hubs {
        for upgrade in image_upgrades(hub) {
            assert!(
                ["", "Available", "Approved", "Scheduled"].contains(&phase(&upgrade)),
                "{upgrade:#}"
            );
        }
    }
    let log = operator.log();
    for secret in [slack.slack_url(), teams.url("/teams"), ops.url("/ops")] {
        assert!(!log.contains(&secret), "a webhook URL leaked into the log");
    }
    let status = operator.terminate().await;
    assert!(status.success(), "{status}\n{}", operator.log());
}
