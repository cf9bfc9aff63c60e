//! The Kubernetes permissions ml-operator's code needs, as data: the Helm chart and the
//! kustomize base grant exactly these (a test compares them), so least privilege cannot drift.

/// Where a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (a ClusterRole bound cluster-wide): reading workloads, Events on them.
    Cluster,
    /// The operator's own namespace (a Role): its Lease and state ConfigMap.
    OwnNamespace,
}

/// One RBAC rule: API group, resources, verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where it applies.
    pub scope: Scope,
    /// The API group (`""` for core).
    pub group: &'static str,
    /// The resources.
    pub resources: &'static [&'static str],
    /// The verbs.
    pub verbs: &'static [&'static str],
    /// Why the code needs it.
    pub why: &'static str,
}

const READ: &[&str] = &["get", "list", "watch"];

/// What `run` needs with upgrades off: read-only access to workloads, plus its own Lease,
/// state ConfigMap and Events.
pub const READ_ONLY: &[Rule] = &[
    Rule {
        scope: Scope::Cluster,
        group: "apps",
        resources: &["deployments", "statefulsets", "daemonsets", "replicasets"],
        verbs: READ,
        why: "the inventory watches every workload kind",
    },
    Rule {
        scope: Scope::Cluster,
        group: "batch",
        resources: &["jobs", "cronjobs"],
        verbs: READ,
        why: "the inventory watches every workload kind",
    },
    Rule {
        scope: Scope::Cluster,
        group: "",
        resources: &["pods", "replicationcontrollers"],
        verbs: READ,
        why: "the inventory watches every workload kind",
    },
    Rule {
        scope: Scope::Cluster,
        group: "events.k8s.io",
        resources: &["events"],
        verbs: &["create", "patch"],
        why: "an UpdateAvailable Event on each workload with a new update",
    },
    Rule {
        scope: Scope::OwnNamespace,
        group: "coordination.k8s.io",
        resources: &["leases"],
        verbs: &["get", "create", "update"],
        why: "leader election",
    },
    Rule {
        scope: Scope::OwnNamespace,
        group: "",
        resources: &["configmaps"],
        verbs: &["get", "create", "patch"],
        why: "remembering what was notified across restarts",
    },
];
