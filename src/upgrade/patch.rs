//! Touching a workload: read it, and patch the images of its containers in a group — all of
//! them in one strategic merge patch, so the migration init container and the app move in the
//! same pod template revision (field manager `ml-operator`, the read `resourceVersion` as a
//! precondition).
//!
//! In: a workload (kind and name) and the images to set. Out: the [`AppsWorkload`] as read, or
//! an [`ApplyError`] naming the workload. The patch is the shared [`ImagePatch`] and the API
//! resource comes from [`WorkloadKind`], so no API path or patch JSON is written here.
//!
//! The precondition matters: the patch is built from what was just read, and the API server
//! refuses it (409) if anyone changed the workload since, so an image somebody else set
//! meanwhile is never overwritten blindly — the upgrader re-reads and decides again.

use std::fmt;

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::dynamic::ParseDynamicObjectError;

use super::workload::{AppsWorkload, upgradable};
use crate::inventory::WorkloadKind;
use crate::inventory::patch::{ImageChange, ImagePatch};

/// The field manager recorded on our patches.
pub const FIELD_MANAGER: &str = "ml-operator";

/// `Deployment hub/central-ledger`: the workload an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadName {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl WorkloadName {
    /// The workload of `kind` called `name` in `namespace`.
    pub fn new(kind: &str, namespace: &str, name: &str) -> WorkloadName {
        WorkloadName {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for WorkloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A failure talking to the API server about a workload; names the workload.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The workload does not exist (any more).
    #[error("{0} not found")]
    NotFound(WorkloadName),
    /// The workload changed between our read and our patch (the precondition failed).
    #[error("{0} changed while it was being patched (conflict); it will be read again")]
    Conflict(WorkloadName),
    /// The kind cannot be upgraded by the operator.
    #[error("{0} is not a kind the operator upgrades (only Deployment, StatefulSet, DaemonSet)")]
    Unsupported(String),
    /// The API server served something that is not a workload of the kind asked for.
    #[error("reading {workload}: {source}")]
    Malformed {
        /// The workload.
        workload: WorkloadName,
        /// Why it does not parse.
        #[source]
        source: ParseDynamicObjectError,
    },
    /// Any other API error.
    #[error("{action} {workload}: {source}")]
    Api {
        /// What was being done (`reading`, `patching`).
        action: &'static str,
        /// The workload.
        workload: WorkloadName,
        /// The client error (boxed: it is large and rare).
        #[source]
        source: Box<kube::Error>,
    },
}

/// The workload's kind and the API to reach workloads of that kind in its namespace.
fn api(
    client: &Client,
    workload: &WorkloadName,
) -> Result<(WorkloadKind, Api<DynamicObject>), ApplyError> {
    let kind =
        upgradable(&workload.kind).ok_or_else(|| ApplyError::Unsupported(workload.kind.clone()))?;
    let api = Api::namespaced_with(client.clone(), &workload.namespace, &kind.api_resource());
    Ok((kind, api))
}

/// Reads the workload.
pub async fn read(client: &Client, workload: &WorkloadName) -> Result<AppsWorkload, ApplyError> {
    let (kind, api) = api(client, workload)?;
    let object = match api.get_opt(&workload.name).await {
        Ok(Some(object)) => object,
        Ok(None) => return Err(ApplyError::NotFound(workload.clone())),
        Err(source) => {
            return Err(ApplyError::Api {
                action: "reading",
                workload: workload.clone(),
                source: Box::new(source),
            });
        }
    };
    AppsWorkload::parse(kind, object)
        .ok_or_else(|| ApplyError::Unsupported(workload.kind.clone()))?
        .map_err(|source| ApplyError::Malformed {
            workload: workload.clone(),
            source,
        })
}

/// The patch that sets `changes` on a workload of `kind`, guarded by `resource_version`.
fn image_patch<'a>(
    kind: WorkloadKind,
    changes: &[ImageChange<'a>],
    resource_version: &'a str,
) -> ImagePatch<'a> {
    ImagePatch::new(kind, changes.to_vec()).if_unchanged_since(resource_version)
}

/// Patches the workload's containers to the images in `changes`, all at once, if the workload
/// is still as `seen`. With `dry_run` the server checks the patch and keeps nothing.
pub async fn patch_images(
    client: &Client,
    workload: &WorkloadName,
    changes: &[ImageChange<'_>],
    seen: &AppsWorkload,
    dry_run: bool,
) -> Result<(), ApplyError> {
    let (kind, api) = api(client, workload)?;
    let mut params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    if dry_run {
        params = params.dry_run();
    }
    let patch = image_patch(kind, changes, seen.resource_version());
    match api
        .patch(&workload.name, &params, &Patch::Strategic(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            Err(ApplyError::Conflict(workload.clone()))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(ApplyError::NotFound(workload.clone()))
        }
        Err(source) => Err(ApplyError::Api {
            action: "patching",
            workload: workload.clone(),
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_patch_names_every_container_and_carries_the_precondition() {
        let changes = [
            ImageChange {
                name: "app",
                image: "app:2",
                init: false,
            },
            ImageChange {
                name: "run-migration",
                image: "app:2",
                init: true,
            },
        ];
        let patch = image_patch(WorkloadKind::Deployment, &changes, "42");
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"metadata": {"resourceVersion": "42"},
                   "spec": {"template": {"spec": {
                       "containers": [{"name": "app", "image": "app:2"}],
                       "initContainers": [{"name": "run-migration", "image": "app:2"}]}}}})
        );
        assert_eq!(
            WorkloadName::new("Deployment", "hub", "ledger").to_string(),
            "Deployment hub/ledger"
        );
    }
}
