//! From scan findings to ImageUpgrade objects: one per (workload, container, target image),
//! created when a scan finds the update, and older pending ones for the same container marked
//! `Superseded` (their approval does not carry over to the new target).
//!
//! In: a scan's [`Report`] and the ImageUpgrades already there. Out: the objects created, renewed
//! and superseded ([`Proposals`]), or a [`ProposeError`] naming the object.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use super::crd::{
    CONTAINER_LABEL, HistoryEntry, ImageUpgrade, ImageUpgradeSpec, ImageUpgradeStatus, Phase,
    Target, WORKLOAD_LABEL,
};
use super::list::{ListError, list};
use super::policy::change_level;
use super::workload::upgradable;
use crate::scan::{Finding, Report};

/// Longest ImageUpgrade name we make (a label value's limit, so names fit everywhere).
const MAX_NAME: usize = 63;

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

/// The deterministic, DNS-safe name of an upgrade: `<workload>-<container>-<tag>`, lowercased,
/// other characters replaced by `-`; longer than 63 characters, cut and suffixed with a hash
/// of the full text so different upgrades never share a name.
pub fn upgrade_name(workload: &str, container: &str, tag: &str) -> String {
    let full = format!("{workload}-{container}-{tag}");
    let mut name: String = full
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    if name.len() > MAX_NAME || name != full.to_ascii_lowercase() {
        // Also hash when characters were replaced, so `a_b` and `a-b` stay distinct.
        let hash = fnv1a(full.as_bytes());
        name.truncate(MAX_NAME - 9);
        name = format!("{}-{hash:08x}", name.trim_end_matches(['-', '.']));
    }
    let name = name.trim_matches(['-', '.']).to_string();
    if name.is_empty() {
        format!("upgrade-{:08x}", fnv1a(full.as_bytes()))
    } else {
        name
    }
}

/// 32-bit FNV-1a: stable across versions and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The ImageUpgrade a finding calls for, if it is an update the operator can apply.
pub fn proposal(finding: &Finding) -> Option<ImageUpgrade> {
    if !finding.proposable() || upgradable(finding.kind).is_none() {
        return None;
    }
    let (current_tag, target_tag, target_image) = (
        finding.current_tag.clone()?,
        finding.latest_tag.clone()?,
        finding.latest_image.clone()?,
    );
    let name = upgrade_name(&finding.name, &finding.container, &target_tag);
    let labels = BTreeMap::from([
        (WORKLOAD_LABEL.to_string(), label_value(&finding.name)),
        (CONTAINER_LABEL.to_string(), label_value(&finding.container)),
    ]);
    Some(ImageUpgrade {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(finding.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: ImageUpgradeSpec {
            target: Target {
                kind: finding.kind.to_string(),
                name: finding.name.clone(),
                container: finding.container.clone(),
                init_container: finding.init_container,
            },
            current_image: finding.image.clone(),
            target_image,
            level: change_level(&current_tag, &target_tag).map(|l| l.as_str().to_string()),
            current_tag,
            target_tag,
            strategy: finding.strategy.as_str().to_string(),
            reason: finding.reason.clone(),
            approved: false,
            approved_by: None,
            rejected: false,
            rejected_by: None,
            window: None,
        },
        status: None,
    })
}

fn label_value(text: &str) -> String {
    if text.len() <= MAX_NAME {
        text.to_string()
    } else {
        format!("{:08x}", fnv1a(text.as_bytes()))
    }
}

/// What [`propose`] did (or would do, in a dry run).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Proposals {
    /// `namespace/name` of the ImageUpgrades created.
    pub created: Vec<String>,
    /// `namespace/name` of those proposed again because the workload's image changed.
    pub renewed: Vec<String>,
    /// `namespace/name` of those marked Superseded.
    pub superseded: Vec<String>,
}

fn same_container(a: &ImageUpgrade, b: &ImageUpgrade) -> bool {
    a.namespace_or_default() == b.namespace_or_default()
        && a.spec.target.kind == b.spec.target.kind
        && a.spec.target.name == b.spec.target.name
        && a.spec.target.container == b.spec.target.container
        && a.spec.target.init_container == b.spec.target.init_container
}

/// Creates the ImageUpgrades a scan's report calls for and supersedes older pending ones.
/// `namespaces` limits where existing objects are listed (empty: all). With `dry_run`, only
/// reports what it would do.
pub async fn propose(
    client: &Client,
    report: &Report,
    namespaces: &[String],
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Proposals, ProposeError> {
    let proposals: Vec<ImageUpgrade> = report.findings.iter().filter_map(proposal).collect();
    let existing = list(client, namespaces).await?;
    let mut done = Proposals::default();
    let params = if dry_run {
        PostParams {
            dry_run: true,
            ..PostParams::default()
        }
    } else {
        PostParams::default()
    };
    for proposal in &proposals {
        let (namespace, name) = (proposal.namespace_or_default(), proposal.name());
        let api: Api<ImageUpgrade> = Api::namespaced(client.clone(), &namespace);
        let id = format!("{namespace}/{name}");
        match existing
            .iter()
            .find(|u| u.namespace_or_default() == namespace && u.name() == name)
        {
            None => {
                match api.create(&params, proposal).await {
                    Ok(_) => done.created.push(id),
                    // Created meanwhile (another replica, a retry): fine.
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => {
                        return Err(ProposeError {
                            action: "creating",
                            namespace,
                            name,
                            source,
                        });
                    }
                }
            }
            Some(old)
                if old.spec.current_image != proposal.spec.current_image
                    && matches!(old.phase(), Phase::Superseded | Phase::Failed) =>
            {
                // The same target again, from a different image (e.g. after another upgrade):
                // a new proposal under the same name; the old approval does not carry over.
                if !dry_run {
                    renew(&api, old, proposal, now).await?;
                }
                done.renewed.push(id);
            }
            Some(_) => {}
        }
    }
    // Older pending proposals for a container that now has a different target.
    for old in &existing {
        if !matches!(
            old.phase(),
            Phase::Available | Phase::Approved | Phase::Scheduled
        ) {
            continue;
        }
        let Some(newer) = proposals
            .iter()
            .find(|p| same_container(p, old) && p.spec.target_image != old.spec.target_image)
        else {
            continue;
        };
        let (namespace, name) = (old.namespace_or_default(), old.name());
        if !dry_run {
            let api: Api<ImageUpgrade> = Api::namespaced(client.clone(), &namespace);
            let mut status = old.status.clone().unwrap_or_default();
            let message = format!(
                "superseded by {} ({}); {}",
                newer.name(),
                newer.spec.target_image,
                if old.spec.approved {
                    "its approval does not carry over"
                } else {
                    "approve that one instead"
                }
            );
            status.phase = Some(Phase::Superseded);
            status.superseded_by = Some(newer.name());
            status.message = Some(message.clone());
            status.history.push(HistoryEntry {
                at: now,
                phase: Phase::Superseded,
                message,
            });
            let mut object = old.clone();
            object.status = Some(status);
            match api
                .replace_status(&name, &PostParams::default(), &object)
                .await
            {
                Ok(_) => {}
                // Changed meanwhile (e.g. it started applying): the next scan looks again.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(source) => {
                    return Err(ProposeError {
                        action: "superseding",
                        namespace,
                        name,
                        source,
                    });
                }
            }
        }
        done.superseded
            .push(format!("{}/{}", old.namespace_or_default(), old.name()));
    }
    Ok(done)
}

/// Rewrites `old` as the fresh `proposal` (spec reset, approval cleared), keeping its history.
async fn renew(
    api: &Api<ImageUpgrade>,
    old: &ImageUpgrade,
    proposal: &ImageUpgrade,
    now: DateTime<Utc>,
) -> Result<(), ProposeError> {
    let fail = |action, source| ProposeError {
        action,
        namespace: old.namespace_or_default(),
        name: old.name(),
        source,
    };
    let spec = serde_json::to_value(&proposal.spec).expect("a spec serializes");
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": old.metadata.resource_version},
        "spec": spec,
    });
    let patched = api
        .patch(&old.name(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| fail("renewing", e))?;
    let mut history = old.status.clone().unwrap_or_default().history;
    history.push(HistoryEntry {
        at: now,
        phase: Phase::Available,
        message: format!(
            "proposed again: {} → {}",
            proposal.spec.current_image, proposal.spec.target_image
        ),
    });
    let mut object = patched;
    object.status = Some(ImageUpgradeStatus {
        history,
        ..ImageUpgradeStatus::default()
    });
    api.replace_status(&old.name(), &PostParams::default(), &object)
        .await
        .map(|_| ())
        .map_err(|e| fail("renewing the status of", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_dns_safe() {
        assert_eq!(
            upgrade_name("central-ledger", "central-ledger", "v13.14.1"),
            "central-ledger-central-ledger-v13.14.1"
        );
        let odd = upgrade_name("mysql", "mysql", "8.0.32_debian");
        assert!(
            odd.starts_with("mysql-mysql-8.0.32-debian-")
                && odd.len() == "mysql-mysql-8.0.32-debian-".len() + 8,
            "{odd}"
        );
        assert_ne!(odd, upgrade_name("mysql", "mysql", "8.0.32-debian"));
        let long = upgrade_name(&"a".repeat(60), "container", "v1.2.3");
        assert!(long.len() <= 63, "{long}");
        assert_eq!(
            long,
            upgrade_name(&"a".repeat(60), "container", "v1.2.3"),
            "deterministic"
        );
        assert_ne!(
            long,
            upgrade_name(&"a".repeat(60), "container", "v1.2.4"),
            "hashed, not just cut"
        );
        for name in [odd, long, upgrade_name("UP", "Case", "V1")] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
                "{name}"
            );
            assert!(
                name.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && name.ends_with(|c: char| c.is_ascii_alphanumeric())
            );
        }
    }
}
