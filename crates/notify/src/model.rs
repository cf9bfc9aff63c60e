//! The input model of a scan's news, what every channel renders: a [`Notification`] (the
//! pending [`Update`]s and what changed since the last one). Plain data; it knows nothing of
//! the channels. Upgrade news is [`crate::notice`]; updates grouped the way upgrades are
//! proposed, [`crate::groups`].

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
        }
    }
}
