//! Shared by the integration tests: the real Mojaloop data (copied into
//! `tests/data/` so the crate is self-contained) and the invariants every
//! resolution must keep.

#![allow(dead_code)] // each test crate uses a different part

use std::collections::{BTreeMap, BTreeSet};

use ml_operator_version::{Outcome, Resolution, Strategy, Verdict, Version, resolve};

/// `{image: [tags]}`.
pub type TagIndex = BTreeMap<String, Vec<String>>;

/// Every image:tag referenced anywhere in Mojaloop's repositories.
pub fn referenced() -> TagIndex {
    serde_json::from_str(include_str!("../data/mojaloop-tags.json")).expect("valid JSON")
}

/// The referenced tags merged with the service repos' git tags: "the tags available".
pub fn available() -> TagIndex {
    serde_json::from_str(include_str!("../data/mojaloop-tags-with-git.json")).expect("valid JSON")
}

/// `{helmRelease: {service: {from, to}}}` from the Helm release notes.
pub type HelmReleases = BTreeMap<String, BTreeMap<String, FromTo>>;

/// One real upgrade transition (either side may be missing for new/removed services).
#[derive(serde::Deserialize, Debug, Clone)]
pub struct FromTo {
    pub from: Option<String>,
    pub to: Option<String>,
}

pub fn helm_releases() -> HelmReleases {
    serde_json::from_str(include_str!(
        "../data/mojaloop-helm-release-appversions.json"
    ))
    .expect("valid JSON")
}

/// Resolves and asserts the invariants of the contract; returns the resolution.
pub fn check(current: &str, candidates: &[&str], strategy: Strategy) -> Resolution {
    let r = resolve(current, candidates.iter().copied(), strategy);
    let ctx = || {
        format!(
            "{current} [{strategy}] over {} candidates",
            candidates.len()
        )
    };

    assert_eq!(r.current, current);
    assert_eq!(r.strategy, strategy);

    // Every candidate exactly once.
    let unique: BTreeSet<&str> = candidates.iter().copied().collect();
    let listed: Vec<&str> = r.considered.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(
        listed.len(),
        unique.len(),
        "{}: duplicates or missing",
        ctx()
    );
    assert_eq!(
        listed.iter().copied().collect::<BTreeSet<_>>(),
        unique,
        "{}",
        ctx()
    );

    // Verdicts agree with parsing and with the current tag.
    for c in &r.considered {
        let parsed = Version::parse(&c.tag);
        match &c.verdict {
            Verdict::Current => assert_eq!(c.tag, current, "{}", ctx()),
            Verdict::NotAVersion { reason } => {
                let err = parsed.expect_err("NotAVersion verdict for a version");
                assert_eq!(*reason, err.reason());
            }
            _ => {
                assert!(parsed.is_ok(), "{}: {} has {:?}", ctx(), c.tag, c.verdict);
                assert_ne!(c.tag, current, "{}", ctx());
            }
        }
    }

    // Versions come first, newest first; then the rest.
    let versions: Vec<Version> = r
        .considered
        .iter()
        .map_while(|c| Version::parse(&c.tag).ok())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] > w[1]),
        "{}: not newest first",
        ctx()
    );
    assert!(
        r.considered[versions.len()..]
            .iter()
            .all(|c| Version::parse(&c.tag).is_err()),
        "{}: a version after the non-versions",
        ctx()
    );

    let reason = r.reason();
    assert!(
        !reason.is_empty() && !reason.contains('\n'),
        "{}: {reason:?}",
        ctx()
    );
    let explain = r.explain();
    assert!(
        explain.lines().next().unwrap().contains(&reason),
        "{}: {explain}",
        ctx()
    );
    let json = serde_json::to_value(&r).expect("serializes");
    assert!(json["status"].is_string() && json["considered"].is_array());

    let chosen: Vec<&str> = r
        .considered
        .iter()
        .filter(|c| c.verdict == Verdict::Chosen)
        .map(|c| c.tag.as_str())
        .collect();

    let Ok(cur) = Version::parse(current) else {
        assert!(matches!(r.outcome, Outcome::Unresolved { .. }), "{}", ctx());
        assert!(
            reason.contains(&format!("`{current}`")),
            "{}: {reason}",
            ctx()
        );
        assert!(chosen.is_empty());
        return r;
    };

    match &r.outcome {
        Outcome::Unresolved { reason } => panic!("{}: unresolved: {reason}", ctx()),
        Outcome::UpToDate => {
            assert!(chosen.is_empty(), "{}", ctx());
            assert!(
                !r.considered
                    .iter()
                    .any(|c| c.verdict == Verdict::NewerAllowedExists),
                "{}",
                ctx()
            );
        }
        Outcome::Update { latest } => {
            assert_eq!(chosen, [latest.as_str()], "{}", ctx());
            let to = Version::parse(latest).expect("latest is a version");
            assert_allowed_move(&cur, &to, strategy);
            // Every other allowed candidate is older than the chosen one.
            for c in &r.considered {
                if c.verdict == Verdict::NewerAllowedExists {
                    assert!(Version::parse(&c.tag).unwrap() < to, "{}", ctx());
                }
            }
            // Resolving again from the result yields itself.
            let again = resolve(latest, candidates.iter().copied(), strategy);
            assert_eq!(
                again.outcome,
                Outcome::UpToDate,
                "{}: again from {latest}",
                ctx()
            );
        }
    }
    r
}

/// The contract for any move `from -> to` the engine makes.
pub fn assert_allowed_move(from: &Version, to: &Version, strategy: Strategy) {
    let ctx = format!("{from} -> {to} ({strategy})");
    assert!(to > from, "{ctx}: not newer");
    assert!(
        (to.padded(), to.counter()) > (from.padded(), from.counter()),
        "{ctx}: not newer by numbers then counter"
    );
    assert_eq!(to.prefix(), from.prefix(), "{ctx}: prefix changed");
    assert_eq!(to.track(), from.track(), "{ctx}: track changed");
    if from.track().is_none() {
        assert!(
            !to.is_prerelease() && to.track().is_none(),
            "{ctx}: stable left stable"
        );
    }
    if from.numbers().len() < 3 {
        assert_eq!(to.numbers().len(), from.numbers().len(), "{ctx}: precision");
    } else {
        assert!(to.numbers().len() >= 3, "{ctx}: precision");
    }
    let fixed = strategy.fixed_parts();
    assert_eq!(
        to.padded()[..fixed],
        from.padded()[..fixed],
        "{ctx}: outside strategy"
    );
}

/// The chosen tag under each strategy (or the current tag when up to date),
/// asserting that a wider strategy never chooses an older tag.
pub fn check_monotone(current: &str, candidates: &[&str]) -> Vec<Option<String>> {
    let results: Vec<Option<String>> = Strategy::ALL
        .iter()
        .map(|&s| check(current, candidates, s).latest().map(str::to_owned))
        .collect();
    if let Ok(cur) = Version::parse(current) {
        let effective: Vec<Version> = results
            .iter()
            .map(|r| {
                r.as_deref()
                    .map_or(cur.clone(), |t| Version::parse(t).unwrap())
            })
            .collect();
        assert!(
            effective.windows(2).all(|w| w[0] <= w[1]),
            "{current}: wider strategy chose older: {results:?}"
        );
    }
    results
}
