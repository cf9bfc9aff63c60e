//! Hand-made messy cases: the shapes real registries hold.

mod common;

use Strategy::{Bugfix, Major, Minor, Patch};
use common::check;
use ml_operator_version::{Outcome, Strategy, Verdict, Version, resolve};

fn latest(current: &str, tags: &[&str], strategy: Strategy) -> Option<String> {
    check(current, tags, strategy).latest().map(str::to_owned)
}

fn verdict(current: &str, tags: &[&str], strategy: Strategy, tag: &str) -> Verdict {
    let r = check(current, tags, strategy);
    r.considered
        .into_iter()
        .find(|c| c.tag == tag)
        .unwrap_or_else(|| panic!("{tag} not considered"))
        .verdict
}

fn v(tag: &str) -> Version {
    Version::parse(tag).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn numbers_compare_numerically() {
    assert!(v("v10.3.10") > v("v10.3.9"));
    assert!(v("v10.10.0") > v("v10.9.99"));
    assert!(v("2.0") > v("1.99"));
    let tags = ["v10.3.9", "v10.3.10", "v10.3.2"];
    assert_eq!(
        latest("v10.3.2", &tags, Bugfix).as_deref(),
        Some("v10.3.10")
    );
}

#[test]
fn v_and_no_v_twins_never_cross() {
    let tags = ["14.0.0", "v14.0.0", "14.0.1", "v14.0.2", "14.1.0"];
    assert_eq!(latest("v14.0.0", &tags, Major).as_deref(), Some("v14.0.2"));
    assert_eq!(latest("14.0.0", &tags, Bugfix).as_deref(), Some("14.0.1"));
    assert_eq!(latest("14.0.0", &tags, Minor).as_deref(), Some("14.1.0"));
    assert_eq!(
        verdict("14.0.0", &tags, Major, "v14.0.2"),
        Verdict::OtherPrefix {
            prefix: "v".into(),
            current: "".into()
        }
    );
    // Different versions, both orderable.
    assert_ne!(v("v1.2.3"), v("1.2.3"));
    assert_ne!(v("v1.2.3").cmp(&v("1.2.3")), std::cmp::Ordering::Equal);
}

#[test]
fn capital_v_is_its_own_prefix() {
    let v05 = v("V0.5");
    assert_eq!((v05.prefix(), v05.numbers()), ("V", &[0u64, 5][..]));
    let tags = ["V0.5", "v0.6", "V0.6", "V0.7.0", "0.9"];
    assert_eq!(latest("V0.5", &tags, Minor).as_deref(), Some("V0.6"));
    assert_eq!(latest("V0.5", &tags, Major).as_deref(), Some("V0.6"));
}

#[test]
fn four_part_versions_are_revisions_of_three_part_ones() {
    let tags = ["v15.1.2", "v15.1.2.1", "v15.1.2.2", "v15.1.3", "v15.2.0.1"];
    assert_eq!(
        latest("v15.1.2", &tags, Patch).as_deref(),
        Some("v15.1.2.2")
    );
    assert_eq!(
        latest("v15.1.2.1", &tags, Patch).as_deref(),
        Some("v15.1.2.2")
    );
    assert_eq!(
        latest("v15.1.2.1", &tags, Bugfix).as_deref(),
        Some("v15.1.3")
    );
    assert_eq!(
        latest("v15.1.2.1", &tags, Minor).as_deref(),
        Some("v15.2.0.1")
    );
    // A zero fourth part is the same version, not an upgrade.
    assert_eq!(
        verdict("v15.1.2", &["v15.1.2.0"], Patch, "v15.1.2.0"),
        Verdict::SameVersion
    );
    assert_eq!(
        check("v15.1.2", &["v15.1.2.0"], Patch).outcome,
        Outcome::UpToDate
    );
}

#[test]
fn five_part_mojaloop_tags_are_not_versions() {
    let err = Version::parse("v10.5.2.0.0-pisp").unwrap_err();
    assert_eq!(err.reason(), "more than 4 numeric parts (5)");
    let r = check("v10.5.2.0.0-pisp", &["v10.5.2.0.0-pisp", "v10.5.2"], Bugfix);
    let Outcome::Unresolved { reason } = &r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(
        reason,
        "`v10.5.2.0.0-pisp` is not a version tag (more than 4 numeric parts (5)): \
         pin a version (e.g. v10.5.2) to get upgrade advice"
    );
    assert_eq!(r.considered[0].verdict, Verdict::NotCompared);
    assert_eq!(r.considered[1].verdict, Verdict::Current);
}

#[test]
fn three_snapshot_spellings_are_one_track() {
    for tag in [
        "v1.0.0-snapshot.12",
        "v1.0.0-snapshot-12",
        "v1.0.0-snapshot",
    ] {
        let version = v(tag);
        assert_eq!(version.track(), Some("snapshot"), "{tag}");
        assert!(version.is_prerelease(), "{tag}");
    }
    assert_eq!(v("v1.0.0-snapshot-12").counter(), Some(12));
    assert_eq!(v("v1.0.0-snapshot").counter(), None);
    let tags = [
        "v1.0.0-snapshot",
        "v1.0.0-snapshot.3",
        "v1.0.0-snapshot-5",
        "v1.0.0",
        "v1.0.1-snapshot",
    ];
    assert_eq!(
        latest("v1.0.0-snapshot", &tags, Patch).as_deref(),
        Some("v1.0.0-snapshot-5")
    );
    assert_eq!(
        latest("v1.0.0-snapshot.3", &tags, Bugfix).as_deref(),
        Some("v1.0.1-snapshot")
    );
    // A stable tag never moves to a snapshot.
    assert_eq!(latest("v1.0.0", &tags, Major), None);
    assert_eq!(
        verdict("v1.0.0", &tags, Major, "v1.0.1-snapshot"),
        Verdict::Prerelease
    );
}

#[test]
fn pisp_tags_stay_on_the_pisp_track() {
    let tags = [
        "v11.0.0-pisp.3",
        "v11.0.0-pisp.7",
        "v11.0.1-pisp.1",
        "v11.0.1",
        "v11.0.0-pisp.10",
    ];
    assert_eq!(
        latest("v11.0.0-pisp.3", &tags, Patch).as_deref(),
        Some("v11.0.0-pisp.10")
    );
    assert_eq!(
        latest("v11.0.0-pisp.3", &tags, Bugfix).as_deref(),
        Some("v11.0.1-pisp.1")
    );
    assert_eq!(
        verdict("v11.0.0-pisp.3", &tags, Major, "v11.0.1"),
        Verdict::OtherTrack {
            track: None,
            current: Some("pisp".into())
        }
    );
    // 4-part pisp tags (`v10.3.0.2-pisp`) share the track.
    let tags = [
        "v10.3.0.0-pisp",
        "v10.3.0.2-pisp",
        "v10.3.0.12-pisp",
        "v10.3.1.0-pisp",
        "v10.3.1",
    ];
    assert_eq!(
        latest("v10.3.0.2-pisp", &tags, Patch).as_deref(),
        Some("v10.3.0.12-pisp")
    );
    assert_eq!(
        latest("v10.3.0.2-pisp", &tags, Bugfix).as_deref(),
        Some("v10.3.1.0-pisp")
    );
    // A typo'd track is another track.
    assert_eq!(latest("v10.3.0.2-pisp", &["v10.3.0.12-pis"], Patch), None);
}

#[test]
fn bitnami_revisions() {
    let tags = [
        "8.0.32-debian-11-r0",
        "8.0.32-debian-11-r5",
        "8.0.32-debian-11-r12",
        "8.0.36-debian-11-r2",
        "8.0.36-debian-12-r1",
        "8.0.36",
        "8.4.0-debian-11-r1",
    ];
    assert_eq!(
        latest("8.0.32-debian-11-r0", &tags[..2], Patch).as_deref(),
        Some("8.0.32-debian-11-r5")
    );
    assert_eq!(
        latest("8.0.32-debian-11-r0", &tags, Patch).as_deref(),
        Some("8.0.32-debian-11-r12")
    );
    assert_eq!(
        latest("8.0.32-debian-11-r0", &tags, Bugfix).as_deref(),
        Some("8.0.36-debian-11-r2")
    );
    assert_eq!(
        latest("8.0.32-debian-11-r0", &tags, Minor).as_deref(),
        Some("8.4.0-debian-11-r1")
    );
    let r5 = v("8.0.32-debian-11-r5");
    assert_eq!(
        (r5.track(), r5.counter(), r5.is_prerelease()),
        (Some("debian-11"), Some(5), false)
    );
    assert!(matches!(
        verdict("8.0.32-debian-11-r0", &tags, Major, "8.0.36-debian-12-r1"),
        Verdict::OtherTrack { .. }
    ));
    // Stable never moves to a flavour.
    assert_eq!(latest("8.0.32", &tags, Major).as_deref(), Some("8.0.36"));
}

#[test]
fn golang_alpine_flavours_keep_the_alpine_version() {
    let tag = v("1.22.4-alpine3.20");
    assert_eq!(
        (tag.numbers(), tag.track(), tag.counter()),
        (&[1u64, 22, 4][..], Some("alpine3.20"), None)
    );
    assert!(!tag.is_prerelease());
    let tags = [
        "1.22.4-alpine3.20",
        "1.22.5-alpine3.20",
        "1.22.6-alpine3.21",
        "1.22.6",
        "1.23.0-alpine3.20",
        "1.22.7-alpine",
    ];
    assert_eq!(
        latest("1.22.4-alpine3.20", &tags, Bugfix).as_deref(),
        Some("1.22.5-alpine3.20")
    );
    assert_eq!(
        latest("1.22.4-alpine3.20", &tags, Major).as_deref(),
        Some("1.23.0-alpine3.20")
    );
    assert_eq!(
        latest("1.22.4-alpine", &tags, Bugfix).as_deref(),
        Some("1.22.7-alpine")
    );
    assert_eq!(latest("1.22.4", &tags, Major).as_deref(), Some("1.22.6"));
}

#[test]
fn floating_one_and_two_part_tags_keep_their_precision() {
    let redis = ["7.2", "7.2.5", "7.4", "8.0", "7.2-alpine", "7"];
    assert_eq!(latest("7.2", &redis, Patch), None);
    assert_eq!(latest("7.2", &redis, Bugfix), None);
    assert_eq!(latest("7.2", &redis, Minor).as_deref(), Some("7.4"));
    assert_eq!(latest("7.2", &redis, Major).as_deref(), Some("8.0"));
    assert_eq!(
        verdict("7.2", &redis, Major, "7.2.5"),
        Verdict::OtherPrecision {
            parts: 3,
            current: 2
        }
    );
    let tags = ["10", "10.1", "11", "10.0.1", "12-alpine"];
    assert_eq!(latest("10", &tags, Minor), None);
    assert_eq!(latest("10", &tags, Major).as_deref(), Some("11"));
    let tags = ["0.1", "0.2", "0.1.5", "1.0", "1"];
    assert_eq!(latest("0.1", &tags, Minor).as_deref(), Some("0.2"));
    assert_eq!(latest("0.1", &tags, Major).as_deref(), Some("1.0"));
    // A 3-part tag does not move to a 2-part one either.
    assert_eq!(latest("7.2.5", &redis, Major), None);
}

#[test]
fn non_versions_parse_as_not_a_version_with_a_reason() {
    let cases = [
        ("latest", "a name, not a version number"),
        ("main", "a name, not a version number"),
        ("stable", "a name, not a version number"),
        ("local", "a name, not a version number"),
        ("master", "a name, not a version number"),
        ("l", "a name, not a version number"),
        ("list", "a name, not a version number"),
        ("delete", "a name, not a version number"),
        ("test-ci-2", "does not start with a version number"),
        ("a1b2c3d", "looks like a git commit sha"),
        ("06fddbe2", "looks like a git commit sha"),
        (
            "RELEASE.2023-07-21T21-12-44Z",
            "does not start with a version number",
        ),
        ("v.11.12.0", "`v.` is not a version prefix (write `v1.2.3`)"),
        ("v", "a bare `v` with no number"),
        ("v10.5.2.0.0-pisp", "more than 4 numeric parts (5)"),
        (
            "v9.1.0.perf.1",
            "unexpected `.perf.1` after the numbers (a suffix starts with `-`)",
        ),
        (
            "10a",
            "unexpected `a` after the numbers (a suffix starts with `-`)",
        ),
        ("1..2", "a numeric part is empty"),
        ("1.2.", "a numeric part is empty"),
        ("1.2.3-", "the suffix has an empty or invalid part"),
        ("1.2.3-a..b", "the suffix has an empty or invalid part"),
        ("1.2.3+", "the `+` build metadata is empty or invalid"),
        ("1.2.3 ", "contains ` `, which is not allowed in a tag"),
        (
            "99999999999999999999999",
            "the number 99999999999999999999999 is too large",
        ),
        ("", "the tag is empty"),
    ];
    for (tag, reason) in cases {
        let err = Version::parse(tag).expect_err(tag);
        assert_eq!(err.tag(), tag);
        assert_eq!(err.reason(), reason, "{tag}");
        assert_eq!(
            err.to_string(),
            format!("`{tag}` is not a version tag: {reason}")
        );
    }
}

#[test]
fn latest_and_shas_as_current_are_unresolved_with_advice() {
    let tags = ["v10.3.4", "v10.3.5-snapshot.1", "latest", "9.0.0", "v10.4"];
    let r = check("latest", &tags, Bugfix);
    assert_eq!(
        r.outcome,
        Outcome::Unresolved {
            reason:
                "`latest` is not a version tag: pin a version (e.g. v10.3.4) to get upgrade advice"
                    .into()
        }
    );
    assert_eq!(
        r.reason(),
        "`latest` is not a version tag: pin a version (e.g. v10.3.4) to get upgrade advice"
    );
    assert_eq!(r.latest(), None);
    let r = check("a1b2c3d", &tags, Bugfix);
    assert!(
        r.reason()
            .starts_with("`a1b2c3d` is not a version tag (looks like a git commit sha): pin"),
        "{}",
        r.reason()
    );
    let r = check("main", &["main"], Major);
    assert_eq!(
        r.reason(),
        "`main` is not a version tag: pin a version to get upgrade advice"
    );
    assert_eq!(r.considered[0].verdict, Verdict::Current);
}

#[test]
fn junk_candidates_are_rejected_not_fatal() {
    let tags = [
        "l",
        "list",
        "delete",
        "test-ci-2",
        "v",
        "v10.3.2",
        "latest",
        "a1b2c3d",
    ];
    let r = check("v10.3.1", &tags, Bugfix);
    assert_eq!(r.latest(), Some("v10.3.2"));
    assert_eq!(r.considered[0].tag, "v10.3.2");
    let junk: Vec<&str> = r.considered[1..].iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(
        junk,
        ["l", "list", "delete", "test-ci-2", "v", "latest", "a1b2c3d"],
        "input order"
    );
    assert!(
        r.considered[1..]
            .iter()
            .all(|c| matches!(c.verdict, Verdict::NotAVersion { .. }))
    );
}

#[test]
fn prerelease_words_and_flavours() {
    for tag in [
        "v17.9.0-iso.1",
        "v18.15.1-url-handling.1",
        "v10.5.2-versioning-poc-v2.1.0",
        "v1.1.0-alpha.438",
        "v10.5.1-rc1",
        "1.0.0-beta",
        "v9.5.0-snapshot",
        "1.0.0-dev",
        "1.0.0-preview.2",
        "1.0.0-pre",
        "v11.0.0-pisp.3",
    ] {
        assert!(v(tag).is_prerelease(), "{tag}");
    }
    for tag in [
        "1.25-alpine",
        "3.12-slim",
        "8.0.32-debian-11-r5",
        "3.9-bullseye",
        "22.04-jammy",
        "6.0.4-3",
        "1.2.3",
        "3.12.4-management-alpine",
    ] {
        assert!(!v(tag).is_prerelease(), "{tag}");
    }
    assert_eq!(v("v1.0.24-rc1").track(), Some("rc"));
    assert!(v("v1.0.0-rc2") > v("v1.0.0-rc1"));
    assert!(v("v1.0.0-rc10") > v("v1.0.0-rc2"));
    assert_eq!(
        latest(
            "v1.0.0-rc1",
            &["v1.0.0-rc2", "v1.0.0-rc10", "v1.0.0"],
            Patch
        )
        .as_deref(),
        Some("v1.0.0-rc10")
    );
}

#[test]
fn stable_never_moves_to_any_suffixed_tag() {
    let tags = [
        "1.25.4-alpine",
        "1.25.4-slim",
        "1.25.4-3",
        "1.25.4-rc1",
        "1.26.0-debian-12-r0",
    ];
    for strategy in Strategy::ALL {
        let r = check("1.25.3", &tags, strategy);
        assert_eq!(r.outcome, Outcome::UpToDate, "{strategy}");
    }
    assert_eq!(
        verdict("1.25.3", &tags, Major, "1.25.4-rc1"),
        Verdict::Prerelease
    );
    assert_eq!(
        verdict("1.25.3", &tags, Major, "1.25.4-alpine"),
        Verdict::OtherTrack {
            track: Some("alpine".into()),
            current: None
        }
    );
    assert_eq!(
        verdict("1.25.3", &tags, Major, "1.25.4-3"),
        Verdict::OtherTrack {
            track: Some("".into()),
            current: None
        }
    );
}

#[test]
fn build_metadata_only_breaks_ties() {
    assert!(v("1.2.3+b2") > v("1.2.3+b1"));
    assert!(v("1.2.4+b1") > v("1.2.3+b9"));
    assert_eq!(v("1.2.3+build.7").build(), Some("build.7"));
    assert_eq!(
        latest("1.2.3", &["1.2.4+build.7", "1.2.3+build.9"], Bugfix).as_deref(),
        Some("1.2.4+build.7")
    );
    assert_eq!(
        verdict("1.2.3", &["1.2.3+build.9"], Patch, "1.2.3+build.9"),
        Verdict::SameVersion
    );
}

#[test]
fn current_need_not_be_listed_and_duplicates_are_fine() {
    let r = check(
        "v10.3.2",
        &["v10.3.1", "v10.3.3", "v10.3.3", "v10.3.1"],
        Bugfix,
    );
    assert_eq!(r.latest(), Some("v10.3.3"));
    assert_eq!(r.considered.len(), 2);
    let r = check("v10.3.2", &["v10.3.1"], Bugfix);
    assert_eq!(r.outcome, Outcome::UpToDate);
    assert_eq!(
        r.reason(),
        "no newer 10.3.x tag (bugfix); v10.3.2 itself is not in the tag list"
    );
    let r = check("v10.3.2", &[], Major);
    assert_eq!(r.outcome, Outcome::UpToDate);
    assert!(r.considered.is_empty());
}

#[test]
fn reasons_and_explanations() {
    let tags = [
        "v10.3.1",
        "v10.3.4",
        "v10.3.3",
        "v10.3.0",
        "v11.0.0",
        "v10.4.0",
        "v10.3.5-snapshot.1",
        "v10.4.0-alpine",
        "10.9.0",
        "latest",
    ];
    let r = check("v10.3.1", &tags, Bugfix);
    assert_eq!(
        r.reason(),
        "v10.3.4 is the newest 10.3.x tag (bugfix); 2 newer tags are outside bugfix \
         (newest v11.0.0 needs major), 2 are pre-releases or on other tracks, \
         1 is written with another prefix or number of parts"
    );
    let explain = r.explain();
    let expected = "\
v10.3.1 -> v10.3.4 (bugfix): v10.3.4 is the newest 10.3.x tag (bugfix); 2 newer tags are outside bugfix (newest v11.0.0 needs major), 2 are pre-releases or on other tracks, 1 is written with another prefix or number of parts
considered 10 tags: 2 outside the strategy, 1 other prefix, 1 other track, 1 pre-release, 1 chosen, 1 allowed but superseded, 1 current, 1 older, 1 not a version
  v10.3.4             chosen: the newest tag the strategy allows
  v10.3.3             newer and allowed, but a newer allowed tag exists
  v10.3.1             the current tag
  v11.0.0             newer, but outside bugfix (needs major)
  10.9.0              written with no prefix; the current tag with prefix `v`
  v10.4.0-alpine      on the `alpine` track; the current tag is stable (no suffix)
  v10.4.0             newer, but outside bugfix (needs minor)
  v10.3.5-snapshot.1  a pre-release; the current tag is not one
  latest              not a version tag: a name, not a version number
  (1 older tag not listed)";
    assert_eq!(explain, expected);

    let r = check("v10.3.4", &tags, Patch);
    assert!(
        r.reason()
            .starts_with("already the newest 10.3.4.x tag (patch); 2 newer tags are outside patch"),
        "{}",
        r.reason()
    );
    assert!(
        r.explain()
            .starts_with("v10.3.4 is up to date (patch): already"),
        "{}",
        r.explain()
    );

    let r = check(
        "v11.0.0-pisp.3",
        &["v11.0.1-pisp.1", "v11.0.0-pisp.7"],
        Major,
    );
    assert_eq!(r.reason(), "v11.0.1-pisp.1 is the newest pisp tag (major)");
    let r = check("6.0.4-3", &["6.0.4-5", "6.0.4"], Patch);
    assert_eq!(
        r.reason(),
        "6.0.4-5 is the newest 6.0.4.x revision tag (patch)"
    );
    let r = check("7.2", &["7.4", "8.0"], Minor);
    assert_eq!(
        r.reason(),
        "7.4 is the newest 7.x tag (minor); 1 newer tag is outside minor (8.0 needs major)"
    );
    let r = check("7.2", &["7.2"], Bugfix);
    assert_eq!(r.reason(), "already the newest 7.2 tag (bugfix)");
}

#[test]
fn json_shape_for_the_cli() {
    let r = resolve("v10.3.1", ["v10.3.4", "v11.0.0", "latest"], Bugfix);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "current": "v10.3.1",
            "strategy": "bugfix",
            "status": "update",
            "latest": "v10.3.4",
            "considered": [
                {"tag": "v11.0.0", "verdict": "outside-strategy", "strategy": "bugfix", "needs": "major"},
                {"tag": "v10.3.4", "verdict": "chosen"},
                {"tag": "latest", "verdict": "not-a-version", "reason": "a name, not a version number"},
            ]
        })
    );
    let up = serde_json::to_value(resolve("v10.3.4", ["v10.3.4"], Bugfix)).unwrap();
    assert_eq!(up["status"], "up-to-date");
    let un = serde_json::to_value(resolve("main", ["v1.0.0"], Bugfix)).unwrap();
    assert_eq!(un["status"], "unresolved");
    assert!(
        un["reason"]
            .as_str()
            .unwrap()
            .starts_with("`main` is not a version tag")
    );
    let strategy: Strategy = serde_json::from_str("\"minor\"").unwrap();
    assert_eq!(strategy, Minor);
}
