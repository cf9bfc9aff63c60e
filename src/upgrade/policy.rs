//! Auto-approval: which upgrades may go ahead without a person.
//!
//! An upgrade's *level* is how big the change is, named like the strategies: `patch` (same
//! X.Y.Z, a newer fourth number or revision), `bugfix` (same X.Y), `minor` (same X), `major`.
//! A policy level approves every upgrade at or below it. The most specific rule wins:
//! the workload's `ml-operator.mojaloop.io/auto-approve` annotation (`true` = any level,
//! `false` = never, or a level), then `upgrades.namespaceAutoApprove.<ns>`, then
//! `upgrades.autoApprove` (default `none`).
//!
//! In: the configured rules, the upgrade's namespace and level, and the workload's annotation.
//! Out: the rule that approves it (or none), or an [`InvalidAnnotation`] quoting the value.

use std::collections::BTreeMap;

use ml_operator_version::{Strategy, Version};

pub use crate::config::{AutoApprove, InvalidLevel};

/// A workload's `ml-operator.mojaloop.io/auto-approve` annotation that is not a level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation ml-operator.mojaloop.io/auto-approve: {0}")]
pub struct InvalidAnnotation(pub InvalidLevel);

/// The level of a move from `current` to `target`: the widest strategy needed. `None` when
/// either tag is not a version (such an upgrade is never auto-approved).
pub fn change_level(current: &str, target: &str) -> Option<Strategy> {
    let current = Version::parse(current).ok()?.padded();
    let target = Version::parse(target).ok()?.padded();
    let first_difference = current.iter().zip(target.iter()).position(|(a, b)| a != b);
    Some(match first_difference {
        Some(0) => Strategy::Major,
        Some(1) => Strategy::Minor,
        Some(2) => Strategy::Bugfix,
        _ => Strategy::Patch,
    })
}

/// The auto-approval rules from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `upgrades.autoApprove`.
    pub default: AutoApprove,
    /// `upgrades.namespaceAutoApprove`.
    pub by_namespace: BTreeMap<String, AutoApprove>,
}

impl Policy {
    /// Whether an upgrade of `level` in `namespace` is approved without a person, given the
    /// workload's `auto-approve` annotation. `Ok(Some(rule))` names the rule that approved it
    /// (recorded as `status.approval.how`); a bad annotation is an error naming its value.
    pub fn approves(
        &self,
        namespace: &str,
        annotation: Option<&str>,
        level: Option<Strategy>,
    ) -> Result<Option<String>, InvalidAnnotation> {
        let (rule, source) = match annotation.filter(|a| !a.trim().is_empty()) {
            Some(text) => (
                // Quoting the value as written, surrounding spaces and all.
                text.trim()
                    .parse::<AutoApprove>()
                    .map_err(|_| InvalidAnnotation(InvalidLevel::new(text)))?,
                "annotation".to_string(),
            ),
            None => match self.by_namespace.get(namespace) {
                Some(rule) => (*rule, format!("namespace {namespace}")),
                None => (self.default, "autoApprove".to_string()),
            },
        };
        Ok(match level {
            Some(level) if rule.allows(level) => Some(format!("policy:{source}={rule}")),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(change_level("v10.3.1", "v10.3.4"), Some(Strategy::Bugfix));
        assert_eq!(change_level("v10.3.1", "v10.4.0"), Some(Strategy::Minor));
        assert_eq!(change_level("v10.3.1", "v11.0.0"), Some(Strategy::Major));
        assert_eq!(
            change_level("8.0.32-debian-11-r0", "8.0.32-debian-11-r5"),
            Some(Strategy::Patch)
        );
        assert_eq!(change_level("v15.1.2", "v15.1.2.1"), Some(Strategy::Patch));
        assert_eq!(change_level("latest", "v1.0.0"), None);
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let policy = Policy {
            default: AutoApprove::Patch,
            by_namespace: BTreeMap::from([
                ("lab".to_string(), AutoApprove::Minor),
                ("prod".into(), AutoApprove::None),
            ]),
        };
        let bugfix = Some(Strategy::Bugfix);
        assert_eq!(
            policy
                .approves("hub", None, Some(Strategy::Patch))
                .unwrap()
                .as_deref(),
            Some("policy:autoApprove=patch")
        );
        assert_eq!(
            policy.approves("hub", None, bugfix).unwrap(),
            None,
            "bugfix is above patch"
        );
        assert_eq!(
            policy.approves("lab", None, bugfix).unwrap().as_deref(),
            Some("policy:namespace lab=minor")
        );
        assert_eq!(
            policy
                .approves("prod", None, Some(Strategy::Patch))
                .unwrap(),
            None
        );
        assert_eq!(
            policy
                .approves("prod", Some("true"), Some(Strategy::Major))
                .unwrap()
                .as_deref(),
            Some("policy:annotation=major")
        );
        assert_eq!(
            policy
                .approves("lab", Some("false"), Some(Strategy::Patch))
                .unwrap(),
            None,
            "false overrides"
        );
        assert_eq!(
            policy
                .approves("hub", Some("bugfix"), bugfix)
                .unwrap()
                .as_deref(),
            Some("policy:annotation=bugfix")
        );
        assert_eq!(
            policy.approves("lab", None, None).unwrap(),
            None,
            "non-version tags are never auto-approved"
        );
        let err = policy
            .approves("hub", Some("sometimes"), bugfix)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"sometimes\"") && err.contains("auto-approve"),
            "{err}"
        );
        assert_eq!(
            policy
                .approves("hub", Some(" Patch "), Some(Strategy::Patch))
                .unwrap()
                .as_deref(),
            Some("policy:annotation=patch"),
            "any case, spaces around"
        );
        assert_eq!(
            policy
                .approves("hub", Some(" often "), bugfix)
                .unwrap_err()
                .to_string(),
            "annotation ml-operator.mojaloop.io/auto-approve: \" often \" is not an auto-approve level: use none, patch, bugfix, minor, major, true or false"
        );
        assert_eq!("yes".parse(), Ok(AutoApprove::Major));
        assert_eq!("NO".parse(), Ok(AutoApprove::None));
        assert_eq!(
            "never".parse::<AutoApprove>(),
            Err(InvalidLevel::new("never"))
        );
        assert!(!AutoApprove::None.allows(Strategy::Patch));
        assert!(AutoApprove::Major.allows(Strategy::Major));
    }
}
