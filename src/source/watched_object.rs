//! A workload object as the operator's watches read it: only the fields a scan uses.
//!
//! The watches hold every Deployment, ReplicaSet, Pod, … of the cluster. Decoding them as whole
//! objects (`DynamicObject`) would keep env lists, probes, volumes, `managedFields` and
//! `kubectl.kubernetes.io/last-applied-configuration` (a second copy of the object) in memory,
//! and parse all of it for every page and every event. [`WatchedObject`] is decoded straight
//! from the API server's JSON and keeps the name, namespace, the labels and annotations a scan
//! reads, the controller reference and the pod spec's containers; serde skips the rest without
//! allocating.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use kube::api::{ApiResource, ObjectMeta};
use kube::core::{DynamicResourceScope, Resource};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::{
    InvalidWorkload, Workload, WorkloadKind, is_read_annotation, is_read_label,
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
}

impl WatchedObject {
    /// The workload this object is, read by the same code as manifests and `check` use.
    pub fn to_workload(&self, kind: WorkloadKind) -> Result<Option<Workload>, InvalidWorkload> {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["kind"] = kind.as_str().into();
        let namespace = self.metadata.namespace.as_deref().unwrap_or("default");
        Workload::from_object(&value, namespace)
    }
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
            whole.annotations.retain(|key, _| is_read_annotation(key));
            whole.labels.retain(|key, _| is_read_label(key));
            let watched = decode(object).to_workload(kind).unwrap();
            assert_eq!(watched, Some(whole), "{kind}");
        }
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
