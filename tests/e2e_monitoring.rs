//! The chart's Grafana dashboard and PrometheusRule (off by default) on the real control plane:
//! the chart is rendered with the real `helm`, every PromQL expression in it must parse
//! (Prometheus's grammar, `promql-parser`), the rules must pass the real `promtool check rules`,
//! and every metric name it uses must be in the `/metrics` of a running operator that has
//! scanned, notified and proposed upgrade groups.

mod e2e_support;

use std::collections::BTreeSet;
use std::process::Command;

use e2e_support::*;
use serde_json::{Value, json};

/// The chart rendered with the dashboard and the rules on.
fn rendered() -> Vec<Value> {
    let output = Command::new(ml_operator_testkit::tools::helm())
        .args(["template", "hub", "charts/ml-operator", "-n", "ml-operator"])
        .args([
            "--set",
            "grafanaDashboard.enabled=true",
            "--set",
            "prometheusRule.enabled=true",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

fn one<'a>(objects: &'a [Value], kind: &str, label: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| label.is_none_or(|l| o["metadata"]["labels"][l].is_string()))
        .collect();
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

/// The dashboard's expressions (Grafana's `$namespace` variable as a regex) and the rules'
/// (alert name, expression).
fn expressions(objects: &[Value]) -> (Vec<String>, Vec<(String, String)>) {
    let dashboard = one(objects, "ConfigMap", Some("grafana_dashboard"));
    let json: Value =
        serde_json::from_str(dashboard["data"]["ml-operator.json"].as_str().unwrap()).unwrap();
    let panels = json["panels"].as_array().unwrap();
    assert!(panels.len() >= 6, "the dashboard has its panels");
    let panel_exprs = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    let rules = one(objects, "PrometheusRule", None);
    let rule_exprs = rules["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
            )
        })
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

#[test]
fn every_dashboard_and_rule_expression_is_valid_promql() {
    let objects = rendered();
    let (panels, rules) = expressions(&objects);
    let alerts: Vec<&str> = rules.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        alerts,
        [
            "MlOperatorUpdatePendingTooLong",
            "MlOperatorScansFailing",
            "MlOperatorNotificationsFailing",
            "MlOperatorUpgradeFailed"
        ]
    );
    for expr in panels
        .iter()
        .map(|e| e.replace("$namespace", ".*"))
        .chain(rules.iter().map(|(_, e)| e.clone()))
    {
        if let Err(e) = promql_parser::parser::parse(&expr) {
            panic!("not PromQL: {expr}: {e}");
        }
    }
    // The parser refuses what Prometheus refuses.
    assert!(promql_parser::parser::parse("sum by (namespace) (ml_operator_upgrades{").is_err());
}

/// The rules as Prometheus itself loads them: the real `promtool check rules` (built from the
/// Prometheus module by scripts/install-test-deps) on the PrometheusRule's groups, and a broken
/// copy refused.
#[test]
fn promtool_checks_the_rules() {
    let promtool = ml_operator_testkit::tools::path("promtool");
    if !promtool.is_file() {
        assert!(
            std::env::var_os("ML_OPERATOR_SKIP_PROMTOOL").is_some(),
            "promtool is not in {}: run scripts/install-test-deps (or set ML_OPERATOR_SKIP_PROMTOOL=1)",
            ml_operator_testkit::tools::bin_dir().display()
        );
        eprintln!(
            "promtool not built (ML_OPERATOR_SKIP_PROMTOOL): the rules are checked by promql-parser alone"
        );
        return;
    }
    let objects = rendered();
    let groups = &one(&objects, "PrometheusRule", None)["spec"]["groups"];
    let dir = tempfile::tempdir().unwrap();
    let check = |groups: &Value| {
        let file = dir.path().join("rules.yaml");
        std::fs::write(&file, json!({ "groups": groups }).to_string()).unwrap();
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let output = check(groups);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("SUCCESS: 4 rules found"),
        "{}",
        text(&output)
    );
    let mut broken = groups.clone();
    broken[0]["rules"][0]["expr"] = json!("sum by (namespace) (ml_operator_upgrades{");
    let output = check(&broken);
    assert!(!output.status.success(), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_the_dashboard_and_the_rules_use_is_exposed() {
    let Some(cp) = ControlPlane::shared_or_skip("the dashboard's metrics") else {
        return;
    };
    let objects = rendered();
    let (panels, rules) = expressions(&objects);
    let used: BTreeSet<String> = panels
        .iter()
        .chain(rules.iter().map(|(_, e)| e))
        .flat_map(|e| metric_names(e))
        .collect();
    assert!(used.len() >= 8, "{used:?}");

    install_crd(cp);
    let ns = cp.namespace("e2e-monitoring");
    ns.apply(&list(&[deployment(
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
    )]));
    let registry = registry_with(&[("mojaloop/central-ledger", &["v13.14.0", "v13.14.1"])]).await;
    let webhook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &format!(
            "{}notify:\n  webhooks:\n    - {{name: ops, webhookUrl: '{}'}}\nupgrades: {{enabled: true, interval: 200ms}}\n",
            mirror_config(&registry),
            webhook.url("/hook")
        ),
    );
    let operator = Operator::start(OperatorSpec {
        name: "monitoring",
        namespace: ns.name(),
        kubeconfig: cp.kubeconfig(),
        config: &config,
        dir: dir.path(),
        env: vec![],
        args: vec![],
    })
    .await;
    eventually_or(
        "a notification and an upgrade pass in /metrics",
        std::time::Duration::from_secs(60),
        async || {
            let (_, text) = operator.get("/metrics").await;
            text.contains("ml_operator_notifications_total{")
                && text.contains(&format!(
                    r#"ml_operator_upgrades{{namespace="{}",phase="Available"}} 1"#,
                    ns.name()
                ))
        },
        || operator.log(),
    )
    .await;
    let (status, metrics) = operator.get("/metrics").await;
    assert_eq!(status, 200);
    let exposed = exposed(&metrics);
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !exposed.contains(*name))
        .collect();
    assert!(missing.is_empty(), "not exposed: {missing:?}\n{metrics}");
}
