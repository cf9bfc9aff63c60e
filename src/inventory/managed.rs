//! Who manages a workload, from the markers the tools put on what they apply: Helm
//! (`meta.helm.sh/release-name`, `app.kubernetes.io/managed-by: Helm`), Argo CD
//! (`argocd.argoproj.io/tracking-id`, the `argocd.argoproj.io/instance` label) and Flux
//! (`kustomize.toolkit.fluxcd.io/name`, `helm.toolkit.fluxcd.io/name`). A GitOps tool wins over
//! Helm: Flux's helm-controller installs Helm releases, but the values live in git.

use serde::Serialize;

use super::Workload;
use super::string_map::StringMap;

/// Argo CD's annotation tracking: `<app>:<group>/<kind>:<namespace>/<name>`, where `<app>` is
/// `<namespace>_<name>` for an Application outside Argo CD's own namespace.
pub const ARGOCD_TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's label tracking (when configured instead of the default `app.kubernetes.io/instance`).
pub const ARGOCD_INSTANCE_LABEL: &str = "argocd.argoproj.io/instance";
/// Flux kustomize-controller's labels.
pub const FLUX_KUSTOMIZE_LABELS: [&str; 2] = [
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
];
/// Flux helm-controller's labels.
pub const FLUX_HELM_LABELS: [&str; 2] = [
    "helm.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/namespace",
];
/// Helm's annotation naming the release's namespace.
pub const HELM_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// The tool that applies a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Tool {
    /// `helm install` / `helm upgrade`: the release's values decide the image.
    Helm,
    /// An Argo CD Application: git decides; with selfHeal, a patch is reverted within minutes.
    Argocd,
    /// A Flux Kustomization or HelmRelease: git decides, and each reconcile reverts a patch.
    Flux,
    /// `kubectl apply` or anything without a marker.
    Kubectl,
}

/// Who manages a workload (`managedBy` in `-o json`, the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedBy {
    /// The tool.
    pub tool: Tool,
    /// The release, Application, Kustomization or HelmRelease.
    pub name: String,
    /// Its namespace, when the markers say.
    pub namespace: Option<String>,
    /// Argo CD's `syncPolicy.automated.selfHeal`, when the Application could be read.
    pub self_heal: Option<bool>,
}

impl ManagedBy {
    /// Whether the tool reapplies what git says, so a `kubectl patch` does not last.
    pub fn is_gitops(&self) -> bool {
        matches!(self.tool, Tool::Argocd | Tool::Flux)
    }

    /// For a GitOps-managed workload, where its update has to be made instead of a kubectl
    /// patch, in words for messages: `managed by Argo CD application "mojaloop" (selfHeal): a
    /// kubectl patch is reverted — change centralledger.centralledger-service.image.tag in
    /// git`. `None` for Helm and kubectl, whose patch lasts until the next release.
    pub fn change_in_git(&self, values_path: Option<&str>) -> Option<String> {
        if !self.is_gitops() {
            return None;
        }
        let key = values_path.unwrap_or("the tag");
        Some(format!(
            "managed by {}: a kubectl patch is reverted — change {key} in git",
            self.describe()
        ))
    }

    /// In words, for notes and messages: `Argo CD application "mojaloop" (selfHeal)`.
    pub fn describe(&self) -> String {
        let what = match self.tool {
            Tool::Helm => "Helm release",
            Tool::Argocd => "Argo CD application",
            Tool::Flux => "Flux object",
            Tool::Kubectl => "kubectl",
        };
        let heal = match self.self_heal {
            Some(true) => " (selfHeal)",
            Some(false) => " (no selfHeal)",
            None => "",
        };
        format!("{what} {:?}{heal}", self.name)
    }
}

/// Who manages `workload`, if its markers say.
pub fn managed_by(workload: &Workload) -> Option<ManagedBy> {
    gitops(&workload.labels, &workload.annotations).or_else(|| {
        workload.helm_release().map(|release| ManagedBy {
            tool: Tool::Helm,
            name: release.to_string(),
            namespace: Some(
                workload
                    .annotations
                    .get(HELM_NAMESPACE_ANNOTATION)
                    .unwrap_or(&workload.namespace)
                    .clone(),
            ),
            self_heal: None,
        })
    })
}

/// The GitOps tool (Argo CD, Flux) that manages an object with these labels and annotations.
pub fn gitops(labels: &StringMap, annotations: &StringMap) -> Option<ManagedBy> {
    let label = |key: &str| labels.get(key).filter(|v| !v.is_empty());
    if let Some(tracking) = annotations
        .get(ARGOCD_TRACKING_ANNOTATION)
        .and_then(|id| id.split_once(':'))
        .map(|(app, _)| app)
        .filter(|app| !app.is_empty())
    {
        let (namespace, name) = match tracking.split_once('_') {
            Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
            None => (None, tracking.to_string()),
        };
        return Some(ManagedBy {
            tool: Tool::Argocd,
            name,
            namespace,
            self_heal: None,
        });
    }
    if let Some(app) = label(ARGOCD_INSTANCE_LABEL) {
        return Some(ManagedBy {
            tool: Tool::Argocd,
            name: app.clone(),
            namespace: None,
            self_heal: None,
        });
    }
    [FLUX_HELM_LABELS, FLUX_KUSTOMIZE_LABELS]
        .into_iter()
        .find_map(|[name, namespace]| {
            Some(ManagedBy {
                tool: Tool::Flux,
                name: label(name)?.clone(),
                namespace: label(namespace).cloned(),
                self_heal: None,
            })
        })
}

/// Whether a label is one of the markers read here.
pub fn is_marker_label(key: &str) -> bool {
    key == ARGOCD_INSTANCE_LABEL
        || FLUX_KUSTOMIZE_LABELS.contains(&key)
        || FLUX_HELM_LABELS.contains(&key)
}

/// Whether an annotation is one of the markers read here.
pub fn is_marker_annotation(key: &str) -> bool {
    key == ARGOCD_TRACKING_ANNOTATION || key == HELM_NAMESPACE_ANNOTATION
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workload(labels: serde_json::Value, annotations: serde_json::Value) -> Workload {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cl", "namespace": "hub", "labels": labels, "annotations": annotations},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "mojaloop/central-ledger:v17.8.0"}]}}}});
        Workload::from_object(&object, "default").unwrap().unwrap()
    }

    #[test]
    fn only_gitops_workloads_are_told_to_change_git() {
        let w = workload(
            json!({}),
            json!({ARGOCD_TRACKING_ANNOTATION: "mojaloop:apps/Deployment:hub/cl"}),
        );
        let mut by = managed_by(&w).unwrap();
        by.self_heal = Some(true);
        assert_eq!(
            by.change_in_git(Some("centralledger.centralledger-service.image.tag"))
                .as_deref(),
            Some(
                "managed by Argo CD application \"mojaloop\" (selfHeal): a kubectl patch is reverted — change centralledger.centralledger-service.image.tag in git"
            )
        );
        assert!(
            by.change_in_git(None)
                .unwrap()
                .ends_with("change the tag in git")
        );
        let helm = workload(
            json!({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "moja"}),
            json!({}),
        );
        assert_eq!(
            managed_by(&helm)
                .unwrap()
                .change_in_git(Some("a.image.tag")),
            None
        );
    }

    #[test]
    fn argo_cd_tracking_ids_name_the_application() {
        let w = workload(
            json!({"app.kubernetes.io/instance": "mojaloop"}),
            json!({ARGOCD_TRACKING_ANNOTATION: "mojaloop:apps/Deployment:hub/cl"}),
        );
        let by = managed_by(&w).unwrap();
        assert_eq!(
            (by.tool, by.name.as_str(), by.namespace.as_deref()),
            (Tool::Argocd, "mojaloop", None)
        );
        assert!(by.is_gitops());
        let w = workload(
            json!({}),
            json!({ARGOCD_TRACKING_ANNOTATION: "team-a_hub:apps/Deployment:hub/cl"}),
        );
        let by = managed_by(&w).unwrap();
        assert_eq!(
            (by.name.as_str(), by.namespace.as_deref()),
            ("hub", Some("team-a"))
        );
        let w = workload(json!({ARGOCD_INSTANCE_LABEL: "mojaloop"}), json!({}));
        assert_eq!(managed_by(&w).unwrap().tool, Tool::Argocd);
    }

    #[test]
    fn flux_wins_over_the_helm_release_it_installs() {
        let w = workload(
            json!({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "hub",
                   "helm.toolkit.fluxcd.io/name": "hub", "helm.toolkit.fluxcd.io/namespace": "flux-system"}),
            json!({"meta.helm.sh/release-name": "hub"}),
        );
        let by = managed_by(&w).unwrap();
        assert_eq!(
            (by.tool, by.namespace.as_deref()),
            (Tool::Flux, Some("flux-system"))
        );
        let w = workload(
            json!({"kustomize.toolkit.fluxcd.io/name": "apps"}),
            json!({}),
        );
        assert_eq!(managed_by(&w).unwrap().tool, Tool::Flux);
    }

    #[test]
    fn helm_and_nothing() {
        let w = workload(
            json!({"app.kubernetes.io/managed-by": "Helm"}),
            json!({"meta.helm.sh/release-name": "hub", "meta.helm.sh/release-namespace": "hub"}),
        );
        let by = managed_by(&w).unwrap();
        assert_eq!((by.tool, by.name.as_str()), (Tool::Helm, "hub"));
        assert!(!by.is_gitops());
        assert_eq!(by.describe(), "Helm release \"hub\"");
        assert_eq!(managed_by(&workload(json!({}), json!({}))), None);
    }
}
