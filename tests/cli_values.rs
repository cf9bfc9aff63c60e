//! `check --values` on manifests (no cluster): the updates located in values files, `-o diff`,
//! `--write` (atomic, only the tags), no kubectl patch for an Argo CD workload, and bad input
//! (exit 2, naming the file and line).

use assert_cmd::Command;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: central-ledger
  namespace: hub
  annotations: {argocd.argoproj.io/tracking-id: "mojaloop:apps/Deployment:hub/central-ledger"}
spec:
  template:
    spec:
      initContainers: [{name: run-migration, image: "mojaloop/central-ledger:v17.7.0"}]
      containers: [{name: central-ledger, image: "mojaloop/central-ledger:v17.7.0"}]
"#;

const VALUES: &str = "# values-mojaloop.yaml\ncentralledger:\n  image:\n    repository: mojaloop/central-ledger\n    tag: &t v17.7.0 # pinned\n  handler:\n    image: {repository: mojaloop/central-ledger, tag: *t}\ndb:\n  password: hunter2\n";

fn check(dir: &std::path::Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    std::fs::write(dir.join("hub.yaml"), MANIFEST).unwrap();
    let tags = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/helm-hub-tags.json"
    );
    Command::cargo_bin("ml-operator")
        .unwrap()
        .current_dir(dir)
        .args(["check", "-f", "hub.yaml", "--tags", tags])
        .args(extra)
        .assert()
}

#[test]
fn an_argo_cd_workload_gets_no_patch_and_its_values_file_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values-mojaloop.yaml");
    std::fs::write(&values, VALUES).unwrap();
    let out = check(
        dir.path(),
        &["--values", "values-mojaloop.yaml", "-o", "json"],
    )
    .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["patches"], serde_json::json!([]));
    let finding = &report["findings"][0];
    assert_eq!(finding["command"], serde_json::Value::Null);
    assert_eq!(finding["managedBy"]["tool"], "argocd");
    let notes = finding["notes"].to_string();
    assert!(
        notes.contains("values-mojaloop.yaml:5: centralledger.image.tag: v17.7.8"),
        "{notes}"
    );
    // The alias resolves to the same scalar: one line changes, once.
    let diff = check(
        dir.path(),
        &["--values", "values-mojaloop.yaml", "-o", "diff"],
    )
    .success();
    let diff = String::from_utf8(diff.get_output().stdout.clone()).unwrap();
    assert_eq!(
        diff,
        "--- a/values-mojaloop.yaml\n+++ b/values-mojaloop.yaml\n@@ -5 +5 @@\n-    tag: &t v17.7.0 # pinned\n+    tag: &t v17.7.8 # pinned\n"
    );
    assert_eq!(std::fs::read_to_string(&values).unwrap(), VALUES);
    check(dir.path(), &["--values", ".", "--write", "-o", "commands"])
        .success()
        .stdout("");
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        VALUES.replace("&t v17.7.0", "&t v17.7.8")
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_values_input_is_exit_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "a:\n  b: [1, 2\n").unwrap();
    let out = check(dir.path(), &["--values", "bad.yaml"]).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("bad.yaml: line "), "{stderr}");
    check(dir.path(), &["-o", "diff"]).code(2);
    check(dir.path(), &["--helm-chart", "no-equals-sign"]).code(2);
    check(dir.path(), &["--values", "missing.yaml"]).code(2);
}
