//! The operator's inventory, kept live by watches (kube-rs reflectors): after the initial list,
//! the API server pushes changes and a scan reads the local stores — no list call per tick.

use std::collections::HashMap;
use std::future::ready;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch as signal;
use tokio::task::JoinSet;

use crate::cluster::api_resource;
use crate::inventory::{Workload, WorkloadKind};

/// Stores of every workload kind, filled and kept current by background watches.
pub struct WatchedInventory {
    stores: Vec<(WorkloadKind, Store<DynamicObject>)>,
    tasks: JoinSet<()>,
    images_changed: signal::Receiver<u64>,
}

impl WatchedInventory {
    /// Starts one watch per kind (and per namespace when `namespaces` is not empty).
    pub fn start(
        client: &Client,
        namespaces: &[String],
        selector: Option<&str>,
    ) -> WatchedInventory {
        let mut stores = Vec::new();
        let mut tasks = JoinSet::new();
        let (changed_tx, images_changed) = signal::channel(0u64);
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        };
        for kind in WorkloadKind::ALL {
            let resource = api_resource(kind);
            for scope in &scopes {
                let api: Api<DynamicObject> = match scope {
                    Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
                    None => Api::all_with(client.clone(), &resource),
                };
                let mut config = watcher::Config::default();
                if let Some(selector) = selector.filter(|s| !s.is_empty()) {
                    config = config.labels(selector);
                }
                let writer = Writer::new(resource.clone());
                stores.push((kind, writer.as_reader()));
                let where_ =
                    scope.map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"));
                let stream = watcher(api, config)
                    .default_backoff()
                    // Only the pod template matters; dropping the rest keeps memory small.
                    .modify(|object: &mut DynamicObject| {
                        object.metadata.managed_fields = None;
                        if let Some(fields) = object.data.as_object_mut() {
                            fields.remove("status");
                        }
                    })
                    .reflect(writer);
                let changed_tx = changed_tx.clone();
                tasks.spawn(async move {
                    // Each object's images, to tell an image change from any other update.
                    let mut images: HashMap<String, Vec<String>> = HashMap::new();
                    stream
                        .for_each(|event| {
                            match event {
                                Err(e) => tracing::warn!(
                                    "watching {}s in {where_}: {e}",
                                    kind.kubectl_resource()
                                ),
                                Ok(event) => {
                                    if images_changed_by(kind, &event, &mut images) {
                                        changed_tx.send_modify(|count| *count += 1);
                                    }
                                }
                            }
                            ready(())
                        })
                        .await;
                });
            }
        }
        WatchedInventory {
            stores,
            tasks,
            images_changed,
        }
    }

    /// Changes each time a workload is added, removed, or its images change after the initial
    /// sync (for `scanOnChange`).
    pub fn images_changed(&self) -> signal::Receiver<u64> {
        self.images_changed.clone()
    }

    /// Waits until every watch has delivered its initial list.
    pub async fn wait_until_ready(&self) {
        for (_, store) in &self.stores {
            // Err means the writer is gone, i.e. we are shutting down.
            let _ = store.wait_until_ready().await;
        }
    }

    /// The workloads the stores hold now; objects that lack required fields are logged and skipped.
    pub fn snapshot(&self) -> Vec<Workload> {
        let mut workloads = Vec::new();
        for (kind, store) in &self.stores {
            for object in store.state() {
                let Ok(mut value) = serde_json::to_value(object.as_ref()) else {
                    continue;
                };
                value["kind"] = kind.as_str().into();
                let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
                match Workload::from_object(&value, namespace) {
                    Ok(Some(workload)) => workloads.push(workload),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("skipped {e}"),
                }
            }
        }
        workloads
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        workloads
    }

    /// Stops the watches.
    pub fn shutdown(mut self) {
        self.tasks.abort_all();
    }
}

/// Whether a watch event changed the images of the workloads (added, removed, or a new image);
/// `images` remembers each object's images. The initial list only fills the memory.
fn images_changed_by(
    kind: WorkloadKind,
    event: &watcher::Event<DynamicObject>,
    images: &mut HashMap<String, Vec<String>>,
) -> bool {
    let key = |object: &DynamicObject| {
        format!(
            "{}/{}",
            object.metadata.namespace.as_deref().unwrap_or_default(),
            object.metadata.name.as_deref().unwrap_or_default()
        )
    };
    match event {
        watcher::Event::Init | watcher::Event::InitDone => false,
        watcher::Event::InitApply(object) => {
            images.insert(key(object), images_of(kind, object));
            false
        }
        watcher::Event::Apply(object) => {
            let now = images_of(kind, object);
            images.insert(key(object), now.clone()) != Some(now)
        }
        watcher::Event::Delete(object) => images.remove(&key(object)).is_some(),
    }
}

/// The `name=image` pairs of an object's containers and init containers.
fn images_of(kind: WorkloadKind, object: &DynamicObject) -> Vec<String> {
    // DynamicObject keeps everything but metadata under `data`, so the path applies as is.
    let spec = kind
        .pod_spec_path()
        .iter()
        .try_fold(&object.data, |value, key| value.get(key));
    ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec?.get(list)?.as_array())
        .flatten()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap_or_default(),
                c["image"].as_str().unwrap_or_default()
            )
        })
        .collect()
}
