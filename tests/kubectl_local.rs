//! Every `kubectl patch` command printed for the bundled example is run by the real `kubectl`
//! (`--local`, against the manifest itself), and must change exactly the containers its patch
//! lists — every container of that workload with an update, in one strategic merge patch.

use std::path::PathBuf;
use std::process::Command;

use ml_operator::source::manifest::read_objects;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `check -o json` on a manifest set and returns its `patches` (one per workload).
fn patches(manifests: &str, tags: &str) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .args(["check", "-f", manifests, "--tags", tags, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let patches = report["patches"].as_array().unwrap().clone();
    // Every finding with a command is in exactly its workload's patch, with that command.
    for finding in findings.iter().filter(|f| f["command"].is_string()) {
        let patch = patches
            .iter()
            .find(|p| {
                p["kind"] == finding["kind"]
                    && p["namespace"] == finding["namespace"]
                    && p["name"] == finding["name"]
            })
            .unwrap_or_else(|| panic!("no patch for {finding}"));
        assert_eq!(patch["command"], finding["command"]);
    }
    let workloads: std::collections::BTreeSet<String> = patches
        .iter()
        .map(|p| format!("{} {} {}", p["kind"], p["namespace"], p["name"]))
        .collect();
    assert_eq!(workloads.len(), patches.len(), "one patch per workload");
    patches
}

/// The pod spec path for a kind, as kubectl will have patched it.
fn pod_spec_mut<'a>(object: &'a mut Value, kind: &str) -> &'a mut Value {
    let path: &[&str] = match kind {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    };
    path.iter().fold(object, |value, key| &mut value[*key])
}

fn run_every_command_through_kubectl(manifests: &str, tags: &str) -> usize {
    assert!(
        kubectl_available(),
        "kubectl is not installed: run scripts/install-test-deps"
    );
    let (objects, _) = read_objects(
        &[repo().join(manifests)],
        ml_operator::source::manifest::DEFAULT_MAX_INPUT_BYTES,
    )
    .unwrap();
    let patches = patches(manifests, tags);
    assert!(!patches.is_empty(), "the example must have updates");
    let scratch = tempfile::tempdir().unwrap();

    for workload_patch in &patches {
        let (kind, namespace, name) = (
            workload_patch["kind"].as_str().unwrap(),
            workload_patch["namespace"].as_str().unwrap(),
            workload_patch["name"].as_str().unwrap(),
        );
        let command = workload_patch["command"].as_str().unwrap();
        let prefix = format!(
            "kubectl patch {} {name} -n {namespace} --patch '",
            kind.to_lowercase()
        );
        let patch = command
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("unexpected command shape: {command}"));
        serde_json::from_str::<Value>(patch)
            .unwrap_or_else(|e| panic!("patch is not JSON ({e}): {patch}"));

        let original = objects
            .iter()
            .map(|o| &o.value)
            .find(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"] == name
                    && o["metadata"]["namespace"].as_str().unwrap_or("default") == namespace
            })
            .unwrap_or_else(|| panic!("no manifest for {kind} {namespace}/{name}"))
            .clone();
        let file = scratch
            .path()
            .join(format!("{kind}-{namespace}-{name}.json"));
        std::fs::write(&file, serde_json::to_vec(&original).unwrap()).unwrap();

        let output = Command::new("kubectl")
            .env("KUBECONFIG", scratch.path().join("no-cluster-needed"))
            .args([
                "patch",
                "--local",
                "--type",
                "strategic",
                "-o",
                "json",
                "-p",
                patch,
                "-f",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl rejected {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let patched: Value = serde_json::from_slice(&output.stdout).unwrap();

        // What we expect: the input with exactly the listed containers' images changed.
        let mut expected = original.clone();
        for listed in workload_patch["containers"].as_array().unwrap() {
            let list = if listed["initContainer"] == true {
                "initContainers"
            } else {
                "containers"
            };
            let containers = pod_spec_mut(&mut expected, kind)[list]
                .as_array_mut()
                .unwrap();
            let matching: Vec<&mut Value> = containers
                .iter_mut()
                .filter(|c| c["name"] == listed["name"])
                .collect();
            assert_eq!(matching.len(), 1, "{command}");
            for container in matching {
                assert_eq!(container["image"], listed["image"], "{command}");
                container["image"] = listed["latestImage"].clone();
            }
        }
        assert_ne!(expected, original);
        assert_eq!(
            patched, expected,
            "{command} changed more (or less) than the containers it lists"
        );
    }
    patches.len()
}

#[test]
fn every_command_for_the_bundled_example_changes_exactly_its_workloads_containers() {
    let count = run_every_command_through_kubectl("examples/hub", "examples/tags.json");
    assert_eq!(count, 21, "one command per workload with updates");
}

#[test]
fn every_command_for_the_small_hub_changes_exactly_its_workloads_containers() {
    // Covers a CronJob, an init container, a sidecar and a registry written out in full.
    let count = run_every_command_through_kubectl(
        "tests/fixtures/small-hub.yaml",
        "tests/fixtures/small-tags.json",
    );
    assert_eq!(count, 3);
}
