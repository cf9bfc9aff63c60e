//! The operator's inventory, kept live by watches: after the initial list, the API server
//! pushes changes and a scan reads local memory — no list call per tick.
//!
//! Each watch keeps its objects as [`Workload`]s (a few hundred bytes each), decoded from the
//! API server's JSON through [`WatchedObject`], so memory grows with the number of containers,
//! not with the size of the objects. Objects another workload controls (a Deployment's
//! ReplicaSets and Pods, a CronJob's Jobs) are reported through that controller, so only their
//! controller is kept for them — and, for a Pod, each container's name, image and the digest
//! its node pulled (for the overwritten-tag check): on a big cluster they are most of the
//! objects, and this is about a hundred bytes each.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use strum::IntoEnumIterator;

use futures::{Stream, StreamExt};
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch as signal;
use tokio::task::JoinSet;

use super::watched_object::WatchedObject;
use crate::inventory::{
    Container, Controller, RunningDigests, RunningImage, Workload, WorkloadKind,
};

/// Objects per page of a watch's initial list. Smaller than client-go's 500: a page is held
/// whole while it is decoded, and this bounds that to about a megabyte (100 objects of ~10 KB
/// as Helm and `kubectl apply` write them) at the cost of a few more list requests at start-up.
const LIST_PAGE_SIZE: u32 = 100;

/// One watch's objects by namespace and name.
type Objects = HashMap<(String, String), Watched>;

/// What is kept of one object.
enum Watched {
    /// A workload reported on its own (shared with the scans' snapshots, not copied into
    /// them); a bare Pod also keeps what its containers run.
    Workload(Arc<Workload>, Vec<RunningImage>),
    /// A workload that another workload controls: not reported, only its controller (to
    /// follow owner chains) and, for a Pod, what its containers run (name, image, digest).
    Controlled(Box<(Controller, Vec<RunningImage>)>),
}

impl Watched {
    fn new(workload: Workload, running: Vec<RunningImage>) -> Watched {
        match workload
            .controller
            .clone()
            .filter(|_| workload.is_controlled())
        {
            Some(controller) => Watched::Controlled(Box::new((controller, running))),
            None => Watched::Workload(Arc::new(workload), running),
        }
    }

    /// The containers a scan would report for it.
    fn containers(&self) -> Option<&[Container]> {
        match self {
            Watched::Workload(workload, _) => Some(&workload.containers),
            Watched::Controlled(_) => None,
        }
    }
}

/// The watched workloads at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Workloads to report, sorted by namespace, kind and name; shared with the watches, so a
    /// snapshot costs a pointer per workload.
    pub workloads: Vec<Arc<Workload>>,
    /// ReplicaSets, Pods and Jobs left out because their controller is reported instead.
    pub controlled: usize,
    /// What the workloads' Pods run: the digests their nodes pulled (empty when the inventory
    /// does not keep them).
    pub running: RunningDigests,
}

/// What one watch (one kind, in one namespace or all) has seen.
struct WatchedKind {
    kind: WorkloadKind,
    objects: Arc<RwLock<Objects>>,
    /// Becomes true once the initial list is in.
    ready: signal::Receiver<bool>,
}

/// Every workload kind's objects, filled and kept current by background watches.
pub struct WatchedInventory {
    watches: Vec<WatchedKind>,
    tasks: JoinSet<()>,
    images_changed: signal::Receiver<u64>,
    /// Whether the Pods' running digests are kept (only the overwritten-tag check reads them).
    running: bool,
}

impl WatchedInventory {
    /// Starts one watch per kind (and per namespace when `namespaces` is not empty); with
    /// `running`, it also keeps what each Pod runs (the digests its node pulled), for
    /// [`Snapshot::running`].
    pub fn start(
        client: &Client,
        namespaces: &[String],
        selector: Option<&str>,
        running: bool,
    ) -> WatchedInventory {
        let mut watches = Vec::new();
        let mut tasks = JoinSet::new();
        let (changed_tx, images_changed) = signal::channel(0u64);
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        };
        for kind in WorkloadKind::iter() {
            let resource = kind.api_resource();
            for scope in &scopes {
                let api: Api<WatchedObject> = match scope {
                    Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
                    None => Api::all_with(client.clone(), &resource),
                };
                let mut config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
                if let Some(selector) = selector.filter(|s| !s.is_empty()) {
                    config = config.labels(selector);
                }
                let objects = Arc::new(RwLock::new(Objects::new()));
                let (ready_tx, ready) = signal::channel(false);
                watches.push(WatchedKind {
                    kind,
                    objects: Arc::clone(&objects),
                    ready,
                });
                let follower = Follower {
                    kind,
                    scope: scope
                        .map_or("all namespaces".to_string(), |ns| format!("namespace {ns}")),
                    objects,
                    ready: ready_tx,
                    images_changed: changed_tx.clone(),
                    running,
                };
                tasks.spawn(follower.follow(watcher(api, config).default_backoff()));
            }
        }
        WatchedInventory {
            watches,
            tasks,
            images_changed,
            running,
        }
    }

    /// Changes each time a workload is added, removed, or its images change after the initial
    /// sync (for `scanOnChange`).
    pub fn images_changed(&self) -> signal::Receiver<u64> {
        self.images_changed.clone()
    }

    /// Waits until every watch has delivered its initial list.
    pub async fn wait_until_ready(&self) {
        for watch in &self.watches {
            // Err means the watch task is gone, i.e. we are shutting down.
            let _ = watch.ready.clone().wait_for(|ready| *ready).await;
        }
    }

    /// The workloads the watches hold now and (when kept) what their Pods run.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let guards: Vec<_> = self
            .watches
            .iter()
            .map(|watch| {
                let objects = watch.objects.read().unwrap_or_else(PoisonError::into_inner);
                (watch.kind, objects)
            })
            .collect();
        let mut links = Vec::new();
        let mut pods = Vec::new();
        for (kind, objects) in &guards {
            for ((namespace, name), object) in objects.iter() {
                match object {
                    Watched::Workload(workload, running) => {
                        snapshot.workloads.push(Arc::clone(workload));
                        pods.push((namespace.as_str(), name.as_str(), None, running.as_slice()));
                    }
                    Watched::Controlled(parts) => {
                        snapshot.controlled += 1;
                        let (controller, running) = &**parts;
                        links.push((
                            (namespace.as_str(), kind.as_str(), name.as_str()),
                            controller,
                        ));
                        if *kind == WorkloadKind::Pod {
                            pods.push((
                                namespace.as_str(),
                                name.as_str(),
                                Some(controller),
                                running.as_slice(),
                            ));
                        }
                    }
                }
            }
        }
        if self.running {
            snapshot.running = RunningDigests::gather(links, pods);
        }
        drop(guards);
        snapshot
            .workloads
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        snapshot
    }

    /// Stops the watches.
    pub fn shutdown(mut self) {
        self.tasks.abort_all();
    }
}

/// Applies one watch's events to its objects.
struct Follower {
    kind: WorkloadKind,
    /// `all namespaces` or `namespace x`, for log lines.
    scope: String,
    objects: Arc<RwLock<Objects>>,
    ready: signal::Sender<bool>,
    images_changed: signal::Sender<u64>,
    /// Whether a Pod's running images are kept.
    running: bool,
}

impl Follower {
    /// Runs until the stream ends (never, with back-off: the task is aborted at shutdown).
    async fn follow(
        self,
        events: impl Stream<Item = Result<watcher::Event<WatchedObject>, watcher::Error>>,
    ) {
        // A (re)list is collected here and replaces the objects when it is complete, so a scan
        // never sees half a list.
        let mut relist: Option<Objects> = None;
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    let resource = self.kind.kubectl_resource();
                    tracing::warn!("watching {resource}s in {}: {e}", self.scope);
                    continue;
                }
            };
            if self.apply(event, &mut relist) {
                self.images_changed.send_modify(|count| *count += 1);
            }
        }
    }

    /// Applies one event; true when it added or removed a reported workload or changed its
    /// images (the first list only fills memory; a relist counts when it differs from before).
    fn apply(&self, event: watcher::Event<WatchedObject>, relist: &mut Option<Objects>) -> bool {
        match event {
            watcher::Event::Init => {
                *relist = Some(Objects::new());
                false
            }
            watcher::Event::InitApply(object) => {
                if let Some((workload, running)) = self.read(&object) {
                    relist
                        .get_or_insert_default()
                        .insert(key(&object), Watched::new(workload, running));
                }
                false
            }
            watcher::Event::InitDone => {
                let listed = relist.take().unwrap_or_default();
                let mut objects = self.write();
                let first = !*self.ready.borrow();
                let changed = !first && !same_images(&objects, &listed);
                *objects = listed;
                self.ready.send_replace(true);
                changed
            }
            watcher::Event::Apply(object) => {
                let key = key(&object);
                let mut objects = self.write();
                let before = match self.read(&object) {
                    Some((workload, running)) => {
                        objects.insert(key.clone(), Watched::new(workload, running))
                    }
                    None => objects.remove(&key),
                };
                containers(before.as_ref()) != containers(objects.get(&key))
            }
            watcher::Event::Delete(object) => {
                let before = self.write().remove(&key(&object));
                containers(before.as_ref()).is_some()
            }
        }
    }

    /// The object as a workload (and a Pod's running images); objects that lack required
    /// fields are logged and skipped.
    fn read(&self, object: &WatchedObject) -> Option<(Workload, Vec<RunningImage>)> {
        match object.to_parts(self.kind) {
            Ok(parts) if self.running => parts,
            Ok(parts) => parts.map(|(workload, _)| (workload, Vec::new())),
            Err(e) => {
                tracing::warn!("skipped {e}");
                None
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(object: &WatchedObject) -> (String, String) {
    let metadata = &object.metadata;
    (
        metadata.namespace.clone().unwrap_or_default(),
        metadata.name.clone().unwrap_or_default(),
    )
}

/// The containers an object (present or not) adds to a scan.
fn containers(object: Option<&Watched>) -> Option<&[Container]> {
    object.and_then(Watched::containers)
}

/// Whether two sets of objects add the same workloads with the same containers to a scan.
fn same_images(a: &Objects, b: &Objects) -> bool {
    let covered = |x: &Objects, y: &Objects| {
        x.iter()
            .all(|(key, object)| object.containers() == containers(y.get(key)))
    };
    covered(a, b) && covered(b, a)
}
