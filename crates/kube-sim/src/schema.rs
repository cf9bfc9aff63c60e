//! What the real API server does with a custom resource's body against its CRD's structural
//! `openAPIV3Schema` before storing it: **pruning** (fields the schema does not know are dropped,
//! unless `x-kubernetes-preserve-unknown-fields`; with `fieldValidation=Strict`, as kubectl sends
//! by default, they are a `400 strict decoding error` instead), **defaulting** (`default` values
//! for missing fields, also for non-nullable fields sent as `null`), and **validation** (`type`,
//! `required`, `enum`, `nullable`, `items`, `properties`, `additionalProperties`), every failure
//! a cause of one `422 Invalid`, worded as the real server words it.

use serde_json::{Map, Value};

/// A validation failure: the field path, the `StatusCause` reason and message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cause {
    pub field: String,
    pub reason: &'static str,
    pub message: String,
}

/// The `openAPIV3Schema` of `version` in a CRD object, if it declares one.
pub(crate) fn of_version<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .filter(|s| s.is_object())
}

fn preserves_unknown(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == true
}

/// Drops the fields `schema` does not declare; returns their paths (`spec.zzz`). At the root,
/// `apiVersion`, `kind` and `metadata` are always kept (and `metadata` never pruned).
pub(crate) fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(map) = obj.as_object_mut() {
        for (key, value) in map.iter_mut() {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(prop) = schema["properties"].get(key) {
                prune_value(prop, value, key, &mut pruned);
            }
        }
        if !preserves_unknown(schema) {
            let props = schema["properties"].as_object();
            map.retain(|key, _| {
                let known = matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                    || props.is_some_and(|p| p.contains_key(key));
                if !known {
                    pruned.push(key.clone());
                }
                known
            });
        }
    }
    pruned
}

fn prune_value(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema["x-kubernetes-embedded-resource"] == true {
                // apiVersion, kind and metadata of an embedded object are kept, as at the root.
                let mut root = Value::Object(std::mem::take(map));
                for p in prune(schema, &mut root) {
                    pruned.push(format!("{path}.{p}"));
                }
                *map = match root {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                return;
            }
            let props = schema["properties"].as_object();
            let additional = schema.get("additionalProperties");
            for (key, v) in map.iter_mut() {
                let sub = format!("{path}.{key}");
                if let Some(prop) = props.and_then(|p| p.get(key)) {
                    prune_value(prop, v, &sub, pruned);
                } else if let Some(additional) = additional.filter(|a| a.is_object()) {
                    prune_value(additional, v, &sub, pruned);
                }
            }
            let keeps_all = preserves_unknown(schema)
                || additional.is_some_and(|a| a.is_object() || *a == Value::Bool(true));
            if !keeps_all {
                map.retain(|key, _| {
                    let known = props.is_some_and(|p| p.contains_key(key));
                    if !known {
                        pruned.push(format!("{path}.{key}"));
                    }
                    known
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                prune_value(&schema["items"], item, &format!("{path}[{i}]"), pruned);
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of missing properties (recursively, in objects that exist); a `null`
/// for a non-nullable property is dropped first (and defaulted when it has a default).
pub(crate) fn default(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (key, prop) in props {
                    if map.get(key).is_some_and(Value::is_null) && prop["nullable"] != true {
                        map.remove(key);
                    }
                    if !map.contains_key(key)
                        && let Some(d) = prop.get("default")
                    {
                        map.insert(key.clone(), d.clone());
                    }
                    if let Some(v) = map.get_mut(key) {
                        default(prop, v);
                    }
                }
            }
            if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let declared = schema["properties"].as_object();
                for (key, v) in map.iter_mut() {
                    if declared.is_none_or(|d| !d.contains_key(key)) {
                        default(additional, v);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                default(&schema["items"], item);
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(wanted: &str, v: &Value) -> bool {
    match (wanted, type_name(v)) {
        ("number", "integer") => true,
        (w, actual) => w == actual,
    }
}

/// Validates `obj` (the whole custom resource) against `schema`. Paths in causes are from the
/// root (`spec.approved`); the "in body" path in messages is from `body_root` (the root, or
/// `status` for a write to the status subresource, where the real server validates the status
/// schema on its own).
pub(crate) fn validate(schema: &Value, obj: &Value, status_only: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(map) = obj.as_object() else {
        return causes;
    };
    let props = schema["properties"].as_object();
    for (key, value) in map {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(prop) = props.and_then(|p| p.get(key)) {
            let body = if status_only && key == "status" {
                String::new()
            } else {
                key.clone()
            };
            check(prop, value, key, &body, &mut causes);
        }
    }
    required(schema, map, "", &mut causes);
    causes
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn required(schema: &Value, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    for name in schema["required"].as_array().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        if map.get(name).is_none_or(Value::is_null) {
            causes.push(Cause {
                field: join(path, name),
                reason: "FieldValueRequired",
                message: "Required value".into(),
            });
        }
    }
}

/// One value at `path` (from the root) whose "in body" path is `body`.
fn check(schema: &Value, value: &Value, path: &str, body: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if schema["nullable"] == true {
            return;
        }
        if let Some(wanted) = schema["type"].as_str() {
            causes.push(type_cause(path, body, wanted, value));
        }
        return;
    }
    if let Some(wanted) = schema["type"].as_str()
        && !type_matches(wanted, value)
    {
        causes.push(type_cause(path, body, wanted, value));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let shown: Vec<String> = allowed.iter().map(Value::to_string).collect();
        causes.push(Cause {
            field: path.to_string(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                shown.join(", ")
            ),
        });
    }
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, v) in map {
                let (sub, sub_body) = (join(path, key), join(body, key));
                if let Some(prop) = props.and_then(|p| p.get(key)) {
                    check(prop, v, &sub, &sub_body, causes);
                } else if let Some(additional) = additional {
                    check(additional, v, &sub, &sub_body, causes);
                }
            }
            required(schema, map, path, causes);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(
                    &schema["items"],
                    item,
                    &format!("{path}[{i}]"),
                    &format!("{body}[{i}]"),
                    causes,
                );
            }
        }
        _ => {}
    }
}

fn type_cause(path: &str, body: &str, wanted: &str, value: &Value) -> Cause {
    let actual = type_name(value);
    let body = if body.is_empty() { path } else { body };
    Cause {
        field: path.to_string(),
        reason: "FieldValueTypeInvalid",
        message: format!(
            "Invalid value: \"{actual}\": {body} in body must be of type {wanted}: \"{actual}\""
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object", "required": ["spec"],
            "properties": {
                "spec": {"type": "object", "required": ["image"], "properties": {
                    "image": {"type": "string"},
                    "approved": {"type": "boolean", "default": false},
                    "level": {"type": "string", "nullable": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                }},
                "status": {"type": "object", "properties": {
                    "phase": {"type": "string", "enum": ["A", "B"]},
                    "history": {"type": "array", "default": [], "items": {
                        "type": "object", "required": ["at"], "properties": {"at": {"type": "string"}}
                    }},
                    "generation": {"type": "integer", "format": "int64"},
                }},
            }
        })
    }

    #[test]
    fn prunes_unknown_fields_but_not_metadata_or_preserved_ones() {
        let mut obj = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "whatever": 1},
            "spec": {"image": "i", "zzz": 1, "labels": {"k": "v"}, "free": {"any": {"thing": 1}}},
            "extra": true
        });
        let mut pruned = prune(&schema(), &mut obj);
        pruned.sort();
        assert_eq!(pruned, ["extra", "spec.zzz"]);
        assert_eq!(obj["metadata"]["whatever"], 1);
        assert_eq!(obj["spec"]["labels"]["k"], "v");
        assert_eq!(obj["spec"]["free"]["any"]["thing"], 1);
    }

    #[test]
    fn defaults_missing_and_non_nullable_null_fields() {
        let mut obj =
            json!({"spec": {"image": "i", "approved": null, "level": null}, "status": {}});
        default(&schema(), &mut obj);
        assert_eq!(obj["spec"]["approved"], false);
        assert_eq!(obj["spec"]["level"], Value::Null, "nullable: kept");
        assert_eq!(obj["status"]["history"], json!([]));
    }

    #[test]
    fn validates_like_the_real_server_words_it() {
        let obj = json!({
            "spec": {"approved": "yes", "labels": {"k": 1}},
            "status": {"phase": "C", "history": [{}], "generation": "3"}
        });
        let causes = validate(&schema(), &obj, false);
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        for expected in [
            "spec.approved: Invalid value: \"string\": spec.approved in body must be of type boolean: \"string\"",
            "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\"",
            "spec.image: Required value",
            "status.phase: Unsupported value: \"C\": supported values: \"A\", \"B\"",
            "status.history[0].at: Required value",
            "status.generation: Invalid value: \"string\": status.generation in body must be of type integer: \"string\"",
        ] {
            assert!(
                text.contains(&expected.to_string()),
                "{expected}\n{text:#?}"
            );
        }
        assert_eq!(causes.len(), 6, "{text:#?}");
        // The status subresource: "in body" paths are the status schema's own.
        let causes = validate(
            &schema(),
            &json!({"spec": {"image": "i"}, "status": {"generation": "3"}}),
            true,
        );
        assert_eq!(
            causes[0].message,
            "Invalid value: \"string\": generation in body must be of type integer: \"string\""
        );
        assert!(
            validate(
                &schema(),
                &json!({"spec": {"image": "i", "level": null}}),
                false
            )
            .is_empty()
        );
    }
}
