//! The operator's inventory, kept live by watches (kube-rs reflectors): after the initial list,
//! the API server pushes changes and a scan reads the local stores — no list call per tick.

use std::future::ready;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinSet;

use crate::cluster::api_resource;
use crate::inventory::{Workload, WorkloadKind};

/// Stores of every workload kind, filled and kept current by background watches.
pub struct WatchedInventory {
    stores: Vec<(WorkloadKind, Store<DynamicObject>)>,
    tasks: JoinSet<()>,
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
                tasks.spawn(async move {
                    stream
                        .for_each(|event| {
                            if let Err(e) = event {
                                tracing::warn!(
                                    "watching {}s in {where_}: {e}",
                                    kind.kubectl_resource()
                                );
                            }
                            ready(())
                        })
                        .await;
                });
            }
        }
        WatchedInventory { stores, tasks }
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
