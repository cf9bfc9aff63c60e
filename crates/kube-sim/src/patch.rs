//! Patch semantics: strategic merge patch (with the built-in types' `patchMergeKey`s and the
//! `$patch`, `$retainKeys`, `$deleteFromPrimitiveList`, `$setElementOrder` directives),
//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// How a list field merges under strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListStrategy {
    /// Replace the whole list (the default, "atomic").
    Replace,
    /// Merge elements that have the same value of this key.
    MergeKey(&'static str),
    /// Merge a list of scalars as a set (e.g. `metadata.finalizers`).
    MergeScalars,
}

/// The merge strategy of a list field, from the Go struct tags of the built-in types.
/// `parent` is the name of the field that holds the object containing `field`.
fn list_strategy(path: &[String], field: &str) -> ListStrategy {
    let in_container = path.iter().any(|p| {
        matches!(
            p.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        )
    });
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "schedulingGates"
        | "resourceClaims"
        | "secrets" => ListStrategy::MergeKey("name"),
        "ports" if in_container => ListStrategy::MergeKey("containerPort"),
        "ports" => ListStrategy::MergeKey("port"),
        "volumeMounts" => ListStrategy::MergeKey("mountPath"),
        "volumeDevices" => ListStrategy::MergeKey("devicePath"),
        "hostAliases" => ListStrategy::MergeKey("ip"),
        "podIPs" | "hostIPs" => ListStrategy::MergeKey("ip"),
        "topologySpreadConstraints" => ListStrategy::MergeKey("topologyKey"),
        "conditions" => ListStrategy::MergeKey("type"),
        "ownerReferences" => ListStrategy::MergeKey("uid"),
        "finalizers" => ListStrategy::MergeScalars,
        _ => ListStrategy::Replace,
    }
}

/// Error applying a patch; `code` is 400 for a malformed patch and 422 when it cannot apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatchFailure {
    /// HTTP status to answer with.
    pub code: u16,
    /// What went wrong.
    pub message: String,
}

/// Applies a strategic merge patch to `original`.
pub(crate) fn strategic_merge(original: &Value, patch: &Value) -> Result<Value, PatchFailure> {
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => Ok(merge_map(o, p, &mut vec![])?
            .map(Value::Object)
            .unwrap_or_else(|| Value::Object(Map::new()))),
        (_, Value::Object(p)) => Ok(Value::Object(
            merge_map(&Map::new(), p, &mut vec![])?.unwrap_or_default(),
        )),
        _ => Err(PatchFailure {
            code: 400,
            message: "strategic merge patch must be a JSON object".into(),
        }),
    }
}

/// Merges map `p` into `o`; `None` means "delete this map" (`$patch: delete`).
fn merge_map(
    o: &Map<String, Value>,
    p: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Option<Map<String, Value>>, PatchFailure> {
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = p.clone();
            m.remove("$patch");
            return Ok(Some(strip_directives_map(&m)));
        }
        Some("delete") => return Ok(None),
        Some(other) => {
            return Err(PatchFailure {
                code: 422,
                message: format!(
                    "Unknown patch type: {other} in map: {}",
                    Value::Object(p.clone())
                ),
            });
        }
        None => {}
    }
    let mut out = o.clone();
    if let Some(keys) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, pv) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (out.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match (out.get(k), pv) {
            (Some(Value::Object(ov)), Value::Object(pm)) => {
                merge_map(ov, pm, path)?.map(Value::Object)
            }
            (Some(Value::Array(ov)), Value::Array(pl)) => {
                Some(Value::Array(merge_list(ov, pl, path, k)?))
            }
            (_, Value::Object(pm)) => merge_map(&Map::new(), pm, path)?.map(Value::Object),
            (_, Value::Array(pl)) => Some(Value::Array(merge_list(&[], pl, path, k)?)),
            (_, v) => Some(v.clone()),
        };
        path.pop();
        match merged {
            Some(v) => {
                out.insert(k.clone(), v);
            }
            None => {
                out.remove(k);
            }
        }
    }
    for (k, order) in p {
        if let (Some(field), Some(order)) = (k.strip_prefix("$setElementOrder/"), order.as_array())
            && let Some(Value::Array(list)) = out.get_mut(field)
        {
            let key = match list_strategy(path, field) {
                ListStrategy::MergeKey(key) => Some(key),
                _ => None,
            };
            reorder(list, order, key);
        }
    }
    Ok(Some(out))
}

/// Orders `list` like `order` (elements not mentioned keep their relative order at the end).
fn reorder(list: &mut [Value], order: &[Value], key: Option<&str>) {
    let pos = |v: &Value| {
        order.iter().position(|o| match key {
            Some(k) => o.get(k).is_some() && o.get(k) == v.get(k),
            None => o == v,
        })
    };
    list.sort_by_key(|v| pos(v).unwrap_or(usize::MAX));
}

fn strip_directives_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives_map(m)),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| x.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_list(
    o: &[Value],
    p: &[Value],
    path: &mut Vec<String>,
    field: &str,
) -> Result<Vec<Value>, PatchFailure> {
    if p.iter()
        .any(|x| x.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(p
            .iter()
            .filter(|x| x.get("$patch").is_none())
            .map(strip_directives)
            .collect());
    }
    match list_strategy(&path[..path.len().saturating_sub(1)], field) {
        ListStrategy::Replace => Ok(p.iter().map(strip_directives).collect()),
        ListStrategy::MergeScalars => {
            let mut out = o.to_vec();
            for x in p {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeKey(key) => {
            let mut out = o.to_vec();
            for pe in p {
                let Some(pm) = pe.as_object() else {
                    return Err(PatchFailure {
                        code: 422,
                        message: format!(
                            "{field}: list element is not an object but the field merges by key {key}"
                        ),
                    });
                };
                let Some(kv) = pm.get(key) else {
                    return Err(PatchFailure {
                        code: 422,
                        message: format!("map: {pe} does not contain declared merge key: {key}"),
                    });
                };
                let idx = out.iter().position(|e| e.get(key) == Some(kv));
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(i) = idx {
                        out.remove(i);
                    }
                    continue;
                }
                match idx {
                    Some(i) => {
                        let base = out[i].as_object().cloned().unwrap_or_default();
                        match merge_map(&base, pm, path)? {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    None => out.push(Value::Object(strip_directives_map(pm))),
                }
            }
            Ok(out)
        }
    }
}

/// Applies an RFC 7386 JSON merge patch.
pub(crate) fn json_merge(original: &Value, patch: &Value) -> Value {
    let mut out = original.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// Applies an RFC 6902 JSON patch document.
pub(crate) fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchFailure> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchFailure {
            code: 400,
            message: format!("invalid JSON patch: {e}"),
        })?;
    let mut out = original.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| PatchFailure {
        code: 422,
        message: format!("the server rejected our request due to an error in our request: {e}"),
    })?;
    Ok(out)
}

/// The `FieldsV1` set of an applied configuration, as recorded in `managedFields`.
pub(crate) fn fields_v1(applied: &Value) -> Value {
    fn walk(v: &Value, path: &mut Vec<String>) -> Value {
        let mut out = Map::new();
        if let Value::Object(m) = v {
            for (k, child) in m {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                if path.len() == 1
                    && path[0] == "metadata"
                    && matches!(k.as_str(), "name" | "namespace")
                {
                    continue;
                }
                path.push(k.clone());
                let entry = match child {
                    Value::Object(_) => walk(child, path),
                    Value::Array(items) => {
                        let mut lm = Map::new();
                        if let ListStrategy::MergeKey(key) =
                            list_strategy(&path[..path.len() - 1], k)
                        {
                            for it in items {
                                if let Some(kv) = it.get(key) {
                                    let mut inner = walk(it, path);
                                    if let Value::Object(im) = &mut inner {
                                        im.insert(".".into(), Value::Object(Map::new()));
                                    }
                                    lm.insert(
                                        format!("k:{}", serde_json::json!({ key: kv })),
                                        inner,
                                    );
                                }
                            }
                        }
                        Value::Object(lm)
                    }
                    _ => Value::Object(Map::new()),
                };
                path.pop();
                out.insert(format!("f:{k}"), entry);
            }
        }
        Value::Object(out)
    }
    let mut f = walk(applied, &mut vec![]);
    if f.get("f:metadata")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
        && let Value::Object(root) = &mut f
    {
        root.remove("f:metadata");
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"spec": {"template": {"spec": {
            "containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "side:1"}
            ],
            "tolerations": [{"key": "a"}]
        }}}})
    }

    #[test]
    fn containers_merge_by_name() {
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}}});
        let out = strategic_merge(&deploy(), &p).unwrap();
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(cs[0]["image"], "app:1");
        assert_eq!(cs[1]["image"], "side:2");
    }

    #[test]
    fn nested_env_merges_by_name_and_new_elements_append() {
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}]},
            {"name": "new", "image": "n:1"}
        ]}}}});
        let out = strategic_merge(&deploy(), &p).unwrap();
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            cs[0]["env"],
            json!([{"name": "A", "value": "9"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(cs[2]["name"], "new");
    }

    #[test]
    fn atomic_lists_are_replaced_and_null_deletes() {
        let p = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "app", "ports": null}]}}}});
        let out = strategic_merge(&deploy(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "b"}])
        );
        assert!(
            out["spec"]["template"]["spec"]["containers"][0]
                .get("ports")
                .is_none()
        );
    }

    #[test]
    fn patch_directives() {
        let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
        let out = strategic_merge(&deploy(), &del).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        let rep = json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}}});
        let out = strategic_merge(&deploy(), &rep).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "o"}])
        );

        let order = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}}}});
        let out = strategic_merge(&deploy(), &order).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["name"],
            "side"
        );

        let map_replace = json!({"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"a": "b"}}}}});
        let out = strategic_merge(&deploy(), &map_replace).unwrap();
        assert_eq!(
            out["spec"]["template"],
            json!({"metadata": {"labels": {"a": "b"}}})
        );
    }

    #[test]
    fn container_ports_merge_by_container_port_service_ports_by_port() {
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 81}]}]}}}});
        let out = strategic_merge(&deploy(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}]}});
        let out = strategic_merge(
            &svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
        )
        .unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "name": "http", "targetPort": 8080}])
        );
    }

    #[test]
    fn missing_merge_key_is_rejected() {
        let p = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(strategic_merge(&deploy(), &p).unwrap_err().code, 422);
    }

    #[test]
    fn finalizers_merge_as_set() {
        let o = json!({"metadata": {"finalizers": ["a"]}});
        let out = strategic_merge(&o, &json!({"metadata": {"finalizers": ["b", "a"]}})).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out = strategic_merge(
            &o,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn merge_patch_replaces_lists() {
        let out = json_merge(
            &deploy(),
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "x"}])
        );
    }

    #[test]
    fn json_patch_ops_and_failures() {
        let out = json_patch(&deploy(), &json!([{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "side:3"}])).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][1]["image"],
            "side:3"
        );
        assert_eq!(
            json_patch(
                &deploy(),
                &json!([{"op": "test", "path": "/spec/x", "value": 1}])
            )
            .unwrap_err()
            .code,
            422
        );
        assert_eq!(
            json_patch(&deploy(), &json!({"op": "add"}))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn fields_v1_uses_keyed_list_entries() {
        let f = fields_v1(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "i"}]}}}}),
        );
        assert!(f.get("f:metadata").is_none());
        assert_eq!(
            f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"],
            json!({})
        );
    }
}
