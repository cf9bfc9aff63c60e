//! The `kubectl patch` commands ml-operator prints (a contract: people paste them).
//!
//! Each command changes exactly one container's image with a strategic merge patch
//! ([`ImagePatch`], the same one the upgrade controller sends), which the API server merges into
//! the container list *by name*: other containers, and every other field of this one, stay as
//! they are.

use crate::inventory::patch::{ImageChange, ImagePatch};
use crate::inventory::shell;
use crate::inventory::{Container, Workload};

/// The strategic merge patch that sets one container's image, e.g.
/// `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}`.
pub fn image_patch(workload: &Workload, container: &Container, new_image: &str) -> String {
    let change = ImageChange {
        name: &container.name,
        image: new_image,
        init: container.init,
    };
    ImagePatch::new(workload.kind, vec![change]).to_json()
}

/// The full command: `kubectl patch <kind> <name> -n <namespace> --patch '<patch>'`, every word
/// quoted for a POSIX shell ([`shell::join`]): ordinary names print bare and the patch in single
/// quotes, exactly the documented form, and no name, namespace, container or image can make a
/// shell run anything else.
pub fn patch_command(workload: &Workload, container: &Container, new_image: &str) -> String {
    let patch = image_patch(workload, container, new_image);
    shell::join([
        "kubectl",
        "patch",
        workload.kind.kubectl_resource(),
        &workload.name,
        "-n",
        &workload.namespace,
        "--patch",
        &patch,
    ])
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

    /// Any text, and text made of shell metacharacters (NUL cannot be in an argument at all).
    fn word() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<String>(),
            "[a-z0-9$`'\"\\\\;|&(){}<>*?!~#=^% \t\n\r.,:@/+-]{0,24}",
        ]
        .prop_map(|word| word.replace('\0', ""))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// `sh -c` of the printed command, with `kubectl` a function printing its arguments,
        /// prints exactly the intended words and runs nothing else (the directory stays empty).
        #[test]
        fn a_shell_runs_the_printed_command_with_exactly_its_words(
            name in word(), namespace in word(), container in word(), image in word(),
        ) {
            let mut workload = workload(WorkloadKind::StatefulSet);
            workload.name = name;
            workload.namespace = namespace;
            let container = Container { name: container, image: "x:1".into(), init: false };
            let command = patch_command(&workload, &container, &image);
            let words = [
                "patch", "statefulset", &workload.name, "-n", &workload.namespace, "--patch",
                &image_patch(&workload, &container, &image),
            ];
            let dir = tempfile::tempdir().unwrap();
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("kubectl() {{ printf '%s\\n' \"$@\"; }}\n{command}"))
                .current_dir(dir.path())
                .output()
                .unwrap();
            let expected: String = words.iter().map(|w| format!("{w}\n")).collect();
            proptest::prop_assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
            proptest::prop_assert!(output.status.success() && output.stderr.is_empty(), "{output:?}");
            proptest::prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }
}
