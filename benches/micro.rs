//! Micro benchmarks of the pieces one scan and one notification are made of, at sizes bigger
//! than the bundled example:
//!
//! - `tags-10k`: parsing 10,000 tags of one repository; building their `TagSet` (parsed and
//!   sorted, once per repository per scan); deciding one current tag against it with each
//!   strategy (`decide`, what a scan does per container), the whole resolution with the
//!   `--explain` text, and `scan` of one container (image reference, tag lookup, tag set,
//!   decision, reason and `kubectl patch` command);
//! - `image-refs`: parsing realistic image references;
//! - `manifest-2000`: `manifest::load` of 2,000 workloads as one multi-document YAML file and as
//!   one JSON `kind: List`;
//! - `tag-index-1m`: `TagIndex::load` of a 1,000,000-tag repository as `--export-tags` writes
//!   it, and the round trip (the scan's snapshot written, then loaded back; checked equal at
//!   setup). `cargo test --benches` runs it at 10,000 tags, so the smoke run stays fast;
//! - `notify-27`, `notify-2000`: rendering the Slack message (text and Block Kit), the Teams
//!   Adaptive Card and the signed webhook body for a typical notification (the 27 updates of the
//!   bundled example) and a big one (2,000 updates); no HTTP.
//!
//! Run with `cargo bench --bench micro` (one group: `cargo bench --bench micro -- tags-10k`);
//! the estimates, medians included, are in `target/criterion/<group>/<name>/new/estimates.json`.
//! `cargo test --benches` runs every benchmark once, as a smoke test.
//!
//! Every input comes from the repository (`examples/hub`, `examples/tags.json`) or is generated
//! deterministically at setup, so runs compare; the manifests are written to a temporary
//! directory that is removed at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use ml_operator::inventory::Workload;
use ml_operator::inventory::image::ImageRef;
use ml_operator::notify::plan::ScanResult;
use ml_operator::scan::{ScanOptions, scan};
use ml_operator::source::manifest;
use ml_operator::tags::index::TagIndex;
use ml_operator_notify::{ChatOptions, Event, Notification, Update, slack, teams, webhook};
use ml_operator_version::{Strategy, TagSet, Version};
use serde_json::{Value, json};

/// How many tags the one repository of `tags-10k` lists.
const TAG_COUNT: usize = 10_000;
/// The repository those tags belong to.
const REPOSITORY: &str = "mojaloop/central-ledger";
/// The tag resolved against them: a real tag with real neighbours for every strategy
/// (`v15.1.2.1` for patch, newer `v15.1.x`, `v15.x` and majors).
const CURRENT_TAG: &str = "v15.1.2";
/// How many workload documents `manifest-2000` loads.
const WORKLOAD_COUNT: usize = 2_000;
/// How many updates the big notification holds.
const BIG_NOTIFICATION: usize = 2_000;
/// The webhook signing key.
const SIGNING_KEY: &[u8] = b"bench-webhook-signing-key";

/// References people write that the example hub does not have: registry ports, digests,
/// `library/` and fully qualified Docker Hub names, GHCR, Quay, ECR, GCR, deep paths.
const EXTRA_REFERENCES: &[&str] = &[
    "localhost:5000/mojaloop/central-ledger:v17.0.0",
    "registry.local:5000/team/app:1.2.3",
    "10.0.0.12:5000/mojaloop/quoting-service:v15.0.1",
    "[::1]:5000/x/y:v1",
    "docker.io/library/redis:7.2.4-alpine",
    "library/mysql:8.0.36",
    "nginx",
    "ghcr.io/mojaloop/ml-testing-toolkit:v18.0.0",
    "ghcr.io/org/team/service/api:2024.05.1",
    "quay.io/prometheus/node-exporter:v1.8.1",
    "quay.io/jetstack/cert-manager-controller:v1.14.5",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mojaloop/account-lookup-service:v17.1.0",
    "europe-docker.pkg.dev/project-id/repo/image:v2.0.0-rc1",
    "mojaloop/central-ledger@sha256:3f5c0a6e9b1d47c28e0f6a2b5d9c41e7a8b3f0d62c5e19a4b7d8e2f1c0a93b56",
    "ghcr.io/org/app:v1.0.0@sha256:9d2e1c0b8a7f6e5d4c3b2a190817263544536271809a8b7c6d5e4f3a2b1c0d9e",
];

/// A path inside the repository.
fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Criterion settings that keep the whole run under three minutes on two cores. No plots: they
/// took longer than the measurements (about 5 s per benchmark).
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .without_plots()
}

/// Settings for benchmarks of several milliseconds per iteration.
fn milliseconds(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
}

/// Settings for benchmarks that take tens of milliseconds or more per iteration.
fn slow(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------------
// tags-10k

/// Deterministic pseudo-random numbers (a 64-bit linear congruential generator): the same tags
/// on every run and machine.
struct Lcg(u64);

impl Lcg {
    /// A number below `bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// One generated tag in one of the shapes registries list: `v` and bare, 3 and 4 parts,
/// snapshot and PISP tracks, pre-releases, git shas and floating names.
fn generated_tag(rng: &mut Lcg) -> String {
    let (x, y, z) = (rng.below(20), rng.below(25), rng.below(30));
    let n = rng.below(200);
    match rng.below(14) {
        0..=2 => format!("v{x}.{y}.{z}"),
        3 => format!("{x}.{y}.{z}"),
        4 => format!("v{x}.{y}.{z}.{}", n % 6),
        5 => format!("{x}.{y}.{z}.{}", n % 6),
        6 => format!("v{x}.{y}.{z}-snapshot.{n}"),
        7 => format!("v{x}.{y}.{z}-snapshot"),
        8 => format!("v{x}.{y}.{z}-pisp.{}", n % 12),
        9 => format!("v{x}.{y}.{z}.{}-pisp", n % 4),
        10 => format!("v{x}.{y}.{z}-rc{}", n % 6),
        11 => format!("v{x}.{y}.{z}-alpha.{n}"),
        12 => format!("{:07x}", rng.below(1 << 28)),
        _ => ["latest", "main", "develop", "stable", "local"][n as usize % 5].to_string(),
    }
}

/// Exactly `TAG_COUNT` distinct tags: every real tag of `examples/tags.json` (all its
/// repositories, 2,622 distinct), then generated ones.
fn ten_thousand_tags() -> Vec<String> {
    let text = std::fs::read_to_string(example("examples/tags.json")).unwrap();
    let index: BTreeMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
    let mut seen = BTreeSet::new();
    let mut tags: Vec<String> = index
        .into_values()
        .flatten()
        .filter(|tag| seen.insert(tag.clone()))
        .collect();
    let mut rng = Lcg(9);
    while tags.len() < TAG_COUNT {
        let tag = generated_tag(&mut rng);
        if seen.insert(tag.clone()) {
            tags.push(tag);
        }
    }
    tags
}

/// One Deployment running `REPOSITORY:CURRENT_TAG`, as the scan sees it.
fn one_container_workload() -> Workload {
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "central-ledger", "namespace": "mojaloop"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "central-ledger", "image": format!("{REPOSITORY}:{CURRENT_TAG}")}
        ]}}}
    });
    Workload::from_object(&object, "default").unwrap().unwrap()
}

fn bench_tags(c: &mut Criterion) {
    let tags = ten_thousand_tags();
    let mut index = TagIndex::default();
    index.insert(&ImageRef::parse(REPOSITORY).unwrap(), tags.clone());
    let workloads = [one_container_workload()];

    let mut group = c.benchmark_group("tags-10k");
    milliseconds(&mut group);
    group.throughput(Throughput::Elements(TAG_COUNT as u64));
    group.bench_function("parse all", |b| {
        b.iter(|| {
            black_box(&tags)
                .iter()
                .filter(|tag| Version::parse(tag).is_ok())
                .count()
        })
    });
    group.bench_function("tag set (parse and sort once)", |b| {
        b.iter(|| TagSet::new(black_box(&tags).iter().map(String::as_str)))
    });
    let set = TagSet::new(tags.iter().map(String::as_str));
    for strategy in Strategy::ALL {
        group.bench_function(BenchmarkId::new("decide", strategy), |b| {
            b.iter(|| black_box(&set).decide(CURRENT_TAG, strategy))
        });
        group.bench_function(BenchmarkId::new("resolve + explain", strategy), |b| {
            b.iter(|| black_box(&set).resolve(CURRENT_TAG, strategy).explain())
        });
        group.bench_function(BenchmarkId::new("scan one container", strategy), |b| {
            let options = ScanOptions {
                strategy,
                explain: false,
            };
            b.iter(|| scan(black_box(&workloads), &index, options))
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// image-refs

/// Every distinct image of the example hub, then `EXTRA_REFERENCES`.
fn image_references() -> Vec<String> {
    let hub = manifest::load(
        &[example("examples/hub")],
        "default",
        manifest::DEFAULT_MAX_INPUT_BYTES,
    )
    .unwrap();
    let images: BTreeSet<String> = hub
        .workloads
        .iter()
        .flat_map(|w| &w.containers)
        .map(|c| c.image.clone())
        .collect();
    images
        .into_iter()
        .chain(EXTRA_REFERENCES.iter().map(|r| r.to_string()))
        .collect()
}

fn bench_image_refs(c: &mut Criterion) {
    let references = image_references();
    let mut group = c.benchmark_group("image-refs");
    group.throughput(Throughput::Elements(references.len() as u64));
    group.bench_function(format!("parse {} references", references.len()), |b| {
        b.iter(|| {
            black_box(&references)
                .iter()
                .filter(|r| ImageRef::parse(r).is_ok())
                .count()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// manifest-2000

/// Images the generated workloads run (with real, older tags).
const IMAGES: &[&str] = &[
    "mojaloop/central-ledger:v17.0.0",
    "mojaloop/account-lookup-service:v15.1.0",
    "mojaloop/quoting-service:v15.0.2",
    "mojaloop/ml-api-adapter:v14.0.0",
    "docker.io/mojaloop/central-settlement:v15.0.0",
    "bitnami/mysql:8.0.29-debian-11-r9",
    "redis:6.2.4-alpine",
    "quay.io/fluentd_elasticsearch/fluentd:v2.6.0",
];

/// The kind of the `i`th workload: 80 % Deployments, 10 % StatefulSets, 5 % DaemonSets, 5 %
/// CronJobs.
fn kind_of(i: usize) -> &'static str {
    match i % 20 {
        0..=15 => "Deployment",
        16 | 17 => "StatefulSet",
        18 => "DaemonSet",
        _ => "CronJob",
    }
}

/// The `i`th workload's pod spec: a main container with ports, env, resources and a probe;
/// every third an `event-sidecar`; every fourth a `wait-for-db` init container.
fn pod_spec(i: usize, name: &str) -> Value {
    let mut containers = vec![json!({
        "name": name,
        "image": IMAGES[i % IMAGES.len()],
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 3000 + i % 10, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_HOST", "value": format!("mysql-{}.db.svc.cluster.local", i % 7)},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 15},
    })];
    if i.is_multiple_of(3) {
        containers
            .push(json!({"name": "event-sidecar", "image": "mojaloop/event-sidecar:v11.0.1"}));
    }
    let mut spec = json!({"containers": containers, "serviceAccountName": name});
    if i.is_multiple_of(4) {
        spec["initContainers"] = json!([{
            "name": "wait-for-db", "image": "busybox:1.28",
            "command": ["sh", "-c", "until nc -z mysql 3306; do sleep 2; done"],
        }]);
    }
    spec
}

/// The `i`th workload's `spec`, shaped for its kind.
fn workload_spec(kind: &str, i: usize, name: &str, labels: &Value) -> Value {
    let template = json!({"metadata": {"labels": labels}, "spec": pod_spec(i, name)});
    let selector = json!({"matchLabels": {"app.kubernetes.io/name": name}});
    match kind {
        "CronJob" => json!({
            "schedule": "*/15 * * * *",
            "jobTemplate": {"spec": {"template": template}},
        }),
        "DaemonSet" => json!({"selector": selector, "template": template}),
        "StatefulSet" => json!({
            "replicas": 1 + i % 3, "serviceName": name, "selector": selector, "template": template,
        }),
        _ => json!({"replicas": 1 + i % 2, "selector": selector, "template": template}),
    }
}

/// The `i`th generated workload object, with Helm-style metadata; every third carries the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation `kubectl apply` writes.
fn workload_object(i: usize) -> Value {
    let kind = kind_of(i);
    let name = format!("svc-{i:04}");
    let labels = json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": format!("release-{}", i % 50),
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": "mojaloop-17.1.0",
    });
    let api_version = if kind == "CronJob" {
        "batch/v1"
    } else {
        "apps/v1"
    };
    let mut object = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": format!("team-{:02}", i % 20),
            "labels": labels,
            "annotations": {
                "meta.helm.sh/release-name": format!("release-{}", i % 50),
                "meta.helm.sh/release-namespace": format!("team-{:02}", i % 20),
            },
        },
        "spec": workload_spec(kind, i, &name, &labels),
    });
    if i % 3 == 1 {
        let applied = object.to_string();
        object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            Value::String(applied);
    }
    object
}

/// The generated workloads as one multi-document YAML stream.
fn multi_document_yaml(objects: &[Value]) -> String {
    objects.iter().fold(String::new(), |mut text, object| {
        let document = serde_saphyr::to_string(object).unwrap();
        write!(text, "---\n{document}").unwrap();
        text
    })
}

/// The generated workloads as one `kubectl get -o json` style `kind: List`.
fn json_list(objects: &[Value]) -> String {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    serde_json::to_string_pretty(&list).unwrap()
}

fn bench_manifests(c: &mut Criterion) {
    let objects: Vec<Value> = (0..WORKLOAD_COUNT).map(workload_object).collect();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "multi-doc YAML",
            "workloads.yaml",
            multi_document_yaml(&objects),
        ),
        ("JSON List", "workloads.json", json_list(&objects)),
    ];

    let mut group = c.benchmark_group("manifest-2000");
    slow(&mut group);
    for (label, file, text) in files {
        let path = vec![dir.path().join(file)];
        std::fs::write(&path[0], &text).unwrap();
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                manifest::load(
                    black_box(&path),
                    "default",
                    manifest::DEFAULT_MAX_INPUT_BYTES,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// tag-index-1m

/// How many tags `tag-index-1m` loads: a million under `cargo bench`, ten thousand in the smoke
/// run (`cargo test --benches` passes no `--bench`).
fn tag_index_size() -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

/// `count` distinct tags `v{x}.{y}.{z}`, in a scrambled (not sorted) order.
fn distinct_tags(count: usize) -> Vec<String> {
    // 1,000,003 is prime, so i ↦ i·p mod n visits every index once.
    (0..count)
        .map(|i| (i * 1_000_003) % count)
        .map(|n| format!("v{}.{}.{}", n / 10_000, n / 100 % 100, n % 100))
        .collect()
}

/// The file `--export-tags` writes for `index` and `workloads`.
fn export(workloads: &[Workload], index: &TagIndex) -> String {
    let snapshot = ml_operator::tags::index::snapshot(workloads, index);
    serde_json::to_string_pretty(&snapshot).unwrap() + "\n"
}

fn bench_tag_index(c: &mut Criterion) {
    let count = tag_index_size();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tags.json");
    let tags = distinct_tags(count);
    let text = serde_json::to_string_pretty(&BTreeMap::from([(REPOSITORY, &tags)])).unwrap();
    std::fs::write(&input, &text).unwrap();
    let workloads = [one_container_workload()];
    let image = ImageRef::parse(REPOSITORY).unwrap();
    // The round trip keeps every tag, in order.
    let index = TagIndex::load(&input).unwrap();
    let exported = dir.path().join("exported.json");
    std::fs::write(&exported, export(&workloads, &index)).unwrap();
    let reloaded = TagIndex::load(&exported).unwrap();
    assert_eq!(reloaded.get(&image).unwrap(), tags.as_slice());

    let mut group = c.benchmark_group(if count == 1_000_000 {
        "tag-index-1m".to_string()
    } else {
        format!("tag-index-{count}")
    });
    slow(&mut group);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("load", |b| {
        b.iter(|| TagIndex::load(black_box(&input)).unwrap())
    });
    group.bench_function("export then load", |b| {
        b.iter(|| {
            std::fs::write(&exported, export(&workloads, black_box(&index))).unwrap();
            TagIndex::load(&exported).unwrap()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// notify

/// The updates the operator would notify for `workloads`, from a real scan of them against the
/// example's tag index.
fn updates_of(workloads: &[Workload], index: &TagIndex) -> Vec<Update> {
    let report = scan(workloads, index, ScanOptions::default());
    ScanResult::from_report(&report, Vec::new()).updates
}

/// A first notification (every update new) of `updates`, as `plan` builds it.
fn notification(updates: &[Update]) -> Notification {
    Notification::diff(
        Event::Changed,
        Some("hub-prod".to_string()),
        &[],
        updates,
        Vec::new(),
    )
}

/// The example hub's notification (27 updates) and a big one: copies of the hub in numbered
/// namespaces, cut at `BIG_NOTIFICATION` updates.
fn notifications() -> (Notification, Notification) {
    let hub = manifest::load(
        &[example("examples/hub")],
        "default",
        manifest::DEFAULT_MAX_INPUT_BYTES,
    )
    .unwrap();
    let index = TagIndex::load(&example("examples/tags.json")).unwrap();
    let typical = updates_of(&hub.workloads, &index);
    let copies = BIG_NOTIFICATION.div_ceil(typical.len());
    let big_hub: Vec<Workload> = (0..copies)
        .flat_map(|copy| {
            hub.workloads.iter().map(move |w| Workload {
                namespace: format!("{}-{copy:02}", w.namespace),
                ..w.clone()
            })
        })
        .collect();
    let mut big = updates_of(&big_hub, &index);
    big.truncate(BIG_NOTIFICATION);
    (notification(&typical), notification(&big))
}

/// Benchmarks, in `group`, what each notifier renders for `n`: Slack's messages, Teams' cards, and
/// the webhook's body with its signature.
fn bench_rendering(group: &mut BenchmarkGroup<'_, WallTime>, n: &Notification) {
    let options = ChatOptions::default();
    group.throughput(Throughput::Elements(n.updates.len() as u64));
    group.bench_function("slack text + Block Kit", |b| {
        b.iter(|| slack::render(black_box(n), &options))
    });
    group.bench_function("teams card", |b| {
        b.iter(|| teams::render(black_box(n), &options))
    });
    group.bench_function("webhook signed body", |b| {
        b.iter(|| {
            let body = webhook::body(black_box(n)).unwrap();
            let signature = webhook::sign(SIGNING_KEY, &body);
            (body, signature)
        })
    });
}

fn bench_notify(c: &mut Criterion) {
    let (typical, big) = notifications();
    let mut group = c.benchmark_group(format!("notify-{}", typical.updates.len()));
    bench_rendering(&mut group, &typical);
    group.finish();
    let mut group = c.benchmark_group(format!("notify-{}", big.updates.len()));
    slow(&mut group);
    bench_rendering(&mut group, &big);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_tags, bench_image_refs, bench_manifests, bench_tag_index, bench_notify
}
criterion_main!(benches);
