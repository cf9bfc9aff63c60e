//! A scan's updates grouped the way ml-operator proposes upgrades: one [`UpdateGroup`] per
//! (namespace, repository, latest tag) — "mojaloop/central-ledger v19.8.3 → v19.8.9: 8
//! workloads in mojaloop" — with each workload's containers and its one `kubectl patch`.
//! Every channel shows a scan this way: a Slack section, a Teams card section and a webhook
//! `groups` entry per group.
//!
//! In: the updates (and which are new). Out: the groups, sorted by namespace, repository and
//! tag; workloads in update order. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::Update;

/// The updates of one repository moving to one tag in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroup {
    /// The namespace.
    pub namespace: String,
    /// The repository, e.g. `mojaloop/central-ledger`.
    pub repository: String,
    /// The current tags, in order of first appearance (one, usually).
    pub current_tags: Vec<String>,
    /// The tag they move to.
    pub latest_tag: String,
    /// `mojaloop/central-ledger v19.8.3 → v19.8.9: 8 workloads in mojaloop`.
    pub summary: String,
    /// Whether any of its updates is new since the last notification.
    pub new: bool,
    /// The workloads, each with its containers on the repository and its command.
    pub workloads: Vec<GroupWorkload>,
    /// The strategy and reason of its first update, e.g. `bugfix`, `v19.8.9 is the newest v19.8.x`.
    pub strategy: String,
    /// Why this tag, as the scan explained it (the first update's reason).
    pub reason: String,
}

/// One workload of an [`UpdateGroup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupWorkload {
    /// Workload kind, e.g. `Deployment`.
    pub kind: String,
    /// Workload name.
    pub name: String,
    /// Its containers on the repository (init containers marked).
    pub containers: Vec<GroupContainer>,
    /// Helm release owning the workload, when known.
    pub helm_release: Option<String>,
    /// Where its change has to be made instead of a kubectl patch (GitOps), in words.
    pub in_git: Option<String>,
    /// Its one `kubectl patch` (which also changes its other updated containers, such as a
    /// sidecar on another repository), when one can be written.
    pub command: Option<String>,
}

/// One container of a [`GroupWorkload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupContainer {
    /// Container name.
    pub name: String,
    /// Whether it is an init container.
    pub init_container: bool,
}

/// The groups of `updates`; a group is `new` when one of its updates is in `added`.
pub fn groups(updates: &[Update], added: &[Update]) -> Vec<UpdateGroup> {
    let mut by_key: BTreeMap<(&str, &str, &str), Vec<&Update>> = BTreeMap::new();
    for u in updates {
        by_key
            .entry((&u.namespace, &u.repository, &u.latest_tag))
            .or_default()
            .push(u);
    }
    by_key
        .into_iter()
        .map(|((namespace, repository, latest_tag), updates)| {
            let mut current_tags: Vec<String> = Vec::new();
            let mut workloads: Vec<GroupWorkload> = Vec::new();
            for u in &updates {
                if !current_tags.contains(&u.current_tag) {
                    current_tags.push(u.current_tag.clone());
                }
                let container = GroupContainer {
                    name: u.container.clone(),
                    init_container: u.init_container,
                };
                match workloads
                    .iter_mut()
                    .find(|w| w.kind == u.kind && w.name == u.name)
                {
                    Some(w) => {
                        w.containers.push(container);
                        if w.command.is_none() {
                            w.command = u.command.clone();
                        }
                    }
                    None => workloads.push(GroupWorkload {
                        kind: u.kind.clone(),
                        name: u.name.clone(),
                        containers: vec![container],
                        helm_release: u.helm_release.clone(),
                        in_git: u.in_git.clone(),
                        command: u.command.clone(),
                    }),
                }
            }
            let count = workloads.len();
            let summary = format!(
                "{repository} {} → {latest_tag}: {count} {} in {namespace}",
                current_tags.join(", "),
                if count == 1 { "workload" } else { "workloads" }
            );
            UpdateGroup {
                namespace: namespace.to_string(),
                repository: repository.to_string(),
                current_tags,
                latest_tag: latest_tag.to_string(),
                summary,
                new: updates.iter().any(|u| added.contains(u)),
                workloads,
                strategy: updates[0].strategy.clone(),
                reason: updates[0].reason.clone(),
            }
        })
        .collect()
}

impl UpdateGroup {
    /// The distinct commands of its workloads, in order.
    pub fn commands(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for command in self.workloads.iter().filter_map(|w| w.command.as_deref()) {
            if !out.contains(&command) {
                out.push(command);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, container: &str, init: bool, current: &str, repository: &str) -> Update {
        Update {
            namespace: "mojaloop".into(),
            kind: "Deployment".into(),
            name: name.into(),
            container: container.into(),
            init_container: init,
            image: format!("{repository}:{current}"),
            repository: repository.into(),
            current_tag: current.into(),
            latest_tag: "v19.8.9".into(),
            latest_image: format!("{repository}:v19.8.9"),
            strategy: "bugfix".into(),
            reason: "newest v19.8.x".into(),
            command: Some(format!("kubectl patch deployment {name}")),
            helm_release: None,
            in_git: None,
        }
    }

    #[test]
    fn one_group_per_namespace_repository_and_tag() {
        let ledger = "mojaloop/central-ledger";
        let updates = vec![
            update("a", "app", false, "v19.8.3", ledger),
            update("a", "run-migration", true, "v19.8.3", ledger),
            update("b", "app", false, "v19.8.5", ledger),
            update("b", "sidecar", false, "v19.8.3", "mojaloop/event-sidecar"),
        ];
        let groups = groups(&updates, &updates[2..3]);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].summary,
            "mojaloop/central-ledger v19.8.3, v19.8.5 → v19.8.9: 2 workloads in mojaloop"
        );
        assert!(groups[0].new && !groups[1].new);
        assert_eq!(groups[0].workloads[0].containers.len(), 2);
        assert!(groups[0].workloads[0].containers[1].init_container);
        assert_eq!(
            groups[0].commands(),
            ["kubectl patch deployment a", "kubectl patch deployment b"]
        );
        assert_eq!(
            groups[1].summary,
            "mojaloop/event-sidecar v19.8.3 → v19.8.9: 1 workload in mojaloop"
        );
    }
}
