//! [`LeaseConfig`]: which Lease to contend for, who we are, and the three timings of
//! client-go's leader election (lease duration, renew deadline, retry period).

use crate::Error;
use std::time::Duration;

/// client-go's `JitterFactor`: followers wait `retry_period * (1 + rand * 1.2)` between
/// attempts, and the renew deadline must exceed `1.2 * retry_period`.
pub(crate) const JITTER_FACTOR: f64 = 1.2;

/// Where the Lease lives, who this replica is, and how fast leadership moves.
///
/// Defaults (via [`LeaseConfig::new`]) are client-go's and kube-controller-manager's:
/// 15 s lease, 10 s renew deadline, 2 s retry period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (usually the operator's own namespace).
    pub namespace: String,
    /// Name of the Lease (e.g. `ml-operator-leader`); every replica must use the same one.
    pub name: String,
    /// This replica's identity, written to `holderIdentity`; unique per replica (the pod name).
    pub identity: String,
    /// How long followers wait, from the last time they saw the Lease change, before they may
    /// take it over (`leaseDurationSeconds`, whole seconds, at least 1 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down; shorter than
    /// `lease_duration` so the leader stops before anyone else may take over.
    pub renew_deadline: Duration,
    /// Interval between renewals (leader) and acquisition attempts (followers, plus jitter).
    pub retry_period: Duration,
    /// How long releasing the Lease on shutdown may take before giving up (the Lease then
    /// expires after `lease_duration`). Short, so a replica whose API server is gone still
    /// exits well inside Kubernetes' termination grace period.
    pub release_timeout: Duration,
}

/// Default [`LeaseConfig::release_timeout`]: 2 s.
pub const DEFAULT_RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

impl LeaseConfig {
    /// A config with client-go's default timings (15 s / 10 s / 2 s).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_timeout: DEFAULT_RELEASE_TIMEOUT,
        }
    }

    /// Checks the settings the way client-go's `NewLeaderElector` does, so a bad
    /// configuration fails at start instead of electing two leaders later.
    ///
    /// Rules: namespace, name and identity are non-empty; `lease_duration` is at least 1 s
    /// and longer than `renew_deadline`; `renew_deadline` is longer than
    /// `1.2 * retry_period`; `retry_period` is positive.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |problem: String| Error::InvalidConfig {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            problem,
        };
        if self.namespace.is_empty() {
            return Err(bad("namespace is empty".into()));
        }
        if self.name.is_empty() {
            return Err(bad("lease name is empty".into()));
        }
        if self.identity.is_empty() {
            return Err(bad("identity is empty (set it to the pod name)".into()));
        }
        if self.retry_period.is_zero() {
            return Err(bad("retry_period must be greater than zero".into()));
        }
        if self.lease_duration < Duration::from_secs(1) {
            return Err(bad(format!(
                "lease_duration {:?} is shorter than 1s (the Lease stores whole seconds)",
                self.lease_duration
            )));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(bad(format!(
                "lease_duration {:?} must be greater than renew_deadline {:?}",
                self.lease_duration, self.renew_deadline
            )));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(bad(format!(
                "renew_deadline {:?} must be greater than {JITTER_FACTOR} * retry_period {:?}",
                self.renew_deadline, self.retry_period
            )));
        }
        if i32::try_from(self.lease_duration.as_secs()).is_err() {
            return Err(bad(format!(
                "lease_duration {:?} does not fit leaseDurationSeconds",
                self.lease_duration
            )));
        }
        Ok(())
    }

    /// `leaseDurationSeconds` as written to the Lease (whole seconds, like client-go).
    pub(crate) fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// `namespace/name`, for logs.
    pub(crate) fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LeaseConfig {
        LeaseConfig::new("ops", "ml-operator-leader", "pod-a")
    }

    #[test]
    fn defaults_are_client_go_defaults_and_valid() {
        let c = cfg();
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        c.validate().expect("defaults are valid");
        assert_eq!(c.lease_duration_seconds(), 15);
    }

    #[test]
    fn short_test_timings_are_valid() {
        let c = LeaseConfig {
            lease_duration: Duration::from_secs(2),
            renew_deadline: Duration::from_secs(1),
            retry_period: Duration::from_millis(200),
            ..cfg()
        };
        c.validate().expect("valid");
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases: Vec<(LeaseConfig, &str)> = vec![
            (
                LeaseConfig {
                    identity: String::new(),
                    ..cfg()
                },
                "identity is empty",
            ),
            (
                LeaseConfig {
                    name: String::new(),
                    ..cfg()
                },
                "lease name is empty",
            ),
            (
                LeaseConfig {
                    namespace: String::new(),
                    ..cfg()
                },
                "namespace is empty",
            ),
            (
                LeaseConfig {
                    renew_deadline: Duration::from_secs(15),
                    ..cfg()
                },
                "must be greater than renew_deadline",
            ),
            (
                LeaseConfig {
                    lease_duration: Duration::from_millis(900),
                    renew_deadline: Duration::from_millis(500),
                    retry_period: Duration::from_millis(100),
                    ..cfg()
                },
                "shorter than 1s",
            ),
            (
                LeaseConfig {
                    retry_period: Duration::from_secs(9),
                    ..cfg()
                },
                "1.2 * retry_period",
            ),
            (
                LeaseConfig {
                    retry_period: Duration::ZERO,
                    ..cfg()
                },
                "retry_period must be greater than zero",
            ),
        ];
        for (c, want) in cases {
            let msg = c.validate().expect_err(want).to_string();
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
            if !c.namespace.is_empty() && !c.name.is_empty() {
                assert!(
                    msg.contains("ops/ml-operator-leader"),
                    "{msg:?} names the lease"
                );
            }
        }
    }
}
