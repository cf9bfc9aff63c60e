//! The upgrade state machine: each [`Upgrader::step_each`] looks at every ImageUpgrade and moves
//! each one at most one step, where a step is exactly one change to the cluster (a status
//! write, or a workload patch).
//!
//! Crash safety comes from the order: every decision is written to `status` before it is
//! acted on, and every action is checked against the cluster before it is repeated.
//!
//! ```text
//! Available ──approved (person or policy)──► Approved ──window chosen──► Scheduled
//!     │                                                                     │ window open, a free
//!     │ rejected / superseded                                               │ slot, dependencies done
//!     ▼                                                                     ▼
//! Rejected / Superseded              Applying: 1. record previousImage   (status)
//!                                              2. patch the container     (workload, precondition)
//!                                              3. record patchedAt        (status)
//!                                              4. watch the rollout ──► Succeeded
//!                                              5. on failure/timeout: record rollbackReason (status)
//!                                              6. patch previousImage back (workload) ──► RolledBack
//! ```
//!
//! On restart nothing is remembered but the cluster: in step 2 the workload's image tells
//! whether the patch already happened (target image) or not (previous image), so the patch is
//! never sent twice; anything else means someone changed the workload, and the upgrade fails
//! rather than overwrite it. The same holds for the rollback in step 6.
//!
//! In: the ImageUpgrades ([`list`]), the workloads they target, the settings and
//! `now`. Out: one [`Step`] per ImageUpgrade that changed; status writes, patches and notices
//! as side effects. A step that fails is logged and tried again in the next round.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kube::Client;
use kube::api::{Api, PostParams};
use ml_operator_notify::UpgradeEvent;

use super::announce::Announcer;
use super::crd::{
    Approval, DECIDED_VIA_ANNOTATION, HistoryEntry, ImageUpgrade, ImageUpgradeStatus, Phase,
    RolloutStatus, WindowStatus,
};
use super::list::{self, ListError};
use super::patch::{self, ApplyError};
use super::rollout::{self, Rollout};
use super::settings::UpgradeSettings;
use super::window::{Choice, UnknownWindow};
use super::workload::AppsWorkload;

/// History entries kept on an object (oldest dropped first).
const HISTORY_LIMIT: usize = 100;

/// What happened to one ImageUpgrade in [`Upgrader::step_each`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `namespace/name` of the ImageUpgrade.
    pub upgrade: String,
    /// What was done (or would be, in a dry run).
    pub what: String,
}

/// Runs ImageUpgrades through their phases, one step at a time.
pub struct Upgrader {
    client: Client,
    settings: UpgradeSettings,
    announcer: Announcer,
    namespaces: Vec<String>,
    verifier: Option<Arc<dyn TargetVerifier>>,
}

/// A target image that must not be applied (unsigned, badly signed, or not checkable); says
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unverified(pub String);

/// Checks an upgrade's target image right before it is applied (`registries[].verify`): an
/// ImageUpgrade whose target does not pass fails and is never applied, whoever approved it.
pub trait TargetVerifier: Send + Sync {
    /// `Ok` when `target_image` may be applied.
    fn verify<'a>(&'a self, target_image: &'a str) -> BoxFuture<'a, Result<(), Unverified>>;
}

/// What a round of steps knows about all upgrades at once: slots and dependencies.
struct StepContext {
    applying: usize,
    /// (namespace, workload) → phases of its upgrades.
    phases: BTreeMap<(String, String), Vec<Phase>>,
}

/// Why a step did nothing this time; logged, and the next round tries again.
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// Reading or patching the workload failed.
    #[error(transparent)]
    Workload(#[from] ApplyError),
    /// The window asked for is not configured.
    #[error(transparent)]
    Window(#[from] UnknownWindow),
    /// The ImageUpgrade's status could not be written.
    #[error("writing the status of ImageUpgrade {name}: {source}")]
    Status {
        /// The ImageUpgrade's name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

impl Upgrader {
    /// An upgrader for ImageUpgrades in `namespaces` (empty: all namespaces).
    pub fn new(
        client: Client,
        settings: UpgradeSettings,
        announcer: Announcer,
        namespaces: Vec<String>,
    ) -> Upgrader {
        Upgrader {
            client,
            settings,
            announcer,
            namespaces,
            verifier: None,
        }
    }

    /// The same upgrader, checking every target with `verifier` before applying it.
    pub fn with_verifier(mut self, verifier: Arc<dyn TargetVerifier>) -> Upgrader {
        self.verifier = Some(verifier);
        self
    }

    /// The client it works with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings in use.
    pub fn settings(&self) -> &UpgradeSettings {
        &self.settings
    }

    /// Every ImageUpgrade the upgrader is responsible for, oldest first.
    pub async fn list(&self) -> Result<Vec<ImageUpgrade>, ListError> {
        let mut all = list::list(&self.client, &self.namespaces).await?;
        all.sort_by(|a, b| {
            (
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                a.namespace_or_default(),
                a.name(),
            )
                .cmp(&(
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    b.namespace_or_default(),
                    b.name(),
                ))
        });
        Ok(all)
    }

    /// Moves every ImageUpgrade at most one step, as of `now`. Returns what was done.
    pub async fn step_each(&self, now: DateTime<Utc>) -> Result<Vec<Step>, ListError> {
        let upgrades = self.list().await?;
        let mut context = StepContext {
            applying: upgrades
                .iter()
                .filter(|u| u.phase() == Phase::Applying)
                .count(),
            phases: BTreeMap::new(),
        };
        for upgrade in &upgrades {
            context
                .phases
                .entry((
                    upgrade.namespace_or_default(),
                    upgrade.spec.target.name.clone(),
                ))
                .or_default()
                .push(upgrade.phase());
        }
        let mut steps = Vec::new();
        for upgrade in &upgrades {
            let id = format!("{}/{}", upgrade.namespace_or_default(), upgrade.name());
            match self.step(upgrade, now, &mut context).await {
                Ok(Some(what)) => {
                    if self.settings.dry_run {
                        tracing::info!("dry run: {id}: would {what}");
                    } else {
                        tracing::info!("{id}: {what}");
                    }
                    steps.push(Step { upgrade: id, what });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{id}: {e}; trying again next time"),
            }
        }
        Ok(steps)
    }

    /// One step for one upgrade: `Ok(Some(what))` when something was (or would be) changed.
    async fn step(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        context: &mut StepContext,
    ) -> Result<Option<String>, StepError> {
        let phase = upgrade.phase();
        if phase.is_terminal() {
            return self.notify_outcome(upgrade, phase).await;
        }
        if phase == Phase::Applying {
            return self.applying(upgrade, now).await;
        }
        // Before anything is applied: a rejection, a missing workload or a changed image ends it.
        if upgrade.spec.rejected {
            let by = upgrade.spec.rejected_by.as_deref().unwrap_or("unknown");
            return self
                .transition(
                    upgrade,
                    now,
                    Phase::Rejected,
                    format!("rejected (by {by})"),
                    |_| {},
                )
                .await;
        }
        let Some(workload) = self.workload(upgrade).await? else {
            let message = format!("{} no longer exists", upgrade.target_text());
            return self
                .transition(upgrade, now, Phase::Superseded, message, |_| {})
                .await;
        };
        let image = workload.container_image(&upgrade.spec.target);
        if image != Some(upgrade.spec.current_image.as_str()) {
            let message = format!(
                "the container now runs {} (not {}); a new proposal follows from the next scan",
                image.unwrap_or("nothing"),
                upgrade.spec.current_image
            );
            return self
                .transition(upgrade, now, Phase::Superseded, message, |_| {})
                .await;
        }
        let status = upgrade.status.clone().unwrap_or_default();
        let approved_by_policy = status
            .approval
            .as_ref()
            .is_some_and(|a| a.how.starts_with("policy"));
        if phase != Phase::Available && !upgrade.spec.approved && !approved_by_policy {
            return self
                .transition(
                    upgrade,
                    now,
                    Phase::Available,
                    "approval withdrawn".into(),
                    |s| {
                        s.approval = None;
                        s.window = None;
                    },
                )
                .await;
        }
        match phase {
            Phase::Available => self.available(upgrade, &workload, now).await,
            Phase::Approved => self.approved(upgrade, &workload, now).await,
            _ => self.scheduled(upgrade, &workload, now, context).await,
        }
    }

    /// Available: approved by a person, by a policy, or announced and waiting.
    async fn available(
        &self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let status = upgrade.status.clone().unwrap_or_default();
        if upgrade.spec.approved {
            let how = upgrade
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DECIDED_VIA_ANNOTATION))
                .cloned()
                .unwrap_or_else(|| "kubectl".into());
            let by = upgrade
                .spec
                .approved_by
                .clone()
                .unwrap_or_else(|| "unknown".into());
            let message = format!("approved by {by} ({how})");
            return self
                .transition(upgrade, now, Phase::Approved, message, |s| {
                    s.approval = Some(Approval { by, at: now, how });
                })
                .await;
        }
        let level = upgrade.spec.level.as_deref().and_then(|l| l.parse().ok());
        match self.settings.policy.approves(
            &upgrade.namespace_or_default(),
            workload.setting("auto-approve"),
            level,
        ) {
            Ok(Some(rule)) => {
                let message = format!("approved by {rule}");
                return self
                    .transition(upgrade, now, Phase::Approved, message, |s| {
                        s.approval = Some(Approval {
                            by: "policy".into(),
                            at: now,
                            how: rule,
                        });
                    })
                    .await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("{}: {e}; waiting for a person to approve", upgrade.name()),
        }
        if status.notified.iter().any(|n| n == "proposed") {
            return Ok(None);
        }
        let commands = Announcer::approve_commands(upgrade);
        let message = format!("waiting for approval: {}", commands[0]);
        if !self.settings.dry_run {
            let mut note = self.window_note(upgrade, workload, now);
            // A running tag overwritten or gone: the proposal says so.
            if crate::scan::warns_about_running_tag(&upgrade.spec.reason) {
                note = format!("{note}\n{}", upgrade.spec.reason);
            }
            self.announcer
                .announce(upgrade, UpgradeEvent::Proposed, &note)
                .await;
        }
        self.transition(upgrade, now, Phase::Available, message, |s| {
            s.notified.push("proposed".into())
        })
        .await
    }

    /// A line about the window an upgrade would wait for, for the proposal message.
    fn window_note(
        &self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
        now: DateTime<Utc>,
    ) -> String {
        match self.choose_window(upgrade, workload) {
            Ok(Choice::Anytime) => {
                "once approved, it is applied at once (no upgrade window configured)".into()
            }
            Ok(Choice::Window(window)) => {
                format!("once approved, it waits for {}", window.describe(now))
            }
            Err(e) => e.to_string(),
        }
    }

    fn choose_window<'s>(
        &'s self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
    ) -> Result<Choice<'s>, UnknownWindow> {
        let wanted = upgrade
            .spec
            .window
            .as_deref()
            .or(workload.setting("window"));
        self.settings
            .windows
            .choose(&upgrade.namespace_or_default(), wanted)
    }

    fn window_status(choice: Choice<'_>, now: DateTime<Utc>) -> WindowStatus {
        match choice {
            Choice::Anytime => WindowStatus {
                name: "anytime".into(),
                opens_at: None,
                closes_at: None,
            },
            Choice::Window(window) => {
                let next = window.next_open(now);
                WindowStatus {
                    name: window.name().into(),
                    opens_at: next.map(|o| o.start),
                    closes_at: next.map(|o| o.end),
                }
            }
        }
    }

    /// Approved: choose the window and record it.
    async fn approved(
        &self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let choice = self.choose_window(upgrade, workload)?;
        let window = Upgrader::window_status(choice, now);
        let message = match choice {
            Choice::Anytime => {
                "scheduled: no window configured, applies as soon as a slot is free".to_string()
            }
            Choice::Window(w) => format!("scheduled: {}", w.describe(now)),
        };
        self.transition(upgrade, now, Phase::Scheduled, message, |s| {
            s.window = Some(window)
        })
        .await
    }

    /// Scheduled: start when the window is open, a slot is free and dependencies are done.
    async fn scheduled(
        &self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
        now: DateTime<Utc>,
        context: &mut StepContext,
    ) -> Result<Option<String>, StepError> {
        let status = upgrade.status.clone().unwrap_or_default();
        let choice = self.choose_window(upgrade, workload)?;
        let open = match choice {
            Choice::Anytime => true,
            Choice::Window(window) => window.is_open(now),
        };
        if !open {
            // Keep the next opening in status current (it moves on after each opening).
            let window = Upgrader::window_status(choice, now);
            if status.window.as_ref() != Some(&window) {
                let message = match choice {
                    Choice::Window(w) => format!("waiting: {}", w.describe(now)),
                    Choice::Anytime => "waiting".into(),
                };
                return self
                    .transition(upgrade, now, Phase::Scheduled, message, |s| {
                        s.window = Some(window)
                    })
                    .await;
            }
            return Ok(None);
        }
        if context.applying >= self.settings.max_concurrent {
            return Ok(None);
        }
        let namespace = upgrade.namespace_or_default();
        if let Some(first) = self.settings.dependencies.get(&upgrade.spec.target.name) {
            for dependency in first {
                let pending = context
                    .phases
                    .get(&(namespace.clone(), dependency.clone()))
                    .is_some_and(|phases| {
                        phases.iter().any(|p| {
                            matches!(p, Phase::Approved | Phase::Scheduled | Phase::Applying)
                        })
                    });
                if pending {
                    tracing::debug!(
                        "{}: waiting for the upgrade of {dependency} first",
                        upgrade.name()
                    );
                    return Ok(None);
                }
            }
        }
        if let Some(verifier) = &self.verifier
            && let Err(why) = verifier.verify(&upgrade.spec.target_image).await
        {
            let message = format!("not applied: {why}");
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }
        context.applying += 1;
        let previous = workload
            .container_image(&upgrade.spec.target)
            .unwrap_or_default()
            .to_string();
        let window = Upgrader::window_status(choice, now);
        let message = format!("applying: {} → {}", previous, upgrade.spec.target_image);
        self.transition(upgrade, now, Phase::Applying, message, |s| {
            s.window = Some(window);
            s.rollout = Some(RolloutStatus {
                previous_image: previous,
                started_at: now,
                patched_at: None,
                generation: None,
                rollback_reason: None,
            });
        })
        .await
    }

    /// Applying: patch, record, watch, and roll back on failure.
    async fn applying(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let status = upgrade.status.clone().unwrap_or_default();
        let Some(rollout) = status.rollout.clone() else {
            // Written together with the phase; absent only if edited by hand.
            return self
                .transition(
                    upgrade,
                    now,
                    Phase::Failed,
                    "status.rollout is missing; not touching the workload".into(),
                    |_| {},
                )
                .await;
        };
        let target = &upgrade.spec.target;
        let Some(workload) = self.workload(upgrade).await? else {
            let message = format!("{} was deleted during the upgrade", upgrade.target_text());
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        };
        let image = workload.container_image(target).unwrap_or_default();
        let wanted = upgrade.spec.target_image.as_str();
        let previous = rollout.previous_image.as_str();

        if let Some(reason) = &rollout.rollback_reason {
            if image == wanted {
                self.patch(upgrade, &workload, previous).await?;
                return Ok(Some(format!("roll back to {previous}: patched")));
            }
            if image == previous {
                let message = format!("rolled back to {previous}: {reason}");
                return self
                    .transition(upgrade, now, Phase::RolledBack, message, |_| {})
                    .await;
            }
            let message = format!(
                "rollback stopped: the container now runs {image}, set by someone else; left as it is ({reason})"
            );
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }

        if rollout.patched_at.is_none() {
            if image == wanted {
                // Patched, possibly by us just before a crash: record it, never patch again.
                let generation = workload.generation();
                return self
                    .transition(
                        upgrade,
                        now,
                        Phase::Applying,
                        format!("patched to {wanted}; watching the rollout"),
                        |s| {
                            if let Some(r) = s.rollout.as_mut() {
                                r.patched_at = Some(now);
                                r.generation = Some(generation);
                            }
                        },
                    )
                    .await;
            }
            if image != previous {
                let message = format!(
                    "not applied: the container now runs {image}, set by someone else since {previous} was recorded"
                );
                return self
                    .transition(upgrade, now, Phase::Failed, message, |_| {})
                    .await;
            }
            // No new upgrade starts in a closed window (e.g. after a restart much later).
            if let Ok(Choice::Window(window)) = self.choose_window(upgrade, &workload)
                && !window.is_open(now)
            {
                let message = format!(
                    "window {} closed before the patch; waiting: {}",
                    window.name(),
                    window.describe(now)
                );
                let next = Upgrader::window_status(Choice::Window(window), now);
                return self
                    .transition(upgrade, now, Phase::Scheduled, message, |s| {
                        s.rollout = None;
                        s.window = Some(next);
                    })
                    .await;
            }
            self.patch(upgrade, &workload, wanted).await?;
            return Ok(Some(format!("patch {} to {wanted}", target.container)));
        }

        if image != wanted {
            let message = format!(
                "the container was changed to {image} by someone else during the rollout; left as it is"
            );
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }
        let generation = rollout.generation.unwrap_or(workload.generation());
        let failure = match rollout::judge(&workload, generation) {
            Rollout::Complete => {
                let message = format!("rolled out {wanted}");
                return self
                    .transition(upgrade, now, Phase::Succeeded, message, |_| {})
                    .await;
            }
            Rollout::Failed(stalled) => stalled.to_string(),
            Rollout::InProgress(progress) => {
                let since = rollout.patched_at.unwrap_or(rollout.started_at);
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
        self.transition(
            upgrade,
            now,
            Phase::Applying,
            format!("rollout failed, rolling back: {failure}"),
            |s| {
                if let Some(r) = s.rollout.as_mut() {
                    r.rollback_reason = Some(failure.clone());
                }
            },
        )
        .await
    }

    /// A finished upgrade: tell people once.
    async fn notify_outcome(
        &self,
        upgrade: &ImageUpgrade,
        phase: Phase,
    ) -> Result<Option<String>, StepError> {
        let event = match phase {
            Phase::Succeeded => UpgradeEvent::Succeeded,
            Phase::RolledBack => UpgradeEvent::RolledBack,
            Phase::Failed => UpgradeEvent::Failed,
            _ => return Ok(None),
        };
        let status = upgrade.status.clone().unwrap_or_default();
        if status.notified.iter().any(|n| n == event.as_str()) {
            return Ok(None);
        }
        if !self.settings.dry_run {
            self.announcer
                .announce(
                    upgrade,
                    event,
                    status.message.as_deref().unwrap_or_default(),
                )
                .await;
        }
        let mut status = status;
        status.notified.push(event.as_str().into());
        self.write(upgrade, status).await?;
        Ok(Some(format!("notify {}", event.as_str())))
    }

    /// Records a transition (or a step within a phase) in status, with a history entry.
    async fn transition(
        &self,
        upgrade: &ImageUpgrade,
        now: DateTime<Utc>,
        phase: Phase,
        message: String,
        change: impl FnOnce(&mut ImageUpgradeStatus),
    ) -> Result<Option<String>, StepError> {
        let mut status = upgrade.status.clone().unwrap_or_default();
        change(&mut status);
        if status.phase.is_none() && phase != Phase::Available {
            status.history.push(HistoryEntry {
                at: now,
                phase: Phase::Available,
                message: format!(
                    "proposed: {} → {}",
                    upgrade.spec.current_image, upgrade.spec.target_image
                ),
            });
        }
        status.phase = Some(phase);
        status.message = Some(message.clone());
        status.history.push(HistoryEntry {
            at: now,
            phase,
            message: message.clone(),
        });
        if status.history.len() > HISTORY_LIMIT {
            let extra = status.history.len() - HISTORY_LIMIT;
            status.history.drain(..extra);
        }
        self.write(upgrade, status).await?;
        Ok(Some(format!("{phase}: {message}")))
    }

    /// Replaces the status, guarded by the object's resourceVersion (a concurrent change → 409,
    /// and the next round decides again from fresh state).
    async fn write(
        &self,
        upgrade: &ImageUpgrade,
        status: ImageUpgradeStatus,
    ) -> Result<(), StepError> {
        if self.settings.dry_run {
            return Ok(());
        }
        let api: Api<ImageUpgrade> =
            Api::namespaced(self.client.clone(), &upgrade.namespace_or_default());
        let mut object = upgrade.clone();
        object.status = Some(status);
        api.replace_status(&upgrade.name(), &PostParams::default(), &object)
            .await
            .map(|_| ())
            .map_err(|source| StepError::Status {
                name: upgrade.name(),
                source,
            })
    }

    /// The upgrade's workload as it is now, `None` when it does not exist.
    async fn workload(&self, upgrade: &ImageUpgrade) -> Result<Option<AppsWorkload>, StepError> {
        let namespace = upgrade.namespace_or_default();
        match patch::read(&self.client, &namespace, &upgrade.spec.target).await {
            Ok(workload) => Ok(Some(workload)),
            Err(ApplyError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Patches the upgrade's container to `image`, if the workload is still as `workload`.
    async fn patch(
        &self,
        upgrade: &ImageUpgrade,
        workload: &AppsWorkload,
        image: &str,
    ) -> Result<(), StepError> {
        patch::patch_image(
            &self.client,
            &upgrade.namespace_or_default(),
            &upgrade.spec.target,
            image,
            workload,
            self.settings.dry_run,
        )
        .await
        .map_err(StepError::from)
    }
}
