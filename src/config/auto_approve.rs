//! `upgrades.autoApprove` (and the `auto-approve` annotation): the highest upgrade level that
//! goes ahead without a person. A configuration value, so it lives here; the upgrade policy
//! ([`crate::upgrade::policy`]) applies it.

use ml_operator_version::Strategy;
use serde::Deserialize;

/// The highest level approved without a person. Prints lowercase; reads a level in any case,
/// or the annotation's `true`/`yes` (= `major`) and `false`/`no` (= `none`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(
    serialize_all = "lowercase",
    ascii_case_insensitive,
    parse_err_ty = InvalidLevel,
    parse_err_fn = InvalidLevel::new
)]
pub enum AutoApprove {
    /// Nothing: every upgrade waits for a person (the default).
    #[default]
    #[strum(to_string = "none", serialize = "false", serialize = "no")]
    None,
    /// Only `patch`-level upgrades.
    Patch,
    /// `patch` and `bugfix`.
    Bugfix,
    /// Up to `minor`.
    Minor,
    /// Everything.
    #[strum(to_string = "major", serialize = "true", serialize = "yes")]
    Major,
}

impl AutoApprove {
    /// Whether an upgrade of `level` is approved by this rule.
    pub fn allows(self, level: Strategy) -> bool {
        let ceiling = match self {
            AutoApprove::None => return false,
            AutoApprove::Patch => Strategy::Patch,
            AutoApprove::Bugfix => Strategy::Bugfix,
            AutoApprove::Minor => Strategy::Minor,
            AutoApprove::Major => Strategy::Major,
        };
        level <= ceiling
    }
}

/// A text that is not an auto-approve level; quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not an auto-approve level: use none, patch, bugfix, minor, major, true or false"
)]
pub struct InvalidLevel {
    /// The text as given.
    pub text: String,
}

impl InvalidLevel {
    /// `text` is not a level.
    pub fn new(text: &str) -> InvalidLevel {
        InvalidLevel { text: text.into() }
    }
}
