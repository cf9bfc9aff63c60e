//! What a scan says about each container ([`Finding`], the `-o json` contract field for field,
//! with the supply-chain fields `runningDigest`, `registryDigest`, `heldBack` and `signature`
//! when they apply) and about the whole scan ([`Summary`], [`Report`] with its per-workload
//! patches).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ml_operator_version::{Resolution, Strategy};
use serde::Serialize;

use crate::inventory::ManagedBy;

/// What a scan decided for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Status {
    /// A newer tag is allowed by the strategy.
    UpdateAvailable,
    /// The current tag is the newest allowed.
    UpToDate,
    /// No decision could be made (not a version tag, no tags known, …); the reason says why.
    Unresolved,
    /// Left out on purpose (the `ignore` annotation).
    Skipped,
    /// The registry serves other content for the running tag than the nodes pulled (or than
    /// the image's digest pin): the tag was re-pushed. Takes precedence over an update.
    TagOverwritten,
    /// The running tag is gone from the registry's tag list: rescheduling a Pod or rolling
    /// back to it will fail. Takes precedence over an update.
    TagMissing,
}

/// Whether an upgrade target carries a cosign signature made with the registry's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// Signed with the key, the signature bound to the target digest.
    Verified,
    /// No signature at all.
    Unsigned,
    /// Signatures exist, none verifies.
    Invalid,
    /// Not checked (the registry could not be asked).
    Unknown,
}

/// A newer tag held back by the release cool-down (`minimumReleaseAge`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldBack {
    /// The newest allowed tag that is too young.
    pub tag: String,
    /// When its image was built (its config's `created`).
    pub created: DateTime<Utc>,
    /// When it is old enough.
    pub until: DateTime<Utc>,
    /// The age asked for (`24h`).
    pub minimum_release_age: String,
}

impl HeldBack {
    /// `v1.2.4 is held back until 2026-…Z (minimumReleaseAge 24h; built 2026-…Z)`.
    pub fn describe(&self) -> String {
        format!(
            "{} is held back until {} (minimumReleaseAge {}; built {})",
            self.tag,
            self.until
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.minimum_release_age,
            self.created
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

impl Status {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One container's result: the JSON output contract (`-o json`), field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The kubeconfig context of the cluster the workload runs in: only in a fleet scan
    /// (`check --context A --context B`, `--all-contexts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Workload kind (`Deployment`).
    pub kind: &'static str,
    /// Workload namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Container name.
    pub container: String,
    /// Whether the container is an init container.
    pub init_container: bool,
    /// The image exactly as written.
    pub image: String,
    /// The repository, as people name it (`mojaloop/central-ledger`, `ghcr.io/org/app`).
    pub repository: String,
    /// The current tag, if the image has one.
    pub current_tag: Option<String>,
    /// The newest allowed tag, when it differs from the current one.
    pub latest_tag: Option<String>,
    /// The image to move to: registry and repository as written, the new tag.
    pub latest_image: Option<String>,
    /// The strategy applied (the workload's annotation wins over the run's setting).
    pub strategy: Strategy,
    /// The decision.
    pub status: Status,
    /// One line saying why.
    pub reason: String,
    /// A ready-to-run `kubectl patch` when there is an update and the object can be patched:
    /// its workload's one command, which changes every container of it with an update (one
    /// string shared with the workload's other findings and its patch).
    #[serde(serialize_with = "serialize_shared")]
    pub command: Option<Command>,
    /// Things the operator should know before acting (a digest pin, an immutable Job…).
    pub notes: Vec<String>,
    /// The Helm release managing the workload, when it has an update: the next `helm upgrade`
    /// of that release reverts a `kubectl patch`, so the new tag belongs in the release's values.
    pub helm_release: Option<String>,
    /// Who applies the workload (Helm, Argo CD, Flux), when its markers say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<Box<ManagedBy>>,
    /// The Helm release values that render this image, when the release could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<Box<HelmValues>>,
    /// The digest the nodes pulled for the current tag (the one that differs, when Pods
    /// disagree), or the image's digest pin; only when compared with the registry.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_shared"
    )]
    pub running_digest: Option<Arc<str>>,
    /// The digest the registry serves for the current tag now; only when asked.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_shared"
    )]
    pub registry_digest: Option<Arc<str>>,
    /// A newer tag the release cool-down holds back, and until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_back: Option<Box<HeldBack>>,
    /// The target's signature, when its registry has a `verify` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureStatus>,
    /// The full decision, every candidate with its verdict; only with `--explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Box<Resolution>>,
}

/// A `kubectl patch` command: one per workload, shared by the workload's findings and its
/// [`WorkloadPatch`](super::WorkloadPatch) rather than copied into each (a report holds
/// thousands).
pub type Command = Arc<str>;

/// A string shared between findings (a command, a digest) as a JSON string (or `null`), as
/// `-o json` has always written it.
fn serialize_shared<S: serde::Serializer>(
    shared: &Option<Arc<str>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match shared {
        Some(shared) => serializer.serialize_some(&**shared),
        None => serializer.serialize_none(),
    }
}

/// Where a Helm release sets a finding's image (`helm` in `-o json`, the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmValues {
    /// The release.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The chart's name.
    pub chart: String,
    /// The chart's version.
    pub chart_version: String,
    /// The values key to change (`--set` syntax); `None` when no key or several keys hold the
    /// image (the finding's notes say which).
    pub values_path: Option<String>,
}

/// One `helm upgrade` per release: every values key of it that an update changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmUpgrade {
    /// The kubeconfig context of the release's cluster: only in a fleet scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The release.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The chart reference the command uses.
    pub chart: String,
    /// How the chart reference was chosen (`--helm-chart`, or guessed from the chart's name).
    pub chart_source: String,
    /// The chart version deployed, kept by the command.
    pub chart_version: String,
    /// `(values path, new value)` pairs, in path order.
    pub set: Vec<(String, String)>,
    /// The command, every word shell-quoted.
    pub command: String,
}

/// Counts over a scan, for the summary line and JSON `summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Workloads scanned.
    pub workloads: usize,
    /// Containers (including init containers) scanned.
    pub containers: usize,
    /// Containers with an update available (whatever their status: an overwritten or
    /// missing tag may have one too).
    pub updates: usize,
    /// Containers already on the newest allowed tag.
    pub up_to_date: usize,
    /// Containers without a decision.
    pub unresolved: usize,
    /// Containers skipped on purpose.
    pub skipped: usize,
    /// Objects that are not workloads, counted and skipped.
    pub other_objects: usize,
    /// Workloads left out because their controller (also scanned) is reported instead.
    pub controlled: usize,
    /// Containers whose running tag was overwritten in the registry.
    #[serde(skip_serializing_if = "is_zero")]
    pub tag_overwritten: usize,
    /// Containers whose running tag is gone from the registry.
    #[serde(skip_serializing_if = "is_zero")]
    pub tag_missing: usize,
    /// In a fleet scan, each cluster scanned with its own counts, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterSummary>,
    /// In a fleet scan, each cluster that could not be read, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_clusters: Vec<FailedCluster>,
}

/// One cluster's counts in a fleet scan (`summary.clusters[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
    /// The kubeconfig context.
    pub name: String,
    /// Its counts (never with nested clusters).
    #[serde(flatten)]
    pub counts: Summary,
}

/// A cluster of a fleet scan that could not be read (`summary.failedClusters[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCluster {
    /// The kubeconfig context.
    pub name: String,
    /// Why (names the context and server, never a credential).
    pub error: String,
}

impl Summary {
    /// Adds another scan's counts to these (the cluster lists are left alone).
    pub fn add(&mut self, other: &Summary) {
        self.workloads += other.workloads;
        self.containers += other.containers;
        self.updates += other.updates;
        self.up_to_date += other.up_to_date;
        self.unresolved += other.unresolved;
        self.skipped += other.skipped;
        self.other_objects += other.other_objects;
        self.controlled += other.controlled;
        self.tag_overwritten += other.tag_overwritten;
        self.tag_missing += other.tag_missing;
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Finding {
    /// Whether the finding calls for an upgrade the operator may propose: there is a target,
    /// and when its registry verifies signatures, the target's is verified.
    pub fn proposable(&self) -> bool {
        matches!(
            self.status,
            Status::UpdateAvailable | Status::TagOverwritten | Status::TagMissing
        ) && self.latest_image.is_some()
            && self
                .signature
                .is_none_or(|s| s == SignatureStatus::Verified)
    }
}

/// A scan's findings, patches and summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// One finding per container, in workload and container order.
    pub findings: Vec<Finding>,
    /// One patch per workload with updates, in workload order.
    pub patches: Vec<super::WorkloadPatch>,
    /// One `helm upgrade` per release whose values could be traced (filled after the scan,
    /// when releases were read).
    pub helm_upgrades: Vec<HelmUpgrade>,
    /// The counts.
    pub summary: Summary,
}
