//! The `kubectl patch` commands ml-operator prints (a contract: people paste them).
//!
//! Each command changes exactly one container's image with a strategic merge patch, which the
//! API server merges into the container list *by name*: other containers, and every other field
//! of this one, stay as they are.

use crate::inventory::{Container, Workload};

/// The strategic merge patch that sets one container's image, e.g.
/// `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}`.
pub fn image_patch(workload: &Workload, container: &Container, new_image: &str) -> String {
    let list = if container.init {
        "initContainers"
    } else {
        "containers"
    };
    let entry = format!(
        r#"{{"{list}":[{{"name":{},"image":{}}}]}}"#,
        json_string(&container.name),
        json_string(new_image)
    );
    workload
        .kind
        .pod_spec_path()
        .iter()
        .rev()
        .fold(entry, |inner, key| format!(r#"{{"{key}":{inner}}}"#))
}

/// The full command: `kubectl patch <kind> <name> -n <namespace> --patch '<patch>'`.
///
/// Names, namespaces and images cannot hold a single quote (Kubernetes and the reference grammar
/// forbid it), so single-quoting the patch is safe in any POSIX shell.
pub fn patch_command(workload: &Workload, container: &Container, new_image: &str) -> String {
    format!(
        "kubectl patch {} {} -n {} --patch '{}'",
        workload.kind.kubectl_resource(),
        workload.name,
        workload.namespace,
        image_patch(workload, container, new_image)
    )
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::WorkloadKind;

    fn workload(kind: WorkloadKind) -> Workload {
        Workload {
            kind,
            namespace: "pisp-lab".into(),
            name: "account-lookup-service".into(),
            labels: Default::default(),
            annotations: Default::default(),
            containers: Vec::new(),
            controller: None,
            image_pull_secrets: Vec::new(),
        }
    }

    #[test]
    fn matches_the_documented_command() {
        let container = Container {
            name: "account-lookup-service".into(),
            image: "mojaloop/account-lookup-service:v10.3.1".into(),
            init: false,
        };
        assert_eq!(
            patch_command(
                &workload(WorkloadKind::Deployment),
                &container,
                "mojaloop/account-lookup-service:v10.3.4"
            ),
            r#"kubectl patch deployment account-lookup-service -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"account-lookup-service","image":"mojaloop/account-lookup-service:v10.3.4"}]}}}}'"#
        );
    }

    #[test]
    fn cronjobs_pods_and_init_containers() {
        let init = Container {
            name: "wait".into(),
            image: "busybox:1.36.0".into(),
            init: true,
        };
        assert_eq!(
            image_patch(&workload(WorkloadKind::CronJob), &init, "busybox:1.36.1"),
            r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"wait","image":"busybox:1.36.1"}]}}}}}}"#
        );
        assert_eq!(
            image_patch(&workload(WorkloadKind::Pod), &init, "busybox:1.36.1"),
            r#"{"spec":{"initContainers":[{"name":"wait","image":"busybox:1.36.1"}]}}"#
        );
    }
}
