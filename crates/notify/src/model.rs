//! The input model of a scan's news, what every channel renders: a [`Notification`] (the
//! pending [`Update`]s and what changed since the last one, and new supply-chain [`Alert`]s).
//! Plain data; it knows nothing of the channels. Upgrade news is [`crate::notice`]; updates
//! grouped the way upgrades are proposed, [`crate::groups`].

use serde::{Deserialize, Serialize};

/// One container with an upgrade available.
///
/// The fields mirror a finding of `ml-operator check -o json`, so a notification can be read
/// next to a scan report. Sorting is by namespace, kind, name, container, then the rest, which
/// is the order every notifier lists updates in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    /// Namespace of the workload, e.g. `mojaloop`.
    pub namespace: String,
    /// Workload kind as Kubernetes spells it, e.g. `Deployment`.
    pub kind: String,
    /// Workload name.
    pub name: String,
    /// Container name inside the pod template.
    pub container: String,
    /// Whether the container is an init container.
    pub init_container: bool,
    /// The image reference as written in the workload.
    pub image: String,
    /// Repository without registry for Docker Hub, e.g. `mojaloop/central-ledger`.
    pub repository: String,
    /// Tag currently deployed.
    pub current_tag: String,
    /// Newest tag allowed by the strategy.
    pub latest_tag: String,
    /// Full image reference with the newest tag.
    pub latest_image: String,
    /// Upgrade strategy that chose `latest_tag` (`patch`, `bugfix`, `minor`, ...).
    pub strategy: String,
    /// Human readable reason for the choice.
    pub reason: String,
    /// `kubectl patch` command that applies the update, when one can be written.
    pub command: Option<String>,
    /// Helm release owning the workload, when known.
    pub helm_release: Option<String>,
    /// Where the change has to be made when a kubectl patch would be reverted (a workload an
    /// Argo CD or Flux sync manages), in words: `managed by Argo CD application "mojaloop"
    /// (selfHeal): a kubectl patch is reverted — change … in git`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_git: Option<String>,
}

/// What is wrong with a running tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// The registry serves other content for the tag than the nodes pulled: it was re-pushed.
    TagOverwritten,
    /// The tag is gone from the registry: rescheduling and rollback to it will fail.
    TagMissing,
}

impl AlertKind {
    /// The wire name: `tag-overwritten` or `tag-missing` (the finding's status).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::TagOverwritten => "tag-overwritten",
            AlertKind::TagMissing => "tag-missing",
        }
    }
}

/// A running container whose tag can no longer be trusted or pulled: a supply-chain alert.
///
/// Told once, when it first appears (and again with reminders), on every channel. The fields
/// mirror a `tag-overwritten` or `tag-missing` finding of `ml-operator check -o json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Namespace of the workload.
    pub namespace: String,
    /// Workload kind, e.g. `Deployment`.
    pub kind: String,
    /// Workload name.
    pub name: String,
    /// Container name.
    pub container: String,
    /// Whether the container is an init container.
    pub init_container: bool,
    /// What is wrong.
    pub alert: AlertKind,
    /// The image as written in the workload.
    pub image: String,
    /// The running tag.
    pub current_tag: String,
    /// The digest the nodes pulled (or the image's pin), when known.
    pub running_digest: Option<String>,
    /// The digest the registry serves for the tag now, when it has one.
    pub registry_digest: Option<String>,
    /// One line saying what happened and what follows.
    pub message: String,
}

impl Alert {
    /// `tag-overwritten: Deployment hub/central-ledger (container central-ledger) runs
    /// mojaloop/central-ledger:v13.14.0 — MESSAGE`.
    pub fn headline(&self) -> String {
        format!(
            "{}: {} {}/{} (container {}) runs {} — {}",
            self.alert.as_str(),
            self.kind,
            self.namespace,
            self.name,
            self.container,
            self.image,
            self.message
        )
    }
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// The set of pending updates (or failures) changed since the last notification.
    Changed,
    /// Nothing changed, but the reminder interval elapsed.
    Reminder,
}

impl Event {
    /// The wire name: `changed` or `reminder` (used in the webhook's `X-ML-Operator-Event`).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Changed => "changed",
            Event::Reminder => "reminder",
        }
    }
}

/// What to tell: the whole current set of pending updates, and what changed since the last
/// notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Why this notification is sent.
    pub event: Event,
    /// Name of the cluster or hub, shown in messages when set.
    pub cluster: Option<String>,
    /// All updates pending now, sorted.
    pub updates: Vec<Update>,
    /// Updates that are new since the last notification.
    pub added: Vec<Update>,
    /// Updates that are no longer pending: upgraded or gone.
    pub resolved: Vec<Update>,
    /// Images that could not be checked this scan, e.g. `mojaloop/x: registry timeout`.
    pub failures: Vec<String>,
    /// Supply-chain alerts new since the last notification (with a reminder: all that still
    /// stand), sorted. Each channel renders them in their own message or section.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Alerts that no longer stand (the workload moved to another tag, the tag is back).
    #[serde(default)]
    pub resolved_alerts: Vec<Alert>,
}

impl Notification {
    /// Builds a notification from the previously notified set and the current one: `updates`
    /// is `current` sorted and deduplicated, `added` what `previous` lacked, `resolved` what
    /// `current` lacks. Keeps the bookkeeping in one place so every caller agrees on "new".
    pub fn diff(
        event: Event,
        cluster: Option<String>,
        previous: &[Update],
        current: &[Update],
        failures: Vec<String>,
    ) -> Notification {
        let mut updates = current.to_vec();
        updates.sort();
        updates.dedup();
        let mut before = previous.to_vec();
        before.sort();
        before.dedup();
        let added = updates
            .iter()
            .filter(|u| before.binary_search(u).is_err())
            .cloned()
            .collect();
        let resolved = before
            .iter()
            .filter(|u| updates.binary_search(u).is_err())
            .cloned()
            .collect();
        Notification {
            event,
            cluster,
            updates,
            added,
            resolved,
            failures,
            alerts: Vec::new(),
            resolved_alerts: Vec::new(),
        }
    }

    /// The same notification with supply-chain alerts: `alerts` (what to tell now) and
    /// `resolved` (what no longer stands), each sorted and deduplicated.
    pub fn with_alerts(mut self, mut alerts: Vec<Alert>, mut resolved: Vec<Alert>) -> Self {
        alerts.sort();
        alerts.dedup();
        resolved.sort();
        resolved.dedup();
        self.alerts = alerts;
        self.resolved_alerts = resolved;
        self
    }
}

#[cfg(test)]
impl Alert {
    /// An overwritten-tag alert about `central-ledger` in `hub`, for the channels' tests.
    pub(crate) fn example() -> Alert {
        Alert {
            namespace: "hub".into(),
            kind: "Deployment".into(),
            name: "central-ledger".into(),
            container: "central-ledger".into(),
            init_container: false,
            alert: AlertKind::TagOverwritten,
            image: "mojaloop/central-ledger:v13.14.0".into(),
            current_tag: "v13.14.0".into(),
            running_digest: Some(format!("sha256:{}", "a".repeat(64))),
            registry_digest: Some(format!("sha256:{}", "b".repeat(64))),
            message: "the tag v13.14.0 was overwritten".into(),
        }
    }
}
