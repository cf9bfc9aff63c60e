//! [`Error`]: the ways leader election stops for good. Transient API trouble (unavailable
//! server, 5xx, 429, timeouts, conflicts) is retried inside the elector and never surfaces here.

/// A fatal leader-election error. Each names the Lease (`namespace/name`) and, where there is
/// one, the API server's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`LeaseConfig`](crate::LeaseConfig) is unusable (see [`LeaseConfig::validate`](crate::LeaseConfig::validate)).
    #[error("invalid leader election settings for lease {namespace}/{name}: {problem}")]
    InvalidConfig {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// What is wrong.
        problem: String,
    },

    /// The API server answered 403: the service account lacks an RBAC verb on Leases.
    #[error(
        "leader election on lease {namespace}/{name} is forbidden: RBAC does not allow verb \"{verb}\" on resource \"leases\" in API group \"coordination.k8s.io\" in namespace {namespace} (the elector needs get, create and update): {}",
        describe(source)
    )]
    Forbidden {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The missing verb: `get`, `create` or `update`.
        verb: &'static str,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
    },

    /// The API server rejected the request as invalid (400/422); retrying cannot help.
    #[error(
        "the API server rejected {verb} of lease {namespace}/{name}: {}",
        describe(source)
    )]
    Rejected {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The verb that was rejected: `get`, `create` or `update`.
        verb: &'static str,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
    },
}

/// A short description of a kube-rs error: for API answers, the server's message with its
/// code and reason (kube's own Display repeats the whole `Status` in Debug form).
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("leases.coordination.k8s.io \"l\" is forbidden", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn forbidden_names_lease_verb_resource_and_group() {
        let e = Error::Forbidden {
            namespace: "ops".into(),
            name: "ml-operator-leader".into(),
            verb: "create",
            source: Box::new(api_error(403, "Forbidden")),
        };
        let msg = e.to_string();
        for want in [
            "ops/ml-operator-leader",
            "\"create\"",
            "\"leases\"",
            "coordination.k8s.io",
            "is forbidden",
        ] {
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        }
    }

    #[test]
    fn rejected_names_lease_and_api_error() {
        let e = Error::Rejected {
            namespace: "ops".into(),
            name: "l".into(),
            verb: "update",
            source: Box::new(api_error(422, "Invalid")),
        };
        let msg = e.to_string();
        assert!(msg.contains("update of lease ops/l"), "{msg}");
        assert!(
            msg.ends_with("leases.coordination.k8s.io \"l\" is forbidden (422 Invalid)"),
            "{msg}"
        );
    }
}
