//! One scan: every container of every workload, resolved against the tags its repository has.
//!
//! The scan itself is pure and synchronous: tags are looked up through [`TagLookup`], which an
//! offline index answers directly and a registry answers from tags fetched beforehand (one walk
//! per repository). That keeps the decision logic testable without any I/O.

use std::collections::BTreeMap;

use ml_operator_version::{Outcome, Resolution, Strategy, TagSet};
use serde::Serialize;

use crate::image::ImageRef;
use crate::inventory::{Container, Workload};
use crate::kubectl;

/// Where a scan gets a repository's tags from.
pub trait TagLookup {
    /// The tags of the image's repository, or why they are not known.
    fn lookup(&self, image: &ImageRef) -> Result<&[String], String>;
}

impl TagLookup for crate::tag_index::TagIndex {
    fn lookup(&self, image: &ImageRef) -> Result<&[String], String> {
        self.tags(image)
            .ok_or_else(|| format!("the tag index has no entry for {}", image.familiar_name()))
    }
}

/// What a scan decided for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A newer tag is allowed by the strategy.
    UpdateAvailable,
    /// The current tag is the newest allowed.
    UpToDate,
    /// No decision could be made (not a version tag, no tags known, …); the reason says why.
    Unresolved,
    /// Left out on purpose (the `ignore` annotation).
    Skipped,
}

impl Status {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::UpdateAvailable => "update-available",
            Status::UpToDate => "up-to-date",
            Status::Unresolved => "unresolved",
            Status::Skipped => "skipped",
        }
    }
}

/// One container's result: the JSON output contract (`-o json`), field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
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
    /// A ready-to-run `kubectl patch`, when there is an update and the object can be patched.
    pub command: Option<String>,
    /// Things the operator should know before acting (a digest pin, an immutable Job…).
    pub notes: Vec<String>,
    /// The Helm release managing the workload, when it has an update: the next `helm upgrade`
    /// of that release reverts a `kubectl patch`, so the new tag belongs in the release's values.
    pub helm_release: Option<String>,
    /// The full decision, every candidate with its verdict; only with `--explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Resolution>,
}

/// Counts over a scan, for the summary line and JSON `summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Workloads scanned.
    pub workloads: usize,
    /// Containers (including init containers) scanned.
    pub containers: usize,
    /// Containers with an update available.
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
}

/// A scan's findings and summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// One finding per container, in workload and container order.
    pub findings: Vec<Finding>,
    /// The counts.
    pub summary: Summary,
}

/// How to scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// The strategy for workloads without their own `strategy` annotation.
    pub strategy: Strategy,
    /// Keep each full decision on its finding.
    pub explain: bool,
}

/// Scans workloads against the tags `tags` knows.
pub fn scan(workloads: &[Workload], tags: &dyn TagLookup, options: ScanOptions) -> Report {
    let containers: Vec<(&Workload, &Container)> = workloads
        .iter()
        .flat_map(|workload| workload.containers.iter().map(move |c| (workload, c)))
        .collect();
    // Containers by repository: each repository's tags are parsed and sorted once per scan,
    // and dropped before the next repository's, however many containers run it.
    let images: Vec<_> = containers
        .iter()
        .map(|(_, container)| ImageRef::parse(&container.image))
        .collect();
    let mut by_repository: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, image) in images.iter().enumerate() {
        let repository = image.as_ref().ok().map(ImageRef::canonical_name);
        by_repository.entry(repository).or_default().push(i);
    }
    let mut findings: Vec<Option<Finding>> = containers.iter().map(|_| None).collect();
    for positions in by_repository.into_values() {
        let mut repository_tags = RepositoryTags::new(tags);
        for i in positions {
            let (workload, container) = containers[i];
            let image = images[i].as_ref().map_err(ToString::to_string);
            findings[i] = Some(evaluate(
                workload,
                container,
                image,
                &mut repository_tags,
                options,
            ));
        }
    }
    let findings: Vec<Finding> = findings.into_iter().flatten().collect();
    let count = |status| findings.iter().filter(|f| f.status == status).count();
    let summary = Summary {
        workloads: workloads.len(),
        containers: findings.len(),
        updates: count(Status::UpdateAvailable),
        up_to_date: count(Status::UpToDate),
        unresolved: count(Status::Unresolved),
        skipped: count(Status::Skipped),
        ..Summary::default()
    };
    Report { findings, summary }
}

/// One repository's tags, looked up and parsed when a container first needs them.
struct RepositoryTags<'a> {
    lookup: &'a dyn TagLookup,
    parsed: Option<Result<TagSet, String>>,
}

impl<'a> RepositoryTags<'a> {
    fn new(lookup: &'a dyn TagLookup) -> Self {
        RepositoryTags {
            lookup,
            parsed: None,
        }
    }

    /// The tags of `image`'s repository (the same for every image it is asked about).
    fn get(&mut self, image: &ImageRef) -> Result<&TagSet, String> {
        let lookup = self.lookup;
        self.parsed
            .get_or_insert_with(|| {
                lookup
                    .lookup(image)
                    .map(|tags| TagSet::new(tags.iter().map(String::as_str)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The finding for one container; `image` is its image parsed, or why it cannot be.
fn evaluate(
    workload: &Workload,
    container: &Container,
    image: Result<&ImageRef, String>,
    tags: &mut RepositoryTags<'_>,
    options: ScanOptions,
) -> Finding {
    let mut finding = Finding {
        kind: workload.kind.as_str(),
        namespace: workload.namespace.clone(),
        name: workload.name.clone(),
        container: container.name.clone(),
        init_container: container.init,
        image: container.image.clone(),
        repository: container.image.clone(),
        current_tag: None,
        latest_tag: None,
        latest_image: None,
        strategy: options.strategy,
        status: Status::Unresolved,
        reason: String::new(),
        command: None,
        notes: Vec::new(),
        helm_release: None,
        explanation: None,
    };
    let unresolved = |mut finding: Finding, reason: String| {
        finding.reason = reason;
        finding
    };

    let image = match image {
        Ok(image) => image,
        Err(reason) => return unresolved(finding, reason),
    };
    finding.repository = image.familiar_name();
    finding.current_tag = image.tag().map(str::to_string);

    if let Some(value) = workload.setting("ignore")
        && value.eq_ignore_ascii_case("true")
    {
        finding.status = Status::Skipped;
        finding.reason =
            "ignored: the workload has the annotation ml-operator.mojaloop.io/ignore=true"
                .to_string();
        return finding;
    }
    match workload.strategy(options.strategy) {
        Ok(strategy) => finding.strategy = strategy,
        Err(reason) => return unresolved(finding, reason),
    }

    let Some(current) = image.tag() else {
        let reason = match image.digest() {
            Some(_) => "pinned by digest only: there is no tag to compare; add the tag the digest belongs to".to_string(),
            None => "no tag (Docker reads it as `latest`): pin a version tag to get upgrade advice".to_string(),
        };
        return unresolved(finding, reason);
    };
    let candidates = match tags.get(image) {
        Ok(candidates) => candidates,
        Err(reason) => return unresolved(finding, reason),
    };

    let resolution = if options.explain {
        candidates.resolve(current, finding.strategy)
    } else {
        candidates.decide(current, finding.strategy)
    };
    finding.reason = resolution.reason();
    match &resolution.outcome {
        Outcome::UpToDate => finding.status = Status::UpToDate,
        Outcome::Unresolved { .. } => finding.status = Status::Unresolved,
        Outcome::Update { latest } => {
            let new_image = image.with_tag(latest);
            finding.status = Status::UpdateAvailable;
            finding.latest_tag = Some(latest.clone());
            if workload.kind.template_is_mutable() {
                finding.command = Some(kubectl::patch_command(workload, container, &new_image));
            } else {
                finding.notes.push(format!(
                    "a {}'s pod template cannot be changed: re-create it from a manifest with image {new_image}",
                    workload.kind
                ));
            }
            if image.digest().is_some() {
                finding.notes.push(format!(
                    "the image is pinned by digest; the new reference drops the pin (pin {latest}'s own digest if you need one)"
                ));
            }
            finding.helm_release = workload.helm_release().map(str::to_string);
            finding.latest_image = Some(new_image);
        }
    }
    if options.explain {
        finding.explanation = Some(resolution);
    }
    finding
}
