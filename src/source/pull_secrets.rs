//! Registry credentials from a cluster: the `imagePullSecrets` of the workloads a scan reads,
//! so registries see the same logins kubelet pulls with. A secret's content never appears in
//! a warning or an error.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use ml_operator_registry::{Credential, parse_docker_config};

use super::cluster::Cluster;
use crate::inventory::Workload;

impl Cluster {
    /// Registry credentials from the `imagePullSecrets` of `workloads` (types
    /// `kubernetes.io/dockerconfigjson` and the older `kubernetes.io/dockercfg`), each secret read
    /// once. A secret that is missing, unreadable or malformed is a warning naming it — never its
    /// content.
    pub async fn pull_secret_credentials(
        &self,
        workloads: &[Workload],
    ) -> (Vec<(String, Credential)>, Vec<String>) {
        let secrets: BTreeSet<(&str, &str)> = workloads
            .iter()
            .flat_map(|w| {
                w.image_pull_secrets
                    .iter()
                    .map(|s| (w.namespace.as_str(), s.as_str()))
            })
            .collect();
        let mut credentials = Vec::new();
        let mut warnings = Vec::new();
        for (namespace, name) in secrets {
            let api: Api<Secret> = Api::namespaced(self.client().clone(), namespace);
            let secret = match api.get_opt(name).await {
                Ok(Some(secret)) => secret,
                Ok(None) => {
                    warnings.push(format!(
                        "image pull secret {namespace}/{name} does not exist"
                    ));
                    continue;
                }
                Err(e) => {
                    warnings.push(format!(
                        "cannot read image pull secret {namespace}/{name}: {e}"
                    ));
                    continue;
                }
            };
            let data = secret.data.unwrap_or_default();
            let config = match (data.get(".dockerconfigjson"), data.get(".dockercfg")) {
                (Some(json), _) => String::from_utf8_lossy(&json.0).into_owned(),
                // The legacy format is the `auths` object alone.
                (None, Some(legacy)) => {
                    format!("{{\"auths\":{}}}", String::from_utf8_lossy(&legacy.0))
                }
                (None, None) => {
                    warnings.push(format!(
                        "image pull secret {namespace}/{name} has no .dockerconfigjson or .dockercfg key"
                    ));
                    continue;
                }
            };
            match parse_docker_config(&config) {
                Ok(found) => credentials.extend(found),
                Err(_) => warnings.push(format!(
                    "image pull secret {namespace}/{name} is not a valid docker config"
                )),
            }
        }
        (credentials, warnings)
    }
}
