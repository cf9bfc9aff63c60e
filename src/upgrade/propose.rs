//! From a scan's groups to ImageUpgrade objects in the cluster: one per (namespace,
//! repository, target tag) ([`super::group`]), created when a scan first finds the move; a
//! pending group's membership kept up to date as workloads join or leave it (each change
//! recorded in its history); a pending group superseded as a whole when a newer target appears
//! for any of its containers (the approval does not carry over).
//!
//! In: a scan's [`Report`] and the ImageUpgrades already there. Out: the objects created,
//! updated, renewed and superseded ([`Proposals`]), or a [`ProposeError`] naming the object.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::crd::{HistoryEntry, ImageUpgrade, ImageUpgradeStatus, Phase, Target};
use super::group::{self, ContainerKey, GroupKey};
use super::list::{ListError, list};
use super::names;
use crate::scan::{Report, Status};

/// How the history entry of a renewed proposal starts (what [`super::ballot`] keys a
/// proposal round on).
pub const PROPOSED_AGAIN: &str = "proposed again";

/// A failure writing ImageUpgrades; names the object.
#[derive(Debug, thiserror::Error)]
#[error("{action} ImageUpgrade {namespace}/{name}: {source}")]
pub struct ProposeError {
    action: &'static str,
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

impl From<ListError> for ProposeError {
    fn from(e: ListError) -> ProposeError {
        ProposeError {
            action: "listing",
            namespace: e.namespace.unwrap_or_else(|| "*".into()),
            name: "*".into(),
            source: e.source,
        }
    }
}

/// What [`propose`] did (or would do, in a dry run), each as `namespace/name`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Proposals {
    /// The ImageUpgrades created.
    pub created: Vec<String>,
    /// Pending ones whose workloads changed (joined, left, or now on another current tag).
    pub updated: Vec<String>,
    /// Final ones (Superseded, Failed) proposed again under the same name.
    pub renewed: Vec<String>,
    /// Pending ones superseded by a newer target.
    pub superseded: Vec<String>,
}

/// One container as a group moves it: which, from what, to what.
type Move = (ContainerKey, String, String);

fn moves(targets: &[Target]) -> BTreeSet<Move> {
    targets
        .iter()
        .flat_map(|t| {
            t.containers.iter().map(|c| {
                (
                    (
                        t.kind.clone(),
                        t.name.clone(),
                        c.name.clone(),
                        c.init_container,
                    ),
                    c.current_image.clone(),
                    c.target_image.clone(),
                )
            })
        })
        .collect()
}

/// The existing object a proposal with `key` continues: one still pending or applying, else
/// the newest. v1alpha1 objects (no repository) never match.
fn same_group<'e>(existing: &'e [ImageUpgrade], key: &GroupKey) -> Option<&'e ImageUpgrade> {
    let mut same: Vec<&ImageUpgrade> = existing
        .iter()
        .filter(|u| !u.spec.targets.is_empty() && &group::key(u) == key)
        .collect();
    same.sort_by_key(|u| {
        (
            !u.phase().is_terminal(),
            u.metadata.creation_timestamp.clone(),
        )
    });
    same.pop()
}

/// What to do with one proposal.
enum Action<'e> {
    /// Create it under this name.
    Create(String),
    /// Bring this pending group's workloads up to date.
    Update(&'e ImageUpgrade),
    /// Propose it again under the name of this final one.
    Renew(&'e ImageUpgrade),
    /// Nothing: it is applying, or final and staying so.
    Keep,
}

/// Decides what a proposal becomes, given what exists and the names already claimed in this
/// round (in `namespace/name` form).
fn action<'e>(
    proposal: &ImageUpgrade,
    existing: &'e [ImageUpgrade],
    claimed: &mut BTreeSet<String>,
) -> Action<'e> {
    let key = group::key(proposal);
    let namespace = proposal.namespace_or_default();
    let taken = |name: &str, claimed: &BTreeSet<String>| {
        claimed.contains(&format!("{namespace}/{name}"))
            || existing
                .iter()
                .any(|u| u.namespace_or_default() == namespace && u.name() == name)
    };
    let plain = names::group_name(&key.1, &key.2);
    let fresh_name = |claimed: &BTreeSet<String>, unique: &str| {
        let name = proposal.name();
        if !taken(&name, claimed) {
            name
        } else {
            names::suffixed(&plain, unique)
        }
    };
    match same_group(existing, &key) {
        None => {
            let name = fresh_name(claimed, &format!("{}:{}", key.1, key.2));
            if taken(&name, claimed) {
                return Action::Keep;
            }
            claimed.insert(format!("{namespace}/{name}"));
            Action::Create(name)
        }
        Some(old) => match old.phase() {
            phase if phase.is_pending() => Action::Update(old),
            Phase::Superseded | Phase::Failed
                if moves(&old.spec.targets) != moves(&proposal.spec.targets) =>
            {
                Action::Renew(old)
            }
            Phase::Succeeded => {
                // New workloads on the old tag after the group went through (a new
                // Deployment, a restore): a follow-up group, named after what it moves.
                let done: BTreeSet<ContainerKey> =
                    moves(&old.spec.targets).into_iter().map(|m| m.0).collect();
                let new = moves(&proposal.spec.targets)
                    .into_iter()
                    .any(|m| !done.contains(&m.0));
                if !new {
                    return Action::Keep;
                }
                let unique: Vec<String> = moves(&proposal.spec.targets)
                    .iter()
                    .map(|(c, from, _)| format!("{}/{}/{}/{}={from}", c.0, c.1, c.2, c.3))
                    .collect();
                let name = names::suffixed(&plain, &unique.join(","));
                if taken(&name, claimed) {
                    return Action::Keep;
                }
                claimed.insert(format!("{namespace}/{name}"));
                Action::Create(name)
            }
            _ => Action::Keep,
        },
    }
}

/// Creates the ImageUpgrades a scan's report calls for, updates pending groups whose
/// workloads changed, and supersedes pending groups with a newer target. `namespaces` limits
/// where existing objects are listed (empty: all). With `dry_run`, only reports what it would do.
pub async fn propose(
    client: &Client,
    report: &Report,
    namespaces: &[String],
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Proposals, ProposeError> {
    let mut proposals = group::groups(report);
    let existing = list(client, namespaces).await?;
    let mut claimed = BTreeSet::new();
    let actions: Vec<Action<'_>> = proposals
        .iter()
        .map(|p| action(p, &existing, &mut claimed))
        .collect();
    for (proposal, action) in proposals.iter_mut().zip(&actions) {
        match action {
            Action::Create(name) => proposal.metadata.name = Some(name.clone()),
            Action::Update(old) | Action::Renew(old) => proposal.metadata.name = Some(old.name()),
            Action::Keep => {}
        }
    }
    // A pending group whose containers now have another target is superseded as a whole.
    let mut supersede: Vec<(&ImageUpgrade, &ImageUpgrade)> = Vec::new();
    for old in existing
        .iter()
        .filter(|u| u.phase().is_pending() && !u.spec.targets.is_empty())
    {
        let mine: BTreeSet<ContainerKey> = group::containers(old).into_iter().collect();
        let newer = proposals.iter().find(|p| {
            p.namespace_or_default() == old.namespace_or_default()
                && group::key(p) != group::key(old)
                && group::containers(p).iter().any(|c| mine.contains(c))
        });
        if let Some(newer) = newer {
            supersede.push((old, newer));
        }
    }
    let superseded = |u: &ImageUpgrade| supersede.iter().any(|(old, _)| id(old) == id(u));
    let mut done = Proposals::default();
    let writer = Writer {
        client,
        now,
        dry_run,
    };
    // The newer proposals first, so nothing is superseded by an object that was not created.
    for (proposal, action) in proposals.iter().zip(actions) {
        match action {
            Action::Create(_) => {
                if writer.create(proposal).await? {
                    done.created.push(id(proposal));
                }
            }
            Action::Update(old) if !superseded(old) => {
                if writer.update(old, proposal, report).await? {
                    done.updated.push(id(old));
                }
            }
            Action::Renew(old) => {
                if writer.renew(old, proposal).await? {
                    done.renewed.push(id(old));
                }
            }
            Action::Update(_) | Action::Keep => {}
        }
    }
    for (old, newer) in supersede {
        if writer.supersede(old, newer).await? {
            done.superseded.push(id(old));
        }
    }
    Ok(done)
}

fn id(upgrade: &ImageUpgrade) -> String {
    format!("{}/{}", upgrade.namespace_or_default(), upgrade.name())
}

/// The writes of one round of proposals.
struct Writer<'c> {
    client: &'c Client,
    now: DateTime<Utc>,
    dry_run: bool,
}

impl Writer<'_> {
    fn api(&self, upgrade: &ImageUpgrade) -> Api<ImageUpgrade> {
        Api::namespaced(self.client.clone(), &upgrade.namespace_or_default())
    }

    fn fail(upgrade: &ImageUpgrade, action: &'static str, source: kube::Error) -> ProposeError {
        ProposeError {
            action,
            namespace: upgrade.namespace_or_default(),
            name: upgrade.name(),
            source,
        }
    }

    /// Creates `proposal`; `false` when it exists already (another replica, a retry).
    async fn create(&self, proposal: &ImageUpgrade) -> Result<bool, ProposeError> {
        let params = PostParams {
            dry_run: self.dry_run,
            ..PostParams::default()
        };
        match self.api(proposal).create(&params, proposal).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(Self::fail(proposal, "creating", source)),
        }
    }

    /// Marks `old` Superseded by `newer`; `false` when it changed meanwhile (it started
    /// applying, say): the next scan looks again.
    async fn supersede(
        &self,
        old: &ImageUpgrade,
        newer: &ImageUpgrade,
    ) -> Result<bool, ProposeError> {
        if self.dry_run {
            return Ok(true);
        }
        let message = format!(
            "superseded by {} ({}); {}",
            newer.name(),
            newer.summary(),
            if old.spec.approved {
                "its approval does not carry over"
            } else {
                "approve that one instead"
            }
        );
        let mut status = old.status.clone().unwrap_or_default();
        status.phase = Some(Phase::Superseded);
        status.superseded_by = Some(newer.name());
        status.message = Some(message.clone());
        status.history.push(HistoryEntry {
            at: self.now,
            phase: Phase::Superseded,
            message,
        });
        self.write_status(old, status, "superseding").await
    }

    /// Brings pending `old` to `proposal`'s workloads, keeping containers the scan could not
    /// decide this time (their repository could not be listed, say) rather than dropping them.
    /// Each workload that joined, left or changed is recorded in the history; the approval
    /// stays (it is for the move of the repository in the namespace). `false` when nothing
    /// changed, or `old` changed meanwhile.
    async fn update(
        &self,
        old: &ImageUpgrade,
        proposal: &ImageUpgrade,
        report: &Report,
    ) -> Result<bool, ProposeError> {
        let undecided = |t: &Target, c: &super::crd::ContainerTarget| {
            report.findings.iter().any(|f| {
                f.status == Status::Unresolved
                    && f.namespace == old.namespace_or_default()
                    && f.kind == t.kind
                    && f.name == t.name
                    && f.container == c.name
                    && f.init_container == c.init_container
            })
        };
        let mut targets = proposal.spec.targets.clone();
        for target in &old.spec.targets {
            for container in target.containers.iter().filter(|c| undecided(target, c)) {
                match targets
                    .iter_mut()
                    .find(|t| t.kind == target.kind && t.name == target.name)
                {
                    Some(t)
                        if !t.containers.iter().any(|c| {
                            c.name == container.name && c.init_container == container.init_container
                        }) =>
                    {
                        t.containers.push(container.clone())
                    }
                    Some(_) => {}
                    None => targets.push(Target {
                        containers: vec![container.clone()],
                        ..target.clone()
                    }),
                }
            }
        }
        targets.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
        if moves(&targets) == moves(&old.spec.targets) {
            return Ok(false);
        }
        let changes = membership_changes(&old.spec.targets, &targets);
        if self.dry_run {
            return Ok(true);
        }
        let mut spec = proposal.spec.clone();
        spec.workload_count = targets.len();
        spec.targets = targets;
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": old.metadata.resource_version},
            "spec": {
                "targets": spec.targets, "workloadCount": spec.workload_count,
                "currentTag": spec.current_tag, "level": spec.level,
                "strategy": spec.strategy, "reason": spec.reason,
            },
        });
        let patched = match self
            .api(old)
            .patch(&old.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(patched) => patched,
            Err(kube::Error::Api(status)) if status.code == 409 => return Ok(false),
            Err(source) => return Err(Self::fail(old, "updating", source)),
        };
        let mut status = old.status.clone().unwrap_or_default();
        for message in changes {
            status.history.push(HistoryEntry {
                at: self.now,
                phase: old.phase(),
                message,
            });
        }
        self.write_status(&patched, status, "recording the workloads of")
            .await?;
        Ok(true)
    }

    /// Rewrites final `old` as the fresh `proposal` (spec reset, approval cleared), keeping its
    /// history.
    async fn renew(
        &self,
        old: &ImageUpgrade,
        proposal: &ImageUpgrade,
    ) -> Result<bool, ProposeError> {
        if self.dry_run {
            return Ok(true);
        }
        let spec = serde_json::to_value(&proposal.spec).expect("a spec serializes");
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": old.metadata.resource_version},
            "spec": spec,
        });
        let patched = match self
            .api(old)
            .patch(&old.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(patched) => patched,
            Err(kube::Error::Api(status)) if status.code == 409 => return Ok(false),
            Err(source) => return Err(Self::fail(old, "renewing", source)),
        };
        let mut history = old.status.clone().unwrap_or_default().history;
        history.push(HistoryEntry {
            at: self.now,
            phase: Phase::Available,
            message: format!("{PROPOSED_AGAIN}: {}", proposal.summary()),
        });
        let status = ImageUpgradeStatus {
            history,
            ..ImageUpgradeStatus::default()
        };
        self.write_status(&patched, status, "renewing the status of")
            .await
    }

    /// Replaces `upgrade`'s status (guarded by its resourceVersion); `false` on a conflict.
    async fn write_status(
        &self,
        upgrade: &ImageUpgrade,
        status: ImageUpgradeStatus,
        action: &'static str,
    ) -> Result<bool, ProposeError> {
        let mut object = upgrade.clone();
        object.status = Some(status);
        match self
            .api(upgrade)
            .replace_status(&upgrade.name(), &PostParams::default(), &object)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(Self::fail(upgrade, action, source)),
        }
    }
}

/// What changed between two target lists, one line per workload: joined, left, or now moving
/// from other images.
fn membership_changes(before: &[Target], after: &[Target]) -> Vec<String> {
    let images = |t: &Target| -> Vec<String> {
        t.containers
            .iter()
            .map(|c| {
                let init = if c.init_container { " (init)" } else { "" };
                format!("{}{init} {}", c.name, c.current_image)
            })
            .collect()
    };
    let find = |list: &[Target], t: &Target| -> Option<Target> {
        list.iter()
            .find(|o| o.kind == t.kind && o.name == t.name)
            .cloned()
    };
    let mut lines = Vec::new();
    for t in after {
        match find(before, t) {
            None => lines.push(format!(
                "{} {} joined the group: {}",
                t.kind,
                t.name,
                images(t).join(", ")
            )),
            Some(old) if moves(std::slice::from_ref(&old)) != moves(std::slice::from_ref(t)) => {
                lines.push(format!(
                    "{} {} changed in the group: {}",
                    t.kind,
                    t.name,
                    images(t).join(", ")
                ))
            }
            Some(_) => {}
        }
    }
    for t in before {
        if find(after, t).is_none() {
            lines.push(format!(
                "{} {} left the group: the last scan no longer finds it on an older tag that moves here",
                t.kind, t.name
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade::crd::ContainerTarget;

    fn target(name: &str, tag: &str) -> Target {
        Target {
            kind: "Deployment".into(),
            name: name.into(),
            containers: vec![ContainerTarget {
                name: "app".into(),
                init_container: false,
                current_image: format!("mojaloop/central-ledger:{tag}"),
                target_image: "mojaloop/central-ledger:v19.8.9".into(),
                values_path: None,
            }],
        }
    }

    #[test]
    fn membership_changes_name_each_workload() {
        let before = [target("a", "v19.8.3"), target("b", "v19.8.3")];
        let after = [target("a", "v19.8.5"), target("c", "v19.8.3")];
        assert_eq!(
            membership_changes(&before, &after),
            [
                "Deployment a changed in the group: app mojaloop/central-ledger:v19.8.5",
                "Deployment c joined the group: app mojaloop/central-ledger:v19.8.3",
                "Deployment b left the group: the last scan no longer finds it on an older tag that moves here",
            ]
        );
        assert!(membership_changes(&before, &before).is_empty());
    }
}
