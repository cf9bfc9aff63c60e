//! Deciding what to tell each notifier: only what changed since it was last told, plus an
//! optional reminder — never the same news on every tick.
//!
//! In: a scan's report and failures ([`ScanResult`]) and what one notifier was last told
//! ([`Delivered`]). Out: the [`Notification`] to send, if any, and what it will have been told
//! once delivered. Pure: no I/O, no clock of its own.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ml_operator_notify::{Alert, AlertKind, Event, Notification, Update};

use crate::inventory::ImageRef;
use crate::notify::state::Delivered;
use crate::scan::{Report, Status};
use crate::tags::TagsUnknown;

/// Identifies one container of one workload: `(namespace, kind, name, container)`.
pub type ContainerKey = (String, String, String, String);

/// The key of an update.
pub fn key(update: &Update) -> ContainerKey {
    (
        update.namespace.clone(),
        update.kind.clone(),
        update.name.clone(),
        update.container.clone(),
    )
}

/// What a scan found, in the notifiers' terms.
pub struct ScanResult {
    /// Every container with an update available.
    pub updates: Vec<Update>,
    /// Containers whose repository could not be checked this time (registry down, …): what was
    /// pending for them stays pending rather than being announced as resolved.
    pub unchecked: BTreeSet<ContainerKey>,
    /// Repositories that could not be checked, each naming the repository and why.
    pub failures: Vec<TagsUnknown>,
    /// Containers whose running tag was overwritten or is gone (supply-chain alerts).
    pub alerts: Vec<Alert>,
}

/// The alert a finding raises, if its status is `tag-overwritten` or `tag-missing`.
pub fn alert(finding: &crate::scan::Finding) -> Option<Alert> {
    let alert = match finding.status {
        Status::TagOverwritten => AlertKind::TagOverwritten,
        Status::TagMissing => AlertKind::TagMissing,
        _ => return None,
    };
    Some(Alert {
        namespace: finding.namespace.clone(),
        kind: finding.kind.to_string(),
        name: finding.name.clone(),
        container: finding.container.clone(),
        init_container: finding.init_container,
        alert,
        image: finding.image.clone(),
        current_tag: finding.current_tag.clone().unwrap_or_default(),
        running_digest: finding.running_digest.as_deref().map(String::from),
        registry_digest: finding.registry_digest.as_deref().map(String::from),
        message: finding.reason.clone(),
    })
}

/// What makes two alerts the same news: the container, what is wrong, the image and the
/// registry's digest (a second re-push of the same tag is news again).
fn alert_key(alert: &Alert) -> (ContainerKey, AlertKind, String, Option<String>) {
    (
        (
            alert.namespace.clone(),
            alert.kind.clone(),
            alert.name.clone(),
            alert.container.clone(),
        ),
        alert.alert,
        alert.image.clone(),
        alert.registry_digest.clone(),
    )
}

impl ScanResult {
    /// From a scan report and the repositories the tag source failed on.
    pub fn from_report(report: &Report, failures: Vec<TagsUnknown>) -> ScanResult {
        let updates = report
            .findings
            .iter()
            .filter(|f| f.status == Status::UpdateAvailable)
            .filter_map(|f| {
                Some(Update {
                    namespace: f.namespace.clone(),
                    kind: f.kind.to_string(),
                    name: f.name.clone(),
                    container: f.container.clone(),
                    init_container: f.init_container,
                    image: f.image.clone(),
                    repository: f.repository.clone(),
                    current_tag: f.current_tag.clone()?,
                    latest_tag: f.latest_tag.clone()?,
                    latest_image: f.latest_image.clone()?,
                    strategy: f.strategy.to_string(),
                    reason: f.reason.clone(),
                    command: f.command.as_deref().map(str::to_string),
                    helm_release: f.helm_release.clone(),
                    in_git: f.managed_by.as_ref().and_then(|by| {
                        by.change_in_git(f.helm.as_ref().and_then(|h| h.values_path.as_deref()))
                    }),
                })
            })
            .collect();
        let failed_repositories: BTreeSet<&str> =
            failures.iter().map(|f| f.repository.as_str()).collect();
        let unchecked = report
            .findings
            .iter()
            .filter(|f| f.status == Status::Unresolved)
            .filter(|f| {
                ImageRef::parse(&f.image).is_ok_and(|image| {
                    failed_repositories.contains(image.canonical_name().as_str())
                })
            })
            .map(|f| {
                (
                    f.namespace.clone(),
                    f.kind.to_string(),
                    f.name.clone(),
                    f.container.clone(),
                )
            })
            .collect();
        ScanResult {
            updates,
            unchecked,
            failures,
            alerts: report.findings.iter().filter_map(alert).collect(),
        }
    }
}

/// What to send one notifier now, if anything, and what it will then have been told.
pub fn plan(
    previous: &Delivered,
    scan: &ScanResult,
    reminder_interval: Option<Duration>,
    cluster: Option<&str>,
    now: DateTime<Utc>,
) -> Option<(Notification, Delivered)> {
    // Same container, same target: keep the update as it was told, so a changed reason text
    // (a new tag outside the strategy) is not news.
    let mut current: Vec<Update> = scan
        .updates
        .iter()
        .map(|update| {
            previous
                .updates
                .iter()
                .find(|old| key(old) == key(update) && old.latest_image == update.latest_image)
                .unwrap_or(update)
                .clone()
        })
        .collect();
    // Pending updates of containers that could not be checked stay pending.
    let current_keys: BTreeSet<ContainerKey> = current.iter().map(key).collect();
    current.extend(
        previous
            .updates
            .iter()
            .filter(|old| scan.unchecked.contains(&key(old)) && !current_keys.contains(&key(old)))
            .cloned(),
    );
    current.sort();
    current.dedup();

    let targets = |updates: &[Update]| -> BTreeSet<(ContainerKey, String)> {
        updates
            .iter()
            .map(|u| (key(u), u.latest_image.clone()))
            .collect()
    };
    // Alerts: told once, when they first stand; those of unchecked containers stay.
    let told: BTreeSet<_> = previous.alerts.iter().map(alert_key).collect();
    let mut alerts: Vec<Alert> = scan.alerts.clone();
    alerts.extend(
        previous
            .alerts
            .iter()
            .filter(|old| {
                scan.unchecked.contains(&alert_key(old).0)
                    && !scan
                        .alerts
                        .iter()
                        .any(|a| alert_key(a).0 == alert_key(old).0)
            })
            .cloned(),
    );
    alerts.sort();
    alerts.dedup();
    let standing: BTreeSet<_> = alerts.iter().map(alert_key).collect();
    let new_alerts: Vec<Alert> = alerts
        .iter()
        .filter(|a| !told.contains(&alert_key(a)))
        .cloned()
        .collect();
    let resolved_alerts: Vec<Alert> = previous
        .alerts
        .iter()
        .filter(|a| !standing.contains(&alert_key(a)))
        .cloned()
        .collect();

    let changed = targets(&current) != targets(&previous.updates)
        || !new_alerts.is_empty()
        || !resolved_alerts.is_empty();
    let first_and_empty = previous.at.is_none() && current.is_empty() && alerts.is_empty();
    let event = if changed && !first_and_empty {
        Event::Changed
    } else {
        let due = match (reminder_interval, previous.at) {
            (Some(interval), Some(at)) => {
                !(current.is_empty() && alerts.is_empty())
                    && now
                        .signed_duration_since(at)
                        .to_std()
                        .is_ok_and(|since| since >= interval)
            }
            _ => false,
        };
        if !due {
            return None;
        }
        Event::Reminder
    };
    let told_now = match event {
        Event::Reminder => alerts.clone(),
        Event::Changed => new_alerts,
    };
    let notification = Notification::diff(
        event,
        cluster.map(str::to_string),
        &previous.updates,
        &current,
        scan.failures
            .iter()
            .map(|f| format!("{}: {}", f.repository, f.reason))
            .collect(),
    )
    .with_alerts(told_now, resolved_alerts);
    Some((
        notification,
        Delivered {
            updates: current,
            alerts,
            at: Some(now),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, latest: &str) -> Update {
        Update {
            namespace: "mojaloop".into(),
            kind: "Deployment".into(),
            name: name.into(),
            container: name.into(),
            init_container: false,
            image: format!("mojaloop/{name}:v1.0.0"),
            repository: format!("mojaloop/{name}"),
            current_tag: "v1.0.0".into(),
            latest_tag: latest.into(),
            latest_image: format!("mojaloop/{name}:{latest}"),
            strategy: "bugfix".into(),
            reason: format!("{latest} is the newest"),
            command: None,
            helm_release: None,
            in_git: None,
        }
    }

    fn scan(updates: Vec<Update>) -> ScanResult {
        ScanResult {
            updates,
            unchecked: BTreeSet::new(),
            failures: Vec::new(),
            alerts: Vec::new(),
        }
    }

    fn overwritten(name: &str, registry: &str) -> Alert {
        Alert {
            namespace: "mojaloop".into(),
            kind: "Deployment".into(),
            name: name.into(),
            container: name.into(),
            init_container: false,
            alert: AlertKind::TagOverwritten,
            image: format!("mojaloop/{name}:v1.0.0"),
            current_tag: "v1.0.0".into(),
            running_digest: Some("sha256:a".into()),
            registry_digest: Some(registry.into()),
            message: "the tag v1.0.0 was overwritten".into(),
        }
    }

    #[test]
    fn alerts_are_told_once_and_again_only_when_they_change() {
        let with = |alerts: Vec<Alert>| ScanResult {
            alerts,
            ..scan(vec![update("a", "v1.0.1")])
        };
        let (first, delivered) = plan(
            &Delivered::default(),
            &with(vec![overwritten("a", "sha256:b")]),
            None,
            None,
            at(0),
        )
        .unwrap();
        assert_eq!(first.alerts.len(), 1);
        // The same alert on the next scans: nothing new.
        assert!(
            plan(
                &delivered,
                &with(vec![overwritten("a", "sha256:b")]),
                None,
                None,
                at(60)
            )
            .is_none()
        );
        // An update changes: the notification does not repeat the alert.
        let mut next = with(vec![overwritten("a", "sha256:b")]);
        next.updates = vec![update("a", "v1.0.2")];
        let (second, delivered) = plan(&delivered, &next, None, None, at(120)).unwrap();
        assert!(second.alerts.is_empty());
        // Re-pushed again: news.
        let (third, delivered) = plan(
            &delivered,
            &ScanResult {
                updates: vec![update("a", "v1.0.2")],
                ..with(vec![overwritten("a", "sha256:c")])
            },
            None,
            None,
            at(180),
        )
        .unwrap();
        assert_eq!(third.alerts[0].registry_digest.as_deref(), Some("sha256:c"));
        assert_eq!(third.resolved_alerts.len(), 1);
        assert_eq!(delivered.alerts.len(), 1);
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn tells_once_then_only_changes() {
        let first = plan(
            &Delivered::default(),
            &scan(vec![update("a", "v1.0.1")]),
            None,
            None,
            at(0),
        );
        let (notification, delivered) = first.expect("new findings are news");
        assert_eq!(notification.event, Event::Changed);
        assert_eq!(notification.added.len(), 1);

        // Same finding, even with another reason text: nothing to say.
        let mut same = update("a", "v1.0.1");
        same.reason = "v1.0.1 is the newest; 1 newer tag is outside bugfix".into();
        assert!(plan(&delivered, &scan(vec![same]), None, None, at(60)).is_none());

        // A newer patch: news, with the old one resolved.
        let (notification, delivered) = plan(
            &delivered,
            &scan(vec![update("a", "v1.0.2")]),
            None,
            None,
            at(120),
        )
        .unwrap();
        assert_eq!(notification.added[0].latest_tag, "v1.0.2");
        assert_eq!(notification.resolved[0].latest_tag, "v1.0.1");

        // Upgraded: news that everything is up to date.
        let (notification, delivered) =
            plan(&delivered, &scan(vec![]), None, None, at(180)).unwrap();
        assert!(notification.updates.is_empty());
        assert_eq!(notification.resolved.len(), 1);
        assert!(plan(&delivered, &scan(vec![]), None, None, at(240)).is_none());
    }

    #[test]
    fn nothing_to_say_on_a_clean_first_scan() {
        assert!(plan(&Delivered::default(), &scan(vec![]), None, None, at(0)).is_none());
    }

    #[test]
    fn reminders_only_when_due_and_pending() {
        let reminder = Some(Duration::from_secs(3600));
        let (_, delivered) = plan(
            &Delivered::default(),
            &scan(vec![update("a", "v1.0.1")]),
            reminder,
            None,
            at(0),
        )
        .unwrap();
        assert!(
            plan(
                &delivered,
                &scan(vec![update("a", "v1.0.1")]),
                reminder,
                None,
                at(3599)
            )
            .is_none()
        );
        let (notification, _) = plan(
            &delivered,
            &scan(vec![update("a", "v1.0.1")]),
            reminder,
            None,
            at(3600),
        )
        .unwrap();
        assert_eq!(notification.event, Event::Reminder);
        assert!(notification.added.is_empty());
    }

    #[test]
    fn an_outage_does_not_resolve_pending_updates() {
        let (_, delivered) = plan(
            &Delivered::default(),
            &scan(vec![update("a", "v1.0.1")]),
            None,
            None,
            at(0),
        )
        .unwrap();
        let outage = ScanResult {
            updates: vec![],
            unchecked: [key(&update("a", "v1.0.1"))].into(),
            failures: vec![TagsUnknown {
                repository: "docker.io/mojaloop/a".into(),
                reason: "registry unreachable".into(),
            }],
            alerts: Vec::new(),
        };
        assert!(plan(&delivered, &outage, None, None, at(60)).is_none());
    }
}
