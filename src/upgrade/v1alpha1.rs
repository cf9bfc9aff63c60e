//! The first version of the `ImageUpgrade` resource (`ml-operator.mojaloop.io/v1alpha1`): one
//! object per (workload, container, target image). The CRD still *serves* it, so objects an
//! older ml-operator left in a cluster can be read, but it is no longer stored or created:
//! [`super::legacy`] supersedes such objects on start, and the next scan proposes their moves
//! again as [`v1alpha2`](super::crd) groups.
//!
//! In: nothing (types only). Out: the v1alpha1 schema that [`super::crd::crd_yaml`] serves
//! next to v1alpha2, and [`API_VERSION`], which [`super::legacy`] reads old objects through.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::crd::{Approval, HistoryEntry, Phase, WindowStatus};

/// `apiVersion` of the objects.
pub const API_VERSION: &str = "ml-operator.mojaloop.io/v1alpha1";

/// A proposed upgrade of one container's image and what became of it (the v1alpha1 shape).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ml-operator.mojaloop.io",
    version = "v1alpha1",
    kind = "ImageUpgrade",
    plural = "imageupgrades",
    singular = "imageupgrade",
    shortname = "iu",
    namespaced,
    status = "ImageUpgradeStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.target.kind","priority":1}"#,
    printcolumn = r#"{"name":"Workload","type":"string","jsonPath":".spec.target.name"}"#,
    printcolumn = r#"{"name":"Container","type":"string","jsonPath":".spec.target.container"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.currentTag"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".spec.targetTag"}"#,
    printcolumn = r#"{"name":"Approved","type":"boolean","jsonPath":".spec.approved"}"#,
    printcolumn = r#"{"name":"Window","type":"string","jsonPath":".status.window.name"}"#,
    printcolumn = r#"{"name":"Opens","type":"date","jsonPath":".status.window.opensAt","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpgradeSpec {
    /// The workload and container to change.
    pub target: Target,
    /// The image the container ran (as written in the workload).
    pub current_image: String,
    /// The image to move to.
    pub target_image: String,
    /// The current tag.
    pub current_tag: String,
    /// The new tag.
    pub target_tag: String,
    /// How big the change is: `patch`, `bugfix`, `minor` or `major`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The strategy that chose the target.
    #[serde(default)]
    pub strategy: String,
    /// Why this target, as the scan explained it.
    #[serde(default)]
    pub reason: String,
    /// Approve the upgrade.
    #[serde(default)]
    pub approved: bool,
    /// Who approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Reject the upgrade.
    #[serde(default)]
    pub rejected: bool,
    /// Who rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// A window name overriding the workload's and namespace's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// The container a v1alpha1 upgrade changes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// The workload's name (in the ImageUpgrade's namespace).
    pub name: String,
    /// The container's name.
    pub container: String,
    /// Whether it is an init container.
    #[serde(default)]
    pub init_container: bool,
}

/// What the operator decided and did (the v1alpha1 shape).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpgradeStatus {
    /// The phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The last thing worth saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who approved, when and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The window the upgrade waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowStatus>,
    /// The apply and rollout, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The ImageUpgrade that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The news already sent.
    #[serde(default)]
    pub notified: Vec<String>,
    /// Every transition, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// Where a v1alpha1 apply stood.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The image found in the workload when the apply started.
    pub previous_image: String,
    /// When the apply started.
    #[schemars(with = "String")]
    pub started_at: DateTime<Utc>,
    /// When the workload was seen patched.
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched_at: Option<DateTime<Utc>>,
    /// The workload's generation carrying the new image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Why the rollout failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
}
