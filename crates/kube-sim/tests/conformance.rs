//! Conformance suite for kube-sim, written from the Kubernetes API conventions
//! (kubernetes/community `contributors/devel/sig-architecture/api-conventions.md`) and the
//! real API server's observable behaviour. Each test names the convention it checks, over real
//! HTTP, so the simulator stays faithful as it grows.

mod common;

use common::{QueryExt, WatchLines, call, client, deployment};
use kube_sim::{KubeSim, Running};
use serde_json::{Value, json};

async fn sim() -> Running {
    KubeSim::builder()
        .bookmark_interval(std::time::Duration::from_millis(100))
        .start()
        .await
        .expect("start")
}

fn is_status(v: &Value, code: u16, reason: &str) {
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["apiVersion"], "v1", "{v}");
    assert_eq!(v["status"], "Failure", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["reason"], reason, "{v}");
    assert!(v["message"].is_string(), "{v}");
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion is a string")
        .parse()
        .expect("numeric in kube-sim")
}

/// "Resources ... exposed via Collections ... and Elements"; discovery lists each resource
/// with kind, scope, verbs, short names, and its subresources.
#[tokio::test]
async fn discovery_documents() {
    let s = sim().await;
    let c = client();
    let (code, api) = call(c.get(format!("{}/api", s.url()))).await;
    assert_eq!((code, api["kind"].as_str()), (200, Some("APIVersions")));
    assert_eq!(api["versions"], json!(["v1"]));

    let (_, apis) = call(c.get(format!("{}/apis", s.url()))).await;
    assert_eq!(apis["kind"], "APIGroupList");
    let apps = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "apps")
        .expect("apps group");
    assert_eq!(apps["preferredVersion"]["groupVersion"], "apps/v1");
    for g in [
        "batch",
        "coordination.k8s.io",
        "events.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(
            apis["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == g),
            "{g}"
        );
    }

    let (_, rl) = call(c.get(format!("{}/apis/apps/v1", s.url()))).await;
    assert_eq!(rl["kind"], "APIResourceList");
    assert_eq!(rl["groupVersion"], "apps/v1");
    let find = |n: &str| {
        rl["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n}"))
    };
    let d = find("deployments");
    assert_eq!(
        (
            d["kind"].as_str(),
            d["singularName"].as_str(),
            d["namespaced"].as_bool()
        ),
        (Some("Deployment"), Some("deployment"), Some(true))
    );
    assert_eq!(d["shortNames"], json!(["deploy"]));
    assert!(d["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert_eq!(
        find("deployments/status")["verbs"],
        json!(["get", "patch", "update"])
    );
    assert_eq!(find("deployments/scale")["kind"], "Scale");
    assert_eq!(find("deployments/scale")["group"], "autoscaling");

    let (_, core) = call(c.get(format!("{}/api/v1", s.url()))).await;
    let ns = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap();
    assert_eq!(ns["namespaced"], false);
    assert_eq!(ns["shortNames"], json!(["ns"]));

    let (code, v) = call(c.get(format!("{}/version", s.url()))).await;
    assert_eq!(code, 200);
    assert_eq!(v["major"], "1");
    let (code, _) = call(c.get(format!("{}/healthz", s.url()))).await;
    assert_eq!(code, 200);
}

/// "Kubernetes will always return the Status kind from any API endpoint when an error occurs."
#[tokio::test]
async fn errors_are_status_objects() {
    let s = sim().await;
    let c = client();
    let (code, v) = call(c.get(format!(
        "{}/apis/apps/v1/namespaces/default/deployments/nope",
        s.url()
    )))
    .await;
    assert_eq!(code, 404);
    is_status(&v, 404, "NotFound");
    assert_eq!(v["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        v["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );

    let (code, v) = call(c.get(format!("{}/apis/nothing.example/v1/widgets", s.url()))).await;
    assert_eq!(code, 404);
    is_status(&v, 404, "NotFound");

    let (code, v) = call(
        c.get(format!("{}/api/v1/pods", s.url()))
            .bearer_auth("wrong"),
    )
    .await;
    assert_eq!(code, 401);
    is_status(&v, 401, "Unauthorized");

    let (code, v) = call(c.put(format!("{}/api", s.url()))).await;
    assert_eq!(code, 405);
    is_status(&v, 405, "MethodNotAllowed");
}

/// Metadata: the server sets uid, creationTimestamp (RFC 3339), resourceVersion and generation;
/// "POST ... MUST ignore the status values"; 201 on create; 409 AlreadyExists.
#[tokio::test]
async fn create_sets_server_fields_and_rejects_duplicates() {
    let s = sim().await;
    let c = client();
    let url = format!("{}/apis/apps/v1/namespaces/default/deployments", s.url());
    let mut d = deployment("web", "nginx:1.27");
    d["status"] = json!({"replicas": 99});
    let (code, created) = call(c.post(&url).json(&d)).await;
    assert_eq!(code, 201, "{created}");
    let m = &created["metadata"];
    assert_eq!(m["uid"].as_str().unwrap().len(), 36);
    assert!(
        m["creationTimestamp"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    assert_eq!(m["generation"], 1);
    assert_eq!(m["namespace"], "default");
    assert!(
        created
            .get("status")
            .is_none_or(|s| s.get("replicas") != Some(&json!(99))),
        "status ignored on create"
    );
    assert_eq!(
        (created["kind"].as_str(), created["apiVersion"].as_str()),
        (Some("Deployment"), Some("apps/v1"))
    );

    let (code, v) = call(c.post(&url).json(&d)).await;
    assert_eq!(code, 409);
    is_status(&v, 409, "AlreadyExists");
    assert_eq!(v["message"], "deployments.apps \"web\" already exists");

    let (code, v) = call(
        c.post(format!("{}/api/v1/namespaces/missing/configmaps", s.url()))
            .json(&json!({"metadata": {"name": "x"}})),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(v["message"], "namespaces \"missing\" not found");

    let (code, v) = call(
        c.post(format!("{}/api/v1/namespaces/default/configmaps", s.url()))
            .json(&json!({"metadata": {"generateName": "gen-"}})),
    )
    .await;
    assert_eq!(code, 201);
    let name = v["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let (code, v) = call(
        c.post(format!("{}/api/v1/namespaces/default/configmaps", s.url()))
            .json(&json!({"metadata": {}})),
    )
    .await;
    assert_eq!(code, 422);
    is_status(&v, 422, "Invalid");

    let (code, v) = call(
        c.post(&url)
            .json(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})),
    )
    .await;
    assert_eq!(code, 400, "kind must match the endpoint: {v}");
}

/// Concurrency control: "resourceVersion ... opaque"; a PUT with a stale resourceVersion is a 409
/// Conflict; without one it is unconditional; PUT of a missing object is 404.
#[tokio::test]
async fn optimistic_concurrency_on_update() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    let (_, cm) = call(
        c.post(&base)
            .json(&json!({"metadata": {"name": "c"}, "data": {"a": "1"}})),
    )
    .await;
    let mut v1 = cm.clone();
    v1["data"]["a"] = json!("2");
    let (code, updated) = call(c.put(format!("{base}/c")).json(&v1)).await;
    assert_eq!(code, 200);
    assert!(rv(&updated) > rv(&cm), "resourceVersion increases");

    let (code, v) = call(c.put(format!("{base}/c")).json(&v1)).await;
    assert_eq!(code, 409);
    is_status(&v, 409, "Conflict");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified")
    );

    let mut unconditional = v1.clone();
    unconditional["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    unconditional["data"]["a"] = json!("3");
    let (code, _) = call(c.put(format!("{base}/c")).json(&unconditional)).await;
    assert_eq!(code, 200);

    let (code, v) = call(
        c.put(format!("{base}/ghost"))
            .json(&json!({"metadata": {"name": "ghost"}})),
    )
    .await;
    assert_eq!(code, 404);
    is_status(&v, 404, "NotFound");

    let (code, _) = call(
        c.put(format!("{base}/c"))
            .json(&json!({"metadata": {"name": "other"}})),
    )
    .await;
    assert_eq!(code, 400, "name in body must match the URL");
}

/// Idempotency: writing the same object again is a no-op (same resourceVersion, no event).
#[tokio::test]
async fn noop_update_keeps_resource_version() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    let (_, cm) = call(
        c.post(&base)
            .json(&json!({"metadata": {"name": "c"}, "data": {"a": "1"}})),
    )
    .await;
    let before = s.resource_version();
    let (code, same) = call(c.put(format!("{base}/c")).json(&cm)).await;
    assert_eq!(code, 200);
    assert_eq!(rv(&same), rv(&cm));
    assert_eq!(s.resource_version(), before);
}

/// Spec and status: "generation ... representing a specific generation of the desired state"
/// bumps on spec changes only; PUT on the main resource ignores status; `/status` writes only status.
#[tokio::test]
async fn generation_and_status_subresource() {
    let s = KubeSim::builder()
        .simulate_pods(false)
        .rollout_step(std::time::Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let c = client();
    let base = format!("{}/apis/apps/v1/namespaces/default/deployments", s.url());
    let (_, d) = call(c.post(&base).json(&deployment("web", "nginx:1"))).await;

    let mut labels = s
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    labels["metadata"]["labels"]["extra"] = json!("yes");
    labels["status"] = json!({"replicas": 42});
    let (_, after_labels) = call(c.put(format!("{base}/web")).json(&labels)).await;
    assert_eq!(
        after_labels["metadata"]["generation"], 1,
        "metadata change keeps generation"
    );
    assert_ne!(
        after_labels["status"]["replicas"], 42,
        "status ignored on the main resource"
    );

    let mut st = after_labels.clone();
    st["status"] = json!({"replicas": 7, "observedGeneration": 1});
    st["spec"]["replicas"] = json!(100);
    let (code, after_status) = call(c.put(format!("{base}/web/status")).json(&st)).await;
    assert_eq!(code, 200, "{after_status}");
    assert_eq!(after_status["status"]["replicas"], 7);
    assert_eq!(
        after_status["spec"]["replicas"], 2,
        "spec ignored on /status"
    );
    assert_eq!(after_status["metadata"]["generation"], 1);

    let (_, patched) = call(
        c.patch(format!("{base}/web"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"spec":{"replicas":3}}"#),
    )
    .await;
    assert_eq!(
        patched["metadata"]["generation"], 2,
        "spec change bumps generation"
    );
    assert_eq!(
        patched["metadata"]["uid"], d["metadata"]["uid"],
        "uid is immutable"
    );
    assert_eq!(
        patched["metadata"]["creationTimestamp"],
        d["metadata"]["creationTimestamp"]
    );
}

/// Lists: "{Kind}List" with items and a list resourceVersion; label selectors (=, !=, in, notin,
/// exists, !exists); field selectors; limit/continue pagination.
#[tokio::test]
async fn list_selectors_and_pagination() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    for (n, tier) in [("a", "fe"), ("b", "be"), ("c", "fe"), ("d", "")] {
        let mut labels = json!({"app": "x"});
        if !tier.is_empty() {
            labels["tier"] = json!(tier);
        }
        call(
            c.post(&base)
                .json(&json!({"metadata": {"name": n, "labels": labels}})),
        )
        .await;
    }
    let names = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (code, all) = call(c.get(&base)).await;
    assert_eq!(code, 200);
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(
        all["metadata"]["resourceVersion"],
        s.resource_version().to_string()
    );
    for (sel, want) in [
        ("tier=fe", vec!["a", "c"]),
        ("tier!=fe", vec!["b", "d"]),
        ("tier in (be,fe)", vec!["a", "b", "c"]),
        ("tier notin (fe)", vec!["b", "d"]),
        ("tier", vec!["a", "b", "c"]),
        ("!tier", vec!["d"]),
        ("app=x,tier=be", vec!["b"]),
    ] {
        let (_, v) = call(c.get(&base).query(&[("labelSelector", sel)])).await;
        assert_eq!(names(&v), want, "{sel}");
    }
    let (_, v) = call(c.get(&base).query(&[("fieldSelector", "metadata.name=c")])).await;
    assert_eq!(names(&v), ["c"]);
    let (code, v) = call(c.get(&base).query(&[("fieldSelector", "data.x=1")])).await;
    assert_eq!(code, 400);
    is_status(&v, 400, "BadRequest");

    let (_, p1) = call(c.get(&base).query(&[("limit", "3")])).await;
    assert_eq!(names(&p1), ["a", "b", "c"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 1);
    let token = p1["metadata"]["continue"].as_str().unwrap();
    let (_, p2) = call(c.get(&base).query(&[("limit", "3"), ("continue", token)])).await;
    assert_eq!(names(&p2), ["d"]);
    assert!(p2["metadata"].get("continue").is_none());

    call(c.post(&base).json(&json!({"metadata": {"name": "e"}}))).await;
    s.compact();
    let (code, v) = call(c.get(&base).query(&[("limit", "3"), ("continue", token)])).await;
    assert_eq!(code, 410, "continue token older than compaction");
    is_status(&v, 410, "Expired");

    // Cluster-wide list covers every namespace.
    call(
        c.post(format!(
            "{}/api/v1/namespaces/kube-system/configmaps",
            s.url()
        ))
        .json(&json!({"metadata": {"name": "sys"}})),
    )
    .await;
    let (_, v) = call(c.get(format!("{}/api/v1/configmaps", s.url()))).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 6);
}

/// Watch: events after the given resourceVersion, in order, with increasing resourceVersions.
#[tokio::test]
async fn watch_from_resource_version_streams_changes_in_order() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    let (_, list) = call(c.get(&base)).await;
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = c
        .get(&base)
        .query(&[("watch", "true"), ("resourceVersion", from.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut w = WatchLines::new(resp);
    let (_, cm) = call(
        c.post(&base)
            .json(&json!({"metadata": {"name": "w"}, "data": {"a": "1"}})),
    )
    .await;
    let mut m = cm.clone();
    m["data"]["a"] = json!("2");
    call(c.put(format!("{base}/w")).json(&m)).await;
    call(c.delete(format!("{base}/w"))).await;
    let mut last = from.parse::<u64>().unwrap();
    for ty in ["ADDED", "MODIFIED", "DELETED"] {
        let e = w.next_change().await.expect("event");
        assert_eq!(e["type"], ty, "{e}");
        assert_eq!(e["object"]["kind"], "ConfigMap");
        let r = rv(&e["object"]);
        assert!(r > last, "resourceVersions increase");
        last = r;
    }
}

/// Watch without resourceVersion: synthetic ADDED for existing objects, then changes; label
/// selector transitions turn into ADDED/DELETED for the watcher.
#[tokio::test]
async fn watch_selector_transitions() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    call(
        c.post(&base)
            .json(&json!({"metadata": {"name": "pre", "labels": {"w": "yes"}}})),
    )
    .await;
    let resp = c
        .get(&base)
        .query(&[("watch", "1"), ("labelSelector", "w=yes")])
        .send()
        .await
        .unwrap();
    let mut w = WatchLines::new(resp);
    let e = w.next_change().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("pre"))
    );
    call(c.post(&base).json(&json!({"metadata": {"name": "other"}}))).await;
    call(
        c.patch(format!("{base}/pre"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"w":null}}}"#),
    )
    .await;
    let e = w.next_change().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("pre")),
        "left the selector"
    );
    call(
        c.patch(format!("{base}/other"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"w":"yes"}}}"#),
    )
    .await;
    let e = w.next_change().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("other")),
        "entered the selector"
    );
}

/// Bookmarks: with allowWatchBookmarks=true the server sends BOOKMARK events carrying only a
/// resourceVersion; timeoutSeconds ends the stream.
#[tokio::test]
async fn watch_bookmarks_and_timeout() {
    let s = sim().await;
    let c = client();
    let rv0 = s.resource_version().to_string();
    let resp = c
        .get(format!("{}/api/v1/namespaces/default/configmaps", s.url()))
        .query(&[
            ("watch", "true"),
            ("resourceVersion", rv0.as_str()),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", "1"),
        ])
        .send()
        .await
        .unwrap();
    let mut w = WatchLines::new(resp);
    let e = w.next().await.expect("bookmark");
    assert_eq!(e["type"], "BOOKMARK");
    assert_eq!(e["object"]["kind"], "ConfigMap");
    assert_eq!(e["object"]["metadata"]["resourceVersion"], rv0);
    while w.next().await.is_some() {}
}

/// 410 Gone: a watch from a resourceVersion older than the retained history gets an ERROR event
/// with an Expired Status (HTTP 200 stream, as the watch cache does).
#[tokio::test]
async fn watch_too_old_resource_version_is_gone() {
    let s = sim().await;
    let c = client();
    let old = s.resource_version().to_string();
    call(
        c.post(format!("{}/api/v1/namespaces/default/configmaps", s.url()))
            .json(&json!({"metadata": {"name": "x"}})),
    )
    .await;
    s.compact();
    let resp = c
        .get(format!("{}/api/v1/configmaps", s.url()))
        .query(&[("watch", "true"), ("resourceVersion", old.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut w = WatchLines::new(resp);
    let e = w.next().await.unwrap();
    assert_eq!(e["type"], "ERROR");
    is_status(&e["object"], 410, "Expired");
    assert!(w.next().await.is_none(), "stream ends after the error");
}

/// Fault: dropping watches closes open streams cleanly.
#[tokio::test]
async fn drop_watches_ends_streams() {
    let s = sim().await;
    let c = client();
    let resp = c
        .get(format!("{}/api/v1/configmaps", s.url()))
        .query(&[
            ("watch", "true"),
            ("resourceVersion", s.resource_version().to_string().as_str()),
        ])
        .send()
        .await
        .unwrap();
    let mut w = WatchLines::new(resp);
    call(
        c.post(format!("{}/api/v1/namespaces/default/configmaps", s.url()))
            .json(&json!({"metadata": {"name": "x"}})),
    )
    .await;
    assert_eq!(w.next_change().await.unwrap()["type"], "ADDED");
    s.drop_watches();
    assert!(w.next_change().await.is_none());
    assert_eq!(s.request_count("watch", "/api/v1/configmaps"), 1);
}

/// DELETE: "A Status kind will be returned ... When a HTTP DELETE call is successful" for
/// built-ins; preconditions; finalizers postpone deletion; ownerReferences cascade; deletecollection.
#[tokio::test]
async fn delete_semantics() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    let (_, cm) = call(c.post(&base).json(&json!({"metadata": {"name": "d"}}))).await;
    let (code, v) = call(
        c.delete(format!("{base}/d"))
            .json(&json!({"preconditions": {"resourceVersion": "1"}})),
    )
    .await;
    assert_eq!(code, 409);
    is_status(&v, 409, "Conflict");
    let (code, v) = call(c.delete(format!("{base}/d"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        (v["kind"].as_str(), v["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    assert_eq!(v["details"]["uid"], cm["metadata"]["uid"]);
    let (code, _) = call(c.get(format!("{base}/d"))).await;
    assert_eq!(code, 404);
    let (code, _) = call(c.delete(format!("{base}/d"))).await;
    assert_eq!(code, 404);

    call(
        c.post(&base)
            .json(&json!({"metadata": {"name": "f", "finalizers": ["example.com/keep"]}})),
    )
    .await;
    let (_, v) = call(c.delete(format!("{base}/f"))).await;
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    let (code, _) = call(c.get(format!("{base}/f"))).await;
    assert_eq!(code, 200, "still present while finalizers remain");
    call(
        c.patch(format!("{base}/f"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"finalizers":null}}"#),
    )
    .await;
    let (code, _) = call(c.get(format!("{base}/f"))).await;
    assert_eq!(code, 404, "removed once finalizers are gone");

    let (_, owner) = call(c.post(&base).json(&json!({"metadata": {"name": "owner"}}))).await;
    call(c.post(&base).json(&json!({"metadata": {"name": "dep", "labels": {"k": "v"}, "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]}}))).await;
    call(c.delete(format!("{base}/owner"))).await;
    let (code, _) = call(c.get(format!("{base}/dep"))).await;
    assert_eq!(code, 404, "dependents are garbage collected");

    for n in ["l1", "l2", "keep"] {
        let labels = if n == "keep" {
            json!({})
        } else {
            json!({"del": "yes"})
        };
        call(
            c.post(&base)
                .json(&json!({"metadata": {"name": n, "labels": labels}})),
        )
        .await;
    }
    let (code, v) = call(c.delete(&base).query(&[("labelSelector", "del=yes")])).await;
    assert_eq!(code, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (_, rest) = call(c.get(&base)).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
}

/// PATCH: strategic merge (containers merged by name), JSON merge (lists replaced), JSON patch,
/// content types, and server-side apply recording the field manager.
#[tokio::test]
async fn patch_types() {
    let s = KubeSim::builder()
        .simulate_pods(false)
        .start()
        .await
        .unwrap();
    let c = client();
    let base = format!("{}/apis/apps/v1/namespaces/default/deployments", s.url());
    call(c.post(&base).json(&deployment("web", "nginx:1"))).await;
    let url = format!("{base}/web");

    let (code, v) = call(c.patch(&url).header("content-type", "application/strategic-merge-patch+json").body(r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:2"}]}}}}"#)).await;
    assert_eq!(code, 200, "{v}");
    let cs = &v["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        (cs[0]["image"].as_str(), cs[1]["image"].as_str()),
        (Some("nginx:1"), Some("busybox:2"))
    );
    assert_eq!(v["metadata"]["generation"], 2);

    let (_, v) = call(c.patch(&url).header("content-type", "application/json-patch+json").body(r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:2"}]"#)).await;
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    let (code, v) = call(
        c.patch(&url)
            .header("content-type", "application/json-patch+json")
            .body(r#"[{"op":"test","path":"/spec/replicas","value":99}]"#),
    )
    .await;
    assert_eq!(code, 422);
    is_status(&v, 422, "Invalid");

    let (_, v) = call(
        c.patch(&url)
            .header("content-type", "application/merge-patch+json")
            .body(
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x:1"}]}}}}"#,
            ),
    )
    .await;
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "merge patch replaces lists"
    );

    let (code, v) = call(
        c.patch(&url)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_eq!(code, 415);
    is_status(&v, 415, "UnsupportedMediaType");

    let (code, v) = call(
        c.patch(format!("{base}/ghost"))
            .header("content-type", "application/merge-patch+json")
            .body("{}"),
    )
    .await;
    assert_eq!(code, 404);
    is_status(&v, 404, "NotFound");

    // Server-side apply: creates when missing (201), merges afterwards, records managedFields.
    let cm_url = format!("{}/api/v1/namespaces/default/configmaps/applied", s.url());
    let body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: \"1\"\n";
    let (code, v) = call(
        c.patch(&cm_url)
            .query(&[("fieldManager", "ml-operator")])
            .header("content-type", "application/apply-patch+yaml")
            .body(body),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["metadata"]["managedFields"][0]["manager"], "ml-operator");
    assert_eq!(v["metadata"]["managedFields"][0]["operation"], "Apply");
    assert_eq!(
        v["metadata"]["managedFields"][0]["fieldsV1"]["f:data"]["f:a"],
        json!({})
    );
    let (code, v) = call(
        c.patch(&cm_url)
            .query(&[("fieldManager", "ml-operator")])
            .header("content-type", "application/apply-patch+yaml")
            .body(body.replace("\"1\"", "\"2\"")),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["a"], "2");
    let (code, v) = call(
        c.patch(&cm_url)
            .header("content-type", "application/apply-patch+yaml")
            .body(body),
    )
    .await;
    assert_eq!(code, 422, "apply needs a fieldManager: {v}");

    // A patch carrying a stale resourceVersion is a precondition failure.
    let (code, v) = call(
        c.patch(&url)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"resourceVersion":"1"},"spec":{"replicas":5}}"#),
    )
    .await;
    assert_eq!(code, 409);
    is_status(&v, 409, "Conflict");
}

/// Scale subresource: "/scale: Used to read and write the count of a resource".
#[tokio::test]
async fn scale_subresource() {
    let s = KubeSim::builder()
        .simulate_pods(false)
        .start()
        .await
        .unwrap();
    let c = client();
    let base = format!("{}/apis/apps/v1/namespaces/default/deployments", s.url());
    call(c.post(&base).json(&deployment("web", "nginx:1"))).await;
    let (code, sc) = call(c.get(format!("{base}/web/scale"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        (
            sc["kind"].as_str(),
            sc["apiVersion"].as_str(),
            sc["spec"]["replicas"].as_i64()
        ),
        (Some("Scale"), Some("autoscaling/v1"), Some(2))
    );
    assert_eq!(sc["status"]["selector"], "app=web");
    let (code, sc) = call(
        c.patch(format!("{base}/web/scale"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"spec":{"replicas":4}}"#),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(sc["spec"]["replicas"], 4);
    let d = s
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        (
            d["spec"]["replicas"].as_i64(),
            d["metadata"]["generation"].as_i64()
        ),
        (Some(4), Some(2))
    );
}

/// CustomResourceDefinitions: creating one serves its group/version in discovery, with a status
/// subresource when declared; custom resources reject strategic merge patch (415); deleting the
/// CRD removes the resource.
#[tokio::test]
async fn crds_extend_the_api() {
    let s = sim().await;
    let c = client();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let (code, v) = call(
        c.post(format!(
            "{}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            s.url()
        ))
        .json(&crd),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert!(
        v["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let (_, rl) = call(c.get(format!("{}/apis/example.com/v1", s.url()))).await;
    let names: Vec<&str> = rl["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["widgets", "widgets/status"]);

    let base = format!("{}/apis/example.com/v1/namespaces/default/widgets", s.url());
    let (code, w) = call(c.post(&base).json(&json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}, "status": {"phase": "x"}}))).await;
    assert_eq!(code, 201);
    assert!(
        w.get("status").is_none(),
        "status dropped on create with a status subresource"
    );
    let (code, v) = call(
        c.patch(format!("{base}/w1"))
            .header("content-type", "application/strategic-merge-patch+json")
            .body(r#"{"spec":{"size":2}}"#),
    )
    .await;
    assert_eq!(code, 415);
    is_status(&v, 415, "UnsupportedMediaType");
    let (code, v) = call(
        c.patch(format!("{base}/w1/status"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"status":{"phase":"Ready"}}"#),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (
            v["status"]["phase"].as_str(),
            v["metadata"]["generation"].as_i64()
        ),
        (Some("Ready"), Some(1))
    );
    let (code, v) = call(c.delete(format!("{base}/w1"))).await;
    assert_eq!(
        (code, v["kind"].as_str()),
        (200, Some("Widget")),
        "custom resources return the deleted object"
    );

    call(c.delete(format!(
        "{}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        s.url()
    )))
    .await;
    let (code, _) = call(c.get(&base)).await;
    assert_eq!(code, 404);
}

/// Leases and Events are ordinary namespaced resources with full CRUD.
#[tokio::test]
async fn leases_and_events() {
    let s = sim().await;
    let c = client();
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}});
    let url = format!(
        "{}/apis/coordination.k8s.io/v1/namespaces/default/leases",
        s.url()
    );
    let (code, l) = call(c.post(&url).json(&lease)).await;
    assert_eq!(code, 201);
    let mut l2 = l.clone();
    l2["spec"]["holderIdentity"] = json!("b");
    let (code, _) = call(c.put(format!("{url}/leader")).json(&l2)).await;
    assert_eq!(code, 200);
    let (code, v) = call(c.put(format!("{url}/leader")).json(&l2)).await;
    assert_eq!(
        code, 409,
        "a second writer with the old resourceVersion loses: {v}"
    );

    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"}, "eventTime": "2026-01-01T00:00:00.000000Z",
                    "reason": "Upgraded", "note": "done", "type": "Normal", "action": "Upgrade", "reportingController": "ml-operator", "reportingInstance": "x",
                    "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"}});
    let (code, _) = call(
        c.post(format!(
            "{}/apis/events.k8s.io/v1/namespaces/default/events",
            s.url()
        ))
        .json(&ev),
    )
    .await;
    assert_eq!(code, 201);
    let (_, v) = call(
        c.get(format!("{}/apis/events.k8s.io/v1/events", s.url()))
            .query(&[("fieldSelector", "regarding.name=web")]),
    )
    .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (code, _) = call(c.post(format!("{}/api/v1/namespaces/default/events", s.url())).json(&json!({"metadata": {"name": "core"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "X"}))).await;
    assert_eq!(code, 201);
}

/// Fault injection: N errors then recovery; latency; forbidden namespaces (403 like RBAC);
/// request counters by verb.
#[tokio::test]
async fn fault_injection_and_counters() {
    let s = sim().await;
    let c = client();
    let url = format!("{}/api/v1/namespaces/default/configmaps", s.url());
    s.inject_errors("/api/v1/namespaces/default/configmaps", 2, 500);
    for _ in 0..2 {
        let (code, v) = call(c.get(&url)).await;
        assert_eq!(code, 500);
        is_status(&v, 500, "InternalError");
    }
    assert_eq!(call(c.get(&url)).await.0, 200);

    s.add_latency(
        "/api/v1/namespaces/default/secrets",
        std::time::Duration::from_millis(10),
    );
    assert_eq!(
        call(c.get(format!("{}/api/v1/namespaces/default/secrets", s.url())))
            .await
            .0,
        200
    );

    s.forbid_namespace("kube-system");
    let (code, v) = call(c.get(format!("{}/api/v1/namespaces/kube-system/pods", s.url()))).await;
    assert_eq!(code, 403);
    is_status(&v, 403, "Forbidden");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cannot list resource \"pods\"")
    );
    s.clear_faults();
    assert_eq!(
        call(c.get(format!("{}/api/v1/namespaces/kube-system/pods", s.url())))
            .await
            .0,
        200
    );

    assert_eq!(
        s.request_count("list", "/api/v1/namespaces/default/configmaps"),
        3
    );
    assert_eq!(s.request_count("get", "/api/v1/namespaces"), 0);
    assert!(s.request_counts().iter().any(|r| r.verb == "list"
        && r.path == "/api/v1/namespaces/kube-system/pods"
        && r.count == 2));
    s.reset_request_counts();
    assert_eq!(s.request_count("*", "/"), 0);
}

/// Server-side printing: `Accept: ...;as=Table` gets a meta.k8s.io Table (what kubectl asks for).
#[tokio::test]
async fn table_output() {
    let s = sim().await;
    let c = client();
    let (code, t) = call(c.get(format!("{}/api/v1/namespaces", s.url())).header(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    ))
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (t["kind"].as_str(), t["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert!(
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cells"][0] == "default" && r["cells"][1] == "Active")
    );
}

/// Loading manifests: directories, multi-document YAML, JSON `kind: List`, CRDs before their
/// custom resources; loaded workloads are rolled out with owned ReplicaSets and Pods.
#[tokio::test]
async fn loads_fixtures_and_rolls_out() {
    let s = KubeSim::builder()
        .load(common::fixtures())
        .unwrap()
        .start()
        .await
        .unwrap();
    assert!(
        s.get(
            "ml-operator.mojaloop.io/v1alpha1",
            "UpgradePlan",
            Some("hub"),
            "central-ledger"
        )
        .is_some()
    );
    assert!(
        s.get("v1", "Service", Some("hub"), "central-ledger")
            .unwrap()["spec"]["clusterIP"]
            .is_string()
    );
    let d = s
        .wait_for_async(
            "apps/v1",
            "Deployment",
            Some("hub"),
            "central-ledger",
            common::WAIT,
            |d| d["status"]["availableReplicas"] == 2,
        )
        .await
        .expect("rolled out");
    let conds = d["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
    );
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    );
    let rs = s.list("apps/v1", "ReplicaSet", Some("hub"));
    assert_eq!(rs.len(), 1);
    assert_eq!(
        rs[0]["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    s.wait_for_async(
        "apps/v1",
        "StatefulSet",
        Some("hub"),
        "mysql",
        common::WAIT,
        |d| d["status"]["readyReplicas"] == 2,
    )
    .await
    .expect("sts ready");
    s.wait_for_async(
        "apps/v1",
        "DaemonSet",
        Some("hub"),
        "fluent-bit",
        common::WAIT,
        |d| d["status"]["numberReady"] == 1,
    )
    .await
    .expect("ds ready");
    let pods = s.list("v1", "Pod", Some("hub"));
    assert!(pods.iter().any(|p| p["metadata"]["name"] == "mysql-1"));
    assert!(
        pods.iter().all(|p| p["status"]["phase"] == "Running"),
        "all pods running"
    );
    assert_eq!(pods.len(), 2 + 2 + 1);
}

/// Rollout simulation: a template change bumps generation; the controller moves status to the
/// new generation; a failure hook makes the next rollout stall with ProgressDeadlineExceeded.
#[tokio::test]
async fn rollout_success_and_failure() {
    let s = sim().await;
    let c = client();
    let base = format!("{}/apis/apps/v1/namespaces/default/deployments", s.url());
    call(c.post(&base).json(&deployment("web", "nginx:1"))).await;
    s.wait_for_async(
        "apps/v1",
        "Deployment",
        Some("default"),
        "web",
        common::WAIT,
        |d| d["status"]["updatedReplicas"] == 2,
    )
    .await
    .unwrap();

    let set_image = |img: &str| {
        c.patch(format!("{base}/web")).header("content-type", "application/strategic-merge-patch+json").body(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": img}]}}}}).to_string())
    };
    call(set_image("nginx:2")).await;
    let d = s
        .wait_for_async(
            "apps/v1",
            "Deployment",
            Some("default"),
            "web",
            common::WAIT,
            |d| {
                d["status"]["observedGeneration"] == 2
                    && d["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter().any(|c| {
                            c["reason"] == "NewReplicaSetAvailable"
                                && c["message"].as_str().unwrap_or("").contains("web-")
                        })
                    })
                    && d["status"]["availableReplicas"] == 2
            },
        )
        .await
        .expect("second rollout completes");
    let pods = s.list("v1", "Pod", Some("default"));
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "nginx:2"),
        "old pods replaced"
    );
    assert_eq!(d["metadata"]["generation"], 2);

    s.fail_rollout("Deployment", "default", "web");
    call(set_image("nginx:broken")).await;
    let d = s
        .wait_for_async(
            "apps/v1",
            "Deployment",
            Some("default"),
            "web",
            common::WAIT,
            |d| {
                d["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Progressing" && c["status"] == "False")
                })
            },
        )
        .await
        .expect("rollout stalls");
    let prog = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(prog["reason"], "ProgressDeadlineExceeded");
    assert_eq!(d["status"]["observedGeneration"], 3);
    assert_eq!(d["status"]["availableReplicas"], 2, "old pods keep serving");
    let stuck = s
        .list("v1", "Pod", Some("default"))
        .into_iter()
        .find(|p| p["spec"]["containers"][0]["image"] == "nginx:broken")
        .expect("new pod");
    assert_eq!(
        stuck["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );

    // The hook is consumed: the fix rolls out.
    call(set_image("nginx:3")).await;
    s.wait_for_async(
        "apps/v1",
        "Deployment",
        Some("default"),
        "web",
        common::WAIT,
        |d| {
            d["status"]["observedGeneration"] == 4
                && d["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["reason"] == "NewReplicaSetAvailable"))
        },
    )
    .await
    .expect("fixed rollout completes");
}

/// Debug output of handles never shows stored objects (Secrets) or the token.
#[tokio::test]
async fn debug_output_hides_secrets() {
    let s = sim().await;
    s.insert(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull", "namespace": "default"}, "data": {"password": "aHVudGVyMg=="}})).unwrap();
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("aHVudGVyMg==") && !dbg.contains("pull"),
        "{dbg}"
    );
    assert!(dbg.contains(&s.url()));
}
