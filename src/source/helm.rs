//! The deployed Helm releases behind the workloads of a scan: Helm's own record in the cluster
//! (Secrets of type `helm.sh/release.v1`, labelled `owner=helm,name=<release>,status=deployed`),
//! read with the caller's permissions and reduced at once to image keys
//! ([`Release::decode`]). A release that cannot be read is a warning naming it, never its content.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use super::cluster::Cluster;
use crate::inventory::Workload;
use crate::values::release::Release;

/// Releases read at once (one Secret list each); the warnings keep the releases' order.
const RELEASES_IN_FLIGHT: usize = 8;

/// The Secret type Helm stores releases as.
pub const RELEASE_SECRET_TYPE: &str = "helm.sh/release.v1";

impl Cluster {
    /// The deployed release of every Helm-managed workload of `workloads`, each release read
    /// once, `RELEASES_IN_FLIGHT` at a time; a payload inflates to at most `limit` bytes.
    pub async fn helm_releases(
        &self,
        workloads: &[impl AsRef<Workload>],
        limit: u64,
    ) -> (Vec<Release>, Vec<String>) {
        let wanted: BTreeSet<(&str, &str)> = workloads
            .iter()
            .map(AsRef::as_ref)
            .filter_map(|w| Some((w.namespace.as_str(), w.helm_release()?)))
            .collect();
        let read = futures::stream::iter(wanted)
            .map(|(namespace, name)| async move {
                (
                    namespace,
                    name,
                    self.helm_release(namespace, name, limit).await,
                )
            })
            .buffered(RELEASES_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        let mut releases = Vec::new();
        let mut warnings = Vec::new();
        for (namespace, name, release) in read {
            match release {
                Ok(Some(release)) => releases.push(release),
                Ok(None) => warnings.push(format!(
                    "Helm release {namespace}/{name}: no deployed release Secret (Helm stores releases as Secrets by default; a ConfigMap or SQL driver is not read)"
                )),
                Err(problem) => warnings.push(format!("Helm release {namespace}/{name}: {problem}")),
            }
        }
        (releases, warnings)
    }

    async fn helm_release(
        &self,
        namespace: &str,
        name: &str,
        limit: u64,
    ) -> Result<Option<Release>, String> {
        if crate::inventory::names::check_label(name).is_err() {
            return Err("the release name is not a valid label value".into());
        }
        let api: Api<Secret> = Api::namespaced(self.client().clone(), namespace);
        let params = ListParams::default()
            .labels(&format!("owner=helm,name={name},status=deployed"))
            .fields(&format!("type={RELEASE_SECRET_TYPE}"));
        let list = match api.list(&params).await {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Err(format!(
                    "cannot list Secrets: forbidden ({}); grant list on secrets in {namespace:?} or pass --no-helm-releases",
                    status.message
                ));
            }
            Err(e) => return Err(format!("cannot list Secrets: {e}")),
        };
        // The newest deployed revision, should an interrupted upgrade have left two.
        let mut best: Option<Release> = None;
        for secret in list.items {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else {
                return Err(format!("Secret {secret_name:?} has no release key"));
            };
            let release = Release::decode(&data.0, limit)
                .map_err(|e| format!("Secret {secret_name:?}: {e}"))?;
            if best.as_ref().is_none_or(|b| release.revision > b.revision) {
                best = Some(release);
            }
        }
        Ok(best)
    }
}
