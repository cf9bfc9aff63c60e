//! Touching the workload: read it, and patch exactly one container's image (strategic merge,
//! field manager `ml-operator`, the read `resourceVersion` as a precondition).
//!
//! In: an ImageUpgrade's [`Target`] and the image to set. Out: the [`AppsWorkload`] as read, or
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

use super::crd::Target;
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
    /// The workload `target` names in `namespace`.
    fn of(namespace: &str, target: &Target) -> WorkloadName {
        WorkloadName {
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
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

/// The target's kind and the API to reach workloads of that kind in `namespace`.
fn api(
    client: &Client,
    namespace: &str,
    target: &Target,
) -> Result<(WorkloadKind, Api<DynamicObject>), ApplyError> {
    let kind =
        upgradable(&target.kind).ok_or_else(|| ApplyError::Unsupported(target.kind.clone()))?;
    let api = Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
    Ok((kind, api))
}

/// Reads the workload.
pub async fn read(
    client: &Client,
    namespace: &str,
    target: &Target,
) -> Result<AppsWorkload, ApplyError> {
    let (kind, api) = api(client, namespace, target)?;
    let workload = WorkloadName::of(namespace, target);
    let object = match api.get_opt(&target.name).await {
        Ok(Some(object)) => object,
        Ok(None) => return Err(ApplyError::NotFound(workload)),
        Err(source) => {
            return Err(ApplyError::Api {
                action: "reading",
                workload,
                source: Box::new(source),
            });
        }
    };
    AppsWorkload::parse(kind, object)
        .ok_or_else(|| ApplyError::Unsupported(target.kind.clone()))?
        .map_err(|source| ApplyError::Malformed { workload, source })
}

/// The patch that sets the target container's image on a workload of `kind`, guarded by
/// `resource_version`.
fn image_patch<'a>(
    kind: WorkloadKind,
    target: &'a Target,
    image: &'a str,
    resource_version: &'a str,
) -> ImagePatch<'a> {
    let change = ImageChange {
        name: &target.container,
        image,
        init: target.init_container,
    };
    ImagePatch::new(kind, vec![change]).if_unchanged_since(resource_version)
}

/// Patches the container to `image` if the workload is still as `seen`. With `dry_run` the
/// server checks the patch and keeps nothing.
pub async fn patch_image(
    client: &Client,
    namespace: &str,
    target: &Target,
    image: &str,
    seen: &AppsWorkload,
    dry_run: bool,
) -> Result<(), ApplyError> {
    let (kind, api) = api(client, namespace, target)?;
    let mut params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    if dry_run {
        params = params.dry_run();
    }
    let patch = image_patch(kind, target, image, seen.resource_version());
    match api
        .patch(&target.name, &params, &Patch::Strategic(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            Err(ApplyError::Conflict(WorkloadName::of(namespace, target)))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(ApplyError::NotFound(WorkloadName::of(namespace, target)))
        }
        Err(source) => Err(ApplyError::Api {
            action: "patching",
            workload: WorkloadName::of(namespace, target),
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patch_names_one_container_and_carries_the_precondition() {
        let target = Target {
            kind: "Deployment".into(),
            name: "web".into(),
            container: "app".into(),
            init_container: false,
        };
        let patch = image_patch(WorkloadKind::Deployment, &target, "app:2", "42");
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"metadata": {"resourceVersion": "42"},
                   "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}})
        );
        let init = Target {
            init_container: true,
            ..target
        };
        let patch = image_patch(WorkloadKind::DaemonSet, &init, "x", "1");
        assert!(
            serde_json::to_value(&patch).unwrap()["spec"]["template"]["spec"]["initContainers"]
                .is_array()
        );
    }
}
