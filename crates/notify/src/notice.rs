//! What happened to one upgrade group — an `ImageUpgrade` moving one repository to one tag
//! across a namespace: proposed and waiting for approval, succeeded, rolled back, or failed
//! ([`UpgradeNotice`]), with each workload's containers and result. Plain data; each channel
//! renders it through [`Notifier::notify_upgrade`](crate::Notifier::notify_upgrade).

use serde::{Deserialize, Serialize};

/// What happened to an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeEvent {
    /// A new upgrade waits for a person to approve it.
    Proposed,
    /// The upgrade was applied and rolled out.
    Succeeded,
    /// A rollout failed and the previous images were restored.
    RolledBack,
    /// The upgrade could not be applied (or rolled back); the message says why.
    Failed,
}

impl UpgradeEvent {
    /// The wire name, prefixed for the webhook's `X-ML-Operator-Event`: `upgrade-succeeded`, …
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeEvent::Proposed => "upgrade-proposed",
            UpgradeEvent::Succeeded => "upgrade-succeeded",
            UpgradeEvent::RolledBack => "upgrade-rolled-back",
            UpgradeEvent::Failed => "upgrade-failed",
        }
    }

    /// What the headline says happened: `succeeded`, `failed and was rolled back`, …
    pub(crate) fn verb(self) -> &'static str {
        match self {
            UpgradeEvent::Proposed => "is available and waits for approval",
            UpgradeEvent::Succeeded => "succeeded",
            UpgradeEvent::RolledBack => "failed and was rolled back",
            UpgradeEvent::Failed => "failed",
        }
    }
}

/// One upgrade group's news. The group is one `ImageUpgrade`: every workload in `namespace`
/// that runs `repository` at an older tag moving to `target_tag`, each with one patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeNotice {
    /// What happened.
    pub event: UpgradeEvent,
    /// Name of the cluster or hub, shown when set.
    pub cluster: Option<String>,
    /// The `ImageUpgrade` object's name.
    pub upgrade: String,
    /// Namespace of the workloads (and of the ImageUpgrade).
    pub namespace: String,
    /// The repository, e.g. `mojaloop/central-ledger`.
    pub repository: String,
    /// The workloads' current tags (one, usually).
    pub from_tags: Vec<String>,
    /// The tag they move to.
    pub target_tag: String,
    /// Every workload of the group, in the order they are applied.
    pub workloads: Vec<UpgradeWorkload>,
    /// Why the group was rolled back, when it was.
    pub rollback: Option<String>,
    /// Details: the outcome, the window for a proposal.
    pub message: String,
    /// Commands that approve the group (`ml-operator approve …`, `kubectl patch …`), for
    /// proposals.
    pub approve_commands: Vec<String>,
    /// For a proposal, when interactive approvals are on: the `value` of its Approve / Reject
    /// buttons in Slack (the ImageUpgrade and the exact proposal it is for). Not sent to other
    /// channels.
    #[serde(skip)]
    pub decision: Option<String>,
}

/// One workload of an [`UpgradeNotice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeWorkload {
    /// Workload kind, e.g. `Deployment`.
    pub kind: String,
    /// Workload name.
    pub name: String,
    /// Its containers the group changes (the app and its migration init container alike).
    pub containers: Vec<ContainerChange>,
    /// What became of it (`Succeeded`, `RolledBack`, `Skipped`, …); `None` before it is applied.
    pub result: Option<String>,
    /// What was said about it (why it failed or left the group).
    pub detail: Option<String>,
}

/// One container's move in an [`UpgradeWorkload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerChange {
    /// Container name.
    pub name: String,
    /// Whether it is an init container.
    pub init_container: bool,
    /// The image before.
    pub from_image: String,
    /// The image proposed.
    pub to_image: String,
}

impl UpgradeNotice {
    /// `mojaloop/central-ledger v19.8.3 → v19.8.9: 8 workloads in mojaloop`: the group.
    pub fn summary(&self) -> String {
        let count = self.workloads.len();
        format!(
            "{} {} → {}: {count} {} in {}",
            self.repository,
            self.from_tags.join(", "),
            self.target_tag,
            if count == 1 { "workload" } else { "workloads" },
            self.namespace
        )
    }

    /// The one-line summary in plain text (the Teams card's title; the operator logs it too):
    /// `upgrade mojaloop/central-ledger v19.8.3 → v19.8.9: 8 workloads in mojaloop succeeded`.
    pub fn headline(&self) -> String {
        let mut line = format!("upgrade {} {}", self.summary(), self.event.verb());
        if let Some(cluster) = &self.cluster {
            line.push_str(&format!(" on {cluster}"));
        }
        line
    }

    /// One line per workload: `Deployment ledger (app, run-migration init): Succeeded`.
    pub fn workload_lines(&self) -> Vec<String> {
        self.workloads
            .iter()
            .map(|w| {
                let containers: Vec<String> = w
                    .containers
                    .iter()
                    .map(|c| {
                        if c.init_container {
                            format!("{} init", c.name)
                        } else {
                            c.name.clone()
                        }
                    })
                    .collect();
                let mut line = format!("{} {} ({})", w.kind, w.name, containers.join(", "));
                if let Some(result) = &w.result {
                    line.push_str(&format!(": {result}"));
                }
                if let Some(detail) = &w.detail {
                    line.push_str(&format!(" — {detail}"));
                }
                line
            })
            .collect()
    }
}

#[cfg(test)]
impl UpgradeNotice {
    /// A notice about the central-ledger group in `hub`, for the channels' tests.
    pub(crate) fn example(event: UpgradeEvent) -> UpgradeNotice {
        let change = |name: &str, init| ContainerChange {
            name: name.into(),
            init_container: init,
            from_image: "mojaloop/central-ledger:v19.8.3".into(),
            to_image: "mojaloop/central-ledger:v19.8.9".into(),
        };
        let result = (event != UpgradeEvent::Proposed).then(|| "Succeeded".to_string());
        UpgradeNotice {
            event,
            cluster: None,
            upgrade: "central-ledger-v19.8.9".into(),
            namespace: "hub".into(),
            repository: "mojaloop/central-ledger".into(),
            from_tags: vec!["v19.8.3".into()],
            target_tag: "v19.8.9".into(),
            workloads: vec![
                UpgradeWorkload {
                    kind: "Deployment".into(),
                    name: "central-ledger".into(),
                    containers: vec![
                        change("central-ledger", false),
                        change("run-migration", true),
                    ],
                    result: result.clone(),
                    detail: None,
                },
                UpgradeWorkload {
                    kind: "Deployment".into(),
                    name: "central-ledger-handler".into(),
                    containers: vec![change("handler", false)],
                    result,
                    detail: None,
                },
            ],
            rollback: None,
            decision: None,
            message: String::new(),
            approve_commands: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_says_what_moves_where() {
        let n = UpgradeNotice::example(UpgradeEvent::Succeeded);
        assert_eq!(
            n.headline(),
            "upgrade mojaloop/central-ledger v19.8.3 → v19.8.9: 2 workloads in hub succeeded"
        );
        assert_eq!(
            n.workload_lines()[0],
            "Deployment central-ledger (central-ledger, run-migration init): Succeeded"
        );
    }
}
