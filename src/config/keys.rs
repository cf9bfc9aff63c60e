//! Every key a configuration file may hold, derived from the configuration's own JSON schema,
//! so the documentation and the Helm chart's values can be checked against the code.

use super::Config;

impl Config {
    /// Every key a configuration file may hold, as dotted paths (`notify.slack.webhookUrlFile`,
    /// `registries[].host`), from the configuration's own schema — so documentation and chart
    /// values can be checked against the code.
    pub fn keys() -> Vec<String> {
        let schema =
            serde_json::to_value(schemars::schema_for!(Config)).expect("a schema serializes");
        let mut keys = Vec::new();
        collect_keys(&schema, &schema, "", &mut keys);
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Walks a JSON schema's `properties`, following `$ref`s, `items` and `anyOf`/`allOf`.
fn collect_keys(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    keys: &mut Vec<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(serde_json::Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = root.get("$defs").and_then(|defs| defs.get(name)) {
            collect_keys(root, target, prefix, keys);
        }
    }
    for combinator in ["anyOf", "allOf", "oneOf"] {
        for branch in node
            .get(combinator)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_keys(root, branch, prefix, keys);
        }
    }
    if let Some(items) = node.get("items") {
        collect_keys(root, items, &format!("{prefix}[]"), keys);
    }
    if let Some(properties) = node
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (name, property) in properties {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            keys.push(key.clone());
            collect_keys(root, property, &key, keys);
        }
    }
}
