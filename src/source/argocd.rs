//! The Argo CD Applications behind the workloads of a scan, read for one thing:
//! `spec.syncPolicy.automated.selfHeal` (whether Argo CD reverts a change made in the cluster
//! within minutes). Read with the caller's permissions (`get` on `applications.argoproj.io`);
//! an Application that cannot be read — no Argo CD CRD, not found, forbidden — leaves
//! `selfHeal` unknown (`null`), forbidden with a warning.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use super::cluster::Cluster;
use crate::inventory::{Tool, Workload, managed_by};

/// Where Argo CD keeps its Applications unless a tracking id names another namespace.
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";

/// `(namespace, name)` of an Application → its `selfHeal` (`false` when automated sync is off).
pub type SelfHeal = BTreeMap<(String, String), bool>;

/// The Application a workload's markers name, as `(namespace, name)`; `argocd_namespace` when
/// the tracking id names none.
pub fn application_of(workload: &Workload, argocd_namespace: &str) -> Option<(String, String)> {
    let by = managed_by(workload).filter(|by| by.tool == Tool::Argocd)?;
    Some((
        by.namespace.unwrap_or_else(|| argocd_namespace.to_string()),
        by.name,
    ))
}

/// `spec.syncPolicy.automated.selfHeal` of an Application object (`false` without automated
/// sync or without the key, as Argo CD reads it).
pub fn self_heal_of(application: &serde_json::Value) -> bool {
    application["spec"]["syncPolicy"]["automated"]["selfHeal"]
        .as_bool()
        .unwrap_or(false)
}

/// Why an Application's `selfHeal` could not be read (a missing CRD or Application is not an
/// error: it is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    /// The caller may not `get` it.
    #[error(
        "Argo CD Application {namespace}/{name}: cannot get it: forbidden; selfHeal is unknown (grant get on applications.argoproj.io in {namespace:?})"
    )]
    Forbidden {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Anything else the API server or the connection said.
    #[error("Argo CD Application {namespace}/{name}: {problem}; selfHeal is unknown")]
    Other {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What went wrong.
        problem: String,
    },
}

/// The `selfHeal` of Application `namespace/name`: `Ok(None)` when it (or Argo CD's CRD) is
/// not there, or the names cannot be an Application's.
pub async fn read_self_heal(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<bool>, ApplicationError> {
    let valid = crate::inventory::names::check_subdomain(name).is_ok()
        && crate::inventory::names::check_label(namespace).is_ok();
    if !valid {
        return Ok(None);
    }
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    match api.get(name).await {
        Ok(application) => {
            let value = serde_json::to_value(&application).unwrap_or_default();
            Ok(Some(self_heal_of(&value)))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 403 => Err(ApplicationError::Forbidden {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(e) => Err(ApplicationError::Other {
            namespace: namespace.into(),
            name: name.into(),
            problem: e.to_string(),
        }),
    }
}

impl Cluster {
    /// The `selfHeal` of every Application behind an Argo CD-managed workload of `workloads`,
    /// each read once; the ones that could not be read are absent (a warning when forbidden).
    pub async fn argocd_self_heal(
        &self,
        workloads: &[Workload],
        argocd_namespace: &str,
    ) -> (SelfHeal, Vec<String>) {
        let wanted: BTreeSet<(String, String)> = workloads
            .iter()
            .filter_map(|w| application_of(w, argocd_namespace))
            .collect();
        let mut found = SelfHeal::new();
        let mut warnings = Vec::new();
        for (namespace, name) in wanted {
            match read_self_heal(self.client(), &namespace, &name).await {
                Ok(Some(heal)) => {
                    found.insert((namespace, name), heal);
                }
                Ok(None) => {}
                Err(e) => warnings.push(e.to_string()),
            }
        }
        (found, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn self_heal_is_read_as_argo_cd_reads_it() {
        assert!(self_heal_of(
            &json!({"spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})
        ));
        assert!(!self_heal_of(
            &json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}})
        ));
        assert!(!self_heal_of(&json!({"spec": {}})));
        let workload = Workload::from_object(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cl", "namespace": "hub",
                    "annotations": {"argocd.argoproj.io/tracking-id": "team_hub:apps/Deployment:hub/cl"}},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}),
            "default",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            application_of(&workload, "argocd"),
            Some(("team".to_string(), "hub".to_string()))
        );
    }
}
