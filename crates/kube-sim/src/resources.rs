//! The discovery table: which resources the simulator serves, with the same names, kinds,
//! short names, verbs, scope and subresources as a real v1.33 API server; plus resources
//! added at run time from CustomResourceDefinitions.

use serde_json::Value;

/// One served resource (a row of an `APIResourceList`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceInfo {
    /// API group (`""` for core).
    pub group: String,
    /// Served version (`v1`).
    pub version: String,
    /// Plural resource name used in URLs (`deployments`).
    pub plural: String,
    /// Singular name (`deployment`).
    pub singular: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// List kind (`DeploymentList`).
    pub list_kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// `kubectl` short names.
    pub short_names: Vec<String>,
    /// Discovery categories (`all`).
    pub categories: Vec<String>,
    /// Verbs served on the main resource.
    pub verbs: Vec<String>,
    /// Whether a `/status` subresource exists (status is then ignored on main-resource writes).
    pub status: bool,
    /// Whether a `/scale` subresource exists, and where replicas live.
    pub scale: bool,
    /// Whether the server maintains `metadata.generation`.
    pub generation: bool,
    /// Whether strategic merge patch is supported (built-ins yes, custom resources no).
    pub strategic: bool,
    /// For custom resources: `additionalPrinterColumns` of the served version.
    pub printer_columns: Vec<Value>,
    /// Whether this row comes from a CustomResourceDefinition.
    pub custom: bool,
}

impl ResourceInfo {
    /// `group/version` or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// (group, plural, singular, kind, namespaced, shortNames, categories, status, scale, generation)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
    bool,
    bool,
);

/// The built-in table. `categories` here is just "member of `all`".
const BUILTINS: &[Row] = &[
    (
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        false,
        true,
        false,
        false,
    ),
    (
        "",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        true,
        true,
        false,
        true,
    ),
    (
        "",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        true,
        true,
        false,
        false,
    ),
    (
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        false,
        false,
        false,
        false,
    ),
    (
        "",
        "secrets",
        "secret",
        "Secret",
        true,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        false,
        false,
        false,
    ),
    (
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
        false,
        false,
    ),
    (
        "",
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        true,
        &["rc"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        true,
        true,
        false,
        true,
    ),
    (
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
        true,
        true,
    ),
    (
        "batch",
        "jobs",
        "job",
        "Job",
        true,
        &[],
        true,
        true,
        false,
        true,
    ),
    (
        "batch",
        "cronjobs",
        "cronjob",
        "CronJob",
        true,
        &["cj"],
        true,
        true,
        false,
        true,
    ),
    (
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "events.k8s.io",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        false,
        true,
        false,
        true,
    ),
];

/// The built-in resources.
pub(crate) fn builtins() -> Vec<ResourceInfo> {
    BUILTINS
        .iter()
        .map(
            |&(
                group,
                plural,
                singular,
                kind,
                namespaced,
                short,
                all,
                status,
                scale,
                generation,
            )| ResourceInfo {
                group: group.into(),
                version: "v1".into(),
                plural: plural.into(),
                singular: singular.into(),
                kind: kind.into(),
                list_kind: format!("{kind}List"),
                namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: if all { vec!["all".into()] } else { vec![] },
                verbs: if plural == "namespaces" {
                    NS_VERBS
                } else {
                    ALL_VERBS
                }
                .iter()
                .map(|s| s.to_string())
                .collect(),
                status,
                scale,
                generation,
                strategic: true,
                printer_columns: vec![],
                custom: false,
            },
        )
        .collect()
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The resources a CustomResourceDefinition object declares (one per served version).
pub(crate) fn from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(plural), Some(kind)) = (
        spec["group"].as_str(),
        names["plural"].as_str(),
        names["kind"].as_str(),
    ) else {
        return vec![];
    };
    let singular = names["singular"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = names["listKind"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| format!("{kind}List"));
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = vec![];
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        let subs = &v["subresources"];
        out.push(ResourceInfo {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            list_kind: list_kind.clone(),
            namespaced,
            short_names: str_list(names.get("shortNames")),
            categories: str_list(names.get("categories")),
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            status: subs.get("status").is_some(),
            scale: subs.get("scale").is_some(),
            generation: true,
            strategic: false,
            printer_columns: v["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            custom: true,
        });
    }
    out
}

/// A set of served resources, with lookups by URL segment and by `apiVersion`/`kind`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovery {
    /// All rows, built-ins first.
    pub resources: Vec<ResourceInfo>,
}

impl Discovery {
    /// The row served at `/apis/{group}/{version}/{plural}`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The row for a manifest's `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// Served groups in order with their versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = vec![];
        for r in &self.resources {
            if r.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, vs)) => {
                    if !vs.contains(&r.version) {
                        vs.push(r.version.clone())
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_carry_real_short_names_and_scope() {
        let d = Discovery {
            resources: builtins(),
        };
        let deploy = d.by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.short_names, vec!["deploy"]);
        assert!(deploy.namespaced && deploy.status && deploy.scale);
        let ns = d.by_plural("", "v1", "namespaces").unwrap();
        assert!(!ns.namespaced);
        assert!(!ns.verbs.contains(&"deletecollection".to_string()));
    }

    #[test]
    fn crd_versions_become_resources() {
        let crd = json!({"spec": {"group": "ml.example.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "subresources": {"status": {}}},
                         {"name": "v1beta1", "served": false}]}});
        let rs = from_crd(&crd);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].singular, "widget");
        assert_eq!(rs[0].list_kind, "WidgetList");
        assert!(rs[0].status && !rs[0].strategic);
    }
}
