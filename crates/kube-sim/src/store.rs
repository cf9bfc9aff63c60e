//! The object store: generic JSON objects keyed by (group, resource, namespace, name), one
//! global monotonically increasing `resourceVersion` (like etcd), a bounded event history for
//! watches, and the server-side write semantics of the real API server (uid, timestamps,
//! generation, preconditions, status subresources, finalizers, cascading deletion).

use crate::patch::{self, PatchFailure};
use crate::resources::{self, Discovery, ResourceInfo};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, success_status};
use crate::util::{meta_mut, meta_str, new_uid, now_rfc3339, random_suffix};
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

/// One change, as kept in the history and sent to watchers.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The resourceVersion this change produced.
    pub rv: u64,
    /// Group of the changed resource.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace (`""` for cluster-scoped).
    pub namespace: String,
    /// Change type.
    pub kind: EventType,
    /// The object after the change (the last state for deletions).
    pub object: Arc<Value>,
    /// The object before a modification (for selector transitions).
    pub old: Option<Arc<Value>>,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    /// The main resource: status is preserved when a status subresource exists.
    Main,
    /// The `/status` subresource: only status changes.
    Status,
    /// Internal writes (loader, controller): everything is taken as given.
    Internal,
}

/// The patch formats the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    /// `dryRun=All`: validate and compute, do not persist.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict` (kubectl's default): unknown fields of a custom resource are a
    /// `400` instead of being pruned.
    pub strict: bool,
}

/// Options of a list or watch.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOpts {
    /// Parsed `labelSelector`.
    pub labels: LabelSelector,
    /// Parsed `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = all).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
}

type Objects = BTreeMap<(String, String), BTreeMap<(String, String), Value>>;

/// Everything behind the store lock.
#[derive(Debug)]
pub(crate) struct State {
    objects: Objects,
    /// Current (latest) resourceVersion.
    pub rv: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Watches from a resourceVersion below this get `410 Gone`.
    pub floor: u64,
    /// Continue tokens issued before this resourceVersion get `410 Gone`.
    pub compacted: u64,
    /// Served resources (built-ins and CRDs).
    pub discovery: Discovery,
    next_cluster_ip: u32,
}

/// The shared store.
pub(crate) struct Store {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for Store {
    /// Counts only: objects may be Secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        let objects: usize = st.objects.values().map(BTreeMap::len).sum();
        f.debug_struct("Store")
            .field("resource_version", &st.rv)
            .field("objects", &objects)
            .field("history", &st.history.len())
            .finish()
    }
}

/// What a watch starts with: the events to send first and the live feed.
pub(crate) struct WatchStart {
    /// Initial events (synthetic ADDED for a fresh watch, or history replay).
    pub initial: Vec<Arc<Event>>,
    /// Live events after `initial`.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The resourceVersion the watch is positioned at.
    pub rv: u64,
}

fn ns_key(info: &ResourceInfo, ns: Option<&str>) -> String {
    if info.namespaced {
        ns.unwrap_or_default().to_string()
    } else {
        String::new()
    }
}

fn rv_of(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The object without server-maintained metadata, for "did anything change" comparisons.
fn comparable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    o
}

/// The part of an object whose change bumps `metadata.generation`.
fn spec_part(obj: &Value, info: &ResourceInfo) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if info.status {
            m.remove("status");
        }
    }
    o
}

/// One page of a list as the API server writes it: `{Kind}List` with `metadata`
/// (`resourceVersion`, and `continue` + `remainingItemCount` when more follow) and `items`,
/// each with its `apiVersion` and `kind`.
struct ListPage<'a> {
    info: &'a ResourceInfo,
    resource_version: String,
    next: Option<String>,
    remaining: usize,
    items: Vec<&'a Value>,
    /// Written as the real server answers `as=PartialObjectMetadataList`: each item's
    /// `metadata` alone.
    metadata_only: bool,
}

impl Serialize for ListPage<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let api_version = self.info.api_version();
        let mut metadata = Map::new();
        metadata.insert("resourceVersion".into(), json!(self.resource_version));
        if let Some(next) = &self.next {
            metadata.insert("continue".into(), json!(next));
            metadata.insert("remainingItemCount".into(), json!(self.remaining));
        }
        let mut map = serializer.serialize_map(Some(4))?;
        if self.metadata_only {
            let items: Vec<Value> = self.items.iter().map(|o| partial_metadata(o)).collect();
            map.serialize_entry("apiVersion", "meta.k8s.io/v1")?;
            map.serialize_entry("kind", "PartialObjectMetadataList")?;
            map.serialize_entry("metadata", &metadata)?;
            map.serialize_entry("items", &items)?;
            return map.end();
        }
        let items: Vec<Item<'_>> = self
            .items
            .iter()
            .map(|object| Item {
                object,
                api_version: &api_version,
                kind: &self.info.kind,
            })
            .collect();
        map.serialize_entry("apiVersion", &api_version)?;
        map.serialize_entry("kind", &self.info.list_kind)?;
        map.serialize_entry("metadata", &metadata)?;
        map.serialize_entry("items", &items)?;
        map.end()
    }
}

/// A listed object with its `apiVersion` and `kind` (stored objects may lack them), written
/// from the stored value without copying it.
struct Item<'a> {
    object: &'a Value,
    api_version: &'a str,
    kind: &'a str,
}

impl Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(fields) = self.object.as_object() else {
            return self.object.serialize(serializer);
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("apiVersion", self.api_version)?;
        map.serialize_entry("kind", self.kind)?;
        for (key, value) in fields {
            if key != "apiVersion" && key != "kind" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// An object as the real server answers a metadata request (and a Table row's default
/// `object`): its `metadata` only.
pub(crate) fn partial_metadata(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"].clone()})
}

/// Decodes a `continue` token into (resourceVersion, last key `namespace/name`).
fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v["rv"].as_u64().ok_or_else(bad)?,
        v["start"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

fn encode_continue(rv: u64, start: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

impl Store {
    /// A store holding the default namespaces, keeping `history_limit` events for watches.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        let store = Store {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 0,
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                floor: 0,
                compacted: 0,
                discovery: Discovery {
                    resources: resources::builtins(),
                },
                next_cluster_ip: 1,
            }),
            tx,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .create(
                    &store.info("", "v1", "namespaces").expect("namespaces"),
                    None,
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    &WriteOpts::default(),
                )
                .expect("default namespaces");
        }
        store
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new receiver of all future events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The served resource at `group/version/plural`.
    pub fn info(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.lock()
            .discovery
            .by_plural(group, version, plural)
            .cloned()
    }

    /// The served resource for a manifest's `apiVersion`/`kind`.
    pub fn info_for_kind(&self, api_version: &str, kind: &str) -> Option<ResourceInfo> {
        self.lock().discovery.by_kind(api_version, kind).cloned()
    }

    /// A snapshot of discovery.
    pub fn discovery(&self) -> Discovery {
        self.lock().discovery.clone()
    }

    /// Runs `f` with the locked state and the event sender: one atomic read-modify-write.
    pub fn transact<R>(
        &self,
        f: impl FnOnce(&mut State, &broadcast::Sender<Arc<Event>>) -> R,
    ) -> R {
        let mut st = self.lock();
        f(&mut st, &self.tx)
    }

    /// Current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Drops all history: watches from any earlier resourceVersion (and older continue tokens) get 410.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.floor = st.rv;
        st.compacted = st.rv;
    }

    /// Reads one object.
    pub fn get(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let st = self.lock();
        st.get(info, ns, name)
            .map(|o| with_version(o.clone(), info))
            .ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))
    }

    /// All objects of a resource (optionally in one namespace), unfiltered.
    pub fn all(&self, info: &ResourceInfo, ns: Option<&str>) -> Vec<Value> {
        let st = self.lock();
        st.iter(info, ns)
            .map(|o| with_version(o.clone(), info))
            .collect()
    }

    /// A list response (`{Kind}List`) honoring selectors, `limit` and `continue`.
    pub fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Value, ApiError> {
        let st = self.lock();
        let page = st.page(info, ns, opts)?;
        Ok(serde_json::to_value(&page).expect("a list page always serializes"))
    }

    /// [`Store::list`] as JSON text, written from the stored objects under the lock (a page of
    /// big objects is not copied first). With `metadata_only`, a `PartialObjectMetadataList`
    /// of each object's metadata alone, as the real server answers
    /// `as=PartialObjectMetadataList`.
    pub fn list_json(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOpts,
        metadata_only: bool,
    ) -> Result<String, ApiError> {
        let st = self.lock();
        let page = ListPage {
            metadata_only,
            ..st.page(info, ns, opts)?
        };
        Ok(serde_json::to_string(&page).expect("a list page always serializes"))
    }

    /// Creates an object (`POST`). `keep_status` is for the loader: real creates drop status.
    pub fn create(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let out = st.create(&self.tx, info, ns, obj, opts, false)?;
        Ok(with_version(out, info))
    }

    /// Creates or replaces an object exactly as given (status included): used by the loader.
    pub fn load(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        if let Some(ns) = ns.filter(|_| info.namespaced) {
            st.ensure_namespace(&self.tx, ns);
        }
        if st.get(info, ns, &name).is_some() {
            let mut o = obj;
            meta_mut(&mut o).remove("resourceVersion");
            st.update(
                &self.tx,
                info,
                ns,
                &name,
                o,
                Sub::Internal,
                &WriteOpts::default(),
            )
        } else {
            st.create(&self.tx, info, ns, obj, &WriteOpts::default(), true)
        }
    }

    /// Replaces an object (`PUT`), on the main resource or the status subresource.
    pub fn update(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        sub: Sub,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        st.update(&self.tx, info, ns, name, obj, sub, opts)
            .map(|o| with_version(o, info))
    }

    /// Patches an object; server-side apply creates it when missing. Returns (object, created).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        body: &Value,
        sub: Sub,
        opts: &WriteOpts,
        force: bool,
    ) -> Result<(Value, bool), ApiError> {
        let _ = force; // conflicts between field managers are not simulated: apply always wins.
        let mut st = self.lock();
        if ptype == PatchType::Strategic && !info.strategic {
            return Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for {})",
                crate::status::qualified(&info.plural, &info.group)
            )));
        }
        if ptype == PatchType::Apply && opts.field_manager.as_deref().unwrap_or_default().is_empty()
        {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                "fieldManager",
                "Required value: is required for apply patch",
            ));
        }
        let Some(old) = st.get(info, ns, name).cloned() else {
            if ptype == PatchType::Apply && sub == Sub::Main {
                let mut obj = body.clone();
                meta_mut(&mut obj).insert("name".into(), json!(name));
                record_apply(&mut obj, body, opts, info);
                let out = st.create(&self.tx, info, ns, obj, opts, false)?;
                return Ok((with_version(out, info), true));
            }
            return Err(ApiError::not_found(&info.plural, &info.group, name));
        };
        let fail = |f: PatchFailure| ApiError {
            code: f.code,
            reason: if f.code == 422 {
                "Invalid"
            } else {
                "BadRequest"
            },
            message: f.message,
            details: None,
        };
        let mut patched = match ptype {
            PatchType::Strategic => patch::strategic_merge(&old, body).map_err(fail)?,
            PatchType::Merge => patch::json_merge(&old, body),
            PatchType::Json => patch::json_patch(&old, body).map_err(fail)?,
            PatchType::Apply => {
                let mut applied = body.clone();
                if let Some(m) = applied.as_object_mut() {
                    // An applied configuration does not carry preconditions.
                    if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                        md.remove("resourceVersion");
                    }
                }
                let mut out = if info.strategic {
                    patch::strategic_merge(&old, &applied).map_err(fail)?
                } else {
                    patch::json_merge(&old, &applied)
                };
                record_apply(&mut out, body, opts, info);
                out
            }
        };
        // A patch cannot rename or move an object.
        meta_mut(&mut patched).insert("name".into(), json!(name));
        let out = st.update(&self.tx, info, ns, name, patched, sub, opts)?;
        Ok((with_version(out, info), false))
    }

    /// Deletes an object; returns the object (custom resources, pods, finalizers) or a success `Status`.
    pub fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let old = st
            .get(info, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
        let pre = &body["preconditions"];
        if let Some(rv) = pre["resourceVersion"].as_str()
            && meta_str(&old, "resourceVersion") != Some(rv)
        {
            return Err(ApiError::conflict(&info.plural, &info.group, name));
        }
        if let Some(uid) = pre["uid"].as_str()
            && meta_str(&old, "uid") != Some(uid)
        {
            return Err(ApiError::conflict(&info.plural, &info.group, name));
        }
        let orphan = body["propagationPolicy"].as_str() == Some("Orphan")
            || body["orphanDependents"].as_bool() == Some(true);
        if opts.dry_run {
            return Ok(with_version(old, info));
        }
        let out = st.delete(&self.tx, info, ns, name, orphan);
        let uid = meta_str(&old, "uid").map(String::from);
        match out {
            Some(obj)
                if info.custom
                    || info.plural == "pods"
                    || obj["metadata"].get("deletionTimestamp").is_some() =>
            {
                Ok(with_version(obj, info))
            }
            _ => Ok(success_status(
                name,
                &info.group,
                &info.plural,
                uid.as_deref(),
            )),
        }
    }

    /// Starts a watch: events after `rv` (`None`/0: synthetic ADDED for current objects first).
    pub fn watch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        rv: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        let rx = self.tx.subscribe();
        let initial = match rv {
            None | Some(0) => st
                .iter(info, ns)
                .map(|o| {
                    Arc::new(Event {
                        rv: rv_of(o),
                        group: info.group.clone(),
                        plural: info.plural.clone(),
                        namespace: meta_str(o, "namespace").unwrap_or_default().to_string(),
                        kind: EventType::Added,
                        object: Arc::new(o.clone()),
                        old: None,
                    })
                })
                .collect(),
            Some(r) if r < st.floor => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {r} ({})",
                    st.floor + 1
                )));
            }
            Some(r) => st
                .history
                .iter()
                .filter(|e| {
                    e.rv > r
                        && e.group == info.group
                        && e.plural == info.plural
                        && ns.is_none_or(|n| e.namespace == n)
                })
                .cloned()
                .collect(),
        };
        Ok(WatchStart {
            initial,
            rx,
            rv: st.rv.max(rv.unwrap_or(0)),
        })
    }
}

/// Sets `apiVersion` to the served version (stored objects are version-agnostic).
fn with_version(mut obj: Value, info: &ResourceInfo) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.api_version()));
        m.insert("kind".into(), json!(info.kind));
    }
    obj
}

/// Records a server-side apply in `metadata.managedFields`.
fn record_apply(obj: &mut Value, applied: &Value, opts: &WriteOpts, info: &ResourceInfo) {
    let manager = opts.field_manager.clone().unwrap_or_default();
    let entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": info.api_version(),
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": patch::fields_v1(applied),
    });
    let meta = meta_mut(obj);
    let mut mf: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    mf.retain(|e| !(e["manager"] == json!(manager) && e["operation"] == "Apply"));
    mf.push(entry);
    meta.insert("managedFields".into(), Value::Array(mf));
}

impl State {
    fn bucket(&self, info: &ResourceInfo) -> Option<&BTreeMap<(String, String), Value>> {
        self.objects.get(&(info.group.clone(), info.plural.clone()))
    }

    /// One stored object.
    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Option<&Value> {
        self.bucket(info)?
            .get(&(ns_key(info, ns), name.to_string()))
    }

    /// One page of a list: the objects after the continue token's key that match the
    /// selectors, at most `limit` of them, in key order.
    fn page<'a>(
        &'a self,
        info: &'a ResourceInfo,
        ns: Option<&'a str>,
        opts: &ListOpts,
    ) -> Result<ListPage<'a>, ApiError> {
        let after = match &opts.continue_token {
            Some(t) => {
                let (rv, start) = decode_continue(t)?;
                if rv < self.compacted {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ));
                }
                // Neither a namespace nor a name holds a `/`.
                let (namespace, name) = start.split_once('/').unwrap_or(("", start.as_str()));
                Some((namespace.to_string(), name.to_string()))
            }
            None => None,
        };
        let matching = self
            .iter_after(info, ns, after.as_ref())
            .filter(|o| opts.labels.matches(o) && opts.fields.matches(o));
        let mut items = Vec::new();
        let mut remaining = 0usize;
        for obj in matching {
            if opts.limit > 0 && items.len() >= opts.limit {
                remaining += 1;
            } else {
                items.push(obj);
            }
        }
        let next = (remaining > 0).then(|| {
            let last = items.last().expect("a full page before the rest");
            encode_continue(
                self.rv,
                &format!(
                    "{}/{}",
                    meta_str(last, "namespace").unwrap_or_default(),
                    meta_str(last, "name").unwrap_or_default()
                ),
            )
        });
        Ok(ListPage {
            info,
            resource_version: self.rv.to_string(),
            next,
            remaining,
            items,
            metadata_only: false,
        })
    }

    /// Stored objects of a resource in key order (namespace, name), optionally in one
    /// namespace, after the key `after`.
    fn iter_after<'a>(
        &'a self,
        info: &ResourceInfo,
        ns: Option<&'a str>,
        after: Option<&(String, String)>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        use std::ops::Bound;
        let ns = ns.filter(|_| info.namespaced);
        let lower = match (after, ns) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        self.bucket(info)
            .into_iter()
            .flat_map(move |b| b.range((lower.clone(), Bound::Unbounded)))
            .take_while(move |((n, _), _)| ns.is_none_or(|x| x == n))
            .map(|(_, v)| v)
    }

    /// Stored objects of a resource in key order, optionally in one namespace.
    pub fn iter<'a>(
        &'a self,
        info: &ResourceInfo,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let namespaced = info.namespaced;
        self.bucket(info)
            .into_iter()
            .flat_map(|b| b.iter())
            .filter(move |((n, _), _)| !namespaced || ns.is_none_or(|x| x == n))
            .map(|(_, v)| v)
    }

    /// Persists a change: bumps the resourceVersion, records history, notifies watchers.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        kind: EventType,
        mut obj: Value,
        old: Option<Value>,
    ) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let key = (info.group.clone(), info.plural.clone());
        let okey = (ns.to_string(), name.to_string());
        match kind {
            EventType::Deleted => {
                if let Some(b) = self.objects.get_mut(&key) {
                    b.remove(&okey);
                }
            }
            _ => {
                self.objects
                    .entry(key)
                    .or_default()
                    .insert(okey, obj.clone());
            }
        }
        let ev = Arc::new(Event {
            rv: self.rv,
            group: info.group.clone(),
            plural: info.plural.clone(),
            namespace: ns.to_string(),
            kind,
            object: Arc::new(with_version(obj.clone(), info)),
            old: old.map(|o| Arc::new(with_version(o, info))),
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.floor = e.rv;
            }
        }
        let _ = tx.send(ev);
        obj
    }

    fn ns_info(&self) -> ResourceInfo {
        self.discovery
            .by_plural("", "v1", "namespaces")
            .cloned()
            .expect("namespaces served")
    }

    /// Creates a namespace if it does not exist (loader and controller convenience).
    pub fn ensure_namespace(&mut self, tx: &broadcast::Sender<Arc<Event>>, ns: &str) {
        let info = self.ns_info();
        if self.get(&info, None, ns).is_none() {
            let _ = self.create(
                tx,
                &info,
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &WriteOpts::default(),
                false,
            );
        }
    }

    /// Server-side create.
    pub fn create(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        info: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
        keep_status: bool,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        // An empty namespace is no namespace: protobuf bodies (helm's release Secrets, any
        // client-go client sending protobuf) always carry the field, empty when unset.
        let body_ns = meta_str(&obj, "namespace")
            .filter(|n| !n.is_empty())
            .map(String::from);
        let ns = if info.namespaced {
            let ns = ns
                .map(String::from)
                .or(body_ns.clone())
                .unwrap_or_else(|| "default".into());
            if body_ns.as_ref().is_some_and(|b| *b != ns) {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            let nsi = self.ns_info();
            if self.get(&nsi, None, &ns).is_none() {
                return Err(ApiError::not_found("namespaces", "", &ns));
            }
            ns
        } else {
            String::new()
        };
        let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(g) => format!("{g}{}", random_suffix(5)),
                None => {
                    return Err(ApiError::invalid(
                        &info.kind,
                        &info.group,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &info.kind,
                &info.group,
                &name,
                "metadata.name",
                &format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        if self.get(info, Some(&ns), &name).is_some() {
            return Err(ApiError::already_exists(&info.plural, &info.group, &name));
        }
        let obj_map = obj.as_object_mut().expect("object");
        obj_map.insert("apiVersion".into(), json!(info.api_version()));
        obj_map.insert("kind".into(), json!(info.kind));
        if info.status && !keep_status {
            obj_map.remove("status");
        }
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        if info.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        if info.generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        crate::defaults::apply(info, &mut obj);
        self.defaults_on_create(info, &mut obj, &name);
        self.admit_custom(info, &name, &mut obj, opts, false)?;
        if opts.dry_run {
            return Ok(obj);
        }
        let out = self.commit(tx, info, &ns, &name, EventType::Added, obj, None);
        if info.group == "apiextensions.k8s.io" {
            self.rebuild_discovery();
        }
        Ok(out)
    }

    /// A custom resource's body against its CRD's structural schema, as the real server takes
    /// it: unknown fields pruned (or refused with `fieldValidation=Strict`), defaults filled in,
    /// then validated (`422 Invalid` with one cause per failure).
    fn admit_custom(
        &self,
        info: &ResourceInfo,
        name: &str,
        obj: &mut Value,
        opts: &WriteOpts,
        status_only: bool,
    ) -> Result<(), ApiError> {
        if !info.custom {
            return Ok(());
        }
        let crd_name = format!("{}.{}", info.plural, info.group);
        let Some(schema) = self
            .objects
            .get(&(
                "apiextensions.k8s.io".to_string(),
                "customresourcedefinitions".to_string(),
            ))
            .and_then(|crds| crds.get(&(String::new(), crd_name)))
            .and_then(|crd| crate::schema::of_version(crd, &info.version))
            .cloned()
        else {
            return Ok(());
        };
        let pruned = crate::schema::prune(&schema, obj);
        if opts.strict && !pruned.is_empty() {
            let fields: Vec<String> = pruned
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", "),
                kind = info.kind,
                version = info.version
            )));
        }
        crate::schema::default(&schema, obj);
        let causes = crate::schema::validate(&schema, obj, status_only);
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_causes(
                &info.kind,
                &info.group,
                name,
                &causes,
            ))
        }
    }

    /// Server-populated fields the real API server sets on create.
    fn defaults_on_create(&mut self, info: &ResourceInfo, obj: &mut Value, name: &str) {
        match (info.group.as_str(), info.plural.as_str()) {
            ("", "namespaces") => {
                let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "services") => {
                let spec = obj
                    .as_object_mut()
                    .expect("object")
                    .entry("spec")
                    .or_insert_with(|| json!({}));
                if spec.get("type").is_none() {
                    spec["type"] = json!("ClusterIP");
                }
                if spec.get("clusterIP").is_none() {
                    let n = self.next_cluster_ip;
                    self.next_cluster_ip += 1;
                    let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
                    spec["clusterIP"] = json!(ip);
                    spec["clusterIPs"] = json!([ip]);
                }
                if spec.get("sessionAffinity").is_none() {
                    spec["sessionAffinity"] = json!("None");
                }
                if obj.get("status").is_none() {
                    obj["status"] = json!({"loadBalancer": {}});
                }
            }
            ("", "pods") if obj.get("status").is_none() => {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let names = obj["spec"]["names"].clone();
                let now = now_rfc3339();
                obj["status"] = json!({
                    "acceptedNames": names,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
                    ],
                    "storedVersions": obj["spec"]["versions"].as_array().into_iter().flatten().filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()
                });
            }
            _ => {}
        }
    }

    /// Server-side update.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        sub: Sub,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let nsk = ns_key(info, ns);
        let old = self
            .get(info, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
        let body_name = meta_str(&obj, "name").unwrap_or(name).to_string();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if info.namespaced
            && meta_str(&obj, "namespace").is_some_and(|b| !b.is_empty() && Some(b) != ns)
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(&info.plural, &info.group, name));
        }
        match sub {
            Sub::Main if info.status => match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    obj.as_object_mut().expect("object").remove("status");
                }
            },
            Sub::Status => {
                let status = obj.get("status").cloned();
                obj = old.clone();
                match status {
                    Some(s) => obj["status"] = s,
                    None => {
                        obj.as_object_mut().expect("object").remove("status");
                    }
                }
            }
            _ => {}
        }
        {
            let om = old["metadata"].clone();
            let meta = meta_mut(&mut obj);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match om.get(k) {
                    Some(v) => meta.insert(k.into(), v.clone()),
                    None => meta.remove(k),
                };
            }
            meta.insert("name".into(), json!(name));
            if info.namespaced {
                meta.insert("namespace".into(), json!(nsk));
            }
            if sub != Sub::Status
                && meta.get("managedFields").is_none()
                && let Some(mf) = om.get("managedFields")
            {
                meta.insert("managedFields".into(), mf.clone());
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version()));
            m.insert("kind".into(), json!(info.kind));
        }
        if sub != Sub::Status {
            crate::defaults::apply(info, &mut obj);
        }
        self.admit_custom(info, name, &mut obj, opts, sub == Sub::Status)?;
        if info.generation && spec_part(&obj, info) != spec_part(&old, info) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            meta_mut(&mut obj).insert("generation".into(), json!(g));
        }
        meta_mut(&mut obj).insert(
            "resourceVersion".into(),
            old["metadata"]["resourceVersion"].clone(),
        );
        if comparable(&obj) == comparable(&old) {
            // No-op writes do not bump the resourceVersion or notify watchers.
            return Ok(old);
        }
        if opts.dry_run {
            return Ok(obj);
        }
        let finalized = old["metadata"].get("deletionTimestamp").is_some()
            && obj["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finalized {
            let out = self.commit(tx, info, &nsk, name, EventType::Deleted, obj, None);
            self.after_delete(tx, info, &nsk, name, &out, false);
            return Ok(out);
        }
        let out = self.commit(tx, info, &nsk, name, EventType::Modified, obj, Some(old));
        if info.group == "apiextensions.k8s.io" {
            self.rebuild_discovery();
        }
        Ok(out)
    }

    /// Deletes (or marks for deletion when finalizers remain); returns the last state.
    pub fn delete(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        orphan: bool,
    ) -> Option<Value> {
        let nsk = ns_key(info, ns);
        let old = self.get(info, ns, name)?.clone();
        let has_finalizers = old["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if old["metadata"].get("deletionTimestamp").is_some() {
                return Some(old);
            }
            let mut obj = old.clone();
            let meta = meta_mut(&mut obj);
            meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            return Some(self.commit(tx, info, &nsk, name, EventType::Modified, obj, Some(old)));
        }
        let out = self.commit(tx, info, &nsk, name, EventType::Deleted, old, None);
        self.after_delete(tx, info, &nsk, name, &out, orphan);
        Some(out)
    }

    /// Cascades a deletion: dependents (ownerReferences), namespace contents, CRD instances.
    fn after_delete(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        deleted: &Value,
        orphan: bool,
    ) {
        if info.group.is_empty() && info.plural == "namespaces" {
            let all: Vec<ResourceInfo> = self
                .discovery
                .resources
                .iter()
                .filter(|r| r.namespaced)
                .cloned()
                .collect();
            for r in dedup_storage(all) {
                let names: Vec<String> = self
                    .iter(&r, Some(name))
                    .filter_map(|o| meta_str(o, "name").map(String::from))
                    .collect();
                for n in names {
                    if let Some(o) = self.get(&r, Some(name), &n).cloned() {
                        self.commit(tx, &r, name, &n, EventType::Deleted, o, None);
                    }
                }
            }
        }
        if info.group == "apiextensions.k8s.io" {
            for r in from_crd_storage(deleted) {
                let keys: Vec<(String, String)> = self
                    .bucket(&r)
                    .map(|b| b.keys().cloned().collect())
                    .unwrap_or_default();
                for (n, nm) in keys {
                    if let Some(o) = self.get(&r, Some(&n), &nm).cloned() {
                        self.commit(tx, &r, &n, &nm, EventType::Deleted, o, None);
                    }
                }
            }
            self.rebuild_discovery();
        }
        let Some(uid) = meta_str(deleted, "uid").map(String::from) else {
            return;
        };
        let all = dedup_storage(self.discovery.resources.clone());
        for r in all {
            let deps: Vec<(String, String)> = self
                .bucket(&r)
                .map(|b| {
                    b.iter()
                        .filter(|((n, _), o)| {
                            (!info.namespaced || !r.namespaced || n == ns)
                                && o["metadata"]["ownerReferences"]
                                    .as_array()
                                    .is_some_and(|refs| refs.iter().any(|x| x["uid"] == json!(uid)))
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            for (n, nm) in deps {
                let nso = if r.namespaced { Some(n.as_str()) } else { None };
                if orphan {
                    if let Some(o) = self.get(&r, nso, &nm).cloned() {
                        let mut obj = o.clone();
                        if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                            refs.retain(|x| x["uid"] != json!(uid));
                        }
                        self.commit(tx, &r, &n, &nm, EventType::Modified, obj, Some(o));
                    }
                } else {
                    self.delete(tx, &r, nso, &nm, false);
                }
            }
        }
    }

    /// Recomputes discovery from built-ins plus stored CRDs.
    fn rebuild_discovery(&mut self) {
        let mut rs = resources::builtins();
        let crd_info = rs
            .iter()
            .find(|r| r.plural == "customresourcedefinitions")
            .cloned()
            .expect("crd row");
        for crd in self.iter(&crd_info, None) {
            rs.extend(resources::from_crd(crd));
        }
        self.discovery = Discovery { resources: rs };
    }
}

/// One row per stored (group, plural) pair (CRDs may serve several versions of one storage).
fn dedup_storage(rs: Vec<ResourceInfo>) -> Vec<ResourceInfo> {
    let mut out: Vec<ResourceInfo> = vec![];
    for r in rs {
        if !out
            .iter()
            .any(|o| o.group == r.group && o.plural == r.plural)
        {
            out.push(r);
        }
    }
    out
}

fn from_crd_storage(crd: &Value) -> Vec<ResourceInfo> {
    dedup_storage(resources::from_crd(crd))
}

/// RFC 1123 subdomain check used for `metadata.name`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':'
        })
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(name: &str, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
               "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn generation_bumps_on_spec_only() {
        let s = Store::new(100);
        let info = s.info("apps", "v1", "deployments").unwrap();
        let o = s
            .create(
                &info,
                Some("default"),
                deploy("a", "x:1"),
                &WriteOpts::default(),
            )
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 1);
        let mut o2 = o.clone();
        o2["metadata"]["labels"] = json!({"a": "b"});
        let o2 = s
            .update(
                &info,
                Some("default"),
                "a",
                o2,
                Sub::Main,
                &WriteOpts::default(),
            )
            .unwrap();
        assert_eq!(o2["metadata"]["generation"], 1);
        let mut o3 = o2.clone();
        o3["status"] = json!({"replicas": 1});
        let o3 = s
            .update(
                &info,
                Some("default"),
                "a",
                o3,
                Sub::Status,
                &WriteOpts::default(),
            )
            .unwrap();
        assert_eq!(o3["metadata"]["generation"], 1);
        assert_eq!(o3["status"]["replicas"], 1);
        let mut o4 = o3.clone();
        o4["spec"]["replicas"] = json!(2);
        o4["status"] = json!({"replicas": 7});
        let o4 = s
            .update(
                &info,
                Some("default"),
                "a",
                o4,
                Sub::Main,
                &WriteOpts::default(),
            )
            .unwrap();
        assert_eq!(o4["metadata"]["generation"], 2);
        assert_eq!(
            o4["status"]["replicas"], 1,
            "status ignored on main resource"
        );
    }

    #[test]
    fn stale_resource_version_conflicts_and_noop_keeps_rv() {
        let s = Store::new(100);
        let info = s.info("", "v1", "configmaps").unwrap();
        let o = s
            .create(
                &info,
                Some("default"),
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
                &WriteOpts::default(),
            )
            .unwrap();
        let same = s
            .update(
                &info,
                Some("default"),
                "c",
                o.clone(),
                Sub::Main,
                &WriteOpts::default(),
            )
            .unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            o["metadata"]["resourceVersion"]
        );
        let mut changed = o.clone();
        changed["data"]["a"] = json!("2");
        s.update(
            &info,
            Some("default"),
            "c",
            changed.clone(),
            Sub::Main,
            &WriteOpts::default(),
        )
        .unwrap();
        let err = s
            .update(
                &info,
                Some("default"),
                "c",
                changed,
                Sub::Main,
                &WriteOpts::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.reason, "Conflict");
    }

    #[test]
    fn finalizers_delay_deletion() {
        let s = Store::new(100);
        let info = s.info("", "v1", "configmaps").unwrap();
        s.create(
            &info,
            Some("default"),
            json!({"metadata": {"name": "c", "finalizers": ["x/y"]}}),
            &WriteOpts::default(),
        )
        .unwrap();
        let d = s
            .delete(
                &info,
                Some("default"),
                "c",
                &json!({}),
                &WriteOpts::default(),
            )
            .unwrap();
        assert!(d["metadata"]["deletionTimestamp"].is_string());
        let mut cur = s.get(&info, Some("default"), "c").unwrap();
        cur["metadata"]["finalizers"] = json!([]);
        s.update(
            &info,
            Some("default"),
            "c",
            cur,
            Sub::Main,
            &WriteOpts::default(),
        )
        .unwrap();
        assert_eq!(s.get(&info, Some("default"), "c").unwrap_err().code, 404);
    }

    #[test]
    fn owner_references_cascade() {
        let s = Store::new(100);
        let cm = s.info("", "v1", "configmaps").unwrap();
        let owner = s
            .create(
                &cm,
                Some("default"),
                json!({"metadata": {"name": "owner"}}),
                &WriteOpts::default(),
            )
            .unwrap();
        let uid = owner["metadata"]["uid"].clone();
        s.create(&cm, Some("default"), json!({"metadata": {"name": "child", "ownerReferences": [{"uid": uid, "name": "owner", "kind": "ConfigMap", "apiVersion": "v1"}]}}), &WriteOpts::default()).unwrap();
        s.delete(
            &cm,
            Some("default"),
            "owner",
            &json!({}),
            &WriteOpts::default(),
        )
        .unwrap();
        assert!(s.get(&cm, Some("default"), "child").is_err());
    }

    #[test]
    fn watch_from_compacted_rv_is_expired() {
        let s = Store::new(100);
        let info = s.info("", "v1", "configmaps").unwrap();
        let rv = s.current_rv();
        s.create(
            &info,
            Some("default"),
            json!({"metadata": {"name": "c"}}),
            &WriteOpts::default(),
        )
        .unwrap();
        assert_eq!(s.watch(&info, None, Some(rv)).unwrap().initial.len(), 1);
        s.compact();
        assert_eq!(s.watch(&info, None, Some(rv)).err().unwrap().code, 410);
        assert!(s.watch(&info, None, Some(s.current_rv())).is_ok());
    }

    #[test]
    fn history_window_is_bounded() {
        let s = Store::new(3);
        let info = s.info("", "v1", "configmaps").unwrap();
        let rv = s.current_rv();
        for i in 0..5 {
            s.create(
                &info,
                Some("default"),
                json!({"metadata": {"name": format!("c{i}")}}),
                &WriteOpts::default(),
            )
            .unwrap();
        }
        assert_eq!(s.watch(&info, None, Some(rv)).err().unwrap().code, 410);
    }

    #[test]
    fn pagination_walks_all_items() {
        let s = Store::new(100);
        let info = s.info("", "v1", "configmaps").unwrap();
        for i in 0..5 {
            s.create(
                &info,
                Some("default"),
                json!({"metadata": {"name": format!("c{i}")}}),
                &WriteOpts::default(),
            )
            .unwrap();
        }
        let mut opts = ListOpts {
            limit: 2,
            ..Default::default()
        };
        let mut seen = 0;
        loop {
            let l = s.list(&info, None, &opts).unwrap();
            seen += l["items"].as_array().unwrap().len();
            match l["metadata"]["continue"].as_str() {
                Some(c) => opts.continue_token = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, 5);
    }

    /// Namespaces where one is a prefix of another (`a`, `a-b`) sort differently as
    /// `namespace/name` text than as keys; the pages still hold every object once, and a list
    /// in one namespace holds only its own.
    #[test]
    fn pagination_across_prefixed_namespaces_keeps_every_item_once() {
        let s = Store::new(100);
        let info = s.info("", "v1", "configmaps").unwrap();
        let namespaces = s.info("", "v1", "namespaces").unwrap();
        for ns in ["a", "a-b", "b"] {
            s.create(
                &namespaces,
                None,
                json!({"metadata": {"name": ns}}),
                &WriteOpts::default(),
            )
            .unwrap();
            for i in 0..3 {
                s.create(
                    &info,
                    Some(ns),
                    json!({"metadata": {"name": format!("c{i}")}}),
                    &WriteOpts::default(),
                )
                .unwrap();
            }
        }
        let names = |ns: Option<&str>| {
            let mut opts = ListOpts {
                limit: 2,
                ..Default::default()
            };
            let mut seen = Vec::new();
            loop {
                let l = s.list(&info, ns, &opts).unwrap();
                for item in l["items"].as_array().unwrap() {
                    assert_eq!(item["kind"], "ConfigMap");
                    assert_eq!(item["apiVersion"], "v1");
                    seen.push(format!(
                        "{}/{}",
                        item["metadata"]["namespace"].as_str().unwrap(),
                        item["metadata"]["name"].as_str().unwrap()
                    ));
                }
                match l["metadata"]["continue"].as_str() {
                    Some(c) => opts.continue_token = Some(c.to_string()),
                    None => break seen,
                }
            }
        };
        let all = names(None);
        assert_eq!(all.len(), 9, "{all:?}");
        let unique: std::collections::BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 9, "{all:?}");
        assert_eq!(names(Some("a")), ["a/c0", "a/c1", "a/c2"]);
        let text = s
            .list_json(&info, Some("a-b"), &ListOpts::default(), false)
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            s.list(&info, Some("a-b"), &ListOpts::default()).unwrap()
        );
    }
}
