//! The supply-chain signals without a cluster, against the real docker-registry: the release
//! cool-down with a clock the test controls, `check -f` (no Pods, so only digest pins are
//! compared), and the requests per scan of the bundled example hub with every signal on. The
//! cluster side (the digests the nodes pulled, `check` and `run` on every channel) is
//! `tests/e2e_supply_chain.rs`, on the real control plane.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ml_operator::inventory::{RunningDigests, Workload};
use ml_operator::scan::ScanOptions;
use ml_operator::scan::pipeline::{self, Inputs};
use ml_operator::tags::TagSource;
use ml_operator::tags::supply::SupplyPolicy;
use ml_operator_registry::{ClientOptions, Registry, RegistryConfig, RequestKind};
use ml_operator_testkit::cosign::FormatSigner;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};

const OLD: &str = "2020-01-01T00:00:00Z";
const NAMESPACE: &str = "supply";

fn finding<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no finding for {name}: {report:#}"))
}

/// The cool-down with a clock the test controls: a tag built now is held back until
/// `created + minimumReleaseAge`, then released; its build time is asked once.
#[tokio::test]
async fn the_cool_down_releases_the_tag_when_the_clock_passes_it() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    registry
        .push_image("hub/fresh", &["v5.0.0"], "old", Some(OLD))
        .await;
    let built = chrono::Utc::now();
    registry
        .push_image(
            "hub/fresh",
            &["v5.0.1"],
            "just now",
            Some(&built.to_rfc3339()),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let entry = RegistryConfig {
        host: registry.host(),
        minimum_release_age: Some(Duration::from_secs(24 * 3600)),
        ..Default::default()
    };
    let client = Registry::new(ClientOptions {
        registries: vec![entry.clone()],
        docker_config: Some(dir.path().into()),
        ..Default::default()
    })
    .unwrap();
    let source = TagSource::Registry(client.clone());
    let policy =
        SupplyPolicy::new(&[entry], true, Duration::from_secs(6 * 3600), false, None).unwrap();
    let object = json!({"kind": "Deployment", "metadata": {"name": "fresh", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": format!("{}/hub/fresh:v5.0.0", registry.host())}]}}}});
    let workloads = vec![Workload::from_object(&object, "default").unwrap().unwrap()];
    let running = RunningDigests::default();
    let scan_at = async |now: chrono::DateTime<chrono::Utc>| {
        let inputs = Inputs {
            running: &running,
            policy: &policy,
            now,
        };
        pipeline::run(&source, &workloads, &inputs, ScanOptions::default())
            .await
            .report
            .findings
            .remove(0)
    };

    let held = scan_at(built + chrono::Duration::hours(23)).await;
    assert_eq!(held.status.as_str(), "up-to-date");
    let held_back = held.held_back.expect("held back");
    assert_eq!(held_back.tag, "v5.0.1");
    assert!(held_back.until > built + chrono::Duration::hours(23));
    assert!(held.reason.contains("held back until"), "{}", held.reason);

    let released = scan_at(built + chrono::Duration::hours(25)).await;
    assert_eq!(
        released.status.as_str(),
        "update-available",
        "{}",
        released.reason
    );
    assert_eq!(released.latest_tag.as_deref(), Some("v5.0.1"));
    assert!(released.held_back.is_none());

    // The build time was asked once, by digest: one manifest and one config GET in all.
    let stats = client.stats();
    assert_eq!(stats.requests_of(RequestKind::GetManifest), 1, "{stats:#?}");
    assert_eq!(stats.requests_of(RequestKind::GetBlob), 1);
    assert_eq!(
        stats.requests_of(RequestKind::HeadManifest),
        1,
        "v5.0.1's digest, cached"
    );
}

/// `check -f` has no Pods: only digest-pinned images are compared (against their pin), the
/// others are skipped with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_have_no_pods_so_only_pins_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let pinned = registry
        .push_image("hub/app", &["v1.0.0"], "first", Some(OLD))
        .await;
    registry
        .push_image("hub/app", &["v1.0.0"], "second", Some(OLD))
        .await;
    let host = registry.host();
    let manifest = dir.path().join("hub.yaml");
    let pod = |name: &str, image: String| {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: hub}}\nspec:\n  containers:\n  - {{name: app, image: '{image}'}}\n"
        )
    };
    std::fs::write(
        &manifest,
        pod("pinned", format!("{host}/hub/app:v1.0.0@{pinned}"))
            + &pod("unpinned", format!("{host}/hub/app:v1.0.0")),
    )
    .unwrap();
    let output = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .env("DOCKER_CONFIG", dir.path())
            .args(["check", "-o", "json", "-f"])
            .arg(&manifest)
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("manifests have no Pods"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let pinned_finding = finding(&report, "pinned");
    assert_eq!(pinned_finding["status"], "tag-overwritten");
    assert_eq!(pinned_finding["runningDigest"], pinned.as_str());
    assert_eq!(finding(&report, "unpinned")["status"], "up-to-date");
}

/// The bundled example hub (`examples/hub`) with every signal on, against a real registry
/// holding its tags (the registry as the mirror of docker.io and quay.io), every container's
/// Pod reporting the digest it was pulled at: the requests of a first and a steady scan, by
/// kind. The steady scan makes one tag walk per repository and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_example_stays_within_the_request_budget() {
    use ml_operator::inventory::ImageRef;
    use ml_operator::source::manifest;

    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let text = std::fs::read_to_string(support::repo().join("examples/tags.json")).unwrap();
    let index: BTreeMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
    futures::future::join_all(index.iter().map(|(name, tags)| {
        let repository = ImageRef::parse(name).unwrap().repository();
        let registry = &registry;
        async move { registry.push(&repository, tags, false).await }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let signer = FormatSigner::generate();
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, &signer.public_pem).unwrap();
    let entries: Vec<RegistryConfig> = ["docker.io", "quay.io"]
        .iter()
        .map(|host| RegistryConfig {
            host: host.to_string(),
            mirror: Some(registry.host()),
            minimum_release_age: Some(Duration::from_secs(24 * 3600)),
            verify: Some(ml_operator_registry::VerifyConfig {
                cosign_public_key_file: key.clone(),
            }),
            ..Default::default()
        })
        .collect();
    let options = || ClientOptions {
        registries: entries.clone(),
        docker_config: Some(dir.path().into()),
        cache_ttl: Duration::ZERO,
        default_requests_per_second: None,
        ..Default::default()
    };
    let policy =
        SupplyPolicy::new(&entries, true, Duration::from_secs(6 * 3600), true, None).unwrap();
    let loaded =
        manifest::load(&[support::repo().join("examples/hub")], "default", u64::MAX).unwrap();
    let workloads = loaded.workloads;

    // Every container's Pod reports the digest its tag has in the registry (as a node that
    // pulled it would), or, pinned, its pin.
    let lookup = Registry::new(options()).unwrap();
    let mut listing = workloads.clone();
    let mut pods = BTreeMap::new();
    for (i, workload) in workloads.iter().enumerate() {
        let mut statuses = Vec::new();
        for container in &workload.containers {
            let Ok(image) = ImageRef::parse(&container.image) else {
                continue;
            };
            let digest = match (image.digest(), image.tag()) {
                (Some(pin), _) => Some(pin.to_string()),
                (None, Some(tag)) => lookup
                    .manifest_digest(image.registry(), &image.repository(), tag, Duration::ZERO)
                    .await
                    .ok()
                    .flatten(),
                (None, None) => None,
            };
            if let Some(digest) = digest {
                statuses.push(ml_operator::inventory::RunningImage {
                    container: container.name.as_str().into(),
                    image: container.image.as_str().into(),
                    digest: digest.into(),
                });
            }
        }
        let name = format!("pod-{i}");
        let pod = json!({"kind": "Pod", "metadata": {"name": name, "namespace": workload.namespace,
            "ownerReferences": [{"kind": workload.kind.as_str(), "name": workload.name, "controller": true}]},
            "spec": {"containers": [{"name": "x", "image": "x"}]}});
        listing.push(Workload::from_object(&pod, "default").unwrap().unwrap());
        pods.insert((workload.namespace.clone(), name), statuses);
    }
    let running = RunningDigests::from_listing(&listing, &pods, &[]);

    let client = Registry::new(options()).unwrap();
    let source = TagSource::Registry(client.clone());
    let kinds = [
        RequestKind::Ping,
        RequestKind::TagList,
        RequestKind::HeadManifest,
        RequestKind::GetManifest,
        RequestKind::GetBlob,
    ];
    let mut before: Vec<u64> = vec![0; kinds.len()];
    let repositories = {
        let mut names: Vec<String> = workloads
            .iter()
            .flat_map(|w| &w.containers)
            .filter_map(|c| ImageRef::parse(&c.image).ok())
            .map(|i| i.canonical_name())
            .collect();
        names.sort();
        names.dedup();
        names.len() as u64
    };
    let mut per_scan = Vec::new();
    for scan in ["first", "steady"] {
        let inputs = Inputs {
            running: &running,
            policy: &policy,
            now: chrono::Utc::now(),
        };
        let scanned = pipeline::run(&source, &workloads, &inputs, ScanOptions::default()).await;
        assert!(scanned.failures.is_empty(), "{:?}", scanned.failures);
        // The example pins central-event-processor to a digest this registry's v12.1.1 is not:
        // compared against its pin, it is (rightly) overwritten here.
        assert_eq!(scanned.report.summary.tag_overwritten, 1);
        let stats = client.stats();
        let now: Vec<u64> = kinds.iter().map(|k| stats.requests_of(*k)).collect();
        let delta: BTreeMap<&str, u64> = kinds
            .iter()
            .zip(now.iter().zip(&before))
            .map(|(k, (n, b))| (k.as_str(), n - b))
            .collect();
        println!(
            "{}",
            json!({"scan": scan, "workloads": workloads.len(), "repositories": repositories,
                "containers": scanned.report.summary.containers, "requestsByKind": delta})
        );
        per_scan.push(delta);
        before = now;
    }
    let steady = &per_scan[1];
    assert_eq!(
        steady["tag-list"], repositories,
        "one tag walk per repository: {steady:?}"
    );
    assert_eq!(
        steady["head-manifest"], 0,
        "digests are reused within digestCheckInterval"
    );
    assert_eq!(
        steady["get-manifest"], 0,
        "build times and signature checks are cached"
    );
    assert_eq!(steady["get-blob"], 0);
}
