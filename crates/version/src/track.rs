//! Suffix tracks: what follows the numbers (`-pisp.3`, `-debian-11-r5`,
//! `-alpine3.20`), split into a *track* that must stay the same across an
//! upgrade and a *counter* that orders tags within the track.

/// A parsed suffix: its normalised track, its trailing counter, and whether
/// the track is a pre-release (rather than a platform flavour or revision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suffix {
    /// Lowercased suffix with the trailing counter (and its separator) removed;
    /// empty for a purely numeric revision such as `6.0.4-3`.
    pub track: String,
    /// The trailing counter: `3` in `-pisp.3`, `5` in `-debian-11-r5`.
    pub counter: Option<u64>,
    /// True for well-known pre-release words and feature-branch builds.
    pub prerelease: bool,
}

/// Words that make a track a pre-release. Any word that is not a known
/// flavour also does (feature-branch builds such as `-iso.1`, `-url-handling.1`);
/// this list documents the common ones and keeps them out of [`FLAVOUR_WORDS`].
pub(crate) const PRERELEASE_WORDS: &[&str] = &[
    "alpha",
    "a",
    "beta",
    "b",
    "rc",
    "cr",
    "pre",
    "preview",
    "dev",
    "devel",
    "develop",
    "development",
    "snapshot",
    "nightly",
    "canary",
    "next",
    "edge",
    "experimental",
    "exp",
    "test",
    "testing",
    "unstable",
    "insiders",
    "milestone",
    "m",
    "poc",
    "wip",
    "draft",
    "tmp",
    "temp",
    "feat",
    "feature",
    "fix",
    "hotfix",
    "pr",
    "mr",
    "branch",
    "ci",
    "build",
    "perf",
];

/// Words of platform or flavour suffixes: a tag with only these words (and
/// numbers) is on a track but is not a pre-release (`-alpine`, `-slim`,
/// `-debian-11-r5`, `-bullseye`, `-jammy`, `-management-alpine`).
pub(crate) const FLAVOUR_WORDS: &[&str] = &[
    // distributions and their code names
    "alpine",
    "debian",
    "bullseye",
    "bookworm",
    "buster",
    "stretch",
    "jessie",
    "trixie",
    "sid",
    "ubuntu",
    "jammy",
    "focal",
    "bionic",
    "noble",
    "xenial",
    "trusty",
    "centos",
    "rhel",
    "ubi",
    "fedora",
    "rocky",
    "alma",
    "almalinux",
    "amazonlinux",
    "oraclelinux",
    "photon",
    "wolfi",
    "chainguard",
    "distroless",
    "scratch",
    "busybox",
    "windowsservercore",
    "nanoserver",
    "servercore",
    "ltsc",
    "windows",
    "linux",
    // image flavours
    "slim",
    "minimal",
    "static",
    "musl",
    "glibc",
    "full",
    "lite",
    "light",
    "debug",
    "management",
    "multi",
    "rootless",
    "nonroot",
    "headless",
    "gpu",
    "cuda",
    "cpu",
    "jdk",
    "jre",
    "openjdk",
    "temurin",
    "corretto",
    "zulu",
    "graalvm",
    "fpm",
    "apache",
    "cli",
    "zts",
    "perl",
    "python",
    "node",
    "golang",
    "oss",
    "ce",
    "ee",
    "community",
    "enterprise",
    "lts",
    "mainline",
    "stable",
    "latest",
    "release",
    "final",
    "ga",
    // architectures
    "amd",
    "arm",
    "armv",
    "armhf",
    "arm64v",
    "aarch",
    "x",
    "i",
    "ppc",
    "le",
    "s",
    // Bitnami/Alpine package revision marker (`-r5`)
    "r",
];

/// Letter words that may carry their counter glued on: `rc1`, `beta3`, `r5`.
const COUNTER_WORDS: &[&str] = &[
    "r", "rc", "alpha", "a", "beta", "b", "pre", "preview", "dev", "snapshot", "perf", "build",
    "nightly",
];

/// Classifies a suffix (the text after the first `-` that follows the
/// numbers). The caller has checked it is made of non-empty ASCII
/// alphanumeric (or `_`) identifiers separated by `.` or `-`.
pub(crate) fn classify(suffix: &str) -> Suffix {
    let (track, counter) = split_counter(suffix);
    let track = track.to_ascii_lowercase();
    let prerelease = is_prerelease_track(&track);
    Suffix {
        track,
        counter,
        prerelease,
    }
}

/// Splits `suffix` into (track text, counter).
fn split_counter(suffix: &str) -> (&str, Option<u64>) {
    // Identifiers with the byte offset where each starts.
    let mut idents: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    for (i, c) in suffix.char_indices() {
        if c == '.' || c == '-' {
            idents.push((start, &suffix[start..i]));
            start = i + 1;
        }
    }
    idents.push((start, &suffix[start..]));

    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `alpine3`, `v2`, `pr62`: a letter+digit word; numbers after it belong to it.
    let is_letter_digit_word = |s: &str| {
        s.bytes().any(|b| b.is_ascii_alphabetic())
            && s.bytes().last().is_some_and(|b| b.is_ascii_digit())
    };
    // Text before identifier `k`, without the separator in front of it.
    let before = |k: usize| -> &str {
        let at = idents[k].0;
        if at == 0 { "" } else { &suffix[..at - 1] }
    };

    let last = idents.len() - 1;
    let (_, last_ident) = idents[last];

    if is_digits(last_ident) {
        let run_start = (0..=last)
            .rev()
            .take_while(|&k| is_digits(idents[k].1))
            .last()
            .unwrap_or(last);
        if run_start > 0 && is_letter_digit_word(idents[run_start - 1].1) {
            return (suffix, None);
        }
        return match last_ident.parse::<u64>() {
            Ok(n) => (before(last), Some(n)),
            Err(_) => (suffix, None),
        };
    }

    // A counter glued to a known word: `rc1` -> (`rc`, 1), `r5` -> (``, 5).
    let letters_end = last_ident
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(last_ident.len());
    let (letters, digits) = last_ident.split_at(letters_end);
    if letters_end > 0 && is_digits(digits) {
        let word = letters.to_ascii_lowercase();
        if COUNTER_WORDS.contains(&word.as_str())
            && let Ok(n) = digits.parse::<u64>()
        {
            let track = if word == "r" {
                before(last)
            } else {
                &suffix[..idents[last].0 + letters_end]
            };
            return (track, Some(n));
        }
    }
    (suffix, None)
}

/// A track is a pre-release unless every word in it is a known flavour word.
/// Numbers do not count as words, so a purely numeric revision track is not a
/// pre-release.
fn is_prerelease_track(track: &str) -> bool {
    track
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .any(|word| PRERELEASE_WORDS.contains(&word) || !FLAVOUR_WORDS.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, Option<u64>, bool) {
        let suffix = classify(s);
        (suffix.track, suffix.counter, suffix.prerelease)
    }

    #[test]
    fn tracks_and_counters_from_the_contract() {
        assert_eq!(split("pisp.3"), ("pisp".into(), Some(3), true));
        assert_eq!(split("pisp"), ("pisp".into(), None, true));
        assert_eq!(split("snapshot.12"), ("snapshot".into(), Some(12), true));
        assert_eq!(split("snapshot-12"), ("snapshot".into(), Some(12), true));
        assert_eq!(split("snapshot"), ("snapshot".into(), None, true));
        assert_eq!(split("debian-11-r5"), ("debian-11".into(), Some(5), false));
        assert_eq!(split("alpine"), ("alpine".into(), None, false));
        assert_eq!(split("alpine3.20"), ("alpine3.20".into(), None, false));
        assert_eq!(split("rc1"), ("rc".into(), Some(1), true));
        assert_eq!(split("alpha.438"), ("alpha".into(), Some(438), true));
        assert_eq!(split("beta"), ("beta".into(), None, true));
    }

    #[test]
    fn numbers_after_a_letter_digit_word_are_part_of_the_track() {
        assert_eq!(
            split("versioning-poc-v2.1.0"),
            ("versioning-poc-v2.1.0".into(), None, true)
        );
        assert_eq!(
            split("ppg16.3-pgbouncer1.22.1"),
            ("ppg16.3-pgbouncer1.22.1".into(), None, true)
        );
    }

    #[test]
    fn numeric_suffix_is_a_revision_not_a_prerelease() {
        assert_eq!(split("3"), ("".into(), Some(3), false));
        assert_eq!(split("r7"), ("".into(), Some(7), false));
        assert_eq!(split("28.1"), ("28".into(), Some(1), false));
    }

    #[test]
    fn feature_branches_are_prereleases_and_flavours_are_not() {
        assert!(split("iso.1").2);
        assert!(split("url-handling.1").2);
        assert!(split("k8s1.17-beta3").2);
        assert!(!split("management-alpine").2);
        assert!(!split("slim-bookworm").2);
        assert!(!split("debian-12-r2").2);
    }

    #[test]
    fn track_is_lowercased_and_huge_counters_stay_in_the_track() {
        assert_eq!(split("Alpine"), ("alpine".into(), None, false));
        assert_eq!(
            split("snapshot.99999999999999999999"),
            ("snapshot.99999999999999999999".into(), None, true)
        );
    }
}
