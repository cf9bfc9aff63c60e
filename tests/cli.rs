//! The `ml-operator` command line as users run it: output formats, errors and exit codes.

use assert_cmd::Command;
use serde_json::Value;

fn ml_operator() -> Command {
    let mut command = Command::cargo_bin("ml-operator").unwrap();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    command
}

const SMALL_HUB: [&str; 4] = [
    "-f",
    "tests/fixtures/small-hub.yaml",
    "--tags",
    "tests/fixtures/small-tags.json",
];
const EXAMPLE: [&str; 4] = ["-f", "examples/hub", "--tags", "examples/tags.json"];

fn check(args: &[&str]) -> assert_cmd::assert::Assert {
    ml_operator().arg("check").args(args).assert()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn table_output() {
    let assert = check(&SMALL_HUB).success();
    insta::assert_snapshot!("small_hub_table", stdout(&assert));
}

#[test]
fn json_output_follows_the_contract() {
    let assert = check(&[&SMALL_HUB[..], &["-o", "json"]].concat()).success();
    let text = stdout(&assert);
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["schemaVersion"], 1);
    let required = [
        "kind",
        "namespace",
        "name",
        "container",
        "initContainer",
        "image",
        "repository",
        "currentTag",
        "latestTag",
        "latestImage",
        "strategy",
        "status",
        "reason",
        "command",
    ];
    for finding in report["findings"].as_array().unwrap() {
        for key in required {
            assert!(finding.get(key).is_some(), "finding lacks {key}: {finding}");
        }
        let has_update = finding["status"] == "update-available";
        assert_eq!(finding["latestTag"].is_null(), !has_update, "{finding}");
        assert_eq!(finding["latestImage"].is_null(), !has_update, "{finding}");
    }
    // One patch per workload with updates; each finding's command is its workload's.
    let patches = report["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 3, "{text}");
    for patch in patches {
        for key in ["kind", "namespace", "name", "containers", "command"] {
            assert!(patch.get(key).is_some(), "patch lacks {key}: {patch}");
        }
        for container in patch["containers"].as_array().unwrap() {
            for key in ["name", "initContainer", "image", "latestImage"] {
                assert!(container.get(key).is_some(), "{key}: {container}");
            }
            let finding = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| {
                    f["kind"] == patch["kind"]
                        && f["namespace"] == patch["namespace"]
                        && f["name"] == patch["name"]
                        && f["container"] == container["name"]
                        && f["initContainer"] == container["initContainer"]
                })
                .expect("each patched container has its finding");
            assert_eq!(finding["command"], patch["command"]);
            assert_eq!(finding["latestImage"], container["latestImage"]);
        }
    }
    let alls = &patches[0];
    assert_eq!(
        alls["containers"].as_array().unwrap().len(),
        3,
        "the app, its sidecar and its init container in one patch: {alls}"
    );
    insta::assert_snapshot!("small_hub_json", text);
}

#[test]
fn commands_output_is_only_commands() {
    let assert = check(&[&SMALL_HUB[..], &["-o", "commands"]].concat()).success();
    let text = stdout(&assert);
    assert!(
        text.lines().all(|l| l.starts_with("kubectl patch ")),
        "{text}"
    );
    insta::assert_snapshot!("small_hub_commands", text);
}

#[test]
fn explain_lists_rejected_candidates() {
    let assert = check(&[&SMALL_HUB[..], &["--explain"]].concat()).success();
    let text = stdout(&assert);
    assert!(text.contains("Explanations:"), "{text}");
    // The snapshot tag is newer but a pre-release; the explanation has to say so.
    assert!(text.contains("v10.3.5-snapshot.1"), "{text}");
    let json = stdout(&check(&[&SMALL_HUB[..], &["--explain", "-o", "json"]].concat()).success());
    let report: Value = serde_json::from_str(&json).unwrap();
    assert!(
        report["findings"][1]["explanation"]["considered"].is_array(),
        "{json}"
    );
}

#[test]
fn strategy_flag_and_annotation() {
    let json = stdout(
        &check(&[&SMALL_HUB[..], &["-o", "json", "--strategy", "major"]].concat()).success(),
    );
    let report: Value = serde_json::from_str(&json).unwrap();
    let find = |name: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["container"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("account-lookup-service")["latestTag"], "v11.0.0");
    assert_eq!(find("account-lookup-service")["strategy"], "major");
    // The StatefulSet's annotation pins it to `patch` whatever the flag says.
    assert_eq!(find("mysql")["strategy"], "patch");
    assert_eq!(find("mysql")["latestTag"], "8.0.32-debian-11-r5");
}

#[test]
fn filters_by_namespace_selector_and_services() {
    let count = |extra: &[&str]| {
        let json = stdout(&check(&[&SMALL_HUB[..], &["-o", "json"], extra].concat()).success());
        let report: Value = serde_json::from_str(&json).unwrap();
        report["summary"]["workloads"].as_u64().unwrap()
    };
    assert_eq!(count(&[]), 5);
    assert_eq!(count(&["-n", "pisp-lab"]), 1);
    assert_eq!(
        count(&[
            "-l",
            "app.kubernetes.io/name in (central-ledger,account-lookup-service)"
        ]),
        2
    );
    assert_eq!(count(&["--services", "central-ledger"]), 1);
    assert_eq!(
        count(&[
            "--services",
            "central-ledger,account-lookup-service",
            "-n",
            "mojaloop"
        ]),
        1
    );
}

#[test]
fn fail_on_update_exits_3() {
    check(&[&SMALL_HUB[..], &["--fail-on-update", "-o", "commands"]].concat()).code(3);
    // Nothing to update in pisp-lab under `patch`: exit 0 even with the flag.
    check(
        &[
            &SMALL_HUB[..],
            &["--fail-on-update", "--strategy", "patch", "-n", "pisp-lab"],
        ]
        .concat(),
    )
    .code(0);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let plain = stdout(&check(&SMALL_HUB).success());
    assert!(
        !plain.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let coloured = stdout(&check(&[&SMALL_HUB[..], &["--color", "always"]].concat()).success());
    assert!(coloured.contains("\u{1b}["), "{coloured}");
}

#[test]
fn stdin_is_read_with_dash() {
    let manifest = std::fs::read_to_string(format!(
        "{}/tests/fixtures/small-hub.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let assert = ml_operator()
        .args([
            "check",
            "-f",
            "-",
            "--tags",
            "tests/fixtures/small-tags.json",
            "-o",
            "commands",
        ])
        .write_stdin(manifest)
        .assert()
        .success();
    assert_eq!(
        stdout(&assert).lines().count(),
        3,
        "one command per workload with updates"
    );
}

#[test]
fn input_errors_exit_2_and_name_the_place() {
    let cases: [(&[&str], &str); 9] = [
        (
            &[
                "-f",
                "tests/fixtures/invalid-yaml.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
            ],
            "tests/fixtures/invalid-yaml.yaml:11: invalid YAML: illegal placement",
        ),
        (
            &[
                "-f",
                "tests/fixtures/missing-image.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
            ],
            "tests/fixtures/missing-image.yaml:6: Deployment \"central-ledger\": spec.template.spec.containers[0] (central-ledger): image is missing",
        ),
        (
            &[
                "-f",
                "tests/fixtures/nope.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
            ],
            "tests/fixtures/nope.yaml: cannot read",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "--tags",
                "tests/fixtures/small-hub.yaml",
            ],
            "tag index tests/fixtures/small-hub.yaml: invalid JSON at line 1",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "--tags",
                "tests/fixtures/nope.json",
            ],
            "tag index tests/fixtures/nope.json: cannot read",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
                "-l",
                "a in b",
            ],
            "invalid label selector \"a in b\"",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
                "--strategy",
                "newest",
            ],
            "newest",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "--tags",
                "tests/fixtures/small-tags.json",
                "-o",
                "xml",
            ],
            "xml",
        ),
        (
            &[
                "-f",
                "tests/fixtures/small-hub.yaml",
                "-n",
                "a",
                "-A",
                "--tags",
                "tests/fixtures/small-tags.json",
            ],
            "cannot be used with",
        ),
    ];
    for (args, message) in cases {
        let assert = check(args).code(2);
        let err = stderr(&assert);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bundled_example_table() {
    let assert = check(&EXAMPLE).success();
    insta::assert_snapshot!("example_table", stdout(&assert));
}

/// The table's rows (between the header and the first blank line), split into cells.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with('('))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn the_bundled_example_fits_120_columns_listing_what_needs_attention() {
    let text = stdout(&check(&EXAMPLE).success());
    for line in text.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} chars: {line}",
            line.chars().count()
        );
    }
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "WORKLOAD",
            "CONTAINER",
            "CURRENT",
            "LATEST",
            "STATUS"
        ]
    );
    let rows = table_rows(&text);
    let statuses: Vec<&str> = rows.iter().map(|r| r.last().unwrap().as_str()).collect();
    assert_eq!(rows.len(), 28, "27 updates and 1 unresolved:\n{text}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == "update-available" || *s == "unresolved")
    );
    // Grouped by workload: a workload's rows are next to each other (names compared whole,
    // from -o wide, which lays out the same rows).
    let wide = stdout(&check(&[&EXAMPLE[..], &["-o", "wide"]].concat()).success());
    let wide_rows = table_rows(&wide);
    assert_eq!(wide_rows.len(), rows.len());
    let workloads: Vec<(&str, &str)> = wide_rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let mut done = std::collections::BTreeSet::new();
    for pair in workloads.windows(2) {
        if pair[0] != pair[1] {
            assert!(
                done.insert(pair[0]),
                "{:?} is listed in two places:\n{wide}",
                pair[0]
            );
        }
    }
    assert!(!done.contains(workloads.last().unwrap()));
    // The digest pin shortened; long names shortened with …; the summary counts everything.
    assert!(text.contains("v12.1.1@sha256:3f5c…"), "{text}");
    assert!(text.contains('…'));
    assert!(
        text.contains("(48 up-to-date or skipped containers not listed; --all lists them)"),
        "{text}"
    );
    assert!(
        text.contains("76 containers: 27 updates available, 48 up to date, 1 unresolved"),
        "{text}"
    );
    // JSON and commands are never shortened.
    let json = stdout(&check(&[&EXAMPLE[..], &["-o", "json"]].concat()).success());
    let commands = stdout(&check(&[&EXAMPLE[..], &["-o", "commands"]].concat()).success());
    assert!(!json.contains('…') && !commands.contains('…'));
}

#[test]
fn all_lists_every_container_and_wide_adds_image_and_reason_unshortened() {
    let text = stdout(&check(&[&EXAMPLE[..], &["--all"]].concat()).success());
    assert_eq!(table_rows(&text).len(), 76, "{text}");
    assert!(text.contains("up-to-date"));
    assert!(!text.contains("not listed"), "{text}");

    let wide = stdout(&check(&[&EXAMPLE[..], &["-o", "wide"]].concat()).success());
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "WORKLOAD",
            "CONTAINER",
            "CURRENT",
            "LATEST",
            "STATUS",
            "IMAGE",
            "REASON"
        ]
    );
    // Nothing shortened with -o wide but the digest in CURRENT (IMAGE has it whole).
    let shortened: Vec<&str> = wide.lines().filter(|l| l.contains('…')).collect();
    assert_eq!(shortened.len(), 1, "{wide}");
    assert_eq!(shortened[0].matches('…').count(), 1);
    assert!(shortened[0].contains("v12.1.1@sha256:3f5c…"));
    assert!(shortened[0].contains("mojaloop/central-event-processor:v12.1.1@sha256:3f5c"));
    assert!(wide.contains("deploy/moja-centralledger-handler-transfer-position"));
    assert!(
        wide.contains("v19.8.9 is the newest 19.8.x tag (bugfix)"),
        "{wide}"
    );

    // A wider terminal (COLUMNS) needs no shortening for this hub.
    let roomy = stdout(
        &ml_operator()
            .env("COLUMNS", "200")
            .arg("check")
            .args(EXAMPLE)
            .assert()
            .success(),
    );
    assert!(!roomy.lines().next().unwrap().contains('…'));
    assert!(
        table_rows(&roomy)
            .iter()
            .all(|r| r[..3].iter().all(|c| !c.contains('…'))),
        "{roomy}"
    );
}

#[test]
fn bundled_example_json() {
    let assert = check(&[&EXAMPLE[..], &["-o", "json"]].concat()).success();
    let text = stdout(&assert);
    let report: Value = serde_json::from_str(&text).unwrap();
    let summary = &report["summary"];
    assert!(summary["workloads"].as_u64().unwrap() >= 15, "{summary}");
    assert!(summary["updates"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["upToDate"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["unresolved"].as_u64().unwrap() > 0, "{summary}");
    insta::assert_snapshot!("example_json", text);
}

#[test]
fn version_prints_the_version() {
    let assert = ml_operator().arg("version").assert().success();
    assert_eq!(
        stdout(&assert),
        format!("ml-operator {}\n", env!("CARGO_PKG_VERSION"))
    );
}
