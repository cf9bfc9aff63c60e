//! Reading workloads from a live cluster: `check` without `-f`.
//!
//! Connects with a kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`) or,
//! inside a pod, the service account; lists every workload kind, page by page, and turns each
//! object into a [`Workload`] with the same extraction manifests use. A namespace we may not
//! list is a warning naming it, and the rest of the scan goes on.

use std::path::PathBuf;
use strum::IntoEnumIterator;

use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};

use std::collections::BTreeMap;

use crate::inventory::running::pod_images;
use crate::inventory::{RunningImage, Workload, WorkloadKind};

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

/// A cluster that cannot be reached or read; names the kubeconfig, context or server.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig file given could not be read.
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig's context does not work.
    #[error("kubeconfig context {context:?}: {source}")]
    Context {
        /// The context asked for (or the current one).
        context: String,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// `--context` without any kubeconfig.
    #[error("--context given but no kubeconfig found (set --kubeconfig or KUBECONFIG)")]
    ContextWithoutKubeconfig,
    /// Neither a kubeconfig nor a pod's service account.
    #[error(
        "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a cluster: {0}"
    )]
    NoConfiguration(#[source] kube::config::InClusterError),
    /// Inside a pod, the service account could not be read.
    #[error("in-cluster configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// The client could not be built (TLS, proxy settings).
    #[error("cannot build a client for {description}: {source}")]
    Client {
        /// The cluster, as [`Cluster::description`] names it.
        description: String,
        /// Why.
        source: kube::Error,
    },
    /// The API server failed or could not be reached while listing.
    #[error("cannot read the cluster at {description}: {source}")]
    Read {
        /// The cluster, as [`Cluster::description`] names it.
        description: String,
        /// What the client said.
        source: Box<kube::Error>,
    },
}

/// What a cluster holds.
#[derive(Debug, Default)]
pub struct ClusterInventory {
    /// Every workload read.
    pub workloads: Vec<Workload>,
    /// Namespaces or kinds that could not be read, each naming what and why.
    pub warnings: Vec<String>,
    /// What each Pod's containers run (by namespace and Pod name): the digests the nodes
    /// pulled, for [`RunningDigests::from_listing`](crate::inventory::RunningDigests::from_listing).
    pub pods: BTreeMap<(String, String), Vec<RunningImage>>,
}

/// Objects per list request: big enough to be cheap, small enough for big clusters.
const PAGE_SIZE: u32 = 500;

impl Cluster {
    /// Builds a client from the options; does not contact the server yet.
    pub async fn connect(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
        let kubeconfig =
            match &options.kubeconfig {
                Some(path) => Some(Kubeconfig::read_from(path).map_err(|source| {
                    ClusterError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    }
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
                    .map_err(|source| ClusterError::Context {
                        context: context.clone(),
                        source,
                    })?;
                let description = format!("context {context:?} (server {})", config.cluster_url);
                (config, description)
            }
            None if options.context.is_some() => {
                return Err(ClusterError::ContextWithoutKubeconfig);
            }
            None => {
                let config = Config::incluster().map_err(ClusterError::NoConfiguration)?;
                let description = format!("in-cluster (server {})", config.cluster_url);
                (config, description)
            }
        };
        Cluster::with_client(config, description)
    }

    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token and CA).
    pub fn in_cluster() -> Result<Cluster, ClusterError> {
        let config = Config::incluster().map_err(ClusterError::InCluster)?;
        let description = format!("in-cluster (server {})", config.cluster_url);
        Cluster::with_client(config, description)
    }

    fn with_client(config: Config, description: String) -> Result<Cluster, ClusterError> {
        let client = Client::try_from(config).map_err(|source| ClusterError::Client {
            description: description.clone(),
            source,
        })?;
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
        for kind in WorkloadKind::iter() {
            let resource = kind.api_resource();
            if let Some(namespace) = &options.namespace {
                self.list_into(kind, &resource, Some(namespace), options, &mut inventory)
                    .await?;
                continue;
            }
            if namespaces.is_none() {
                match self
                    .list_into(kind, &resource, None, options, &mut inventory)
                    .await?
                {
                    Listed::Done => continue,
                    Listed::ForbiddenClusterWide => {
                        namespaces = Some(self.namespaces(&mut inventory).await?)
                    }
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

    /// Lists one kind into the inventory. Forbidden in one namespace becomes a warning;
    /// forbidden across all namespaces is returned, for the caller to go namespace by namespace.
    async fn list_into(
        &self,
        kind: WorkloadKind,
        resource: &ApiResource,
        namespace: Option<&str>,
        options: &ClusterOptions,
        inventory: &mut ClusterInventory,
    ) -> Result<Listed, ClusterError> {
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
                    let Some(namespace) = namespace else {
                        return Ok(Listed::ForbiddenClusterWide);
                    };
                    inventory.warnings.push(format!(
                        "cannot list {}s in namespace {namespace:?}: forbidden ({})",
                        kind.kubectl_resource(),
                        status.message
                    ));
                    return Ok(Listed::Done);
                }
                Err(e) => return Err(self.read_error(e)),
            };
            for object in &page.items {
                let mut value = serde_json::to_value(object).expect("a listed object serializes");
                // Lists leave out kind on items; the extraction needs it.
                value["kind"] = kind.as_str().into();
                let default_namespace = object.metadata.namespace.as_deref().unwrap_or("default");
                match Workload::from_object(&value, default_namespace) {
                    Ok(Some(workload)) => {
                        if kind == WorkloadKind::Pod {
                            let images = pod_images(&value);
                            if !images.is_empty() {
                                inventory.pods.insert(
                                    (workload.namespace.clone(), workload.name.clone()),
                                    images,
                                );
                            }
                        }
                        inventory.workloads.push(workload)
                    }
                    Ok(None) => {}
                    Err(e) => inventory.warnings.push(format!("skipped {e}")),
                }
            }
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(Listed::Done),
            }
        }
    }

    async fn namespaces(
        &self,
        inventory: &mut ClusterInventory,
    ) -> Result<Vec<String>, ClusterError> {
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
            Err(e) => Err(self.read_error(e)),
        }
    }

    fn read_error(&self, source: kube::Error) -> ClusterError {
        ClusterError::Read {
            description: self.description.clone(),
            source: Box::new(source),
        }
    }
}

/// How one list went.
enum Listed {
    /// Every page was read (or, in one namespace, the list was forbidden and a warning added).
    Done,
    /// Listing across all namespaces is forbidden: the caller lists namespace by namespace.
    ForbiddenClusterWide,
}

/// The context names of a kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else
/// `~/.kube/config`), in the file's order: what `check --all-contexts` scans.
pub fn contexts(kubeconfig: Option<&std::path::Path>) -> Result<Vec<String>, ClusterError> {
    let config = match kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|source| ClusterError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })?,
        None => Kubeconfig::read().map_err(|source| ClusterError::Kubeconfig {
            path: "(KUBECONFIG or ~/.kube/config)".into(),
            source,
        })?,
    };
    Ok(config.contexts.into_iter().map(|c| c.name).collect())
}
