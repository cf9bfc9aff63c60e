//! Properties of parsing, ordering and resolution over generated messy tags.

mod common;

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use common::{assert_allowed_move, check, check_monotone};
use ml_operator_version::{Outcome, Strategy, TagSet, Version, resolve};
use proptest::prelude::*;
use proptest::strategy::Strategy as Gen;

/// Version-shaped tags with small numbers (so they collide and share lines)
/// and the suffix shapes met in real registries.
fn version_tag() -> impl Gen<Value = String> {
    let prefix = prop_oneof![Just(""), Just("v"), Just("V")];
    let numbers = prop::collection::vec(0u64..4, 1..=4);
    let suffix = prop_oneof![
        4 => Just(String::new()),
        1 => (0u64..4).prop_map(|n| format!("-pisp.{n}")),
        1 => Just("-pisp".to_owned()),
        1 => (0u64..4).prop_map(|n| format!("-snapshot.{n}")),
        1 => (0u64..4).prop_map(|n| format!("-snapshot-{n}")),
        1 => Just("-snapshot".to_owned()),
        1 => (0u64..4).prop_map(|n| format!("-debian-11-r{n}")),
        1 => Just("-alpine".to_owned()),
        1 => Just("-alpine3.20".to_owned()),
        1 => (0u64..4).prop_map(|n| format!("-rc{n}")),
        1 => (0u64..4).prop_map(|n| format!("-iso.{n}")),
        1 => (0u64..4).prop_map(|n| format!("-{n}")),
    ];
    let build =
        prop_oneof![6 => Just(String::new()), 1 => (0u64..3).prop_map(|n| format!("+b{n}"))];
    (prefix, numbers, suffix, build).prop_map(|(p, n, s, b)| {
        let n: Vec<String> = n.iter().map(u64::to_string).collect();
        format!("{p}{}{s}{b}", n.join("."))
    })
}

/// Any tag: mostly versions, sometimes junk.
fn any_tag() -> impl Gen<Value = String> {
    prop_oneof![
        8 => version_tag(),
        1 => prop::sample::select(vec![
            "latest", "main", "a1b2c3d", "v", "v.1.2.3", "l", "1.2.3.4.5", "test-ci-2",
        ]).prop_map(str::to_owned),
    ]
}

fn strategy() -> impl Gen<Value = Strategy> {
    prop::sample::select(Strategy::ALL.to_vec())
}

fn as_strs(tags: &[String]) -> Vec<&str> {
    tags.iter().map(String::as_str).collect()
}

fn hash(v: &Version) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_versions_parse_and_keep_their_tag(tag in version_tag()) {
        let v = Version::parse(&tag).unwrap();
        prop_assert_eq!(v.as_str(), tag.as_str());
        prop_assert_eq!(v.to_string(), tag.clone());
        prop_assert!((1..=4).contains(&v.numbers().len()));
        prop_assert!(["", "v", "V"].contains(&v.prefix()));
        prop_assert_eq!(v.track().is_none(), v.is_stable());
    }

    #[test]
    fn parse_never_panics(tag in "\\PC{0,24}") {
        match Version::parse(&tag) {
            Ok(v) => prop_assert_eq!(v.as_str(), tag.as_str()),
            Err(e) => {
                prop_assert_eq!(e.tag(), tag.as_str());
                let quoted = format!("`{}`", tag);
                prop_assert!(e.to_string().contains(&quoted));
            }
        }
    }

    #[test]
    fn order_is_total_and_consistent_with_eq(a in version_tag(), b in version_tag(), c in version_tag()) {
        let (a, b, c) = (Version::parse(&a).unwrap(), Version::parse(&b).unwrap(), Version::parse(&c).unwrap());
        // Antisymmetric.
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        // Consistent with Eq, Hash and the tag.
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a == b, a.as_str() == b.as_str());
        if a == b { prop_assert_eq!(hash(&a), hash(&b)); }
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
        // Transitive.
        if a <= b && b <= c { prop_assert!(a <= c); }
        if a < b && b < c { prop_assert!(a < c); }
        // Sorting is deterministic whatever the input order.
        let mut one = vec![a.clone(), b.clone(), c.clone()];
        let mut two = vec![c, a, b];
        one.sort();
        two.sort();
        prop_assert_eq!(one, two);
    }

    #[test]
    fn within_a_line_numbers_then_counter_decide(a in version_tag(), b in version_tag()) {
        let (a, b) = (Version::parse(&a).unwrap(), Version::parse(&b).unwrap());
        if a.prefix() == b.prefix() && a.track() == b.track() {
            let by_numbers = (a.padded(), a.counter()).cmp(&(b.padded(), b.counter()));
            if by_numbers != Ordering::Equal {
                prop_assert_eq!(a.cmp(&b), by_numbers);
            }
        }
    }

    #[test]
    fn resolution_keeps_the_contract(
        current in any_tag(),
        candidates in prop::collection::vec(any_tag(), 0..30),
        strategy in strategy(),
    ) {
        // `check` asserts: never older, same prefix/track/precision, inside the
        // strategy, stable stays stable, resolving again yields UpToDate,
        // every candidate once, newest first.
        let r = check(&current, &as_strs(&candidates), strategy);
        if let (Ok(cur), Some(latest)) = (Version::parse(&current), r.latest()) {
            let latest = Version::parse(latest).unwrap();
            prop_assert!(latest > cur);
            if cur.is_stable() {
                prop_assert!(latest.is_stable() && !latest.is_prerelease());
            }
        }
    }

    #[test]
    fn wider_strategies_never_choose_older(
        current in version_tag(),
        candidates in prop::collection::vec(version_tag(), 0..30),
    ) {
        check_monotone(&current, &as_strs(&candidates));
    }

    #[test]
    fn input_order_duplicates_and_the_current_tag_do_not_matter(
        current in version_tag(),
        mut candidates in prop::collection::vec(version_tag(), 0..20),
        strategy in strategy(),
    ) {
        let base = resolve(&current, as_strs(&candidates), strategy);
        let mut more = candidates.clone();
        more.extend(candidates.iter().cloned());
        more.push(current.clone());
        candidates.reverse();
        more.reverse();
        let shuffled = resolve(&current, as_strs(&candidates), strategy);
        let with_current = resolve(&current, as_strs(&more), strategy);
        prop_assert_eq!(&base.outcome, &shuffled.outcome);
        prop_assert_eq!(&base.considered, &shuffled.considered);
        prop_assert_eq!(&base.outcome, &with_current.outcome);
    }

    #[test]
    fn the_result_is_the_newest_allowed_candidate(
        current in version_tag(),
        candidates in prop::collection::vec(version_tag(), 0..30),
        strategy in strategy(),
    ) {
        // An independent, brute-force statement of the rules.
        let cur = Version::parse(&current).unwrap();
        let allowed = candidates.iter().map(|t| Version::parse(t).unwrap()).filter(|c| {
            c.prefix() == cur.prefix()
                && c.track() == cur.track()
                && c.numbers().len().min(3) == cur.numbers().len().min(3)
                && (c.padded(), c.counter()) > (cur.padded(), cur.counter())
                && c.padded()[..strategy.fixed_parts()] == cur.padded()[..strategy.fixed_parts()]
        });
        let expected = allowed.max();
        let r = resolve(&current, as_strs(&candidates), strategy);
        prop_assert_eq!(r.latest(), expected.as_ref().map(Version::as_str));
        match expected {
            Some(to) => assert_allowed_move(&cur, &to, strategy),
            None => prop_assert_eq!(r.outcome, Outcome::UpToDate),
        }
    }

    #[test]
    fn a_decision_says_what_the_whole_resolution_says(
        current in any_tag(),
        candidates in prop::collection::vec(any_tag(), 0..40),
        strategy in strategy(),
    ) {
        // `TagSet::decide` looks only at the current tag and newer ones; the
        // outcome, the reason and those candidates' verdicts must not change.
        let tags = TagSet::new(as_strs(&candidates));
        let whole = tags.resolve(&current, strategy);
        let decided = tags.decide(&current, strategy);
        prop_assert_eq!(&decided.outcome, &whole.outcome);
        prop_assert_eq!(decided.reason(), whole.reason());
        prop_assert_eq!(&whole, &resolve(&current, as_strs(&candidates), strategy));
        for candidate in &decided.considered {
            prop_assert!(whole.considered.contains(candidate), "{:?}", candidate);
        }
    }
}
