//! Reading workloads from a live cluster: `check` without `-f`.
//!
//! Connects with a kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`) or,
//! inside a pod, the service account; lists every workload kind, page by page and a few lists at
//! a time, decodes each object into only the fields a scan reads ([`WatchedObject`], as the
//! operator's watches do) and turns it into a [`Workload`] with the same extraction manifests
//! use. A namespace we may not list is a warning naming it, and the rest of the scan goes on.
//!
//! Pods and ReplicaSets are nearly all controlled by another workload (reported through it), and
//! on a real API server they are most of what a list sends (a page of 250 Pods is ~2.6 MB of
//! JSON). ReplicaSets are listed by their metadata alone (the owner chain is in it), and so are
//! Pods when what they run is not needed (no overwritten-tag check, or no registry to compare
//! with); only the objects no workload controls are then read in full.

use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, ObjectList};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Resource;
use kube::{Client, Config};

use std::collections::BTreeMap;

use super::kube_client;
use super::watched_object::WatchedObject;
use crate::inventory::{ControlledObject, RunningImage, Workload, WorkloadKind};

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
    /// Objects read by their metadata alone that a workload controls (so not in `workloads`):
    /// counted, as `check` counts the controlled objects it drops, and links of the Pods'
    /// owner chains.
    pub controlled: Vec<ControlledObject>,
}

/// Objects per list request. A page is held whole (as text) while it is decoded, so this bounds
/// that to a few megabytes (objects as Helm and `kubectl apply` write them are ~10 KB); the
/// request count this adds is cheap next to the decoding.
const PAGE_SIZE: u32 = 250;

/// Lists (kinds, or kinds in namespaces) read at once: the API server answers them in
/// parallel, and each holds at most one page in memory.
const LISTS_IN_FLIGHT: usize = 4;

/// After a metadata list, at most this many objects no workload controls are read one by one;
/// more, and the kind is listed again in full (one request per page instead of per object).
const SINGLE_READS_MAX: usize = 32;

/// The kinds in the order their lists start: the longest first (every workload has Pods,
/// every Deployment keeps its old ReplicaSets), so that a long list does not start last and
/// run on alone after the short ones.
const LIST_ORDER: [WorkloadKind; 8] = [
    WorkloadKind::Pod,
    WorkloadKind::ReplicaSet,
    WorkloadKind::Deployment,
    WorkloadKind::Job,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
    WorkloadKind::CronJob,
    WorkloadKind::ReplicationController,
];

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
        let client = kube_client::client(config).map_err(|source| ClusterError::Client {
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

    /// Lists every workload kind, `LISTS_IN_FLIGHT` lists at a time, each page read up to
    /// `max_page_bytes` (`--max-input-size`: 250 objects as Helm and `kubectl apply` write them
    /// are 2–3 MB). ReplicaSets are listed by metadata and only the ones no workload controls
    /// are read in full; Pods too without `running_images`, with it every Pod is read in full
    /// for what its containers run ([`ClusterInventory::pods`]). An unreachable server or a
    /// larger page is an error; a kind or namespace we are forbidden to list is a warning. The
    /// workloads come kind by kind (in [`WorkloadKind`] order), each kind in the server's order,
    /// whatever order the lists finish in.
    pub async fn workloads(
        &self,
        options: &ClusterOptions,
        max_page_bytes: u64,
        running_images: bool,
    ) -> Result<ClusterInventory, ClusterError> {
        let scope = options.namespace.as_deref();
        let read = Read {
            options,
            max_page_bytes,
            running_images,
        };
        let listed = self.list_each(LIST_ORDER.into_iter(), |kind| (kind, scope), &read);
        let mut lists = Vec::new();
        let mut forbidden = Vec::new();
        for (kind, listed) in LIST_ORDER.into_iter().zip(listed.await?) {
            match listed {
                Listed::Done(list) => lists.push((kind, vec![list])),
                Listed::ForbiddenClusterWide => {
                    forbidden.push(kind);
                    lists.push((kind, Vec::new()));
                }
            }
        }
        let mut inventory = ClusterInventory::default();
        if !forbidden.is_empty() {
            // No cluster-wide permission: namespace by namespace.
            let namespaces = self.namespaces(&mut inventory).await?;
            let pairs: Vec<(WorkloadKind, &str)> = forbidden
                .iter()
                .flat_map(|kind| namespaces.iter().map(move |ns| (*kind, ns.as_str())))
                .collect();
            let listed = self
                .list_each(pairs.iter().copied(), |(kind, ns)| (kind, Some(ns)), &read)
                .await?;
            for ((kind, _), listed) in pairs.into_iter().zip(listed) {
                if let Listed::Done(list) = listed
                    && let Some((_, per_kind)) = lists.iter_mut().find(|(k, _)| *k == kind)
                {
                    per_kind.push(list);
                }
            }
        }
        lists.sort_by_key(|(kind, _)| *kind);
        for list in lists.into_iter().flat_map(|(_, per_kind)| per_kind) {
            inventory.workloads.extend(list.workloads);
            inventory.warnings.extend(list.warnings);
            inventory.pods.extend(list.pods);
            inventory.controlled.extend(list.controlled);
        }
        Ok(inventory)
    }

    /// Lists each of `items` (a kind in a namespace or all, as `scope` says), at most
    /// `LISTS_IN_FLIGHT` at a time, started in the order of `items` (the next as soon as
    /// any one finishes); the results in the order of `items`, or the first error.
    async fn list_each<'s, T>(
        &self,
        items: impl Iterator<Item = T>,
        scope: impl Fn(T) -> (WorkloadKind, Option<&'s str>),
        read: &Read<'_>,
    ) -> Result<Vec<Listed>, ClusterError> {
        let lists = items.enumerate().map(|(index, item)| {
            let (kind, namespace) = scope(item);
            async move {
                let listed = self.list_kind(kind, namespace, read).await?;
                Ok::<_, ClusterError>((index, listed))
            }
        });
        let mut done: Vec<(usize, Listed)> = futures::stream::iter(lists)
            .buffer_unordered(LISTS_IN_FLIGHT)
            .try_collect()
            .await?;
        done.sort_by_key(|(index, _)| *index);
        Ok(done.into_iter().map(|(_, listed)| listed).collect())
    }

    /// Lists one kind: in full, or (ReplicaSets; Pods when running images are not needed) by
    /// metadata, then reads in full the objects no workload controls — one by one when they are
    /// few, else (or when `get` is forbidden) by listing the kind again in full.
    async fn list_kind(
        &self,
        kind: WorkloadKind,
        namespace: Option<&str>,
        read: &Read<'_>,
    ) -> Result<Listed, ClusterError> {
        let by_metadata = match kind {
            WorkloadKind::ReplicaSet => true,
            WorkloadKind::Pod => !read.running_images,
            _ => false,
        };
        if !by_metadata {
            return self.list_pages(kind, namespace, read, Shape::Full).await;
        }
        let mut list = match self
            .list_pages(kind, namespace, read, Shape::Metadata)
            .await?
        {
            Listed::Done(list) => list,
            forbidden => return Ok(forbidden),
        };
        if list.uncontrolled.len() > SINGLE_READS_MAX {
            return self.list_pages(kind, namespace, read, Shape::Full).await;
        }
        let uncontrolled = std::mem::take(&mut list.uncontrolled);
        let read_one = futures::stream::iter(uncontrolled)
            .map(|(namespace, name)| async move {
                self.get_object(kind, &namespace, &name, read.max_page_bytes)
                    .await
            })
            .buffered(LISTS_IN_FLIGHT)
            .try_collect::<Vec<Option<WatchedObject>>>()
            .await;
        let objects = match read_one {
            Ok(objects) => objects,
            // Allowed to list but not to get by name: the list in full needs only `list`.
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return self.list_pages(kind, namespace, read, Shape::Full).await;
            }
            Err(e) => return Err(self.read_error(e)),
        };
        for object in objects.iter().flatten() {
            list.add(kind, object);
        }
        Ok(Listed::Done(list))
    }

    /// Lists one kind, page by page, decoding each object straight into the few fields a scan
    /// reads ([`WatchedObject`], as the operator's watches do): whole objects, or their metadata
    /// alone (then the controlled ones are counted and the others named in
    /// [`KindList::uncontrolled`]). Forbidden in one namespace becomes a warning; forbidden
    /// across all namespaces is returned, for the caller to go namespace by namespace.
    async fn list_pages(
        &self,
        kind: WorkloadKind,
        namespace: Option<&str>,
        read: &Read<'_>,
        shape: Shape,
    ) -> Result<Listed, ClusterError> {
        let resource = kind.api_resource();
        let request = kube::core::Request::new(WatchedObject::url_path(&resource, namespace));
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if !read.options.selector.is_empty() {
            params = params.labels(&read.options.selector);
        }
        let mut list = KindList::default();
        loop {
            let built = match shape {
                Shape::Full => request.list(&params),
                Shape::Metadata => request.list_metadata(&params),
            };
            let http = built.map_err(|e| self.read_error(kube::Error::BuildRequest(e)))?;
            let page = match self
                .read_json::<ObjectList<WatchedObject>>(http, "list", read.max_page_bytes)
                .await
            {
                Ok(page) => page,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    let Some(namespace) = namespace else {
                        return Ok(Listed::ForbiddenClusterWide);
                    };
                    list.warnings.push(format!(
                        "cannot list {}s in namespace {namespace:?}: forbidden ({})",
                        kind.kubectl_resource(),
                        status.message
                    ));
                    return Ok(Listed::Done(list));
                }
                Err(e) => return Err(self.read_error(e)),
            };
            for object in page.items {
                match shape {
                    Shape::Full => list.add(kind, &object),
                    Shape::Metadata => {
                        let namespace = object.metadata.namespace.clone().unwrap_or_default();
                        let name = object.metadata.name.clone().unwrap_or_default();
                        match object.controller() {
                            Some(controller) => list.controlled.push(ControlledObject {
                                namespace,
                                kind,
                                name,
                                controller,
                            }),
                            None => list.uncontrolled.push((namespace, name)),
                        }
                    }
                }
            }
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(Listed::Done(list)),
            }
        }
    }

    /// One object of `kind` read in full; `None` when it is gone (deleted since it was listed).
    async fn get_object(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        max_bytes: u64,
    ) -> Result<Option<WatchedObject>, kube::Error> {
        let resource = kind.api_resource();
        let request = kube::core::Request::new(WatchedObject::url_path(&resource, Some(namespace)));
        let http = request
            .get(name, &Default::default())
            .map_err(kube::Error::BuildRequest)?;
        match self.read_json(http, "get", max_bytes).await {
            Ok(object) => Ok(Some(object)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A response body decoded as read (kube's `Api::list` copies a page twice on its way to
    /// text: a Pod page of 250 is ~2.5 MB). At most `max_bytes` are read; a larger body is an
    /// error naming the request's path. `verb` (`list`, `get`) names the request in the
    /// client's trace spans, as kube's `Api` does.
    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        mut http: hyper::Request<Vec<u8>>,
        verb: &'static str,
        max_bytes: u64,
    ) -> Result<T, kube::Error> {
        use futures::{AsyncBufRead, AsyncBufReadExt};
        let what = match verb {
            "list" => "a list page of",
            _ => "the object",
        };
        let path = http.uri().path().to_string();
        http.extensions_mut().insert(verb);
        let mut body = std::pin::pin!(self.client.request_stream(http).await?);
        // Chunk by chunk as they arrive, each copied once (`read_to_end` would zero the spare
        // capacity again after every wait).
        let mut bytes = Vec::new();
        loop {
            let chunk = body
                .fill_buf()
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))?;
            if chunk.is_empty() {
                break;
            }
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(kube::Error::Service(
                    format!(
                        "{what} {path}: larger than the limit of {} for one input (--max-input-size)",
                        super::manifest::format_bytes(max_bytes)
                    )
                    .into(),
                ));
            }
            bytes.extend_from_slice(chunk);
            let read = chunk.len();
            body.as_mut().consume(read);
        }
        serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)
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
    /// Every page was read (or, in one namespace, the list was forbidden: a warning says so).
    Done(KindList),
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

/// How lists are read: the caller's options and the bound on one page.
struct Read<'a> {
    options: &'a ClusterOptions,
    max_page_bytes: u64,
    /// Whether every Pod is read in full for what its containers run.
    running_images: bool,
}

/// What a list request asks the API server for.
#[derive(Clone, Copy)]
enum Shape {
    /// Whole objects.
    Full,
    /// Each object's metadata alone (`PartialObjectMetadataList`).
    Metadata,
}

/// What one list of one kind read.
#[derive(Default)]
struct KindList {
    workloads: Vec<Workload>,
    warnings: Vec<String>,
    pods: BTreeMap<(String, String), Vec<RunningImage>>,
    /// Objects listed by metadata that a workload controls.
    controlled: Vec<ControlledObject>,
    /// Objects listed by metadata that no workload controls (namespace, name): to read in full.
    uncontrolled: Vec<(String, String)>,
}

impl KindList {
    /// Adds one whole object: its workload (and a Pod's running images), or a warning when it
    /// lacks what a workload needs.
    fn add(&mut self, kind: WorkloadKind, object: &WatchedObject) {
        match object.to_parts(kind) {
            Ok(Some((workload, images))) => {
                if kind == WorkloadKind::Pod && !images.is_empty() {
                    self.pods
                        .insert((workload.namespace.clone(), workload.name.clone()), images);
                }
                self.workloads.push(workload)
            }
            Ok(None) => {}
            Err(e) => self.warnings.push(format!("skipped {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let mut listed = LIST_ORDER.to_vec();
        listed.sort();
        assert_eq!(listed, WorkloadKind::iter().collect::<Vec<_>>());
    }
}
