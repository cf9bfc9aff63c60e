//! `ml-operator run` end to end: kube-sim serves the small hub, the real docker-registry holds
//! its tags, and a local receiver plays Slack. The operator runs as a real process.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_sim::KubeSim;
use ml_operator_testkit::proxy::Fault;
use support::{Operator, Receiver, eventually, eventually_or, repo, small_hub_registry};

/// The original ml-operator's Slack text for the small hub (bugfix), commands included.
const FIRST_MESSAGE_START: &str = "*ml-operator* - The following services are not on the latest secure version and should be updated:\n";

struct Hub {
    _sim: kube_sim::Running,
    handle: kube_sim::Handle,
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
        handle,
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

fn slack_texts(receiver: &Receiver) -> Vec<String> {
    receiver
        .delivered()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifies_once_per_change_and_not_again_after_a_restart() {
    let hub = hub().await;
    let (registry, proxy) = small_hub_registry().await;
    let slack = Receiver::start().await;
    let config = config(hub.dir.path(), &proxy.host(), "");
    let env = [
        ("SLACK_WEBHOOK_URL", slack.url()),
        ("CHECK_FOR_UPDATE_CRON", "* * * * * *".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &env).await;
    eventually(
        "the first Slack message",
        Duration::from_secs(60),
        async || !slack.delivered().is_empty(),
    )
    .await;
    operator.wait_for_scans(3.0).await;
    let texts = slack_texts(&slack);
    assert_eq!(
        texts.len(),
        1,
        "exactly one message for one set of findings: {texts:#?}"
    );
    let text = &texts[0];
    assert!(text.starts_with(FIRST_MESSAGE_START), "{text}");
    for line in [
        "  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`",
        "  - `mojaloop/central-ledger`: latest version is `v13.14.1`",
        "  - `bitnami/mysql`: latest version is `8.0.32-debian-11-r5`",
        "Use the following commands to patch your deployments with `kubectl`:\n```",
        r#"kubectl patch deployment account-lookup-service -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"account-lookup-service","image":"mojaloop/account-lookup-service:v10.3.4"}]}}}}'"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(
        slack.delivered()[0].json()["blocks"].is_array(),
        "Block Kit blocks too"
    );
    // Kubernetes Events on the affected workloads.
    let events = hub
        .handle
        .list("events.k8s.io/v1", "Event", Some("pisp-lab"));
    let on_als: Vec<_> = events
        .iter()
        .filter(|e| {
            e["reason"] == "UpdateAvailable" && e["regarding"]["name"] == "account-lookup-service"
        })
        .collect();
    assert_eq!(on_als.len(), 1, "one Event per workload: {events:#?}");
    let note = on_als[0]["note"].as_str().unwrap();
    for change in [
        "account-lookup-service: v10.3.1 -> v10.3.4",
        "event-sidecar: v9.5.0 -> v9.5.1",
        "wait-for-mysql (init): 1.32.0 -> 1.32.1",
    ] {
        assert!(note.contains(change), "{note}");
    }

    // A new patch appears in the registry: exactly one new message.
    registry
        .push(
            "mojaloop/account-lookup-service",
            &["v10.3.5".to_string()],
            false,
        )
        .await;
    eventually(
        "the second Slack message",
        Duration::from_secs(60),
        async || slack.delivered().len() >= 2,
    )
    .await;
    operator.wait_for_scans(3.0).await;
    let texts = slack_texts(&slack);
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[1].contains("`mojaloop/account-lookup-service`: latest version is `v10.3.5`"),
        "{}",
        texts[1]
    );

    // Restart: what was told is remembered in the cluster.
    let status = operator.terminate().await;
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status}\n{}",
        operator.log()
    );
    let state = hub
        .handle
        .get("v1", "ConfigMap", Some("ml-operator"), "ml-operator-state");
    assert!(state.is_some(), "the state ConfigMap exists");
    let restarted =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &env).await;
    restarted.wait_for_scans(3.0).await;
    assert_eq!(
        slack.delivered().len(),
        2,
        "no duplicate after a restart\n{}",
        restarted.log()
    );

    // Secrets stay out of logs and metrics.
    let (_, metrics) = restarted.get("/metrics").await;
    for text in [operator.log(), restarted.log(), metrics] {
        assert!(
            !text.contains("s3cr3t-webhook-token"),
            "the webhook URL leaked:\n{text}"
        );
    }
    // And steady state means no list calls per tick: only watches.
    hub.handle.reset_request_counts();
    restarted.wait_for_scans(3.0).await;
    assert_eq!(
        hub.handle.request_count("list", "/"),
        0,
        "{:#?}",
        hub.handle.request_counts()
    );
    assert!(proxy.count("/tags/list") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_one_sender_and_a_takeover_without_resending() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let slack = Receiver::start().await;
    let config = config(hub.dir.path(), &proxy.host(), "");
    let url = slack.url();
    let env = [("SLACK_WEBHOOK_URL", url.as_str())];
    let mut a = Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &env).await;
    let mut b = Operator::start("replica-b", hub.dir.path(), &hub.kubeconfig, &config, &env).await;
    eventually("a message", Duration::from_secs(60), async || {
        !slack.delivered().is_empty()
    })
    .await;

    let lease = || {
        hub.handle
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                Some("ml-operator"),
                "ml-operator",
            )
            .unwrap()
    };
    let holder = lease()["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    let (leader, follower) = if holder == "replica-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    leader.wait_for_scans(3.0).await;
    assert_eq!(follower.scans().await, 0.0, "only the leader scans");
    assert_eq!(slack.delivered().len(), 1);

    // The leader crashes without releasing the lease: the other takes over within the lease.
    leader.kill().await;
    eventually(
        "the follower to take over",
        Duration::from_secs(30),
        async || lease()["spec"]["holderIdentity"] == follower.name.as_str(),
    )
    .await;
    follower.wait_for_scans(3.0).await;
    assert_eq!(
        slack.delivered().len(),
        1,
        "the new leader does not re-send\n{}",
        follower.log()
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scans_when_a_workload_changes_its_image() {
    let hub = hub().await;
    let (_registry, proxy) = small_hub_registry().await;
    let slack = Receiver::start().await;
    let config = config(hub.dir.path(), &proxy.host(), "scanOnChange: true\n");
    let url = slack.url();
    // A schedule that will not fire during the test: only the first scan and changes scan.
    let env = [
        ("SLACK_WEBHOOK_URL", url.as_str()),
        ("CHECK_FOR_UPDATE_CRON", "0 0 1 1 *"),
    ];
    let operator =
        Operator::start("replica-a", hub.dir.path(), &hub.kubeconfig, &config, &env).await;
    eventually("the first message", Duration::from_secs(60), async || {
        !slack.delivered().is_empty()
    })
    .await;
    let scans = operator.scans().await;

    // The operator's own advice, applied with the real kubectl: the change itself triggers a scan.
    let (_, report) = operator.get("/report").await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let command = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["container"] == "account-lookup-service")
        .and_then(|f| f["command"].as_str())
        .unwrap()
        .to_string();
    let kubeconfig = hub.kubeconfig.clone();
    let cache = hub.dir.path().join("kubectl-cache");
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} --cache-dir {}", cache.display()))
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually_or(
        "a message after the image change",
        Duration::from_secs(30),
        async || slack.delivered().len() >= 2,
        || operator.log(),
    )
    .await;
    assert!(operator.scans().await > scans, "the change caused a scan");
    let text = slack.delivered()[1].json()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !text.contains("`mojaloop/account-lookup-service`: latest version is `v10.3.4`"),
        "{text}"
    );
}
