//! Applying a group by git (`upgrades.delivery: git`): one commit of the values files for the
//! whole group, pushed with a pull request (or to the synced branch), then the workloads
//! watched as Argo CD or Flux syncs them. Nothing is patched with kubectl.
//!
//! ```text
//! Applying, status.delivery without a commit ─deliver─► commit recorded (branch, pull request)
//! per workload:  Pending ─seen on the target images─► RollingOut ─complete─► Succeeded
//!                         (provider none: not synced within rolloutTimeout of the push ─► rollback)
//!                RollingOut ─failed/timeout─► rollback: one revert commit, pushed the same way
//!                RollingBack/Succeeded ─seen on the previous images─► RolledBack
//! ```
//!
//! A rollback reverts the whole commit, so every workload the sync changed goes back whatever
//! `onFailure` says. Each step is recorded before the next is taken; a delivery retried after
//! a crash finds its commit and pull request instead of making second ones
//! ([`crate::deliver::git`]).
//!
//! In: an `Applying` ImageUpgrade with `status.delivery`, and `now`. Out: at most one status
//! write or push, described, or a `StepError` (the next pass tries again).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::apply::{Images, change_text, images};
use super::crd::{
    ContainerRollout, GitDeliveryStatus, GroupRollout, ImageUpgrade, Phase, WorkloadRollout,
    WorkloadState,
};
use super::upgrader::{StepContext, StepError, Upgrader};
use super::window::Choice;
use crate::deliver::files::TagMove;
use crate::deliver::git::{Change, Delivered, DeliveryError};
use crate::inventory::ImageRef;

/// `abc1234`: a commit, for messages.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `commit abc1234 pushed to ml-operator/x, pull request URL`.
fn pushed_text(delivered: &Delivered) -> String {
    let how = if delivered.already_pushed {
        "found on"
    } else {
        "pushed to"
    };
    let mut text = format!(
        "commit {} {how} {}",
        short(&delivered.commit),
        delivered.branch
    );
    if let Some(url) = &delivered.pull_request {
        text.push_str(&format!(", pull request {url}"));
    }
    text
}

/// The change that moves the group forward (or, `back`, restores its previous images).
fn change(upgrade: &ImageUpgrade, back: bool, reverts: Option<&str>, reason: &str) -> Change {
    let namespace = upgrade.namespace_or_default();
    let name = upgrade.name();
    let mut seen = BTreeSet::new();
    let mut moves = Vec::new();
    for container in upgrade.spec.targets.iter().flat_map(|t| &t.containers) {
        let (from, to) = if back {
            (&container.target_image, &container.current_image)
        } else {
            (&container.current_image, &container.target_image)
        };
        let (Ok(image), Some(tag)) = (
            ImageRef::parse(from),
            ImageRef::parse(to)
                .ok()
                .and_then(|i| i.tag().map(str::to_string)),
        ) else {
            continue;
        };
        if seen.insert((from.clone(), tag.clone())) {
            moves.push(TagMove {
                image,
                tag,
                known_path: None,
            });
        }
    }
    let workloads: Vec<String> = upgrade
        .spec
        .targets
        .iter()
        .map(|t| format!("- {} {}", t.kind, t.name))
        .collect();
    let forward = format!(
        "ml-operator: {} {} → {} in {namespace}",
        upgrade.spec.repository,
        upgrade.from_tags().join(", "),
        upgrade.spec.target_tag
    );
    if back {
        Change {
            marker: format!("ML-Operator-Revert: {namespace}/{name}"),
            branch: format!("ml-operator/{name}-revert"),
            subject: format!("Revert \"{forward}\""),
            body: format!(
                "This reverts commit {}: {reason}.\n\nImageUpgrade {namespace}/{name}; workloads:\n{}",
                reverts.unwrap_or("(none)"),
                workloads.join("\n")
            ),
            moves,
        }
    } else {
        let approved = upgrade
            .status
            .as_ref()
            .and_then(|s| s.approval.as_ref())
            .map(|a| format!(", approved by {} ({})", a.by, a.how))
            .unwrap_or_default();
        Change {
            marker: format!("ML-Operator-Upgrade: {namespace}/{name}"),
            branch: format!("ml-operator/{name}"),
            subject: forward,
            body: format!(
                "ImageUpgrade {namespace}/{name}{approved}; workloads:\n{}",
                workloads.join("\n")
            ),
            moves,
        }
    }
}

impl Upgrader {
    /// Scheduled and free to start, delivered by git: record the apply (every workload
    /// pending, its previous images known) and the delivery to make.
    pub(super) async fn start_git(
        &self,
        upgrade: &ImageUpgrade,
        choice: Choice<'_>,
        now: DateTime<Utc>,
        context: &mut StepContext,
    ) -> Result<Option<String>, StepError> {
        let Some(git) = &self.git else {
            let message = format!(
                "not applied: its delivery is git, but git.url is not configured; set git: (docs/delivery.md) or the delivery back to kubectl ({})",
                upgrade.summary()
            );
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        };
        context.claim(upgrade);
        let window = Upgrader::window_status(choice, now);
        let workloads = upgrade
            .spec
            .targets
            .iter()
            .map(|t| WorkloadRollout {
                kind: t.kind.clone(),
                name: t.name.clone(),
                state: WorkloadState::Pending,
                containers: t
                    .containers
                    .iter()
                    .map(|c| ContainerRollout {
                        name: c.name.clone(),
                        init_container: c.init_container,
                        previous_image: c.current_image.clone(),
                        target_image: c.target_image.clone(),
                    })
                    .collect(),
                patched_at: None,
                generation: None,
                message: None,
            })
            .collect();
        let repository = git.settings().url.clone();
        let message = format!(
            "applying {} by git: committing to {repository}",
            upgrade.summary()
        );
        let on_failure = self.settings.on_failure;
        self.transition(upgrade, now, Phase::Applying, message, |s| {
            s.window = Some(window);
            s.rollout = Some(GroupRollout {
                started_at: now,
                on_failure,
                rollback_reason: None,
                workloads,
            });
            s.delivery = Some(GitDeliveryStatus {
                repository,
                ..GitDeliveryStatus::default()
            });
        })
        .await
    }

    /// Applying by git: deliver, watch the sync, revert on failure.
    pub(super) async fn applying_git(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        delivery: &GitDeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        if self.git.is_none() {
            let message = "status.delivery is git, but git.url is no longer configured; the workloads are left as they are".to_string();
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }
        if rollout.rollback_reason.is_some() {
            return self.git_rolling_back(upgrade, rollout, delivery, now).await;
        }
        let Some(commit) = delivery.commit.clone() else {
            return self.deliver_forward(upgrade, now).await;
        };
        for (i, w) in rollout.workloads.iter().enumerate() {
            let step = match w.state {
                WorkloadState::Pending => self.synced_yet(upgrade, rollout, i, now).await?,
                WorkloadState::RollingOut => self.rolling_out(upgrade, rollout, i, now).await?,
                _ => None,
            };
            if step.is_some() {
                return Ok(step);
            }
        }
        let waiting = rollout
            .workloads
            .iter()
            .any(|w| w.state == WorkloadState::Pending);
        if waiting {
            // Without a pull request the sync should follow the push; a pull request waits for
            // a person to merge it, for as long as that takes.
            let timeout = chrono::Duration::from_std(self.settings.rollout_timeout)
                .unwrap_or(chrono::Duration::MAX);
            let since = delivery.pushed_at.unwrap_or(rollout.started_at);
            if delivery.pull_request.is_none() && now - since >= timeout {
                let reason = format!(
                    "commit {} was not synced within {} of its push",
                    short(&commit),
                    crate::config::duration::format(self.settings.rollout_timeout)
                );
                let message = format!("{reason}; reverting it");
                return self
                    .record(upgrade, now, message, |r| {
                        r.rollback_reason.get_or_insert(reason.clone());
                    })
                    .await;
            }
            return Ok(None);
        }
        if rollout
            .workloads
            .iter()
            .any(|w| w.state == WorkloadState::RollingOut)
        {
            return Ok(None);
        }
        let succeeded = rollout
            .workloads
            .iter()
            .filter(|w| w.state == WorkloadState::Succeeded)
            .count();
        let message = format!(
            "rolled out {}:{} to {succeeded} {} by commit {}{}",
            upgrade.spec.repository,
            upgrade.spec.target_tag,
            if succeeded == 1 {
                "workload"
            } else {
                "workloads"
            },
            short(&commit),
            delivery
                .pull_request
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        );
        let phase = if succeeded == 0 {
            Phase::Superseded
        } else {
            Phase::Succeeded
        };
        self.transition(upgrade, now, phase, message, |_| {}).await
    }

    /// The group's commit: made and pushed, its pull request opened, all recorded.
    async fn deliver_forward(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let git = self.git.as_ref().expect("checked by the caller");
        if self.settings.dry_run {
            return Ok(Some(format!(
                "commit {} to {}",
                upgrade.summary(),
                git.settings().url
            )));
        }
        match git.deliver(&change(upgrade, false, None, "")).await {
            Ok(delivered) => {
                let waiting = if delivered.pull_request.is_some() {
                    "waiting for the pull request to be merged and synced"
                } else {
                    "waiting for the GitOps sync"
                };
                let message = format!("delivered: {}; {waiting}", pushed_text(&delivered));
                self.record_delivery(upgrade, now, message, |d| {
                    d.branch = Some(delivered.branch.clone());
                    d.commit = Some(delivered.commit.clone());
                    d.pull_request = delivered.pull_request.clone();
                    d.pushed_at = Some(now);
                })
                .await
            }
            Err(e) if e.is_permanent() => {
                let message = format!("not applied: {e}");
                self.transition(upgrade, now, Phase::Failed, message, |_| {})
                    .await
            }
            Err(e) => self.retrying(upgrade, now, e).await,
        }
    }

    /// A delivery that failed this time (the remote, the network, the API): said once on the
    /// ImageUpgrade, so people see why it waits, then tried again on every pass.
    async fn retrying(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        error: DeliveryError,
    ) -> Result<Option<String>, StepError> {
        let message = format!("git delivery failed, trying again: {error}");
        let said = upgrade.status.as_ref().and_then(|s| s.message.as_deref()) == Some(&message);
        if said {
            return Err(error.into());
        }
        self.record_delivery(upgrade, now, message, |_| {}).await
    }

    /// Records a change to `status.delivery` (a step within `Applying`).
    async fn record_delivery(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        message: String,
        change: impl FnOnce(&mut GitDeliveryStatus),
    ) -> Result<Option<String>, StepError> {
        self.transition(upgrade, now, Phase::Applying, message, |s| {
            if let Some(delivery) = s.delivery.as_mut() {
                change(delivery);
            }
        })
        .await
    }

    /// A workload not yet seen synced: is it on the target images now?
    async fn synced_yet(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        i: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let w = &rollout.workloads[i];
        let Some(workload) = self.current(upgrade, w).await? else {
            let message = format!("{} {} left the group: it no longer exists", w.kind, w.name);
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        };
        match images(w, &workload) {
            Images::Previous => Ok(None),
            Images::Target => {
                let generation = workload.generation();
                let message = format!(
                    "synced {} {} ({}); watching the rollout",
                    w.kind,
                    w.name,
                    change_text(w, false)
                );
                self.record(upgrade, now, message.clone(), |r| {
                    let w = Upgrader::set(r, i, WorkloadState::RollingOut, &message);
                    w.patched_at = Some(now);
                    w.generation = Some(generation);
                })
                .await
            }
            Images::Other(found) => {
                let message = format!(
                    "{} {} left the group: it runs neither the previous nor the target images ({found}); left as it is",
                    w.kind, w.name
                );
                self.record_state(upgrade, now, i, WorkloadState::Skipped, message)
                    .await
            }
        }
    }

    /// After a failed rollout: push the revert commit once, then watch the workloads go back.
    async fn git_rolling_back(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        delivery: &GitDeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let reason = rollout.rollback_reason.clone().unwrap_or_default();
        if delivery.reverted_at.is_none() {
            let git = self.git.as_ref().expect("checked by the caller");
            if self.settings.dry_run {
                return Ok(Some(format!("revert {}", upgrade.summary())));
            }
            let change = change(upgrade, true, delivery.commit.as_deref(), &reason);
            return match git.deliver(&change).await {
                Ok(reverted) => {
                    let message = format!(
                        "rolling back: revert {}; waiting for the GitOps sync",
                        pushed_text(&reverted)
                    );
                    self.record_delivery(upgrade, now, message, |d| {
                        d.revert_branch = Some(reverted.branch.clone());
                        d.revert_commit = Some(reverted.commit.clone());
                        d.revert_pull_request = reverted.pull_request.clone();
                        d.reverted_at = Some(now);
                    })
                    .await
                }
                Err(DeliveryError::NotInFiles(why)) => {
                    // The commit never reached the synced branch (a pull request not merged):
                    // there is nothing to revert.
                    let message = format!(
                        "rolling back: nothing to revert ({why}); close the pull request if it is open"
                    );
                    self.record_delivery(upgrade, now, message, |d| d.reverted_at = Some(now))
                        .await
                }
                Err(e) if e.is_permanent() => {
                    let message = format!("failed: {reason}; the revert could not be made: {e}");
                    self.transition(upgrade, now, Phase::Failed, message, |_| {})
                        .await
                }
                Err(e) => self.retrying(upgrade, now, e).await,
            };
        }
        let changed = |state: WorkloadState| {
            matches!(
                state,
                WorkloadState::RollingOut | WorkloadState::Succeeded | WorkloadState::RollingBack
            )
        };
        for (i, w) in rollout.workloads.iter().enumerate() {
            if !changed(w.state) {
                continue;
            }
            let Some(workload) = self.current(upgrade, w).await? else {
                let message = format!("{} {} was deleted during the rollback", w.kind, w.name);
                return self
                    .record_state(upgrade, now, i, WorkloadState::Failed, message)
                    .await;
            };
            match images(w, &workload) {
                Images::Previous => {
                    let message = format!(
                        "rolled back {} {} ({}) by the revert commit",
                        w.kind,
                        w.name,
                        change_text(w, true)
                    );
                    return self
                        .record_state(upgrade, now, i, WorkloadState::RolledBack, message)
                        .await;
                }
                Images::Target => {}
                Images::Other(found) => {
                    let message = format!(
                        "rollback of {} {} stopped: changed by someone else ({found}); left as it is",
                        w.kind, w.name
                    );
                    return self
                        .record_state(upgrade, now, i, WorkloadState::Failed, message)
                        .await;
                }
            }
        }
        let left: Vec<String> = rollout
            .workloads
            .iter()
            .filter(|w| changed(w.state))
            .map(|w| format!("{} {}", w.kind, w.name))
            .collect();
        if !left.is_empty() {
            let timeout = chrono::Duration::from_std(self.settings.rollout_timeout)
                .unwrap_or(chrono::Duration::MAX);
            let since = delivery.reverted_at.unwrap_or(now);
            if delivery.revert_pull_request.is_some() || now - since < timeout {
                return Ok(None);
            }
            let message = format!(
                "failed: {reason}; the revert {} was not synced within {} ({} still on the new tag)",
                delivery
                    .revert_commit
                    .as_deref()
                    .map(short)
                    .unwrap_or("commit"),
                crate::config::duration::format(self.settings.rollout_timeout),
                left.join(", ")
            );
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }
        let parts = rollout.outcome(&[
            (WorkloadState::RolledBack, "rolled back"),
            (WorkloadState::Failed, "left as they are"),
            (WorkloadState::Pending, "never synced"),
            (WorkloadState::Skipped, "left the group"),
        ]);
        let revert = match &delivery.revert_commit {
            Some(commit) => format!(" by revert commit {}", short(commit)),
            None => String::new(),
        };
        let failed = !rollout.names_in(WorkloadState::Failed).is_empty();
        let (phase, verb) = if failed {
            (Phase::Failed, "failed")
        } else {
            (Phase::RolledBack, "rolled back")
        };
        let message = format!("{verb}{revert}: {reason}; {parts}");
        self.transition(upgrade, now, phase, message, |_| {}).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_becomes_one_change_each_way() {
        let upgrade: ImageUpgrade = serde_json::from_value(serde_json::json!({
            "apiVersion": super::super::crd::API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v17.7.8", "namespace": "hub"},
            "spec": {"repository": "mojaloop/central-ledger", "targetTag": "v17.7.8",
                     "targets": [
                        {"kind": "Deployment", "name": "a", "containers": [
                            {"name": "app", "currentImage": "mojaloop/central-ledger:v17.7.0", "targetImage": "mojaloop/central-ledger:v17.7.8"},
                            {"name": "run-migration", "initContainer": true, "currentImage": "mojaloop/central-ledger:v17.7.0", "targetImage": "mojaloop/central-ledger:v17.7.8"}]},
                        {"kind": "Deployment", "name": "b", "containers": [
                            {"name": "app", "currentImage": "mojaloop/central-ledger:v17.7.1", "targetImage": "mojaloop/central-ledger:v17.7.8"}]}]}
        }))
        .unwrap();
        let forward = change(&upgrade, false, None, "");
        assert_eq!(forward.branch, "ml-operator/central-ledger-v17.7.8");
        assert_eq!(
            forward.marker,
            "ML-Operator-Upgrade: hub/central-ledger-v17.7.8"
        );
        assert_eq!(
            forward.subject,
            "ml-operator: mojaloop/central-ledger v17.7.0, v17.7.1 → v17.7.8 in hub"
        );
        let moves: Vec<(String, String)> = forward
            .moves
            .iter()
            .map(|m| (m.image.to_string(), m.tag.clone()))
            .collect();
        assert_eq!(
            moves,
            [
                (
                    "mojaloop/central-ledger:v17.7.0".to_string(),
                    "v17.7.8".to_string()
                ),
                (
                    "mojaloop/central-ledger:v17.7.1".to_string(),
                    "v17.7.8".to_string()
                )
            ]
        );
        let back = change(&upgrade, true, Some("abc"), "the rollout failed");
        assert_eq!(back.branch, "ml-operator/central-ledger-v17.7.8-revert");
        assert!(
            back.body
                .starts_with("This reverts commit abc: the rollout failed.")
        );
        let moves: Vec<(String, String)> = back
            .moves
            .iter()
            .map(|m| (m.image.to_string(), m.tag.clone()))
            .collect();
        assert_eq!(
            moves,
            [
                (
                    "mojaloop/central-ledger:v17.7.8".to_string(),
                    "v17.7.0".to_string()
                ),
                (
                    "mojaloop/central-ledger:v17.7.8".to_string(),
                    "v17.7.1".to_string()
                )
            ]
        );
    }
}
