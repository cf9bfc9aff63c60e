//! What `check` reads before it scans: manifests (`-f`), one cluster (the kubeconfig's current
//! context, or one `--context`), or a fleet (`--context A --context B …`, `--all-contexts`).
//!
//! In: the `check` arguments and the filters. Out: one [`Member`] per source read — its
//! workloads (filtered, controlled ones dropped), what its Pods run, its pull-secret
//! credentials and Helm releases, its warnings — and, in a fleet, each cluster that could not be
//! read with why. A fleet's clusters are read concurrently (at most [`FLEET_CONCURRENCY`] at
//! once), each within `--cluster-timeout`; one cluster failing leaves the others alone.

use std::time::Duration;

use futures::StreamExt;
use ml_operator_registry::Credential;

use super::{CheckArgs, Failure};
use crate::inventory::selector::Selector;
use crate::inventory::{RunningDigests, Workload, drop_controlled, server_selector};
use crate::source::argocd::SelfHeal;
use crate::source::cluster::{self, Cluster, ClusterOptions};
use crate::source::manifest;
use crate::values::release::Release;

/// Clusters of a fleet read at the same time.
pub(super) const FLEET_CONCURRENCY: usize = 4;

/// What the arguments ask to read.
pub(super) enum Plan {
    /// `-f`: manifests.
    Manifests,
    /// One cluster: the kubeconfig's current context, the one `--context`, or in-cluster.
    Cluster,
    /// Several kubeconfig contexts, in this order (`cluster` set on every finding).
    Fleet(Vec<String>),
}

impl Plan {
    /// How many clusters are read (0 for manifests).
    pub(super) fn clusters(&self) -> usize {
        match self {
            Plan::Manifests => 0,
            Plan::Cluster => 1,
            Plan::Fleet(contexts) => contexts.len(),
        }
    }
}

/// The plan the arguments make: `-f` with a cluster flag is an input error, as is
/// `--all-contexts` on a kubeconfig without contexts.
pub(super) fn plan(args: &CheckArgs) -> Result<Plan, Failure> {
    if !args.files.is_empty() {
        if args.kubeconfig.is_some() || !args.context.is_empty() || args.all_contexts {
            return Err(Failure::Input(
                "-f reads manifests; --kubeconfig, --context and --all-contexts read a cluster: give one or the other".into(),
            ));
        }
        return Ok(Plan::Manifests);
    }
    if args.all_contexts {
        let contexts = cluster::contexts(args.kubeconfig.as_deref())
            .map_err(|e| Failure::Input(format!("--all-contexts: {e}")))?;
        if contexts.is_empty() {
            return Err(Failure::Input(
                "--all-contexts: the kubeconfig has no contexts".into(),
            ));
        }
        return Ok(Plan::Fleet(contexts));
    }
    let mut contexts: Vec<String> = Vec::new();
    for context in &args.context {
        if !contexts.contains(context) {
            contexts.push(context.clone());
        }
    }
    Ok(match contexts.len() {
        0 | 1 => Plan::Cluster,
        _ => Plan::Fleet(contexts),
    })
}

/// One source read: the workloads to scan and what goes with them.
pub(super) struct Member {
    /// The kubeconfig context, in a fleet.
    pub(super) name: Option<String>,
    /// The workloads, filtered, controlled ones dropped.
    pub(super) workloads: Vec<Workload>,
    /// What their Pods run (empty for manifests).
    pub(super) running: RunningDigests,
    /// Workloads reported through their controller instead.
    pub(super) controlled: usize,
    /// Objects that are not workloads (manifests only).
    pub(super) other_objects: usize,
    /// What could not be read, each naming what and why.
    pub(super) warnings: Vec<String>,
    /// Registry credentials from the workloads' image pull secrets.
    pub(super) credentials: Vec<(String, Credential)>,
    /// The Helm releases of Helm-managed workloads.
    pub(super) releases: Vec<Release>,
    /// The selfHeal of the Argo CD Applications of Argo CD-managed workloads.
    pub(super) self_heal: SelfHeal,
    /// Whether this is a cluster (Pods were read) rather than manifests.
    pub(super) is_cluster: bool,
}

/// A fleet's cluster that could not be read.
pub(super) struct Unread {
    /// The kubeconfig context.
    pub(super) name: String,
    /// Why: names the context and server, never a credential.
    pub(super) error: String,
}

/// The filters every source is read with.
pub(super) struct Filters<'a> {
    /// `-l`.
    pub(super) selector: &'a Selector,
    /// `--services` (or the configuration's).
    pub(super) services: &'a [String],
    /// Whether the tag source can use pull-secret credentials (the registries).
    pub(super) pull_secrets: bool,
    /// Where Argo CD's Applications live unless a tracking id names another namespace.
    pub(super) argocd_namespace: &'a str,
    /// Whether what the Pods run is read (the overwritten-tag check compares it with a
    /// registry's answers); without it Pods are listed by metadata, as [`Cluster::workloads`]
    /// says.
    pub(super) running_images: bool,
}

/// Reads what the plan names. One cluster or manifests: an error ends `check` as before. A
/// fleet: each cluster that fails is returned in the second list, the others in the first.
pub(super) async fn read(
    args: &CheckArgs,
    plan: &Plan,
    filters: &Filters<'_>,
) -> Result<(Vec<Member>, Vec<Unread>), Failure> {
    match plan {
        Plan::Manifests => Ok((vec![manifests(args, filters)?], Vec::new())),
        Plan::Cluster => {
            let member = bounded(args, args.context.first().cloned(), filters)
                .await
                .map_err(Failure::Runtime)?;
            Ok((vec![member], Vec::new()))
        }
        Plan::Fleet(contexts) => {
            let results: Vec<(String, Result<Member, String>)> =
                futures::stream::iter(contexts.iter().cloned())
                    .map(|context| async move {
                        let result = bounded(args, Some(context.clone()), filters).await;
                        (context, result)
                    })
                    .buffered(FLEET_CONCURRENCY)
                    .collect()
                    .await;
            let mut members = Vec::new();
            let mut unread = Vec::new();
            for (name, result) in results {
                match result {
                    Ok(mut member) => {
                        member.warnings = member
                            .warnings
                            .into_iter()
                            .map(|w| format!("cluster {name:?}: {w}"))
                            .collect();
                        member.name = Some(name);
                        members.push(member);
                    }
                    Err(error) => unread.push(Unread { name, error }),
                }
            }
            Ok((members, unread))
        }
    }
}

fn manifests(args: &CheckArgs, filters: &Filters<'_>) -> Result<Member, Failure> {
    let default_namespace = args.namespace.as_deref().unwrap_or("default");
    let manifests = manifest::load(&args.files, default_namespace, args.max_input_size)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let mut workloads = filter(args, filters, manifests.workloads, Labels::All);
    let controlled = drop_controlled(&mut workloads);
    Ok(Member {
        name: None,
        workloads,
        running: RunningDigests::default(),
        controlled,
        other_objects: manifests.other_objects,
        warnings: manifests.warnings,
        credentials: Vec::new(),
        releases: Vec::new(),
        self_heal: SelfHeal::new(),
        is_cluster: false,
    })
}

/// [`one_cluster`] within `--cluster-timeout`.
async fn bounded(
    args: &CheckArgs,
    context: Option<String>,
    filters: &Filters<'_>,
) -> Result<Member, String> {
    let limit: Duration = args.cluster_timeout;
    let what = match &context {
        Some(context) => format!("context {context:?}"),
        None => "the cluster".to_string(),
    };
    match tokio::time::timeout(limit, one_cluster(args, context, filters)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "reading {what} took longer than --cluster-timeout {}",
            crate::config::duration::format(limit)
        )),
    }
}

/// One cluster: its workloads and Pods listed, then (for the registries) its pull secrets and
/// (unless `--no-helm-releases`) the Helm releases of what is scanned, and the selfHeal of the
/// Argo CD Applications that manage it.
async fn one_cluster(
    args: &CheckArgs,
    context: Option<String>,
    filters: &Filters<'_>,
) -> Result<Member, String> {
    let options = ClusterOptions {
        kubeconfig: args.kubeconfig.clone(),
        context,
        namespace: args.namespace.clone(),
        selector: server_selector(filters.selector.as_str(), filters.services),
    };
    let cluster = Cluster::connect(&options)
        .await
        .map_err(|e| e.to_string())?;
    let inventory = cluster
        .workloads(&options, args.max_input_size, filters.running_images)
        .await
        .map_err(|e| e.to_string())?;
    let mut warnings = inventory.warnings;
    let listed_controlled = inventory.controlled.len();
    // What the nodes run, from every Pod listed (before filtering: Pods and ReplicaSets need
    // not carry their workload's labels).
    let running =
        RunningDigests::from_listing(&inventory.workloads, &inventory.pods, &inventory.controlled);
    let mut workloads = filter(args, filters, inventory.workloads, Labels::Read);
    let controlled = drop_controlled(&mut workloads) + listed_controlled;
    // On a cluster, registries see the credentials kubelet pulls with.
    let mut credentials = Vec::new();
    if filters.pull_secrets && !args.no_pull_secrets {
        let (found, found_warnings) = cluster.pull_secret_credentials(&workloads).await;
        credentials = found;
        warnings.extend(found_warnings);
    }
    // Helm releases hold secrets: read only with the caller's permissions, reduced at once to
    // image keys.
    let mut releases = Vec::new();
    if !args.no_helm_releases {
        let (found, found_warnings) = cluster.helm_releases(&workloads, args.max_input_size).await;
        releases = found;
        warnings.extend(found_warnings);
    }
    // Argo CD Applications: only their selfHeal, with the caller's permissions.
    let (self_heal, found_warnings) = cluster
        .argocd_self_heal(&workloads, filters.argocd_namespace)
        .await;
    warnings.extend(found_warnings);
    Ok(Member {
        name: None,
        workloads,
        running,
        controlled,
        other_objects: 0,
        warnings,
        credentials,
        releases,
        self_heal,
        is_cluster: true,
    })
}

/// Which labels the workloads read hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Labels {
    /// Every label written (manifests).
    All,
    /// Only the labels a scan reads (a cluster's lists, decoded as the watches do); the server
    /// has already applied `-l` with every label.
    Read,
}

/// The workloads `-n`, `-l` and `--services` keep. `-l` is matched here only where the
/// workloads hold every label: a cluster's lists were selected by the server.
fn filter(
    args: &CheckArgs,
    filters: &Filters<'_>,
    workloads: Vec<Workload>,
    labels: Labels,
) -> Vec<Workload> {
    workloads
        .into_iter()
        .filter(|w| args.namespace.as_ref().is_none_or(|ns| &w.namespace == ns))
        .filter(|w| labels == Labels::Read || filters.selector.matches(&w.labels.to_btree_map()))
        .filter(|w| w.is_one_of(filters.services))
        .collect()
}
