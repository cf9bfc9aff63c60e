//! `check` across a fleet: several clusters (kubeconfig contexts) in one run — `--context A
//! --context B` and `--all-contexts`. Each cluster is a kube-sim over real HTTP, tags come from
//! the real docker-registry behind a counting proxy (or the bundled tag index), and the printed
//! commands are run by the real `kubectl`. tests/e2e_fleet.rs does the same with the real
//! control plane as one of the clusters.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_sim::{BlockingRunning, KubeSim};
use ml_operator_testkit::proxy::FaultProxy;
use ml_operator_testkit::registry::{AuthMode, RegistryProc};
use ml_operator_testkit::tools;
use serde_json::{Value, json};
use support::{example_index, example_registry, repo};

/// `ml-operator check --kubeconfig K ARGS…` with no kubeconfig or docker credentials from the
/// machine, and the tool cache's kubectl on PATH.
fn check(kubeconfig: &Path, args: &[&str]) -> Output {
    let docker_config = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(repo())
        .env_remove("KUBECONFIG")
        .env_remove("COLUMNS")
        .env("DOCKER_CONFIG", docker_config.path())
        .arg("check")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One Deployment `name` in namespace `mojaloop` running `image`.
fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "mojaloop", "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}
            }
        }
    })
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// hub-dev still runs central-ledger v19.8.3; hub-prod was updated, and runs quoting-service.
fn two_hubs() -> (BlockingRunning, BlockingRunning) {
    let dev = KubeSim::builder()
        .objects(vec![
            namespace("mojaloop"),
            deployment("central-ledger", "mojaloop/central-ledger:v19.8.3"),
            deployment(
                "account-lookup-service",
                "mojaloop/account-lookup-service:v15.1.0",
            ),
        ])
        .start_blocking()
        .unwrap();
    let prod = KubeSim::builder()
        .objects(vec![
            namespace("mojaloop"),
            deployment("central-ledger", "mojaloop/central-ledger:v19.8.9"),
            deployment("quoting-service", "mojaloop/quoting-service:v15.0.0"),
        ])
        .start_blocking()
        .unwrap();
    (dev, prod)
}

/// A kubeconfig with one context per `(name, server)`, in that order; `hub-dev` current. A
/// context whose server is `None` points at a port nobody listens on, with a token that must
/// never be printed.
fn fleet_kubeconfig(dir: &Path, clusters: &[(&str, Option<String>)]) -> PathBuf {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "hub-dev",
        "clusters": [], "contexts": [],
        "users": [{"name": "sim", "user": {}}, {"name": "secret", "user": {"token": "secret-token-value"}}],
    });
    for (name, server) in clusters {
        let (server, user) = match server {
            Some(server) => (server.clone(), "sim"),
            None => (format!("http://127.0.0.1:{closed_port}"), "secret"),
        };
        config["clusters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "cluster": {"server": server}}));
        config["contexts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "context": {"cluster": name, "user": user}}));
    }
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

/// The real docker-registry with the tags the two hubs need, behind a counting proxy, and a
/// config file making the proxy the docker.io mirror.
async fn registry(dir: &Path) -> (RegistryProc, FaultProxy, PathBuf) {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    registry
        .push(
            "mojaloop/central-ledger",
            &tags(&["v19.8.3", "v19.8.9", "v19.9.0"]),
            false,
        )
        .await;
    registry
        .push(
            "mojaloop/account-lookup-service",
            &tags(&["v15.1.0", "v15.1.2"]),
            false,
        )
        .await;
    registry
        .push(
            "mojaloop/quoting-service",
            &tags(&["v15.0.0", "v15.0.4"]),
            false,
        )
        .await;
    let proxy = FaultProxy::start(&registry.base()).await;
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  - {{host: docker.io, mirror: '{}'}}\n",
            proxy.host()
        ),
    )
    .unwrap();
    (registry, proxy, config)
}

/// (cluster, name, status, latestTag) of every finding.
fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["cluster"].as_str().unwrap_or("-").to_string(),
                f["name"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
                f["latestTag"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_finding_names_its_cluster_and_each_repository_is_walked_once_for_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, prod) = two_hubs();
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-prod", Some(prod.url()))],
    );
    let (_registry, proxy, config) = registry(dir.path()).await;
    let config = config.to_str().unwrap();
    let args = [
        "--context",
        "hub-dev",
        "--context",
        "hub-prod",
        "--config",
        config,
        "-n",
        "mojaloop",
        "-o",
        "json",
    ];
    let output = tokio::task::block_in_place(|| check(&kubeconfig, &args));
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let row = |c: &str, n: &str, s: &str, l: &str| (c.into(), n.into(), s.into(), l.into());
    assert_eq!(
        findings(&report),
        [
            row(
                "hub-dev",
                "account-lookup-service",
                "update-available",
                "v15.1.2"
            ),
            row("hub-dev", "central-ledger", "update-available", "v19.8.9"),
            row("hub-prod", "central-ledger", "up-to-date", "-"),
            row("hub-prod", "quoting-service", "update-available", "v15.0.4"),
        ]
    );
    // One tag walk per repository for the whole fleet: central-ledger runs in both clusters.
    for repository in [
        "mojaloop/central-ledger",
        "mojaloop/account-lookup-service",
        "mojaloop/quoting-service",
    ] {
        assert_eq!(
            proxy.count(&format!("/v2/{repository}/tags/list")),
            1,
            "{repository}: {:#?}",
            proxy.seen()
        );
    }
    // The summary counts everything, then each cluster.
    let summary = &report["summary"];
    assert_eq!(summary["workloads"], 4);
    assert_eq!(summary["updates"], 3);
    assert_eq!(summary["clusters"][0]["name"], "hub-dev");
    assert_eq!(summary["clusters"][0]["updates"], 2);
    assert_eq!(summary["clusters"][1]["name"], "hub-prod");
    assert_eq!(summary["clusters"][1]["upToDate"], 1);
    assert!(summary.get("failedClusters").is_none(), "{summary}");
    // Patches and commands act on their own cluster.
    for patch in report["patches"].as_array().unwrap() {
        let command = patch["command"].as_str().unwrap();
        let cluster = patch["cluster"].as_str().unwrap();
        assert!(
            command.starts_with(&format!("kubectl --context {cluster} patch deployment ")),
            "{command}"
        );
    }
    // "Which of my hubs still run v19.8.3?"
    let still: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["image"] == "mojaloop/central-ledger:v19.8.3")
        .map(|f| f["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(still, ["hub-dev"]);

    // One context is not a fleet: the report is the single-cluster one, without `cluster`.
    let one = tokio::task::block_in_place(|| {
        check(
            &kubeconfig,
            &[
                "--context",
                "hub-prod",
                "--config",
                config,
                "-n",
                "mojaloop",
                "-o",
                "json",
            ],
        )
    });
    assert!(one.status.success(), "{}", stderr(&one));
    let one: Value = serde_json::from_str(&stdout(&one)).unwrap();
    assert_eq!(
        findings(&one),
        [
            row("-", "central-ledger", "up-to-date", "-"),
            row("-", "quoting-service", "update-available", "v15.0.4"),
        ]
    );
    assert!(one["summary"].get("clusters").is_none());
    assert!(
        one["patches"][0]["command"]
            .as_str()
            .unwrap()
            .starts_with("kubectl patch deployment quoting-service -n mojaloop")
    );
}

/// The bundled example hub in two clusters, tags from the real registry (every tag of the
/// example's index): a fleet run walks each of its repositories once, where one run per
/// cluster walks each once per cluster. Prints the figures.
#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_example_in_two_clusters_walks_each_repository_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, proxy, config) = example_registry(dir.path()).await;
    let index = example_index();
    let config = config.to_str().unwrap();
    let hub = || {
        KubeSim::builder()
            .load(repo().join("examples/hub"))
            .unwrap()
            .start_blocking()
            .unwrap()
    };
    let (dev, prod) = tokio::task::block_in_place(|| (hub(), hub()));
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-prod", Some(prod.url()))],
    );
    let walks = || proxy.count("/tags/list");
    let run = |args: &[&str]| {
        let started = std::time::Instant::now();
        let output = tokio::task::block_in_place(|| {
            check(
                &kubeconfig,
                &[args, &["--config", config, "-o", "json"]].concat(),
            )
        });
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        (report, started.elapsed())
    };
    let (one, one_time) = run(&["--context", "hub-dev"]);
    let (_, other_time) = run(&["--context", "hub-prod"]);
    let separately = walks();
    proxy.clear_log();
    let (fleet, fleet_time) = run(&["--all-contexts"]);
    let together = walks();
    let repositories = index.len();
    eprintln!(
        "figures: bundled example x2 clusters, {repositories} repositories: one run per cluster {separately} tag walks in {:.2}s; --all-contexts {together} tag walks in {:.2}s",
        (one_time + other_time).as_secs_f64(),
        fleet_time.as_secs_f64()
    );
    assert_eq!(separately, 2 * repositories);
    assert_eq!(together, repositories);
    assert_eq!(
        fleet["summary"]["clusters"][0]["updates"], one["summary"]["updates"],
        "each cluster's findings are the single-cluster run's"
    );
    assert_eq!(
        fleet["findings"].as_array().unwrap().len(),
        2 * one["findings"].as_array().unwrap().len()
    );
}

#[test]
fn the_table_groups_by_cluster_and_fits_120_columns() {
    let dir = tempfile::tempdir().unwrap();
    let hub = || {
        KubeSim::builder()
            .load(repo().join("examples/hub"))
            .unwrap()
            .start_blocking()
            .unwrap()
    };
    let (dev, prod) = (hub(), hub());
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-prod", Some(prod.url()))],
    );
    let output = check(
        &kubeconfig,
        &["--all-contexts", "--tags", "examples/tags.json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} chars: {line}",
            line.chars().count()
        );
    }
    // A heading per cluster, in kubeconfig order, each followed by the column header and its
    // rows; the example's 28 rows (27 updates, 1 unresolved) in each.
    let lines: Vec<&str> = text.lines().collect();
    let headings: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("cluster "))
        .collect();
    assert_eq!(headings.len(), 2, "{text}");
    assert!(
        lines[headings[0]].starts_with(
            "cluster hub-dev: 44 workloads, 76 containers: 27 updates available, 48 up to date, 1 unresolved"
        ),
        "{text}"
    );
    assert!(
        lines[headings[1]].starts_with("cluster hub-prod: "),
        "{text}"
    );
    for &at in &headings {
        assert!(lines[at + 1].starts_with("NAMESPACE "), "{text}");
        let rows = lines[at + 2..]
            .iter()
            .take_while(|l| !l.is_empty() && !l.starts_with('('))
            .count();
        assert_eq!(rows, 28, "{text}");
    }
    assert!(
        text.contains("\n2 clusters: 88 workloads, 152 containers: 54 updates available"),
        "{text}"
    );
    assert!(text.contains("\n  [hub-prod] mojaloop deploy/"), "{text}");
}

#[test]
fn all_contexts_with_a_broken_one_reports_the_others_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, prod) = two_hubs();
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[
            ("hub-dev", Some(dev.url())),
            ("hub-gone", None),
            ("hub-prod", Some(prod.url())),
        ],
    );
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        r#"{"mojaloop/central-ledger": ["v19.8.3", "v19.8.9"], "mojaloop/account-lookup-service": ["v15.1.0"], "mojaloop/quoting-service": ["v15.0.0"]}"#,
    )
    .unwrap();
    let tags = tags.to_str().unwrap();
    for (format, fail_on_update) in [("json", false), ("table", false), ("json", true)] {
        let mut args = vec![
            "--all-contexts",
            "--tags",
            tags,
            "-n",
            "mojaloop",
            "-o",
            format,
        ];
        if fail_on_update {
            args.push("--fail-on-update");
        }
        let output = check(&kubeconfig, &args);
        let (out, err) = (stdout(&output), stderr(&output));
        // Partial (1), not "updates available" (3), even with --fail-on-update.
        assert_eq!(output.status.code(), Some(1), "{out}{err}");
        assert!(
            err.contains("error: cluster \"hub-gone\" not scanned: ")
                && err.contains("partial scan: 1 of 3 clusters could not be read (\"hub-gone\")"),
            "{err}"
        );
        assert!(!err.contains("secret-token-value") && !out.contains("secret-token-value"));
        if format == "json" {
            let report: Value = serde_json::from_str(&out).unwrap();
            let clusters: Vec<String> = findings(&report).into_iter().map(|f| f.0).collect();
            assert_eq!(clusters, ["hub-dev", "hub-dev", "hub-prod", "hub-prod"]);
            let failed = &report["summary"]["failedClusters"];
            assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
            assert_eq!(failed[0]["name"], "hub-gone");
            assert!(
                failed[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("context \"hub-gone\""),
                "{failed}"
            );
        } else {
            assert!(out.contains("cluster hub-gone: not scanned: "), "{out}");
            assert!(
                out.contains("\n3 clusters (1 not scanned): 4 workloads"),
                "{out}"
            );
        }
    }
}

#[test]
fn printed_commands_apply_with_kubectl_to_their_own_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, prod) = two_hubs();
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-prod", Some(prod.url()))],
    );
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        r#"{"mojaloop/central-ledger": ["v19.8.3", "v19.8.9"], "mojaloop/account-lookup-service": ["v15.1.0", "v15.1.2"], "mojaloop/quoting-service": ["v15.0.0", "v15.0.4"]}"#,
    )
    .unwrap();
    let tags = tags.to_str().unwrap();
    let args = ["--all-contexts", "--tags", tags, "-n", "mojaloop"];
    let output = check(&kubeconfig, &[&args[..], &["-o", "commands"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let script = stdout(&output);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.len(), 3, "{script}");
    assert!(
        lines[..2]
            .iter()
            .all(|l| l.starts_with("kubectl --context hub-dev patch "))
    );
    assert!(lines[2].starts_with("kubectl --context hub-prod patch deployment quoting-service "));
    // The current context is hub-dev: without --context, hub-prod's command would patch it.
    let mut path = vec![tools::bin_dir()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let run = Command::new("sh")
        .arg("-e")
        .arg("-c")
        .arg(&script)
        .env("KUBECONFIG", &kubeconfig)
        .env("PATH", std::env::join_paths(path).unwrap())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let image = |sim: &BlockingRunning, name: &str| {
        sim.get("apps/v1", "Deployment", Some("mojaloop"), name)
            .map(|d| d["spec"]["template"]["spec"]["containers"][0]["image"].clone())
    };
    assert_eq!(
        image(&dev, "central-ledger"),
        Some(json!("mojaloop/central-ledger:v19.8.9"))
    );
    assert_eq!(
        image(&prod, "quoting-service"),
        Some(json!("mojaloop/quoting-service:v15.0.4"))
    );
    assert_eq!(image(&dev, "quoting-service"), None);
    let after = check(&kubeconfig, &[&args[..], &["-o", "json"]].concat());
    let report: Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(report["summary"]["updates"], 0, "{}", report["summary"]);
    assert_eq!(report["summary"]["upToDate"], 4);
}

#[test]
fn a_cluster_that_never_answers_is_cut_off_by_its_own_time_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, _prod) = two_hubs();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-hung", Some(silent_url))],
    );
    let output = check(
        &kubeconfig,
        &[
            "--all-contexts",
            "--tags",
            "examples/tags.json",
            "--cluster-timeout",
            "2s",
            "-o",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(
            "error: cluster \"hub-hung\" not scanned: reading context \"hub-hung\" took longer than --cluster-timeout 2s"
        ),
        "{err}"
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["summary"]["clusters"][0]["name"], "hub-dev");
    assert_eq!(report["summary"]["failedClusters"][0]["name"], "hub-hung");
    drop(silent);
}

/// The registry wants a password; only hub-prod holds it (an image pull secret). The fleet's
/// one walk of the repository uses it, so hub-dev's image, on the same repository, is resolved
/// too — and hub-dev alone cannot list it.
#[tokio::test(flavor = "multi_thread")]
async fn one_cluster_s_pull_secret_serves_the_fleet_s_walk_of_its_repository() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let registry = RegistryProc::start(
        AuthMode::Htpasswd(vec![("hub".into(), "pull-s3cret".into())]),
        true,
    )
    .await;
    let tags: Vec<String> = ["v15.1.0", "v15.1.2"].map(String::from).to_vec();
    registry
        .push("mojaloop/account-lookup-service", &tags, false)
        .await;
    let host = registry.host();
    let image = format!("{host}/mojaloop/account-lookup-service:v15.1.0");
    let auths = json!({"auths": {host.clone(): {"username": "hub", "password": "pull-s3cret"}}});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "hub-registry", "namespace": "mojaloop"},
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(auths.to_string())},
    });
    let mut with_secret = deployment("account-lookup-service", &image);
    with_secret["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{"name": "hub-registry"}]);
    let (dev, prod) = tokio::task::block_in_place(|| {
        let dev = KubeSim::builder()
            .objects(vec![
                namespace("mojaloop"),
                deployment("account-lookup-service", &image),
            ])
            .start_blocking()
            .unwrap();
        let prod = KubeSim::builder()
            .objects(vec![namespace("mojaloop"), secret, with_secret])
            .start_blocking()
            .unwrap();
        (dev, prod)
    });
    let kubeconfig = fleet_kubeconfig(
        dir.path(),
        &[("hub-dev", Some(dev.url())), ("hub-prod", Some(prod.url()))],
    );
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "checkOverwrittenTags: false\nregistries:\n  - host: '{host}'\n    caFile: '{}'\n",
            registry.ca_file().display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |contexts: &[&str]| {
        tokio::task::block_in_place(|| {
            check(
                &kubeconfig,
                &[
                    contexts,
                    &["--config", config, "-n", "mojaloop", "-o", "json"],
                ]
                .concat(),
            )
        })
    };
    let fleet = run(&["--context", "hub-dev", "--context", "hub-prod"]);
    assert!(fleet.status.success(), "{}", stderr(&fleet));
    assert!(!stderr(&fleet).contains("pull-s3cret") && !stdout(&fleet).contains("pull-s3cret"));
    let report: Value = serde_json::from_str(&stdout(&fleet)).unwrap();
    let row = |c: &str| {
        (
            c.to_string(),
            "account-lookup-service".to_string(),
            "update-available".to_string(),
            "v15.1.2".to_string(),
        )
    };
    assert_eq!(findings(&report), [row("hub-dev"), row("hub-prod")]);
    let alone = run(&["--context", "hub-dev"]);
    assert_eq!(alone.status.code(), Some(1), "{}", stderr(&alone));
    assert!(
        stderr(&alone).contains("partial scan"),
        "{}",
        stderr(&alone)
    );
}

#[test]
fn fleet_flags_that_do_not_go_together_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fleet_kubeconfig(dir.path(), &[("hub-dev", None)]);
    let empty = dir.path().join("empty-kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let cases: [(&Path, &[&str], &str); 4] = [
        (
            &kubeconfig,
            &["--context", "hub-dev", "--all-contexts"],
            "cannot be used with",
        ),
        (
            &kubeconfig,
            &["--all-contexts", "-f", "examples/hub"],
            "-f reads manifests",
        ),
        (
            &kubeconfig,
            &["--all-contexts", "--cluster-timeout", "0s"],
            "must be above zero",
        ),
        (
            &empty,
            &["--all-contexts"],
            "--all-contexts: the kubeconfig has no contexts",
        ),
    ];
    for (kubeconfig, args, message) in cases {
        let output = check(kubeconfig, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
