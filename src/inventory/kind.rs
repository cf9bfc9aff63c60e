//! The kinds of workload ml-operator reads and patches, each owning its names: the `kind`,
//! kubectl's resource name, where its pod spec sits, and its API resource.

use kube::core::ApiResource;

/// The kinds of object that run containers and that ml-operator knows how to patch. The
/// variant names are the `kind`s as Kubernetes spells them (`Display`, `FromStr`); iterating
/// ([`strum::IntoEnumIterator`]) gives them in the order reports list them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet (usually owned by a Deployment).
    ReplicaSet,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
    /// `v1` Pod.
    Pod,
}

impl WorkloadKind {
    /// The kind for an object's `kind` field, if it is a workload.
    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        kind.parse().ok()
    }

    /// The `kind` as Kubernetes spells it (`Deployment`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The resource name kubectl takes (`kubectl patch deployment …`).
    pub fn kubectl_resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::ReplicaSet => "replicaset",
            WorkloadKind::ReplicationController => "replicationcontroller",
            WorkloadKind::Job => "job",
            WorkloadKind::CronJob => "cronjob",
            WorkloadKind::Pod => "pod",
        }
    }

    /// Where the pod spec sits inside an object of this kind.
    pub fn pod_spec_path(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Pod => &["spec"],
            WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
            _ => &["spec", "template", "spec"],
        }
    }

    /// Whether changing the pod template of a live object is allowed by the API server.
    /// A Job's template is immutable: it has to be re-created from an updated manifest.
    pub fn template_is_mutable(self) -> bool {
        self != WorkloadKind::Job
    }

    /// The kind's API resource (group, version, plural), taken from the `k8s-openapi` type so
    /// no table of API paths is written by hand.
    pub fn api_resource(self) -> ApiResource {
        use k8s_openapi::api::{apps, batch, core};
        match self {
            WorkloadKind::Deployment => ApiResource::erase::<apps::v1::Deployment>(&()),
            WorkloadKind::StatefulSet => ApiResource::erase::<apps::v1::StatefulSet>(&()),
            WorkloadKind::DaemonSet => ApiResource::erase::<apps::v1::DaemonSet>(&()),
            WorkloadKind::ReplicaSet => ApiResource::erase::<apps::v1::ReplicaSet>(&()),
            WorkloadKind::ReplicationController => {
                ApiResource::erase::<core::v1::ReplicationController>(&())
            }
            WorkloadKind::Job => ApiResource::erase::<batch::v1::Job>(&()),
            WorkloadKind::CronJob => ApiResource::erase::<batch::v1::CronJob>(&()),
            WorkloadKind::Pod => ApiResource::erase::<core::v1::Pod>(&()),
        }
    }

    /// The `apiVersion` objects of this kind carry (`apps/v1`, `batch/v1`, `v1`).
    pub fn api_version(self) -> String {
        self.api_resource().api_version
    }
}
