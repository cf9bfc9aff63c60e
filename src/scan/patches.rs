//! One patch per workload: every container of a workload with an update (init containers and
//! sidecars included) changed by one strategic merge patch, so the workload rolls out once.
//!
//! In: the workloads and their findings, in the scan's order (one finding per container).
//! Out: one [`WorkloadPatch`] per workload that has updates — the `patches` of `-o json` —
//! and each such finding's `command` set to its workload's command.

use serde::Serialize;

use super::finding::{Command, Finding, SignatureStatus};
use crate::inventory::patch::ImageChange;
use crate::inventory::{ManagedBy, Workload, commands, managed_by};

/// One workload's patch (`-o json` `patches[]`, the contract field for field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadPatch {
    /// The kubeconfig context of the workload's cluster: only in a fleet scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Workload kind (`Deployment`).
    pub kind: &'static str,
    /// Workload namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// The containers the patch changes, in spec order (containers, then init containers).
    pub containers: Vec<PatchedContainer>,
    /// The `kubectl patch` command that changes all of them at once (shared with the
    /// workload's findings).
    #[serde(serialize_with = "serialize_shared")]
    pub command: Command,
}

/// A shared command as a JSON string.
fn serialize_shared<S: serde::Serializer>(
    command: &Command,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(command)
}

/// One container a [`WorkloadPatch`] changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchedContainer {
    /// The container's name.
    pub name: String,
    /// Whether it is an init container.
    pub init_container: bool,
    /// The image it runs now, as written.
    pub image: String,
    /// The image the patch sets.
    pub latest_image: String,
}

/// The patches for `workloads`, whose containers' findings are `findings` in the same order
/// (the scan's: workload by workload, container by container). Sets each updated finding's
/// `command` to its workload's one command. Workloads whose pod template cannot be changed
/// (a Job), and workloads an Argo CD or Flux sync would put back, get no patch; their findings
/// carry a note instead.
/// Whether a finding's update goes into its workload's patch: it has a target (an update,
/// also when the running tag was overwritten or is missing) whose signature, when checked, is
/// verified.
fn patchable(finding: &Finding) -> bool {
    finding.latest_image.is_some()
        && finding
            .signature
            .is_none_or(|s| s == SignatureStatus::Verified)
}

pub(super) fn attach(
    workloads: &[impl AsRef<Workload>],
    findings: &mut [Finding],
) -> Vec<WorkloadPatch> {
    let mut patches = Vec::new();
    let mut start = 0;
    for workload in workloads.iter().map(AsRef::as_ref) {
        let end = start + workload.containers.len();
        let own = &mut findings[start..end];
        start = end;
        if !workload.kind.template_is_mutable() {
            continue;
        }
        if let Some(by) = managed_by(workload).filter(ManagedBy::is_gitops) {
            // A patch would be reverted by the next sync: the change belongs in git.
            for finding in own.iter_mut().filter(|f| patchable(f)) {
                finding.notes.push(format!(
                    "managed by {}: a kubectl patch is reverted, so none is printed — change the tag in git (`check --values FILE` finds the key)",
                    by.describe()
                ));
            }
            continue;
        }
        let containers: Vec<PatchedContainer> = own
            .iter()
            .filter(|f| patchable(f))
            .filter_map(|f| {
                Some(PatchedContainer {
                    name: f.container.clone(),
                    init_container: f.init_container,
                    image: f.image.clone(),
                    latest_image: f.latest_image.clone()?,
                })
            })
            .collect();
        if containers.is_empty() {
            continue;
        }
        let changes: Vec<ImageChange<'_>> = containers
            .iter()
            .map(|c| ImageChange {
                name: &c.name,
                image: &c.latest_image,
                init: c.init_container,
            })
            .collect();
        let command: Command = commands::patch_command(workload, &changes).into();
        for finding in own.iter_mut() {
            let patched = containers
                .iter()
                .any(|c| c.name == finding.container && c.init_container == finding.init_container);
            if patched {
                finding.command = Some(command.clone());
            }
        }
        patches.push(WorkloadPatch {
            cluster: None,
            kind: workload.kind.as_str(),
            namespace: workload.namespace.clone(),
            name: workload.name.clone(),
            containers,
            command,
        });
    }
    patches
}
