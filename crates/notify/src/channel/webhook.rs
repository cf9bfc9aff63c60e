//! A generic JSON webhook, signed with HMAC-SHA256 the way GitHub signs its webhooks: a scan's
//! [`Notification`] as [`body`], an [`UpgradeNotice`] as [`upgrade_body`], both POSTed by the
//! [`WebhookNotifier`]; [`verify_signature`] for receivers written in Rust.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

use futures::future::BoxFuture;
use ml_operator_retry::RetryPolicy;

use crate::error::NotifyError;
use crate::groups::{UpdateGroup, groups};
use crate::model::Notification;
use crate::notice::UpgradeNotice;
use crate::notifier::{Delivery, Notifier};
use crate::secret::Secret;
use crate::stats::NotifierStats;
use crate::transport::{Transport, accept_any, headers};

/// The `schemaVersion` of the webhook body.
pub const SCHEMA_VERSION: u32 = 1;
/// Header naming the event: `changed` or `reminder`.
pub const EVENT_HEADER: &str = "x-ml-operator-event";
/// Header with a unique id per notification, the same across retries (for de-duplication).
pub const DELIVERY_HEADER: &str = "x-ml-operator-delivery";
/// Header with `sha256=<hex HMAC-SHA256 of the body>`, when a signing key is set.
pub const SIGNATURE_HEADER: &str = "x-ml-operator-signature-256";

/// POSTs each [`Notification`] as JSON to any HTTP endpoint, optionally signed.
pub struct WebhookNotifier {
    transport: Transport,
    signing_key: Option<Secret>,
}

impl WebhookNotifier {
    /// A notifier for `url`, signing bodies with `signing_key` when given. Fails when the URL
    /// is not http(s) with a host, or the key is empty.
    pub fn new(
        url: Secret,
        signing_key: Option<Secret>,
        retry: RetryPolicy,
    ) -> Result<WebhookNotifier, NotifyError> {
        let extra: Vec<&Secret> = signing_key.iter().collect();
        let transport = Transport::new("webhook", &url, retry, &extra)?;
        if signing_key.as_ref().is_some_and(|k| k.expose().is_empty()) {
            return Err(NotifyError::config(
                "webhook",
                transport.target.clone(),
                "the signing key is empty; leave it unset to send unsigned",
            ));
        }
        Ok(WebhookNotifier {
            transport,
            signing_key,
        })
    }

    /// Renames the notifier (for logs, errors and metrics).
    pub fn with_name(mut self, name: impl Into<String>) -> WebhookNotifier {
        self.transport.name = name.into();
        self
    }
}

impl WebhookNotifier {
    /// POSTs one serialized body (`what` names it in the error when serializing failed) with
    /// its event header, a fresh delivery id and, with a key, its signature.
    async fn post(
        &self,
        body: Result<Vec<u8>, serde_json::Error>,
        what: &str,
        event: &str,
    ) -> Result<Delivery, NotifyError> {
        let body = body.map_err(|e| self.transport.payload_error(what, &e))?;
        let id = delivery_id();
        let mut pairs = vec![
            (EVENT_HEADER, event.to_owned()),
            (DELIVERY_HEADER, id.clone()),
        ];
        if let Some(key) = &self.signing_key {
            pairs.push((SIGNATURE_HEADER, sign(key.expose().as_bytes(), &body)));
        }
        tracing::debug!(notifier = %self.transport.name, target = %self.transport.target, delivery = %id, "sending webhook");
        self.transport
            .deliver(vec![body], headers(&pairs), Duration::ZERO, accept_any)
            .await
    }
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("name", &self.transport.name)
            .field("target", &self.transport.target)
            .field("signed", &self.signing_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.transport.name
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(self.post(body(n), "the notification", n.event.as_str()))
    }

    fn notify_upgrade<'a>(
        &'a self,
        n: &'a UpgradeNotice,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(self.post(upgrade_body(n), "the upgrade notice", n.event.as_str()))
    }

    fn stats(&self) -> NotifierStats {
        self.transport.stats.snapshot()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    schema_version: u32,
    #[serde(flatten)]
    notification: &'a Notification,
    groups: Vec<UpdateGroup>,
}

/// The exact body bytes sent for `n`: `{"schemaVersion":1,"event":…,"cluster":…,"updates":[…],
/// "added":[…],"resolved":[…],"failures":[…],"groups":[…]}` — `updates` one per container, as
/// before; `groups` one entry per upgrade group (namespace, repository, latest tag) with its
/// workloads and their commands ([`UpdateGroup`]).
pub fn body(n: &Notification) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Body {
        schema_version: SCHEMA_VERSION,
        notification: n,
        groups: groups(&n.updates, &n.added),
    })
}

/// The exact body bytes sent for an upgrade notice: `{"schemaVersion":1,
/// "event":"upgrade-…", "upgrade":…, "namespace":…, "repository":…, "fromTags":[…],
/// "targetTag":…, "summary":…, "workloads":[{kind, name, containers, result, detail}],
/// "rollback":…, "message":…, "approveCommands":[…], "cluster":…}`.
pub fn upgrade_body(n: &UpgradeNotice) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(n)?;
    value["schemaVersion"] = json!(SCHEMA_VERSION);
    value["event"] = json!(n.event.as_str());
    value["summary"] = json!(n.summary());
    serde_json::to_vec(&value)
}

/// The signature header value for `body`: `sha256=` and the lowercase hex HMAC-SHA256.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a received `X-ML-Operator-Signature-256` value against `body`, in constant time.
/// What a Rust receiver calls; other languages do the same (see the crate docs).
///
/// ```
/// use ml_operator_notify::webhook::{sign, verify_signature};
///
/// let body = br#"{"schemaVersion":1,"event":"changed"}"#; // the raw bytes as received
/// let header = sign(b"hmac-key", body); // what the sender put in the header
/// assert!(verify_signature(b"hmac-key", body, &header));
/// assert!(!verify_signature(b"hmac-key", b"tampered", &header));
/// ```
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// A random UUID v4, the delivery id of one notification.
fn delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::notice::UpgradeEvent;

    #[test]
    fn signatures_round_trip_and_reject_tampering() {
        let sig = sign(b"key", b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_signature(b"key", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"key", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"key", b"{\"a\":1}", "sha1=00"));
        assert!(!verify_signature(b"key", b"{\"a\":1}", "sha256=zz"));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn delivery_ids_are_uuid_v4_and_unique() {
        let a = delivery_id();
        let b = delivery_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn renders_an_upgrade_notice() {
        let body: Value = serde_json::from_slice(
            &upgrade_body(&UpgradeNotice::example(UpgradeEvent::Succeeded)).unwrap(),
        )
        .unwrap();
        assert_eq!(body["event"], "upgrade-succeeded");
        assert_eq!(body["schemaVersion"], 1);
        assert_eq!(body["targetTag"], "v19.8.9");
        assert_eq!(
            body["summary"],
            "mojaloop/central-ledger v19.8.3 → v19.8.9: 2 workloads in hub"
        );
        assert_eq!(
            body["workloads"][0]["containers"][1]["toImage"],
            "mojaloop/central-ledger:v19.8.9"
        );
        assert_eq!(body["workloads"][0]["result"], "Succeeded");
    }
}
