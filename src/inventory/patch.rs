//! The one strategic merge patch ml-operator sends or prints to change container images:
//! `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}`, nested
//! the way the workload's kind keeps its pod spec.
//!
//! The API server merges `containers` and `initContainers` *by name*: the listed containers get
//! the new image, every other container and every other field stays as it is. `name` comes
//! before `image` in each entry, as the documented commands show; the types below are
//! serialized in field order, so no JSON is assembled by hand.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::WorkloadKind;

/// One container's new image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChange<'a> {
    /// The container's name: what the merge keys on.
    pub name: &'a str,
    /// The image to set.
    pub image: &'a str,
    /// Whether it is listed under `initContainers`.
    #[serde(skip)]
    pub init: bool,
}

/// The patch for one workload: its containers' new images, and optionally the
/// `resourceVersion` it must still have (a precondition: the API server answers 409 otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePatch<'a> {
    kind: WorkloadKind,
    changes: Vec<ImageChange<'a>>,
    resource_version: Option<&'a str>,
}

impl<'a> ImagePatch<'a> {
    /// The patch setting `changes` on a workload of `kind`.
    pub fn new(kind: WorkloadKind, changes: Vec<ImageChange<'a>>) -> ImagePatch<'a> {
        ImagePatch {
            kind,
            changes,
            resource_version: None,
        }
    }

    /// Only applies while the workload is still at `resource_version`.
    pub fn if_unchanged_since(mut self, resource_version: &'a str) -> ImagePatch<'a> {
        self.resource_version = Some(resource_version);
        self
    }

    /// The patch as compact JSON, for printing in a command.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a patch of strings serializes")
    }
}

impl Serialize for ImagePatch<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let path = self.kind.pod_spec_path();
        let mut map = serializer.serialize_map(None)?;
        if let Some(resource_version) = self.resource_version {
            map.serialize_entry("metadata", &Single("resourceVersion", resource_version))?;
        }
        let (first, rest) = path.split_first().expect("a pod spec path is never empty");
        map.serialize_entry(
            first,
            &Nested {
                path: rest,
                spec: PodSpec(&self.changes),
            },
        )?;
        map.end()
    }
}

/// `{"key": value}`.
struct Single<'a, T>(&'a str, T);

impl<T: Serialize> Serialize for Single<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// The pod spec wrapped in the remaining keys of its path.
struct Nested<'p, 'c> {
    path: &'p [&'p str],
    spec: PodSpec<'c, 'c>,
}

impl Serialize for Nested<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.path.split_first() {
            None => self.spec.serialize(serializer),
            Some((key, rest)) => Single(
                key,
                Nested {
                    path: rest,
                    spec: PodSpec(self.spec.0),
                },
            )
            .serialize(serializer),
        }
    }
}

/// `{"containers": [...], "initContainers": [...]}`, each list only when it has entries.
struct PodSpec<'s, 'c>(&'s [ImageChange<'c>]);

impl Serialize for PodSpec<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let list = |init: bool| -> Vec<&ImageChange<'_>> {
            self.0.iter().filter(|c| c.init == init).collect()
        };
        let (containers, init_containers) = (list(false), list(true));
        let mut map = serializer.serialize_map(None)?;
        if !containers.is_empty() {
            map.serialize_entry("containers", &containers)?;
        }
        if !init_containers.is_empty() {
            map.serialize_entry("initContainers", &init_containers)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: &'static str, image: &'static str, init: bool) -> ImageChange<'static> {
        ImageChange { name, image, init }
    }

    #[test]
    fn nests_by_kind_and_keeps_name_before_image() {
        let app = change("app", "mojaloop/app:v2", false);
        assert_eq!(
            ImagePatch::new(WorkloadKind::Deployment, vec![app.clone()]).to_json(),
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"mojaloop/app:v2"}]}}}}"#
        );
        assert_eq!(
            ImagePatch::new(
                WorkloadKind::CronJob,
                vec![change("wait", "busybox:1.36.1", true)]
            )
            .to_json(),
            r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"wait","image":"busybox:1.36.1"}]}}}}}}"#
        );
        assert_eq!(
            ImagePatch::new(
                WorkloadKind::Pod,
                vec![app.clone(), change("m", "x:2", true)]
            )
            .to_json(),
            r#"{"spec":{"containers":[{"name":"app","image":"mojaloop/app:v2"}],"initContainers":[{"name":"m","image":"x:2"}]}}"#
        );
        assert_eq!(
            ImagePatch::new(WorkloadKind::StatefulSet, vec![app])
                .if_unchanged_since("42")
                .to_json(),
            r#"{"metadata":{"resourceVersion":"42"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"mojaloop/app:v2"}]}}}}"#
        );
    }

    #[test]
    fn hostile_strings_stay_json_strings() {
        let patch = ImagePatch::new(
            WorkloadKind::Deployment,
            vec![change("c'\"; x", "i\n\u{1b}", false)],
        )
        .to_json();
        let value: serde_json::Value = serde_json::from_str(&patch).unwrap();
        assert_eq!(
            value["spec"]["template"]["spec"]["containers"][0]["name"],
            "c'\"; x"
        );
        assert_eq!(
            value["spec"]["template"]["spec"]["containers"][0]["image"],
            "i\n\u{1b}"
        );
    }
}
