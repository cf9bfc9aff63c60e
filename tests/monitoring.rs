//! The chart's Grafana dashboard and PrometheusRule (off by default) only reference metrics the
//! operator really exposes: the chart is rendered with the real `helm`, every PromQL expression
//! in it is read, and each metric name it uses must be in the `/metrics` of a running operator
//! (on kube-sim, with upgrades on). With `promtool` in the tool cache the rules are also checked
//! by Prometheus's own parser.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use kube_sim::KubeSim;
use serde_json::Value;
use support::{Operator, repo, small_hub_registry};

fn helm() -> PathBuf {
    ml_operator_testkit::tools::helm()
}

/// The chart rendered with the dashboard and the rules on.
fn rendered() -> Vec<Value> {
    let output = Command::new(helm())
        .args(["template", "hub", "charts/ml-operator", "-n", "ml-operator"])
        .args(["--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

/// Every `ml_operator_*` name in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("ml_operator_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The dashboard's and the rules' expressions.
fn expressions(objects: &[Value]) -> (Vec<String>, Vec<String>) {
    let dashboard = one(objects, "ConfigMap");
    let dashboard = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .unwrap_or(dashboard);
    let json: Value =
        serde_json::from_str(dashboard["data"]["ml-operator.json"].as_str().unwrap()).unwrap();
    let panels = json["panels"].as_array().unwrap();
    assert!(panels.len() >= 6, "the dashboard has its panels");
    let panel_exprs = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    let rules = one(objects, "PrometheusRule");
    let rule_exprs = rules["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect();
    (panel_exprs, rule_exprs)
}

/// The names `/metrics` serves: each family, with `_total` for counters and `_bucket`,
/// `_sum`, `_count` for histograms, as PromQL sees them.
fn exposed(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_the_dashboard_and_the_rules_use_is_exposed() {
    let objects = rendered();
    let (panels, rules) = expressions(&objects);
    let used: BTreeSet<String> = panels.iter().chain(&rules).flat_map(|e| metric_names(e)).collect();
    assert!(used.len() >= 8, "{used:?}");

    let sim = KubeSim::builder()
        .load(repo().join("tests/fixtures/small-hub.yaml"))
        .unwrap()
        .start()
        .await
        .unwrap();
    sim.handle()
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let crd = Command::new(env!("CARGO_BIN_EXE_ml-operator")).arg("crd").output().unwrap();
    let crd: Value = serde_saphyr::from_str(&String::from_utf8(crd.stdout).unwrap()).unwrap();
    sim.handle().insert(crd).unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "schedule: '* * * * * *'\nregistries:\n  - {{host: docker.io, mirror: '{}'}}\nupgrades: {{enabled: true, interval: 1s}}\n",
            proxy.host()
        ),
    )
    .unwrap();
    let slack = support::Receiver::start().await;
    let url = slack.url();
    let operator = Operator::start(
        "monitoring",
        dir.path(),
        &kubeconfig,
        &config,
        &[("SLACK_WEBHOOK_URL", url.as_str())],
    )
    .await;
    operator.wait_for_scans(2.0).await;
    support::eventually("a notification and an upgrade pass", std::time::Duration::from_secs(30), async || {
        let (_, text) = operator.get("/metrics").await;
        text.contains("ml_operator_notifications_total{") && text.contains("ml_operator_upgrades{")
    })
    .await;
    let (status, metrics) = operator.get("/metrics").await;
    assert_eq!(status, 200);
    let exposed = exposed(&metrics);
    let missing: Vec<&String> = used.iter().filter(|name| !exposed.contains(*name)).collect();
    assert!(missing.is_empty(), "not exposed: {missing:?}\n{metrics}");
}

#[test]
fn the_rules_pass_promtool_when_it_is_installed() {
    let objects = rendered();
    let rules = one(&objects, "PrometheusRule");
    let alerts: Vec<&str> = rules["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        alerts,
        [
            "MlOperatorUpdatePendingTooLong",
            "MlOperatorScansFailing",
            "MlOperatorNotificationsFailing",
            "MlOperatorUpgradeFailed"
        ]
    );
    let promtool = ml_operator_testkit::tools::bin_dir().join("promtool");
    if !promtool.is_file() {
        println!("skipped promtool: not in the tool cache (scripts/install-test-deps builds it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    let spec = serde_json::json!({"groups": rules["spec"]["groups"]});
    std::fs::write(&file, serde_json::to_string(&spec).unwrap()).unwrap();
    let output = Command::new(promtool).args(["check", "rules"]).arg(&file).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
