//! A workload an Argo CD Application applies (with selfHeal) is never patched with kubectl:
//! `check` prints no patch for it and says what to change instead, and an approved
//! ImageUpgrade of it fails before any patch, saying why (the Application read for its
//! selfHeal), and the notification says it too. `check` fills `managedBy.selfHeal`.
//! On kube-sim, whose request log shows that no patch was ever sent.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ml_operator::inventory::Workload;
use ml_operator::scan::{ScanOptions, scan};
use ml_operator::source::cluster::{Cluster, ClusterOptions};
use ml_operator::tags::index::TagIndex;
use ml_operator::upgrade::{Announcer, UpgradeSettings, Upgrader, propose};
use ml_operator_notify::{Notifier, RetryPolicy, Secret, WebhookNotifier};
use serde_json::{Value, json};
use support::{Receiver, eventually, eventually_or};

const NS: &str = "hub";
const NAME: &str = "central-ledger";
const IU_API: &str = "ml-operator.mojaloop.io/v1alpha2";
const UPGRADE: &str = "central-ledger-v13.14.1";

/// The Deployment as Argo CD applies it: its tracking annotation and instance label.
fn argo_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NS,
            "labels": {"app.kubernetes.io/instance": "mojaloop", "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"argocd.argoproj.io/tracking-id": "mojaloop:apps/Deployment:hub/central-ledger",
                            "ml-operator.mojaloop.io/auto-approve": "true"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": {"app": NAME}},
                "spec": {"containers": [{"name": NAME, "image": "mojaloop/central-ledger:v13.14.0"}]}
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_argo_cd_managed_workload_is_never_patched() {
    let crd = serde_json::to_value(ml_operator::upgrade::crd::crd()).unwrap();
    let sim = kube_sim::KubeSim::builder()
        .objects(vec![
            crd,
            application_crd(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
            mojaloop_application(),
            argo_deployment(),
        ])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let cluster = Cluster::connect(&ClusterOptions {
        kubeconfig: Some(kubeconfig.clone()),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let client = cluster.client().clone();

    let object = sim.get("apps/v1", "Deployment", Some(NS), NAME).unwrap();
    let workload = Workload::from_object(&object, NS).unwrap().unwrap();
    let index = TagIndex::from_json(
        &json!({"mojaloop/central-ledger": ["v13.14.0", "v13.14.1"]}).to_string(),
    )
    .unwrap();
    let report = scan(&[workload], &index, ScanOptions::default());
    let finding = &report.findings[0];
    assert_eq!(finding.latest_tag.as_deref(), Some("v13.14.1"));
    assert!(
        report.patches.is_empty(),
        "no kubectl patch for an Argo CD workload"
    );
    assert_eq!(finding.command, None);
    assert!(
        finding.notes[0]
            .contains("managed by Argo CD application \"mojaloop\": a kubectl patch is reverted"),
        "{:?}",
        finding.notes
    );
    let by = finding.managed_by.as_ref().unwrap();
    assert_eq!(serde_json::to_value(by).unwrap()["tool"], "argocd");

    // The operator's side: proposed, approved by policy, and then refused before any patch.
    let webhook = Receiver::start().await;
    let mut settings = UpgradeSettings::from_config(
        &ml_operator::config::Config::parse(
            "upgrades: {enabled: true, autoApprove: bugfix}\n",
            "c.yaml",
        )
        .unwrap()
        .upgrades,
    )
    .unwrap();
    // argocd.readApplications: the refusal says the Application heals itself.
    settings.argocd_applications = Some("argocd".into());
    let notifier: Arc<dyn Notifier> = Arc::new(
        WebhookNotifier::new(
            Secret::new(format!("http://{}/hook", webhook.addr)),
            None,
            RetryPolicy::default(),
        )
        .unwrap(),
    );
    let announcer = Announcer::new(vec![notifier], Some((client.clone(), "test".into())));
    let upgrader = Upgrader::new(client.clone(), settings, announcer, vec![]);
    propose(&client, &report, &[], Utc::now(), false)
        .await
        .unwrap();
    let phase = || {
        sim.get(IU_API, "ImageUpgrade", Some(NS), UPGRADE)
            .map(|u| {
                u["status"]["phase"]
                    .as_str()
                    .unwrap_or("Available")
                    .to_string()
            })
            .unwrap_or_default()
    };
    eventually_or(
        "the upgrade to fail",
        Duration::from_secs(30),
        async || {
            upgrader.step_each(Utc::now()).await.unwrap();
            phase() == "Failed"
        },
        || format!("{:?}", sim.get(IU_API, "ImageUpgrade", Some(NS), UPGRADE)),
    )
    .await;
    let status = &sim.get(IU_API, "ImageUpgrade", Some(NS), UPGRADE).unwrap()["status"];
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "not applied: Deployment central-ledger is managed by Argo CD application \"mojaloop\" (selfHeal), whose sync reverts a kubectl patch"
        ),
        "{message}"
    );
    upgrader.step_each(Utc::now()).await.unwrap();
    eventually("the failure notice", Duration::from_secs(10), async || {
        webhook.delivered().iter().any(|r| {
            r.json()["message"].as_str().is_some_and(|m| {
                m.contains("managed by Argo CD application \"mojaloop\" (selfHeal)")
            })
        })
    })
    .await;
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/{NAME}");
    assert_eq!(
        sim.request_count("patch", &path),
        0,
        "no patch was ever sent"
    );
    let now = sim.get("apps/v1", "Deployment", Some(NS), NAME).unwrap();
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["image"],
        "mojaloop/central-ledger:v13.14.0"
    );
}

/// Argo CD's Application CRD, as far as kube-sim needs it to serve Applications.
fn application_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "applications.argoproj.io"},
        "spec": {"group": "argoproj.io", "scope": "Namespaced",
            "names": {"kind": "Application", "listKind": "ApplicationList", "plural": "applications", "singular": "application", "shortNames": ["app"]},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

/// Mojaloop's Application, as its infrastructure modules deploy it: automated, selfHeal.
fn mojaloop_application() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "mojaloop", "namespace": "argocd"},
           "spec": {"project": "default",
                    "source": {"repoURL": "https://github.com/example/hub-deploy.git", "targetRevision": "main", "chart": "mojaloop",
                               "helm": {"valueFiles": ["values-mojaloop.yaml"]}},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": NS},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})
}

/// `check` reads each Argo CD-managed workload's Application for `managedBy.selfHeal`: true
/// from Mojaloop's `automated: {prune: true, selfHeal: true}`, false without it, and null when
/// the Application is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_self_heal_from_the_argo_cd_application() {
    let mut healing = argo_deployment();
    healing["metadata"]["name"] = json!("healing");
    let mut manual = argo_deployment();
    manual["metadata"]["name"] = json!("manual");
    manual["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
        json!("gitops_manual-app:apps/Deployment:hub/manual");
    let mut missing = argo_deployment();
    missing["metadata"]["name"] = json!("missing");
    missing["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
        json!("nowhere:apps/Deployment:hub/missing");
    let sim = kube_sim::KubeSim::builder()
        .objects(vec![
            application_crd(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gitops"}}),
            mojaloop_application(),
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": "manual-app", "namespace": "gitops"},
                   "spec": {"project": "default", "syncPolicy": {}}}),
            healing,
            manual,
            missing,
        ])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        json!({"mojaloop/central-ledger": ["v13.14.0", "v13.14.1"]}).to_string(),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(["check", "-n", NS, "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--tags")
        .arg(&tags)
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    let by = |name: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report:#}"))["managedBy"]
            .clone()
    };
    assert_eq!(
        by("healing"),
        json!({"tool": "argocd", "name": "mojaloop", "namespace": null, "selfHeal": true})
    );
    assert_eq!(by("manual")["selfHeal"], false);
    assert_eq!(by("manual")["namespace"], "gitops");
    assert_eq!(by("missing")["selfHeal"], Value::Null);
    assert!(report["patches"].as_array().unwrap().is_empty());
    assert_eq!(
        sim.request_count(
            "get",
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/mojaloop"
        ),
        1,
        "each Application read once"
    );
}
