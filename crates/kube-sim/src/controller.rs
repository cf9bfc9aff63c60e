//! The simulated workload controllers: Deployments (with owned ReplicaSets and Pods),
//! StatefulSets and DaemonSets (with Pods), and Jobs. A `spec` change bumps `generation`; this
//! controller then moves `status` forward in two quick steps (rollout started, rollout
//! complete), or stalls it when a failure hook is armed.

use crate::resources::ResourceInfo;
use crate::store::{Event, EventType, State, Sub, WriteOpts};
use crate::util::{meta_str, now_rfc3339, random_suffix, stable_hash};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Rollout failure hooks, keyed by (plural, namespace, name).
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    /// `None`: armed for the next rollout; `Some(g)`: generation `g` is the stalled rollout.
    armed: Mutex<HashMap<(String, String, String), Option<i64>>>,
}

/// Maps `Deployment`/`deploy`/`deployments` (any case) to the plural resource name.
pub(crate) fn workload_plural(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => Some("deployments"),
        "statefulset" | "statefulsets" | "sts" => Some("statefulsets"),
        "daemonset" | "daemonsets" | "ds" => Some("daemonsets"),
        _ => None,
    }
}

impl Hooks {
    /// Arms a failure for the next rollout of the workload.
    pub fn fail_rollout(&self, plural: &str, ns: &str, name: &str) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((plural.into(), ns.into(), name.into()), None);
    }

    /// Whether the rollout at `generation` fails; consumes an armed hook when a rollout starts.
    fn failing(&self, plural: &str, ns: &str, name: &str, generation: i64, starting: bool) -> bool {
        let mut m = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        match m.get(&key).copied() {
            Some(None) if starting => {
                m.insert(key, Some(generation));
                true
            }
            Some(Some(g)) if g == generation => true,
            Some(Some(_)) => {
                m.remove(&key);
                false
            }
            _ => false,
        }
    }
}

/// Controller settings.
#[derive(Debug, Clone)]
pub(crate) struct ControllerConfig {
    /// Pause between rollout steps.
    pub step_delay: Duration,
    /// Whether to create ReplicaSets and Pods.
    pub children: bool,
}

type Key = (String, String, String);

/// Runs the controller until the store's event channel closes or the task is aborted.
pub(crate) async fn run(sim: Arc<crate::sim::Sim>) {
    let mut rx = sim.store.subscribe();
    let queue: Arc<Mutex<HashMap<Key, bool>>> = Arc::default();
    resync(&sim, &queue);
    loop {
        match rx.recv().await {
            Ok(ev) => {
                if let Some(key) = workload_key(&ev) {
                    schedule(&sim, &queue, key);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => resync(&sim, &queue),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

fn workload_key(ev: &Event) -> Option<Key> {
    // A Pod of a StatefulSet or DaemonSet deleted (by a person, say): its controller looks again
    // and recreates it, as the real controllers, which watch their Pods, do.
    if ev.group.is_empty() && ev.plural == "pods" && ev.kind == EventType::Deleted {
        let owner = ev.object["metadata"]["ownerReferences"]
            .as_array()?
            .iter()
            .find(|o| o["controller"] == true)?;
        let plural = match owner["kind"].as_str()? {
            "StatefulSet" => "statefulsets",
            "DaemonSet" => "daemonsets",
            _ => return None,
        };
        return Some((
            plural.to_string(),
            ev.namespace.clone(),
            owner["name"].as_str()?.to_string(),
        ));
    }
    let relevant = matches!(
        (ev.group.as_str(), ev.plural.as_str()),
        ("apps", "deployments" | "statefulsets" | "daemonsets") | ("batch", "jobs")
    );
    if !relevant || ev.kind == EventType::Deleted {
        return None;
    }
    Some((
        ev.plural.clone(),
        ev.namespace.clone(),
        meta_str(&ev.object, "name")?.to_string(),
    ))
}

fn resync(sim: &Arc<crate::sim::Sim>, queue: &Arc<Mutex<HashMap<Key, bool>>>) {
    let keys: Vec<Key> = sim.store.transact(|st, _| {
        let mut keys = vec![];
        for (g, p) in [
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
        ] {
            let Some(info) = st.discovery.by_plural(g, "v1", p).cloned() else {
                continue;
            };
            for o in st.iter(&info, None) {
                keys.push((
                    p.to_string(),
                    meta_str(o, "namespace").unwrap_or_default().to_string(),
                    meta_str(o, "name").unwrap_or_default().to_string(),
                ));
            }
        }
        keys
    });
    for k in keys {
        schedule(sim, queue, k);
    }
}

fn schedule(sim: &Arc<crate::sim::Sim>, queue: &Arc<Mutex<HashMap<Key, bool>>>, key: Key) {
    {
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dirty) = q.get_mut(&key) {
            *dirty = true;
            return;
        }
        q.insert(key.clone(), false);
    }
    let sim = sim.clone();
    let queue = queue.clone();
    tokio::spawn(async move {
        loop {
            if let Some(d) = queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&key)
            {
                *d = false;
            }
            let changed = reconcile(&sim, &key);
            if changed {
                tokio::time::sleep(sim.controller.step_delay).await;
                continue;
            }
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.get(&key) == Some(&true) {
                continue;
            }
            q.remove(&key);
            break;
        }
    });
}

/// One step toward the desired state; true when something was written.
fn reconcile(sim: &crate::sim::Sim, key: &Key) -> bool {
    let (plural, ns, name) = key;
    let cfg = &sim.controller;
    sim.store.transact(|st, tx| {
        let mut ctx = Ctx {
            st,
            tx,
            children: cfg.children,
        };
        match plural.as_str() {
            "deployments" => ctx.deployment(&sim.hooks, ns, name),
            "statefulsets" => ctx.statefulset(&sim.hooks, ns, name),
            "daemonsets" => ctx.daemonset(&sim.hooks, ns, name),
            "jobs" => ctx.job(ns, name),
            _ => false,
        }
    })
}

struct Ctx<'a> {
    st: &'a mut State,
    tx: &'a broadcast::Sender<Arc<Event>>,
    children: bool,
}

fn owner_ref(api_version: &str, kind: &str, owner: &Value) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

fn owned_by(o: &Value, uid: &Value) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| &x["uid"] == uid))
}

/// Inserts `k: v` only for non-zero counts (the real status structs use `omitempty`).
fn put_count(m: &mut Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    } else {
        m.remove(k);
    }
}

/// Sets a condition, keeping timestamps when status and reason are unchanged.
fn set_condition(
    conds: &mut Vec<Value>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) {
    let now = now_rfc3339();
    let idx = conds.iter().position(|c| c["type"] == ty);
    if let Some(i) = idx {
        let c = &conds[i];
        if c["status"] == status && c["reason"] == reason && c["message"] == message {
            return;
        }
        let transition = if c["status"] == status {
            c["lastTransitionTime"].clone()
        } else {
            json!(now)
        };
        let mut n = json!({"type": ty, "status": status, "lastTransitionTime": transition, "reason": reason, "message": message});
        if with_update_time {
            n["lastUpdateTime"] = json!(now);
        }
        conds[i] = n;
    } else {
        let mut n = json!({"type": ty, "status": status, "lastTransitionTime": now, "reason": reason, "message": message});
        if with_update_time {
            n["lastUpdateTime"] = json!(now);
        }
        conds.push(n);
    }
}

fn replicas(o: &Value) -> i64 {
    o["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn generation(o: &Value) -> i64 {
    o["metadata"]["generation"].as_i64().unwrap_or(1)
}

/// A Pod built from a template; `running` false means stuck pulling its image.
fn make_pod(
    name: &str,
    ns: &str,
    template: &Value,
    labels: &Map<String, Value>,
    owner: Value,
    running: bool,
) -> Value {
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!("kube-sim-node");
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!("Always");
    }
    let now = now_rfc3339();
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let image = c["image"].as_str().unwrap_or_default();
            if running {
                json!({"name": c["name"], "image": image, "imageID": image_id(template, c),
                       "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}})
            } else {
                json!({"name": c["name"], "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                       "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}}})
            }
        })
        .collect();
    let ready = if running { "True" } else { "False" };
    let mut conds = vec![
        json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now}),
        json!({"type": "Initialized", "status": "True", "lastTransitionTime": now}),
        json!({"type": "ContainersReady", "status": ready, "lastTransitionTime": now}),
        json!({"type": "Ready", "status": ready, "lastTransitionTime": now}),
    ];
    if !running {
        for c in conds.iter_mut().skip(2) {
            c["reason"] = json!("ContainersNotReady");
        }
    }
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations, "ownerReferences": owner},
        "spec": spec,
        "status": {"phase": if running { "Running" } else { "Pending" }, "conditions": conds, "hostIP": "10.0.0.1",
                   "podIP": format!("10.244.0.{}", 2 + (stable_hash(&json!(name), 2).bytes().map(u32::from).sum::<u32>() % 250)),
                   "startTime": now, "containerStatuses": statuses, "qosClass": "BestEffort"}
    })
}

/// The `imageID` a node would report, as the control plane's fake nodes write it: the digest
/// the template's annotation `fake-node.ml-operator.test/digest.<container>` names
/// (`docker-pullable://REPO@sha256:…`), else the image's own pin, else what a runtime reports
/// for a locally loaded image with no repository digest (`docker://sha256:…`, a hash of the
/// image reference).
fn image_id(template: &Value, container: &Value) -> String {
    let image = container["image"].as_str().unwrap_or_default();
    let name = container["name"].as_str().unwrap_or_default();
    let repository = image.split('@').next().unwrap_or(image);
    let repository = match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    };
    let annotation = format!("fake-node.ml-operator.test/digest.{name}");
    if let Some(digest) = template["metadata"]["annotations"][&annotation].as_str() {
        return format!("docker-pullable://{repository}@{digest}");
    }
    if let Some((_, digest)) = image.split_once('@') {
        return format!("docker-pullable://{repository}@{digest}");
    }
    // FNV-1a of the reference, as 64 hex digits: stable, and no registry's digest.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in image.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("docker://sha256:{}", format!("{hash:016x}").repeat(4))
}

fn template_labels(template: &Value) -> Map<String, Value> {
    template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

impl Ctx<'_> {
    fn info(&self, group: &str, plural: &str) -> ResourceInfo {
        self.st
            .discovery
            .by_plural(group, "v1", plural)
            .cloned()
            .expect("built-in resource")
    }

    fn write_status(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        obj: &Value,
        status: Value,
    ) -> bool {
        if obj.get("status") == Some(&status) {
            return false;
        }
        let mut o = obj.clone();
        o["status"] = status;
        self.st
            .update(
                self.tx,
                info,
                Some(ns),
                name,
                o,
                Sub::Internal,
                &WriteOpts::default(),
            )
            .is_ok()
    }

    fn pods_owned(&self, ns: &str, uid: &Value) -> Vec<Value> {
        let pods = self.info("", "pods");
        self.st
            .iter(&pods, Some(ns))
            .filter(|p| owned_by(p, uid))
            .cloned()
            .collect()
    }

    fn delete_pod(&mut self, ns: &str, name: &str) {
        let pods = self.info("", "pods");
        self.st.delete(self.tx, &pods, Some(ns), name, false);
    }

    fn create(&mut self, group: &str, plural: &str, ns: &str, obj: Value) {
        let info = self.info(group, plural);
        let _ = self
            .st
            .create(self.tx, &info, Some(ns), obj, &WriteOpts::default(), true);
    }

    /// Makes `owner` own exactly `want` pods whose label `hash_key` equals `hash`, each running or
    /// failing; pods with another hash are removed. Returns whether anything changed.
    #[allow(clippy::too_many_arguments)]
    fn ensure_pods(
        &mut self,
        ns: &str,
        owner: &Value,
        owner_kind: &str,
        owner_api: &str,
        template: &Value,
        hash_key: &str,
        hash: &str,
        want: i64,
        running: bool,
        ordinal_names: bool,
    ) -> bool {
        let uid = owner["metadata"]["uid"].clone();
        let owner_name = meta_str(owner, "name").unwrap_or_default().to_string();
        let mut changed = false;
        let pods = self.pods_owned(ns, &uid);
        let mut keep = vec![];
        for p in pods {
            let pname = meta_str(&p, "name").unwrap_or_default().to_string();
            let same_hash = p["metadata"]["labels"][hash_key] == json!(hash);
            let is_running = p["status"]["phase"] == "Running";
            if same_hash && (is_running == running) && (keep.len() as i64) < want {
                keep.push(pname);
            } else {
                self.delete_pod(ns, &pname);
                changed = true;
            }
        }
        let mut labels = template_labels(template);
        labels.insert(hash_key.into(), json!(hash));
        let mut i = 0;
        while (keep.len() as i64) < want {
            let pname = if ordinal_names {
                let mut n = format!("{owner_name}-{i}");
                while keep.contains(&n) {
                    i += 1;
                    n = format!("{owner_name}-{i}");
                }
                n
            } else {
                format!("{owner_name}-{}", random_suffix(5))
            };
            let mut l = labels.clone();
            if ordinal_names {
                l.insert("statefulset.kubernetes.io/pod-name".into(), json!(pname));
                l.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
            }
            let pod = make_pod(
                &pname,
                ns,
                template,
                &l,
                owner_ref(owner_api, owner_kind, owner),
                running,
            );
            self.create("", "pods", ns, pod);
            keep.push(pname);
            changed = true;
        }
        changed
    }

    fn deployment(&mut self, hooks: &Hooks, ns: &str, name: &str) -> bool {
        let dinfo = self.info("apps", "deployments");
        let Some(d) = self.st.get(&dinfo, Some(ns), name).cloned() else {
            return false;
        };
        if d["metadata"].get("deletionTimestamp").is_some() {
            return false;
        }
        let generation = generation(&d);
        let want = replicas(&d);
        let template = d["spec"]["template"].clone();
        let hash = stable_hash(&template, 10);
        let rs_name = format!("{name}-{hash}");
        let observed = d["status"]["observedGeneration"].as_i64();
        let starting = observed != Some(generation);
        let failing = hooks.failing("deployments", ns, name, generation, starting);
        let mut status = d["status"].as_object().cloned().unwrap_or_default();
        let mut conds: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut changed = false;

        // Children: the ReplicaSet for the current template, old ones scaled down.
        let (mut old_ready, mut new_ready) = (0i64, 0i64);
        if self.children {
            let rsinfo = self.info("apps", "replicasets");
            let owned: Vec<Value> = self
                .st
                .iter(&rsinfo, Some(ns))
                .filter(|r| owned_by(r, &d["metadata"]["uid"]))
                .cloned()
                .collect();
            let revision = owned
                .iter()
                .filter_map(|r| {
                    r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                        .as_str()?
                        .parse::<i64>()
                        .ok()
                })
                .max()
                .unwrap_or(0);
            let new_want = if failing { 1.min(want) } else { want };
            let mut rs_tpl = template.clone();
            rs_tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let existing = owned
                .iter()
                .find(|r| meta_str(r, "name") == Some(&rs_name))
                .cloned();
            let rs = match existing {
                Some(rs) => rs,
                None => {
                    let mut labels = template_labels(&template);
                    labels.insert("pod-template-hash".into(), json!(hash));
                    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                                     "annotations": {"deployment.kubernetes.io/revision": (revision + 1).to_string(), "deployment.kubernetes.io/desired-replicas": want.to_string()},
                                     "ownerReferences": owner_ref("apps/v1", "Deployment", &d)},
                        "spec": {"replicas": new_want, "selector": selector, "template": rs_tpl}});
                    self.create("apps", "replicasets", ns, rs);
                    changed = true;
                    match self.st.get(&rsinfo, Some(ns), &rs_name).cloned() {
                        Some(rs) => rs,
                        None => return changed,
                    }
                }
            };
            if starting {
                // Step one only creates the new ReplicaSet and records the new generation.
            } else {
                changed |= self.ensure_rs(&rs, new_want, !failing, &hash);
                new_ready = if failing { 0 } else { new_want };
                for old in owned
                    .iter()
                    .filter(|r| meta_str(r, "name") != Some(&rs_name))
                {
                    let keep = if failing { replicas(old) } else { 0 };
                    let old_hash = old["metadata"]["labels"]["pod-template-hash"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    changed |= self.ensure_rs(old, keep, true, &old_hash);
                    old_ready += keep;
                }
            }
        } else if !starting {
            new_ready = if failing { 0 } else { want };
            old_ready = if failing { want } else { 0 };
        }

        status.insert("observedGeneration".into(), json!(generation));
        let rs_msg = format!("ReplicaSet \"{rs_name}\"");
        if starting {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("{rs_msg} is progressing."),
                true,
            );
        } else if failing {
            let updated = 1.min(want);
            put_count(&mut status, "replicas", old_ready + updated);
            put_count(&mut status, "updatedReplicas", updated);
            put_count(&mut status, "readyReplicas", old_ready);
            put_count(&mut status, "availableReplicas", old_ready);
            put_count(
                &mut status,
                "unavailableReplicas",
                (want - old_ready).max(0).max(updated),
            );
            let avail = if old_ready >= want {
                (
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                )
            } else {
                (
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            };
            set_condition(&mut conds, "Available", avail.0, avail.1, avail.2, true);
            set_condition(
                &mut conds,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("{rs_msg} has timed out progressing."),
                true,
            );
        } else {
            let _ = new_ready;
            put_count(&mut status, "replicas", want);
            put_count(&mut status, "updatedReplicas", want);
            put_count(&mut status, "readyReplicas", want);
            put_count(&mut status, "availableReplicas", want);
            status.remove("unavailableReplicas");
            set_condition(
                &mut conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                true,
            );
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("{rs_msg} has successfully progressed."),
                true,
            );
        }
        // Real controllers list Available before Progressing.
        conds.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
        status.insert("conditions".into(), Value::Array(conds));
        changed | self.write_status(&dinfo, ns, name, &d, Value::Object(status))
    }

    /// Scales a ReplicaSet to `want` pods (running or failing) and updates its status.
    fn ensure_rs(&mut self, rs: &Value, want: i64, running: bool, hash: &str) -> bool {
        let rsinfo = self.info("apps", "replicasets");
        let ns = meta_str(rs, "namespace").unwrap_or_default().to_string();
        let name = meta_str(rs, "name").unwrap_or_default().to_string();
        let mut changed = false;
        let mut rs = rs.clone();
        if replicas(&rs) != want {
            let mut o = rs.clone();
            o["spec"]["replicas"] = json!(want);
            if let Ok(n) = self.st.update(
                self.tx,
                &rsinfo,
                Some(&ns),
                &name,
                o,
                Sub::Internal,
                &WriteOpts::default(),
            ) {
                rs = n;
                changed = true;
            }
        }
        let template = rs["spec"]["template"].clone();
        changed |= self.ensure_pods(
            &ns,
            &rs,
            "ReplicaSet",
            "apps/v1",
            &template,
            "pod-template-hash",
            hash,
            want,
            running,
            false,
        );
        let ready = if running { want } else { 0 };
        let mut st = Map::new();
        st.insert("replicas".into(), json!(want));
        put_count(&mut st, "fullyLabeledReplicas", want);
        put_count(&mut st, "readyReplicas", ready);
        put_count(&mut st, "availableReplicas", ready);
        st.insert("observedGeneration".into(), json!(generation(&rs)));
        changed | self.write_status(&rsinfo, &ns, &name, &rs, Value::Object(st))
    }

    fn statefulset(&mut self, hooks: &Hooks, ns: &str, name: &str) -> bool {
        let info = self.info("apps", "statefulsets");
        let Some(s) = self.st.get(&info, Some(ns), name).cloned() else {
            return false;
        };
        let generation = generation(&s);
        let want = replicas(&s);
        let template = s["spec"]["template"].clone();
        let rev = format!("{name}-{}", stable_hash(&template, 10));
        let starting = s["status"]["observedGeneration"].as_i64() != Some(generation);
        let failing = hooks.failing("statefulsets", ns, name, generation, starting);
        let mut status = s["status"].as_object().cloned().unwrap_or_default();
        let current = status
            .get("currentRevision")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| rev.clone());
        status.insert("observedGeneration".into(), json!(generation));
        status.insert("updateRevision".into(), json!(rev));
        status.insert("currentRevision".into(), json!(current));
        let mut changed = false;
        if !starting {
            if failing {
                // The highest ordinal is replaced first and never becomes ready.
                let ok = (want - 1).max(0);
                if self.children {
                    changed |= self.sts_pods(&s, ns, name, &template, &rev, want, true, &[]);
                }
                put_count(&mut status, "replicas", want);
                put_count(&mut status, "readyReplicas", ok);
                put_count(&mut status, "currentReplicas", ok);
                put_count(&mut status, "updatedReplicas", want.min(1));
                put_count(&mut status, "availableReplicas", ok);
            } else {
                // Like the real controller with OrderedReady (the default): a Pod left stuck by a
                // failed rollout to another revision is never replaced, not even when the
                // template goes back ("forced rollback": a person deletes that Pod).
                let ordered = s["spec"]["podManagementPolicy"]
                    .as_str()
                    .is_none_or(|p| p == "OrderedReady");
                let stuck = if self.children && ordered {
                    self.stuck_sts_pods(ns, &s["metadata"]["uid"], &rev)
                } else {
                    Vec::new()
                };
                if self.children {
                    changed |= self.sts_pods(&s, ns, name, &template, &rev, want, false, &stuck);
                }
                let ok = want - stuck.len() as i64;
                put_count(&mut status, "replicas", want);
                for k in [
                    "readyReplicas",
                    "currentReplicas",
                    "updatedReplicas",
                    "availableReplicas",
                ] {
                    put_count(&mut status, k, ok);
                }
                if stuck.is_empty() {
                    status.insert("currentRevision".into(), json!(rev));
                }
            }
            status.insert("collisionCount".into(), json!(0));
        }
        changed | self.write_status(&info, ns, name, &s, Value::Object(status))
    }

    /// The names of a StatefulSet's Pods that are not running and belong to another revision
    /// than `rev` (left over from a failed rollout).
    fn stuck_sts_pods(&self, ns: &str, uid: &Value, rev: &str) -> Vec<String> {
        self.pods_owned(ns, uid)
            .iter()
            .filter(|p| {
                p["status"]["phase"] != "Running"
                    && p["metadata"]["labels"]["controller-revision-hash"] != json!(rev)
            })
            .filter_map(|p| meta_str(p, "name").map(String::from))
            .collect()
    }

    /// StatefulSet pods `name-0..want`; with `fail_last`, the last ordinal is stuck; the Pods
    /// named in `keep` are left as they are.
    #[allow(clippy::too_many_arguments)]
    fn sts_pods(
        &mut self,
        s: &Value,
        ns: &str,
        name: &str,
        template: &Value,
        rev: &str,
        want: i64,
        fail_last: bool,
        keep: &[String],
    ) -> bool {
        let uid = s["metadata"]["uid"].clone();
        let mut changed = false;
        let pods = self.pods_owned(ns, &uid);
        for i in 0..want {
            let pname = format!("{name}-{i}");
            if keep.contains(&pname) {
                continue;
            }
            let failing = fail_last && i == want - 1;
            let existing = pods.iter().find(|p| meta_str(p, "name") == Some(&pname));
            let ok = existing.is_some_and(|p| {
                if failing {
                    p["metadata"]["labels"]["controller-revision-hash"] == json!(rev)
                        && p["status"]["phase"] == "Pending"
                } else {
                    p["status"]["phase"] == "Running"
                        && (fail_last
                            || p["metadata"]["labels"]["controller-revision-hash"] == json!(rev))
                }
            });
            if ok {
                continue;
            }
            if existing.is_some() {
                self.delete_pod(ns, &pname);
            }
            let mut labels = template_labels(template);
            labels.insert("controller-revision-hash".into(), json!(rev));
            labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(pname));
            labels.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
            let pod = make_pod(
                &pname,
                ns,
                template,
                &labels,
                owner_ref("apps/v1", "StatefulSet", s),
                !failing,
            );
            self.create("", "pods", ns, pod);
            changed = true;
        }
        for p in pods {
            let pname = meta_str(&p, "name").unwrap_or_default().to_string();
            let idx = pname
                .rsplit('-')
                .next()
                .and_then(|x| x.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            if idx >= want {
                self.delete_pod(ns, &pname);
                changed = true;
            }
        }
        changed
    }

    fn daemonset(&mut self, hooks: &Hooks, ns: &str, name: &str) -> bool {
        let info = self.info("apps", "daemonsets");
        let Some(d) = self.st.get(&info, Some(ns), name).cloned() else {
            return false;
        };
        let generation = generation(&d);
        let template = d["spec"]["template"].clone();
        let hash = stable_hash(&template, 10);
        let starting = d["status"]["observedGeneration"].as_i64() != Some(generation);
        let failing = hooks.failing("daemonsets", ns, name, generation, starting);
        let mut status = d["status"].as_object().cloned().unwrap_or_default();
        status.insert("observedGeneration".into(), json!(generation));
        let mut changed = false;
        // One simulated node.
        status.insert("desiredNumberScheduled".into(), json!(1));
        status.insert("currentNumberScheduled".into(), json!(1));
        status.insert("numberMisscheduled".into(), json!(0));
        if !starting {
            if self.children {
                changed |= self.ensure_pods(
                    ns,
                    &d,
                    "DaemonSet",
                    "apps/v1",
                    &template,
                    "controller-revision-hash",
                    &hash,
                    1,
                    !failing,
                    false,
                );
            }
            let ready = if failing { 0 } else { 1 };
            status.insert("numberReady".into(), json!(ready));
            status.insert("updatedNumberScheduled".into(), json!(1));
            put_count(&mut status, "numberAvailable", ready);
            put_count(&mut status, "numberUnavailable", 1 - ready);
        }
        changed | self.write_status(&info, ns, name, &d, Value::Object(status))
    }

    fn job(&mut self, ns: &str, name: &str) -> bool {
        let info = self.info("batch", "jobs");
        let Some(j) = self.st.get(&info, Some(ns), name).cloned() else {
            return false;
        };
        if j["status"].get("completionTime").is_some()
            || j["spec"]["suspend"].as_bool() == Some(true)
        {
            return false;
        }
        let now = now_rfc3339();
        let completions = j["spec"]["completions"].as_i64().unwrap_or(1);
        let status = json!({
            "startTime": j["status"]["startTime"].as_str().unwrap_or(&now), "completionTime": now, "succeeded": completions,
            "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now}
            ]
        });
        self.write_status(&info, ns, name, &j, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_the_annotated_digest_the_pin_or_no_repository_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let pin = format!("sha256:{}", "cd".repeat(32));
        let template =
            json!({"metadata": {"annotations": {"fake-node.ml-operator.test/digest.app": digest}}});
        let app = json!({"name": "app", "image": "127.0.0.1:5000/hub/app:v1"});
        assert_eq!(
            image_id(&template, &app),
            format!("docker-pullable://127.0.0.1:5000/hub/app@{digest}")
        );
        let pinned = json!({"name": "side", "image": format!("hub/side:v2@{pin}")});
        assert_eq!(
            image_id(&template, &pinned),
            format!("docker-pullable://hub/side@{pin}")
        );
        let plain = json!({"name": "side", "image": "hub/side:v2"});
        let local = image_id(&json!({}), &plain);
        assert!(local.starts_with("docker://sha256:"), "{local}");
        assert_eq!(local.len(), "docker://sha256:".len() + 64);
        assert!(!local.contains('@'));
    }

    #[test]
    fn hooks_fail_exactly_the_next_rollout() {
        let h = Hooks::default();
        h.fail_rollout("deployments", "ns", "web");
        assert!(!h.failing("deployments", "ns", "other", 2, true));
        assert!(h.failing("deployments", "ns", "web", 2, true));
        assert!(
            h.failing("deployments", "ns", "web", 2, false),
            "stays failed for that generation"
        );
        assert!(
            !h.failing("deployments", "ns", "web", 3, true),
            "the next generation rolls out"
        );
    }

    #[test]
    fn workload_kinds_normalize() {
        assert_eq!(workload_plural("Deployment"), Some("deployments"));
        assert_eq!(workload_plural("sts"), Some("statefulsets"));
        assert_eq!(workload_plural("Pod"), None);
    }

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let mut c = vec![
            json!({"type": "Available", "status": "True", "reason": "R", "message": "m", "lastTransitionTime": "t0", "lastUpdateTime": "t0"}),
        ];
        set_condition(&mut c, "Available", "True", "R", "m", true);
        assert_eq!(c[0]["lastTransitionTime"], "t0");
        set_condition(&mut c, "Available", "True", "R2", "m", true);
        assert_eq!(c[0]["lastTransitionTime"], "t0");
        assert_eq!(c[0]["reason"], "R2");
    }
}
