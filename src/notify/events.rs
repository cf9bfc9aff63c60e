//! Kubernetes Events on each workload with a new update, so `kubectl describe` and cluster
//! event pipelines show it too.
//!
//! In: a [`Notification`] (its `added` updates and its supply-chain alerts). Out: one
//! `UpdateAvailable` Event per workload, and one `Warning` Event (`TagOverwritten`,
//! `TagMissing`) per alert, through the API server, or a [`PublishError`] naming the workload.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use ml_operator_notify::{AlertKind, Notification};

use crate::inventory::WorkloadKind;

/// An Event the API server did not take; names the workload it was about.
#[derive(Debug, thiserror::Error)]
#[error("event on {kind} {namespace}/{name}: {source}")]
pub struct PublishError {
    kind: String,
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// Publishes `UpdateAvailable` Events (events.k8s.io/v1) for the updates a notification adds.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
}

impl EventRecorder {
    /// A recorder reporting as `ml-operator` from `instance` (the pod name).
    pub fn new(client: Client, instance: &str) -> EventRecorder {
        let reporter = Reporter {
            controller: "ml-operator".into(),
            instance: Some(instance.into()),
        };
        EventRecorder {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// One Event per workload with added updates (the API server folds repeated Events on one
    /// object into a series, so each workload's containers share one note). Returns how many
    /// Events were published.
    pub async fn publish(&self, notification: &Notification) -> Result<usize, PublishError> {
        let mut by_workload: BTreeMap<(&str, &str, &str), Vec<String>> = BTreeMap::new();
        for update in &notification.added {
            let container = if update.init_container {
                format!("{} (init)", update.container)
            } else {
                update.container.clone()
            };
            by_workload
                .entry((&update.kind, &update.namespace, &update.name))
                .or_default()
                .push(format!(
                    "{container}: {} -> {} ({})",
                    update.current_tag, update.latest_tag, update.strategy
                ));
        }
        for alert in &notification.alerts {
            let reason = match alert.alert {
                AlertKind::TagOverwritten => "TagOverwritten",
                AlertKind::TagMissing => "TagMissing",
            };
            let mut note = format!("container {}: {}", alert.container, alert.message);
            if let (Some(running), Some(registry)) = (&alert.running_digest, &alert.registry_digest)
            {
                note.push_str(&format!(" (running {running}, registry {registry})"));
            }
            let event = Event {
                type_: EventType::Warning,
                reason: reason.into(),
                note: Some(truncate(&note)),
                action: "Scan".into(),
                secondary: None,
            };
            self.recorder
                .publish(
                    &event,
                    &reference(&alert.kind, &alert.namespace, &alert.name),
                )
                .await
                .map_err(|source| PublishError {
                    kind: alert.kind.clone(),
                    namespace: alert.namespace.clone(),
                    name: alert.name.clone(),
                    source,
                })?;
        }
        for ((kind, namespace, name), changes) in &by_workload {
            let reference = reference(kind, namespace, name);
            let event = Event {
                type_: EventType::Normal,
                reason: "UpdateAvailable".into(),
                note: Some(truncate(&format!(
                    "newer images allowed: {}",
                    changes.join("; ")
                ))),
                action: "Scan".into(),
                secondary: None,
            };
            self.recorder
                .publish(&event, &reference)
                .await
                .map_err(|source| PublishError {
                    kind: kind.to_string(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    source,
                })?;
        }
        Ok(by_workload.len() + notification.alerts.len())
    }
}

/// The object an Event is about.
fn reference(kind: &str, namespace: &str, name: &str) -> ObjectReference {
    let api_version = WorkloadKind::from_kind(kind)
        .map_or_else(|| "apps/v1".to_string(), WorkloadKind::api_version);
    ObjectReference {
        api_version: Some(api_version),
        kind: Some(kind.to_string()),
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    }
}

/// An Event's note may hold at most 1 kB.
fn truncate(note: &str) -> String {
    const LIMIT: usize = 1024;
    if note.len() <= LIMIT {
        return note.to_string();
    }
    let mut end = LIMIT - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}
