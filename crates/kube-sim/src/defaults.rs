//! Defaulting of the fields the real API server fills in on write for the workload kinds
//! (rollout strategy, history limits, pod template and container defaults, service port
//! protocols), so `kubectl describe`/`get -o yaml` and clients see real-looking objects.

use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// Sets `obj[key] = v` when the key is absent.
fn or_insert(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key).or_insert(v);
    }
}

/// Container defaults: port protocol, image pull policy, termination message settings.
fn container(c: &mut Value) {
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            or_insert(p, "protocol", json!("TCP"));
        }
    }
    let image = c["image"].as_str().unwrap_or_default();
    let tag = image.rsplit('/').next().unwrap_or_default();
    let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
    or_insert(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    or_insert(c, "terminationMessagePath", json!("/dev/termination-log"));
    or_insert(c, "terminationMessagePolicy", json!("File"));
    or_insert(c, "resources", json!({}));
}

/// Pod spec defaults (also used for templates).
pub(crate) fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for key in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(container);
        }
    }
    or_insert(spec, "restartPolicy", json!("Always"));
    or_insert(spec, "terminationGracePeriodSeconds", json!(30));
    or_insert(spec, "dnsPolicy", json!("ClusterFirst"));
    or_insert(spec, "securityContext", json!({}));
    or_insert(spec, "schedulerName", json!("default-scheduler"));
}

/// Applies the real server's defaults for `info`'s kind to `obj` (idempotent).
pub(crate) fn apply(info: &ResourceInfo, obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let template = |spec: &mut Value| {
        if let Some(t) = spec.get_mut("template") {
            or_insert(t, "metadata", json!({}));
            if let Some(ps) = t.get_mut("spec") {
                pod_spec(ps);
            }
        }
    };
    match (info.group.as_str(), info.plural.as_str()) {
        ("apps", "deployments") => {
            or_insert(spec, "replicas", json!(1));
            or_insert(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            or_insert(spec, "revisionHistoryLimit", json!(10));
            or_insert(spec, "progressDeadlineSeconds", json!(600));
            template(spec);
        }
        ("apps", "statefulsets") => {
            or_insert(spec, "replicas", json!(1));
            or_insert(spec, "podManagementPolicy", json!("OrderedReady"));
            or_insert(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            or_insert(spec, "revisionHistoryLimit", json!(10));
            or_insert(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            template(spec);
        }
        ("apps", "daemonsets") => {
            or_insert(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            or_insert(spec, "revisionHistoryLimit", json!(10));
            template(spec);
        }
        ("apps", "replicasets") | ("", "replicationcontrollers") => {
            or_insert(spec, "replicas", json!(1));
            template(spec);
        }
        ("batch", "jobs") => {
            or_insert(spec, "parallelism", json!(1));
            or_insert(spec, "completions", json!(1));
            or_insert(spec, "backoffLimit", json!(6));
            or_insert(spec, "completionMode", json!("NonIndexed"));
            or_insert(spec, "suspend", json!(false));
            template(spec);
        }
        ("batch", "cronjobs") => {
            or_insert(spec, "concurrencyPolicy", json!("Allow"));
            or_insert(spec, "suspend", json!(false));
            or_insert(spec, "successfulJobsHistoryLimit", json!(3));
            or_insert(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(js) = spec.get_mut("jobTemplate").and_then(|j| j.get_mut("spec")) {
                template(js);
            }
        }
        ("", "pods") => pod_spec(spec),
        ("", "services") => {
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    or_insert(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    or_insert(p, "targetPort", port);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Discovery, builtins};

    #[test]
    fn deployment_defaults_are_idempotent() {
        let d = Discovery {
            resources: builtins(),
        };
        let info = d.by_kind("apps/v1", "Deployment").unwrap();
        let mut o = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "x:1.2"}]}}}});
        apply(info, &mut o);
        let once = o.clone();
        apply(info, &mut o);
        assert_eq!(o, once);
        assert_eq!(o["spec"]["strategy"]["type"], "RollingUpdate");
        let cs = &o["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["ports"][0]["protocol"], "TCP");
        assert_eq!(cs[0]["imagePullPolicy"], "Always");
        assert_eq!(cs[1]["imagePullPolicy"], "IfNotPresent");
    }
}
