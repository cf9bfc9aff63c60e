//! The `ImageUpgrade` custom resource (`ml-operator.mojaloop.io/v1alpha1`), one per
//! (workload, container, target image): the proposal in `spec`, the approval, window and history
//! in `status`.
//!
//! The contract (docs/upgrades.md, "The ImageUpgrade resource"): approving is
//! `spec.approved: true`; the phase is `status.phase`; the target workload is `spec.target`
//! (`kind`, `name`, `container`).
//!
//! In: nothing (types only). Out: the Rust types every other file of `upgrade/` reads and
//! writes, and [`crd_yaml`], the CustomResourceDefinition the chart ships.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `apiVersion` of the objects.
pub const API_VERSION: &str = "ml-operator.mojaloop.io/v1alpha1";
/// Label on every ImageUpgrade naming its workload, to find an object's siblings.
pub const WORKLOAD_LABEL: &str = "ml-operator.mojaloop.io/workload";
/// Label naming the container.
pub const CONTAINER_LABEL: &str = "ml-operator.mojaloop.io/container";
/// Annotation set by `ml-operator approve`/`reject` to record how the decision was made.
pub const DECIDED_VIA_ANNOTATION: &str = "ml-operator.mojaloop.io/decided-via";

/// A proposed container image upgrade and what became of it.
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
    /// The image the container runs now (as written in the workload).
    pub current_image: String,
    /// The image to move to: registry and repository as written, the new tag.
    pub target_image: String,
    /// The current tag.
    pub current_tag: String,
    /// The new tag.
    pub target_tag: String,
    /// How big the change is: `patch`, `bugfix`, `minor` or `major` (what auto-approval compares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The strategy that chose the target.
    #[serde(default)]
    pub strategy: String,
    /// Why this target, as the scan explained it.
    #[serde(default)]
    pub reason: String,
    /// Approve the upgrade: `kubectl patch imageupgrade NAME --type merge -p '{"spec":{"approved":true}}'`.
    #[serde(default)]
    pub approved: bool,
    /// Who approved (set by `ml-operator approve`; kubectl users may set it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Reject the upgrade: it will never be applied.
    #[serde(default)]
    pub rejected: bool,
    /// Who rejected (set by `ml-operator reject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// A window name overriding the workload's and namespace's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// The container an upgrade changes.
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

/// Where an upgrade is in its life.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, strum::Display,
)]
pub enum Phase {
    /// Proposed; waiting for an approval.
    Available,
    /// Approved (by a person or a policy); its window is being chosen.
    Approved,
    /// Waiting for its window (or a free slot, or its dependencies).
    Scheduled,
    /// Being patched, watched, or rolled back (`status.rollout` says which).
    Applying,
    /// Rolled out; the workload runs the target image.
    Succeeded,
    /// Could not be applied or rolled back; `status.message` says why.
    Failed,
    /// The rollout failed and the previous image was restored.
    RolledBack,
    /// A newer target appeared (or the workload changed) before it was applied.
    Superseded,
    /// Rejected by a person.
    Rejected,
}

impl Phase {
    /// Nothing more happens to an upgrade in this phase.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::Failed
                | Phase::RolledBack
                | Phase::Superseded
                | Phase::Rejected
        )
    }
}

/// What the operator has decided and done, each step recorded before it is taken.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpgradeStatus {
    /// The phase (absent on a new object: read as `Available`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The last thing worth saying (a reason for Failed/RolledBack/Superseded, what it waits for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who approved, when and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The window the upgrade waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowStatus>,
    /// The apply and rollout, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The ImageUpgrade that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The news already sent (`proposed`, `upgrade-succeeded`, …), so a restart does not
    /// send it twice.
    #[serde(default)]
    pub notified: Vec<String>,
    /// Every transition, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// An approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Who: `spec.approvedBy`, `policy`, or `unknown` for a bare `kubectl patch`.
    pub by: String,
    /// When the operator saw it.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// How: `cli`, `kubectl` or `policy:<rule>`.
    pub how: String,
}

/// The window chosen for an upgrade.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    /// The window's name (`anytime` when none is configured).
    pub name: String,
    /// When it opens next (or opened, if open).
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<DateTime<Utc>>,
    /// When that opening closes.
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<DateTime<Utc>>,
}

/// Where an apply stands; written before each action so a restart knows what was done.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The image found in the workload when the apply started: what a rollback restores.
    pub previous_image: String,
    /// When the apply started (the rollout timeout counts from the patch).
    #[schemars(with = "String")]
    pub started_at: DateTime<Utc>,
    /// When the workload was seen patched to the target image.
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched_at: Option<DateTime<Utc>>,
    /// The workload's `metadata.generation` carrying the new image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Set when the rollout failed: why; a rollback to `previousImage` is then under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
}

/// One transition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// The phase entered (or kept, for a step inside a phase).
    pub phase: Phase,
    /// What happened.
    pub message: String,
}

impl ImageUpgrade {
    /// The phase, `Available` when the status is not written yet.
    pub fn phase(&self) -> Phase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(Phase::Available)
    }

    /// The object's namespace (ImageUpgrades live next to their workload).
    pub fn namespace_or_default(&self) -> String {
        self.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// The object's name.
    pub fn name(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    /// `Deployment hub/central-ledger container central-ledger`: the target, for messages.
    pub fn target_text(&self) -> String {
        format!(
            "{} {}/{} container {}",
            self.spec.target.kind,
            self.namespace_or_default(),
            self.spec.target.name,
            self.spec.target.container
        )
    }
}

/// The CustomResourceDefinition YAML, as `ml-operator crd` prints it and the chart ships it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = ImageUpgrade::crd();
    serde_saphyr::to_string(&crd).expect("a CRD serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_has_the_contract_fields_and_columns() {
        let crd = serde_json::to_value(ImageUpgrade::crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "imageupgrades.ml-operator.mojaloop.io"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(
            version["subresources"]["status"].is_object(),
            "status subresource"
        );
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        for field in ["approved", "target", "targetImage", "currentImage"] {
            assert!(spec[field].is_object(), "spec.{field} in {spec:#}");
        }
        for field in ["kind", "name", "container"] {
            assert!(
                spec["target"]["properties"][field].is_object(),
                "spec.target.{field}"
            );
        }
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(
            columns.starts_with(&[
                "Phase",
                "Kind",
                "Workload",
                "Container",
                "From",
                "To",
                "Approved"
            ]),
            "{columns:?}"
        );
        let yaml = crd_yaml();
        assert!(yaml.contains("kind: CustomResourceDefinition"), "{yaml}");
        assert!(yaml.contains("group: ml-operator.mojaloop.io"), "{yaml}");
    }

    #[test]
    fn phase_defaults_to_available_and_terminal_phases() {
        let upgrade: ImageUpgrade = serde_json::from_value(serde_json::json!({
            "apiVersion": API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "x", "namespace": "hub"},
            "spec": {"target": {"kind": "Deployment", "name": "d", "container": "c"},
                     "currentImage": "a:1", "targetImage": "a:2", "currentTag": "1", "targetTag": "2"}
        }))
        .unwrap();
        assert_eq!(upgrade.phase(), Phase::Available);
        assert!(!upgrade.spec.approved);
        assert!(Phase::RolledBack.is_terminal() && !Phase::Applying.is_terminal());
        assert_eq!(
            serde_json::to_value(Phase::RolledBack).unwrap(),
            "RolledBack"
        );
    }
}
