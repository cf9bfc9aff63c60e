//! A fleet on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`): the real cluster is
//! `hub-dev` (a Helm release still on `mojaloop/central-ledger:v19.8.3`, and a plain
//! Deployment); `hub-prod` (already updated, plus one outdated service) is a second real
//! cluster when `ML_OPERATOR_E2E_SECOND_KUBECONFIG` names one (another
//! `scripts/control-plane start --dir DIR2`), else a kube-sim; both in one kubeconfig.
//! `check --context hub-dev --context hub-prod` against the real docker-registry walks each
//! repository once for both; the printed `helm upgrade` (with `--kube-context`) run by the real
//! helm and the printed `kubectl patch`es (with `--context`) run by the real kubectl change each
//! cluster and only it; a second `check` finds both up to date.
//!
//! Without `ML_OPERATOR_E2E_KUBECONFIG` the test says `skipped: …` and passes.

mod e2e_support;

use std::path::{Path, PathBuf};

use e2e_support::*;
use kube_sim::KubeSim;
use ml_operator_testkit::proxy::FaultProxy;
use serde_json::{Value, json};

/// A chart `central-ledger`: one Deployment `<release>-central-ledger` running
/// `.Values.image.repository:.Values.image.tag` (no replicas: nothing needs pulling).
fn chart(dir: &Path) -> PathBuf {
    let root = dir.join("central-ledger");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("Chart.yaml"),
        "apiVersion: v2\nname: central-ledger\nversion: 17.1.0\n",
    )
    .unwrap();
    std::fs::write(
        root.join("values.yaml"),
        "image:\n  repository: mojaloop/central-ledger\n  tag: v19.8.3\n",
    )
    .unwrap();
    std::fs::write(
        root.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-central-ledger\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: central-ledger}\n  template:\n    metadata:\n      labels: {app: central-ledger}\n    spec:\n      containers:\n        - name: central-ledger\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
    )
    .unwrap();
    root
}

/// `program` with the tool cache first on PATH, `KUBECONFIG` and helm's own directories set.
fn with_tools(program: &str, kubeconfig: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env("PATH", tool_path())
        .env("KUBECONFIG", kubeconfig)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ml-operator-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ml-operator-helm-config"),
        );
    command
}

/// The first cluster and user of a real cluster's kubeconfig (credentials flattened in),
/// both renamed `name`.
fn real_entries(cp: &ControlPlane, name: &str) -> (Value, Value) {
    let real: Value = serde_json::from_str(&cp.ok(&[
        "config",
        "view",
        "--raw",
        "--flatten",
        "--minify",
        "-o",
        "json",
    ]))
    .unwrap();
    let mut cluster = real["clusters"][0].clone();
    cluster["name"] = json!(name);
    let mut user = real["users"][0].clone();
    user["name"] = json!(name);
    (cluster, user)
}

/// One kubeconfig: the real cluster as `hub-dev`, `prod` as `hub-prod` (the current context,
/// so a command without `--context` would go there).
fn fleet_kubeconfig(cp: &ControlPlane, prod: &Prod<'_>, dir: &Path) -> PathBuf {
    let (dev_cluster, dev_user) = real_entries(cp, "hub-dev");
    let (prod_cluster, prod_user) = match prod {
        Prod::Sim(sim) => (
            json!({"name": "hub-prod", "cluster": {"server": sim.url()}}),
            json!({"name": "hub-prod", "user": {}}),
        ),
        Prod::Real(ns) => real_entries(ns.control_plane(), "hub-prod"),
    };
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "hub-prod",
        "clusters": [dev_cluster, prod_cluster],
        "users": [dev_user, prod_user],
        "contexts": [
            {"name": "hub-dev", "context": {"cluster": "hub-dev", "user": "hub-dev"}},
            {"name": "hub-prod", "context": {"cluster": "hub-prod", "user": "hub-prod"}},
        ],
    });
    let path = dir.join("fleet-kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// The second cluster: a kube-sim, or a namespace of the same name in a second real cluster.
enum Prod<'a> {
    Sim(kube_sim::Running),
    Real(Namespace<'a>),
}

impl Prod<'_> {
    /// The image of Deployment `name`'s first container, if the Deployment exists.
    fn image(&self, namespace: &str, name: &str) -> Option<String> {
        let deployment = match self {
            Prod::Sim(sim) => sim.get("apps/v1", "Deployment", Some(namespace), name)?,
            Prod::Real(ns) => {
                let output = ns.run(&["get", "deployment", name, "-o", "json"]);
                if !output.status.success() {
                    return None;
                }
                serde_json::from_slice(&output.stdout).unwrap()
            }
        };
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .map(String::from)
    }
}

fn deployment(name: &str, namespace: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}
            }
        }
    })
}

/// (cluster, workload, status) of every finding.
fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            (s(&f["cluster"]), s(&f["name"]), s(&f["status"]))
        })
        .collect()
}

fn run_script(script: &str, kubeconfig: &Path) {
    let output = sh(script, kubeconfig);
    assert!(output.status.success(), "{script}\n{}", text(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_two_clusters_is_checked_and_upgraded_cluster_by_cluster() {
    let Some(cp) = ControlPlane::shared_or_skip("a_fleet_of_two_clusters") else {
        return;
    };
    let ns = cp.namespace("fleet");
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(dir.path());
    let chart = chart.to_str().unwrap();
    let install = with_tools("helm", cp.kubeconfig())
        .args(["install", "hub", chart, "-n", ns.name()])
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", text(&install));
    ns.apply(&list(&[deployment(
        "account-lookup-service",
        ns.name(),
        "mojaloop/account-lookup-service:v15.1.0",
    )]));
    let prod_workloads = vec![
        deployment(
            "central-ledger",
            ns.name(),
            "mojaloop/central-ledger:v19.8.9",
        ),
        deployment(
            "quoting-service",
            ns.name(),
            "mojaloop/quoting-service:v15.0.0",
        ),
    ];
    let prod = match ControlPlane::second() {
        Some(second) => {
            let prod_ns = second.namespace_named(ns.name());
            prod_ns.apply(&list(&prod_workloads));
            Prod::Real(prod_ns)
        }
        None => {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name()}});
            let objects = [vec![namespace], prod_workloads].concat();
            Prod::Sim(KubeSim::builder().objects(objects).start().await.unwrap())
        }
    };
    let kubeconfig = fleet_kubeconfig(cp, &prod, dir.path());
    let registry = registry_with(&[
        ("mojaloop/central-ledger", &["v19.8.3", "v19.8.9"]),
        ("mojaloop/account-lookup-service", &["v15.1.0", "v15.1.2"]),
        ("mojaloop/quoting-service", &["v15.0.0", "v15.0.4"]),
    ])
    .await;
    let proxy = FaultProxy::start(&registry.base()).await;
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "checkOverwrittenTags: false\nregistries:\n  - {{host: docker.io, mirror: '{}'}}\n",
            proxy.host()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let helm_chart = format!("hub={chart}");
    let args = [
        "--context",
        "hub-dev",
        "--context",
        "hub-prod",
        "-n",
        ns.name(),
        "--config",
        config,
        "--helm-chart",
        &helm_chart,
    ];
    let report = tokio::task::block_in_place(|| check_json(&kubeconfig, &args));
    let row = |c: &str, w: &str, s: &str| (c.to_string(), w.to_string(), s.to_string());
    let mut found = statuses(&report);
    found.sort();
    assert_eq!(
        found,
        [
            row("hub-dev", "account-lookup-service", "update-available"),
            row("hub-dev", "hub-central-ledger", "update-available"),
            row("hub-prod", "central-ledger", "up-to-date"),
            row("hub-prod", "quoting-service", "update-available"),
        ]
    );
    assert_eq!(
        proxy.count("/v2/mojaloop/central-ledger/tags/list"),
        1,
        "one walk for both clusters: {:#?}",
        proxy.seen()
    );
    let ledger = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "hub-central-ledger")
        .unwrap();
    assert_eq!(ledger["helm"]["valuesPath"], "image.tag", "{ledger}");

    // The release's upgrade names its cluster; the real helm makes it last there.
    let upgrades = tokio::task::block_in_place(|| {
        ml_operator_ok(
            &[
                &["check", "--kubeconfig", kubeconfig.to_str().unwrap()][..],
                &args,
                &["-o", "helm"],
            ]
            .concat(),
        )
    });
    let commands: Vec<&str> = upgrades.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(commands.len(), 1, "{upgrades}");
    assert!(
        commands[0].starts_with(&format!(
            "helm --kube-context hub-dev upgrade hub {chart} -n {} --version 17.1.0 --reuse-values --set 'image.tag=v19.8.9'",
            ns.name()
        )),
        "{upgrades}"
    );
    // Run as printed (its words are shell-quoted), helm being the tool cache's.
    let upgrade = with_tools("sh", &kubeconfig)
        .arg("-ec")
        .arg(commands[0])
        .output()
        .unwrap();
    assert!(upgrade.status.success(), "{}", text(&upgrade));
    assert_eq!(
        image_of(
            &ns.get_json(&["deployment", "hub-central-ledger"]),
            "central-ledger"
        ),
        "mojaloop/central-ledger:v19.8.9"
    );

    // The patches left carry --context; kubectl applies each to its own cluster (the current
    // context is hub-prod, so a patch without --context would go there).
    let script = tokio::task::block_in_place(|| {
        ml_operator_ok(
            &[
                &["check", "--kubeconfig", kubeconfig.to_str().unwrap()][..],
                &args,
                &["-o", "commands"],
            ]
            .concat(),
        )
    });
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.len(), 2, "{script}");
    assert!(
        lines[0].starts_with("kubectl --context hub-dev patch deployment account-lookup-service "),
        "{script}"
    );
    assert!(
        lines[1].starts_with("kubectl --context hub-prod patch deployment quoting-service "),
        "{script}"
    );
    tokio::task::block_in_place(|| run_script(&script, &kubeconfig));
    assert_eq!(
        image_of(
            &ns.get_json(&["deployment", "account-lookup-service"]),
            "account-lookup-service"
        ),
        "mojaloop/account-lookup-service:v15.1.2"
    );
    assert_eq!(
        prod.image(ns.name(), "quoting-service").as_deref(),
        Some("mojaloop/quoting-service:v15.0.4")
    );
    assert_eq!(prod.image(ns.name(), "account-lookup-service"), None);
    assert_eq!(
        prod.image(ns.name(), "central-ledger").as_deref(),
        Some("mojaloop/central-ledger:v19.8.9")
    );

    let after = tokio::task::block_in_place(|| check_json(&kubeconfig, &args));
    assert_eq!(after["summary"]["updates"], 0, "{}", after["summary"]);
    assert_eq!(after["summary"]["upToDate"], 4);
}
