//! Server-side printing: `meta.k8s.io/v1 Table` responses for `kubectl get`, with the columns
//! the real server prints for common kinds, `additionalPrinterColumns` for custom resources,
//! and `NAME`/`AGE` otherwise.

use crate::resources::ResourceInfo;
use crate::store::partial_metadata;
use crate::util::{get_path, meta_str, scalar_string};
use serde_json::{Value, json};

fn col(name: &str, ty: &str, priority: i64) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority})
}

/// Human-friendly age (`5s`, `3m`, `2h`, `4d`) like kubectl's `translateTimestampSince`.
fn age(obj: &Value) -> String {
    age_since(meta_str(obj, "creationTimestamp").unwrap_or_default())
}

/// Age of an RFC 3339 timestamp.
fn age_since(ts: &str) -> String {
    let Ok(ts) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn int(obj: &Value, path: &str) -> i64 {
    get_path(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

fn str_at(obj: &Value, path: &str) -> String {
    get_path(obj, path).map(scalar_string).unwrap_or_default()
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let total = o["spec"]["containers"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let statuses = o["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|s| s["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let waiting = statuses
        .iter()
        .find_map(|s| s["state"]["waiting"]["reason"].as_str().map(String::from));
    let phase = waiting.unwrap_or_else(|| str_at(o, "status.phase"));
    let status = if o["metadata"].get("deletionTimestamp").is_some() {
        "Terminating".to_string()
    } else {
        phase
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(o)),
        json!(none_if_empty(str_at(o, "status.podIP"))),
        json!(none_if_empty(str_at(o, "spec.nodeName"))),
    ]
}

fn ports(o: &Value) -> String {
    let ps: Vec<String> = o["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
        .collect();
    if ps.is_empty() {
        "<none>".into()
    } else {
        ps.join(",")
    }
}

/// kubectl's READY column for replicated workloads: `ready/desired` (desired defaults to 1).
fn ready_of_desired(o: &Value) -> String {
    let desired = get_path(o, "spec.replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    format!("{}/{desired}", int(o, "status.readyReplicas"))
}

fn images(o: &Value, tpl: &str) -> (String, String) {
    let cs = get_path(o, tpl)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = cs.iter().map(|c| str_at(c, "name")).collect();
    let imgs: Vec<String> = cs.iter().map(|c| str_at(c, "image")).collect();
    (names.join(","), imgs.join(","))
}

fn selector(o: &Value) -> String {
    let m = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    none_if_empty(
        m.iter()
            .map(|(k, v)| format!("{k}={}", scalar_string(v)))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Renders the cells after NAME for one object.
type Cells = Box<dyn Fn(&Value) -> Vec<Value>>;

/// Column definitions and a row renderer for one resource.
fn layout(info: &ResourceInfo) -> (Vec<Value>, Cells) {
    let name = col("Name", "string", 0);
    let agec = col("Age", "string", 0);
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => (
            vec![
                name,
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                agec,
                col("IP", "string", 1),
                col("Node", "string", 1),
            ],
            Box::new(pod_cells),
        ),
        ("", "namespaces") => (
            vec![name, col("Status", "string", 0), agec],
            Box::new(|o| vec![json!(str_at(o, "status.phase")), json!(age(o))]),
        ),
        ("", "configmaps") => (
            vec![name, col("Data", "integer", 0), agec],
            Box::new(|o| {
                let n = o["data"].as_object().map(|m| m.len()).unwrap_or(0)
                    + o["binaryData"].as_object().map(|m| m.len()).unwrap_or(0);
                vec![json!(n), json!(age(o))]
            }),
        ),
        ("", "secrets") => (
            vec![
                name,
                col("Type", "string", 0),
                col("Data", "integer", 0),
                agec,
            ],
            Box::new(|o| {
                vec![
                    json!(str_at(o, "type")),
                    json!(o["data"].as_object().map(|m| m.len()).unwrap_or(0)),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "services") => (
            vec![
                name,
                col("Type", "string", 0),
                col("Cluster-IP", "string", 0),
                col("External-IP", "string", 0),
                col("Port(s)", "string", 0),
                agec,
                col("Selector", "string", 1),
            ],
            Box::new(|o| {
                let sel = o["spec"]["selector"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", scalar_string(v)))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    json!(str_at(o, "spec.type")),
                    json!(str_at(o, "spec.clusterIP")),
                    json!("<none>"),
                    json!(ports(o)),
                    json!(age(o)),
                    json!(none_if_empty(sel)),
                ]
            }),
        ),
        ("apps", "deployments") => (
            vec![
                name,
                col("Ready", "string", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                agec,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            Box::new(|o| {
                let (c, i) = images(o, "spec.template.spec.containers");
                vec![
                    json!(ready_of_desired(o)),
                    json!(int(o, "status.updatedReplicas")),
                    json!(int(o, "status.availableReplicas")),
                    json!(age(o)),
                    json!(c),
                    json!(i),
                    json!(selector(o)),
                ]
            }),
        ),
        ("apps", "statefulsets") => (
            vec![
                name,
                col("Ready", "string", 0),
                agec,
                col("Containers", "string", 1),
                col("Images", "string", 1),
            ],
            Box::new(|o| {
                let (c, i) = images(o, "spec.template.spec.containers");
                vec![
                    json!(ready_of_desired(o)),
                    json!(age(o)),
                    json!(c),
                    json!(i),
                ]
            }),
        ),
        ("apps", "replicasets") => (
            vec![
                name,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                agec,
                col("Containers", "string", 1),
                col("Images", "string", 1),
            ],
            Box::new(|o| {
                let (c, i) = images(o, "spec.template.spec.containers");
                vec![
                    json!(int(o, "spec.replicas")),
                    json!(int(o, "status.replicas")),
                    json!(int(o, "status.readyReplicas")),
                    json!(age(o)),
                    json!(c),
                    json!(i),
                ]
            }),
        ),
        ("apps", "daemonsets") => (
            vec![
                name,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Node Selector", "string", 0),
                agec,
            ],
            Box::new(|o| {
                let ns = o["spec"]["template"]["spec"]["nodeSelector"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", scalar_string(v)))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    json!(int(o, "status.desiredNumberScheduled")),
                    json!(int(o, "status.currentNumberScheduled")),
                    json!(int(o, "status.numberReady")),
                    json!(int(o, "status.updatedNumberScheduled")),
                    json!(int(o, "status.numberAvailable")),
                    json!(none_if_empty(ns)),
                    json!(age(o)),
                ]
            }),
        ),
        ("coordination.k8s.io", "leases") => (
            vec![name, col("Holder", "string", 0), agec],
            Box::new(|o| vec![json!(str_at(o, "spec.holderIdentity")), json!(age(o))]),
        ),
        ("apiextensions.k8s.io", _) => (
            vec![name, col("Created At", "date", 0)],
            Box::new(|o| vec![json!(meta_str(o, "creationTimestamp").unwrap_or_default())]),
        ),
        _ if info.custom && !info.printer_columns.is_empty() => {
            let pcs = info.printer_columns.clone();
            let mut cols = vec![name];
            for pc in &pcs {
                cols.push(json!({"name": pc["name"], "type": pc["type"].as_str().unwrap_or("string"), "format": pc["format"].as_str().unwrap_or(""),
                                 "description": pc["description"].as_str().unwrap_or(""), "priority": pc["priority"].as_i64().unwrap_or(0)}));
            }
            (
                cols,
                Box::new(move |o| {
                    pcs.iter()
                        .map(|pc| {
                            let path = pc["jsonPath"]
                                .as_str()
                                .unwrap_or("")
                                .trim_start_matches('.');
                            match get_path(o, path) {
                                Some(Value::String(ts)) if pc["type"] == "date" => {
                                    json!(age_since(ts))
                                }
                                Some(v) => v.clone(),
                                None => Value::Null,
                            }
                        })
                        .collect()
                }),
            )
        }
        _ if info.custom => (
            vec![name, col("Created At", "date", 0)],
            Box::new(|o| vec![json!(meta_str(o, "creationTimestamp").unwrap_or_default())]),
        ),
        _ => (vec![name, agec], Box::new(|o| vec![json!(age(o))])),
    }
}

/// Renders objects as a `Table`; `include_object` is the `includeObject` query parameter.
pub(crate) fn table(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let (cols, cells) = layout(info);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cs = vec![json!(meta_str(o, "name").unwrap_or_default())];
            cs.extend(cells(o));
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => partial_metadata(o),
            };
            json!({"cells": cs, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": cols, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Discovery, builtins};

    #[test]
    fn deployment_rows_show_ready_counts() {
        let d = Discovery {
            resources: builtins(),
        };
        let info = d.by_kind("apps/v1", "Deployment").unwrap();
        let o = json!({"metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = table(info, &[o], json!({}), "");
        assert_eq!(t["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(t["rows"][0]["cells"][0], "web");
        assert_eq!(t["rows"][0]["cells"][1], "2/3");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
