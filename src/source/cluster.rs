//! Reading workloads from a live cluster: `check` without `-f`.
//!
//! Connects with a kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`) or,
//! inside a pod, the service account; lists every workload kind, page by page, and turns each
//! object into a [`Workload`] with the same extraction manifests use. A namespace we may not
//! list is a warning naming it, and the rest of the scan goes on.

use std::path::PathBuf;

use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};

use crate::inventory::{Workload, WorkloadKind};

/// How to reach the cluster and what to read from it.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// A kubeconfig file; `None` uses `KUBECONFIG`, `~/.kube/config`, then in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig; `None` uses its current context.
    pub context: Option<String>,
    /// Only this namespace; `None` reads all namespaces.
    pub namespace: Option<String>,
    /// A label selector evaluated by the API server (empty: everything).
    pub selector: String,
}

/// A connected cluster, with what we know to name it in messages.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    /// `context "NAME" (server URL)` or `in-cluster (server URL)`.
    pub description: String,
}

/// A cluster that cannot be read; names the context and server.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(String);

/// What a cluster holds.
#[derive(Debug, Default)]
pub struct ClusterInventory {
    /// Every workload read.
    pub workloads: Vec<Workload>,
    /// Namespaces or kinds that could not be read, each naming what and why.
    pub warnings: Vec<String>,
}

/// Objects per list request: big enough to be cheap, small enough for big clusters.
const PAGE_SIZE: u32 = 500;

impl Cluster {
    /// Builds a client from the options; does not contact the server yet.
    pub async fn connect(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
        let kubeconfig = match &options.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                ClusterError(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?),
            None => Kubeconfig::read().ok(),
        };
        let (config, description) = match kubeconfig {
            Some(kubeconfig) => {
                let context = options
                    .context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone())
                    .unwrap_or_default();
                let kube_options = KubeConfigOptions {
                    context: options.context.clone(),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                    .await
                    .map_err(|e| ClusterError(format!("kubeconfig context {context:?}: {e}")))?;
                let description = format!("context {context:?} (server {})", config.cluster_url);
                (config, description)
            }
            None if options.context.is_some() => {
                return Err(ClusterError(
                    "--context given but no kubeconfig found (set --kubeconfig or KUBECONFIG)"
                        .to_string(),
                ));
            }
            None => {
                let config = Config::incluster().map_err(|e| {
                    ClusterError(format!(
                        "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a cluster: {e}"
                    ))
                })?;
                let description = format!("in-cluster (server {})", config.cluster_url);
                (config, description)
            }
        };
        let client = Client::try_from(config)
            .map_err(|e| ClusterError(format!("cannot build a client for {description}: {e}")))?;
        Ok(Cluster {
            client,
            description,
        })
    }

    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token and CA).
    pub fn in_cluster() -> Result<Cluster, ClusterError> {
        let config = Config::incluster()
            .map_err(|e| ClusterError(format!("in-cluster configuration: {e}")))?;
        let description = format!("in-cluster (server {})", config.cluster_url);
        let client = Client::try_from(config)
            .map_err(|e| ClusterError(format!("cannot build a client for {description}: {e}")))?;
        Ok(Cluster {
            client,
            description,
        })
    }

    /// The kube-rs client, for the operator's watches.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Lists every workload kind. An unreachable server is an error; a kind or namespace we
    /// are forbidden to list is a warning.
    pub async fn workloads(
        &self,
        options: &ClusterOptions,
    ) -> Result<ClusterInventory, ClusterError> {
        let mut inventory = ClusterInventory::default();
        // Filled the first time a cluster-wide list is forbidden, then reused for every kind.
        let mut namespaces: Option<Vec<String>> = None;
        for kind in WorkloadKind::ALL {
            let resource = kind.api_resource();
            if let Some(namespace) = &options.namespace {
                self.list_into(kind, &resource, Some(namespace), options, &mut inventory)
                    .await?;
                continue;
            }
            if namespaces.is_none() {
                match self
                    .list_into(kind, &resource, None, options, &mut inventory)
                    .await
                {
                    Ok(()) => continue,
                    Err(ListError::Forbidden(_)) => {
                        namespaces = Some(self.namespaces(&mut inventory).await?)
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            // No cluster-wide permission: namespace by namespace.
            for namespace in namespaces.as_deref().unwrap_or_default() {
                self.list_into(kind, &resource, Some(namespace), options, &mut inventory)
                    .await?;
            }
        }
        Ok(inventory)
    }

    /// Lists one kind into the inventory. Forbidden in one namespace becomes a warning.
    async fn list_into(
        &self,
        kind: WorkloadKind,
        resource: &ApiResource,
        namespace: Option<&str>,
        options: &ClusterOptions,
        inventory: &mut ClusterInventory,
    ) -> Result<(), ListError> {
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if !options.selector.is_empty() {
            params = params.labels(&options.selector);
        }
        loop {
            let page = match api.list(&params).await {
                Ok(page) => page,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    let scope = namespace.map_or("all namespaces".to_string(), |ns| {
                        format!("namespace {ns:?}")
                    });
                    let warning = format!(
                        "cannot list {}s in {scope}: forbidden ({})",
                        kind.kubectl_resource(),
                        status.message
                    );
                    if namespace.is_none() {
                        return Err(ListError::Forbidden(warning));
                    }
                    inventory.warnings.push(warning);
                    return Ok(());
                }
                Err(e) => return Err(ListError::Other(self.describe(e))),
            };
            for object in &page.items {
                let mut value =
                    serde_json::to_value(object).map_err(|e| ListError::Other(e.to_string()))?;
                // Lists leave out kind on items; the extraction needs it.
                value["kind"] = kind.as_str().into();
                let default_namespace = object.metadata.namespace.as_deref().unwrap_or("default");
                match Workload::from_object(&value, default_namespace) {
                    Ok(Some(workload)) => inventory.workloads.push(workload),
                    Ok(None) => {}
                    Err(e) => inventory.warnings.push(format!("skipped {e}")),
                }
            }
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(()),
            }
        }
    }

    async fn namespaces(&self, inventory: &mut ClusterInventory) -> Result<Vec<String>, ListError> {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) => Ok(list
                .items
                .into_iter()
                .filter_map(|ns| ns.metadata.name)
                .collect()),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                inventory.warnings.push(format!(
                    "cannot list namespaces: forbidden ({}); pass -n NAMESPACE",
                    status.message
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(ListError::Other(self.describe(e))),
        }
    }

    fn describe(&self, error: kube::Error) -> String {
        format!("cannot read the cluster at {}: {error}", self.description)
    }
}

enum ListError {
    Forbidden(String),
    Other(String),
}

impl From<ListError> for ClusterError {
    fn from(error: ListError) -> ClusterError {
        match error {
            ListError::Forbidden(message) | ListError::Other(message) => ClusterError(message),
        }
    }
}
