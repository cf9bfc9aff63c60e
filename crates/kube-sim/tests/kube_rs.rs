//! kube-rs against kube-sim over real HTTP, using the kubeconfig kube-sim writes:
//! typed CRUD and patches, watcher reconnect after dropped watches (no relist), relist after
//! `410 Gone`, a reflector staying consistent across both, bookmarks, and rollout conditions.

mod common;

use common::WAIT;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config, ResourceExt};
use kube_sim::{KubeSim, Running};
use serde_json::json;
use std::time::Duration;

async fn start() -> (Running, Client, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = KubeSim::builder()
        .load(common::fixtures())
        .unwrap()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(cfg.default_namespace, "default");
    (sim, Client::try_from(cfg).unwrap(), dir)
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

/// Pulls watcher events until `pred` matches one (bounded by WAIT).
async fn until<S, T>(stream: &mut S, mut pred: impl FnMut(&T) -> bool) -> T
where
    S: futures::Stream<Item = Result<T, watcher::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                Some(Ok(e)) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("watcher stream ended"),
            }
        }
    })
    .await
    .expect("expected watcher event")
}

fn is_apply(e: &watcher::Event<ConfigMap>, name: &str) -> bool {
    matches!(e, watcher::Event::Apply(o) | watcher::Event::InitApply(o) if o.name_any() == name)
}

#[tokio::test]
async fn typed_crud_and_patches() {
    let (sim, client, _d) = start().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "hub");
    let list = deploys
        .list(&ListParams::default().labels("tier=core"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "mojaloop/central-ledger:v17.1.0"}]}}}});
    let d = deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap();
    let images: Vec<_> = d
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.image.clone().unwrap())
        .collect();
    assert_eq!(
        images,
        ["mojaloop/central-ledger:v17.1.0", "busybox:1.36"],
        "containers merged by name"
    );
    assert_eq!(d.metadata.generation, Some(2));

    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]))
            .unwrap();
    let d = deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &Patch::Json::<()>(jp),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));

    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let applied = cms
        .patch(
            "applied",
            &PatchParams::apply("ml-operator"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.managed_fields()[0].manager.as_deref(),
        Some("ml-operator")
    );

    cms.create(&PostParams::default(), &cm("c1")).await.unwrap();
    let err = cms
        .create(&PostParams::default(), &cm("c1"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert!(status.is_already_exists(), "{status:?}");

    let mut stale = cms.get("c1").await.unwrap();
    let mut fresh = stale.clone();
    fresh.data = Some([("k".to_string(), "new".to_string())].into());
    cms.replace("c1", &PostParams::default(), &fresh)
        .await
        .unwrap();
    stale.data = Some([("k".to_string(), "stale".to_string())].into());
    let kube::Error::Api(status) = cms
        .replace("c1", &PostParams::default(), &stale)
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert!(status.is_conflict());

    let deleted = cms.delete("c1", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right(), "built-in deletes return a Status");
    let kube::Error::Api(status) = cms.get("c1").await.unwrap_err() else {
        panic!()
    };
    assert!(status.is_not_found());

    let leases: Api<Lease> = Api::default_namespaced(client);
    let l: Lease = serde_json::from_value(json!({"metadata": {"name": "ml-operator-leader"}, "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}})).unwrap();
    leases.create(&PostParams::default(), &l).await.unwrap();
    assert_eq!(
        leases
            .get("ml-operator-leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("pod-a")
    );
    drop(sim);
}

/// A dropped watch is resumed from the last resourceVersion: no second list.
#[tokio::test]
async fn watcher_reconnects_after_dropped_watch_without_relisting() {
    let (sim, client, _d) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    until(&mut stream, |e| matches!(e, watcher::Event::InitDone)).await;
    cms.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();
    until(&mut stream, |e| is_apply(e, "before")).await;

    sim.drop_watches();
    cms.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    until(&mut stream, |e| is_apply(e, "after")).await;

    assert_eq!(
        sim.request_count("list", "/api/v1/namespaces/default/configmaps"),
        1,
        "no relist after a dropped watch"
    );
    assert!(
        sim.request_count("watch", "/api/v1/namespaces/default/configmaps") >= 2,
        "re-watched"
    );
}

/// A watch from a compacted resourceVersion gets 410 Gone; the watcher relists and recovers.
#[tokio::test]
async fn watcher_relists_after_410_gone() {
    let (sim, client, _d) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    until(&mut stream, |e| matches!(e, watcher::Event::InitDone)).await;

    cms.create(&PostParams::default(), &cm("during-outage"))
        .await
        .unwrap();
    sim.compact();
    sim.drop_watches();
    // The watcher reports the 410 as an error, then starts over with a fresh list.
    let err = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                Some(Err(e)) => return e,
                Some(Ok(e)) if is_apply(&e, "during-outage") => {}
                Some(Ok(_)) => {}
                None => panic!("ended"),
            }
        }
    })
    .await
    .expect("410 surfaces");
    let watcher::Error::WatchError(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    until(&mut stream, |e| matches!(e, watcher::Event::Init)).await;
    until(&mut stream, |e| is_apply(e, "during-outage")).await;
    until(&mut stream, |e| matches!(e, watcher::Event::InitDone)).await;
    assert_eq!(
        sim.request_count("list", "/api/v1/namespaces/default/configmaps"),
        2,
        "relisted once"
    );
}

/// A reflector's store follows creates, updates and deletes across a dropped watch and a relist.
#[tokio::test]
async fn reflector_stays_consistent_across_faults() {
    let (sim, client, _d) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "hub");
    sim.wait_for_async(
        "apps/v1",
        "Deployment",
        Some("hub"),
        "central-ledger",
        WAIT,
        |d| d["status"]["availableReplicas"] == 2,
    )
    .await
    .unwrap();
    sim.wait_for_async("apps/v1", "StatefulSet", Some("hub"), "mysql", WAIT, |d| {
        d["status"]["readyReplicas"] == 2
    })
    .await
    .unwrap();
    sim.wait_for_async(
        "apps/v1",
        "DaemonSet",
        Some("hub"),
        "fluent-bit",
        WAIT,
        |d| d["status"]["numberReady"] == 1,
    )
    .await
    .unwrap();

    let (reader, writer) = reflector::store::<Pod>();
    let stream = reflector(
        writer,
        watcher(
            pods,
            watcher::Config::default().labels("app=central-ledger"),
        )
        .default_backoff(),
    )
    .applied_objects();
    // Errors (the 410) are reported and retried by the watcher; keep driving past them.
    let driver = tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(WAIT, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.state().len(), 2);
    assert!(
        reader
            .state()
            .iter()
            .all(|p| p.owner_references()[0].kind == "ReplicaSet")
    );

    // Scale to 3 during a dropped watch, then to 1 across a compaction (410 + relist).
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "hub");
    let watches = "/api/v1/namespaces/hub/pods";
    let watching = |n: usize| {
        let sim = sim.handle();
        async move {
            tokio::time::timeout(WAIT, async {
                while sim.request_count("watch", watches) < n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("watch started")
        }
    };
    watching(1).await;
    sim.drop_watches();
    deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let count = |n: usize| {
        let reader = reader.clone();
        async move {
            tokio::time::timeout(WAIT, async {
                loop {
                    if reader.state().len() == n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "reflector never reached {n} pods: {:?}",
                    reader
                        .state()
                        .iter()
                        .map(|p| p.name_any())
                        .collect::<Vec<_>>()
                )
            })
        }
    };
    count(3).await;
    watching(2).await;
    sim.compact();
    sim.drop_watches();
    deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    count(1).await;
    let live = sim
        .list("v1", "Pod", Some("hub"))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "central-ledger")
        .count();
    assert_eq!(live, 1);
    assert_eq!(
        sim.request_count("list", watches),
        2,
        "one relist, after the 410"
    );
    driver.abort();
}

/// Bookmarks reach kube-rs as `WatchEvent::Bookmark` with a resourceVersion.
#[tokio::test]
async fn raw_watch_receives_bookmarks() {
    let (sim, client, _d) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = sim.resource_version().to_string();
    let mut w = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(WAIT, w.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Bookmark(b) = ev else {
        panic!("expected a bookmark, got {ev:?}")
    };
    // The controller may still be rolling out the fixtures, so the bookmark can be newer.
    assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap());
}

/// Injected 500s surface as API errors with a Status body.
#[tokio::test]
async fn injected_errors_surface_as_status() {
    let (sim, client, _d) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "hub");
    sim.inject_errors("/api/v1/namespaces/hub/configmaps", 1, 500);
    let kube::Error::Api(status) = cms.list(&ListParams::default()).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(status.code, 500);
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    sim.forbid_namespace("hub");
    let kube::Error::Api(status) = cms.list(&ListParams::default()).await.unwrap_err() else {
        panic!()
    };
    assert!(status.is_forbidden());
}

/// Rollouts as an operator sees them: observedGeneration catches up after a template change;
/// a failed rollout reports ProgressDeadlineExceeded.
#[tokio::test]
async fn rollout_conditions_via_kube() {
    let (sim, client, _d) = start().await;
    let deploys: Api<Deployment> = Api::namespaced(client, "hub");
    let done = |generation: i64| {
        move |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
                s.observed_generation == Some(generation)
                    && s.conditions.iter().flatten().any(|c| {
                        c.type_ == "Progressing"
                            && c.reason.as_deref() == Some("NewReplicaSetAvailable")
                    })
            })
        }
    };
    let set = |img: &str| {
        Patch::Strategic(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": img}]}}}}),
        )
    };
    deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &set("mojaloop/central-ledger:v17.2.0"),
        )
        .await
        .unwrap();
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(deploys.clone(), "central-ledger", done(2)),
    )
    .await
    .unwrap()
    .unwrap();

    sim.fail_rollout("deployment", "hub", "central-ledger");
    deploys
        .patch(
            "central-ledger",
            &PatchParams::default(),
            &set("mojaloop/central-ledger:v99"),
        )
        .await
        .unwrap();
    let failed = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Progressing" && c.status == "False")
        })
    };
    let d = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(deploys.clone(), "central-ledger", failed),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let st = d.status.unwrap();
    let prog = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(prog.reason.as_deref(), Some("ProgressDeadlineExceeded"));
    assert_eq!(st.observed_generation, Some(3));
}
