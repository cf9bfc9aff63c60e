//! The ImageUpgrade CRD (`ml-operator crd | kubectl apply -f -`) as the real API server serves
//! it: its schema refuses invalid objects and fills the defaults, its status subresource keeps
//! status and spec apart, its printer columns are what `kubectl get imageupgrades` shows, its
//! OpenAPI is published (`kubectl explain`), and `ml-operator approve`/`reject` work on it.

mod e2e_support;

use e2e_support::*;
use serde_json::{Value, json};

fn upgrade(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "ml-operator.mojaloop.io/v1alpha1", "kind": "ImageUpgrade",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn valid_spec() -> Value {
    json!({
        "target": {"kind": "Deployment", "name": "central-ledger", "container": "central-ledger"},
        "currentImage": "mojaloop/central-ledger:v13.14.0",
        "currentTag": "v13.14.0",
        "targetImage": "mojaloop/central-ledger:v13.14.1",
        "targetTag": "v13.14.1",
        "level": "bugfix",
    })
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_api_server_validates_image_upgrades_against_the_crd_schema() {
    let Some(cp) = ControlPlane::shared_or_skip("the ImageUpgrade schema") else {
        return;
    };
    install_crd(cp);
    let ns = cp.namespace("e2e-crd-schema");

    let mut wrong_types = valid_spec();
    wrong_types["approved"] = json!("yes");
    wrong_types["targetTag"] = json!(2);
    let refused = ns.try_apply(&upgrade("wrong-types", wrong_types).to_string());
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("The ImageUpgrade \"wrong-types\" is invalid"),
        "{err}"
    );
    assert!(
        err.contains("spec.approved: Invalid value: \"string\": spec.approved in body must be of type boolean"),
        "{err}"
    );
    assert!(
        err.contains("spec.targetTag: Invalid value: \"integer\": spec.targetTag in body must be of type string"),
        "{err}"
    );

    let mut missing = valid_spec();
    missing["target"]
        .as_object_mut()
        .unwrap()
        .remove("container");
    missing.as_object_mut().unwrap().remove("targetImage");
    let refused = ns.try_apply(&upgrade("missing", missing).to_string());
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("spec.target.container: Required value"),
        "{err}"
    );
    assert!(err.contains("spec.targetImage: Required value"), "{err}");
    let refused = ns.try_apply(
        &json!({"apiVersion": "ml-operator.mojaloop.io/v1alpha1", "kind": "ImageUpgrade",
                "metadata": {"name": "no-spec"}})
        .to_string(),
    );
    assert!(
        stderr(&refused).contains("spec: Required value"),
        "{}",
        stderr(&refused)
    );
    for name in ["wrong-types", "missing", "no-spec"] {
        assert!(!ns.run(&["get", "iu", name]).status.success());
    }

    // A valid one is stored with the schema's defaults filled in by the server.
    ns.apply(&upgrade("central-ledger-central-ledger-v13.14.1", valid_spec()).to_string());
    let stored = ns.get_json(&["iu", "central-ledger-central-ledger-v13.14.1"]);
    let spec = &stored["spec"];
    assert_eq!(spec["approved"], false, "{stored:#}");
    assert_eq!(spec["rejected"], false, "{stored:#}");
    assert_eq!(spec["reason"], "", "{stored:#}");
    assert_eq!(spec["strategy"], "", "{stored:#}");
    assert_eq!(spec["target"]["initContainer"], false, "{stored:#}");
    assert!(stored.get("status").is_none(), "{stored:#}");

    // A status with a phase outside the enum is refused too (through the status subresource).
    let refused = ns.run(&[
        "patch",
        "iu",
        "central-ledger-central-ledger-v13.14.1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Finished"}}"#,
    ]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("status.phase: Unsupported value: \"Finished\": supported values:"),
        "{err}"
    );

    // The published OpenAPI carries the descriptions.
    let explained = ns.ok(&["explain", "imageupgrades.spec.approved"]);
    assert!(
        explained.contains("Approve the upgrade") && explained.contains("<boolean>"),
        "{explained}"
    );
}

#[test]
fn status_is_a_subresource_and_kubectl_shows_the_printer_columns() {
    let Some(cp) = ControlPlane::shared_or_skip("the ImageUpgrade status and columns") else {
        return;
    };
    install_crd(cp);
    let ns = cp.namespace("e2e-crd-status");
    const NAME: &str = "central-ledger-central-ledger-v13.14.1";
    ns.apply(&upgrade(NAME, valid_spec()).to_string());
    let get = || ns.get_json(&["imageupgrade", NAME]);
    let generation = |u: &Value| u["metadata"]["generation"].as_i64().unwrap();
    let created = get();
    assert_eq!(generation(&created), 1);

    // Status through the subresource: stored, and the generation (spec) unchanged.
    ns.ok(&[
        "patch",
        "imageupgrade",
        NAME,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Scheduled","message":"waiting for the window","window":{"name":"nightly","opensAt":"2030-01-01T02:00:00Z"}}}"#,
    ]);
    let scheduled = get();
    assert_eq!(scheduled["status"]["phase"], "Scheduled", "{scheduled:#}");
    assert_eq!(scheduled["status"]["history"], json!([]), "defaulted");
    assert_eq!(
        generation(&scheduled),
        1,
        "a status write is not a spec change"
    );

    // A spec write (the approval, as documented) does not touch the status, even when it
    // tries to; the generation goes up.
    ns.ok(&[
        "patch",
        "imageupgrade",
        NAME,
        "--type=merge",
        "-p",
        r#"{"spec":{"approved":true,"approvedBy":"alice"},"status":{"phase":"Succeeded"}}"#,
    ]);
    let approved = get();
    assert_eq!(approved["spec"]["approved"], true);
    assert_eq!(approved["spec"]["approvedBy"], "alice");
    assert_eq!(approved["status"], scheduled["status"], "status untouched");
    assert_eq!(generation(&approved), 2);
    // Nor does a status write touch the spec.
    ns.ok(&[
        "patch",
        "imageupgrade",
        NAME,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"spec":{"approved":false},"status":{"message":"still waiting"}}"#,
    ]);
    let after = get();
    assert_eq!(after["spec"], approved["spec"]);
    assert_eq!(after["status"]["message"], "still waiting");

    // The printer columns, by the plural and the short name.
    let table = ns.ok(&["get", "imageupgrades"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PHASE",
            "WORKLOAD",
            "CONTAINER",
            "FROM",
            "TO",
            "APPROVED",
            "WINDOW",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..8],
        [
            NAME,
            "Scheduled",
            "central-ledger",
            "central-ledger",
            "v13.14.0",
            "v13.14.1",
            "true",
            "nightly"
        ],
        "{table}"
    );
    let wide = ns.ok(&["get", "iu", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PHASE",
            "KIND",
            "WORKLOAD",
            "CONTAINER",
            "FROM",
            "TO",
            "APPROVED",
            "WINDOW",
            "OPENS",
            "AGE"
        ],
        "{wide}"
    );
    assert!(wide.contains("Deployment"), "{wide}");
    let phase = ns.ok(&["get", "iu", NAME, "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Scheduled");
}

#[test]
fn ml_operator_approve_and_reject_write_the_spec_and_refuse_a_final_phase() {
    let Some(cp) = ControlPlane::shared_or_skip("ml-operator approve and reject") else {
        return;
    };
    install_crd(cp);
    let ns = cp.namespace("e2e-crd-approve");
    const FIRST: &str = "central-ledger-central-ledger-v13.14.1";
    const NEWER: &str = "central-ledger-central-ledger-v13.14.2";
    let mut newer = valid_spec();
    newer["targetImage"] = json!("mojaloop/central-ledger:v13.14.2");
    newer["targetTag"] = json!("v13.14.2");
    ns.apply(&list(&[
        upgrade(FIRST, valid_spec()),
        upgrade(NEWER, newer),
    ]));
    let kubeconfig = cp.kubeconfig().to_str().unwrap();

    let out = ml_operator_ok(&[
        "approve",
        FIRST,
        "-n",
        ns.name(),
        "--by",
        "alice",
        "--kubeconfig",
        kubeconfig,
    ]);
    assert!(out.contains("approved"), "{out}");
    let approved = ns.get_json(&["iu", FIRST]);
    assert_eq!(approved["spec"]["approved"], true, "{approved:#}");
    assert_eq!(approved["spec"]["approvedBy"], "alice", "{approved:#}");

    // Superseded (as the operator records it): approving is refused, naming the successor.
    ns.ok(&[
        "patch",
        "iu",
        FIRST,
        "--subresource=status",
        "--type=merge",
        "-p",
        &json!({"status": {"phase": "Superseded", "supersededBy": NEWER}}).to_string(),
    ]);
    let out = ml_operator(&[
        "approve",
        FIRST,
        "-n",
        ns.name(),
        "--kubeconfig",
        kubeconfig,
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Superseded") && err.contains(NEWER), "{err}");

    ml_operator_ok(&[
        "reject",
        NEWER,
        "-n",
        ns.name(),
        "--by",
        "bob",
        "--kubeconfig",
        kubeconfig,
    ]);
    let rejected = ns.get_json(&["iu", NEWER]);
    assert_eq!(rejected["spec"]["rejected"], true, "{rejected:#}");
    assert_eq!(rejected["spec"]["rejectedBy"], "bob", "{rejected:#}");
    assert_eq!(rejected["spec"]["approved"], false);

    // Unknown names are input errors.
    let out = ml_operator(&[
        "approve",
        "nope",
        "-n",
        ns.name(),
        "--kubeconfig",
        kubeconfig,
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
