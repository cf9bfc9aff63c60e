//! From a scan's findings to upgrade groups: one ImageUpgrade per (namespace, repository,
//! target tag), covering every workload and container in that namespace that runs the
//! repository at an older tag the strategy moves to that target (each keeps its own current
//! tag). The migration init container on the app's image is a container of the group like the
//! app, so both move in the same patch.
//!
//! In: a [`Report`]. Out: the proposed [`ImageUpgrade`]s, named as if no other object existed
//! ([`mod@super::propose`] resolves names against the cluster). Pure.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use ml_operator_version::Strategy;

use super::crd::{ContainerTarget, ImageUpgrade, ImageUpgradeSpec, SEVERAL, Target};
use super::names;
use super::policy::change_level;
use super::workload::upgradable;
use crate::scan::{Finding, Report};

/// What makes a group: `(namespace, repository, target tag)`.
pub type GroupKey = (String, String, String);

/// The key of an ImageUpgrade (v1alpha2 objects; a v1alpha1 one has an empty repository).
pub fn key(upgrade: &ImageUpgrade) -> GroupKey {
    (
        upgrade.namespace_or_default(),
        upgrade.spec.repository.clone(),
        upgrade.spec.target_tag.clone(),
    )
}

/// One container a group moves, with the workload it belongs to: `(kind, workload, container,
/// initContainer)`. Two groups touching the same one compete for it.
pub type ContainerKey = (String, String, String, bool);

/// Every container an upgrade's spec targets.
pub fn containers(upgrade: &ImageUpgrade) -> Vec<ContainerKey> {
    upgrade
        .spec
        .targets
        .iter()
        .flat_map(|t| {
            t.containers.iter().map(|c| {
                (
                    t.kind.clone(),
                    t.name.clone(),
                    c.name.clone(),
                    c.init_container,
                )
            })
        })
        .collect()
}

/// The findings an operator can apply: updates of Deployments, StatefulSets and DaemonSets
/// with a current and a target tag.
fn applicable(finding: &Finding) -> bool {
    finding.proposable()
        && upgradable(finding.kind).is_some()
        && finding.current_tag.is_some()
        && finding.latest_tag.is_some()
        && finding.latest_image.is_some()
}

/// The groups a scan's report calls for, sorted by namespace, repository and tag, their targets
/// by workload name (the first is the canary). Named by [`names::group_name`]; when two groups
/// of one namespace would share a name, a Docker Hub repository keeps the plain name and the
/// others get a hash suffix.
pub fn groups(report: &Report) -> Vec<ImageUpgrade> {
    let mut by_key: BTreeMap<GroupKey, Vec<&Finding>> = BTreeMap::new();
    for finding in report.findings.iter().filter(|f| applicable(f)) {
        let key = (
            finding.namespace.clone(),
            finding.repository.clone(),
            finding.latest_tag.clone().unwrap_or_default(),
        );
        by_key.entry(key).or_default().push(finding);
    }
    let mut groups: Vec<ImageUpgrade> = by_key
        .iter()
        .map(|(key, findings)| group(key, findings))
        .collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| {
        let (namespace, repository, tag) = key(&groups[i]);
        (namespace, has_registry_host(&repository), repository, tag)
    });
    let mut taken: Vec<(String, String)> = Vec::new();
    for i in order {
        let (namespace, repository, tag) = key(&groups[i]);
        let plain = names::group_name(&repository, &tag);
        let name = if taken.contains(&(namespace.clone(), plain.clone())) {
            names::suffixed(&plain, &format!("{repository}:{tag}"))
        } else {
            plain
        };
        taken.push((namespace, name.clone()));
        groups[i].metadata.name = Some(name);
    }
    groups
}

/// Whether a repository as people name it starts with a registry host (`ghcr.io/…`), i.e. is
/// not on Docker Hub.
pub fn has_registry_host(repository: &str) -> bool {
    repository
        .split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost")
}

/// The group for `key` from its findings (all applicable, all with that key).
fn group(key: &GroupKey, findings: &[&Finding]) -> ImageUpgrade {
    let (namespace, repository, target_tag) = key.clone();
    let mut targets: BTreeMap<(String, &str), Target> = BTreeMap::new();
    for finding in findings {
        let target = targets
            .entry((finding.name.clone(), finding.kind))
            .or_insert_with(|| Target {
                kind: finding.kind.to_string(),
                name: finding.name.clone(),
                containers: Vec::new(),
            });
        target.containers.push(ContainerTarget {
            name: finding.container.clone(),
            init_container: finding.init_container,
            current_image: finding.image.clone(),
            target_image: finding.latest_image.clone().unwrap_or_default(),
            values_path: finding.helm.as_ref().and_then(|h| h.values_path.clone()),
        });
    }
    let targets: Vec<Target> = targets.into_values().collect();
    let current_tags = distinct(findings.iter().filter_map(|f| f.current_tag.clone()));
    let levels: Option<Vec<Strategy>> = findings
        .iter()
        .map(|f| change_level(f.current_tag.as_deref()?, &target_tag))
        .collect();
    ImageUpgrade {
        metadata: ObjectMeta {
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        spec: ImageUpgradeSpec {
            repository,
            current_tag: match current_tags.as_slice() {
                [one] => one.clone(),
                _ => SEVERAL.to_string(),
            },
            workload_count: targets.len(),
            targets,
            level: levels
                .and_then(|levels| levels.into_iter().max())
                .map(|level| level.as_str().to_string()),
            strategy: distinct(findings.iter().map(|f| f.strategy.as_str().to_string())).join(","),
            reason: distinct(findings.iter().map(|f| f.reason.clone())).join("; "),
            target_tag,
            approved: false,
            approved_by: None,
            approvals: vec![],
            rejected: false,
            rejected_by: None,
            window: None,
        },
        status: None,
    }
}

/// The distinct values, in order of first appearance.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Workload;
    use crate::scan::{ScanOptions, scan};
    use crate::tags::index::TagIndex;
    use serde_json::json;

    fn deployment(name: &str, containers: serde_json::Value, init: serde_json::Value) -> Workload {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "mojaloop"},
            "spec": {"template": {"spec": {"containers": containers, "initContainers": init}}}});
        Workload::from_object(&object, "mojaloop").unwrap().unwrap()
    }

    fn hub() -> Vec<Workload> {
        let ledger = |tag: &str| format!("mojaloop/central-ledger:{tag}");
        vec![
            deployment(
                "ledger-service",
                json!([{"name": "app", "image": ledger("v19.8.3")}, {"name": "event-sidecar", "image": "mojaloop/event-sidecar:v14.2.0"}]),
                json!([{"name": "run-migration", "image": ledger("v19.8.3")}]),
            ),
            deployment(
                "ledger-handler",
                json!([{"name": "app", "image": format!("docker.io/{}", ledger("v19.8.5"))}]),
                json!([]),
            ),
            deployment(
                "ledger-new",
                json!([{"name": "app", "image": ledger("v19.9.0")}]),
                json!([]),
            ),
        ]
    }

    fn report() -> Report {
        let tags = TagIndex::from_json(
            &json!({"mojaloop/central-ledger": ["v19.8.3", "v19.8.5", "v19.8.9", "v19.9.0", "v19.9.2"],
                    "mojaloop/event-sidecar": ["v14.2.0", "v14.2.3"]})
            .to_string(),
        )
        .unwrap();
        scan(&hub(), &tags, ScanOptions::default())
    }

    #[test]
    fn one_group_per_namespace_repository_and_target() {
        let groups = groups(&report());
        let names: Vec<String> = groups.iter().map(ImageUpgrade::name).collect();
        assert_eq!(
            names,
            [
                "central-ledger-v19.8.9",
                "central-ledger-v19.9.2",
                "event-sidecar-v14.2.3"
            ]
        );
        let ledger = &groups[0];
        assert_eq!(ledger.spec.repository, "mojaloop/central-ledger");
        assert_eq!(ledger.spec.current_tag, SEVERAL, "v19.8.3 and v19.8.5");
        assert_eq!(ledger.spec.workload_count, 2);
        assert_eq!(ledger.spec.level.as_deref(), Some("bugfix"));
        assert_eq!(
            ledger.summary(),
            "mojaloop/central-ledger v19.8.5, v19.8.3 → v19.8.9: 2 workloads in mojaloop"
        );
        // Sorted by workload; the app and its migration together, each keeping its spelling.
        let handler = &ledger.spec.targets[0];
        assert_eq!(handler.name, "ledger-handler");
        assert_eq!(
            handler.containers[0].target_image,
            "docker.io/mojaloop/central-ledger:v19.8.9"
        );
        let service = &ledger.spec.targets[1];
        let containers: Vec<(&str, bool)> = service
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.init_container))
            .collect();
        assert_eq!(containers, [("app", false), ("run-migration", true)]);
        assert!(
            service
                .containers
                .iter()
                .all(|c| c.target_image == "mojaloop/central-ledger:v19.8.9")
        );
        // The sidecar is its own group: another repository.
        assert_eq!(groups[2].spec.targets.len(), 1);
        assert_eq!(groups[2].spec.current_tag, "v14.2.0");
        assert_eq!(
            containers_of(&groups[2]),
            [(
                "Deployment".to_string(),
                "ledger-service".to_string(),
                "event-sidecar".to_string(),
                false
            )]
        );
    }

    fn containers_of(upgrade: &ImageUpgrade) -> Vec<ContainerKey> {
        containers(upgrade)
    }

    #[test]
    fn names_that_collide_in_a_namespace_get_a_suffix() {
        let mut report = report();
        let mut other = report.findings[0].clone();
        other.repository = "ghcr.io/fork/central-ledger".into();
        other.name = "fork".into();
        other.image = "ghcr.io/fork/central-ledger:v19.8.3".into();
        other.latest_image = Some("ghcr.io/fork/central-ledger:v19.8.9".into());
        report.findings.push(other);
        let names: Vec<String> = groups(&report).iter().map(ImageUpgrade::name).collect();
        assert_eq!(
            names[1], "central-ledger-v19.8.9",
            "the first keeps the plain name"
        );
        assert!(names[0].starts_with("central-ledger-v19.8.9-"), "{names:?}");
    }
}
