//! A workload object as the operator's watches read it: only the fields a scan uses.
//!
//! The watches hold every Deployment, ReplicaSet, Pod, … of the cluster. Decoding them as whole
//! objects (`DynamicObject`) would keep env lists, probes, volumes, `managedFields` and
//! `kubectl.kubernetes.io/last-applied-configuration` (a second copy of the object) in memory,
//! and parse all of it for every page and every event. [`WatchedObject`] is decoded straight
//! from the API server's JSON and keeps the name, namespace, the labels and annotations a scan
//! reads, the controller reference, the pod spec's containers and, for Pods, each container
//! status' `imageID` (the digest its node pulled); serde skips the rest without allocating.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use kube::api::{ApiResource, ObjectMeta};
use kube::core::{DynamicResourceScope, Resource};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::running::pod_images;
use crate::inventory::{
    Controller, InvalidWorkload, RunningImage, Workload, WorkloadKind, is_read_annotation,
    is_read_label,
};

/// A workload object with only what [`Workload::from_object`] reads.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WatchedObject {
    /// Name, namespace, resourceVersion (the watch resumes from it), owner references, and
    /// only the labels and annotations ml-operator reads.
    #[serde(deserialize_with = "read_metadata")]
    pub metadata: ObjectMeta,
    /// The pod spec's containers, wherever the kind keeps them.
    #[serde(default)]
    spec: SpecParts,
    /// A Pod's container statuses: only each container's name and the `imageID` its node
    /// pulled (empty for other kinds).
    #[serde(default, skip_serializing_if = "StatusParts::is_empty")]
    status: StatusParts,
}

impl WatchedObject {
    /// The workload this object is, read by the same code as manifests and `check` use.
    pub fn to_workload(&self, kind: WorkloadKind) -> Result<Option<Workload>, InvalidWorkload> {
        Ok(self.to_parts(kind)?.map(|(workload, _)| workload))
    }

    /// The workload that controls this object (its owner reference with `controller: true`,
    /// when that is a workload kind), so that it is reported through that controller: what
    /// [`Workload::is_controlled`] says, read from the metadata alone.
    pub fn controller(&self) -> Option<Controller> {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .find(|owner| owner.controller == Some(true))
            .filter(|owner| WorkloadKind::from_kind(&owner.kind).is_some())
            .map(|owner| Controller {
                kind: owner.kind.clone(),
                name: owner.name.clone(),
            })
    }

    /// The workload this object is and, for a Pod, what its containers run
    /// ([`pod_images`]: the digests its node pulled).
    pub fn to_parts(
        &self,
        kind: WorkloadKind,
    ) -> Result<Option<(Workload, Vec<RunningImage>)>, InvalidWorkload> {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["kind"] = kind.as_str().into();
        let namespace = self.metadata.namespace.as_deref().unwrap_or("default");
        let Some(workload) = Workload::from_object(&value, namespace)? else {
            return Ok(None);
        };
        Ok(Some((workload, pod_images(&value))))
    }
}

/// A Pod's `status`, as far as [`pod_images`] reads it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusParts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    container_statuses: Vec<ContainerStatusParts>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    init_container_statuses: Vec<ContainerStatusParts>,
}

impl StatusParts {
    fn is_empty(&self) -> bool {
        self.container_statuses.is_empty() && self.init_container_statuses.is_empty()
    }
}

/// One container status: its name and the image ID its node pulled; the rest is skipped.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStatusParts {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "imageID")]
    image_id: String,
}

/// The parts of a spec that lead to containers: a Pod's own, a template's (Deployment,
/// StatefulSet, DaemonSet, ReplicaSet, Job) or a CronJob's job template's.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SpecParts {
    #[serde(skip_serializing_if = "Option::is_none")]
    containers: Option<Vec<ContainerParts>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init_containers: Option<Vec<ContainerParts>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_pull_secrets: Option<Vec<SecretName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<Box<Template>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_template: Option<Box<Template>>,
}

/// A pod template or a job template: only its spec matters.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Template {
    #[serde(default)]
    spec: SpecParts,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct ContainerParts {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct SecretName {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// The metadata fields kept; everything else (managedFields, uid, timestamps, …) is skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeptMetadata {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    #[serde(default, deserialize_with = "read_labels")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "read_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
}

fn read_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    let kept = KeptMetadata::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name: kept.name,
        namespace: kept.namespace,
        resource_version: kept.resource_version,
        labels: kept.labels,
        annotations: kept.annotations,
        owner_references: kept.owner_references,
        ..ObjectMeta::default()
    })
}

/// Reads the labels ml-operator uses and skips the others.
fn read_labels<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    deserializer.deserialize_option(KeptEntries(is_read_label))
}

/// Reads the annotations ml-operator uses and skips the values of the others unread (such as
/// `kubectl.kubernetes.io/last-applied-configuration`, a copy of the whole object).
fn read_annotations<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    deserializer.deserialize_option(KeptEntries(is_read_annotation))
}

/// A string map, or null, of which only the keys the function accepts are kept.
struct KeptEntries(fn(&str) -> bool);

impl<'de> Visitor<'de> for KeptEntries {
    type Value = Option<BTreeMap<String, String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        inner.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if (self.0)(&key) {
                kept.insert(key, map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((!kept.is_empty()).then_some(kept))
    }
}

/// Served like a `DynamicObject`: the watch is told the kind's [`ApiResource`] at run time.
impl Resource for WatchedObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(resource: &ApiResource) -> Cow<'_, str> {
        resource.group.as_str().into()
    }

    fn version(resource: &ApiResource) -> Cow<'_, str> {
        resource.version.as_str().into()
    }

    fn kind(resource: &ApiResource) -> Cow<'_, str> {
        resource.kind.as_str().into()
    }

    fn api_version(resource: &ApiResource) -> Cow<'_, str> {
        resource.api_version.as_str().into()
    }

    fn plural(resource: &ApiResource) -> Cow<'_, str> {
        resource.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::IntoEnumIterator;

    fn decode(value: Value) -> WatchedObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn reads_the_same_workload_as_the_whole_object() {
        let containers = json!([{"name": "app", "image": "mojaloop/app:v1.0.0",
            "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}]);
        let pod_spec = json!({"containers": containers,
            "initContainers": [{"name": "wait", "image": "busybox:1.36", "command": ["sh"]}],
            "imagePullSecrets": [{"name": "hub"}], "volumes": [{"name": "v", "emptyDir": {}}]});
        for kind in WorkloadKind::iter() {
            let mut spec = pod_spec.clone();
            for key in kind.pod_spec_path().iter().skip(1).rev() {
                spec = json!({*key: spec, "replicas": 2});
            }
            let object = json!({
                "kind": kind.as_str(),
                "metadata": {
                    "name": "x", "namespace": "ns", "uid": "1", "resourceVersion": "7",
                    "labels": {"app.kubernetes.io/name": "app", "app.kubernetes.io/managed-by": "Helm",
                        "app.kubernetes.io/instance": "hub", "pod-template-hash": "5d8f"},
                    "annotations": {
                        "ml-operator.mojaloop.io/strategy": "minor",
                        "meta.helm.sh/release-name": "hub",
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": 1}",
                        "deployment.kubernetes.io/revision": "3",
                    },
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "x-1", "uid": "2", "controller": true}],
                    "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                },
                "spec": spec,
                "status": {"replicas": 2},
            });
            let mut whole = Workload::from_object(&object, "default").unwrap().unwrap();
            whole.annotations.retain(is_read_annotation);
            whole.labels.retain(is_read_label);
            let watched = decode(object).to_workload(kind).unwrap();
            assert_eq!(watched, Some(whole), "{kind}");
        }
    }

    #[test]
    fn keeps_a_pods_image_ids_and_nothing_else_of_its_status() {
        let digest = format!("sha256:{}", "c".repeat(64));
        let object = decode(json!({"metadata": {"name": "p", "namespace": "hub"},
            "spec": {"containers": [{"name": "app", "image": "x/app:v1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready"}],
                "containerStatuses": [{"name": "app", "image": "docker.io/x/app:v1",
                    "imageID": format!("docker-pullable://x/app@{digest}"), "ready": true,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}}));
        let (workload, running) = object.to_parts(WorkloadKind::Pod).unwrap().unwrap();
        assert_eq!(workload.containers[0].image, "x/app:v1");
        assert_eq!(running.len(), 1);
        assert_eq!(&*running[0].digest, digest);
        let kept = serde_json::to_value(&object).unwrap();
        assert_eq!(
            kept["status"],
            json!({"containerStatuses": [{"name": "app", "imageID": format!("docker-pullable://x/app@{digest}")}]})
        );
    }

    #[test]
    fn keeps_only_the_labels_a_scan_reads() {
        let object = decode(json!({"metadata": {"name": "x", "labels": {
            "app.kubernetes.io/name": "central-ledger", "app.kubernetes.io/managed-by": "Helm",
            "release": "hub", "pod-template-hash": "5d8f", "helm.sh/chart": "cl-1.0.0"}}}));
        let labels = object.metadata.labels.unwrap();
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            [
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/name",
                "release"
            ]
        );
    }

    #[test]
    fn keeps_only_the_annotations_a_scan_reads() {
        let object = decode(json!({
            "metadata": {"name": "x", "resourceVersion": "9", "managedFields": [{}],
                "annotations": {
                    "ml-operator.mojaloop.io/ignore": "true",
                    "meta.helm.sh/release-name": "hub",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                }},
        }));
        let annotations = object.metadata.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            [
                "meta.helm.sh/release-name",
                "ml-operator.mojaloop.io/ignore"
            ]
        );
        assert_eq!(object.metadata.resource_version.as_deref(), Some("9"));
        assert!(object.metadata.managed_fields.is_none());
    }

    #[test]
    fn no_annotations_and_null_annotations_are_alike() {
        for metadata in [
            json!({"name": "x"}),
            json!({"name": "x", "annotations": null}),
        ] {
            assert!(
                decode(json!({"metadata": metadata}))
                    .metadata
                    .annotations
                    .is_none()
            );
        }
    }

    #[test]
    fn a_workload_without_containers_is_still_an_error_naming_the_field() {
        let object = decode(json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}}));
        let error = object.to_workload(WorkloadKind::Deployment).unwrap_err();
        assert!(
            error.to_string().contains("spec.template.spec.containers"),
            "{error}"
        );
    }
}
