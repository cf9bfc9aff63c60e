//! Teams: Adaptive Card structure, splitting, and delivery.

mod support;

use std::time::Duration;

use ml_operator_notify::groups::groups;
use ml_operator_notify::teams::{self, SPLIT_BYTES};
use ml_operator_notify::{
    ErrorKind, Event, Notification, Notifier, Secret, TeamsNotifier, TeamsOptions,
};
use serde_json::Value;
use support::*;

fn opts() -> TeamsOptions {
    TeamsOptions {
        include_commands: true,
        part_interval: Duration::ZERO,
    }
}

/// Checks the envelope and returns the card body.
fn card_body(m: &Value) -> &Vec<Value> {
    assert_eq!(m["type"], "message");
    let attachments = m["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    let a = &attachments[0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(a["contentUrl"].is_null());
    let c = &a["content"];
    assert_eq!(
        c["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(c["type"], "AdaptiveCard");
    assert_eq!(c["version"], "1.4");
    let body = c["body"].as_array().unwrap();
    for element in body {
        let t = element["type"].as_str().unwrap();
        assert!(["TextBlock", "FactSet"].contains(&t), "{t}");
        if t == "TextBlock" {
            assert!(element["text"].is_string());
        } else {
            for f in element["facts"].as_array().unwrap() {
                assert!(f["title"].is_string() && f["value"].is_string());
            }
        }
    }
    body
}

#[test]
fn card_structure_for_a_small_report() {
    let previous = vec![two_updates()[0].clone()];
    let n = Notification::diff(
        Event::Changed,
        Some("hub-eu".into()),
        &previous,
        &two_updates(),
        vec!["mojaloop/x: timeout".into()],
    );
    let messages = teams::render(&n, &opts());
    assert_eq!(messages.len(), 1);
    let body = card_body(&messages[0]);
    assert_eq!(
        body[0]["text"],
        "ml-operator: 2 updates available on hub-eu"
    );
    assert_eq!(body[0]["weight"], "Bolder");
    // One section per group: its summary, a fact per workload, its commands.
    let summaries: Vec<&str> = body
        .iter()
        .filter(|e| e["spacing"] == "Medium")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "mojaloop/account-lookup-service v10.3.0 → v10.3.4: 1 workload in pisp-lab",
            "mojaloop/central-ledger v13.14.0 → v13.16.1: 1 workload in pisp-lab (new)"
        ]
    );
    let fact_sets: Vec<&Value> = body.iter().filter(|e| e["type"] == "FactSet").collect();
    assert_eq!(fact_sets.len(), 2);
    let facts = fact_sets[1]["facts"].as_array().unwrap();
    assert_eq!(facts[0]["title"], "Deployment central-ledger");
    assert_eq!(facts[0]["value"], "central-ledger");
    let mono: Vec<&str> = body
        .iter()
        .filter(|e| e["fontType"] == "Monospace")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(mono.len(), 2);
    assert!(
        mono.iter()
            .all(|c| c.starts_with("kubectl patch deployment "))
    );
    let warning = body.iter().find(|e| e["color"] == "Warning").unwrap();
    assert!(
        warning["text"]
            .as_str()
            .unwrap()
            .contains("mojaloop/x: timeout")
    );
    assert_eq!(
        body.last().unwrap()["text"],
        "2 pending · 1 new · 0 resolved · 1 could not be checked"
    );
}

#[test]
fn no_commands_when_disabled_and_up_to_date_card() {
    let n = notification(&two_updates(), vec![]);
    let m = teams::render(
        &n,
        &TeamsOptions {
            include_commands: false,
            ..opts()
        },
    );
    assert!(card_body(&m[0]).iter().all(|e| e["fontType"].is_null()));
    let n = Notification::diff(Event::Reminder, None, &two_updates(), &[], vec![]);
    let m = teams::render(&n, &opts());
    let body = card_body(&m[0]);
    assert_eq!(
        body[0]["text"],
        "ml-operator: all monitored services are up to date"
    );
    assert!(
        body.iter()
            .any(|e| e["text"] == "Resolved since the last notification (2)")
    );
}

#[test]
fn a_300_update_report_is_split_under_the_size_limit() {
    let n = notification(&many_updates(300), vec![]);
    let messages = teams::render(&n, &opts());
    assert!(messages.len() > 1);
    let total = messages.len();
    let mut names = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        assert!(serde_json::to_vec(m).unwrap().len() <= SPLIT_BYTES);
        let body = card_body(m);
        assert!(
            body[0]["text"]
                .as_str()
                .unwrap()
                .ends_with(&format!("(part {}/{total})", i + 1))
        );
        for f in body
            .iter()
            .filter(|e| e["type"] == "FactSet")
            .flat_map(|e| e["facts"].as_array().unwrap())
        {
            names.push(
                f["title"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let expected: Vec<String> = groups(&n.updates, &n.added)
        .into_iter()
        .flat_map(|g| g.workloads.into_iter().map(|w| w.name))
        .collect();
    assert_eq!(names, expected, "every workload once, group by group");
}

#[tokio::test]
async fn delivers_to_a_workflows_url_answering_202() {
    let rx = Receiver::start(vec![Reply::Status(202, "")]).await;
    let url =
        rx.url("/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIGSECRET");
    let notifier = TeamsNotifier::new(Secret::new(url), opts(), fast_retry())
        .unwrap()
        .with_name("teams-ops");
    assert_eq!(notifier.name(), "teams-ops");
    let n = notification(&two_updates(), vec![]);
    let d = notifier.notify(&n).await.unwrap();
    assert_eq!((d.requests, d.messages), (1, 1));
    let reqs = rx.requests();
    assert!(reqs[0].path.ends_with("sig=SIGSECRET"));
    assert_eq!(reqs[0].json(), teams::render(&n, &opts())[0]);
}

#[tokio::test]
async fn a_legacy_connector_failure_body_is_refused() {
    let rx = Receiver::start(vec![Reply::Status(
        200,
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413",
    )])
    .await;
    let notifier =
        TeamsNotifier::new(Secret::new(rx.url("/webhookb2/x")), opts(), fast_retry()).unwrap();
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("HTTP error 413"), "{err}");
    assert_eq!(rx.requests().len(), 1);
}
