//! Kubernetes' "forced rollback" for StatefulSets: with the default `OrderedReady` policy, a
//! StatefulSet whose template is patched back after a failed rollout never replaces the Pod
//! stuck on the failed revision (it waits for that Pod to become Ready, which it never will);
//! Kubernetes documents that such Pods must be deleted. After patching a StatefulSet back, the
//! operator deletes exactly those Pods: controlled by that StatefulSet, running one of the
//! group's target images in a container of the group, and not Ready. Each delete carries the
//! Pod's UID as a precondition, so a replacement Pod of the same name is never deleted.
//!
//! In: the StatefulSet as read and the group's containers of it. Out: the names of the Pods
//! deleted, or a [`StuckPodsError`] naming the namespace or Pod.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};

use super::crd::ContainerRollout;

/// Listing or deleting the stuck Pods failed; names what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{action} in namespace {namespace}: {source}")]
pub struct StuckPodsError {
    /// `listing the Pods of StatefulSet NAME` or `deleting Pod NAME`.
    action: String,
    /// The namespace.
    namespace: String,
    /// The client error.
    #[source]
    source: kube::Error,
}

/// Deletes the Pods of `statefulset` stuck on the failed revision (see the module doc); the
/// names of those deleted. A dry run deletes nothing and names the Pods it would delete.
pub async fn delete_stuck_pods(
    client: &Client,
    namespace: &str,
    statefulset: &StatefulSet,
    containers: &[ContainerRollout],
    dry_run: bool,
) -> Result<Vec<String>, StuckPodsError> {
    let name = statefulset.metadata.name.clone().unwrap_or_default();
    let Some(uid) = statefulset.metadata.uid.as_deref() else {
        return Ok(Vec::new());
    };
    let selector = statefulset
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| StuckPodsError {
            action: format!("listing the Pods of StatefulSet {name}"),
            namespace: namespace.to_string(),
            source,
        })?;
    let mut deleted = Vec::new();
    for pod in pods.items.iter().filter(|p| stuck(p, uid, containers)) {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            dry_run,
            ..DeleteParams::default()
        };
        match api.delete(&pod_name, &params).await {
            Ok(_) => deleted.push(pod_name),
            // Already gone, or replaced (the UID precondition failed): nothing to do.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(source) => {
                return Err(StuckPodsError {
                    action: format!("deleting Pod {pod_name}"),
                    namespace: namespace.to_string(),
                    source,
                });
            }
        }
    }
    Ok(deleted)
}

/// Whether `pod` is controlled by the StatefulSet with `owner_uid`, runs a target image of
/// the group in one of the group's containers, and is not Ready.
fn stuck(pod: &Pod, owner_uid: &str, containers: &[ContainerRollout]) -> bool {
    let controlled = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner_uid);
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let on_target = containers.iter().any(|c| {
        let list = if c.init_container {
            spec.init_containers.as_deref().unwrap_or_default()
        } else {
            &spec.containers
        };
        list.iter()
            .any(|p| p.name == c.name && p.image.as_deref() == Some(c.target_image.as_str()))
    });
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    controlled && on_target && !ready
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(owner: &str, image: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "mysql-1", "uid": "p1",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                              "name": "mysql", "uid": owner, "controller": true}]},
            "spec": {"containers": [{"name": "mysql", "image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn only_a_not_ready_pod_of_that_statefulset_on_a_target_image_is_stuck() {
        let group = [ContainerRollout {
            name: "mysql".into(),
            init_container: false,
            previous_image: "bitnami/mysql:8.0.32-debian-11-r0".into(),
            target_image: "bitnami/mysql:8.0.32-debian-11-r5".into(),
        }];
        let target = "bitnami/mysql:8.0.32-debian-11-r5";
        assert!(stuck(&pod("s1", target, false), "s1", &group));
        assert!(!stuck(&pod("s1", target, true), "s1", &group), "Ready");
        assert!(
            !stuck(&pod("s2", target, false), "s1", &group),
            "another StatefulSet's"
        );
        assert!(
            !stuck(
                &pod("s1", "bitnami/mysql:8.0.32-debian-11-r0", false),
                "s1",
                &group
            ),
            "on the previous image: the controller replaces it itself"
        );
    }
}
