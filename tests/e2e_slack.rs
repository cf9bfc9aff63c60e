//! Slack interactive approvals on the real control plane, with a local Slack: the proposal
//! posted through the incoming webhook carries Approve / Reject buttons; clicks are sent back
//! as Slack sends them (`payload=<block_actions>`, form-encoded, signed with the signing
//! secret) to `POST /slack/interactions`.
//!
//! Refusals, each leaving the ImageUpgrade unchanged: a forged signature (401), a correctly
//! signed request 6 minutes old (401), a user not in `slack.approvers` (an ephemeral "not
//! allowed"), the same delivery twice (one approval), a button from the message of a group
//! superseded since (a newer tag appeared; "nothing changed"), a decision on a group already
//! applied. With `requiredApprovals: 2` it takes two different people — one named by
//! user id, one through a user group (`usergroups.users.list`) — then the upgrade is applied;
//! `status.approval` records who, when and how; the message is updated in place
//! (`chat.update`) and each decision told in its thread (`chat.postMessage`).

mod e2e_support;

use std::time::Duration;

use e2e_support::slack::*;
use e2e_support::*;
use serde_json::{Value, json};

const FROM: &str = "mojaloop/central-ledger:v19.8.3";
const TO: &str = "mojaloop/central-ledger:v19.8.9";
/// The tag that appears later and supersedes the first group.
const NEWER: &str = "mojaloop/central-ledger:v19.8.10";
const LIMIT: Duration = Duration::from_secs(90);
const ALLOWED: &str = "U0ALLOWED1";
const IN_GROUP: &str = "U0GROUPED2";
const STRANGER: &str = "U0STRANGER";
const APP_TOKEN: &str = "xapp-1-test-app-token";

struct Hub<'a> {
    ns: Namespace<'a>,
    slack: FakeSlack,
    operator: Operator,
    registry: ml_operator_testkit::registry::RegistryProc,
    _dir: tempfile::TempDir,
}

impl Hub<'_> {
    fn interactions(&self) -> String {
        self.operator.url("/slack/interactions")
    }

    /// Posts `payload` signed now; the status code.
    async fn click(&self, payload: &Value) -> u16 {
        let body = form(payload);
        let now = unix_now();
        post_signed(
            &self.interactions(),
            &body,
            now,
            &slack_signature(SIGNING_SECRET, now, &body),
        )
        .await
    }

    fn group(&self) -> Value {
        self.group_to(TO)
    }

    fn group_to(&self, image: &str) -> Value {
        upgrade_to(&self.ns, "central-ledger", "central-ledger", image).expect("the group")
    }

    /// Waits for a request to `path` whose body contains `needle`; returns its body.
    async fn wait_slack(&self, path: &str, needle: &str) -> String {
        let mut found = String::new();
        eventually_or(
            &format!("{path} with {needle:?}"),
            Duration::from_secs(20),
            async || match self
                .slack
                .requests(path)
                .iter()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .find(|b| b.contains(needle))
            {
                Some(body) => {
                    found = body;
                    true
                }
                None => false,
            },
            || format!("{:#?}\n{}", self.slack.all_requests(), self.operator.log()),
        )
        .await;
        found
    }

    /// Waits for the `n`th proposal message with buttons.
    async fn proposal(&self, n: usize) -> Value {
        eventually_or(
            &format!("proposal message {n} with buttons"),
            LIMIT,
            async || self.slack.proposals().len() >= n,
            || format!("{:#?}\n{}", self.slack.all_requests(), self.operator.log()),
        )
        .await;
        self.slack.proposals()[n - 1].clone()
    }
}

/// The hub; `socket`: Socket Mode through this WebSocket URL (app token, one approval needed)
/// instead of HTTP interactivity (signing secret, two approvals).
async fn hub<'a>(cp: &'a ControlPlane, socket: Option<&str>) -> Hub<'a> {
    hub_with(cp, socket, false).await
}

/// [`hub`]; `failing`: the fake nodes cannot run the target image, so an applied group's
/// rollout exceeds its progress deadline and is rolled back.
async fn hub_with<'a>(cp: &'a ControlPlane, socket: Option<&str>, failing: bool) -> Hub<'a> {
    install_crd(cp);
    let ns = cp.namespace("slack");
    let annotations = if failing {
        json!({"fake-node.ml-operator.test/fail-images": TO})
    } else {
        json!({})
    };
    let mut ledger = deployment(
        "central-ledger",
        1,
        pod_template(
            "central-ledger",
            &[container("central-ledger", FROM)],
            &[],
            annotations,
        ),
    );
    if failing {
        ledger["spec"]["progressDeadlineSeconds"] = json!(4);
    }
    ns.apply(&list(&[ledger]));
    let registry = registry_with(&[(
        "mojaloop/central-ledger",
        &["v19.8.3", "v19.8.5", "v19.8.9"],
    )])
    .await;
    let slack = FakeSlack::start(&[("S0HUBOPS", &[IN_GROUP, "U0SOMEONE"])]).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("slack-signing-secret");
    std::fs::write(&secret, format!("{SIGNING_SECRET}\n")).unwrap();
    let bot = dir.path().join("slack-bot-token");
    std::fs::write(&bot, BOT_TOKEN).unwrap();
    let app = dir.path().join("slack-app-token");
    std::fs::write(&app, APP_TOKEN).unwrap();
    let (transport, required) = match socket {
        Some(url) => {
            slack.set_socket_url(url);
            (format!("  appTokenFile: {}\n", app.display()), 1)
        }
        None => (format!("  signingSecretFile: {}\n", secret.display()), 2),
    };
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &format!(
            "{}notify:\n  slack: {{webhookUrl: '{}'}}\nupgrades: {{enabled: true, requiredApprovals: {required}, interval: 1s}}\nslack:\n{transport}  botTokenFile: {}\n  approvers: [{ALLOWED}, S0HUBOPS]\n",
            mirror_config(&registry),
            slack.webhook_url(),
            bot.display(),
        ),
    );
    let operator = Operator::start(OperatorSpec {
        name: "slack-a",
        namespace: ns.name(),
        kubeconfig: cp.kubeconfig(),
        config: &config,
        dir: dir.path(),
        env: vec![("ML_OPERATOR_SLACK_API_URL".into(), slack.api_url())],
        args: vec![],
    })
    .await;
    Hub {
        ns,
        slack,
        operator,
        registry,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_buttons_approve_only_when_signed_allowed_current_and_by_two_people() {
    let Some(cp) = ControlPlane::shared_or_skip("slack approvals") else {
        return;
    };
    let hub = hub(cp, None).await;
    let message = hub.proposal(1).await;
    let (approve, reject) = buttons(&message).unwrap();
    assert_eq!(approve["value"], reject["value"]);
    let group = hub.group();
    assert!(
        approve["value"].as_str().unwrap().starts_with(&format!(
            "{}/{}/",
            hub.ns.name(),
            name(&group)
        )),
        "{approve}"
    );
    let unchanged = |hub: &Hub<'_>| {
        let g = hub.group();
        assert_eq!(g["spec"]["approvals"], json!([]), "{g:#}");
        assert_eq!(g["spec"]["approved"], false);
        assert_eq!(phase(&g), "Available");
    };

    // A forged signature and a correctly signed but 6 minutes old request: 401.
    let payload = click_payload(&message, &approve, ALLOWED, &hub.slack.response_url(1));
    let body = form(&payload);
    let now = unix_now();
    let forged = slack_signature("not-the-secret", now, &body);
    assert_eq!(
        post_signed(&hub.interactions(), &body, now, &forged).await,
        401
    );
    let old = now - 6 * 60;
    let stale = slack_signature(SIGNING_SECRET, old, &body);
    assert_eq!(
        post_signed(&hub.interactions(), &body, old, &stale).await,
        401
    );
    assert_eq!(
        post_signed(&hub.interactions(), &body, now, "").await,
        401,
        "no signature"
    );
    // Signed, but not a click on our buttons: 400.
    let other = form(&json!({"type": "view_submission", "user": {"id": ALLOWED}}));
    let signature = slack_signature(SIGNING_SECRET, now, &other);
    assert_eq!(
        post_signed(&hub.interactions(), &other, now, &signature).await,
        400
    );

    // Someone not in slack.approvers: an ephemeral "not allowed".
    let stranger = click_payload(&message, &approve, STRANGER, &hub.slack.response_url(2));
    assert_eq!(hub.click(&stranger).await, 200);
    let reply = hub.wait_slack("/respond/2", "not allowed").await;
    assert!(reply.contains("\"ephemeral\""), "{reply}");
    hub.operator
        .wait_for_log(&format!("{STRANGER} is not in slack.approvers"))
        .await;
    unchanged(&hub);

    // An approver: counted, 1 of 2; the message says so in place, and in its thread.
    assert_eq!(hub.click(&payload).await, 200);
    let update = hub.wait_slack("/api/chat.update", "1 of 2 approvals").await;
    let update: Value = serde_json::from_str(&update).unwrap();
    assert_eq!(update["channel"], "C0HUBOPS");
    assert_eq!(update["ts"], "1700000000.000100");
    assert!(
        buttons(&update).is_some(),
        "the buttons stay for the second approver"
    );
    let thread = hub.wait_slack("/api/chat.postMessage", "1 of 2").await;
    assert!(
        thread.contains("\"thread_ts\":\"1700000000.000100\""),
        "{thread}"
    );
    let g = hub.group();
    let votes = g["spec"]["approvals"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{g:#}");
    assert_eq!(votes[0]["by"], format!("slack:{ALLOWED}"));
    assert_eq!(votes[0]["how"], "slack");
    assert_eq!(g["spec"]["approved"], false);

    // The same delivery again (Slack retries, or a replay within 5 minutes): still one.
    assert_eq!(hub.click(&payload).await, 200);
    hub.wait_slack("/respond/1", "already approved").await;
    assert_eq!(
        hub.group()["spec"]["approvals"].as_array().unwrap().len(),
        1
    );

    // A newer tag appears: the group is superseded by a new one (a new message); the old
    // message's button changes nothing and says so.
    hub.registry
        .push("mojaloop/central-ledger", &["v19.8.10".to_string()], false)
        .await;
    let renewed = hub.proposal(2).await;
    let (approve2, reject2) = buttons(&renewed).unwrap();
    assert_ne!(approve2["value"], approve["value"]);
    let superseded = wait_upgrade_phase(
        &hub.ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Superseded",
        LIMIT,
        || hub.operator.log(),
    );
    let late = click_payload(&message, &approve, IN_GROUP, &hub.slack.response_url(3));
    assert_eq!(hub.click(&late).await, 200);
    hub.wait_slack("/respond/3", "Nothing changed: it was superseded")
        .await;
    let g = hub.group();
    assert_eq!(g["spec"]["approved"], false, "{g:#}");
    assert_eq!(
        g["metadata"]["resourceVersion"],
        superseded["metadata"]["resourceVersion"]
    );

    // Two different people on the current message: approved, then applied.
    let first = click_payload(&renewed, &approve2, ALLOWED, &hub.slack.response_url(4));
    assert_eq!(hub.click(&first).await, 200);
    eventually_or(
        "the first approval of the new group",
        Duration::from_secs(20),
        async || {
            hub.group_to(NEWER)["spec"]["approvals"]
                .as_array()
                .is_some_and(|v| v.len() == 1)
        },
        || hub.operator.log(),
    )
    .await;
    assert_eq!(hub.group_to(NEWER)["spec"]["approved"], false);
    let second = click_payload(&renewed, &approve2, IN_GROUP, &hub.slack.response_url(5));
    assert_eq!(hub.click(&second).await, 200);
    let done = wait_upgrade_phase(
        &hub.ns,
        "central-ledger",
        "central-ledger",
        NEWER,
        "Succeeded",
        LIMIT,
        || hub.operator.log(),
    );
    let approval = &done["status"]["approval"];
    assert_eq!(approval["how"], "slack", "{done:#}");
    let by = approval["by"].as_str().unwrap();
    assert!(
        by.contains(&format!("slack:{ALLOWED}")) && by.contains(&format!("slack:{IN_GROUP}")),
        "{by}"
    );
    assert!(approval["at"].is_string());
    let update = hub
        .wait_slack(
            "/api/chat.update",
            "Approved by <@U0ALLOWED1>, <@U0GROUPED2>",
        )
        .await;
    assert!(
        buttons(&serde_json::from_str(&update).unwrap()).is_none(),
        "decided: no more buttons"
    );
    let d = hub.ns.get_json(&["deployment", "central-ledger"]);
    assert_eq!(image_of(&d, "central-ledger"), NEWER);
    // The group's news after the decision, in the message's thread: its window, the start
    // of the apply, and that it was applied.
    for news in [
        "Scheduled: no window configured",
        "Window open: applying mojaloop/central-ledger",
        "Upgrade mojaloop/central-ledger v19.8.3 → v19.8.10: 1 workload in",
    ] {
        hub.wait_slack("/api/chat.postMessage", news).await;
    }
    let applied = hub
        .wait_slack(
            "/api/chat.postMessage",
            "\"text\":\"Upgrade mojaloop/central-ledger v19.8.3 → v19.8.10",
        )
        .await;
    let applied: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(applied["thread_ts"], "1700000000.000100", "{applied:#}");
    assert_eq!(applied["channel"], "C0HUBOPS");
    assert!(
        applied["text"].as_str().unwrap().contains("succeeded"),
        "{applied:#}"
    );

    // A decision on a group already applied changes nothing and says so.
    let after = click_payload(&renewed, &reject2, ALLOWED, &hub.slack.response_url(6));
    assert_eq!(hub.click(&after).await, 200);
    hub.wait_slack("/respond/6", "Nothing changed: it is already Succeeded")
        .await;
    assert_eq!(phase(&hub.group_to(NEWER)), "Succeeded");

    // No secret in the log.
    let log = hub.operator.log();
    for secret in [SIGNING_SECRET, BOT_TOKEN, "s3cr3t-webhook-token"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_approved_in_slack_and_rolled_back_says_so_in_the_thread() {
    let Some(cp) = fake_node_cluster_or_skip("slack thread on a rollback") else {
        return;
    };
    let hub = hub_with(cp, None, true).await;
    let message = hub.proposal(1).await;
    let (approve, _) = buttons(&message).unwrap();
    for (n, user) in [(1, ALLOWED), (2, IN_GROUP)] {
        let click = click_payload(&message, &approve, user, &hub.slack.response_url(n));
        assert_eq!(hub.click(&click).await, 200);
        eventually_or(
            &format!("approval {n}"),
            Duration::from_secs(20),
            async || {
                hub.group()["spec"]["approvals"]
                    .as_array()
                    .is_some_and(|v| v.len() == n)
            },
            || hub.operator.log(),
        )
        .await;
    }
    let done = wait_upgrade_phase(
        &hub.ns,
        "central-ledger",
        "central-ledger",
        TO,
        "RolledBack",
        LIMIT,
        || hub.operator.log(),
    );
    let recorded = done["metadata"]["annotations"]["ml-operator.mojaloop.io/slack-thread"]
        .as_str()
        .unwrap();
    let recorded: Value = serde_json::from_str(recorded).unwrap();
    assert_eq!(recorded["channel"], "C0HUBOPS", "{recorded}");
    assert_eq!(recorded["ts"], "1700000000.000100", "{recorded}");
    let reply = hub
        .wait_slack("/api/chat.postMessage", "failed and was rolled back")
        .await;
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["thread_ts"], "1700000000.000100", "{reply:#}");
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.starts_with("Upgrade mojaloop/central-ledger v19.8.3 → v19.8.9")
            && text.contains("ProgressDeadlineExceeded"),
        "{text}"
    );
    // In order: the decisions, the window, the apply, the rollback; nothing said twice.
    let thread: Vec<String> = hub
        .slack
        .requests("/api/chat.postMessage")
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let at = |needle: &str| {
        let found: Vec<usize> = thread
            .iter()
            .enumerate()
            .filter(|(_, t)| t.contains(needle))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(found.len(), 1, "{needle:?} once in {thread:#?}");
        found[0]
    };
    let order = [
        at("1 of 2"),
        at("Scheduled:"),
        at("Window open:"),
        at("failed and was rolled back"),
    ];
    assert!(order.is_sorted(), "{thread:#?}");
}

// ---------------------------------------------------------------------------------------------
// Socket Mode
// ---------------------------------------------------------------------------------------------

/// One Socket Mode connection the operator opened: what to send it, what it sent.
struct SocketConnection {
    to_operator: tokio::sync::mpsc::UnboundedSender<String>,
    from_operator: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl SocketConnection {
    fn send(&self, message: Value) {
        self.to_operator.send(message.to_string()).unwrap();
    }

    /// The next message the operator sends, within `limit`.
    async fn next(&mut self, limit: Duration) -> Value {
        let text = tokio::time::timeout(limit, self.from_operator.recv())
            .await
            .expect("the operator answered in time")
            .expect("the connection is open");
        serde_json::from_str(&text).unwrap()
    }
}

/// A local WebSocket server speaking Slack's Socket Mode: `hello` on each connection, then
/// whatever the test sends; every connection is handed to the test.
async fn socket_server() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<SocketConnection>,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}/link/?ticket=one-time-ticket",
        listener.local_addr().unwrap()
    );
    let (connections, accepted) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            let hello = json!({"type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0000"}});
            socket.send(Message::text(hello.to_string())).await.unwrap();
            let (to_operator, mut outbox) = tokio::sync::mpsc::unbounded_channel::<String>();
            let (inbox, from_operator) = tokio::sync::mpsc::unbounded_channel();
            let _ = connections.send(SocketConnection {
                to_operator,
                from_operator,
            });
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        out = outbox.recv() => match out {
                            Some(text) => if socket.send(Message::text(text)).await.is_err() { return },
                            None => return,
                        },
                        message = socket.next() => match message {
                            Some(Ok(Message::Text(text))) => { let _ = inbox.send(text.to_string()); }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_acknowledges_within_3s_reconnects_on_disconnect_and_loses_no_approval() {
    let Some(cp) = ControlPlane::shared_or_skip("slack socket mode") else {
        return;
    };
    let (url, mut connections) = socket_server().await;
    let hub = hub(cp, Some(&url)).await;
    let next_connection =
        async |connections: &mut tokio::sync::mpsc::UnboundedReceiver<SocketConnection>| {
            tokio::time::timeout(Duration::from_secs(30), connections.recv())
                .await
                .unwrap_or_else(|_| panic!("a Socket Mode connection\n{}", hub.operator.log()))
                .unwrap()
        };
    let first = next_connection(&mut connections).await;
    assert_eq!(hub.slack.requests("/api/apps.connections.open").len(), 1);
    let opened = &hub.slack.requests("/api/apps.connections.open")[0];
    assert_eq!(
        opened.headers["authorization"],
        format!("Bearer {APP_TOKEN}").as_str(),
        "the app-level token opens connections"
    );

    // Slack refreshes the connection: the operator opens another at once.
    first.send(json!({"type": "disconnect", "reason": "refresh_requested",
                      "debug_info": {"host": "applink-test"}}));
    let mut second = next_connection(&mut connections).await;
    assert_eq!(hub.slack.requests("/api/apps.connections.open").len(), 2);

    // A click on the new connection: acknowledged within 3 s, and the group approved.
    let message = hub.proposal(1).await;
    let (approve, _) = buttons(&message).unwrap();
    let payload = click_payload(&message, &approve, ALLOWED, &hub.slack.response_url(1));
    let envelope = json!({"envelope_id": "5b8f3a2c-0d4e-4f51-9a6b-7c8d9e0f1a2b", "type": "interactive",
                          "payload": payload, "accepts_response_payload": false});
    second.send(envelope.clone());
    let ack = second.next(Duration::from_secs(3)).await;
    assert_eq!(
        ack,
        json!({"envelope_id": "5b8f3a2c-0d4e-4f51-9a6b-7c8d9e0f1a2b"})
    );
    // Slack delivers it again: acknowledged again, still one approval.
    second.send(envelope);
    assert_eq!(
        second.next(Duration::from_secs(3)).await["envelope_id"],
        ack["envelope_id"]
    );
    let done = wait_upgrade_phase(
        &hub.ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Succeeded",
        LIMIT,
        || hub.operator.log(),
    );
    assert_eq!(
        done["spec"]["approvals"].as_array().unwrap().len(),
        1,
        "{done:#}"
    );
    assert_eq!(done["status"]["approval"]["how"], "slack");
    hub.wait_slack("/api/chat.update", "Approved by <@U0ALLOWED1>")
        .await;
    // Without a signing secret there is no HTTP endpoint.
    assert_eq!(hub.operator.get("/slack/interactions").await.0, 404);
    let log = hub.operator.log();
    assert!(
        !log.contains(APP_TOKEN) && !log.contains("one-time-ticket"),
        "a secret in the log"
    );
}
