//! Generic webhook: body, headers, HMAC signature and a delivery id stable across retries.

mod support;

use hmac::{Hmac, Mac};
use ml_operator_notify::webhook::{self, verify_signature};
use ml_operator_notify::{Event, Notification, Notifier, Secret, WebhookNotifier};
use serde_json::json;
use sha2::Sha256;
use support::*;

#[tokio::test]
async fn body_headers_and_signature() {
    let rx = Receiver::start(vec![]).await;
    let key = "hmac-test-key";
    let notifier = WebhookNotifier::new(
        Secret::new(rx.url("/hooks/ml")),
        Some(Secret::new(key)),
        fast_retry(),
    )
    .unwrap();
    let previous = vec![update("dev", "old", "mojaloop/old", "v1.0.0", "v1.0.1")];
    let n = Notification::diff(
        Event::Reminder,
        Some("hub".into()),
        &previous,
        &two_updates(),
        vec!["mojaloop/x: timeout".into()],
    );
    notifier.notify(&n).await.unwrap();

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("x-ml-operator-event").as_deref(), Some("reminder"));
    let id = r.header("x-ml-operator-delivery").unwrap();
    assert_eq!(id.len(), 36);

    // Recompute the HMAC over the exact received bytes.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-ml-operator-signature-256").unwrap(), expected);
    assert!(verify_signature(key.as_bytes(), &r.body, &expected));
    assert!(!verify_signature(b"wrong", &r.body, &expected));

    let body = r.json();
    assert_eq!(body["schemaVersion"], 1);
    assert_eq!(body["event"], "reminder");
    assert_eq!(body["cluster"], "hub");
    assert_eq!(body["updates"].as_array().unwrap().len(), 2);
    assert_eq!(body["added"].as_array().unwrap().len(), 2);
    assert_eq!(body["resolved"][0]["name"], "old");
    assert_eq!(body["failures"], json!(["mojaloop/x: timeout"]));
    let u = &body["updates"][1];
    for field in [
        "namespace",
        "kind",
        "name",
        "container",
        "initContainer",
        "image",
        "repository",
        "currentTag",
        "latestTag",
        "latestImage",
        "strategy",
        "reason",
        "command",
        "helmRelease",
    ] {
        assert!(u.get(field).is_some(), "missing {field}");
    }
    assert_eq!(u["latestTag"], "v13.16.1");
    assert_eq!(r.body.as_ref(), webhook::body(&n).unwrap().as_slice());
}

#[tokio::test]
async fn unsigned_without_a_key_and_ids_differ_per_notification() {
    let rx = Receiver::start(vec![]).await;
    let notifier = WebhookNotifier::new(Secret::new(rx.url("/h")), None, fast_retry()).unwrap();
    let n = notification(&two_updates(), vec![]);
    notifier.notify(&n).await.unwrap();
    notifier.notify(&n).await.unwrap();
    let reqs = rx.requests();
    assert!(reqs[0].header("x-ml-operator-signature-256").is_none());
    assert_eq!(
        reqs[0].header("x-ml-operator-event").as_deref(),
        Some("changed")
    );
    assert_ne!(
        reqs[0].header("x-ml-operator-delivery"),
        reqs[1].header("x-ml-operator-delivery")
    );
}

#[tokio::test]
async fn delivery_id_and_signature_are_stable_across_retries() {
    let rx = Receiver::start(vec![Reply::Status(503, "busy"), Reply::Status(502, "")]).await;
    let notifier = WebhookNotifier::new(
        Secret::new(rx.url("/h")),
        Some(Secret::new("k")),
        fast_retry(),
    )
    .unwrap();
    let d = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap();
    assert_eq!(d.requests, 3);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs[1..] {
        assert_eq!(
            r.header("x-ml-operator-delivery"),
            reqs[0].header("x-ml-operator-delivery")
        );
        assert_eq!(
            r.header("x-ml-operator-signature-256"),
            reqs[0].header("x-ml-operator-signature-256")
        );
        assert_eq!(r.body, reqs[0].body);
    }
}

#[test]
fn empty_signing_key_is_a_configuration_error() {
    let err = WebhookNotifier::new(
        Secret::new("http://127.0.0.1:9/h"),
        Some(Secret::new("")),
        fast_retry(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("signing key is empty"), "{err}");
}
