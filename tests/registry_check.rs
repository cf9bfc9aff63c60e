//! `check` against a real registry: the real `docker-registry` holds every tag of the bundled
//! example's tag index, a counting proxy stands in front of it as the hub's `docker.io` and
//! `quay.io` mirror, and `check -f examples/hub` must find exactly what the offline index finds
//! — with exactly one tag walk per repository.

mod support;

use std::path::Path;

use ml_operator_testkit::proxy::{Fault, FaultProxy, Paging};
use serde_json::Value;
use support::{example_index, example_registry, repo};

async fn ml_operator(args: &[&str]) -> std::process::Output {
    // No credentials from the machine's ~/.docker.
    let docker_config = tempfile::tempdir().unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .env("DOCKER_CONFIG", docker_config.path())
        .args(args)
        .output()
        .await
        .unwrap()
}

/// A digest-pinned image stays pinned when the registry can be asked for the new tag's digest
/// (the offline index cannot: there the pin is dropped with a note). Checks that, then leaves
/// the fields that differ for it out of the comparison.
fn unpin(online: &mut [Value], offline: &mut [Value]) {
    for (on, off) in online.iter_mut().zip(offline.iter_mut()) {
        if on["image"].as_str().is_some_and(|i| i.contains("@sha256:"))
            && let (Some(pinned), Some(unpinned)) =
                (on["latestImage"].as_str(), off["latestImage"].as_str())
        {
            assert!(
                pinned.starts_with(&format!("{unpinned}@sha256:")),
                "{pinned}"
            );
            for field in ["latestImage", "command", "notes"] {
                on[field] = Value::Null;
                off[field] = Value::Null;
            }
        }
    }
}

fn findings(output: &std::process::Output) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    report["findings"].as_array().unwrap().clone()
}

/// One registry fill (3,655 tags) serves every phase: filling is the slow part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_real_registry() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let (_registry, proxy, config) = example_registry(dir.path()).await;
    println!("filled the registry in {:?}", started.elapsed());
    same_findings_as_the_offline_index(&proxy, &config, dir.path()).await;
    println!("phase 1 done at {:?}", started.elapsed());
    proxy.clear_log();
    paged_tag_lists_and_the_tags_command(&proxy, &config).await;
    proxy.set_paging(Paging::Off);
    a_failing_repository_is_unresolved_and_the_scan_is_partial(&proxy, &config).await;
}

async fn same_findings_as_the_offline_index(proxy: &FaultProxy, config: &Path, dir: &Path) {
    let config = config.to_str().unwrap();

    let offline = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--tags",
        "examples/tags.json",
        "-o",
        "json",
    ])
    .await;
    assert!(offline.status.success());
    let online = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--config",
        config,
        "-o",
        "json",
    ])
    .await;
    assert!(
        online.status.success(),
        "{}",
        String::from_utf8_lossy(&online.stderr)
    );
    let (mut online_findings, mut offline_findings) = (findings(&online), findings(&offline));
    unpin(&mut online_findings, &mut offline_findings);
    assert_eq!(online_findings, offline_findings);

    // Politeness: one walk per repository, however many workloads share it.
    let repositories = example_index().len();
    assert_eq!(
        proxy.count("/tags/list"),
        repositories,
        "{:#?}",
        proxy.seen()
    );
    assert_eq!(
        proxy.count("/v2/"),
        repositories + 1 + proxy.count("/manifests/"),
        "one shared /v2/ check, then the walks (and the pinned image's new digest)"
    );
    assert_eq!(
        proxy.count("/manifests/"),
        1,
        "one HEAD keeps the pinned image pinned"
    );

    // The air-gapped flow: export the tags used, then check from the snapshot alone.
    let snapshot = dir.join("snapshot.json");
    let exported = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--config",
        config,
        "--export-tags",
        snapshot.to_str().unwrap(),
        "-o",
        "json",
    ])
    .await;
    assert!(exported.status.success());
    let from_snapshot = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--tags",
        snapshot.to_str().unwrap(),
        "-o",
        "json",
    ])
    .await;
    assert_eq!(findings(&from_snapshot), findings(&offline));
}

async fn paged_tag_lists_and_the_tags_command(proxy: &FaultProxy, config: &Path) {
    proxy.set_paging(Paging::DockerHub { page: 25 });
    let output = ml_operator(&[
        "tags",
        "mojaloop/central-ledger",
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut listed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut expected = example_index()["mojaloop/central-ledger"].clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(proxy.count("/tags/list") > 1, "the list came in pages");

    let usage = ml_operator(&[
        "tags",
        "mojaloop/central-ledger:v1",
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    assert_eq!(usage.status.code(), Some(2));
}

async fn a_failing_repository_is_unresolved_and_the_scan_is_partial(
    proxy: &FaultProxy,
    config: &Path,
) {
    proxy.inject(
        "/v2/mojaloop/central-ledger/tags/list",
        vec![Fault::Status(500); 20],
    );
    let offline = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--tags",
        "examples/tags.json",
        "-o",
        "json",
    ])
    .await;
    let output = ml_operator(&[
        "check",
        "-f",
        "examples/hub",
        "--config",
        config.to_str().unwrap(),
        "-o",
        "json",
    ])
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "a partial scan is not a success"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mojaloop/central-ledger") && stderr.contains("partial scan"),
        "{stderr}"
    );
    let (mut got, mut expected) = (findings(&output), findings(&offline));
    unpin(&mut got, &mut expected);
    for (finding, expected) in got.iter().zip(expected) {
        if finding["repository"] == "mojaloop/central-ledger" {
            assert_eq!(finding["status"], "unresolved", "{finding}");
            assert!(
                finding["reason"].as_str().unwrap().contains("500"),
                "{finding}"
            );
        } else {
            // A workload's command patches all its containers with an update, so the commands
            // of workloads that also run central-ledger lose that container; nothing else
            // changes.
            let without_command = |f: &Value| {
                let mut f = f.clone();
                f.as_object_mut().unwrap().remove("command");
                f
            };
            assert_eq!(
                without_command(finding),
                without_command(&expected),
                "only the failing repository is affected"
            );
            if let Some(command) = finding["command"].as_str() {
                assert!(
                    !command.contains("mojaloop/central-ledger:"),
                    "the unresolved repository is in no command: {command}"
                );
            }
        }
    }
}
