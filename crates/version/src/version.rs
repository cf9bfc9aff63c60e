//! The [`Version`] type: a parsed tag with a total order.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::parse::{self, NotAVersion};
use crate::track::Suffix;

/// The prefix style of a tag. Upgrades never change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Prefix {
    None,
    UpperV,
    LowerV,
}

impl Prefix {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Prefix::None => "",
            Prefix::UpperV => "V",
            Prefix::LowerV => "v",
        }
    }
}

/// A tag parsed as a version: `v10.3.4`, `8.0.32-debian-11-r5`,
/// `v11.0.0-pisp.3`, `V0.5`, `v15.1.2.1`.
///
/// Versions are totally ordered. Within one prefix style and track the order
/// is the meaningful one: by the numbers (missing ones count as 0), then by
/// the suffix counter. Across tracks the order is still total and
/// deterministic (pre-releases sort below the stable tag with the same
/// numbers, flavours above it) so versions can be sorted and deduplicated,
/// but [`resolve`](crate::resolve) never moves between tracks. Two versions
/// are equal exactly when their tags are the same string.
#[derive(Clone, Debug)]
pub struct Version {
    tag: String,
    prefix: Prefix,
    numbers: Vec<u64>,
    suffix: Option<Suffix>,
    build: Option<String>,
}

impl Version {
    /// Parses a tag. Returns [`NotAVersion`] for `latest`, `main`, shas,
    /// `v.11.12.0`, tags with more than four numbers, and other non-versions.
    ///
    /// ```
    /// use ml_operator_version::Version;
    ///
    /// let v = Version::parse("v11.0.0-pisp.3").unwrap();
    /// assert_eq!(v.numbers(), &[11, 0, 0]);
    /// assert_eq!(v.track(), Some("pisp"));
    /// assert_eq!(v.counter(), Some(3));
    /// assert!(Version::parse("latest").is_err());
    /// ```
    pub fn parse(tag: &str) -> Result<Version, NotAVersion> {
        parse::parse(tag)
    }

    pub(crate) fn from_parts(
        tag: String,
        prefix: Prefix,
        numbers: Vec<u64>,
        suffix: Option<Suffix>,
        build: Option<String>,
    ) -> Version {
        Version {
            tag,
            prefix,
            numbers,
            suffix,
            build,
        }
    }

    /// The original tag, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.tag
    }

    /// The 1 to 4 numeric parts, as written (`V0.5` gives `[0, 5]`).
    pub fn numbers(&self) -> &[u64] {
        &self.numbers
    }

    /// The numbers padded with zeros to four parts, as they compare.
    pub fn padded(&self) -> [u64; 4] {
        let mut padded = [0; 4];
        padded[..self.numbers.len()].copy_from_slice(&self.numbers);
        padded
    }

    /// The prefix style: `""`, `"v"` or `"V"`.
    pub fn prefix(&self) -> &str {
        self.prefix.as_str()
    }

    /// The normalised (lowercased) suffix track, without its trailing
    /// counter: `"pisp"` for `-pisp.3`, `"snapshot"` for `-snapshot-12`,
    /// `"debian-11"` for `-debian-11-r5`, `"alpine3.20"` for `-alpine3.20`,
    /// and `""` for a purely numeric revision such as `6.0.4-3`. `None` for
    /// a tag without a suffix (a stable tag).
    pub fn track(&self) -> Option<&str> {
        self.suffix.as_ref().map(|s| s.track.as_str())
    }

    /// The suffix's trailing counter, which orders tags within a track:
    /// `3` for `-pisp.3`, `5` for `-debian-11-r5`, `1` for `-rc1`.
    pub fn counter(&self) -> Option<u64> {
        self.suffix.as_ref().and_then(|s| s.counter)
    }

    /// The `+build` metadata, if any. It only breaks ties in the order.
    pub fn build(&self) -> Option<&str> {
        self.build.as_deref()
    }

    /// True for pre-release tracks: well-known words (`alpha`, `beta`, `rc`,
    /// `snapshot`, `dev`, `pre`, `preview`, ...) and feature-branch builds
    /// (`-iso.1`, `-pisp.3`, `-url-handling.1`). False for stable tags and for
    /// platform or flavour tracks (`-alpine`, `-slim`, `-debian-11-r5`) and
    /// numeric revisions (`-3`).
    pub fn is_prerelease(&self) -> bool {
        self.suffix.as_ref().is_some_and(|s| s.prerelease)
    }

    /// True when the tag has no suffix (`v10.3.4`, `8.0`).
    pub fn is_stable(&self) -> bool {
        self.suffix.is_none()
    }

    /// Precision class: 1- and 2-part tags only move to tags with as many
    /// parts; 3- and 4-part tags move among each other (the fourth part is a
    /// revision).
    pub(crate) fn precision_class(&self) -> usize {
        self.numbers.len().min(3)
    }

    /// Same prefix style, track and precision class: the tags an upgrade may
    /// move between, before the strategy is applied.
    pub(crate) fn same_line(&self, other: &Version) -> bool {
        self.prefix == other.prefix
            && self.track() == other.track()
            && self.precision_class() == other.precision_class()
    }

    /// Version order within one line: numbers, then counter.
    pub(crate) fn line_cmp(&self, other: &Version) -> Ordering {
        (self.padded(), self.counter()).cmp(&(other.padded(), other.counter()))
    }

    /// Rank of the suffix kind in the total order: pre-release < stable <
    /// flavour or revision.
    fn suffix_rank(&self) -> u8 {
        match &self.suffix {
            Some(s) if s.prerelease => 0,
            None => 1,
            Some(_) => 2,
        }
    }

    /// The sort key. The tag comes last, so the order is total and consistent
    /// with equality (equal keys mean equal tags).
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        [u64; 4],
        u8,
        Option<&str>,
        Option<u64>,
        usize,
        Prefix,
        Option<&str>,
        &str,
    ) {
        (
            self.padded(),
            self.suffix_rank(),
            self.track(),
            self.counter(),
            self.numbers.len(),
            self.prefix,
            self.build(),
            &self.tag,
        )
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal versions have equal tags (the tag is part of the key).
        self.tag.hash(state);
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for Version {
    /// Writes the original tag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag)
    }
}

impl FromStr for Version {
    type Err = NotAVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}
