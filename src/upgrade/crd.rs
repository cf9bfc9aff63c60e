//! The `ImageUpgrade` custom resource, `ml-operator.mojaloop.io/v1alpha2`: one **group** per
//! (namespace, repository, target tag) — every workload and container in that namespace that
//! runs the repository at an older tag the strategy moves to that target. The proposal is in
//! `spec`; the approval, window, per-workload rollout and history in `status`.
//!
//! The contract (docs/upgrades.md, "The ImageUpgrade resource"): approving is
//! `spec.approved: true`; the phase is `status.phase`; the workloads are `spec.targets`
//! (`kind`, `name`, `containers: [{name, initContainer, currentImage, targetImage}]`), with
//! `spec.repository` and `spec.targetTag`. Each workload gets one patch per group.
//!
//! In: nothing (types only). Out: the Rust types every other file of `upgrade/` reads and
//! writes, and [`crd_yaml`], the CustomResourceDefinition the chart ships: v1alpha2 served and
//! stored, [`v1alpha1`](super::v1alpha1) still served (not stored) for objects left by an older
//! ml-operator.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::config::OnFailure;
use crate::inventory::ImageRef;

/// `apiVersion` of the objects.
pub const API_VERSION: &str = "ml-operator.mojaloop.io/v1alpha2";
/// Annotation set by `ml-operator approve`/`reject` to record how the decision was made.
pub const DECIDED_VIA_ANNOTATION: &str = "ml-operator.mojaloop.io/decided-via";
/// What `spec.currentTag` says when the group's workloads run different current tags.
pub const SEVERAL: &str = "several";

/// A proposed move of one repository to one tag across a namespace, and what became of it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ml-operator.mojaloop.io",
    version = "v1alpha2",
    kind = "ImageUpgrade",
    plural = "imageupgrades",
    singular = "imageupgrade",
    shortname = "iu",
    namespaced,
    status = "ImageUpgradeStatus",
    printcolumn = r#"{"name":"Repository","type":"string","jsonPath":".spec.repository"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.currentTag"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".spec.targetTag"}"#,
    printcolumn = r#"{"name":"Workloads","type":"integer","jsonPath":".spec.workloadCount"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Window","type":"string","jsonPath":".status.window.name"}"#,
    printcolumn = r#"{"name":"Approved","type":"boolean","jsonPath":".spec.approved","priority":1}"#,
    printcolumn = r#"{"name":"Opens","type":"string","description":"When the window opens (a timestamp: kubectl shows a future date column as <invalid>)","jsonPath":".status.window.opensAt","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpgradeSpec {
    /// The repository, as people name it (`mojaloop/central-ledger`).
    #[serde(default)]
    pub repository: String,
    /// The tag every target moves to.
    #[serde(default)]
    pub target_tag: String,
    /// The targets' current tag, or `several` when they differ (for `kubectl get`).
    #[serde(default)]
    pub current_tag: String,
    /// How many workloads the group changes (for `kubectl get`).
    #[serde(default)]
    #[schemars(with = "i64")]
    pub workload_count: usize,
    /// The workloads to change, in the order they are applied (the first is the canary).
    #[serde(default)]
    pub targets: Vec<Target>,
    /// How big the change is: `patch`, `bugfix`, `minor` or `major`, the widest of the
    /// targets' (what auto-approval compares); absent when a tag is not a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The strategy that chose the target (several, comma-separated, when workloads differ).
    #[serde(default)]
    pub strategy: String,
    /// Why this target, as the scan explained it.
    #[serde(default)]
    pub reason: String,
    /// Approve the group: `kubectl patch imageupgrade NAME --type merge -p '{"spec":{"approved":true}}'`.
    #[serde(default)]
    pub approved: bool,
    /// Who approved (set by `ml-operator approve`; kubectl users may set it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The approvals counted so far through Slack or the admin API, one per person; `approved`
    /// is set once there are `upgrades.requiredApprovals` of them for this proposal. Always
    /// written (also empty), so a renewed proposal starts with none.
    #[serde(default)]
    pub approvals: Vec<Vote>,
    /// Reject the group: it will never be applied.
    #[serde(default)]
    pub rejected: bool,
    /// Who rejected (set by `ml-operator reject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// A window name overriding the workloads' and namespace's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// One person's approval, counted towards `upgrades.requiredApprovals`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vote {
    /// Who: `slack:<user id>`, or `api:<Kubernetes user name>`.
    pub by: String,
    /// Their display name, when known (Slack's user name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// How: `slack` or `api`.
    pub how: String,
    /// The proposal round approved ([`super::ballot::Ballot::proposal_of`]): a vote counts
    /// only in the round it was cast in (not after the group is proposed again).
    pub proposal: String,
}

/// One workload of a group and the containers the group changes in it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// The workload's name (in the ImageUpgrade's namespace).
    pub name: String,
    /// Its containers on the repository (init containers included), all patched at once.
    pub containers: Vec<ContainerTarget>,
}

/// One container of a target workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerTarget {
    /// The container's name.
    pub name: String,
    /// Whether it is an init container.
    #[serde(default)]
    pub init_container: bool,
    /// The image it runs now (as written in the workload).
    pub current_image: String,
    /// The image to move to: registry and repository as written, the target tag.
    pub target_image: String,
    /// The Helm values key that sets its tag, when the operator read the workload's release
    /// (`helm.readReleases`) and the release named one: what `helm upgrade --set` changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_path: Option<String>,
}

/// Where an upgrade is in its life.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
    strum::Display,
)]
pub enum Phase {
    /// Proposed; waiting for an approval.
    Available,
    /// Approved (by a person or a policy); its window is being chosen.
    Approved,
    /// Waiting for its window (or a free slot, or its dependencies).
    Scheduled,
    /// Its workloads are being patched, watched, or rolled back (`status.rollout` says which).
    Applying,
    /// Rolled out; every workload that stayed in the group runs the target.
    Succeeded,
    /// Could not be applied or rolled back; `status.message` says why.
    Failed,
    /// A rollout failed and the workloads `onFailure` names were restored.
    RolledBack,
    /// A newer target appeared (or the workloads changed) before it was applied.
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

    /// Waiting to be applied: proposed, approved or scheduled.
    pub fn is_pending(self) -> bool {
        matches!(self, Phase::Available | Phase::Approved | Phase::Scheduled)
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
    /// The apply and rollouts, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<GroupRollout>,
    /// The ImageUpgrade that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Git delivery (`upgrades.delivery: git`): the commit, its branch and pull request, and
    /// the revert commit after a failed rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<GitDeliveryStatus>,
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

/// A group's apply: its workloads in order, each with its own state, written before each
/// action so a restart knows what was done.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRollout {
    /// When the apply started.
    #[schemars(with = "String")]
    pub started_at: DateTime<Utc>,
    /// What a failed rollout rolls back, as configured when the apply started.
    pub on_failure: OnFailure,
    /// Set when a rollout failed: why; the group then stops and rolls back per `onFailure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
    /// Every target workload, in the order they are applied.
    pub workloads: Vec<WorkloadRollout>,
}

impl GroupRollout {
    /// `Kind name` of each workload in `state`, in apply order.
    pub fn names_in(&self, state: WorkloadState) -> Vec<String> {
        self.workloads
            .iter()
            .filter(|w| w.state == state)
            .map(|w| format!("{} {}", w.kind, w.name))
            .collect()
    }

    /// How a finished group ended, in words: `what: Kind name, …` for each listed state that
    /// has workloads, joined by `; ` (the message of its last history entry).
    pub fn outcome(&self, states: &[(WorkloadState, &str)]) -> String {
        states
            .iter()
            .filter_map(|(state, what)| {
                let names = self.names_in(*state);
                (!names.is_empty()).then(|| format!("{what}: {}", names.join(", ")))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A group delivered as a commit of the GitOps repository; the workloads' rollouts are then
/// watched as Argo CD or Flux syncs it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitDeliveryStatus {
    /// The repository (`git.url`; it never holds a credential).
    pub repository: String,
    /// The commit's branch: `ml-operator/<name>` with a pull request, else `git.branch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit's SHA, once pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The pull (merge) request's web URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    /// When the commit was pushed (with `provider: none` the sync timeout counts from here).
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
    /// The revert commit's SHA, after a failed rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_commit: Option<String>,
    /// The revert's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_branch: Option<String>,
    /// The revert's pull (merge) request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_pull_request: Option<String>,
    /// When the revert was pushed.
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_at: Option<DateTime<Utc>>,
}

/// One workload of a group's apply.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRollout {
    /// The workload's kind.
    pub kind: String,
    /// The workload's name.
    pub name: String,
    /// Where it is.
    pub state: WorkloadState,
    /// Its containers in the group: the images found when it started (what a rollback
    /// restores) and the targets.
    #[serde(default)]
    pub containers: Vec<ContainerRollout>,
    /// When it was seen patched (the rollout timeout counts from here).
    #[schemars(with = "Option<String>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched_at: Option<DateTime<Utc>>,
    /// Its `metadata.generation` carrying the new images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The last thing worth saying about it (why it failed, left the group, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One container of a [`WorkloadRollout`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRollout {
    /// The container's name.
    pub name: String,
    /// Whether it is an init container.
    #[serde(default)]
    pub init_container: bool,
    /// The image it ran when the workload's apply started.
    pub previous_image: String,
    /// The image the group sets.
    pub target_image: String,
}

/// Where one workload of a group's apply is.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, strum::Display,
)]
pub enum WorkloadState {
    /// Not started.
    Pending,
    /// Its previous images are recorded; the patch is next (or was sent just before a crash).
    Patching,
    /// Patched; its rollout is being watched.
    RollingOut,
    /// Rolled out.
    Succeeded,
    /// To be patched back to its previous images (or patched back just before a crash).
    RollingBack,
    /// Patched back to its previous images.
    RolledBack,
    /// Left the group before it was patched (deleted, or changed by someone else).
    Skipped,
    /// Could not be applied or restored (changed by someone else meanwhile); left as it is.
    Failed,
}

impl WorkloadState {
    /// Patched or being patched, and not yet finished.
    pub fn in_flight(self) -> bool {
        matches!(self, WorkloadState::Patching | WorkloadState::RollingOut)
    }
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

    /// The object's namespace (ImageUpgrades live next to their workloads).
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

    /// `mojaloop/central-ledger v19.8.3 → v19.8.9: 8 workloads in mojaloop`: the group, for
    /// messages.
    pub fn summary(&self) -> String {
        let count = self.spec.targets.len();
        format!(
            "{} {} → {}: {count} {} in {}",
            self.spec.repository,
            self.from_tags().join(", "),
            self.spec.target_tag,
            if count == 1 { "workload" } else { "workloads" },
            self.namespace_or_default()
        )
    }

    /// The targets' distinct current tags, in order of first appearance.
    pub fn from_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for container in self.spec.targets.iter().flat_map(|t| &t.containers) {
            let tag = ImageRef::parse(&container.current_image)
                .ok()
                .and_then(|image| image.tag().map(str::to_string))
                .unwrap_or_else(|| container.current_image.clone());
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }
}

/// The CustomResourceDefinition YAML, as `ml-operator crd` prints it and the chart ships it:
/// v1alpha2 served and stored, v1alpha1 still served (so objects an older ml-operator left can
/// be read and superseded) but not stored.
pub fn crd_yaml() -> String {
    serde_saphyr::to_string(&crd()).expect("a CRD serializes")
}

/// The CustomResourceDefinition serving both versions, v1alpha2 as the storage version.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    kube::core::crd::merge_crds(
        vec![super::v1alpha1::ImageUpgrade::crd(), ImageUpgrade::crd()],
        "v1alpha2",
    )
    .expect("the two versions share group, kind, names and scope")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_has_the_contract_fields_and_columns() {
        let crd = serde_json::to_value(super::crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "imageupgrades.ml-operator.mojaloop.io"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let versions = crd["spec"]["versions"].as_array().unwrap();
        let version = |name: &str| {
            versions
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{name} in {versions:?}"))
        };
        let (old, new) = (version("v1alpha1"), version("v1alpha2"));
        assert_eq!(
            (old["served"].as_bool(), old["storage"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(
            (new["served"].as_bool(), new["storage"].as_bool()),
            (Some(true), Some(true))
        );
        assert!(
            new["subresources"]["status"].is_object(),
            "status subresource"
        );
        let spec = &new["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        for field in ["approved", "targets", "repository", "targetTag"] {
            assert!(spec[field].is_object(), "spec.{field} in {spec:#}");
        }
        let containers =
            &spec["targets"]["items"]["properties"]["containers"]["items"]["properties"];
        for field in ["name", "initContainer", "currentImage", "targetImage"] {
            assert!(containers[field].is_object(), "containers[].{field}");
        }
        let columns: Vec<&str> = new["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"].as_i64().unwrap_or(0) == 0)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            columns,
            [
                "Repository",
                "From",
                "To",
                "Workloads",
                "Phase",
                "Window",
                "Age"
            ]
        );
        let yaml = crd_yaml();
        assert!(yaml.contains("kind: CustomResourceDefinition"), "{yaml}");
        assert!(yaml.contains("group: ml-operator.mojaloop.io"), "{yaml}");
    }

    #[test]
    fn phase_defaults_to_available_and_a_group_summarizes_itself() {
        let upgrade: ImageUpgrade = serde_json::from_value(serde_json::json!({
            "apiVersion": API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v19.8.9", "namespace": "mojaloop"},
            "spec": {"repository": "mojaloop/central-ledger", "targetTag": "v19.8.9",
                     "targets": [
                        {"kind": "Deployment", "name": "a", "containers": [
                            {"name": "app", "currentImage": "mojaloop/central-ledger:v19.8.3", "targetImage": "mojaloop/central-ledger:v19.8.9"},
                            {"name": "run-migration", "initContainer": true, "currentImage": "mojaloop/central-ledger:v19.8.3", "targetImage": "mojaloop/central-ledger:v19.8.9"}]},
                        {"kind": "Deployment", "name": "b", "containers": [
                            {"name": "app", "currentImage": "docker.io/mojaloop/central-ledger:v19.8.5", "targetImage": "docker.io/mojaloop/central-ledger:v19.8.9"}]}]}
        }))
        .unwrap();
        assert_eq!(upgrade.phase(), Phase::Available);
        assert!(!upgrade.spec.approved);
        assert_eq!(
            upgrade.summary(),
            "mojaloop/central-ledger v19.8.3, v19.8.5 → v19.8.9: 2 workloads in mojaloop"
        );
        assert!(Phase::RolledBack.is_terminal() && !Phase::Applying.is_terminal());
        assert!(Phase::Scheduled.is_pending() && !Phase::Applying.is_pending());
        assert_eq!(
            serde_json::to_value(Phase::RolledBack).unwrap(),
            "RolledBack"
        );
        // A v1alpha1-shaped object read as v1alpha2: no targets, nothing to apply.
        let old: ImageUpgrade = serde_json::from_value(serde_json::json!({
            "apiVersion": API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "x", "namespace": "hub"},
            "spec": {"target": {"kind": "Deployment", "name": "d", "container": "c"},
                     "currentImage": "a:1", "targetImage": "a:2", "currentTag": "1", "targetTag": "2"}
        }))
        .unwrap();
        assert!(old.spec.targets.is_empty() && old.spec.repository.is_empty());
    }
}
