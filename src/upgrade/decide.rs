//! `ml-operator approve NAME` and `reject NAME`: a person's decision, written to the
//! ImageUpgrade's spec (the contract: approving is `spec.approved: true`).
//!
//! In: the ImageUpgrade's namespace and name, the [`Decision`] and who made it. Out: the
//! updated object, or a [`DecideError`] naming the ImageUpgrade.

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::crd::{DECIDED_VIA_ANNOTATION, ImageUpgrade, Phase};

/// A person's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead (in the upgrade's window).
    Approve,
    /// Never apply it.
    Reject,
}

/// Why a decision could not be recorded; names the ImageUpgrade.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No such ImageUpgrade.
    #[error(
        "imageupgrade {name} not found in namespace {namespace} (list them with `kubectl get imageupgrades -A`)"
    )]
    NotFound {
        /// The name given.
        name: String,
        /// The namespace looked in.
        namespace: String,
    },
    /// It is past the point where a decision matters.
    #[error("imageupgrade {namespace}/{name} is {phase}{detail}: there is nothing to decide")]
    Final {
        /// The name.
        name: String,
        /// The namespace.
        namespace: String,
        /// Its phase.
        phase: Phase,
        /// More, e.g. what superseded it.
        detail: String,
    },
    /// The API server refused.
    #[error("imageupgrade {namespace}/{name}: {source}")]
    Api {
        /// The name.
        name: String,
        /// The namespace.
        namespace: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// Records `decision` by `by` on ImageUpgrade `namespace/name`; returns the updated object.
pub async fn decide(
    client: &Client,
    namespace: &str,
    name: &str,
    decision: Decision,
    by: &str,
) -> Result<ImageUpgrade, DecideError> {
    let api: Api<ImageUpgrade> = Api::namespaced(client.clone(), namespace);
    let api_error = |source| DecideError::Api {
        name: name.into(),
        namespace: namespace.into(),
        source,
    };
    let upgrade =
        api.get_opt(name)
            .await
            .map_err(api_error)?
            .ok_or_else(|| DecideError::NotFound {
                name: name.into(),
                namespace: namespace.into(),
            })?;
    let phase = upgrade.phase();
    if phase.is_terminal() || (phase == Phase::Applying && decision == Decision::Reject) {
        let detail = match upgrade
            .status
            .as_ref()
            .and_then(|s| s.superseded_by.as_ref())
        {
            Some(newer) => format!(" (by {newer}; decide on that one)"),
            None => String::new(),
        };
        return Err(DecideError::Final {
            name: name.into(),
            namespace: namespace.into(),
            phase,
            detail,
        });
    }
    let spec = match decision {
        Decision::Approve => json!({"approved": true, "approvedBy": by, "rejected": false}),
        Decision::Reject => json!({"rejected": true, "rejectedBy": by, "approved": false}),
    };
    let patch = json!({
        "metadata": {"annotations": {DECIDED_VIA_ANNOTATION: "cli"}},
        "spec": spec,
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error)
}

/// Who is deciding, when `--by` is not given: the login name, else `ml-operator`.
pub fn default_decider() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "ml-operator".into())
}
