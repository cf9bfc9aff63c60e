//! Kubernetes Events on each workload with a new update, so `kubectl describe` and cluster
//! event pipelines show it too.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use ml_operator_notify::Notification;

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

    /// One Event per added update; returns how many could not be published, with why.
    pub async fn publish(&self, notification: &Notification) -> Result<usize, String> {
        let mut published = 0;
        for update in &notification.added {
            let api_version = match update.kind.as_str() {
                "Pod" | "ReplicationController" => "v1",
                "Job" | "CronJob" => "batch/v1",
                _ => "apps/v1",
            };
            let reference = ObjectReference {
                api_version: Some(api_version.into()),
                kind: Some(update.kind.clone()),
                name: Some(update.name.clone()),
                namespace: Some(update.namespace.clone()),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Normal,
                reason: "UpdateAvailable".into(),
                note: Some(format!(
                    "container {}: {} can move to {} ({}): {}",
                    update.container, update.image, update.latest_tag, update.strategy, update.reason
                )),
                action: "Scan".into(),
                secondary: None,
            };
            self.recorder
                .publish(&event, &reference)
                .await
                .map_err(|e| format!("event on {} {}/{}: {e}", update.kind, update.namespace, update.name))?;
            published += 1;
        }
        Ok(published)
    }
}
