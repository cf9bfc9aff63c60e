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

/// One permission: a [`Rule`] flattened to a single resource and verb. The Helm chart and the
/// kustomize base are compared with the code in this unit (tests/packaging.rs), so neither can
/// grant more, or less, than the code needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// Where it applies.
    pub scope: Scope,
    /// The API group (`""` for core).
    pub group: &'static str,
    /// The resource.
    pub resource: &'static str,
    /// The verb.
    pub verb: &'static str,
}

/// Every (scope, group, resource, verb) the rules grant, once each, sorted (cluster-wide first).
///
/// ```
/// use ml_operator::rbac::{permissions, Scope, READ_ONLY};
/// let read_only = permissions(READ_ONLY);
/// assert!(read_only.iter().any(|p| p.scope == Scope::Cluster && p.resource == "deployments" && p.verb == "watch"));
/// assert!(!read_only.iter().any(|p| p.verb == "patch" && p.group == "apps"), "read-only never patches workloads");
/// ```
pub fn permissions(rules: &[Rule]) -> Vec<Permission> {
    let mut out: Vec<Permission> = rules
        .iter()
        .flat_map(|rule| {
            rule.resources.iter().flat_map(move |resource| {
                rule.verbs.iter().map(move |verb| Permission {
                    scope: rule.scope,
                    group: rule.group,
                    resource,
                    verb,
                })
            })
        })
        .collect();
    let own_namespace = |p: &Permission| matches!(p.scope, Scope::OwnNamespace);
    out.sort_by_key(|p| (own_namespace(p), p.group, p.resource, p.verb));
    out.dedup();
    out
}

/// What `run` needs in addition when `upgrades.enabled` is true (and only then; the chart
/// grants these only with upgrades on). The CRD itself is shipped by the chart, not installed
/// by the operator, so no `customresourcedefinitions` rights are needed.
pub const UPGRADES: &[Rule] = &[
    Rule {
        scope: Scope::Cluster,
        group: "apps",
        resources: &["deployments", "statefulsets", "daemonsets"],
        verbs: &["patch"],
        why: "applying an approved upgrade and rolling it back: a strategic merge patch of one container's image",
    },
    Rule {
        scope: Scope::Cluster,
        group: "",
        resources: &["pods"],
        verbs: &["delete"],
        why: "a StatefulSet's forced rollback: deleting its Pods stuck, not Ready, on the failed revision after its template is patched back",
    },
    Rule {
        scope: Scope::Cluster,
        group: "ml-operator.mojaloop.io",
        resources: &["imageupgrades"],
        verbs: &["get", "list", "watch", "create", "patch", "update"],
        why: "proposing upgrades found by scans (create), renewing them (patch), and reading approvals",
    },
    Rule {
        scope: Scope::Cluster,
        group: "ml-operator.mojaloop.io",
        resources: &["imageupgrades/status"],
        verbs: &["get", "update", "patch"],
        why: "recording each step of an upgrade (phase, approval, window, rollout, history) before it is taken",
    },
];

/// What `run` needs in addition when `api.enabled` is true (and only then): checking the admin
/// API's callers. Both are cluster-scoped, so the chart grants them through their own
/// ClusterRole bound cluster-wide, whatever `namespaces` says.
pub const ADMIN_API: &[Rule] = &[
    Rule {
        scope: Scope::Cluster,
        group: "authentication.k8s.io",
        resources: &["tokenreviews"],
        verbs: &["create"],
        why: "the admin API: who a caller's bearer token belongs to",
    },
    Rule {
        scope: Scope::Cluster,
        group: "authorization.k8s.io",
        resources: &["subjectaccessreviews"],
        verbs: &["create"],
        why: "the admin API: whether that caller may patch (or list) imageupgrades in the namespace",
    },
];

/// What `run` needs in addition when `upgrades.enabled` and `argocd.readApplications` are true
/// (and only then): reading the Argo CD Application of a workload the upgrader refuses to
/// patch, for its selfHeal. Applications live in Argo CD's namespace, outside the watched
/// ones, so the chart binds this cluster-wide through its own ClusterRole; `get` only, by name.
pub const ARGOCD: &[Rule] = &[Rule {
    scope: Scope::Cluster,
    group: "argoproj.io",
    resources: &["applications"],
    verbs: &["get"],
    why: "an ImageUpgrade refused for an Argo CD workload says whether its Application has selfHeal",
}];

/// What `run` needs in addition when `helm.readReleases` is true (and only then): listing each
/// Helm-managed workload's deployed release Secret (narrowed by the labels
/// `owner=helm,name=<release>,status=deployed` and the field `type=helm.sh/release.v1`). Part of
/// the workload ClusterRole, so with `namespaces` it is granted only in the watched namespaces.
pub const HELM_RELEASES: &[Rule] = &[Rule {
    scope: Scope::Cluster,
    group: "",
    resources: &["secrets"],
    verbs: &["list"],
    why: "the Helm values path of each finding: the deployed release's Secret, reduced at once to its image keys",
}];
