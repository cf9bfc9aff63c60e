//! The `kubectl patch` commands ml-operator prints (a contract: people paste them).
//!
//! One command per **workload**: it changes every listed container of that workload (init
//! containers and sidecars too) in one strategic merge patch ([`ImagePatch`], the same one the
//! upgrade controller sends), so the workload rolls out once. The API server merges
//! `containers` and `initContainers` *by name*: the listed containers get their new image,
//! other containers, and every other field of the listed ones, stay as they are.
//!
//! In: a workload and its image changes. Out: the patch JSON and the shell-quoted command.

use crate::inventory::Workload;
use crate::inventory::patch::{ImageChange, ImagePatch};
use crate::inventory::shell;

/// The strategic merge patch that sets `changes` on `workload`, e.g.
/// `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:v2"}],"initContainers":[{"name":"run-migration","image":"app:v2"}]}}}}`.
pub fn image_patch(workload: &Workload, changes: &[ImageChange<'_>]) -> String {
    ImagePatch::new(workload.kind, changes.to_vec()).to_json()
}

/// The full command: `kubectl patch <kind> <name> -n <namespace> --patch '<patch>'`, every word
/// quoted for a POSIX shell ([`shell::join`]): ordinary names print bare and the patch in single
/// quotes, exactly the documented form, and no name, namespace, container or image can make a
/// shell run anything else.
pub fn patch_command(workload: &Workload, changes: &[ImageChange<'_>]) -> String {
    let patch = image_patch(workload, changes);
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

    fn change<'a>(name: &'a str, image: &'a str, init: bool) -> ImageChange<'a> {
        ImageChange { name, image, init }
    }

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
        assert_eq!(
            patch_command(
                &workload(WorkloadKind::Deployment),
                &[change(
                    "account-lookup-service",
                    "mojaloop/account-lookup-service:v10.3.4",
                    false
                )]
            ),
            r#"kubectl patch deployment account-lookup-service -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"account-lookup-service","image":"mojaloop/account-lookup-service:v10.3.4"}]}}}}'"#
        );
    }

    #[test]
    fn one_command_changes_the_app_its_migration_and_its_sidecar() {
        let changes = [
            change("central-ledger", "mojaloop/central-ledger:v19.8.9", false),
            change("event-sidecar", "mojaloop/event-sidecar:v14.2.3", false),
            change("run-migration", "mojaloop/central-ledger:v19.8.9", true),
        ];
        assert_eq!(
            patch_command(&workload(WorkloadKind::Deployment), &changes),
            r#"kubectl patch deployment account-lookup-service -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"central-ledger","image":"mojaloop/central-ledger:v19.8.9"},{"name":"event-sidecar","image":"mojaloop/event-sidecar:v14.2.3"}],"initContainers":[{"name":"run-migration","image":"mojaloop/central-ledger:v19.8.9"}]}}}}'"#
        );
    }

    #[test]
    fn cronjobs_pods_and_init_containers() {
        let init = [change("wait", "busybox:1.36.1", true)];
        assert_eq!(
            image_patch(&workload(WorkloadKind::CronJob), &init),
            r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"wait","image":"busybox:1.36.1"}]}}}}}}"#
        );
        assert_eq!(
            image_patch(&workload(WorkloadKind::Pod), &init),
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
            let changes = [change(&container, &image, false), change("init", &image, true)];
            let command = patch_command(&workload, &changes);
            let words = [
                "patch", "statefulset", &workload.name, "-n", &workload.namespace, "--patch",
                &image_patch(&workload, &changes),
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
