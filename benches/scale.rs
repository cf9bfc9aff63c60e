//! The scale benchmark: the real `ml-operator check` and `ml-operator run` against a big
//! simulated cluster and a real registry, measuring what matters when a hub grows.
//!
//! - kube-sim (in this process) serves 2,000 workloads in 20 namespaces (Deployments mostly,
//!   some StatefulSets, DaemonSets and CronJobs; 1–3 containers each, init containers and
//!   sidecars included, written as Helm charts write them), with its ReplicaSets and Pods
//!   simulated, so the operator's inventory holds everything a real cluster would show it.
//! - The real `docker-registry` holds 200 repositories × 300 tags, behind a counting proxy that
//!   `check` and the operator use as their `docker.io` mirror.
//! - `check -A` runs once; then the operator binary runs as a separate process, scanning every
//!   few seconds, with leader election on, events off and no notifiers.
//!
//! - With `--signals all` (the default) the operator runs with every supply-chain signal on:
//!   each Pod reports the digest its node pulled (`imageID`, from the pod template's annotation
//!   `fake-node.ml-operator.test/digest.<container>`, as on the real control plane's fake
//!   nodes), so every distinct running tag's digest is compared (one `HEAD` per
//!   `digestCheckInterval`); every repository's image is signed in cosign's layout and the
//!   registry entry has a `verify` key and a 24h `minimumReleaseAge`. `--signals off` turns them
//!   all off (`checkOverwrittenTags: false`). A `--baseline` binary gets the same configuration
//!   (it must know these keys: any build from commit 6e16ddd on).
//! - `check -A` runs twice: with the signals off (`check`: lists and tag walks only, the figure
//!   to compare with builds before the signals) and with the default configuration
//!   (`checkDefault`: the overwritten-tag check, one digest `HEAD` per running tag).
//!
//! Reported: registry requests per scan (target: one tags walk per repository), and by kind
//! (`registryRequestsByKind…`: pings, tag lists, manifest HEADs and GETs, blob GETs), Kubernetes
//! requests in steady state (target: watches only, no lists or gets beyond the Lease), first
//! and steady-state scan time, inventory sync time, the operator's RSS after each scan and its
//! peak, and `check`'s time, peak RSS and requests. Progress goes to stderr; one JSON line goes
//! to stdout so runs can be compared.
//!
//! Run with `cargo bench --bench scale`; `-- --baseline OLD_BINARY` also measures an older build in
//! the same run and prints the ratios (in the JSON line and as a table on stderr); options set
//! other sizes
//! (`cargo bench --bench scale -- --workloads 10000 --repositories 1000`, see [`Args`]).
//! Without `--bench` (`cargo test --benches`) it runs a small smoke configuration instead.

// The JSON line is one `json!` literal, deeper than the default limit allows.
#![recursion_limit = "256"]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_sim::KubeSim;
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, String>;

/// The scale benchmark. `cargo bench --bench scale` runs the full size from DESIGN.md; any
/// option overrides one dimension of it, e.g.
/// `cargo bench --bench scale -- --workloads 10000 --repositories 1000`.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Set by `cargo bench`; without it (`cargo test --benches`) a small smoke size runs.
    #[arg(long, hide = true)]
    bench: bool,
    /// Workloads (Deployments, StatefulSets, DaemonSets and CronJobs).
    #[arg(long)]
    workloads: Option<usize>,
    /// Namespaces the workloads are spread over.
    #[arg(long)]
    namespaces: Option<usize>,
    /// Registry repositories; every one is some workload's main image.
    #[arg(long)]
    repositories: Option<usize>,
    /// Tags per repository.
    #[arg(long)]
    tags: Option<usize>,
    /// Scans measured after the first one.
    #[arg(long)]
    scans: Option<usize>,
    /// Seconds between scans (the operator's schedule is `*/N * * * * *`; N should divide 60
    /// and leave room for one scan).
    #[arg(long)]
    interval: Option<u32>,
    /// The ml-operator binary to measure (default: the one cargo built for this benchmark).
    #[arg(long)]
    operator: Option<PathBuf>,
    /// An older ml-operator binary to measure in the same run, on the same cluster and
    /// registry, after the first: the line then also holds its figures (`before`) and the
    /// `ratios` (this build / the old one) for peak RSS, first and steady scan and `check -A`.
    #[arg(long, value_name = "OLD_BINARY")]
    baseline: Option<PathBuf>,
    /// The operator's supply-chain signals: `all` (overwritten tags, cool-down, signatures)
    /// or `off`.
    #[arg(long, value_enum, default_value_t = Signals::All)]
    signals: Signals,
    /// Instead of running, write this size's workloads with their ServiceAccounts
    /// (`DIR/workloads.json`, a `List` for `kubectl create -f`) and their repositories' tags
    /// (`DIR/tags.json`, an index for `check --tags`) and exit: the same hub for a real
    /// cluster. Each image's digest is the sha256 of its repository's name (no registry is
    /// filled).
    #[arg(long, value_name = "DIR")]
    write_objects: Option<PathBuf>,
}

/// Which supply-chain signals a configuration turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Signals {
    /// None: `checkOverwrittenTags: false`, no cool-down, no signature check.
    Off,
    /// The defaults: the overwritten-tag check only (no `minimumReleaseAge`, no `verify`).
    Default,
    /// Every signal: the overwritten-tag check every 6h, a 24h cool-down, signatures verified.
    All,
}

/// How big a run is.
#[derive(Debug, Clone, Copy)]
struct Size {
    name: &'static str,
    workloads: usize,
    namespaces: usize,
    repositories: usize,
    tags: usize,
    steady_scans: usize,
    /// Seconds between scans.
    interval: u32,
}

impl Size {
    /// The size DESIGN.md sets.
    const FULL: Size = Size {
        name: "full",
        workloads: 2_000,
        namespaces: 20,
        repositories: 200,
        tags: 300,
        steady_scans: 5,
        interval: 5,
    };
    /// A few seconds' check that the pipeline works.
    const SMOKE: Size = Size {
        name: "smoke",
        workloads: 60,
        namespaces: 3,
        repositories: 10,
        tags: 30,
        steady_scans: 1,
        interval: 5,
    };

    fn from_args(args: &Args) -> Size {
        let base = if args.bench { Size::FULL } else { Size::SMOKE };
        let size = Size {
            workloads: args.workloads.unwrap_or(base.workloads),
            namespaces: args.namespaces.unwrap_or(base.namespaces),
            repositories: args.repositories.unwrap_or(base.repositories),
            tags: args.tags.unwrap_or(base.tags),
            steady_scans: args.scans.unwrap_or(base.steady_scans),
            interval: args.interval.unwrap_or(base.interval),
            ..base
        };
        let custom = (
            size.workloads,
            size.namespaces,
            size.repositories,
            size.tags,
        ) != (
            base.workloads,
            base.namespaces,
            base.repositories,
            base.tags,
        );
        Size {
            name: if custom { "custom" } else { base.name },
            ..size
        }
    }

    /// The operator's cron schedule.
    fn schedule(self) -> String {
        format!("*/{} * * * * *", self.interval)
    }
}

/// Prints a progress line on stderr, with the time since the start.
macro_rules! progress {
    ($start:expr, $($arg:tt)*) => {
        eprintln!("[scale {:>6.1}s] {}", $start.elapsed().as_secs_f64(), format_args!($($arg)*))
    };
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let size = Size::from_args(&args);
    if size.workloads == 0 || size.namespaces == 0 || size.repositories == 0 || size.tags == 0 {
        eprintln!("scale benchmark: sizes must be at least 1: {size:?}");
        std::process::exit(2);
    }
    if let Some(dir) = &args.write_objects {
        if let Err(e) = write_objects(size, dir) {
            eprintln!("scale benchmark: {e}");
            std::process::exit(1);
        }
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(size, args.operator, args.baseline, args.signals)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("scale benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}

/// `--write-objects`: the workloads as a `List` and the tags as an offline index, in `dir`.
fn write_objects(size: Size, dir: &Path) -> Result<()> {
    use sha2::Digest;
    let digests: Vec<String> = (0..size.repositories)
        .map(|r| {
            let hash = sha2::Sha256::digest(cluster::repository(r).as_bytes());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        })
        .collect();
    let mut objects = cluster::objects(size, &digests);
    // A real API server admits a Pod only once its ServiceAccount exists: each workload's, in
    // front of the workloads (kube-sim does not check).
    let accounts: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "Namespace")
        .map(|o| {
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"]}})
        })
        .collect();
    objects.splice(size.namespaces..size.namespaces, accounts);
    let index: serde_json::Map<String, Value> = (0..size.repositories)
        .map(|r| (cluster::repository(r), json!(cluster::tags(r, size.tags))))
        .collect();
    let write = |name: &str, value: &Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).map_err(|e| format!("{}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(
        "workloads.json",
        &json!({"apiVersion": "v1", "kind": "List", "items": objects}),
    )?;
    write("tags.json", &Value::Object(index))
}

/// The whole benchmark; returns the JSON line. With `baseline`, both binaries are measured on
/// the same cluster and registry, one after the other, and the line compares them.
async fn run(
    size: Size,
    binary: Option<PathBuf>,
    baseline: Option<PathBuf>,
    signals: Signals,
) -> Result<String> {
    let start = Instant::now();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = operator::binary(binary)?;
    progress!(start, "{size:?}, operator {}", binary.display());

    // The registry, filled and checked through its API; every repository's image signed.
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let fill = Instant::now();
    let digests = registry_fill::fill(&registry, size).await?;
    registry_fill::verify(&registry, size).await?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let key = registry_fill::sign(&registry, &digests, dir.path()).await?;
    progress!(
        start,
        "registry filled in {:.1}s: {} repositories x {} tags, tag lists verified through the API, each image signed",
        fill.elapsed().as_secs_f64(),
        size.repositories,
        size.tags
    );

    // The cluster, settled (ReplicaSets and Pods created) before the operator starts; each Pod
    // reports the digest of its images.
    let objects = cluster::objects(size, &digests);
    let running_tags = cluster::distinct_running_tags(&objects);
    let containers = cluster::container_count(&objects);
    let sim = KubeSim::builder()
        .objects(objects)
        // Far more than the load burst (workloads, ReplicaSets, Pods and their status writes),
        // so no watch ever gets a 410 because of the benchmark's own setup.
        .history_limit(50 * size.workloads + 10_000)
        .start()
        .await
        .map_err(|e| format!("kube-sim did not start: {e}"))?;
    let handle = sim.handle();
    handle
        .insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}),
        )
        .map_err(|e| format!("creating namespace ml-operator: {e}"))?;
    let settle = cluster::wait_settled(&handle, Duration::from_secs(300)).await?;
    let replica_sets = handle.list("apps/v1", "ReplicaSet", None).len();
    let pods = handle.list("v1", "Pod", None).len();
    progress!(
        start,
        "kube-sim settled in {settle:.1}s: {} workloads, {containers} containers ({running_tags} distinct running tags), {replica_sets} ReplicaSets, {pods} Pods",
        size.workloads
    );
    let proxy = FaultProxy::start(&registry.base()).await;
    let setup = Setup {
        start,
        size,
        sim: &sim,
        handle: &handle,
        proxy: &proxy,
        containers,
        running_tags,
        replica_sets,
        pods,
        signals,
        key: &key,
    };
    let after = measure_binary(&setup, &binary).await?;
    let line = match baseline {
        None => after,
        Some(old) => {
            progress!(start, "now the baseline, {}", old.display());
            let before = measure_binary(&setup, &old).await?;
            let line = compare(after, before);
            for row in ratio_table(&line) {
                progress!(start, "{row}");
            }
            line
        }
    };
    // Removing 120,000 tag links takes a while; say so rather than look stuck.
    progress!(start, "stopping the registry and removing its storage");
    drop(proxy);
    drop(registry);
    sim.stop().await;
    progress!(start, "done");
    Ok(line.to_string())
}

/// What every measured binary shares: the settled cluster, the filled registry behind its
/// counting proxy, and their sizes.
#[derive(Clone, Copy)]
struct Setup<'a> {
    start: Instant,
    size: Size,
    sim: &'a kube_sim::Running,
    handle: &'a kube_sim::Handle,
    proxy: &'a FaultProxy,
    containers: usize,
    /// Distinct (repository, tag) among the containers: the most digest `HEAD`s a scan may send.
    running_tags: usize,
    replica_sets: usize,
    pods: usize,
    /// The operator's signals (`check` runs with them off and with the defaults).
    signals: Signals,
    /// The `cosign.pub` the signatures verify with.
    key: &'a Path,
}

/// Everything the scale benchmark measures about one binary: `check -A` with the signals off
/// and with the defaults, then the operator through its scans with `setup.signals`. Returns
/// the JSON object of the figures.
async fn measure_binary(setup: &Setup<'_>, binary: &Path) -> Result<Value> {
    let Setup {
        start,
        size,
        sim,
        handle,
        proxy,
        containers,
        running_tags,
        replica_sets,
        pods,
        signals,
        key,
    } = *setup;
    // The operator.
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)
        .map_err(|e| format!("writing {}: {e}", kubeconfig.display()))?;
    let schedule = size.schedule();
    let write_config = |signals| {
        let name = format!("config-{signals:?}.yaml").to_lowercase();
        operator::write_config(
            &dir.path().join(name),
            &proxy.host(),
            &schedule,
            signals,
            key,
        )
    };
    let config = write_config(signals)?;

    // `check` of the whole cluster, as a CI pipeline or a laptop would run it: without the
    // signals (lists and tag walks), then with the default overwritten-tag check.
    let check = measure_check(
        start,
        "check",
        binary,
        &kubeconfig,
        &write_config(Signals::Off)?,
        handle,
        proxy,
    )
    .await?;
    let check_default = measure_check(
        start,
        "check (default signals)",
        binary,
        &kubeconfig,
        &write_config(Signals::Default)?,
        handle,
        proxy,
    )
    .await?;
    let after_check = Counts::of(proxy);

    let mut op = operator::Operator::start(binary, dir.path(), &kubeconfig, &config).await?;
    let result = measure(start, size, handle, proxy, after_check, &op).await;
    let log_tail = op.log_tail(40);
    op.terminate().await;
    let m = result.map_err(|e| format!("{e}\n--- operator log (last lines) ---\n{log_tail}"))?;

    let repos = size.repositories as f64;
    let steady = size.steady_scans as f64;
    let line = json!({
        "binary": binary.display().to_string(),
        "bench": "scale",
        "size": size.name,
        "workloads": size.workloads,
        "namespaces": size.namespaces,
        "repositories": size.repositories,
        "tagsPerRepository": size.tags,
        "containers": containers,
        "distinctRunningTags": running_tags,
        "supplyChainSignals": signals != Signals::Off,
        "signals": format!("{signals:?}").to_lowercase(),
        "replicaSets": replica_sets,
        "pods": pods,
        "steadyScans": size.steady_scans,
        "registryRequestsFirstScan": m.first.requests,
        "tagListRequestsFirstScan": m.first.tag_lists,
        "registryRequestsByKindFirstScan": m.first.kinds.to_json(1.0),
        "registryRequestsByKindPerScan": m.steady_kinds().to_json(steady),
        "registryRequestsPerScan": round(m.steady_requests() as f64 / steady),
        "tagListRequestsPerScan": round(m.steady_tag_lists() as f64 / steady),
        "tagListRequestsPerScanMax": m.steady.iter().map(|c| c.tag_lists).max().unwrap_or(0),
        "tagWalksPerRepository": round(m.steady_walks() as f64 / steady / repos),
        "tagWalksPerRepositoryFirstScan": round(m.first.walks as f64 / repos),
        "k8sRequestsSteadyState": {
            "list": m.k8s.list,
            "get": m.k8s.get,
            "getLease": m.k8s.get_lease,
            "watch": m.k8s.watch,
            "update": m.k8s.update,
            "other": m.k8s.other,
        },
        "k8sRequestsPerSteadyScan": round(m.k8s.total() as f64 / steady),
        "k8sRequestsDetail": m.k8s.detail,
        "syncSeconds": round(m.sync_seconds),
        "firstScanSeconds": round(m.first_scan_seconds),
        "steadyScanSeconds": round(m.steady_scan_seconds),
        "steadyScanSecondsPerRepository": round(m.steady_scan_seconds / repos),
        "peakRssMiB": mib(m.peak_rss_kib),
        "peakRssKiBPerWorkload": round(m.peak_rss_kib as f64 / size.workloads as f64),
        "scanFindings": m.summary,
        "operatorWarnings": m.warnings.len(),
        "rssMiB": {
            "afterSync": mib(m.rss_after_sync.rss),
            "afterFirstScan": mib(m.rss_after_first_scan.rss),
            "afterEachSteadyScan": m.rss_after_steady_scans.iter().map(|s| mib(s.rss)).collect::<Vec<_>>(),
            "growthOverSteadyScans": m.rss_growth_mib(),
            "minOverSteadyScans": m.rss_steady_extreme(Iterator::min),
            "maxOverSteadyScans": m.rss_steady_extreme(Iterator::max),
            "trendKiBPerScan": m.rss_trend_kib_per_scan(),
            "anonAtEnd": mib(m.rss_at_end().anon),
            "fileAtEnd": mib(m.rss_at_end().file),
        },
        "check": check,
        "checkDefault": check_default,
        "operatorWatchErrors": m.warnings.iter().filter(|l| l.contains("watching")).count(),
    });
    Ok(line)
}

/// The measured binary's figures at the top level (the line's usual fields), the baseline's
/// under `before`, and `ratios` (this binary / the baseline; below 1 is better for each).
fn compare(after: Value, before: Value) -> Value {
    let ratio = |pick: fn(&Value) -> Option<f64>| match (pick(&after), pick(&before)) {
        (Some(a), Some(b)) if b > 0.0 => json!(round(a / b)),
        _ => Value::Null,
    };
    let ratios = json!({
        "peakRssMiB": ratio(|v| v["peakRssMiB"].as_f64()),
        "rssAfterSyncMiB": ratio(|v| v["rssMiB"]["afterSync"].as_f64()),
        "steadyScanSeconds": ratio(|v| v["steadyScanSeconds"].as_f64()),
        "firstScanSeconds": ratio(|v| v["firstScanSeconds"].as_f64()),
        "registryRequestsPerScan": ratio(|v| v["registryRequestsPerScan"].as_f64()),
        "checkSeconds": ratio(|v| v["check"]["seconds"].as_f64()),
        "checkPeakRssMiB": ratio(|v| v["check"]["peakRssMiB"].as_f64()),
        "checkDefaultSeconds": ratio(|v| v["checkDefault"]["seconds"].as_f64()),
        "checkDefaultPeakRssMiB": ratio(|v| v["checkDefault"]["peakRssMiB"].as_f64()),
    });
    let mut line = after;
    line["before"] = before;
    line["ratios"] = ratios;
    line
}

/// Picks one figure out of a JSON line.
type Pick = fn(&Value) -> &Value;

/// The before/after figures of a compared line, one row each: `figure: before -> after (ratio)`.
fn ratio_table(line: &Value) -> Vec<String> {
    let rows: [(&str, Pick, &str); 9] = [
        (
            "operator peak RSS (MiB)",
            |v| &v["peakRssMiB"],
            "peakRssMiB",
        ),
        (
            "RSS after the sync (MiB)",
            |v| &v["rssMiB"]["afterSync"],
            "rssAfterSyncMiB",
        ),
        (
            "first scan (s)",
            |v| &v["firstScanSeconds"],
            "firstScanSeconds",
        ),
        (
            "steady scan (s)",
            |v| &v["steadyScanSeconds"],
            "steadyScanSeconds",
        ),
        (
            "registry requests per scan",
            |v| &v["registryRequestsPerScan"],
            "registryRequestsPerScan",
        ),
        (
            "check -A, signals off (s)",
            |v| &v["check"]["seconds"],
            "checkSeconds",
        ),
        (
            "check -A, signals off: peak RSS (MiB)",
            |v| &v["check"]["peakRssMiB"],
            "checkPeakRssMiB",
        ),
        (
            "check -A, default signals (s)",
            |v| &v["checkDefault"]["seconds"],
            "checkDefaultSeconds",
        ),
        (
            "check -A, default signals: peak RSS (MiB)",
            |v| &v["checkDefault"]["peakRssMiB"],
            "checkDefaultPeakRssMiB",
        ),
    ];
    rows.iter()
        .map(|(name, pick, ratio)| {
            format!(
                "{name}: {} -> {} (after/before {})",
                pick(&line["before"]),
                pick(line),
                line["ratios"][ratio]
            )
        })
        .collect()
}

/// Runs `check -A` once with `config` and returns its figures as JSON: time, peak RSS, the
/// registry and Kubernetes requests it made, its summary.
async fn measure_check(
    start: Instant,
    what: &str,
    binary: &Path,
    kubeconfig: &Path,
    config: &Path,
    handle: &kube_sim::Handle,
    proxy: &FaultProxy,
) -> Result<Value> {
    handle.reset_request_counts();
    let before_check = Counts::of(proxy);
    let check = operator::check(binary, kubeconfig, config).await?;
    let check_registry = Counts::of(proxy).minus(before_check);
    let check_k8s = K8sCounts::of(handle);
    progress!(
        start,
        "{what}: {:.2}s, peak RSS {:.1} MiB, {} registry requests ({}), {} Kubernetes requests ({} lists)",
        check.seconds,
        check.peak_rss_kib as f64 / 1024.0,
        check_registry.requests,
        check_registry.kinds,
        check_k8s.total(),
        check_k8s.list
    );
    Ok(json!({
        "seconds": round(check.seconds),
        "peakRssMiB": mib(check.peak_rss_kib),
        "registryRequests": check_registry.requests,
        "registryRequestsByKind": check_registry.kinds.to_json(1.0),
        "tagWalks": check_registry.walks,
        "k8sRequests": check_k8s.total(),
        "k8sLists": check_k8s.list,
        "summary": check.summary,
    }))
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0)
}

/// Registry requests seen by the proxy during one scan.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// Every request.
    requests: usize,
    /// `GET .../tags/list` requests (pages included).
    tag_lists: usize,
    /// Tag-list requests that start a walk (no `last=`: not a follow-up page).
    walks: usize,
    /// Every request by kind.
    kinds: Kinds,
}

/// Registry requests by kind, told apart by method and path as the registry client counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Kinds {
    /// `GET /v2/`.
    ping: usize,
    /// `GET /v2/NAME/tags/list` (pages included).
    tag_list: usize,
    /// `HEAD /v2/NAME/manifests/REF`: a tag's digest.
    head_manifest: usize,
    /// `GET /v2/NAME/manifests/REF`: a build time's manifest, a signature manifest.
    get_manifest: usize,
    /// `GET /v2/NAME/blobs/DIGEST`: an image config, a signature payload.
    get_blob: usize,
    /// Anything else (token requests, …).
    other: usize,
}

impl Kinds {
    fn of(method: &str, target: &str) -> Kinds {
        let mut k = Kinds::default();
        let path = target.split('?').next().unwrap_or(target);
        match (method, path) {
            ("GET", "/v2/") => k.ping = 1,
            ("GET", p) if p.ends_with("/tags/list") => k.tag_list = 1,
            ("HEAD", p) if p.contains("/manifests/") => k.head_manifest = 1,
            ("GET", p) if p.contains("/manifests/") => k.get_manifest = 1,
            ("GET", p) if p.contains("/blobs/") => k.get_blob = 1,
            _ => k.other = 1,
        }
        k
    }

    fn zip(self, other: Kinds, f: fn(usize, usize) -> usize) -> Kinds {
        Kinds {
            ping: f(self.ping, other.ping),
            tag_list: f(self.tag_list, other.tag_list),
            head_manifest: f(self.head_manifest, other.head_manifest),
            get_manifest: f(self.get_manifest, other.get_manifest),
            get_blob: f(self.get_blob, other.get_blob),
            other: f(self.other, other.other),
        }
    }

    /// The counts divided by `scans`, as JSON.
    fn to_json(self, scans: f64) -> Value {
        let per = |n: usize| round(n as f64 / scans);
        json!({"ping": per(self.ping), "tagList": per(self.tag_list),
            "headManifest": per(self.head_manifest), "getManifest": per(self.get_manifest),
            "getBlob": per(self.get_blob), "other": per(self.other)})
    }
}

impl std::fmt::Display for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tag lists, {} manifest HEADs, {} manifest GETs, {} blob GETs, {} pings, {} other",
            self.tag_list,
            self.head_manifest,
            self.get_manifest,
            self.get_blob,
            self.ping,
            self.other
        )
    }
}

impl Counts {
    fn of(proxy: &FaultProxy) -> Counts {
        let seen = proxy.seen();
        let tag_lists: Vec<_> = seen
            .iter()
            .filter(|s| s.target.contains("/tags/list"))
            .collect();
        Counts {
            requests: seen.len(),
            tag_lists: tag_lists.len(),
            walks: tag_lists
                .iter()
                .filter(|s| !s.target.contains("last="))
                .count(),
            kinds: seen.iter().fold(Kinds::default(), |sum, s| {
                sum.zip(Kinds::of(&s.method, &s.target), |a, b| a + b)
            }),
        }
    }

    fn minus(self, earlier: Counts) -> Counts {
        Counts {
            requests: self.requests - earlier.requests,
            tag_lists: self.tag_lists - earlier.tag_lists,
            walks: self.walks - earlier.walks,
            kinds: self.kinds.zip(earlier.kinds, |a, b| a - b),
        }
    }
}

/// Kubernetes requests in steady state, by verb.
#[derive(Debug, Default)]
struct K8sCounts {
    list: usize,
    /// Every get, the Lease's included.
    get: usize,
    /// Gets of the leader-election Lease (renewals read it before writing).
    get_lease: usize,
    watch: usize,
    update: usize,
    other: usize,
    /// `"verb path": count`, for a report that names the offenders.
    detail: serde_json::Map<String, Value>,
}

impl K8sCounts {
    fn of(handle: &kube_sim::Handle) -> K8sCounts {
        let mut c = K8sCounts::default();
        for r in handle.request_counts() {
            match r.verb.as_str() {
                "list" => c.list += r.count,
                "get" => {
                    c.get += r.count;
                    if r.path.contains("/leases/") {
                        c.get_lease += r.count;
                    }
                }
                "watch" => c.watch += r.count,
                "update" => c.update += r.count,
                _ => c.other += r.count,
            }
            let key = format!("{} {}", r.verb, r.path);
            let before = c.detail.get(&key).and_then(Value::as_u64).unwrap_or(0);
            c.detail.insert(key, json!(before + r.count as u64));
        }
        c
    }

    fn total(&self) -> usize {
        self.list + self.get + self.watch + self.update + self.other
    }
}

/// What [`measure`] found.
struct Measured {
    sync_seconds: f64,
    first_scan_seconds: f64,
    steady_scan_seconds: f64,
    first: Counts,
    steady: Vec<Counts>,
    k8s: K8sCounts,
    peak_rss_kib: u64,
    rss_after_sync: operator::Memory,
    rss_after_first_scan: operator::Memory,
    rss_after_steady_scans: Vec<operator::Memory>,
    summary: String,
    /// The operator's WARN and ERROR log lines (watch errors such as 410s show up here).
    warnings: Vec<String>,
}

impl Measured {
    fn steady_requests(&self) -> usize {
        self.steady.iter().map(|c| c.requests).sum()
    }
    fn steady_tag_lists(&self) -> usize {
        self.steady.iter().map(|c| c.tag_lists).sum()
    }
    fn steady_walks(&self) -> usize {
        self.steady.iter().map(|c| c.walks).sum()
    }
    fn steady_kinds(&self) -> Kinds {
        self.steady
            .iter()
            .fold(Kinds::default(), |sum, c| sum.zip(c.kinds, |a, b| a + b))
    }
    fn rss_at_end(&self) -> operator::Memory {
        *self
            .rss_after_steady_scans
            .last()
            .unwrap_or(&self.rss_after_first_scan)
    }
    /// The smallest or largest RSS after a steady scan, in MiB.
    fn rss_steady_extreme(&self, pick: fn(std::vec::IntoIter<u64>) -> Option<u64>) -> f64 {
        let values: Vec<u64> = self.rss_after_steady_scans.iter().map(|m| m.rss).collect();
        mib(pick(values.into_iter()).unwrap_or(0))
    }

    /// The least-squares slope of RSS over the steady scans, in KiB per scan: a leak shows as
    /// a steady positive slope, allocator noise as a slope near zero.
    fn rss_trend_kib_per_scan(&self) -> f64 {
        let points: Vec<(f64, f64)> = self
            .rss_after_steady_scans
            .iter()
            .enumerate()
            .map(|(i, m)| (i as f64, m.rss as f64))
            .collect();
        let n = points.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (mean_x, mean_y) = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let covariance: f64 = points
            .iter()
            .map(|(x, y)| (x - mean_x) * (y - mean_y))
            .sum();
        let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
        round(covariance / variance)
    }

    /// RSS after the last scan minus RSS after the first steady scan, in MiB: growth that
    /// repeats with every scan shows here.
    fn rss_growth_mib(&self) -> f64 {
        let first = self
            .rss_after_steady_scans
            .first()
            .unwrap_or(&self.rss_after_first_scan);
        round((self.rss_at_end().rss as f64 - first.rss as f64) / 1024.0)
    }
}

/// Follows the operator through its sync, its first scan and `steady_scans` more.
async fn measure(
    start: Instant,
    size: Size,
    handle: &kube_sim::Handle,
    proxy: &FaultProxy,
    earlier: Counts,
    op: &operator::Operator,
) -> Result<Measured> {
    let sync_seconds = op
        .wait_for_log("inventory synced", Duration::from_secs(300))
        .await?;
    progress!(
        start,
        "inventory synced {sync_seconds:.2}s after the operator started"
    );

    let rss_after_sync = op.memory()?;
    op.wait_for_scans(1, Duration::from_secs(300)).await?;
    let rss_after_first_scan = op.memory()?;
    let first = Counts::of(proxy).minus(earlier);
    handle.reset_request_counts();
    let (first_sum, first_count) = op.scan_histogram().await?;
    if first_count != 1.0 {
        return Err(format!(
            "expected 1 scan in the histogram after the first scan, found {first_count}"
        ));
    }
    progress!(
        start,
        "first scan: {first_sum:.2}s, {} registry requests ({}; {} walks)",
        first.requests,
        first.kinds,
        first.walks
    );

    let mut steady = Vec::new();
    let mut before = Counts::of(proxy);
    let mut rss_after_steady_scans = Vec::new();
    // Ample for one interval plus a scan, even on a loaded machine.
    let limit = Duration::from_secs(60).max(Duration::from_secs_f64(
        3.0 * (f64::from(size.interval) + first_sum),
    ));
    for n in 1..=size.steady_scans {
        op.wait_for_scans(1 + n, limit).await?;
        rss_after_steady_scans.push(op.memory()?);
        let now = Counts::of(proxy);
        let scan = now.minus(before);
        progress!(
            start,
            "steady scan {n}/{}: {} registry requests ({}; {} walks), RSS {:.1} MiB",
            size.steady_scans,
            scan.requests,
            scan.kinds,
            scan.walks,
            rss_after_steady_scans[n - 1].rss as f64 / 1024.0
        );
        steady.push(scan);
        before = now;
    }
    let k8s = K8sCounts::of(handle);
    let (sum, count) = op.scan_histogram().await?;
    let steady_count = count - first_count;
    if steady_count < size.steady_scans as f64 {
        return Err(format!(
            "the histogram counts {count} scans, expected at least {}",
            1 + size.steady_scans
        ));
    }
    let steady_scan_seconds = (sum - first_sum) / steady_count;
    let peak_rss_kib = op.peak_rss_kib()?;
    let summary = op.last_scan_summary();
    let warnings = op.warnings();
    if let Some(first) = warnings.first() {
        progress!(
            start,
            "{} warnings in the operator log, the first: {first}",
            warnings.len()
        );
    }
    progress!(
        start,
        "steady state: {steady_scan_seconds:.2}s per scan; kubernetes: {} lists, {} gets ({} of the Lease), {} watches, {} updates, {} other; peak RSS {:.1} MiB",
        k8s.list,
        k8s.get,
        k8s.get_lease,
        k8s.watch,
        k8s.update,
        k8s.other,
        peak_rss_kib as f64 / 1024.0
    );
    Ok(Measured {
        sync_seconds,
        first_scan_seconds: first_sum,
        steady_scan_seconds,
        first,
        steady,
        k8s,
        peak_rss_kib,
        rss_after_sync,
        rss_after_first_scan,
        rss_after_steady_scans,
        summary,
        warnings,
    })
}

/// The simulated cluster: namespaces and workloads.
mod cluster {
    use super::*;

    /// splitmix64: a deterministic spread, so every run builds the same cluster.
    fn mix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    /// The repository path of repository `r`: `bench/app-042`.
    pub fn repository(r: usize) -> String {
        format!("bench/app-{r:03}")
    }

    /// The tags of repository `r`: `v{M}.{m}.{p}` over three majors starting at a per-repository
    /// major, ten minors and ten patches each (300 for the full size).
    pub fn tags(r: usize, count: usize) -> Vec<String> {
        let base = 1 + r % 4;
        (0..count)
            .map(|i| format!("v{}.{}.{}", base + i / 100, (i / 10) % 10, i % 10))
            .collect()
    }

    /// An image of repository `r` at a tag picked from its older half (so most have updates).
    fn image(size: Size, r: usize, seed: u64) -> String {
        let tags = tags(r, size.tags);
        let pick = (mix(seed) as usize) % tags.len().div_ceil(2).max(1);
        format!("{}:{}", repository(r), tags[pick])
    }

    /// A container as a Mojaloop Helm chart writes it: env, ports, probes, resources, mounts.
    fn container(name: &str, image: String) -> Value {
        let env: Vec<Value> = (0..12)
            .map(|i| json!({"name": format!("{}_SETTING_{i}", name.to_uppercase().replace('-', "_")),
                "value": format!("value-{i}-for-{name}")}))
            .chain([json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}})])
            .collect();
        let probe = |path: &str| {
            json!({"httpGet": {"path": path, "port": 8080},
            "initialDelaySeconds": 15, "periodSeconds": 15, "timeoutSeconds": 5})
        };
        json!({
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["npm", "run", "start"],
            "ports": [{"name": "http-api", "containerPort": 8080, "protocol": "TCP"}],
            "env": env,
            "livenessProbe": probe("/health"), "readinessProbe": probe("/health"),
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/opt/app/config"}],
            "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true},
        })
    }

    /// Namespaces, then `size.workloads` workloads spread evenly over them; each pod template
    /// names the digest of each container's image (`digests[r]`: repository `r`'s one image,
    /// which every tag of it points to) for the simulated nodes to report.
    pub fn objects(size: Size, digests: &[String]) -> Vec<Value> {
        let mut objects: Vec<Value> = (0..size.namespaces)
            .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(n)}}))
            .collect();
        let per_namespace = size.workloads.div_ceil(size.namespaces);
        for i in 0..size.workloads {
            let seed = i as u64;
            // Every repository is the main image of some workload.
            let main_repo = i % size.repositories;
            let app = format!("app-{main_repo:03}");
            let name = format!("{app}-w{i:04}");
            let mut containers = vec![container(&app, image(size, main_repo, seed))];
            let mut init = vec![];
            let mut pulled = serde_json::Map::new();
            let mut digest_of = |name: &str, r: usize| {
                pulled.insert(
                    format!("fake-node.ml-operator.test/digest.{name}"),
                    json!(digests[r]),
                );
            };
            digest_of(&app, main_repo);
            let extra = (mix(seed ^ 0xabcd) % 3) as usize; // 0, 1 or 2 more containers
            if extra >= 1 {
                let r = (main_repo * 7 + 3) % size.repositories;
                containers.push(container("event-sidecar", image(size, r, seed ^ 1)));
                digest_of("event-sidecar", r);
            }
            if extra >= 2 {
                let r = (main_repo * 13 + 5) % size.repositories;
                init.push(json!({"name": "wait-for-db", "image": image(size, r, seed ^ 2)}));
                digest_of("wait-for-db", r);
            }
            let pod_spec = json!({"containers": containers, "initContainers": init,
                "volumes": [{"name": "config", "configMap": {"name": format!("{name}-config")}}],
                "serviceAccountName": name, "terminationGracePeriodSeconds": 30,
                "securityContext": {"fsGroup": 1000}});
            let ns = namespace(i / per_namespace);
            let labels = json!({"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "bench",
                "app.kubernetes.io/instance": ns, "app.kubernetes.io/managed-by": "Helm",
                "helm.sh/chart": format!("{app}-12.1.0")});
            let selector = json!({"matchLabels": {"app": name}});
            pulled.insert(
                "checksum/config".into(),
                json!(format!("{:016x}", mix(seed ^ 3))),
            );
            let template = json!({"metadata": {"labels": {"app": name}, "annotations": pulled},
                "spec": pod_spec});
            let metadata = json!({"name": name, "namespace": ns, "labels": labels,
                "annotations": {"meta.helm.sh/release-name": ns, "meta.helm.sh/release-namespace": ns}});
            let object = match i % 20 {
                // 80 % Deployments, 10 % StatefulSets, 5 % DaemonSets, 5 % CronJobs.
                0..=15 => {
                    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                    "spec": {"replicas": 1 + i % 2, "selector": selector, "template": template}})
                }
                16 | 17 => {
                    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata,
                    "spec": {"replicas": 1, "serviceName": name, "selector": selector, "template": template}})
                }
                18 => json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata,
                    "spec": {"selector": selector, "template": template}}),
                _ => {
                    let mut template = template;
                    template["spec"]["restartPolicy"] = json!("Never");
                    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
                        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}})
                }
            };
            objects.push(with_last_applied(object, i));
        }
        objects
    }

    /// Every other workload as `kubectl apply` leaves it: a copy of itself in an annotation.
    fn with_last_applied(mut object: Value, i: usize) -> Value {
        if i.is_multiple_of(2) {
            let applied = object.to_string();
            object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
                applied.into();
        }
        object
    }

    fn namespace(n: usize) -> String {
        format!("team-{n:02}")
    }

    /// Distinct `repository:tag` among the containers (init containers included) of
    /// `objects`.
    pub fn distinct_running_tags(objects: &[Value]) -> usize {
        let images: std::collections::BTreeSet<&str> = objects
            .iter()
            .flat_map(|o| {
                let spec = if o["kind"] == "CronJob" {
                    &o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                } else {
                    &o["spec"]["template"]["spec"]
                };
                ["containers", "initContainers"]
                    .into_iter()
                    .flat_map(move |k| spec[k].as_array().into_iter().flatten())
                    .filter_map(|c| c["image"].as_str())
            })
            .collect();
        images.len()
    }

    /// Containers (init containers included) in the workloads of `objects`.
    pub fn container_count(objects: &[Value]) -> usize {
        objects
            .iter()
            .map(|o| {
                let spec = if o["kind"] == "CronJob" {
                    &o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                } else {
                    &o["spec"]["template"]["spec"]
                };
                ["containers", "initContainers"]
                    .iter()
                    .map(|k| spec[k].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            })
            .sum()
    }

    /// Waits until the simulated controllers are done (the resourceVersion stops moving for a
    /// second); returns how long that took.
    pub async fn wait_settled(handle: &kube_sim::Handle, limit: Duration) -> Result<f64> {
        let started = Instant::now();
        let mut last = handle.resource_version();
        let mut still_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = handle.resource_version();
            if now != last {
                last = now;
                still_since = Instant::now();
            } else if still_since.elapsed() >= Duration::from_secs(1) {
                return Ok(started.elapsed().as_secs_f64() - 1.0);
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "kube-sim still writing after {limit:?} (resourceVersion {now})"
                ));
            }
        }
    }
}

/// Fills the real registry: one image pushed over the API per repository, then the other tags
/// written into its filesystem storage in distribution's own layout, pointing at that image.
mod registry_fill {
    use super::*;

    /// distribution's storage root inside the registry's data directory.
    fn repositories_root(registry: &RegistryProc) -> PathBuf {
        registry
            .dir
            .path()
            .join("data/docker/registry/v2/repositories")
    }

    /// Fills the registry; returns the digest of each repository's one image (every tag of
    /// repository `r` points to `digests[r]`).
    pub async fn fill(registry: &RegistryProc, size: Size) -> Result<Vec<String>> {
        // One real push per repository, a few at a time (5 HTTP requests each), built long
        // before any cool-down.
        let pushed: Vec<(usize, String)> = futures::stream::iter(0..size.repositories)
            .map(|r| async move {
                let tags = cluster::tags(r, size.tags);
                let repository = cluster::repository(r);
                let digest = registry
                    .push_image(&repository, &[&tags[0]], &repository, Some(BUILT))
                    .await;
                (r, digest)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut digests = vec![String::new(); size.repositories];
        for (r, digest) in pushed {
            digests[r] = digest;
        }
        let root = repositories_root(registry);
        for (r, expected) in digests.iter().enumerate() {
            let tags = cluster::tags(r, size.tags);
            let tags_dir = root.join(cluster::repository(r)).join("_manifests/tags");
            let pushed = tags_dir.join(&tags[0]).join("current/link");
            let digest = std::fs::read_to_string(&pushed).map_err(|e| {
                format!(
                    "{}: {e} (has distribution's storage layout changed?)",
                    pushed.display()
                )
            })?;
            let hex = digest
                .trim()
                .strip_prefix("sha256:")
                .ok_or_else(|| format!("{}: not a sha256 digest: {digest:?}", pushed.display()))?
                .to_string();
            let revision = root
                .join(cluster::repository(r))
                .join("_manifests/revisions/sha256")
                .join(&hex)
                .join("link");
            if !revision.is_file() || digest.trim() != expected {
                return Err(format!(
                    "{} is missing after a push, or not {expected}",
                    revision.display()
                ));
            }
            for tag in &tags[1..] {
                let tag_dir = tags_dir.join(tag);
                // `current/link` is what tag lists and pulls read. The per-tag
                // `index/sha256/<hex>/link` (tag history, used for deletes) is left out: it
                // doubles the directories to write and remove and no read here needs it.
                write(&tag_dir.join("current/link"), digest.trim())?;
            }
        }
        Ok(digests)
    }

    /// When the benchmark's images were built: long before any cool-down.
    const BUILT: &str = "2020-01-01T00:00:00Z";

    /// Signs every repository's image in cosign's layout with a new key; returns the path of
    /// its `cosign.pub` in `dir`.
    pub async fn sign(registry: &RegistryProc, digests: &[String], dir: &Path) -> Result<PathBuf> {
        let signer = ml_operator_testkit::cosign::FormatSigner::generate();
        futures::stream::iter(digests.iter().enumerate())
            .map(|(r, digest)| {
                let signer = &signer;
                async move {
                    let repository = cluster::repository(r);
                    let payload = ml_operator_testkit::cosign::FormatSigner::payload(
                        &format!("docker.io/{repository}"),
                        digest,
                    );
                    registry
                        .push_cosign_signature(
                            &repository,
                            digest,
                            &payload,
                            &signer.sign(&payload),
                        )
                        .await;
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        let key = dir.join("cosign.pub");
        std::fs::write(&key, &signer.public_pem)
            .map_err(|e| format!("writing {}: {e}", key.display()))?;
        Ok(key)
    }

    fn write(path: &Path, content: &str) -> Result<()> {
        let parent = path.parent().expect("a link has a directory");
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        std::fs::write(path, content).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Every repository's tag list, read through the registry's API (not the proxy), is complete;
    /// and one written tag's manifest is served.
    pub async fn verify(registry: &RegistryProc, size: Size) -> Result<()> {
        let http = reqwest::Client::new();
        for r in 0..size.repositories {
            let url = format!(
                "{}/v2/{}/tags/list",
                registry.base(),
                cluster::repository(r)
            );
            let body: Value = get_json(&http, &url).await?;
            let mut got: Vec<String> = body["tags"]
                .as_array()
                .ok_or_else(|| format!("{url}: no tags in {body}"))?
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            let mut want = cluster::tags(r, size.tags);
            got.sort();
            want.sort();
            if got != want {
                return Err(format!(
                    "{url}: {} tags, expected {}",
                    got.len(),
                    want.len()
                ));
            }
        }
        let last = cluster::tags(0, size.tags).pop().expect("tags");
        let url = format!(
            "{}/v2/{}/manifests/{last}",
            registry.base(),
            cluster::repository(0)
        );
        let response = http
            .head(&url)
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .map_err(|e| format!("HEAD {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HEAD {url}: {}", response.status()));
        }
        Ok(())
    }

    async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value> {
        let response = http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("GET {url}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
    }
}

/// The operator as a real process: started, watched through its log and `/metrics`, stopped.
mod operator {
    use super::*;
    use tokio::process::{Child, Command};

    /// `chosen`, else the operator binary cargo built for this bench.
    pub fn binary(chosen: Option<PathBuf>) -> Result<PathBuf> {
        let path = chosen.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ml-operator")));
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing: build it with `cargo build --release` (cargo bench does)",
                path.display()
            ))
        }
    }

    /// Writes `path`: the proxy as the `docker.io` mirror (fast enough for 200 repositories
    /// every 5 seconds), leader election on, no Events, no notifiers, and the `signals`: with
    /// `All`, the overwritten-tag check (on by default) every 6h, a 24h cool-down, and the
    /// registry's targets verified with `key`.
    pub fn write_config(
        path: &Path,
        proxy: &str,
        schedule: &str,
        signals: Signals,
        key: &Path,
    ) -> Result<PathBuf> {
        let path = path.to_path_buf();
        let (signals, global) = match signals {
            Signals::All => (
                format!(
                    ", minimumReleaseAge: 24h, verify: {{cosignPublicKeyFile: '{}'}}",
                    key.display()
                ),
                "checkOverwrittenTags: true\ndigestCheckInterval: 6h\n",
            ),
            Signals::Default => (String::new(), ""),
            Signals::Off => (String::new(), "checkOverwrittenTags: false\n"),
        };
        let text = format!(
            "schedule: '{schedule}'\n\
             registries:\n  - {{host: docker.io, mirror: '{proxy}', requestsPerSecond: 10000, concurrency: 16{signals}}}\n\
             {global}\
             notify: {{events: false, kubectlPatchInstructions: false}}\n\
             leaderElection: {{enabled: true}}\n"
        );
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }

    /// A process's resident set, in KiB: all of it, its heap and stacks (`anon`) and the
    /// mapped files, mostly the binary's own code (`file`).
    #[derive(Debug, Clone, Copy)]
    pub struct Memory {
        pub rss: u64,
        pub anon: u64,
        pub file: u64,
    }

    /// One field of `/proc/PID/status`, in KiB.
    fn status_kib(pid: u32, field: &str) -> Result<u64> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .ok_or_else(|| format!("{path}: no {field} line"))
    }

    /// What one `ml-operator check` run cost.
    pub struct CheckRun {
        pub seconds: f64,
        /// The highest `VmHWM` seen while it ran, sampled every 5 ms, in KiB. (`ru_maxrss`
        /// from `wait4` would not do: Linux carries the forking parent's peak, this benchmark
        /// with its simulated cluster, over into the child's.)
        pub peak_rss_kib: u64,
        /// The `summary` object of its JSON output.
        pub summary: Value,
    }

    /// Runs `check` on the whole cluster through the same config (the proxy as mirror).
    pub async fn check(binary: &Path, kubeconfig: &Path, config: &Path) -> Result<CheckRun> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["check", "-A", "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--config")
            .arg(config)
            .args(["-o", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {} check: {e}", binary.display()))?;
        let pid = child.id().ok_or("check exited at once")?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = tokio::spawn(async move {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text).await;
            text
        });
        let mut peak_rss_kib = 0;
        let status = loop {
            if let Ok(hwm) = status_kib(pid, "VmHWM") {
                peak_rss_kib = peak_rss_kib.max(hwm);
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(e) => return Err(format!("waiting for check: {e}")),
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let stdout = reader.await.unwrap_or_default();
        if !status.success() {
            return Err(format!("check failed ({status}); see its errors above"));
        }
        let output: Value = serde_json::from_str(&stdout)
            .map_err(|e| format!("check printed no JSON ({e}): {stdout:.200}"))?;
        Ok(CheckRun {
            seconds,
            peak_rss_kib,
            summary: output["summary"].clone(),
        })
    }

    pub struct Operator {
        child: Option<Child>,
        pid: u32,
        port: u16,
        log: PathBuf,
        started: Instant,
        http: reqwest::Client,
    }

    fn free_port() -> Result<u16> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
        Ok(listener
            .local_addr()
            .map_err(|e| format!("a free port: {e}"))?
            .port())
    }

    impl Operator {
        pub async fn start(
            binary: &Path,
            dir: &Path,
            kubeconfig: &Path,
            config: &Path,
        ) -> Result<Operator> {
            let port = free_port()?;
            let log = dir.join("operator.log");
            let log_file = std::fs::File::create(&log)
                .map_err(|e| format!("creating {}: {e}", log.display()))?;
            let started = Instant::now();
            let child = Command::new(binary)
                .args(["run", "--kubeconfig"])
                .arg(kubeconfig)
                .arg("--config")
                .arg(config)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("DOCKER_CONFIG", dir)
                .env("POD_NAME", "ml-operator-bench")
                .env("POD_NAMESPACE", "ml-operator")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", binary.display()))?;
            let pid = child.id().ok_or("the operator exited at once")?;
            let operator = Operator {
                child: Some(child),
                pid,
                port,
                log,
                started,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("an HTTP client: {e}"))?,
            };
            Ok(operator)
        }

        fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        pub fn log_tail(&self, lines: usize) -> String {
            let log = self.log();
            let all: Vec<&str> = log.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }

        /// Waits for a log line containing `needle`; returns the seconds since the start.
        pub async fn wait_for_log(&self, needle: &str, limit: Duration) -> Result<f64> {
            loop {
                if self.log().contains(needle) {
                    return Ok(self.started.elapsed().as_secs_f64());
                }
                self.still_running(needle, limit)?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        fn still_running(&self, what: &str, limit: Duration) -> Result<()> {
            if self.started.elapsed() > limit {
                return Err(format!("timed out after {limit:?} waiting for {what:?}"));
            }
            if !Path::new(&format!("/proc/{}", self.pid)).exists() {
                return Err(format!(
                    "the operator (pid {}) exited while waiting for {what:?}",
                    self.pid
                ));
            }
            Ok(())
        }

        /// Scans finished so far, from the operator's `scan: ...` log lines (cheaper to poll than
        /// `/metrics`, which would add load to the process being measured).
        fn scans_logged(&self) -> usize {
            self.log().lines().filter(|l| l.contains(" scan: ")).count()
        }

        /// WARN and ERROR lines of the log.
        pub fn warnings(&self) -> Vec<String> {
            self.log()
                .lines()
                .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                .map(str::to_string)
                .collect()
        }

        /// The summary of the last scan, as logged.
        pub fn last_scan_summary(&self) -> String {
            self.log()
                .lines()
                .filter_map(|l| l.split_once(" scan: ").map(|(_, s)| s.to_string()))
                .next_back()
                .unwrap_or_default()
        }

        /// Waits until `total` scans have finished.
        pub async fn wait_for_scans(&self, total: usize, limit: Duration) -> Result<()> {
            let since = Instant::now();
            loop {
                if self.scans_logged() >= total {
                    return Ok(());
                }
                if since.elapsed() > limit {
                    return Err(format!(
                        "timed out after {limit:?} waiting for scan {total} ({} so far)",
                        self.scans_logged()
                    ));
                }
                self.still_running("a scan", Duration::MAX)?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        /// `ml_operator_scan_duration_seconds` sum and count, scraped as Prometheus scrapes
        /// (asking for gzip).
        pub async fn scan_histogram(&self) -> Result<(f64, f64)> {
            let url = format!("http://127.0.0.1:{}/metrics", self.port);
            let response = self
                .http
                .get(&url)
                .header("accept-encoding", "gzip")
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            // Builds before gzip was served answer with the text as it is.
            let compressed = response.headers().get("content-encoding").is_some();
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let mut text = String::new();
            if compressed {
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut text,
                )
                .map_err(|e| format!("GET {url}: not gzip: {e}"))?;
            } else {
                text = String::from_utf8_lossy(&body).into_owned();
            }
            let value = |series: &str| -> Result<f64> {
                text.lines()
                    .find_map(|l| {
                        l.strip_prefix(series)?
                            .strip_prefix(' ')?
                            .split(' ')
                            .next()?
                            .parse()
                            .ok()
                    })
                    .ok_or_else(|| format!("{url}: no {series}"))
            };
            Ok((
                value("ml_operator_scan_duration_seconds_sum")?,
                value("ml_operator_scan_duration_seconds_count")?,
            ))
        }

        /// `VmHWM` (peak resident set) from `/proc/PID/status`, in KiB.
        pub fn peak_rss_kib(&self) -> Result<u64> {
            status_kib(self.pid, "VmHWM")
        }

        /// The resident set now.
        pub fn memory(&self) -> Result<Memory> {
            Ok(Memory {
                rss: status_kib(self.pid, "VmRSS")?,
                anon: status_kib(self.pid, "RssAnon")?,
                file: status_kib(self.pid, "RssFile")?,
            })
        }

        /// SIGTERM, then up to 30 s for a clean exit, then SIGKILL.
        pub async fn terminate(&mut self) {
            let Some(mut child) = self.child.take() else {
                return;
            };
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                eprintln!("the operator did not stop within 30s of SIGTERM; killing it");
                let _ = child.kill().await;
            }
        }
    }
}
