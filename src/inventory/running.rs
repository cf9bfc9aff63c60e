//! What the nodes actually run: the image digest each Pod's containers were pulled at
//! (`status.containerStatuses[].imageID`, `status.initContainerStatuses[].imageID`), gathered
//! per reported workload through the Pods' owner chains (Pod → ReplicaSet → Deployment,
//! Pod → Job → CronJob, Pod → StatefulSet, …).
//!
//! In: Pods as JSON ([`pod_images`]) and the controller of every controlled object. Out:
//! [`RunningDigests`], asked per workload and container. Only the digests of Pods whose
//! container runs the image the workload asks for now are returned, so the old Pods of a
//! rollout in progress are not mistaken for an overwritten tag. Kept small on purpose: per Pod
//! only its controller and, per container, the name, the image and the digest, shared (not
//! copied) by the [`RunningDigests`] each scan gathers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::{Container, ControlledObject, Controller, NameKey, Workload, WorkloadKind};

/// One container of a Pod as its node runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImage {
    /// The container's name.
    pub container: Arc<str>,
    /// The image as the Pod's spec writes it.
    pub image: Arc<str>,
    /// The digest the node pulled (`sha256:…`), from the status' `imageID`.
    pub digest: Arc<str>,
}

/// The repository digest in a container status' `imageID`: `docker-pullable://REPO@sha256:…`
/// (Docker, and kwok's fake nodes), `REPO@sha256:…` (containerd, CRI-O). `None` for an image
/// ID that is not a repository digest (`docker://sha256:…`, the local image's config digest)
/// or an empty one (a container still pulling).
/// Anything else the status says (another algorithm, upper-case hex, a truncated digest) is not
/// taken: Pod status is written by nodes, not by ml-operator.
pub fn repo_digest(image_id: &str) -> Option<&str> {
    let (_, digest) = image_id.rsplit_once('@')?;
    ml_operator_registry::is_sha256_digest(digest).then_some(digest)
}

/// The images a Pod object's containers run, read from its spec (name → image) and status
/// (name → imageID). Empty for anything that is not a Pod or has no pulled containers yet.
pub fn pod_images(object: &Value) -> Vec<RunningImage> {
    if object.get("kind").and_then(Value::as_str) != Some("Pod") {
        return Vec::new();
    }
    let spec_images: HashMap<&str, &str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|field| object.pointer(&format!("/spec/{field}"))?.as_array())
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?, c.get("image")?.as_str()?)))
        .collect();
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|field| object.pointer(&format!("/status/{field}"))?.as_array())
        .flatten()
        .filter_map(|status| {
            let name = status.get("name")?.as_str()?;
            let digest = repo_digest(status.get("imageID")?.as_str()?)?;
            let image = spec_images.get(name)?;
            Some(RunningImage {
                container: name.into(),
                image: (*image).into(),
                digest: digest.into(),
            })
        })
        .collect()
}

/// A workload as [`RunningDigests`] knows it: the [`NameKey`] of its namespace, kind and name,
/// so a row holds no copy of the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WorkloadId(NameKey);

impl WorkloadId {
    fn new(namespace: &str, kind: WorkloadKind, name: &str) -> WorkloadId {
        WorkloadId(NameKey::new(&[namespace, kind.as_str(), name]))
    }
}

/// One distinct `(image, digest)` a workload's container runs in some Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    workload: WorkloadId,
    /// The Pod's [`RunningImage`], shared.
    image: RunningImage,
}

impl Row {
    /// The rows' order: by workload, container, image and digest.
    fn key(&self) -> (WorkloadId, &str, &str, &str) {
        let image = &self.image;
        (self.workload, &image.container, &image.image, &image.digest)
    }
}

/// The digests every reported workload's containers run, from its Pods.
///
/// Gathered at every scan, so it is one sorted vector of rows that share the inventory's
/// strings: at 2,000 workloads a map of maps with copies of every name and digest was 1.7 MB
/// of the scan's peak heap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningDigests {
    /// One row per workload, container and distinct `(image, digest)`, sorted by [`Row::key`].
    rows: Vec<Row>,
    /// Whether any Pod was read at all (`check -f` reads none).
    pods_read: bool,
}

/// One controlled object's link to its controller: `(namespace, kind, name) → controller`.
pub type Link<'a> = ((&'a str, &'a str, &'a str), &'a Controller);

/// One Pod: its namespace, name, controller (if any) and running images.
pub type Pod<'a> = (&'a str, &'a str, Option<&'a Controller>, &'a [RunningImage]);

/// How far an owner chain is followed (Pod → Job → CronJob is the longest among workloads).
const MAX_CHAIN: usize = 4;

impl RunningDigests {
    /// Gathers `pods` by the workload at the top of each one's owner chain, following `links`
    /// (every controlled object's controller: ReplicaSets, Jobs, Pods). A Pod with no
    /// controller is its own workload. `pods_read` says Pods were listed at all.
    pub fn gather<'a>(
        links: impl IntoIterator<Item = Link<'a>>,
        pods: impl IntoIterator<Item = Pod<'a>>,
    ) -> RunningDigests {
        let links: HashMap<(&str, &str, &str), &Controller> = links.into_iter().collect();
        let mut rows = Vec::new();
        for (namespace, name, controller, images) in pods {
            if images.is_empty() {
                continue;
            }
            let (mut kind, mut top) = ("Pod", name);
            if let Some(first) = controller {
                (kind, top) = (first.kind.as_str(), first.name.as_str());
                for _ in 0..MAX_CHAIN {
                    match links.get(&(namespace, kind, top)) {
                        Some(up) if WorkloadKind::from_kind(&up.kind).is_some() => {
                            (kind, top) = (up.kind.as_str(), up.name.as_str());
                        }
                        _ => break,
                    }
                }
            }
            let Some(kind) = WorkloadKind::from_kind(kind) else {
                continue;
            };
            let workload = WorkloadId::new(namespace, kind, top);
            rows.extend(images.iter().map(|image| Row {
                workload,
                image: image.clone(),
            }));
        }
        rows.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        rows.dedup_by(|a, b| a.key() == b.key());
        rows.shrink_to_fit();
        RunningDigests {
            rows,
            pods_read: true,
        }
    }

    /// From workloads as listed (`check` on a cluster: every kind, controlled ones included),
    /// the controlled objects known by their metadata alone, and the running images of each
    /// Pod among the workloads, by namespace and name.
    pub fn from_listing(
        workloads: &[Workload],
        pods: &BTreeMap<(String, String), Vec<RunningImage>>,
        controlled: &[ControlledObject],
    ) -> RunningDigests {
        let listed = workloads.iter().filter_map(|w| {
            let controller = w.controller.as_ref()?;
            Some((
                (w.namespace.as_str(), w.kind.as_str(), w.name.as_str()),
                controller,
            ))
        });
        let by_metadata = controlled.iter().map(|c| {
            (
                (c.namespace.as_str(), c.kind.as_str(), c.name.as_str()),
                &c.controller,
            )
        });
        let links = listed.chain(by_metadata);
        let pods = workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::Pod)
            .filter_map(|w| {
                let images = pods.get(&(w.namespace.clone(), w.name.clone()))?;
                Some((
                    w.namespace.as_str(),
                    w.name.as_str(),
                    w.controller.as_ref(),
                    images.as_slice(),
                ))
            });
        RunningDigests::gather(links, pods)
    }

    /// Whether Pods were read at all (not from manifests).
    pub fn pods_read(&self) -> bool {
        self.pods_read
    }

    /// The distinct digests the Pods of `workload` run for `container`, counting only Pods
    /// whose container runs the image the workload asks for now.
    pub fn digests(&self, workload: &Workload, container: &Container) -> Vec<Arc<str>> {
        let id = WorkloadId::new(&workload.namespace, workload.kind, &workload.name);
        let name = container.name.as_str();
        let start = self
            .rows
            .partition_point(|row| (row.workload, &*row.image.container) < (id, name));
        self.rows[start..]
            .iter()
            .take_while(|row| row.workload == id && *row.image.container == *name)
            .filter(|row| *row.image.image == *container.image)
            .map(|row| Arc::clone(&row.image.digest))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn object(value: Value) -> Workload {
        Workload::from_object(&value, "hub").unwrap().unwrap()
    }

    fn pod(name: &str, owner: (&str, &str), image: &str, digest: &str) -> (Workload, Value) {
        let value = json!({"kind": "Pod", "metadata": {"name": name, "namespace": "hub",
            "ownerReferences": [{"kind": owner.0, "name": owner.1, "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": image}],
                     "initContainers": [{"name": "init", "image": "busybox:1.36"}]},
            "status": {"containerStatuses": [{"name": "app", "imageID": format!("docker-pullable://x/app@{digest}")}],
                       "initContainerStatuses": [{"name": "init", "imageID": format!("docker.io/library/busybox@{B}")}]}});
        (object(value.clone()), value)
    }

    #[test]
    fn image_ids_give_repository_digests_only() {
        assert_eq!(
            repo_digest(&format!("docker-pullable://mojaloop/app@{A}")),
            Some(A)
        );
        assert_eq!(repo_digest(&format!("docker.io/mojaloop/app@{A}")), Some(A));
        assert_eq!(repo_digest(&format!("docker://{A}")), None);
        assert_eq!(repo_digest(""), None);
        assert_eq!(repo_digest("x@sha256:abc"), None);
        assert_eq!(repo_digest(&format!("x@{}", A.to_uppercase())), None);
        assert_eq!(repo_digest(&format!("x@{A}0")), None);
    }

    #[test]
    fn pods_are_gathered_by_their_top_workload_and_current_image() {
        let deployment = object(
            json!({"kind": "Deployment", "metadata": {"name": "app", "namespace": "hub"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x/app:v2"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}]}}}}),
        );
        let replica_set = |name: &str| {
            object(
                json!({"kind": "ReplicaSet", "metadata": {"name": name, "namespace": "hub",
                "ownerReferences": [{"kind": "Deployment", "name": "app", "controller": true}]},
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x/app:v2"}]}}}}),
            )
        };
        // A rollout in progress: one Pod of the old ReplicaSet still runs v1.
        let (new_pod, new_value) = pod("app-new-1", ("ReplicaSet", "app-new"), "x/app:v2", A);
        let (old_pod, old_value) = pod("app-old-1", ("ReplicaSet", "app-old"), "x/app:v1", B);
        let listing = vec![
            deployment.clone(),
            replica_set("app-new"),
            replica_set("app-old"),
            new_pod,
            old_pod,
        ];
        let pods = [
            (("hub".into(), "app-new-1".into()), pod_images(&new_value)),
            (("hub".into(), "app-old-1".into()), pod_images(&old_value)),
        ]
        .into();
        let running = RunningDigests::from_listing(&listing, &pods, &[]);
        assert!(running.pods_read());
        assert_eq!(
            running.digests(&deployment, &deployment.containers[0]),
            [A.into()]
        );
        assert_eq!(
            running.digests(&deployment, &deployment.containers[1]),
            [B.into()]
        );
        assert!(
            RunningDigests::default()
                .digests(&deployment, &deployment.containers[0])
                .is_empty()
        );
        assert!(!RunningDigests::default().pods_read());

        // The ReplicaSets known by their metadata alone (as `check` lists them) link the same.
        let by_metadata: Vec<ControlledObject> = ["app-new", "app-old"]
            .into_iter()
            .map(|name| ControlledObject {
                namespace: "hub".into(),
                kind: WorkloadKind::ReplicaSet,
                name: name.into(),
                controller: Controller {
                    kind: "Deployment".into(),
                    name: "app".into(),
                },
            })
            .collect();
        let pods_only = [deployment.clone(), listing[3].clone(), listing[4].clone()];
        assert_eq!(
            RunningDigests::from_listing(&pods_only, &pods, &by_metadata),
            running
        );
        assert!(
            RunningDigests::from_listing(&pods_only, &pods, &[])
                .digests(&deployment, &deployment.containers[0])
                .is_empty(),
            "without the links no Pod reaches the Deployment"
        );
    }
}
