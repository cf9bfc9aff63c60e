//! Hostile and careless input (issue 13): shell injection through printed commands, symlink
//! loops, FIFOs, endless inputs, raw API lists, the tag index at scale, wrong types, control
//! characters and deeply nested documents. Each test reproduces what the issue found.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use ml_operator::inventory::{Container, Workload, WorkloadKind};
use ml_operator::scan::{ScanOptions, scan};
use ml_operator::tags::index::TagIndex;
use serde_json::Value;

const TAGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/small-tags.json"
);
const LIST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/deployment-list.json"
);

/// The three injection attempts of the issue: (name, namespace, container).
const ATTEMPTS: [(&str, &str, &str); 3] = [
    ("app$(touch PWNED)", "pisp-lab", "app"),
    ("app", "ns;touch PWNED;", "app"),
    ("app", "pisp-lab", "c'\"; touch PWNED; echo '"),
];

fn ml_operator(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("ml-operator").unwrap();
    command
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .timeout(Duration::from_secs(60));
    command
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// A Deployment manifest (YAML flow strings, so any name can be written).
fn deployment(name: &str, namespace: &str, container: &str, image: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {}\n          image: {}\n",
        q(name),
        q(namespace),
        q(container),
        q(image)
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn injection_attempts_in_a_manifest_are_input_errors_naming_the_field() {
    let fields = [
        "metadata.name \"app$(touch PWNED)\" is not a valid name",
        "metadata.namespace \"ns;touch PWNED;\" is not a valid name",
        "spec.template.spec.containers[0].name \"c'\\\"; touch PWNED; echo '\" is not a valid name",
    ];
    for ((name, namespace, container), field) in ATTEMPTS.into_iter().zip(fields) {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!(
            "# hostile\n{}",
            deployment(
                name,
                namespace,
                container,
                "mojaloop/account-lookup-service:v10.3.1"
            )
        );
        std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
        let assert = ml_operator(dir.path())
            .args(["check", "-f", "m.yaml", "--tags", TAGS, "-o", "commands"])
            .assert()
            .code(2);
        let err = stderr(&assert);
        assert!(err.contains("m.yaml:2: Deployment "), "{err}");
        assert!(err.contains(field), "{err}");
        assert!(stdout(&assert).is_empty());
        assert_eq!(files_in(dir.path()), ["m.yaml"]);
    }
}

/// Findings built through the library, without validation, as a hostile cluster or a future
/// source might hand them over: the printed commands, piped to a shell, run nothing else.
#[test]
fn printed_commands_piped_to_a_shell_run_nothing_else() {
    let workloads: Vec<Workload> = ATTEMPTS
        .iter()
        .map(|(name, namespace, container)| Workload {
            kind: WorkloadKind::Deployment,
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: Default::default(),
            annotations: Default::default(),
            containers: vec![Container {
                name: container.to_string(),
                image: "mojaloop/account-lookup-service:v10.3.1".into(),
                init: false,
            }],
            controller: None,
            image_pull_secrets: Vec::new(),
        })
        .collect();
    let index = TagIndex::from_json(r#"{"mojaloop/account-lookup-service": ["v10.3.4"]}"#).unwrap();
    let report = scan(&workloads, &index, ScanOptions::default());
    let commands: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.command.as_deref().expect("an update has a command"))
        .collect();
    let mut expected = String::new();
    for (name, namespace, container) in ATTEMPTS {
        let patch = format!(
            r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":{},"image":"mojaloop/account-lookup-service:v10.3.4"}}]}}}}}}}}"#,
            serde_json::to_string(container).unwrap()
        );
        for word in [
            "patch",
            "deployment",
            name,
            "-n",
            namespace,
            "--patch",
            &patch,
        ] {
            expected.push_str(word);
            expected.push('\n');
        }
    }
    let script = format!(
        "kubectl() {{ printf '%s\\n' \"$@\"; }}\n{}\n",
        commands.join("\n")
    );
    for shell in ["sh", "bash"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Process::new(shell)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected, "{shell}");
        assert!(output.stderr.is_empty(), "{shell}: {output:?}");
        assert!(files_in(dir.path()).is_empty(), "{shell} ran something");
    }
}

fn hub_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub");
    std::fs::create_dir(&hub).unwrap();
    for (file, name) in [
        ("a.yaml", "account-lookup-service"),
        ("b.yaml", "central-ledger"),
    ] {
        let image = format!("mojaloop/{name}:v10.3.1");
        std::fs::write(hub.join(file), deployment(name, "hub", name, &image)).unwrap();
    }
    dir
}

fn workload_count(assert: &assert_cmd::assert::Assert) -> u64 {
    let report: Value = serde_json::from_str(&stdout(assert)).unwrap();
    report["summary"]["workloads"].as_u64().unwrap()
}

#[test]
fn symlink_loops_read_each_file_once_and_finish() {
    let dir = hub_dir();
    let hub = dir.path().join("hub");
    symlink(".", hub.join("dot")).unwrap();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "hub", "--tags", TAGS, "-o", "json"])
        .assert()
        .success();
    assert_eq!(workload_count(&assert), 2, "{}", stderr(&assert));
    assert!(
        stderr(&assert).contains("hub/dot: skipped: a symbolic link back to hub"),
        "{}",
        stderr(&assert)
    );

    // Two links to the same directory at every level (2^40 paths before) and a loop through two
    // directories.
    symlink(".", hub.join("dot2")).unwrap();
    std::fs::create_dir_all(hub.join("x/y")).unwrap();
    symlink("..", hub.join("x/y/up")).unwrap();
    symlink("../../x", hub.join("x/y/x")).unwrap();
    symlink("a.yaml", hub.join("again.yaml")).unwrap();
    let started = Instant::now();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "hub", "--tags", TAGS, "-o", "json"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    assert_eq!(workload_count(&assert), 2, "{}", stderr(&assert));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr(&assert).contains("again.yaml: skipped: the same file as"),
        "{}",
        stderr(&assert)
    );
}

#[test]
fn a_fifo_in_a_directory_is_skipped_with_a_warning() {
    let dir = hub_dir();
    let fifo = dir.path().join("hub/x.yaml");
    assert!(
        Process::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "hub", "--tags", TAGS, "-o", "json"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    assert_eq!(workload_count(&assert), 2);
    assert!(
        stderr(&assert).contains("warning: hub/x.yaml: skipped: not a regular file (a FIFO)"),
        "{}",
        stderr(&assert)
    );
}

/// Runs `check` on an input and samples its peak resident memory (VmHWM) until it exits.
fn run_sampling_memory(args: &[&str], endless_stdin: bool) -> (i32, String, u64) {
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("ml-operator"))
        .args(args)
        .stdin(if endless_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let chunk = "kind: ConfigMap\n".repeat(4096);
            while stdin.write_all(chunk.as_bytes()).is_ok() {}
        });
    }
    let status_file = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak_kib = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        }) {
            peak_kib = peak_kib.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("{args:?} still running after 30 s (peak {peak_kib} KiB)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), err, peak_kib)
}

#[test]
fn endless_inputs_stop_at_the_size_limit() {
    let (code, err, peak) =
        run_sampling_memory(&["check", "-f", "/dev/zero", "--tags", TAGS], false);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "error: /dev/zero: larger than the limit of 64 MiB for one input (--max-input-size)"
        ),
        "{err}"
    );
    assert!(peak < 300 * 1024, "peak RSS {peak} KiB");

    let args = ["check", "-f", "-", "--tags", TAGS, "--max-input-size", "1M"];
    let (code, err, peak) = run_sampling_memory(&args, true);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error: <stdin>: larger than the limit of 1 MiB"),
        "{err}"
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");

    let dir = tempfile::tempdir().unwrap();
    let assert = ml_operator(dir.path())
        .args([
            "check",
            "-f",
            "-",
            "--tags",
            TAGS,
            "--max-input-size",
            "1.5G",
        ])
        .assert()
        .code(2);
    assert!(
        stderr(&assert).contains("invalid size \"1.5G\""),
        "{}",
        stderr(&assert)
    );
    let help = ml_operator(dir.path())
        .args(["check", "--help"])
        .assert()
        .success();
    assert!(
        stdout(&help).contains("[default: 64M]"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn a_raw_deployment_list_is_scanned_and_fails_on_update() {
    let dir = tempfile::tempdir().unwrap();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", LIST, "--tags", TAGS, "-o", "json"])
        .assert()
        .success();
    assert!(stderr(&assert).is_empty(), "{}", stderr(&assert));
    let report: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    assert_eq!(report["summary"]["workloads"], 2);
    assert_eq!(report["summary"]["updates"], 3);
    let latest: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["latestImage"].as_str())
        .collect();
    assert_eq!(
        latest,
        [
            "mojaloop/account-lookup-service:v10.3.4",
            "mojaloop/central-ledger:v13.14.1",
            "mojaloop/event-sidecar:v9.5.1"
        ]
    );
    ml_operator(dir.path())
        .args(["check", "-f", LIST, "--tags", TAGS, "--fail-on-update"])
        .assert()
        .code(3);
}

#[test]
fn a_list_item_without_kind_is_named_with_index_name_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = "apiVersion: v1\nkind: List\nitems:\n  - kind: ConfigMap\n    metadata: {name: settings}\n  - apiVersion: apps/v1\n    metadata:\n      name: central-ledger\n";
    std::fs::write(dir.path().join("list.yaml"), list).unwrap();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "list.yaml", "--tags", TAGS])
        .assert()
        .success();
    assert_eq!(
        stderr(&assert),
        "warning: list.yaml:6: item 1 (\"central-ledger\") of the List at list.yaml:1 has no `kind`, skipped\n"
    );
}

#[test]
fn export_tags_round_trips_and_never_overwrites_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let hub = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small-hub.yaml");
    std::fs::copy(TAGS, dir.path().join("tags.json")).unwrap();
    let json = |tags: &str, extra: &[&str]| {
        let assert = ml_operator(dir.path())
            .args(["check", "-f", hub, "--tags", tags, "-o", "json"])
            .args(extra)
            .assert()
            .success();
        stdout(&assert)
    };
    let first = json("tags.json", &["--export-tags", "snapshot.json"]);
    assert_eq!(json("snapshot.json", &[]), first);

    let original = std::fs::read(dir.path().join("tags.json")).unwrap();
    symlink("tags.json", dir.path().join("link.json")).unwrap();
    for export in ["tags.json", "./tags.json", "link.json"] {
        let assert = ml_operator(dir.path())
            .args([
                "check",
                "-f",
                hub,
                "--tags",
                "tags.json",
                "--export-tags",
                export,
            ])
            .assert()
            .code(2);
        assert!(
            stderr(&assert).contains(&format!(
                "--export-tags {export} is the --tags input tags.json"
            )),
            "{}",
            stderr(&assert)
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("tags.json")).unwrap(),
        original
    );

    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(&original);
    std::fs::write(dir.path().join("bom.json"), with_bom).unwrap();
    assert_eq!(json("bom.json", &[]), first);
}

#[test]
fn wrong_types_are_named_with_the_type_found() {
    let cases = [
        (
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: 12345}]\n",
            "m.yaml:1: Pod \"p\": spec.containers[0] (c): image must be a string, found a number",
        ),
        (
            "kind: Pod\nmetadata: {name: [a, b]}\nspec:\n  containers: [{name: c, image: 'x:1'}]\n",
            "m.yaml:1: Pod \"<unnamed>\": metadata.name must be a string, found a list",
        ),
    ];
    for (manifest, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
        let assert = ml_operator(dir.path())
            .args(["check", "-f", "m.yaml", "--tags", TAGS])
            .assert()
            .code(2);
        assert_eq!(stderr(&assert), format!("error: {message}\n"));
    }
}

#[test]
fn the_table_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("in");
    std::fs::create_dir(&manifests).unwrap();
    let image = "mojaloop/central-ledger:v13.14.0\u{1b}[2J\u{1b}[31mFAKE\nmojaloop up-to-date";
    std::fs::write(
        manifests.join("m.yaml"),
        deployment("central-ledger", "hub", "central-ledger", image),
    )
    .unwrap();
    std::fs::write(manifests.join("x\u{1b}[31m.yaml"), "replicaCount: 3\n").unwrap();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "in", "--tags", TAGS, "--explain"])
        .assert()
        .success();
    let (out, err) = (stdout(&assert), stderr(&assert));
    for text in [&out, &err] {
        assert!(!text.contains('\u{1b}'), "{text}");
    }
    assert!(
        out.contains(
            r"mojaloop/central-ledger:v13.14.0\u{1b}[2J\u{1b}[31mFAKE\u{a}mojaloop up-to-date"
        ),
        "{out}"
    );
    // The newline cannot forge a row of its own.
    assert!(!out.lines().any(|l| l.starts_with("mojaloop")), "{out}");
    assert!(
        err.contains(r"in/x\u{1b}[31m.yaml:1: not a Kubernetes object"),
        "{err}"
    );
}

/// A CustomResourceDefinition whose schema nests `levels` objects (two YAML mappings each).
fn deep_crd(levels: usize) -> String {
    let mut text = String::from(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: deep.example.com\nspec:\n  versions:\n    - name: v1\n      schema:\n        openAPIV3Schema:\n",
    );
    let mut indent = "          ".to_string();
    for level in 0..levels {
        text.push_str(&format!(
            "{indent}type: object\n{indent}properties:\n{indent}  f{level}:\n"
        ));
        indent.push_str("    ");
    }
    text.push_str(&format!("{indent}type: string\n"));
    text
}

#[test]
fn a_deeply_nested_crd_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{}---\n{}",
        deep_crd(30),
        deployment(
            "central-ledger",
            "hub",
            "central-ledger",
            "mojaloop/central-ledger:v13.14.0"
        )
    );
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let assert = ml_operator(dir.path())
        .args(["check", "-f", "m.yaml", "--tags", TAGS, "-o", "json"])
        .assert()
        .success();
    assert_eq!(workload_count(&assert), 1);
    assert_eq!(
        stderr(&assert),
        "warning: m.yaml:1: a CustomResourceDefinition nested more than 64 levels deep, skipped\n"
    );
}
