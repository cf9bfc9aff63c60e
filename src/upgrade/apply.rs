//! Applying a group, one step per pass: its workloads in order, each with **one** patch that
//! sets every container of the group in it (the migration init container and the app move in
//! the same pod template revision), each rollout watched; on a failed rollout the group stops
//! and rolls back per `onFailure`.
//!
//! ```text
//! per workload:  Pending ─record─► Patching ─patch─► (seen patched) ─record─► RollingOut
//!                RollingOut ─complete─► Succeeded     ─failed/timeout─► RollingBack (+ group rollbackReason)
//!                RollingBack ─patch back─► (seen restored; a StatefulSet's stuck Pods deleted) ─record─► RolledBack
//!                (deleted or changed by someone else before the patch: Skipped; during it: Failed)
//! ```
//!
//! Workloads start one at a time; once one has rolled out (the canary), up to
//! `groupConcurrency` at once. Nothing new starts in a closed window unless the group has
//! already patched a workload (a started group is finished, so a namespace does not stay on
//! two tags of one repository until the next window). After a failure: `rollbackGroup` patches
//! back every changed workload, the failed one first, then the others in reverse order;
//! `rollbackFailed` only the failed one (in-flight ones finish their rollouts).
//!
//! On restart nothing is remembered but the cluster: each workload's images tell whether its
//! patch already happened (target images) or not (previous images), so no patch is sent twice;
//! anything else means someone else changed the workload, which is never overwritten.
//!
//! In: an `Applying` ImageUpgrade and `now`. Out: at most one status write or workload patch,
//! described, or a `StepError` (the next pass tries again).

use chrono::{DateTime, Utc};

use super::crd::{
    ContainerRollout, GroupRollout, ImageUpgrade, OnFailure, Phase, WorkloadRollout, WorkloadState,
};
use super::patch::{self, WorkloadName};
use super::rollout::{self, Rollout};
use super::stuck_pods;
use super::upgrader::{StepError, Upgrader};
use super::window::Choice;
use super::workload::AppsWorkload;
use crate::inventory::ImageRef;
use crate::inventory::patch::ImageChange;

/// Which images a workload's containers run now, compared with the two a group knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Images {
    /// Every container runs its previous image.
    Previous,
    /// Every container runs its target image.
    Target,
    /// Anything else: `name=image, …` as found.
    Other(String),
}

/// What the containers of `w` run in `workload`.
pub(super) fn images(w: &WorkloadRollout, workload: &AppsWorkload) -> Images {
    let now: Vec<Option<&str>> = w
        .containers
        .iter()
        .map(|c| workload.container_image(&c.name, c.init_container))
        .collect();
    if w.containers
        .iter()
        .zip(&now)
        .all(|(c, image)| *image == Some(c.previous_image.as_str()))
    {
        return Images::Previous;
    }
    if w.containers
        .iter()
        .zip(&now)
        .all(|(c, image)| *image == Some(c.target_image.as_str()))
    {
        return Images::Target;
    }
    Images::Other(
        w.containers
            .iter()
            .zip(&now)
            .map(|(c, image)| format!("{}={}", c.name, image.unwrap_or("nothing")))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// `run-migration (init), central-ledger → v19.8.9`: what a workload's patch changes.
pub(super) fn change_text(w: &WorkloadRollout, back: bool) -> String {
    let names: Vec<String> = w
        .containers
        .iter()
        .map(|c| {
            let init = if c.init_container { " (init)" } else { "" };
            format!("{}{init}", c.name)
        })
        .collect();
    let image = |c: &ContainerRollout| {
        let image = if back {
            &c.previous_image
        } else {
            &c.target_image
        };
        ImageRef::parse(image)
            .ok()
            .and_then(|i| i.tag().map(str::to_string))
            .unwrap_or_else(|| image.clone())
    };
    let mut tags: Vec<String> = w.containers.iter().map(image).collect();
    tags.dedup();
    format!("{} → {}", names.join(", "), tags.join(", "))
}

/// Whether any workload of the group has been patched for sure.
fn patched_any(rollout: &GroupRollout) -> bool {
    rollout.workloads.iter().any(|w| {
        matches!(
            w.state,
            WorkloadState::RollingOut
                | WorkloadState::Succeeded
                | WorkloadState::RollingBack
                | WorkloadState::RolledBack
                | WorkloadState::Failed
        )
    })
}

/// Whether the group is moving forward or rolling back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Back(OnFailure),
}

impl Upgrader {
    /// Applying: the next step of the group, forward or back.
    pub(super) async fn applying(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let status = upgrade.status.clone().unwrap_or_default();
        let Some(rollout) = status.rollout else {
            // Written together with the phase; absent only if edited by hand.
            return self
                .transition(
                    upgrade,
                    now,
                    Phase::Failed,
                    "status.rollout is missing; not touching the workloads".into(),
                    |_| {},
                )
                .await;
        };
        if let Some(delivery) = &status.delivery {
            return self.applying_git(upgrade, &rollout, delivery, now).await;
        }
        if rollout.rollback_reason.is_some() {
            return self.rolling_back(upgrade, &rollout, now).await;
        }
        for (i, w) in rollout.workloads.iter().enumerate() {
            let step = match w.state {
                WorkloadState::Patching => {
                    self.patching(upgrade, &rollout, i, now, Mode::Forward)
                        .await?
                }
                WorkloadState::RollingOut => self.rolling_out(upgrade, &rollout, i, now).await?,
                _ => None,
            };
            if step.is_some() {
                return Ok(step);
            }
        }
        if let Some(step) = self.start_next(upgrade, &rollout, now).await? {
            return Ok(Some(step));
        }
        let done = rollout
            .workloads
            .iter()
            .all(|w| matches!(w.state, WorkloadState::Succeeded | WorkloadState::Skipped));
        if !done {
            return Ok(None);
        }
        let succeeded = rollout
            .workloads
            .iter()
            .filter(|w| w.state == WorkloadState::Succeeded)
            .count();
        let skipped: Vec<String> = rollout
            .workloads
            .iter()
            .filter(|w| w.state == WorkloadState::Skipped)
            .map(|w| format!("{} {}", w.kind, w.name))
            .collect();
        let left = if skipped.is_empty() {
            String::new()
        } else {
            format!("; left the group: {}", skipped.join(", "))
        };
        if succeeded == 0 {
            let message = format!("no workload of the group was changed{left}");
            return self
                .transition(upgrade, now, Phase::Superseded, message, |_| {})
                .await;
        }
        let message = format!(
            "rolled out {}:{} to {succeeded} {}{left}",
            upgrade.spec.repository,
            upgrade.spec.target_tag,
            if succeeded == 1 {
                "workload"
            } else {
                "workloads"
            }
        );
        self.transition(upgrade, now, Phase::Succeeded, message, |_| {})
            .await
    }

    /// Records a change to workload `i` of the group's rollout (a step within `Applying`).
    pub(super) async fn record(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        message: String,
        change: impl FnOnce(&mut GroupRollout),
    ) -> Result<Option<String>, StepError> {
        self.transition(upgrade, now, Phase::Applying, message, |s| {
            if let Some(rollout) = s.rollout.as_mut() {
                change(rollout);
            }
        })
        .await
    }

    /// Records workload `i`'s new `state` with `message`, which is also the history entry.
    pub(super) async fn record_state(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        i: usize,
        state: WorkloadState,
        message: String,
    ) -> Result<Option<String>, StepError> {
        self.record(upgrade, now, message.clone(), |r| {
            Upgrader::set(r, i, state, &message);
        })
        .await
    }

    /// Sets workload `i`'s state and message.
    pub(super) fn set<'r>(
        rollout: &'r mut GroupRollout,
        i: usize,
        state: WorkloadState,
        message: &str,
    ) -> &'r mut WorkloadRollout {
        let w = &mut rollout.workloads[i];
        w.state = state;
        w.message = Some(message.to_string());
        w
    }

    /// The workload of rollout entry `w`, as it is now.
    pub(super) async fn current(
        &self,
        upgrade: &ImageUpgrade,
        w: &WorkloadRollout,
    ) -> Result<Option<AppsWorkload>, StepError> {
        self.read(upgrade, &w.kind, &w.name).await
    }

    /// Patches workload `w` to its target images (`back`: its previous ones), all at once.
    async fn patch(
        &self,
        upgrade: &ImageUpgrade,
        w: &WorkloadRollout,
        workload: &AppsWorkload,
        back: bool,
    ) -> Result<(), StepError> {
        let changes: Vec<ImageChange<'_>> = w
            .containers
            .iter()
            .map(|c| ImageChange {
                name: &c.name,
                image: if back {
                    &c.previous_image
                } else {
                    &c.target_image
                },
                init: c.init_container,
            })
            .collect();
        let name = WorkloadName::new(&w.kind, &upgrade.namespace_or_default(), &w.name);
        patch::patch_images(
            &self.client,
            &name,
            &changes,
            workload,
            self.settings.dry_run,
        )
        .await
        .map_err(StepError::from)
    }

    /// The window is closed and nothing of the group was patched yet: back to `Scheduled`.
    async fn closed_before_start(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        if patched_any(rollout) {
            return Ok(None);
        }
        let members = self.members(upgrade).await?;
        let choice = self.choose_window(upgrade, &members)?;
        let Choice::Window(window) = choice else {
            return Ok(None);
        };
        if window.is_open(now) {
            return Ok(None);
        }
        let message = format!(
            "window {} closed before the first patch; waiting: {}",
            window.name(),
            window.describe(now)
        );
        let next = Upgrader::window_status(choice, now);
        self.transition(upgrade, now, Phase::Scheduled, message, |s| {
            s.rollout = None;
            s.window = Some(next);
        })
        .await
    }

    /// Starts the next pending workload when the pace allows: records its previous images
    /// (or that it left the group).
    async fn start_next(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let canary_done = rollout
            .workloads
            .iter()
            .any(|w| w.state == WorkloadState::Succeeded);
        let allowed = if canary_done {
            self.settings.group_concurrency
        } else {
            1
        };
        let in_flight = rollout
            .workloads
            .iter()
            .filter(|w| w.state.in_flight())
            .count();
        if in_flight >= allowed {
            return Ok(None);
        }
        let Some(i) = rollout
            .workloads
            .iter()
            .position(|w| w.state == WorkloadState::Pending)
        else {
            return Ok(None);
        };
        if let Some(step) = self.closed_before_start(upgrade, rollout, now).await? {
            return Ok(Some(step));
        }
        let w = &rollout.workloads[i];
        let Some(target) = upgrade
            .spec
            .targets
            .iter()
            .find(|t| t.kind == w.kind && t.name == w.name)
        else {
            let message = format!("{} {} is no longer in spec.targets", w.kind, w.name);
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        };
        let Some(workload) = self.current(upgrade, w).await? else {
            let message = format!("{} {} left the group: it no longer exists", w.kind, w.name);
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        };
        let found: Vec<Option<&str>> = target
            .containers
            .iter()
            .map(|c| workload.container_image(&c.name, c.init_container))
            .collect();
        let all = |want: &dyn Fn(&super::crd::ContainerTarget) -> &str| {
            target
                .containers
                .iter()
                .zip(&found)
                .all(|(c, image)| *image == Some(want(c)))
        };
        if !all(&|c| c.current_image.as_str()) {
            let now_runs: Vec<String> = target
                .containers
                .iter()
                .zip(&found)
                .map(|(c, image)| format!("{}={}", c.name, image.unwrap_or("nothing")))
                .collect();
            let why = if all(&|c| c.target_image.as_str()) {
                "already runs the target (changed by someone else)"
            } else {
                "changed by someone else; left as it is"
            };
            let message = format!(
                "{} {} left the group: {why} ({})",
                w.kind,
                w.name,
                now_runs.join(", ")
            );
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        }
        let containers: Vec<ContainerRollout> = target
            .containers
            .iter()
            .map(|c| ContainerRollout {
                name: c.name.clone(),
                init_container: c.init_container,
                previous_image: c.current_image.clone(),
                target_image: c.target_image.clone(),
            })
            .collect();
        let started = rollout
            .workloads
            .iter()
            .filter(|w| !matches!(w.state, WorkloadState::Pending | WorkloadState::Skipped))
            .count();
        let role = if started == 0 { ", the canary" } else { "" };
        let mut entry = w.clone();
        entry.containers = containers.clone();
        let message = format!(
            "starting {} {} ({} of {}{role}): {}",
            w.kind,
            w.name,
            i + 1,
            rollout.workloads.len(),
            change_text(&entry, false)
        );
        self.record(upgrade, now, message.clone(), |r| {
            let w = Upgrader::set(r, i, WorkloadState::Patching, &message);
            w.containers = containers;
        })
        .await
    }

    /// A workload whose previous images are recorded: patch it, or record that it was patched
    /// (perhaps by us, just before a crash). Rolling back, an unpatched one is not started.
    async fn patching(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        i: usize,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Result<Option<String>, StepError> {
        let w = &rollout.workloads[i];
        let Some(workload) = self.current(upgrade, w).await? else {
            let message = format!(
                "{} {} left the group: it was deleted before it was patched",
                w.kind, w.name
            );
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        };
        match images(w, &workload) {
            Images::Target => {
                let generation = workload.generation();
                let (state, message) = match mode {
                    Mode::Back(OnFailure::RollbackGroup) => (
                        WorkloadState::RollingBack,
                        format!("{} {} was patched; rolling it back too", w.kind, w.name),
                    ),
                    _ => (
                        WorkloadState::RollingOut,
                        format!(
                            "patched {} {} ({}); watching the rollout",
                            w.kind,
                            w.name,
                            change_text(w, false)
                        ),
                    ),
                };
                self.record(upgrade, now, message.clone(), |r| {
                    let w = Upgrader::set(r, i, state, &message);
                    w.patched_at = Some(now);
                    w.generation = Some(generation);
                })
                .await
            }
            Images::Previous if mode != Mode::Forward => {
                let message = format!(
                    "{} {} not started: the group stopped ({})",
                    w.kind,
                    w.name,
                    rollout.rollback_reason.as_deref().unwrap_or_default()
                );
                self.record(upgrade, now, message.clone(), |r| {
                    let w = Upgrader::set(r, i, WorkloadState::Pending, &message);
                    w.containers.clear();
                })
                .await
            }
            Images::Previous => {
                if let Some(step) = self.closed_before_start(upgrade, rollout, now).await? {
                    return Ok(Some(step));
                }
                self.patch(upgrade, w, &workload, false).await?;
                Ok(Some(format!(
                    "patch {} {}: {}",
                    w.kind,
                    w.name,
                    change_text(w, false)
                )))
            }
            Images::Other(found) => {
                let message = format!(
                    "{} {} left the group: changed by someone else before it was patched ({found}); left as it is",
                    w.kind, w.name
                );
                self.record_state(upgrade, now, i, WorkloadState::Skipped, message)
                    .await
            }
        }
    }

    /// A patched workload: judge its rollout. `None` while it is still going.
    pub(super) async fn rolling_out(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        i: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let w = &rollout.workloads[i];
        let Some(workload) = self.current(upgrade, w).await? else {
            let message = format!(
                "{} {} left the group: it was deleted during its rollout",
                w.kind, w.name
            );
            return self
                .record_state(upgrade, now, i, WorkloadState::Skipped, message)
                .await;
        };
        let found = match images(w, &workload) {
            Images::Target => None,
            Images::Previous => Some("its previous images".to_string()),
            Images::Other(found) => Some(found),
        };
        if let Some(found) = found {
            let message = format!(
                "{} {} was changed by someone else during its rollout (now {found}); left as it is",
                w.kind, w.name
            );
            let reason = message.clone();
            return self
                .record(upgrade, now, message.clone(), |r| {
                    Upgrader::set(r, i, WorkloadState::Failed, &message);
                    r.rollback_reason.get_or_insert(reason);
                })
                .await;
        }
        let generation = w.generation.unwrap_or(workload.generation());
        let failure = match rollout::judge(&workload, generation) {
            Rollout::Complete => {
                let message = format!("{} {} rolled out", w.kind, w.name);
                return self
                    .record_state(upgrade, now, i, WorkloadState::Succeeded, message)
                    .await;
            }
            Rollout::Failed(stalled) => stalled.to_string(),
            Rollout::InProgress(progress) => {
                let since = w.patched_at.unwrap_or(rollout.started_at);
                let timeout = chrono::Duration::from_std(self.settings.rollout_timeout)
                    .unwrap_or(chrono::Duration::MAX);
                if now - since < timeout {
                    return Ok(None);
                }
                format!(
                    "the rollout did not finish within {} ({progress})",
                    crate::config::duration::format(self.settings.rollout_timeout)
                )
            }
        };
        let reason = format!("the rollout of {} {} failed: {failure}", w.kind, w.name);
        let message = match rollout.rollback_reason {
            Some(_) => format!("{reason}; rolling it back"),
            None => format!(
                "{reason}; stopping the group and rolling back ({})",
                rollout.on_failure
            ),
        };
        self.record(upgrade, now, message, |r| {
            Upgrader::set(r, i, WorkloadState::RollingBack, &reason);
            r.rollback_reason.get_or_insert(reason.clone());
        })
        .await
    }

    /// After a failed rollout: resolve unpatched workloads, patch back one workload at a time
    /// (the last in order first), and end the group when nothing is left to do.
    async fn rolling_back(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let mode = Mode::Back(rollout.on_failure);
        if let Some(i) = rollout
            .workloads
            .iter()
            .position(|w| w.state == WorkloadState::Patching)
        {
            return self.patching(upgrade, rollout, i, now, mode).await;
        }
        if let Some(i) = rollout
            .workloads
            .iter()
            .rposition(|w| w.state == WorkloadState::RollingBack)
        {
            return self.restore(upgrade, rollout, i, now).await;
        }
        match rollout.on_failure {
            OnFailure::RollbackGroup => {
                if let Some(i) = rollout.workloads.iter().rposition(|w| {
                    matches!(
                        w.state,
                        WorkloadState::RollingOut | WorkloadState::Succeeded
                    )
                }) {
                    let w = &rollout.workloads[i];
                    let message = format!(
                        "rolling back {} {} too ({})",
                        w.kind, w.name, rollout.on_failure
                    );
                    return self
                        .record_state(upgrade, now, i, WorkloadState::RollingBack, message)
                        .await;
                }
            }
            OnFailure::RollbackFailed => {
                for (i, w) in rollout.workloads.iter().enumerate() {
                    if w.state == WorkloadState::RollingOut {
                        match self.rolling_out(upgrade, rollout, i, now).await? {
                            Some(step) => return Ok(Some(step)),
                            None => return Ok(None),
                        }
                    }
                }
            }
        }
        // Nothing left to do: the group ends.
        let parts = rollout.outcome(&[
            (WorkloadState::RolledBack, "rolled back"),
            (WorkloadState::Succeeded, "kept the new tag"),
            (WorkloadState::Failed, "left as they are"),
            (WorkloadState::Pending, "not started"),
            (WorkloadState::Skipped, "left the group"),
        ]);
        let reason = rollout.rollback_reason.clone().unwrap_or_default();
        let failed = rollout
            .workloads
            .iter()
            .any(|w| w.state == WorkloadState::Failed);
        let (phase, verb) = if failed {
            (Phase::Failed, "failed")
        } else {
            (Phase::RolledBack, "rolled back")
        };
        let message = format!("{verb} ({}): {reason}; {parts}", rollout.on_failure);
        self.transition(upgrade, now, phase, message, |_| {}).await
    }

    /// A workload to restore: patch its previous images back, or record that they are back.
    async fn restore(
        &self,
        upgrade: &ImageUpgrade,
        rollout: &GroupRollout,
        i: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let w = &rollout.workloads[i];
        let Some(workload) = self.current(upgrade, w).await? else {
            let message = format!("{} {} was deleted during the rollback", w.kind, w.name);
            return self
                .record_state(upgrade, now, i, WorkloadState::Failed, message)
                .await;
        };
        match images(w, &workload) {
            Images::Target => {
                self.patch(upgrade, w, &workload, true).await?;
                Ok(Some(format!(
                    "roll back {} {}: {}",
                    w.kind,
                    w.name,
                    change_text(w, true)
                )))
            }
            Images::Previous => {
                let mut message = format!(
                    "rolled back {} {} ({})",
                    w.kind,
                    w.name,
                    change_text(w, true)
                );
                if let AppsWorkload::StatefulSet(statefulset) = &workload {
                    let deleted = stuck_pods::delete_stuck_pods(
                        &self.client,
                        &upgrade.namespace_or_default(),
                        statefulset,
                        &w.containers,
                        self.settings.dry_run,
                    )
                    .await?;
                    if !deleted.is_empty() {
                        message.push_str(&format!(
                            "; deleted Pod {} stuck on the failed revision (a StatefulSet's forced rollback)",
                            deleted.join(", ")
                        ));
                    }
                }
                self.record_state(upgrade, now, i, WorkloadState::RolledBack, message)
                    .await
            }
            Images::Other(found) => {
                let message = format!(
                    "rollback of {} {} stopped: changed by someone else ({found}); left as it is",
                    w.kind, w.name
                );
                self.record_state(upgrade, now, i, WorkloadState::Failed, message)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> WorkloadRollout {
        WorkloadRollout {
            kind: "Deployment".into(),
            name: "ledger".into(),
            state: WorkloadState::Patching,
            containers: vec![
                ContainerRollout {
                    name: "app".into(),
                    init_container: false,
                    previous_image: "mojaloop/central-ledger:v19.8.3".into(),
                    target_image: "mojaloop/central-ledger:v19.8.9".into(),
                },
                ContainerRollout {
                    name: "run-migration".into(),
                    init_container: true,
                    previous_image: "mojaloop/central-ledger:v19.8.3".into(),
                    target_image: "mojaloop/central-ledger:v19.8.9".into(),
                },
            ],
            patched_at: None,
            generation: None,
            message: None,
        }
    }

    fn deployment(app: &str, migration: &str) -> AppsWorkload {
        let object: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ledger"},
            "spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": format!("mojaloop/central-ledger:{app}")}],
                "initContainers": [{"name": "run-migration", "image": format!("mojaloop/central-ledger:{migration}")}]}}}
        }))
        .unwrap();
        AppsWorkload::parse(crate::inventory::WorkloadKind::Deployment, object)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_workload_is_before_after_or_changed_by_someone_else() {
        let w = entry();
        assert_eq!(
            images(&w, &deployment("v19.8.3", "v19.8.3")),
            Images::Previous
        );
        assert_eq!(
            images(&w, &deployment("v19.8.9", "v19.8.9")),
            Images::Target
        );
        assert_eq!(
            images(&w, &deployment("v19.8.9", "v19.8.3")),
            Images::Other(
                "app=mojaloop/central-ledger:v19.8.9, run-migration=mojaloop/central-ledger:v19.8.3"
                    .into()
            ),
            "never half a workload: a split is someone else's"
        );
        assert_eq!(
            change_text(&w, false),
            "app, run-migration (init) → v19.8.9"
        );
        assert_eq!(change_text(&w, true), "app, run-migration (init) → v19.8.3");
    }
}
