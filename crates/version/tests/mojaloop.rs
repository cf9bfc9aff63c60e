//! Table tests over the real Mojaloop tags in `tests/data/` (see its README).

mod common;

use common::{available, check, check_monotone, helm_releases, referenced};
use ml_operator_version::{Outcome, Strategy, Verdict, Version, resolve};

/// Every referenced tag of every image, resolved against the tags available
/// for that image under every strategy, keeps the invariants.
#[test]
fn every_referenced_tag_resolves_within_the_contract() {
    let referenced = referenced();
    let available = available();
    let (mut resolutions, mut updates, mut unresolved) = (0, 0, 0);
    for (image, tags) in &referenced {
        let candidates: Vec<&str> = available
            .get(image)
            .unwrap_or(tags)
            .iter()
            .map(String::as_str)
            .collect();
        for current in tags {
            for latest in check_monotone(current, &candidates) {
                resolutions += 1;
                match latest {
                    Some(_) => updates += 1,
                    None if Version::parse(current).is_err() => unresolved += 1,
                    None => {}
                }
            }
        }
    }
    // 1,436 referenced pairs x 4 strategies; most have somewhere to go under `major`.
    assert_eq!(resolutions, 1436 * 4);
    assert!(updates > 1500, "only {updates} updates");
    assert!(unresolved > 100, "only {unresolved} unresolved");
}

/// Every tag the service repositories ever published, as a current tag,
/// against all of them: exercises every track, 4-part and junk shape.
#[test]
fn every_available_mojaloop_tag_resolves_within_the_contract() {
    let available = available();
    let mut checked = 0;
    for (image, tags) in available.iter().filter(|(i, _)| i.starts_with("mojaloop/")) {
        let candidates: Vec<&str> = tags.iter().map(String::as_str).collect();
        // Every 11th tag keeps the test quick while covering every image and shape.
        for current in candidates.iter().step_by(11) {
            check_monotone(current, &candidates);
            checked += 1;
        }
        assert!(!candidates.is_empty(), "{image}");
    }
    assert!(checked > 400, "{checked}");
}

fn candidates_of(image: &str) -> Vec<String> {
    available()
        .remove(image)
        .unwrap_or_else(|| panic!("{image} not in the data"))
}

/// Hand-checked against the data (`grep` the JSON to re-check).
#[test]
fn hand_checked_expectations() {
    use Strategy::{Bugfix, Major, Minor, Patch};
    #[rustfmt::skip]
    let table: &[(&str, &str, Strategy, Option<&str>)] = &[
        // v10.3.1 is itself the newest v10.3.x (v10.3.0, v10.3.0.N-pisp, v10.3.1 are all there is).
        ("account-lookup-service", "v10.3.1", Bugfix, None),
        ("account-lookup-service", "v10.3.1", Patch, None),
        ("account-lookup-service", "v10.3.1", Minor, Some("v10.4.2")),
        ("account-lookup-service", "v10.3.1", Major, Some("v17.16.1")),
        // no-`v` twins stay without `v`: 14.0.0 -> 14.1.0, never v14.2.5.
        ("account-lookup-service", "14.0.0", Bugfix, None),
        ("account-lookup-service", "14.0.0", Minor, Some("14.1.0")),
        ("account-lookup-service", "14.0.0", Major, Some("14.1.0")),
        // 4-part pisp track.
        ("account-lookup-service", "v11.1.2.0-pisp", Patch, Some("v11.1.2.2-pisp")),
        ("account-lookup-service", "v10.3.0.2-pisp", Bugfix, None),
        ("account-lookup-service", "v10.3.0.2-pisp", Major, Some("v11.1.2.2-pisp")),
        // snapshot track.
        ("account-lookup-service", "v14.2.4-snapshot.3", Patch, None),
        ("account-lookup-service", "v14.2.4-snapshot.3", Bugfix, Some("v14.2.5-snapshot.1")),
        ("central-ledger", "v13.14.0", Bugfix, Some("v13.14.6")),
        ("central-ledger", "v13.14.0", Minor, Some("v13.16.3")),
        ("central-ledger", "v13.2.6", Bugfix, None),
        ("central-ledger", "v19.14.0", Major, None),
        // 4th part = revision: a 3-part tag moves to it under patch, and on to 3-part tags.
        ("central-ledger", "v15.1.2", Patch, Some("v15.1.2.1")),
        ("central-ledger", "v15.1.2", Bugfix, Some("v15.1.3")),
        ("central-ledger", "v15.1.2.1", Patch, None),
        ("central-ledger", "v15.1.2.1", Bugfix, Some("v15.1.3")),
        ("central-ledger", "v10.3.1.1-pisp", Patch, Some("v10.3.1.2-pisp")),
        ("central-ledger", "v10.3.1.1-pisp", Minor, Some("v10.5.2.0-pisp")),
        ("central-ledger", "v11.1.4.0-pisp", Major, Some("v11.3.3.0-pisp")),
        // numbers before counter: v17.8.0.643-snapshot.0 outranks v17.8.0-snapshot.34.
        ("central-ledger", "v17.8.0-snapshot.4", Patch, Some("v17.8.0.643-snapshot.0")),
        ("central-ledger", "v17.8.0-snapshot.4", Minor, Some("v17.9.0-snapshot.3")),
        ("central-ledger", "v17.8.0-snapshot.4", Major, Some("v20.0.0-snapshot.0")),
        // feature-branch tracks stay on their branch.
        ("central-ledger", "v17.9.0-iso.1", Bugfix, Some("v17.9.0-iso.18")),
        ("central-ledger", "v17.9.0-iso.1", Major, Some("v18.1.0-iso.3")),
        ("central-ledger", "v10.5.2-versioning-poc-v2.1.0", Major, None),
        // 2-part tags only move among 2-part tags.
        ("central-ledger", "v0.1", Minor, Some("v0.9")),
        ("central-ledger", "v0.1", Major, Some("v1.0")),
        ("central-ledger", "v1.0-snapshot", Minor, Some("v1.1-snapshot")),
        ("ml-api-adapter", "v10", Major, None),
        ("ml-api-adapter", "V0.5", Major, None),
        ("ml-api-adapter", "v14.0.0", Bugfix, Some("v14.0.7")),
        ("ml-api-adapter", "v14.0.2-snapshot.5", Patch, Some("v14.0.2-snapshot.12")),
        ("ml-api-adapter", "v14.2.0-iso.3", Major, Some("v15.1.0-iso.14")),
        ("quoting-service", "v12.0.6", Bugfix, Some("v12.0.10")),
        ("quoting-service", "12.0.10", Major, Some("15.0.2")),
        ("quoting-service", "v15.8.0-snapshot.11", Patch, Some("v15.8.0.441-snapshot.1")),
        ("quoting-service", "v8.4.0-snapshot", Bugfix, Some("v8.4.1-snapshot")),
        ("central-settlement", "v13.0.0", Minor, Some("v13.4.1")),
        ("central-settlement", "13.2.0", Minor, Some("13.4.1")),
        ("mojaloop-simulator", "v9.4.1.7-pisp", Patch, Some("v9.4.1.8-pisp")),
        ("mojaloop-simulator", "v9.4.1.8-pisp", Bugfix, Some("v9.4.11.1-pisp")),
        ("mojaloop-simulator", "v11.3.0.2-pisp", Patch, Some("v11.3.0.10-pisp")),
        ("event-stream-processor", "v12.0.0-snapshot.7", Patch, Some("v12.0.0-snapshot.26")),
        ("event-stream-processor", "v12.0.1", Major, None),
        ("ml-operator", "v1.1.0-alpha.438", Patch, Some("v1.1.0-alpha.439")),
        ("ml-operator", "v0.1.2", Bugfix, Some("v0.1.6")),
        ("reporting-hub-bop-api-svc", "v1.0.24-rc1", Patch, Some("v1.0.24-rc2")),
        ("reporting-hub-bop-api-svc", "v1.0.24", Bugfix, Some("v1.0.31")),
        // three snapshot spellings are one track: `-snapshot.2` -> `-snapshot-5`.
        ("reporting-hub-bop-api-svc", "v2.1.1-snapshot.2", Patch, Some("v2.1.1-snapshot-5")),
        ("simulator", "12.0.0", Major, None),
        ("simulator", "v1.0.0-snapshot", Bugfix, Some("v1.0.6-snapshot")),
        ("ml-testing-toolkit", "v11.7.3", Bugfix, Some("v11.7.11")),
        ("bulk-api-adapter", "v17.1.0", Bugfix, Some("v17.1.9")),
    ];
    let mut wrong = Vec::new();
    for &(service, current, strategy, expected) in table {
        let tags = candidates_of(&format!("mojaloop/{service}"));
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let r = check(current, &tags, strategy);
        if r.latest() != expected {
            wrong.push(format!(
                "{service}:{current} ({strategy}) expected {expected:?}: {}",
                r.reason()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn reasons_read_well_on_real_data() {
    let tags = candidates_of("mojaloop/account-lookup-service");
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();

    let r = resolve("v10.3.1", tags.iter().copied(), Strategy::Bugfix);
    assert_eq!(r.outcome, Outcome::UpToDate);
    let reason = r.reason();
    assert!(
        reason.starts_with("already the newest 10.3.x tag (bugfix); "),
        "{reason}"
    );
    assert!(
        reason.contains("newer tags are outside bugfix (newest v17.16.1 needs major)"),
        "{reason}"
    );

    let r = resolve("v14.2.4-snapshot.3", tags.iter().copied(), Strategy::Bugfix);
    assert!(
        r.reason()
            .starts_with("v14.2.5-snapshot.1 is the newest 14.2.x snapshot tag (bugfix)"),
        "{}",
        r.reason()
    );

    // --explain stays readable on a 366-tag repository: groups are capped and counted.
    let r = resolve("v11.1.2.0-pisp", tags.iter().copied(), Strategy::Bugfix);
    let explain = r.explain();
    let lines: Vec<&str> = explain.lines().collect();
    assert!(lines.len() < 50, "{explain}");
    assert_eq!(
        lines[2],
        "  v11.1.2.2-pisp              chosen: the newest tag the strategy allows"
    );
    assert!(
        lines.contains(&"  (140 tags on the `snapshot` track not listed)"),
        "{explain}"
    );
    assert!(lines.contains(&"  (62 older tags not listed)"), "{explain}");

    let r = resolve("local", tags.iter().copied(), Strategy::Bugfix);
    assert_eq!(
        r.reason(),
        "`local` is not a version tag: pin a version (e.g. v17.16.1) to get upgrade advice"
    );
    let r = resolve("v10.5.2.0.0-pisp", tags.iter().copied(), Strategy::Bugfix);
    assert!(
        r.reason().contains("(more than 4 numeric parts (5))"),
        "{}",
        r.reason()
    );
}

#[test]
fn junk_in_real_tag_lists_is_rejected_with_a_reason() {
    let available = available();
    let mut seen = 0;
    for junk in [
        "l",
        "list",
        "delete",
        "test-ci-2",
        "v",
        "v.11.12.0",
        "v10.5.2.0.0-pisp",
        "local",
    ] {
        for (image, tags) in &available {
            if !tags.iter().any(|t| t == junk) {
                continue;
            }
            seen += 1;
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let r = resolve(tags[0], tags.iter().copied(), Strategy::Major);
            let verdict = &r.considered.iter().find(|c| c.tag == junk).unwrap().verdict;
            match verdict {
                Verdict::NotAVersion { reason } => assert!(!reason.is_empty()),
                Verdict::Current => {}
                other => panic!("{image}:{junk} got {other:?}"),
            }
        }
    }
    assert!(seen >= 8, "{seen}");
}

/// Real upgrades from the Helm release notes: what `major` makes of each.
///
/// What holds: every transition between two tags written the same way (same
/// prefix, same track) is allowed by `major`, and a stable `from` never sees
/// its `to` rejected as a pre-release. The exceptions are real and the
/// contract rejects them on purpose: Mojaloop's Helm charts switched between
/// `v`-less and `v` tags (`v13.0.0 -> 13.2.0`, `12.0.0 -> v12.0.0`), and once
/// moved a snapshot to a stable release (`v12.0.0-snapshot.14 -> v12.0.1`).
#[test]
fn helm_release_transitions_are_allowed_by_major_when_written_alike() {
    let (mut allowed, mut prefix_changes, mut left_track) = (0, Vec::new(), Vec::new());
    let mut narrowest = std::collections::BTreeMap::<Strategy, usize>::new();
    for (release, services) in helm_releases() {
        for (service, ft) in services {
            let (Some(from), Some(to)) = (ft.from, ft.to) else {
                continue;
            };
            if from == to {
                continue;
            }
            let (f, t) = (Version::parse(&from).unwrap(), Version::parse(&to).unwrap());
            let r = check(&from, &[&to], Strategy::Major);
            let verdict = &r.considered[0].verdict;
            if !f.is_prerelease() {
                assert_ne!(
                    *verdict,
                    Verdict::Prerelease,
                    "{release} {service}: {from} -> {to}"
                );
            }
            match verdict {
                Verdict::Chosen => {
                    allowed += 1;
                    let needed = Strategy::ALL
                        .into_iter()
                        .find(|&s| resolve(&from, [to.as_str()], s).latest() == Some(&to))
                        .unwrap();
                    *narrowest.entry(needed).or_default() += 1;
                }
                Verdict::OtherPrefix { .. } => {
                    assert_ne!(f.prefix(), t.prefix());
                    prefix_changes.push(format!("{from} -> {to}"));
                }
                Verdict::OtherTrack {
                    track: None,
                    current: Some(track),
                } => {
                    assert_eq!(track, "snapshot");
                    left_track.push(format!("{from} -> {to}"));
                }
                other => panic!("{release} {service}: {from} -> {to}: {other}"),
            }
        }
    }
    // 211 rows have both sides (and they always differ): 197 + 13 + 1.
    assert_eq!(allowed, 197);
    assert_eq!(prefix_changes.len(), 13, "{prefix_changes:#?}");
    assert_eq!(left_track, ["v12.0.0-snapshot.14 -> v12.0.1"]);
    // The narrowest strategy that allows each real transition.
    let expected = [
        (Strategy::Patch, 2),
        (Strategy::Bugfix, 55),
        (Strategy::Minor, 75),
        (Strategy::Major, 65),
    ];
    assert_eq!(narrowest, expected.into_iter().collect(), "{narrowest:?}");
}
