//! The inventory: workloads and the containers they run, whatever they were read from.
//!
//! Manifests on disk and objects from a cluster are both Kubernetes objects as JSON; one
//! extraction ([`Workload::from_object`]) turns either into the same [`Workload`], so `check -f`
//! and `check` on a cluster can never disagree about which images a workload runs.

use std::collections::BTreeMap;

use ml_operator_version::{ParseStrategyError, Strategy};
use serde_json::Value;

use super::WorkloadKind;
use super::names::{InvalidName, check_label, check_subdomain};
use super::string_map::StringMap;

/// Annotation prefix for per-workload settings (`ml-operator.mojaloop.io/strategy`, `…/ignore`).
pub const ANNOTATION_PREFIX: &str = "ml-operator.mojaloop.io/";

/// Annotation Helm sets on what it installs: the release that manages a workload.
pub const HELM_RELEASE_ANNOTATION: &str = "meta.helm.sh/release-name";

/// Whether ml-operator reads an annotation: its own settings and Helm's release name. The
/// operator's watches keep only these (not, say, `kubectl.kubernetes.io/last-applied-configuration`).
pub fn is_read_annotation(key: &str) -> bool {
    key.starts_with(ANNOTATION_PREFIX)
        || key == HELM_RELEASE_ANNOTATION
        || super::managed::is_marker_annotation(key)
}

/// Label the original ml-operator's `SERVICES` setting matches on.
pub const SERVICE_NAME_LABEL: &str = "app.kubernetes.io/name";

/// Labels that name the Helm release managing a workload, read with
/// `app.kubernetes.io/managed-by: Helm`: the recommended label, then older charts' `release`.
const HELM_RELEASE_LABELS: [&str; 2] = ["app.kubernetes.io/instance", "release"];

/// The label that says which tool manages a workload.
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Whether ml-operator reads a label once a workload is in memory (the operator's watches keep
/// only these; label selectors are applied by the API server before that).
pub fn is_read_label(key: &str) -> bool {
    key == SERVICE_NAME_LABEL
        || key == MANAGED_BY_LABEL
        || HELM_RELEASE_LABELS.contains(&key)
        || super::managed::is_marker_label(key)
}

/// One container (or init container) of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The container's name, unique within the pod spec: what a strategic merge patch keys on.
    pub name: String,
    /// The image exactly as written in the spec.
    pub image: String,
    /// Whether it is listed under `initContainers`.
    pub init: bool,
}

/// The object that controls a workload (an `ownerReferences` entry with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// The owner's kind, e.g. `ReplicaSet`.
    pub kind: String,
    /// The owner's name.
    pub name: String,
}

/// An object a workload controls, known by its metadata alone (`check` lists ReplicaSets so):
/// reported through its controller, and a link of a Pod's owner chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlledObject {
    /// Its namespace.
    pub namespace: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
    /// The workload that controls it.
    pub controller: Controller,
}

/// A workload and the containers it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace (`default` when a manifest names none and no `-n` was given).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: StringMap,
    /// `metadata.annotations`.
    pub annotations: StringMap,
    /// Containers then init containers, in spec order.
    pub containers: Vec<Container>,
    /// The controller, when another object manages this one (a Deployment's ReplicaSet, its Pods).
    pub controller: Option<Controller>,
    /// The pod spec's `imagePullSecrets` names: the registry credentials kubelet pulls with.
    pub image_pull_secrets: Vec<String>,
}

/// So that a scan reads workloads owned (`check`) or shared with the operator's watches
/// (`Arc<Workload>`) alike, without copying them.
impl AsRef<Workload> for Workload {
    fn as_ref(&self) -> &Workload {
        self
    }
}

/// A workload object that lacks a field ml-operator needs; says which, with its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {problem}")]
pub struct InvalidWorkload {
    /// The object's kind.
    pub kind: String,
    /// The object's name, or `<unnamed>`.
    pub name: String,
    /// What is wrong, naming the field.
    pub problem: WorkloadProblem,
}

/// What is wrong with a workload object, each naming the field by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadProblem {
    /// A field that must be there is not.
    #[error("{0} is missing")]
    Missing(String),
    /// A list that must have entries is absent or empty.
    #[error("{0} is missing or empty")]
    MissingOrEmpty(String),
    /// A container without its image.
    #[error("{path}[{index}] ({name}): image is missing")]
    MissingImage {
        /// The container list's path.
        path: String,
        /// The container's position in it.
        index: usize,
        /// The container's name.
        name: String,
    },
    /// A field of the wrong JSON type.
    #[error("{field} must be {expected}, found {found}")]
    WrongType {
        /// Its path.
        field: String,
        /// What it must be (`a string`, `a list`, `a map`).
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A label or annotation value written as a boolean or number.
    #[error("{field} must be a string, found {found} (quote it: \"{value}\")")]
    Unquoted {
        /// Its path, with the key.
        field: String,
        /// `a boolean` or `a number`.
        found: &'static str,
        /// The value as written.
        value: String,
    },
    /// A name Kubernetes would refuse.
    #[error("{field} {source}")]
    InvalidName {
        /// Its path.
        field: String,
        /// Why.
        source: InvalidName,
    },
}

/// A workload annotation whose value ml-operator cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {ANNOTATION_PREFIX}{key}: {problem}")]
pub struct InvalidAnnotation {
    /// The key after the prefix (`strategy`).
    pub key: &'static str,
    /// Why the value is not usable.
    pub problem: String,
}

impl Workload {
    /// Reads a workload from a Kubernetes object. `Ok(None)` for objects that are not workloads
    /// (Services, ConfigMaps, …); an error when a workload lacks its name, containers or images,
    /// when a field has the wrong type, or when a name is not one Kubernetes accepts (so no name
    /// from a manifest can be something the API server would never hold). `default_namespace`
    /// applies to objects that name none.
    pub fn from_object(
        object: &Value,
        default_namespace: &str,
    ) -> Result<Option<Workload>, InvalidWorkload> {
        let kind_name = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(kind) = WorkloadKind::from_kind(kind_name) else {
            return Ok(None);
        };
        let metadata = object.get("metadata");
        let field = |key: &str| metadata.and_then(|m| m.get(key));
        let fail = |problem: WorkloadProblem| InvalidWorkload {
            kind: kind_name.to_string(),
            name: field("name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>")
                .to_string(),
            problem,
        };
        let name = optional_string(field("name"), "metadata.name")
            .map_err(&fail)?
            .ok_or_else(|| fail(WorkloadProblem::Missing("metadata.name".into())))?;
        check_subdomain(name).map_err(|source| {
            fail(WorkloadProblem::InvalidName {
                field: "metadata.name".into(),
                source,
            })
        })?;
        let namespace =
            match optional_string(field("namespace"), "metadata.namespace").map_err(&fail)? {
                Some(namespace) => {
                    check_label(namespace).map_err(|source| {
                        fail(WorkloadProblem::InvalidName {
                            field: "metadata.namespace".into(),
                            source,
                        })
                    })?;
                    namespace
                }
                None => default_namespace,
            };

        let spec_path = kind.pod_spec_path();
        let pod_spec = spec_path
            .iter()
            .try_fold(object, |value, key| value.get(key))
            .ok_or_else(|| fail(WorkloadProblem::Missing(spec_path.join("."))))?;
        let mut containers =
            read_containers(pod_spec, "containers", false, spec_path).map_err(&fail)?;
        if containers.is_empty() {
            return Err(fail(WorkloadProblem::MissingOrEmpty(format!(
                "{}.containers",
                spec_path.join(".")
            ))));
        }
        containers
            .extend(read_containers(pod_spec, "initContainers", true, spec_path).map_err(&fail)?);

        Ok(Some(Workload {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: string_map(field("labels"), "metadata.labels").map_err(&fail)?,
            annotations: string_map(field("annotations"), "metadata.annotations").map_err(&fail)?,
            containers,
            controller: controller_of(metadata),
            image_pull_secrets: pod_spec
                .get("imagePullSecrets")
                .and_then(Value::as_array)
                .map(|secrets| {
                    secrets
                        .iter()
                        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// The value of one of our annotations (`ml-operator.mojaloop.io/<key>`), if set.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.annotations
            .get(&format!("{ANNOTATION_PREFIX}{key}"))
            .map(String::as_str)
    }

    /// The strategy for this workload: its `strategy` annotation, else `default`. A bad
    /// annotation is an error naming it.
    pub fn strategy(&self, default: Strategy) -> Result<Strategy, InvalidAnnotation> {
        match self.setting("strategy") {
            Some(value) => value
                .parse()
                .map_err(|e: ParseStrategyError| InvalidAnnotation {
                    key: "strategy",
                    problem: e.to_string(),
                }),
            None => Ok(default),
        }
    }

    /// Whether the workload is one of `services` (its `app.kubernetes.io/name` label), the
    /// original `SERVICES` filter; an empty list means every workload.
    pub fn is_one_of(&self, services: &[String]) -> bool {
        services.is_empty()
            || self
                .labels
                .get(SERVICE_NAME_LABEL)
                .is_some_and(|name| services.contains(name))
    }

    /// Whether another workload controls this one (a Deployment's ReplicaSet, its Pods, a
    /// CronJob's Jobs): reported through that controller, not on its own.
    pub fn is_controlled(&self) -> bool {
        self.controller
            .as_ref()
            .is_some_and(|c| WorkloadKind::from_kind(&c.kind).is_some())
    }

    /// The Helm release that manages this workload, if any (labels and annotations Helm sets).
    pub fn helm_release(&self) -> Option<&str> {
        let managed_by_helm = self
            .labels
            .get(MANAGED_BY_LABEL)
            .is_some_and(|v| v.eq_ignore_ascii_case("helm"));
        let release = self.annotations.get(HELM_RELEASE_ANNOTATION).or_else(|| {
            HELM_RELEASE_LABELS
                .iter()
                .filter(|_| managed_by_helm)
                .find_map(|label| self.labels.get(label))
        });
        release.map(String::as_str)
    }
}

fn read_containers(
    pod_spec: &Value,
    field: &str,
    init: bool,
    spec_path: &[&str],
) -> Result<Vec<Container>, WorkloadProblem> {
    let path = format!("{}.{field}", spec_path.join("."));
    let list = match pod_spec.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(WorkloadProblem::WrongType {
                field: path,
                expected: "a list",
                found: type_name(other),
            });
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, container)| {
            let name_field = format!("{path}[{i}].name");
            let name = optional_string(container.get("name"), &name_field)?
                .ok_or_else(|| WorkloadProblem::Missing(name_field.clone()))?;
            check_label(name).map_err(|source| WorkloadProblem::InvalidName {
                field: name_field,
                source,
            })?;
            let image = optional_string(
                container.get("image"),
                &format!("{path}[{i}] ({name}): image"),
            )?
            .ok_or_else(|| WorkloadProblem::MissingImage {
                path: path.clone(),
                index: i,
                name: name.to_string(),
            })?;
            Ok(Container {
                name: name.to_string(),
                image: image.to_string(),
                init,
            })
        })
        .collect()
}

/// A string field: `None` when absent, null or empty, an error naming `field` and the type found
/// when it is not a string (`image: 12345`, `name: [a, b]`).
fn optional_string<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Option<&'a str>, WorkloadProblem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str()).filter(|t| !t.is_empty())),
        Some(other) => Err(WorkloadProblem::WrongType {
            field: field.to_string(),
            expected: "a string",
            found: type_name(other),
        }),
    }
}

/// How a JSON value's type is named in messages: `a number`, `a list`, …
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// `metadata.labels` or `metadata.annotations`: a map from string to string, as the API server
/// requires (`ignore: true` unquoted is a boolean there, not the string the annotation needs).
/// Null values are left out, as before.
fn string_map(value: Option<&Value>, field: &str) -> Result<StringMap, WorkloadProblem> {
    let map = match value {
        None | Some(Value::Null) => return Ok(StringMap::default()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(WorkloadProblem::WrongType {
                field: field.to_string(),
                expected: "a map",
                found: type_name(other),
            });
        }
    };
    let mut strings = BTreeMap::new();
    for (key, value) in map {
        match value {
            Value::Null => {}
            Value::String(text) => {
                strings.insert(key.clone(), text.clone());
            }
            Value::Bool(_) | Value::Number(_) => {
                return Err(WorkloadProblem::Unquoted {
                    field: format!("{field}[{key:?}]"),
                    found: type_name(value),
                    value: value.to_string(),
                });
            }
            other => {
                return Err(WorkloadProblem::WrongType {
                    field: format!("{field}[{key:?}]"),
                    expected: "a string",
                    found: type_name(other),
                });
            }
        }
    }
    Ok(strings.into())
}

fn controller_of(metadata: Option<&Value>) -> Option<Controller> {
    let owners = metadata?.get("ownerReferences")?.as_array()?;
    owners
        .iter()
        .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|owner| Controller {
            kind: owner
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: owner
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
}

/// A label selector for the API server: `selector` and, when `services` is not empty,
/// `app.kubernetes.io/name in (services)`.
pub fn server_selector(selector: &str, services: &[String]) -> String {
    let mut combined = selector.to_string();
    if !services.is_empty() {
        if !combined.is_empty() {
            combined.push(',');
        }
        combined.push_str(&format!("{SERVICE_NAME_LABEL} in ({})", services.join(",")));
    }
    combined
}

/// Drops workloads whose controller is itself a workload kind (a Deployment's ReplicaSets and
/// Pods, a CronJob's Jobs): the controller is reported once instead, and patching it is what
/// sticks. Returns how many were dropped.
pub fn drop_controlled(workloads: &mut Vec<Workload>) -> usize {
    let before = workloads.len();
    workloads.retain(|w| !w.is_controlled());
    before - workloads.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::IntoEnumIterator;

    #[test]
    fn reads_containers_and_init_containers_of_every_kind() {
        for kind in WorkloadKind::iter() {
            let pod_spec = json!({
                "containers": [{"name": "app", "image": "mojaloop/app:v1.0.0"}],
                "initContainers": [{"name": "wait", "image": "busybox:1.36"}],
                "imagePullSecrets": [{"name": "hub-registry"}],
            });
            let mut object =
                json!({"kind": kind.as_str(), "metadata": {"name": "x", "namespace": "ns"}});
            let mut slot = &mut object;
            for key in kind.pod_spec_path() {
                slot = slot
                    .as_object_mut()
                    .unwrap()
                    .entry(*key)
                    .or_insert(json!({}));
            }
            *slot = pod_spec;
            let workload = Workload::from_object(&object, "default").unwrap().unwrap();
            assert_eq!(workload.kind, kind);
            assert_eq!(workload.namespace, "ns");
            assert_eq!(workload.containers.len(), 2, "{kind}");
            assert!(!workload.containers[0].init && workload.containers[1].init);
            assert_eq!(workload.image_pull_secrets, ["hub-registry"]);
        }
    }

    #[test]
    fn non_workloads_are_not_errors() {
        let service = json!({"kind": "Service", "metadata": {"name": "s"}});
        assert_eq!(Workload::from_object(&service, "default").unwrap(), None);
    }

    #[test]
    fn missing_fields_are_named() {
        let cases = [
            (
                json!({"kind": "Deployment", "metadata": {}}),
                "metadata.name is missing",
            ),
            (
                json!({"kind": "Deployment", "metadata": {"name": "d"}}),
                "spec.template.spec is missing",
            ),
            (
                json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {}}}}),
                "spec.template.spec.containers is missing or empty",
            ),
            (
                json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}),
                "spec.containers[0] (c): image is missing",
            ),
            (
                json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": {"name": "c"}}}),
                "spec.containers must be a list",
            ),
        ];
        for (object, message) in cases {
            let err = Workload::from_object(&object, "default")
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn the_strategy_annotation_wins_and_a_bad_one_is_named() {
        let with = |annotations: serde_json::Value| {
            let object = json!({"kind": "Pod", "metadata": {"name": "p", "annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": "i:1"}]}});
            Workload::from_object(&object, "d").unwrap().unwrap()
        };
        assert_eq!(
            with(json!({})).strategy(Strategy::Bugfix),
            Ok(Strategy::Bugfix)
        );
        let patch = with(json!({"ml-operator.mojaloop.io/strategy": "patch"}));
        assert_eq!(patch.strategy(Strategy::Major), Ok(Strategy::Patch));
        let bad = with(json!({"ml-operator.mojaloop.io/strategy": "newest"}));
        let err = bad.strategy(Strategy::Bugfix).unwrap_err().to_string();
        assert!(
            err.contains("ml-operator.mojaloop.io/strategy") && err.contains("newest"),
            "{err}"
        );
    }

    #[test]
    fn services_become_a_server_side_selector() {
        let services = ["a".to_string(), "b".to_string()];
        assert_eq!(server_selector("", &[]), "");
        assert_eq!(server_selector("tier=x", &[]), "tier=x");
        assert_eq!(
            server_selector("", &services),
            "app.kubernetes.io/name in (a,b)"
        );
        assert_eq!(
            server_selector("tier=x", &services),
            "tier=x,app.kubernetes.io/name in (a,b)"
        );
    }

    #[test]
    fn controlled_workloads_are_dropped() {
        let owned = json!({"kind": "Pod", "metadata": {"name": "p", "ownerReferences": [
            {"kind": "ReplicaSet", "name": "rs", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let foreign = json!({"kind": "Pod", "metadata": {"name": "q", "ownerReferences": [
            {"kind": "SparkApplication", "name": "s", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let mut workloads = vec![
            Workload::from_object(&owned, "d").unwrap().unwrap(),
            Workload::from_object(&foreign, "d").unwrap().unwrap(),
        ];
        assert_eq!(drop_controlled(&mut workloads), 1);
        assert_eq!(workloads[0].name, "q");
    }

    #[test]
    fn wrong_types_are_named_with_the_type_found() {
        let pod = |metadata: serde_json::Value, container: serde_json::Value| json!({"kind": "Pod", "metadata": metadata, "spec": {"containers": [container]}});
        let ok = json!({"name": "c", "image": "i:1"});
        let cases = [
            (
                pod(json!({"name": "p"}), json!({"name": "c", "image": 12345})),
                "spec.containers[0] (c): image must be a string, found a number",
            ),
            (
                pod(json!({"name": ["a", "b"]}), ok.clone()),
                "metadata.name must be a string, found a list",
            ),
            (
                pod(
                    json!({"name": "p"}),
                    json!({"name": {"a": 1}, "image": "i:1"}),
                ),
                "spec.containers[0].name must be a string, found a map",
            ),
            (
                pod(json!({"name": "p", "namespace": true}), ok.clone()),
                "metadata.namespace must be a string, found a boolean",
            ),
            (
                pod(json!({"name": "p", "labels": ["a"]}), ok.clone()),
                "metadata.labels must be a map, found a list",
            ),
            (
                pod(
                    json!({"name": "p", "annotations": {"ml-operator.mojaloop.io/ignore": true}}),
                    ok.clone(),
                ),
                "metadata.annotations[\"ml-operator.mojaloop.io/ignore\"] must be a string, found a boolean (quote it: \"true\")",
            ),
            (
                json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": 7}}),
                "spec.containers must be a list, found a number",
            ),
        ];
        for (object, message) in cases {
            let err = Workload::from_object(&object, "default")
                .unwrap_err()
                .to_string();
            assert!(err.ends_with(message), "{err}");
        }
        let nulls = pod(
            json!({"name": "p", "namespace": null, "labels": {"a": null}}),
            ok,
        );
        let workload = Workload::from_object(&nulls, "default").unwrap().unwrap();
        assert_eq!(workload.namespace, "default");
        assert!(workload.labels.is_empty());
    }

    #[test]
    fn names_kubernetes_would_refuse_are_errors() {
        let object = |name: &str, namespace: &str, container: &str| {
            json!({"kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
                "spec": {"template": {"spec": {"containers": [{"name": container, "image": "i:1"}]}}}})
        };
        let long_label = "a".repeat(63);
        let valid = [
            ("central-ledger", "mojaloop", "c"),
            ("a.b-c.d9", long_label.as_str(), long_label.as_str()),
            (&"a".repeat(253), "x", "0"),
        ];
        for (name, namespace, container) in valid {
            Workload::from_object(&object(name, namespace, container), "d")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let invalid = [
            (
                object("app$(touch PWNED)", "ns", "c"),
                "metadata.name \"app$(touch PWNED)\" is not a valid name: a DNS-1123 subdomain",
            ),
            (
                object("ns", "ns;touch PWNED;", "c"),
                "metadata.namespace \"ns;touch PWNED;\" is not a valid name: a DNS-1123 label",
            ),
            (
                object("d", "ns", "c'\"; touch PWNED; echo '"),
                "spec.template.spec.containers[0].name \"c'\\\"; touch PWNED; echo '\" is not a valid name",
            ),
            (object("Upper", "ns", "c"), "metadata.name"),
            (object("-a", "ns", "c"), "metadata.name"),
            (object("a..b", "ns", "c"), "metadata.name"),
            (object(&"a".repeat(254), "ns", "c"), "metadata.name"),
            (object("a", "a.b", "c"), "metadata.namespace"),
            (object("a", &"a".repeat(64), "c"), "metadata.namespace"),
            (object("a", "ns", "c.d"), "containers[0].name"),
            (object("a", "ns", "c-"), "containers[0].name"),
        ];
        for (object, message) in invalid {
            let err = Workload::from_object(&object, "d").unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
