//! The workloads an upgrade applies to — Deployments, StatefulSets and DaemonSets, the kinds
//! with a rollout to watch — as typed `k8s-openapi` objects.
//!
//! In: an object as the API server served it. Out: an [`AppsWorkload`], which says what the
//! upgrader decides by (its containers' images, our annotations, the generation and
//! `resourceVersion`) and what the [rollout judge](super::rollout) reads. Nothing here does I/O.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodSpec;
use kube::core::ObjectMeta;
use kube::core::dynamic::{DynamicObject, ParseDynamicObjectError};

use crate::inventory::{ANNOTATION_PREFIX, WorkloadKind};

/// The workload kinds an upgrade can be applied to (they have a rollout to watch).
pub const UPGRADABLE: [WorkloadKind; 3] = [
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
];

/// The workload kind an object's `kind` names, if an upgrade can be applied to it.
pub fn upgradable(kind: &str) -> Option<WorkloadKind> {
    WorkloadKind::from_kind(kind).filter(|kind| UPGRADABLE.contains(kind))
}

/// A workload an upgrade applies to, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum AppsWorkload {
    /// A Deployment.
    Deployment(Deployment),
    /// A StatefulSet.
    StatefulSet(StatefulSet),
    /// A DaemonSet.
    DaemonSet(DaemonSet),
}

impl AppsWorkload {
    /// Reads `object` as a workload of `kind`; `None` when `kind` is not [`UPGRADABLE`].
    pub fn parse(
        kind: WorkloadKind,
        object: DynamicObject,
    ) -> Option<Result<AppsWorkload, ParseDynamicObjectError>> {
        Some(match kind {
            WorkloadKind::Deployment => object.try_parse().map(AppsWorkload::Deployment),
            WorkloadKind::StatefulSet => object.try_parse().map(AppsWorkload::StatefulSet),
            WorkloadKind::DaemonSet => object.try_parse().map(AppsWorkload::DaemonSet),
            _ => return None,
        })
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            AppsWorkload::Deployment(d) => &d.metadata,
            AppsWorkload::StatefulSet(s) => &s.metadata,
            AppsWorkload::DaemonSet(d) => &d.metadata,
        }
    }

    /// The pod template's spec.
    fn pod_spec(&self) -> Option<&PodSpec> {
        match self {
            AppsWorkload::Deployment(d) => d.spec.as_ref()?.template.spec.as_ref(),
            AppsWorkload::StatefulSet(s) => s.spec.as_ref()?.template.spec.as_ref(),
            AppsWorkload::DaemonSet(d) => d.spec.as_ref()?.template.spec.as_ref(),
        }
    }

    /// The image of container `name` (an init container when `init`), `None` when there is
    /// no such container.
    pub fn container_image(&self, name: &str, init: bool) -> Option<&str> {
        let spec = self.pod_spec()?;
        let containers = if init {
            spec.init_containers.as_deref()?
        } else {
            &spec.containers
        };
        containers.iter().find(|c| c.name == name)?.image.as_deref()
    }

    /// One of our annotations (`ml-operator.mojaloop.io/<key>`) on the workload.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.metadata()
            .annotations
            .as_ref()?
            .get(&format!("{ANNOTATION_PREFIX}{key}"))
            .map(String::as_str)
    }

    /// `metadata.generation` (0 when not set).
    pub fn generation(&self) -> i64 {
        self.metadata().generation.unwrap_or(0)
    }

    /// `metadata.resourceVersion`, the patch precondition (empty when not set).
    pub fn resource_version(&self) -> &str {
        self.metadata()
            .resource_version
            .as_deref()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(object: serde_json::Value) -> AppsWorkload {
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        AppsWorkload::parse(WorkloadKind::Deployment, object)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn container_images_by_name() {
        let workload = deployment(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}, {"name": "app", "image": "app:1"}]}}}}),
        );
        assert_eq!(workload.container_image("app", false), Some("app:1"));
        assert_eq!(workload.container_image("gone", false), None);
        assert_eq!(workload.container_image("app", true), None);
    }

    #[test]
    fn only_apps_kinds_are_upgradable() {
        assert_eq!(upgradable("StatefulSet"), Some(WorkloadKind::StatefulSet));
        assert_eq!(upgradable("CronJob"), None);
        assert_eq!(upgradable("Widget"), None);
        let object: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}}),
        )
        .unwrap();
        assert!(AppsWorkload::parse(WorkloadKind::CronJob, object).is_none());
    }

    #[test]
    fn settings_generation_and_resource_version() {
        let workload = deployment(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "generation": 4, "resourceVersion": "17",
                                "annotations": {"ml-operator.mojaloop.io/window": "nights"}}}));
        assert_eq!(workload.setting("window"), Some("nights"));
        assert_eq!(workload.setting("auto-approve"), None);
        assert_eq!(
            (workload.generation(), workload.resource_version()),
            (4, "17")
        );
    }
}
