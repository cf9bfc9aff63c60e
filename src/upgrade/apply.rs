//! Touching the workload: read a container's image, patch exactly that container (strategic
//! merge, field manager `ml-operator`, the read `resourceVersion` as a precondition), and judge
//! a rollout from the workload's status.
//!
//! The precondition matters: the patch is built from what was just read, and the API server
//! refuses it (409) if anyone changed the workload since, so an image somebody else set
//! meanwhile is never overwritten blindly — the upgrader re-reads and decides again.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use super::crd::Target;

/// The field manager recorded on our patches.
pub const FIELD_MANAGER: &str = "ml-operator";

/// The workload kinds an upgrade can be applied to (they have a rollout to watch).
pub const SUPPORTED_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// A failure talking to the API server about a workload; names the workload.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The workload does not exist (any more).
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The workload changed between our read and our patch (the precondition failed).
    #[error(
        "{kind} {namespace}/{name} changed while it was being patched (conflict); it will be read again"
    )]
    Conflict {
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The kind cannot be upgraded by the operator.
    #[error("{0} is not a kind the operator upgrades (only Deployment, StatefulSet, DaemonSet)")]
    Unsupported(String),
    /// Any other API error.
    #[error("{action} {kind} {namespace}/{name}: {source}")]
    Api {
        /// What was being done (`reading`, `patching`).
        action: &'static str,
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The client error (boxed: it is large and rare).
        #[source]
        source: Box<kube::Error>,
    },
}

/// What the upgrader needs to know about a workload right now.
#[derive(Debug, Clone)]
pub struct WorkloadState {
    /// The whole object as served.
    pub object: Value,
    /// The target container's image, `None` when there is no such container.
    pub image: Option<String>,
    /// `metadata.generation`.
    pub generation: i64,
    /// `metadata.resourceVersion`, the patch precondition.
    pub resource_version: String,
}

impl WorkloadState {
    /// One of our annotations (`ml-operator.mojaloop.io/<key>`) on the workload.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.object["metadata"]["annotations"]
            [format!("{}{key}", crate::inventory::ANNOTATION_PREFIX)]
        .as_str()
    }
}

fn api_resource(kind: &str) -> Result<ApiResource, ApplyError> {
    if !SUPPORTED_KINDS.contains(&kind) {
        return Err(ApplyError::Unsupported(kind.to_string()));
    }
    Ok(ApiResource::from_gvk(&GroupVersionKind::gvk(
        "apps", "v1", kind,
    )))
}

fn containers_key(target: &Target) -> &'static str {
    if target.init_container {
        "initContainers"
    } else {
        "containers"
    }
}

/// The target container's image in a workload object.
pub fn container_image(object: &Value, target: &Target) -> Option<String> {
    object["spec"]["template"]["spec"][containers_key(target)]
        .as_array()?
        .iter()
        .find(|c| c["name"] == target.container.as_str())
        .and_then(|c| c["image"].as_str())
        .map(str::to_string)
}

/// Reads the workload.
pub async fn read(
    client: &Client,
    namespace: &str,
    target: &Target,
) -> Result<WorkloadState, ApplyError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &api_resource(&target.kind)?);
    let object = api
        .get_opt(&target.name)
        .await
        .map_err(|source| ApplyError::Api {
            action: "reading",
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
            source: Box::new(source),
        })?;
    let Some(object) = object else {
        return Err(ApplyError::NotFound {
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
        });
    };
    let object = serde_json::to_value(&object).expect("an object serializes");
    Ok(WorkloadState {
        image: container_image(&object, target),
        generation: object["metadata"]["generation"].as_i64().unwrap_or(0),
        resource_version: object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        object,
    })
}

/// The strategic merge patch that sets one container's image, guarded by `resource_version`.
pub fn image_patch(target: &Target, image: &str, resource_version: &str) -> Value {
    json!({
        "metadata": {"resourceVersion": resource_version},
        "spec": {"template": {"spec": {containers_key(target): [{"name": target.container, "image": image}]}}}
    })
}

/// Patches the container to `image` if the workload is still at `seen.resource_version`.
/// Returns the workload's new generation. With `dry_run` the server checks the patch and
/// keeps nothing.
pub async fn patch_image(
    client: &Client,
    namespace: &str,
    target: &Target,
    image: &str,
    seen: &WorkloadState,
    dry_run: bool,
) -> Result<i64, ApplyError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &api_resource(&target.kind)?);
    let mut params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    if dry_run {
        params = params.dry_run();
    }
    let patch = image_patch(target, image, &seen.resource_version);
    match api
        .patch(&target.name, &params, &Patch::Strategic(patch))
        .await
    {
        Ok(object) => Ok(object.metadata.generation.unwrap_or(seen.generation)),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(ApplyError::Conflict {
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
        }),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(ApplyError::NotFound {
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
        }),
        Err(source) => Err(ApplyError::Api {
            action: "patching",
            kind: target.kind.clone(),
            namespace: namespace.to_string(),
            name: target.name.clone(),
            source: Box::new(source),
        }),
    }
}

/// A rollout's state, judged from the workload's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still going; says what it waits for.
    InProgress(String),
    /// Every replica runs the new template and is available.
    Complete,
    /// The workload reports that it cannot progress (`ProgressDeadlineExceeded`).
    Failed(String),
}

fn count(status: &Value, key: &str) -> i64 {
    status[key].as_i64().unwrap_or(0)
}

/// Judges the rollout of `generation` (the one carrying our image) from `object`'s status.
pub fn rollout(kind: &str, object: &Value, generation: i64) -> Rollout {
    let status = &object["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < generation {
        return Rollout::InProgress(format!("observedGeneration {observed} < {generation}"));
    }
    let want = object["spec"]["replicas"].as_i64().unwrap_or(1);
    match kind {
        "Deployment" => {
            let progressing = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Progressing");
            if let Some(condition) = progressing {
                if condition["reason"] == "ProgressDeadlineExceeded" {
                    return Rollout::Failed(format!(
                        "ProgressDeadlineExceeded: {}",
                        condition["message"]
                            .as_str()
                            .unwrap_or("the rollout stopped progressing")
                    ));
                }
                if condition["reason"] != "NewReplicaSetAvailable" {
                    return Rollout::InProgress(format!(
                        "Progressing: {}",
                        condition["reason"].as_str().unwrap_or("unknown")
                    ));
                }
            }
            let (updated, total, available) = (
                count(status, "updatedReplicas"),
                count(status, "replicas"),
                count(status, "availableReplicas"),
            );
            if updated < want {
                Rollout::InProgress(format!("{updated} of {want} replicas updated"))
            } else if total > updated {
                Rollout::InProgress(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < updated {
                Rollout::InProgress(format!(
                    "{available} of {updated} updated replicas available"
                ))
            } else {
                Rollout::Complete
            }
        }
        "StatefulSet" => {
            let (updated, ready) = (
                count(status, "updatedReplicas"),
                count(status, "readyReplicas"),
            );
            let revisions_match = status["currentRevision"] == status["updateRevision"];
            if updated < want || ready < want || !revisions_match {
                Rollout::InProgress(format!(
                    "{updated} of {want} replicas updated, {ready} ready"
                ))
            } else {
                Rollout::Complete
            }
        }
        _ => {
            let desired = count(status, "desiredNumberScheduled");
            let (updated, available) = (
                count(status, "updatedNumberScheduled"),
                count(status, "numberAvailable"),
            );
            if updated < desired || available < desired {
                Rollout::InProgress(format!(
                    "{updated} of {desired} pods updated, {available} available"
                ))
            } else {
                Rollout::Complete
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            kind: "Deployment".into(),
            name: "web".into(),
            container: "app".into(),
            init_container: false,
        }
    }

    #[test]
    fn the_patch_names_one_container_and_carries_the_precondition() {
        let patch = image_patch(&target(), "app:2", "42");
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "42"},
                   "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}})
        );
        let init = Target {
            init_container: true,
            ..target()
        };
        assert!(
            image_patch(&init, "x", "1")["spec"]["template"]["spec"]["initContainers"].is_array()
        );
    }

    #[test]
    fn deployment_rollouts() {
        let deployment = |status: Value| json!({"spec": {"replicas": 2}, "status": status});
        let done = deployment(
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(rollout("Deployment", &done, 3), Rollout::Complete);
        assert!(
            matches!(rollout("Deployment", &done, 4), Rollout::InProgress(m) if m.contains("observedGeneration"))
        );
        let starting = deployment(
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}),
        );
        assert!(
            matches!(rollout("Deployment", &starting, 3), Rollout::InProgress(_)),
            "stale counts are not success"
        );
        let stuck = deployment(
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "RS timed out"}]}),
        );
        assert_eq!(
            rollout("Deployment", &stuck, 3),
            Rollout::Failed("ProgressDeadlineExceeded: RS timed out".into())
        );
        let old_pods = deployment(
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}),
        );
        assert!(
            matches!(rollout("Deployment", &old_pods, 3), Rollout::InProgress(m) if m.contains("old replicas"))
        );
    }

    #[test]
    fn statefulset_and_daemonset_rollouts() {
        let sts = json!({"spec": {"replicas": 1}, "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
            "currentRevision": "a", "updateRevision": "b"}});
        assert!(matches!(
            rollout("StatefulSet", &sts, 2),
            Rollout::InProgress(_)
        ));
        let sts = json!({"spec": {"replicas": 1}, "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
            "currentRevision": "b", "updateRevision": "b"}});
        assert_eq!(rollout("StatefulSet", &sts, 2), Rollout::Complete);
        let ds = json!({"spec": {}, "status": {"observedGeneration": 5, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 0}});
        assert!(matches!(
            rollout("DaemonSet", &ds, 5),
            Rollout::InProgress(_)
        ));
    }

    #[test]
    fn container_images_by_name() {
        let object = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}, {"name": "app", "image": "app:1"}]}}}});
        assert_eq!(
            container_image(&object, &target()).as_deref(),
            Some("app:1")
        );
        assert_eq!(
            container_image(
                &object,
                &Target {
                    container: "gone".into(),
                    ..target()
                }
            ),
            None
        );
    }
}
