//! `upgrades.onFailure`: what happens to a group's other workloads when one of them fails to
//! roll out. A configuration value, so it lives here; the upgrader ([`crate::upgrade`]) applies
//! it and records it on each ImageUpgrade it starts.

use serde::{Deserialize, Serialize};

/// What a failed rollout in an ImageUpgrade group rolls back. Either way the group stops: no
/// workload after the failed one is started.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum OnFailure {
    /// Every workload of the group already changed goes back, in reverse order (the default):
    /// the namespace ends on one tag of the repository, the old one.
    #[default]
    RollbackGroup,
    /// Only the workload whose rollout failed goes back; the ones before it keep the new tag.
    RollbackFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_configured() {
        assert_eq!(OnFailure::default(), OnFailure::RollbackGroup);
        assert_eq!(OnFailure::RollbackFailed.to_string(), "rollbackFailed");
        assert_eq!(
            serde_json::from_str::<OnFailure>("\"rollbackFailed\"").unwrap(),
            OnFailure::RollbackFailed
        );
        assert!(serde_json::from_str::<OnFailure>("\"rollback\"").is_err());
    }
}
