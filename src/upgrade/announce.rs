//! Telling people what happened to an upgrade group: one message through every configured
//! notifier (Slack, Teams, webhooks) naming the group, each workload's containers and result,
//! and the rollback if any; a Kubernetes Event on each workload; and, for a group decided in
//! Slack, a reply in the proposal message's thread ([`super::thread`], with the bot token) when
//! it is scheduled for its window, starts applying, and ends (applied, rolled back, failed).
//!
//! In: an ImageUpgrade, what happened to it ([`UpgradeEvent`]) and a message. Out: an
//! [`UpgradeNotice`] to each notifier, the Events and the thread reply; delivery failures are
//! logged, never returned.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use ml_operator_notify::slack_app::web::SlackWeb;
use ml_operator_notify::{ContainerChange, Notifier, UpgradeEvent, UpgradeNotice, UpgradeWorkload};

use super::ballot::Ballot;
use super::crd::{API_VERSION, ImageUpgrade, WorkloadState};
use super::thread::SlackThread;
use crate::inventory::WorkloadKind;

/// Where upgrade news goes.
#[derive(Clone, Default)]
pub struct Announcer {
    notifiers: Vec<Arc<dyn Notifier>>,
    events: Option<Recorder>,
    cluster: Option<String>,
    decisions: bool,
    thread: Option<SlackWeb>,
}

impl Announcer {
    /// Sends through `notifiers`, and records Events when `client` is given (as `instance`).
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>, client: Option<(Client, String)>) -> Announcer {
        let events = client.map(|(client, instance)| {
            Recorder::new(
                client,
                Reporter {
                    controller: "ml-operator".into(),
                    instance: Some(instance),
                },
            )
        });
        Announcer {
            notifiers,
            events,
            cluster: None,
            decisions: false,
            thread: None,
        }
    }

    /// Replies in the thread of the Slack message a group was decided on, through `web`
    /// (only when it has the bot token: `chat.postMessage` needs it).
    pub fn with_slack_threads(mut self, web: Option<SlackWeb>) -> Announcer {
        self.thread = web.filter(SlackWeb::has_bot_token);
        self
    }

    /// Posts `text` in the thread of the Slack message `upgrade` was decided on, if it was
    /// decided in Slack (for its current proposal) and the bot token is configured. Failures
    /// are logged.
    pub async fn reply_in_thread(&self, upgrade: &ImageUpgrade, text: &str) {
        let (Some(web), Some(thread)) = (&self.thread, SlackThread::of(upgrade)) else {
            return;
        };
        if let Err(e) = web.post_in_thread(&thread.channel, &thread.ts, text).await {
            tracing::warn!(
                "slack: replying in the thread of {}'s proposal: {e}",
                upgrade.name()
            );
        }
    }

    /// Proposals carry Approve / Reject buttons (Slack), bound to their [`Ballot`]: on when
    /// people can approve from Slack.
    pub fn with_decisions(mut self, on: bool) -> Announcer {
        self.decisions = on;
        self
    }

    /// The commands that approve `upgrade`, as messages and status show them, each word
    /// quoted for a POSIX shell ([`crate::inventory::shell::join`]).
    pub fn approve_commands(upgrade: &ImageUpgrade) -> Vec<String> {
        let (name, namespace) = (upgrade.name(), upgrade.namespace_or_default());
        vec![
            crate::inventory::shell::join(["ml-operator", "approve", &name, "-n", &namespace]),
            crate::inventory::shell::join([
                "kubectl",
                "patch",
                "imageupgrade",
                &name,
                "-n",
                &namespace,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"approved":true}}"#,
            ]),
        ]
    }

    /// The notice for `upgrade`: its targets, and each one's result once it was applied.
    pub fn notice(
        &self,
        upgrade: &ImageUpgrade,
        event: UpgradeEvent,
        message: &str,
    ) -> UpgradeNotice {
        let rollout = upgrade.status.as_ref().and_then(|s| s.rollout.as_ref());
        let workloads = upgrade
            .spec
            .targets
            .iter()
            .map(|t| {
                let done = rollout.and_then(|r| {
                    r.workloads
                        .iter()
                        .find(|w| w.kind == t.kind && w.name == t.name)
                });
                UpgradeWorkload {
                    kind: t.kind.clone(),
                    name: t.name.clone(),
                    containers: t
                        .containers
                        .iter()
                        .map(|c| ContainerChange {
                            name: c.name.clone(),
                            init_container: c.init_container,
                            from_image: c.current_image.clone(),
                            to_image: c.target_image.clone(),
                        })
                        .collect(),
                    result: done.map(|w| w.state.to_string()),
                    detail: done
                        .filter(|w| {
                            !matches!(
                                w.state,
                                WorkloadState::Succeeded | WorkloadState::RolledBack
                            )
                        })
                        .and_then(|w| w.message.clone()),
                }
            })
            .collect();
        UpgradeNotice {
            event,
            cluster: self.cluster.clone(),
            upgrade: upgrade.name(),
            namespace: upgrade.namespace_or_default(),
            repository: upgrade.spec.repository.clone(),
            from_tags: upgrade.from_tags(),
            target_tag: upgrade.spec.target_tag.clone(),
            workloads,
            rollback: rollout.and_then(|r| r.rollback_reason.clone()),
            message: message.to_string(),
            approve_commands: if event == UpgradeEvent::Proposed {
                Announcer::approve_commands(upgrade)
            } else {
                vec![]
            },
            decision: (self.decisions && event == UpgradeEvent::Proposed)
                .then(|| Ballot::of(upgrade).map(|b| b.encode()))
                .flatten(),
        }
    }

    /// Sends the news everywhere. Delivery failures are logged, not returned: a lost message
    /// must not stop an upgrade (or a rollback).
    pub async fn announce(&self, upgrade: &ImageUpgrade, event: UpgradeEvent, message: &str) {
        let notice = self.notice(upgrade, event, message);
        tracing::info!("{}: {}", upgrade.name(), notice.headline());
        if event != UpgradeEvent::Proposed {
            let mut reply = capitalized(&notice.headline());
            if let Some(reason) = &notice.rollback {
                reply.push_str(&format!(": {reason}"));
            } else if !message.is_empty() {
                reply.push_str(&format!(": {message}"));
            }
            self.reply_in_thread(upgrade, &reply).await;
        }
        for notifier in &self.notifiers {
            if let Err(e) = notifier.notify_upgrade(&notice).await {
                tracing::error!(
                    "notifying {} of {} for {}: {e}",
                    notifier.name(),
                    event.as_str(),
                    upgrade.name()
                );
            }
        }
        let Some(recorder) = &self.events else {
            return;
        };
        let secondary = ObjectReference {
            api_version: Some(API_VERSION.into()),
            kind: Some("ImageUpgrade".into()),
            name: Some(notice.upgrade.clone()),
            namespace: Some(notice.namespace.clone()),
            uid: upgrade.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        for workload in &notice.workloads {
            let Some((type_, reason)) = event_reason(event, workload.result.as_deref()) else {
                continue;
            };
            let reference = ObjectReference {
                api_version: WorkloadKind::from_kind(&workload.kind).map(WorkloadKind::api_version),
                kind: Some(workload.kind.clone()),
                name: Some(workload.name.clone()),
                namespace: Some(notice.namespace.clone()),
                ..ObjectReference::default()
            };
            let containers: Vec<String> = workload
                .containers
                .iter()
                .map(|c| format!("{} {} → {}", c.name, c.from_image, c.to_image))
                .collect();
            let mut note = format!(
                "{} ({}): {}",
                notice.summary(),
                notice.upgrade,
                containers.join(", ")
            );
            if let Some(detail) = &workload.detail {
                note.push_str(&format!(": {detail}"));
            } else if !message.is_empty() {
                note.push_str(&format!(": {message}"));
            }
            // The API caps an Event note at 1 kB.
            let note: String = note.chars().take(1000).collect();
            let event = Event {
                type_,
                reason: reason.into(),
                note: Some(note),
                action: "Upgrade".into(),
                secondary: Some(secondary.clone()),
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::error!(
                    "event {reason} on {} {}/{}: {e}",
                    workload.kind,
                    notice.namespace,
                    workload.name
                );
            }
        }
    }
}

/// `text` with its first letter upper case (a thread reply starts a sentence).
pub(super) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The Event for one workload of a group's news: proposals go on every workload; outcomes on
/// each workload by its own result (untouched workloads get none).
fn event_reason(event: UpgradeEvent, result: Option<&str>) -> Option<(EventType, &'static str)> {
    if event == UpgradeEvent::Proposed {
        return Some((EventType::Normal, "UpgradeProposed"));
    }
    let state = result?;
    if state == WorkloadState::Succeeded.to_string() {
        Some((EventType::Normal, "UpgradeSucceeded"))
    } else if state == WorkloadState::RolledBack.to_string() {
        Some((EventType::Warning, "UpgradeRolledBack"))
    } else if state == WorkloadState::Failed.to_string() {
        Some((EventType::Warning, "UpgradeFailed"))
    } else {
        None
    }
}
