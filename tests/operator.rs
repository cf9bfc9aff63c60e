//! `ml-operator run` where kube-sim's faults are needed: injected webhook and registry failures,
//! and the image-watcher API; the rest of operator mode runs on the real control plane
//! (tests/e2e_run.rs). The real docker-registry holds the small hub's tags, a local receiver
//! plays Slack, and the operator runs as a real process.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_sim::KubeSim;
use ml_operator_testkit::proxy::Fault;
use support::{Operator, Receiver, eventually, repo, small_hub_registry};

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
