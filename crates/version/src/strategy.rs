//! Upgrade strategies: how far from the current tag an upgrade may go.

use std::fmt;
use std::str::FromStr;

/// Upgrade strategy (names and meanings from the original Node ml-operator).
///
/// Each strategy fixes how many leading version numbers must stay the same:
/// `patch` keeps `X.Y.Z` (only a newer fourth number or revision counter),
/// `bugfix` keeps `X.Y`, `minor` keeps `X`, `major` keeps nothing. They are
/// ordered from the narrowest to the widest, so `Strategy::Patch <
/// Strategy::Major`, and every tag one strategy allows, a wider one allows too.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Same `X.Y.Z`: only a newer fourth number (`v15.1.2.1`) or revision
    /// counter (`-debian-11-r5`, `-pisp.7`).
    Patch,
    /// Same `X.Y`: the newest `Z` (and fourth number). The default, as in the
    /// original ml-operator.
    #[default]
    Bugfix,
    /// Same `X`: the newest `Y.Z`.
    Minor,
    /// Any newer version.
    Major,
}

impl Strategy {
    /// All strategies, from the narrowest to the widest.
    pub const ALL: [Strategy; 4] = [
        Strategy::Patch,
        Strategy::Bugfix,
        Strategy::Minor,
        Strategy::Major,
    ];

    /// The lowercase name, as accepted by [`FromStr`] and printed by `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Patch => "patch",
            Strategy::Bugfix => "bugfix",
            Strategy::Minor => "minor",
            Strategy::Major => "major",
        }
    }

    /// How many leading version numbers this strategy keeps fixed
    /// (`patch` 3, `bugfix` 2, `minor` 1, `major` 0).
    pub fn fixed_parts(self) -> usize {
        match self {
            Strategy::Patch => 3,
            Strategy::Bugfix => 2,
            Strategy::Minor => 1,
            Strategy::Major => 0,
        }
    }

    /// The narrowest strategy that keeps `shared` leading numbers fixed, i.e.
    /// the one needed to move between two versions that agree on exactly
    /// `shared` leading numbers.
    pub(crate) fn needed_for(shared: usize) -> Strategy {
        match shared {
            0 => Strategy::Major,
            1 => Strategy::Minor,
            2 => Strategy::Bugfix,
            _ => Strategy::Patch,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = ParseStrategyError;

    /// Parses a strategy name, ignoring ASCII case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseStrategyError {
                input: s.to_owned(),
            })
    }
}

/// The error for a strategy name that is not `patch`, `bugfix`, `minor` or
/// `major`; its `Display` names the bad input and lists the valid names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStrategyError {
    input: String,
}

impl ParseStrategyError {
    /// The input that was not a strategy name.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseStrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown upgrade strategy `{}`: expected one of patch, bugfix, minor, major",
            self.input
        )
    }
}

impl std::error::Error for ParseStrategyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_round_trips() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.to_string().parse::<Strategy>(), Ok(strategy));
            assert_eq!(
                strategy.as_str().to_uppercase().parse::<Strategy>(),
                Ok(strategy)
            );
        }
        assert_eq!(" Minor ".parse::<Strategy>(), Ok(Strategy::Minor));
    }

    #[test]
    fn bad_name_is_named_in_the_error() {
        let err = "newest".parse::<Strategy>().unwrap_err();
        assert_eq!(err.input(), "newest");
        let msg = err.to_string();
        assert!(msg.contains("`newest`"), "{msg}");
        assert!(msg.contains("patch, bugfix, minor, major"), "{msg}");
    }

    #[test]
    fn default_is_bugfix_and_order_is_narrow_to_wide() {
        assert_eq!(Strategy::default(), Strategy::Bugfix);
        assert!(Strategy::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
