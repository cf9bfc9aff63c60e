//! `ml-operator run` where kube-sim's faults are needed: injected webhook and registry failures,
//! and the image-watcher API; the rest of operator mode runs on the real control plane
//! (tests/e2e_run.rs). The real docker-registry holds the small hub's tags, a local receiver
//! plays Slack, and the operator runs as a real process.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_sim::KubeSim;
use ml_operator_testkit::proxy::Fault;
use support::{Operator, Receiver, eventually, eventually_or, repo, small_hub_registry};

struct Hub {
    _sim: kube_sim::Running,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn hub() -> Hub {
    let sim = KubeSim::builder()
        .load(repo().join("tests/fixtures/small-hub.yaml"))
        .unwrap()
        .start()
        .await
        .unwrap();
    let handle = sim.handle();
    // The operator's own namespace, as a real install has it.
    handle
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    Hub {
        _sim: sim,
        dir,
        kubeconfig,
    }
}

/// A config making the proxy the hub's docker.io mirror, scanning every second.
fn config(dir: &Path, registry: &str, extra: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "schedule: '* * * * * *'\nregistries:\n  - {{host: docker.io, mirror: '{registry}'}}\nleaderElection: {{leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}}\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_a_failing_webhook_and_survives_a_registry_outage() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let slack = Receiver::start().await;
    slack.script(&[500, 500]);
    let config = config(hub.dir.path(), &proxy.host(), "");
    let url = slack.url();
    let operator = Operator::start(
        "replica-a",
        hub.dir.path(),
        &hub.kubeconfig,
        &config,
        &[("SLACK_WEBHOOK_URL", url.as_str())],
    )
    .await;
    eventually(
        "delivery after two 500s",
        Duration::from_secs(60),
        async || !slack.delivered().is_empty(),
    )
    .await;
    operator.wait_for_scans(2.0).await;
    assert_eq!(slack.received().len(), 3, "500, 500, then 200");
    assert_eq!(slack.delivered().len(), 1, "delivered once");
    assert_eq!(
        operator
            .metric("ml_operator_notifications_total{notifier=\"slack\",result=\"sent\"}")
            .await,
        1.0
    );

    // The registry fails for one repository: the scan is partial, nothing is announced as resolved.
    proxy.inject(
        "/v2/mojaloop/account-lookup-service/tags/list",
        vec![Fault::Status(503); 200],
    );
    operator.wait_for_scans(3.0).await;
    assert!(
        operator
            .metric("ml_operator_scans_total{result=\"partial\"}")
            .await
            >= 1.0
    );
    assert!(
        operator
            .metric("ml_operator_registry_requests_total{registry=\"")
            .await
            >= 0.0,
        "registry counters are exported"
    );
    let (_, metrics) = operator.get("/metrics").await;
    assert!(
        metrics.contains("ml_operator_registry_requests_total{registry="),
        "{metrics}"
    );
    assert_eq!(
        slack.delivered().len(),
        1,
        "an outage is not news\n{}",
        operator.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_the_original_image_watcher_api() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(hub.dir.path(), &proxy.host(), "notify: {events: false}\n");
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &[]).await;

    let (status, body) = operator
        .get("/images/mojaloop/account-lookup-service/v10.3.1?strategy=bugfix")
        .await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"tag": "v10.3.4", "fullImage": "mojaloop/account-lookup-service:v10.3.4"})
    );

    let (status, body) = operator
        .get("/images/mojaloop/account-lookup-service/v10.3.4")
        .await;
    assert_eq!(
        (status, body.contains("\"tag\":\"v10.3.4\"")),
        (200, true),
        "already newest: {body}"
    );
    let (status, _) = operator
        .get("/images/mojaloop/account-lookup-service/v10.3.1?strategy=major")
        .await;
    assert_eq!(status, 200);
    let (status, body) = operator
        .get("/images/mojaloop/no-such-service/v1.0.0?strategy=bugfix")
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = operator
        .get("/images/mojaloop/account-lookup-service/v10.3.1?strategy=newest")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(operator.get("/health").await.0, 200);
    eventually("readiness", Duration::from_secs(30), async || {
        operator.get("/readyz").await.0 == 200
    })
    .await;

    // `/report`: the same document whether the client takes it gzip-compressed or not. Ready
    // comes first when the replica is still following (ready once synced): the report comes
    // with its first scan as leader.
    let mut report = None;
    eventually(
        "a report from the first scan",
        Duration::from_secs(30),
        async || {
            report = operator.report().await;
            report.is_some()
        },
    )
    .await;
    let report = report.unwrap();
    assert!(
        !report["findings"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(report["patches"].is_array(), "{report}");
    let url = format!("http://127.0.0.1:{}/report", operator.port);
    let http = reqwest::Client::new();
    let plain = http.get(&url).send().await.unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    assert_eq!(plain.headers()["content-type"], "application/json");
    let plain = plain.bytes().await.unwrap();
    let (gzip, decoded) = gzip_get(&http, &url, "br;q=1, gzip;q=0.8").await;
    assert_eq!(decoded, plain, "the compressed /report is the plain one");
    assert!(
        gzip.len() < plain.len(),
        "{} >= {}",
        gzip.len(),
        plain.len()
    );
    let refused = http
        .get(&url)
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers().get("content-encoding"), None);

    // `/metrics`: compressed as it is written for a scraper that accepts gzip (Prometheus
    // does), plain for one that does not.
    let url = format!("http://127.0.0.1:{}/metrics", operator.port);
    let (_, decoded) = gzip_get(&http, &url, "gzip").await;
    let decoded = String::from_utf8(decoded).unwrap();
    assert!(
        decoded.contains("\nml_operator_update_available{"),
        "{decoded}"
    );
    assert!(decoded.ends_with("# EOF\n"), "{decoded}");
    let plain = http.get(&url).send().await.unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.text().await.unwrap();
    assert!(plain.contains("\nml_operator_update_available{"), "{plain}");

    // IMAGE_WATCHER_CLIENT_URL: an ml-operator (or the original image-watcher) as the tag source.
    let watcher_config = hub.dir.path().join("watcher.yaml");
    std::fs::write(
        &watcher_config,
        format!("imageWatcherUrl: '127.0.0.1:{}'\n", operator.port),
    )
    .unwrap();
    let check = |args: Vec<String>| async move {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .current_dir(repo())
            .args(["check", "-f", "tests/fixtures/small-hub.yaml", "-o", "json"])
            .args(args)
            .output()
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["findings"]
            .as_array()
            .unwrap()
            .clone()
    };
    let through_watcher = check(vec![
        "--config".into(),
        watcher_config.to_str().unwrap().into(),
    ])
    .await;
    let offline = check(vec![
        "--tags".into(),
        "tests/fixtures/small-tags.json".into(),
    ])
    .await;
    // Official images go to the API as `library/NAME`, like the original client did.
    for (asked, expected) in through_watcher.iter().zip(&offline) {
        assert_eq!(asked["latestTag"], expected["latestTag"], "{asked}");
        assert_eq!(asked["status"], expected["status"], "{asked}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "schedule: '* * * * * *'\n").unwrap();
    let cases = [
        (
            vec![("CHECK_FOR_UPDATE_CRON", "every minute")],
            "CHECK_FOR_UPDATE_CRON",
        ),
        (vec![("UPGRADE_STRATEGY", "newest")], "UPGRADE_STRATEGY"),
        (
            vec![("NOTIFY_KUBECTL_PATCH_INSTRUCTIONS", "maybe")],
            "NOTIFY_KUBECTL_PATCH_INSTRUCTIONS",
        ),
        (
            vec![("ML_OPERATOR_LISTEN", "port four")],
            "ML_OPERATOR_LISTEN",
        ),
    ];
    for (env, key) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("ML_OPERATOR_LISTEN")
            .envs(env.iter().copied())
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "{env:?}: {stderr}");
        assert!(stderr.contains(env[0].1), "names the value: {stderr}");
    }
}

/// `helm.readReleases: true`: each scan reads the Helm-managed workloads' deployed release
/// Secrets (kube-sim filters them by their labels and type, as the real server does), so the
/// operator's findings and its ImageUpgrade proposals carry the release's values path; a
/// password in the values shows nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_read_releases_gives_the_operator_s_findings_their_values_path() {
    use base64::Engine;
    use std::io::Write;
    let release = serde_json::json!({
        "name": "hub", "namespace": "hub", "version": 3,
        "info": {"status": "deployed"},
        "chart": {
            "metadata": {"name": "mojaloop", "version": "17.1.0"},
            "values": {"centralledger": {"centralledger-service": {"image": {"repository": "mojaloop/central-ledger", "tag": "v17.8.0"}}},
                       "mysql": {"auth": {"rootPassword": "s3cret-root"}}},
        },
        "config": {},
        "manifest": "---\n# Source: mojaloop/charts/centralledger/charts/centralledger-service/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub-centralledger-service\n",
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.encode(gz.finish().unwrap());
    let sim = KubeSim::builder()
        .objects(vec![
            serde_json::to_value(ml_operator::upgrade::crd::crd()).unwrap(),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-operator"}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hub"}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                "metadata": {"name": "sh.helm.release.v1.hub.v3", "namespace": "hub",
                             "labels": {"owner": "helm", "name": "hub", "status": "deployed", "version": "3"}},
                "data": {"release": b64.encode(payload)}}),
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "hub-centralledger-service", "namespace": "hub",
                    "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "hub"},
                    "annotations": {"meta.helm.sh/release-name": "hub", "meta.helm.sh/release-namespace": "hub"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cl"}},
                    "template": {"metadata": {"labels": {"app": "cl"}},
                        "spec": {"containers": [{"name": "central-ledger", "image": "mojaloop/central-ledger:v17.8.0"}]}}}}),
        ])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let tags = dir.path().join("tags.json");
    std::fs::write(
        &tags,
        r#"{"mojaloop/central-ledger": ["v17.8.0", "v17.8.1"]}"#,
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "schedule: '* * * * * *'\nhelm: {readReleases: true}\nupgrades: {enabled: true}\nleaderElection: {leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("operator.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(["run", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--config")
        .arg(&config)
        .arg("--tags")
        .arg(&tags)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("POD_NAME", "replica-a")
        .env("POD_NAMESPACE", "ml-operator")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut report = serde_json::Value::Null;
    eventually_or(
        "a report with the Helm values path",
        Duration::from_secs(60),
        async || {
            let Ok(response) = http
                .get(format!("http://127.0.0.1:{port}/report"))
                .send()
                .await
            else {
                return false;
            };
            report = response.json().await.unwrap_or_default();
            report["findings"][0]["helm"]["valuesPath"]
                == "centralledger.centralledger-service.image.tag"
        },
        || std::fs::read_to_string(&log).unwrap_or_default(),
    )
    .await;
    assert_eq!(report["findings"][0]["helm"]["release"], "hub");
    assert_eq!(report["findings"][0]["latestTag"], "v17.8.1");
    assert!(!report.to_string().contains("s3cret-root"));
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("s3cret-root")
    );
    assert!(
        sim.request_count("list", "/api/v1/namespaces/hub/secrets") >= 1,
        "the release Secret listed"
    );
    // The proposal records the key too.
    let upgrade = sim
        .wait_for_async(
            "ml-operator.mojaloop.io/v1alpha2",
            "ImageUpgrade",
            Some("hub"),
            "central-ledger-v17.8.1",
            Duration::from_secs(30),
            |u| u["spec"]["targets"][0]["containers"][0]["valuesPath"].is_string(),
        )
        .await
        .expect("the ImageUpgrade with its values path");
    assert_eq!(
        upgrade["spec"]["targets"][0]["containers"][0]["valuesPath"],
        "centralledger.centralledger-service.image.tag"
    );
    child.kill().await.unwrap();
}

/// `GET url` accepting `accept_encoding`: the answer must be gzip (and say it varies by
/// `Accept-Encoding`); the compressed body and the body decoded.
async fn gzip_get(http: &reqwest::Client, url: &str, accept_encoding: &str) -> (Vec<u8>, Vec<u8>) {
    let response = http
        .get(url)
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip", "{url}");
    assert_eq!(response.headers()["vary"], "accept-encoding", "{url}");
    let gzip = response.bytes().await.unwrap().to_vec();
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut decoded).unwrap();
    (gzip, decoded)
}
