//! Telling people what happened to an upgrade: a message through every configured notifier
//! (Slack, Teams, webhooks) and a Kubernetes Event on the workload.
//!
//! In: an ImageUpgrade, what happened to it ([`UpgradeEvent`]) and a message. Out: an
//! [`UpgradeNotice`] to each notifier and an Event; delivery failures are logged, never returned.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use ml_operator_notify::{Notifier, UpgradeEvent, UpgradeNotice};

use super::crd::{API_VERSION, ImageUpgrade};
use crate::inventory::WorkloadKind;

/// Where upgrade news goes.
#[derive(Clone, Default)]
pub struct Announcer {
    notifiers: Vec<Arc<dyn Notifier>>,
    events: Option<Recorder>,
    cluster: Option<String>,
}

impl Announcer {
    /// Sends through `notifiers`, and records Events when `client` is given (as `instance`).
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>, client: Option<(Client, String)>) -> Announcer {
        let events = client.map(|(client, instance)| {
            Recorder::new(
                client,
                Reporter {
                    controller: "ml-operator".into(),
                    instance: Some(instance),
                },
            )
        });
        Announcer {
            notifiers,
            events,
            cluster: None,
        }
    }

    /// The commands that approve `upgrade`, as messages and status show them, each word
    /// quoted for a POSIX shell ([`crate::inventory::shell::join`]).
    pub fn approve_commands(upgrade: &ImageUpgrade) -> Vec<String> {
        let (name, namespace) = (upgrade.name(), upgrade.namespace_or_default());
        vec![
            crate::inventory::shell::join(["ml-operator", "approve", &name, "-n", &namespace]),
            crate::inventory::shell::join([
                "kubectl",
                "patch",
                "imageupgrade",
                &name,
                "-n",
                &namespace,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"approved":true}}"#,
            ]),
        ]
    }

    /// The notice for `upgrade`.
    pub fn notice(
        &self,
        upgrade: &ImageUpgrade,
        event: UpgradeEvent,
        message: &str,
    ) -> UpgradeNotice {
        UpgradeNotice {
            event,
            cluster: self.cluster.clone(),
            upgrade: upgrade.name(),
            namespace: upgrade.namespace_or_default(),
            kind: upgrade.spec.target.kind.clone(),
            name: upgrade.spec.target.name.clone(),
            container: upgrade.spec.target.container.clone(),
            from_image: upgrade.spec.current_image.clone(),
            to_image: upgrade.spec.target_image.clone(),
            message: message.to_string(),
            approve_commands: if event == UpgradeEvent::Proposed {
                Announcer::approve_commands(upgrade)
            } else {
                vec![]
            },
        }
    }

    /// Sends the news everywhere. Delivery failures are logged, not returned: a lost message
    /// must not stop an upgrade (or a rollback).
    pub async fn announce(&self, upgrade: &ImageUpgrade, event: UpgradeEvent, message: &str) {
        let notice = self.notice(upgrade, event, message);
        tracing::info!("{}: {}", upgrade.name(), notice.headline());
        for notifier in &self.notifiers {
            if let Err(e) = notifier.notify_upgrade(&notice).await {
                tracing::error!(
                    "notifying {} of {} for {}: {e}",
                    notifier.name(),
                    event.as_str(),
                    upgrade.name()
                );
            }
        }
        if let Some(recorder) = &self.events {
            let (type_, reason) = match event {
                UpgradeEvent::Proposed => (EventType::Normal, "UpgradeProposed"),
                UpgradeEvent::Succeeded => (EventType::Normal, "UpgradeSucceeded"),
                UpgradeEvent::RolledBack => (EventType::Warning, "UpgradeRolledBack"),
                UpgradeEvent::Failed => (EventType::Warning, "UpgradeFailed"),
            };
            let reference = ObjectReference {
                api_version: WorkloadKind::from_kind(&notice.kind).map(WorkloadKind::api_version),
                kind: Some(notice.kind.clone()),
                name: Some(notice.name.clone()),
                namespace: Some(notice.namespace.clone()),
                ..ObjectReference::default()
            };
            let secondary = ObjectReference {
                api_version: Some(API_VERSION.into()),
                kind: Some("ImageUpgrade".into()),
                name: Some(notice.upgrade.clone()),
                namespace: Some(notice.namespace.clone()),
                uid: upgrade.metadata.uid.clone(),
                ..ObjectReference::default()
            };
            let mut note = format!(
                "container {}: {} → {}",
                notice.container, notice.from_image, notice.to_image
            );
            if !message.is_empty() {
                note.push_str(&format!(": {message}"));
            }
            // The API caps an Event note at 1 kB.
            let note: String = note.chars().take(1000).collect();
            let event = Event {
                type_,
                reason: reason.into(),
                note: Some(note),
                action: "Upgrade".into(),
                secondary: Some(secondary),
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::error!("event {reason} on {}: {e}", upgrade.target_text());
            }
        }
    }
}
