//! The upgrade state machine: each [`Upgrader::step_each`] looks at every ImageUpgrade group
//! and moves each one at most one step, where a step is exactly one change to the cluster (a
//! status write, or one workload's patch).
//!
//! Crash safety comes from the order: every decision is written to `status` before it is
//! acted on, and every action is checked against the cluster before it is repeated.
//!
//! ```text
//! Available ──approved (person or policy)──► Approved ──window chosen──► Scheduled
//!     │                                                                     │ window open, a free
//!     │ rejected / superseded                                               │ slot, dependencies done
//!     ▼                                                                     ▼
//! Rejected / Superseded       Applying, workload by workload (super::apply):
//!                               Pending ─► Patching ─► RollingOut ─► Succeeded   ──► Succeeded
//!                                (record)   (patch)     (watch)
//!                               a failed rollout: RollingBack ─► RolledBack      ──► RolledBack
//!                               (the failed one, and under rollbackGroup every changed one)
//! ```
//!
//! This file moves groups up to `Applying` (approval, window, slot, dependencies) and tells
//! people how they ended; [`super::apply`] takes them through their workloads.
//!
//! In: the ImageUpgrades ([`list`]), the workloads they target, the settings and
//! `now`. Out: one [`Step`] per ImageUpgrade that changed; status writes, patches and notices
//! as side effects. A step that fails is logged and tried again in the next round.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kube::Client;
use kube::api::{Api, PostParams};
use ml_operator_notify::UpgradeEvent;

use super::announce::Announcer;
use super::crd::{
    Approval, DECIDED_VIA_ANNOTATION, GroupRollout, HistoryEntry, ImageUpgrade, ImageUpgradeStatus,
    Phase, Target, WindowStatus, WorkloadRollout, WorkloadState,
};
use super::group::{self, ContainerKey};
use super::list::{self, ListError};
use super::patch::{self, ApplyError, WorkloadName};
use super::settings::UpgradeSettings;
use super::window::{Choice, UnknownWindow};
use super::workload::AppsWorkload;
use crate::config::Delivery;
use crate::deliver::git::{DeliveryError, GitRepository};

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
    pub(super) client: Client,
    pub(super) settings: UpgradeSettings,
    pub(super) announcer: Announcer,
    namespaces: Vec<String>,
    /// How many ImageUpgrades each (namespace, phase) had at the start of the last pass.
    phase_counts: std::sync::Mutex<BTreeMap<(String, Phase), usize>>,
    verifier: Option<Arc<dyn TargetVerifier>>,
    pub(super) git: Option<Arc<GitRepository>>,
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

/// What a round of steps knows about all groups at once: slots, dependencies and overlaps.
pub(super) struct StepContext {
    applying: usize,
    /// (namespace, workload) → the groups that change it, with their phases.
    phases: BTreeMap<(String, String), Vec<(String, Phase)>>,
    /// (namespace, container) → the applying group that changes it.
    applying_containers: BTreeMap<(String, ContainerKey), String>,
}

impl StepContext {
    /// `upgrade` starts applying: it takes a slot and its containers.
    pub(super) fn claim(&mut self, upgrade: &ImageUpgrade) {
        self.applying += 1;
        let namespace = upgrade.namespace_or_default();
        for container in group::containers(upgrade) {
            self.applying_containers
                .insert((namespace.clone(), container), upgrade.name());
        }
    }
}

/// The workloads of a group ask for different windows, and the group names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the workloads of ImageUpgrade {upgrade} ask for different windows ({}): set spec.window on the ImageUpgrade to choose one",
    windows.join(", ")
)]
pub struct ConflictingWindows {
    /// The ImageUpgrade.
    pub upgrade: String,
    /// `window (Deployment name)` for each workload with a window annotation.
    pub windows: Vec<String>,
}

/// The workloads of a group ask for different deliveries, or for one that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ImageUpgrade {upgrade}: the ml-operator.mojaloop.io/delivery annotations {problem}")]
pub struct InvalidDelivery {
    /// The ImageUpgrade.
    pub upgrade: String,
    /// What is wrong, naming the workloads.
    pub problem: String,
}

/// Why a step did nothing this time; logged, and the next round tries again.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// Reading or patching a workload failed.
    #[error(transparent)]
    Workload(#[from] ApplyError),
    /// The window asked for is not configured.
    #[error(transparent)]
    Window(#[from] UnknownWindow),
    /// The workloads ask for different windows.
    #[error(transparent)]
    Windows(#[from] ConflictingWindows),
    /// A rolled-back StatefulSet's stuck Pods could not be listed or deleted.
    #[error(transparent)]
    StuckPods(#[from] super::stuck_pods::StuckPodsError),
    /// A workload's `delivery` annotation that cannot be used.
    #[error(transparent)]
    Delivery(#[from] InvalidDelivery),
    /// Git delivery failed this time (the remote, the network, the API).
    #[error("git delivery: {0}")]
    Git(#[from] DeliveryError),
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

/// One target workload as read now (`None`: it does not exist).
pub(super) struct Member<'t> {
    pub(super) target: &'t Target,
    pub(super) workload: Option<AppsWorkload>,
}

impl Member<'_> {
    /// Whether the workload exists and every container of the group in it still runs the
    /// image the group moves from.
    fn unchanged(&self) -> bool {
        self.workload.as_ref().is_some_and(|w| {
            self.target.containers.iter().all(|c| {
                w.container_image(&c.name, c.init_container) == Some(c.current_image.as_str())
            })
        })
    }
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
            phase_counts: std::sync::Mutex::default(),
            verifier: None,
            git: None,
        }
    }

    /// The same upgrader, delivering the groups whose delivery is `git` to `repository`.
    pub fn with_git(mut self, repository: Arc<GitRepository>) -> Upgrader {
        self.git = Some(repository);
        self
    }

    /// How many ImageUpgrades each (namespace, phase) had when the last pass listed them
    /// (empty before the first pass): the `ml_operator_upgrades` gauge.
    pub fn phase_counts(&self) -> BTreeMap<(String, Phase), usize> {
        self.phase_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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

    /// The namespaces it works in (empty: all).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
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
        let mut counts = BTreeMap::new();
        for upgrade in &upgrades {
            *counts
                .entry((upgrade.namespace_or_default(), upgrade.phase()))
                .or_default() += 1;
        }
        *self
            .phase_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = counts;
        let mut context = StepContext {
            applying: upgrades
                .iter()
                .filter(|u| u.phase() == Phase::Applying)
                .count(),
            phases: BTreeMap::new(),
            applying_containers: BTreeMap::new(),
        };
        for upgrade in &upgrades {
            let namespace = upgrade.namespace_or_default();
            for target in &upgrade.spec.targets {
                context
                    .phases
                    .entry((namespace.clone(), target.name.clone()))
                    .or_default()
                    .push((upgrade.name(), upgrade.phase()));
            }
            if upgrade.phase() == Phase::Applying {
                for container in group::containers(upgrade) {
                    context
                        .applying_containers
                        .insert((namespace.clone(), container), upgrade.name());
                }
            }
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

    /// One step for one group: `Ok(Some(what))` when something was (or would be) changed.
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
        // Before anything is applied: a rejection, or workloads that all moved on, end it.
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
        if upgrade.spec.targets.is_empty() {
            let message = "spec.targets is empty: nothing to apply (a v1alpha1 ImageUpgrade, which named one container, or one written by hand); the next scan proposes the moves it finds as groups".to_string();
            return self
                .transition(upgrade, now, Phase::Superseded, message, |_| {})
                .await;
        }
        let members = self.members(upgrade).await?;
        if !members.iter().any(Member::unchanged) {
            let message = format!(
                "no workload of the group still runs the image it moves from ({}); a new proposal follows from the next scan",
                members
                    .iter()
                    .map(|m| format!("{} {}", m.target.kind, m.target.name))
                    .collect::<Vec<_>>()
                    .join(", ")
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
            Phase::Available => self.available(upgrade, &members, now).await,
            Phase::Approved => self.approved(upgrade, &members, now).await,
            _ => self.scheduled(upgrade, &members, now, context).await,
        }
    }

    /// Every target workload as it is now.
    pub(super) async fn members<'u>(
        &self,
        upgrade: &'u ImageUpgrade,
    ) -> Result<Vec<Member<'u>>, StepError> {
        let mut members = Vec::new();
        for target in &upgrade.spec.targets {
            let workload = self.read(upgrade, &target.kind, &target.name).await?;
            members.push(Member { target, workload });
        }
        Ok(members)
    }

    /// Available: approved by a person, by a policy, or announced and waiting.
    async fn available(
        &self,
        upgrade: &ImageUpgrade,
        members: &[Member<'_>],
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
        if let Some(rule) = self.policy_approval(upgrade, members) {
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
        if status.notified.iter().any(|n| n == "proposed") {
            return Ok(None);
        }
        let commands = Announcer::approve_commands(upgrade);
        let message = format!("waiting for approval: {}", commands[0]);
        if !self.settings.dry_run {
            let mut note = self.window_note(upgrade, members, now);
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

    /// The policy rule that approves the whole group: every workload's rule must approve its
    /// level (the most specific rule of each wins, as for a single workload). The rules, joined.
    fn policy_approval(&self, upgrade: &ImageUpgrade, members: &[Member<'_>]) -> Option<String> {
        let level = upgrade.spec.level.as_deref().and_then(|l| l.parse().ok());
        let mut rules: Vec<String> = Vec::new();
        for member in members {
            let Some(workload) = &member.workload else {
                continue;
            };
            match self.settings.policy.approves(
                &upgrade.namespace_or_default(),
                workload.setting("auto-approve"),
                level,
            ) {
                Ok(Some(rule)) => {
                    if !rules.contains(&rule) {
                        rules.push(rule);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(
                        "{}: {} {}: {e}; waiting for a person to approve",
                        upgrade.name(),
                        member.target.kind,
                        member.target.name
                    );
                    return None;
                }
            }
        }
        (!rules.is_empty()).then(|| rules.join(", "))
    }

    /// A line about the window a group would wait for, for the proposal message.
    fn window_note(
        &self,
        upgrade: &ImageUpgrade,
        members: &[Member<'_>],
        now: DateTime<Utc>,
    ) -> String {
        match self.choose_window(upgrade, members) {
            Ok(Choice::Anytime) => {
                "once approved, it is applied at once (no upgrade window configured)".into()
            }
            Ok(Choice::Window(window)) => {
                format!("once approved, it waits for {}", window.describe(now))
            }
            Err(e) => e.to_string(),
        }
    }

    /// The group's window: `spec.window`, else the one its workloads' `window` annotations
    /// name (they must agree), else the namespace's or the default.
    pub(super) fn choose_window(
        &self,
        upgrade: &ImageUpgrade,
        members: &[Member<'_>],
    ) -> Result<Choice<'_>, StepError> {
        let namespace = upgrade.namespace_or_default();
        if let Some(window) = upgrade.spec.window.as_deref() {
            return Ok(self.settings.windows.choose(&namespace, Some(window))?);
        }
        let mut asked: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for member in members {
            let Some(window) = member
                .workload
                .as_ref()
                .and_then(|w| w.setting("window"))
                .map(str::trim)
                .filter(|w| !w.is_empty())
            else {
                continue;
            };
            asked
                .entry(window.to_string())
                .or_default()
                .push(format!("{} {}", member.target.kind, member.target.name));
        }
        if asked.len() > 1 {
            return Err(ConflictingWindows {
                upgrade: upgrade.name(),
                windows: asked
                    .iter()
                    .map(|(window, by)| format!("{window} on {}", by.join(", ")))
                    .collect(),
            }
            .into());
        }
        let wanted = asked.keys().next().map(String::as_str);
        Ok(self.settings.windows.choose(&namespace, wanted)?)
    }

    /// The status of a window choice as of `now`.
    pub(super) fn window_status(choice: Choice<'_>, now: DateTime<Utc>) -> WindowStatus {
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
        members: &[Member<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let choice = self.choose_window(upgrade, members)?;
        let window = Upgrader::window_status(choice, now);
        let message = match choice {
            Choice::Anytime => {
                "scheduled: no window configured, applies as soon as a slot is free".to_string()
            }
            Choice::Window(w) => format!("scheduled: {}", w.describe(now)),
        };
        let done = self
            .transition(upgrade, now, Phase::Scheduled, message.clone(), |s| {
                s.window = Some(window)
            })
            .await?;
        if !self.settings.dry_run {
            let reply = super::announce::capitalized(&message);
            self.announcer.reply_in_thread(upgrade, &reply).await;
        }
        Ok(done)
    }

    /// Scheduled: start when the window is open, a slot is free, no other applying group
    /// changes the same containers, and dependencies are done.
    async fn scheduled(
        &self,
        upgrade: &ImageUpgrade,
        members: &[Member<'_>],
        now: DateTime<Utc>,
        context: &mut StepContext,
    ) -> Result<Option<String>, StepError> {
        let status = upgrade.status.clone().unwrap_or_default();
        let choice = self.choose_window(upgrade, members)?;
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
        if let Some(other) = group::containers(upgrade)
            .into_iter()
            .find_map(|c| context.applying_containers.get(&(namespace.clone(), c)))
        {
            tracing::debug!(
                "{}: waiting for {other}, which changes the same containers",
                upgrade.name()
            );
            return Ok(None);
        }
        let own: BTreeSet<&str> = upgrade
            .spec
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        for target in &upgrade.spec.targets {
            let Some(first) = self.settings.dependencies.get(&target.name) else {
                continue;
            };
            for dependency in first.iter().filter(|d| !own.contains(d.as_str())) {
                let pending = context
                    .phases
                    .get(&(namespace.clone(), dependency.clone()))
                    .is_some_and(|groups| {
                        groups.iter().any(|(name, p)| {
                            *name != upgrade.name()
                                && matches!(p, Phase::Approved | Phase::Scheduled | Phase::Applying)
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
        if let Some(verifier) = &self.verifier {
            let targets: BTreeSet<&str> = upgrade
                .spec
                .targets
                .iter()
                .flat_map(|t| &t.containers)
                .map(|c| c.target_image.as_str())
                .collect();
            for target in targets {
                if let Err(why) = verifier.verify(target).await {
                    let message = format!("not applied: {target}: {why}");
                    return self
                        .transition(upgrade, now, Phase::Failed, message, |_| {})
                        .await;
                }
            }
        }
        let delivery = self.delivery_of(upgrade, members)?;
        if delivery == Delivery::Git {
            return self.start_git(upgrade, choice, now, context).await;
        }
        if let Some(message) = self.gitops_managed(upgrade).await? {
            return self
                .transition(upgrade, now, Phase::Failed, message, |_| {})
                .await;
        }
        context.claim(upgrade);
        let window = Upgrader::window_status(choice, now);
        let pace = match self.settings.group_concurrency {
            1 => "one workload at a time".to_string(),
            n => format!("the first alone, then {n} at a time"),
        };
        let message = format!("applying {} ({pace})", upgrade.summary());
        let on_failure = self.settings.on_failure;
        let workloads = upgrade
            .spec
            .targets
            .iter()
            .map(|t| WorkloadRollout {
                kind: t.kind.clone(),
                name: t.name.clone(),
                state: WorkloadState::Pending,
                containers: Vec::new(),
                patched_at: None,
                generation: None,
                message: None,
            })
            .collect();
        let reply = format!("Window open: {message}");
        let done = self
            .transition(upgrade, now, Phase::Applying, message, |s| {
                s.window = Some(window);
                s.rollout = Some(GroupRollout {
                    started_at: now,
                    on_failure,
                    rollback_reason: None,
                    workloads,
                });
            })
            .await?;
        if !self.settings.dry_run {
            self.announcer.reply_in_thread(upgrade, &reply).await;
        }
        Ok(done)
    }

    /// A finished group: tell people once.
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
    pub(super) async fn transition(
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
                message: format!("proposed: {}", upgrade.summary()),
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

    /// How the group is delivered: its workloads' `delivery` annotation (they must agree),
    /// else the namespace's, else `upgrades.delivery`.
    pub(super) fn delivery_of(
        &self,
        upgrade: &ImageUpgrade,
        members: &[Member<'_>],
    ) -> Result<Delivery, InvalidDelivery> {
        let mut asked: BTreeMap<Delivery, Vec<String>> = BTreeMap::new();
        for member in members {
            let Some(text) = member
                .workload
                .as_ref()
                .and_then(|w| w.setting("delivery"))
                .map(str::trim)
                .filter(|d| !d.is_empty())
            else {
                continue;
            };
            let delivery = text.parse::<Delivery>().map_err(|_| InvalidDelivery {
                upgrade: upgrade.name(),
                problem: format!(
                    "say {text:?} on {} {}: use kubectl or git",
                    member.target.kind, member.target.name
                ),
            })?;
            asked
                .entry(delivery)
                .or_default()
                .push(format!("{} {}", member.target.kind, member.target.name));
        }
        if asked.len() > 1 {
            return Err(InvalidDelivery {
                upgrade: upgrade.name(),
                problem: format!(
                    "disagree ({}): give the workloads of one repository the same delivery",
                    asked
                        .iter()
                        .map(|(d, by)| format!("{d} on {}", by.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            });
        }
        if let Some(delivery) = asked.keys().next() {
            return Ok(*delivery);
        }
        Ok(self
            .settings
            .namespace_delivery
            .get(&upgrade.namespace_or_default())
            .copied()
            .unwrap_or(self.settings.delivery))
    }

    /// Why the group must not be patched when an Argo CD or Flux sync would put its
    /// workloads back (and it is not delivered with git): the first such workload, in words.
    async fn gitops_managed(&self, upgrade: &ImageUpgrade) -> Result<Option<String>, StepError> {
        for target in &upgrade.spec.targets {
            let Some(workload) = self.read(upgrade, &target.kind, &target.name).await? else {
                continue;
            };
            let metadata = workload.metadata();
            let labels = metadata.labels.clone().unwrap_or_default().into();
            let annotations = metadata.annotations.clone().unwrap_or_default().into();
            if let Some(mut by) = crate::inventory::managed::gitops(&labels, &annotations) {
                if let (Some(argocd), crate::inventory::Tool::Argocd) =
                    (&self.settings.argocd_applications, by.tool)
                {
                    let namespace = by.namespace.clone().unwrap_or(argocd.clone());
                    match crate::source::argocd::read_self_heal(&self.client, &namespace, &by.name)
                        .await
                    {
                        Ok(heal) => by.self_heal = heal,
                        Err(e) => tracing::warn!("{}: {e}", upgrade.name()),
                    }
                }
                return Ok(Some(format!(
                    "not applied: {} {} is managed by {}, whose sync reverts a kubectl patch; change the tag {} in git (`ml-operator check --values FILE` finds the key and edits it), or deliver it with git (upgrades.delivery: git, or the annotation ml-operator.mojaloop.io/delivery: git)",
                    target.kind,
                    target.name,
                    by.describe(),
                    upgrade.spec.target_tag
                )));
            }
        }
        Ok(None)
    }

    /// A workload of the group as it is now, `None` when it does not exist.
    pub(super) async fn read(
        &self,
        upgrade: &ImageUpgrade,
        kind: &str,
        name: &str,
    ) -> Result<Option<AppsWorkload>, StepError> {
        let workload = WorkloadName::new(kind, &upgrade.namespace_or_default(), name);
        match patch::read(&self.client, &workload).await {
            Ok(workload) => Ok(Some(workload)),
            Err(ApplyError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
