//! Helm hubs on the real control plane (`ML_OPERATOR_E2E_KUBECONFIG`): a Mojaloop-shaped
//! umbrella chart written here (subcharts under aliases, one chart used twice, image
//! `repository`/`tag` in the umbrella's values, a `run-migration` init container on the same
//! image, a tag behind a YAML anchor, comments, a password) installed with the real
//! `helm install`. `check` reads the release Secret and reports each image's `valuesPath`;
//! running the printed `helm upgrade` with that chart changes exactly those images; a second
//! `check` finds them up to date. `--values --write` on a copy of the values file changes only
//! the tag lines, and `helm template` with the edited file renders the new tags.
//!
//! Tags are real Mojaloop tags (`tests/fixtures/helm-hub-tags.json`, from the project's data).

mod e2e_support;

use std::path::Path;

use e2e_support::*;
use serde_json::Value;

const TAGS: &str = "tests/fixtures/helm-hub-tags.json";

/// A leaf chart: one Deployment `<release>-<chart name (the alias)>` running `.Values.image`,
/// with the migration init container on the same image when `migration`.
fn leaf(dir: &Path, name: &str, migration: bool) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 17.1.0\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "image:\n  repository: mojaloop/placeholder\n  tag: v0.0.1\n",
    )
    .unwrap();
    let init = if migration {
        "      initContainers:\n        - name: run-migration\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n          command: [npm, run, migrate]\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("templates/deployment.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}-{{{{ .Chart.Name }}}}\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {{app: {{{{ .Chart.Name }}}}}}\n  template:\n    metadata:\n      labels: {{app: {{{{ .Chart.Name }}}}}}\n    spec:\n{init}      containers:\n        - name: {{{{ .Chart.Name }}}}\n          image: \"{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}\"\n"
        ),
    )
    .unwrap();
}

/// The umbrella's values, as a Hub operator keeps them.
const VALUES: &str = r#"# Mojaloop hub (test umbrella)
centralledger:
  centralledger-service:
    image:
      repository: mojaloop/central-ledger
      tag: &ledgerTag v17.7.0   # the handlers follow the service
  centralledger-handler-transfer-prepare:
    image:
      repository: mojaloop/central-ledger
      tag: *ledgerTag

account-lookup-service:
  image:
    repository: "mojaloop/account-lookup-service"
    tag: "v17.8.0"

secrets:
  mysqlPassword: hunter2-never-printed
"#;

/// Writes the umbrella `mojaloop` chart under `dir` and returns its path.
fn umbrella(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("mojaloop");
    let ledger = root.join("charts/centralledger");
    std::fs::create_dir_all(ledger.join("templates")).unwrap();
    std::fs::write(
        root.join("Chart.yaml"),
        "apiVersion: v2\nname: mojaloop\nversion: 17.1.0\ndependencies:\n  - name: centralledger\n    version: 17.1.0\n  - name: account-lookup-service\n    version: 17.1.0\n",
    )
    .unwrap();
    std::fs::write(root.join("values.yaml"), VALUES).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\nstringData:\n  password: {{ .Values.secrets.mysqlPassword }}\n",
    )
    .unwrap();
    std::fs::write(
        ledger.join("Chart.yaml"),
        "apiVersion: v2\nname: centralledger\nversion: 17.1.0\ndependencies:\n  - name: centralledger-service\n    version: 17.1.0\n  - name: centralledger-handler\n    alias: centralledger-handler-transfer-prepare\n    version: 17.1.0\n",
    )
    .unwrap();
    std::fs::write(ledger.join("values.yaml"), "{}\n").unwrap();
    leaf(
        &ledger.join("charts/centralledger-service"),
        "centralledger-service",
        true,
    );
    leaf(
        &ledger.join("charts/centralledger-handler"),
        "centralledger-handler",
        false,
    );
    leaf(
        &root.join("charts/account-lookup-service"),
        "account-lookup-service",
        false,
    );
    root
}

fn helm(cp: &ControlPlane, args: &[&str]) -> String {
    let output = std::process::Command::new("helm")
        .env("PATH", tool_path())
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ml-operator-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ml-operator-helm-config"),
        )
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "helm {}: {}",
        args.join(" "),
        text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `(workload, container, valuesPath, latestTag, status)` of each finding.
fn traced(report: &Value) -> Vec<(String, String, String, String, String)> {
    let mut rows: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            (
                s(&f["name"]),
                s(&f["container"]),
                s(&f["helm"]["valuesPath"]),
                s(&f["latestTag"]),
                s(&f["status"]),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_helm_release_is_traced_to_its_values_keys_and_upgraded_with_helm() {
    let Some(cp) = ControlPlane::shared_or_skip("a_helm_release_is_traced_to_its_values_keys")
    else {
        return;
    };
    let ns = cp.namespace("helm-hub");
    let dir = tempfile::tempdir().unwrap();
    let chart = umbrella(dir.path());
    let chart = chart.to_str().unwrap();
    helm(cp, &["install", "hub", chart, "-n", ns.name()]);
    let kubeconfig = cp.kubeconfig();

    let report = check_json(kubeconfig, &["-n", ns.name(), "--tags", TAGS]);
    let ledger = "centralledger.centralledger-service.image.tag";
    let prepare = "centralledger.centralledger-handler-transfer-prepare.image.tag";
    let als = "account-lookup-service.image.tag";
    let row = |w: &str, c: &str, p: &str, latest: &str| {
        (
            format!("hub-{w}"),
            c.to_string(),
            p.to_string(),
            latest.to_string(),
            "update-available".to_string(),
        )
    };
    assert_eq!(
        traced(&report),
        [
            row(
                "account-lookup-service",
                "account-lookup-service",
                als,
                "v17.8.1"
            ),
            row(
                "centralledger-handler-transfer-prepare",
                "centralledger-handler-transfer-prepare",
                prepare,
                "v17.7.8"
            ),
            row(
                "centralledger-service",
                "centralledger-service",
                ledger,
                "v17.7.8"
            ),
            row("centralledger-service", "run-migration", ledger, "v17.7.8"),
        ]
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["helm"]["release"], "hub");
    assert_eq!(finding["helm"]["chart"], "mojaloop");
    assert_eq!(finding["helm"]["chartVersion"], "17.1.0");
    assert_eq!(finding["managedBy"]["tool"], "helm");
    let whole = report.to_string();
    assert!(
        !whole.contains("hunter2"),
        "a value other than an image key leaked: {whole}"
    );

    // `-o helm`: one command for the release, runnable as printed.
    let release_chart = format!("hub={chart}");
    let kc = kubeconfig.to_str().unwrap();
    let printed = ml_operator_ok(&[
        "check",
        "--kubeconfig",
        kc,
        "-n",
        ns.name(),
        "--tags",
        TAGS,
        "-o",
        "helm",
        "--helm-chart",
        &release_chart,
    ]);
    let commands: Vec<&str> = printed.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(commands.len(), 1, "{printed}");
    assert!(!printed.contains("hunter2"));
    let expected = format!(
        "helm upgrade hub {chart} -n {ns} --version 17.1.0 --reuse-values --set '{als}=v17.8.1' --set '{prepare}=v17.7.8' --set '{ledger}=v17.7.8'",
        ns = ns.name()
    );
    assert_eq!(commands[0], expected);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(commands[0])
        .env("PATH", tool_path())
        .env("KUBECONFIG", kubeconfig)
        .env("HELM_CACHE_HOME", dir.path().join("cache"))
        .env("HELM_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));

    // Exactly those images changed, and nothing else.
    let images: Vec<(String, String, String)> = [
        "account-lookup-service",
        "centralledger-handler-transfer-prepare",
        "centralledger-service",
    ]
    .iter()
    .flat_map(|w| images_of(&ns.get_json(&["deployment", &format!("hub-{w}")])))
    .collect();
    assert_eq!(
        images,
        [
            (
                "containers".into(),
                "account-lookup-service".into(),
                "mojaloop/account-lookup-service:v17.8.1".into()
            ),
            (
                "containers".into(),
                "centralledger-handler-transfer-prepare".into(),
                "mojaloop/central-ledger:v17.7.8".into()
            ),
            (
                "containers".into(),
                "centralledger-service".into(),
                "mojaloop/central-ledger:v17.7.8".into()
            ),
            (
                "initContainers".into(),
                "run-migration".into(),
                "mojaloop/central-ledger:v17.7.8".into()
            ),
        ]
    );
    let again = check_json(kubeconfig, &["-n", ns.name(), "--tags", TAGS]);
    assert_eq!(again["summary"]["updates"], 0, "{again}");
    assert!(
        traced(&again)
            .iter()
            .all(|r| r.4 == "up-to-date" && r.2 != "-"),
        "{:?}",
        traced(&again)
    );
}

#[test]
fn values_write_changes_only_the_tag_lines_and_helm_renders_them() {
    let Some(cp) = ControlPlane::shared_or_skip("values_write_changes_only_the_tag_lines") else {
        return;
    };
    let ns = cp.namespace("helm-values");
    let dir = tempfile::tempdir().unwrap();
    let chart = umbrella(dir.path());
    helm(
        cp,
        &["install", "hub", chart.to_str().unwrap(), "-n", ns.name()],
    );
    let copy = dir.path().join("values-mojaloop.yaml");
    std::fs::write(&copy, VALUES).unwrap();
    let kc = cp.kubeconfig().to_str().unwrap();
    let values = copy.to_str().unwrap();
    let base = [
        "check",
        "--kubeconfig",
        kc,
        "-n",
        ns.name(),
        "--tags",
        TAGS,
        "--values",
        values,
    ];

    let diff = ml_operator_ok(&[&base[..], &["-o", "diff"]].concat());
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    assert_eq!(
        changed,
        [
            "-      tag: &ledgerTag v17.7.0   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.8   # the handlers follow the service",
            "-    tag: \"v17.8.0\"",
            "+    tag: \"v17.8.1\"",
        ],
        "{diff}"
    );
    assert!(!diff.contains("hunter2"));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        VALUES,
        "-o diff alone writes nothing"
    );

    ml_operator_ok(&[&base[..], &["--write", "-o", "json"]].concat());
    let written = std::fs::read_to_string(&copy).unwrap();
    assert_eq!(
        written,
        VALUES
            .replace("&ledgerTag v17.7.0", "&ledgerTag v17.7.8")
            .replace("\"v17.8.0\"", "\"v17.8.1\"")
    );
    let rendered = helm(
        cp,
        &["template", "hub", chart.to_str().unwrap(), "-f", values],
    );
    assert_eq!(
        rendered.matches("mojaloop/central-ledger:v17.7.8").count(),
        3,
        "{rendered}"
    );
    assert_eq!(
        rendered
            .matches("mojaloop/account-lookup-service:v17.8.1")
            .count(),
        1
    );
    assert!(!rendered.contains("v17.7.0") && !rendered.contains("v17.8.0\""));
}
