//! A fleet on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`): the real cluster is
//! `hub-dev` (a Helm release still on `mojaloop/central-ledger:v19.8.3`, and a plain
//! Deployment), a kube-sim is `hub-prod` (already updated, plus one outdated service), both in
//! one kubeconfig. `check --context hub-dev --context hub-prod` against the real docker-registry
//! walks each repository once for both; the printed `helm upgrade` (with `--kube-context`) run
//! by the real helm and the printed `kubectl patch`es (with `--context`) run by the real kubectl
//! change each cluster and only it; a second `check` finds both up to date.
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

/// One kubeconfig: the real cluster as `hub-dev` (its own credentials, flattened), the
/// kube-sim at `sim_url` as `hub-prod`.
fn fleet_kubeconfig(cp: &ControlPlane, sim_url: &str, dir: &Path) -> PathBuf {
    let real: Value =
        serde_json::from_str(&cp.ok(&["config", "view", "--raw", "--flatten", "-o", "json"]))
            .unwrap();
    let mut cluster = real["clusters"][0].clone();
    cluster["name"] = json!("hub-dev");
    let mut user = real["users"][0].clone();
    user["name"] = json!("hub-dev");
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "hub-prod",
        "clusters": [cluster, {"name": "hub-prod", "cluster": {"server": sim_url}}],
        "users": [user, {"name": "sim", "user": {}}],
        "contexts": [
            {"name": "hub-dev", "context": {"cluster": "hub-dev", "user": "hub-dev"}},
            {"name": "hub-prod", "context": {"cluster": "hub-prod", "user": "sim"}},
        ],
    });
    let path = dir.join("fleet-kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
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
async fn a_fleet_of_the_real_cluster_and_a_kube_sim_is_checked_and_upgraded_cluster_by_cluster() {
    let Some(cp) = ControlPlane::shared_or_skip("a_fleet_of_the_real_cluster_and_a_kube_sim")
    else {
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
    let sim = KubeSim::builder()
        .objects(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name()}}),
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
        ])
        .start()
        .await
        .unwrap();
    let kubeconfig = fleet_kubeconfig(cp, &sim.url(), dir.path());
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
    let patched = sim
        .get("apps/v1", "Deployment", Some(ns.name()), "quoting-service")
        .unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["image"],
        "mojaloop/quoting-service:v15.0.4"
    );
    assert!(
        sim.get(
            "apps/v1",
            "Deployment",
            Some(ns.name()),
            "account-lookup-service"
        )
        .is_none()
    );

    let after = tokio::task::block_in_place(|| check_json(&kubeconfig, &args));
    assert_eq!(after["summary"]["updates"], 0, "{}", after["summary"]);
    assert_eq!(after["summary"]["upToDate"], 4);
}
