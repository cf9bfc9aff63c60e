//! Stage 4, the scan: every container of every workload, resolved against the tags its
//! repository has, by the version engine (`ml-operator-version`).
//!
//! In: [`Workload`]s and one scan's tags through [`TagLookup`]. Out: a [`Report`] — one
//! [`Finding`] per container, one [`WorkloadPatch`] per workload with updates (all its
//! containers in one `kubectl patch`), and a [`Summary`]. The scan is pure and synchronous: tags were
//! fetched beforehand (one walk per repository), which keeps the decisions testable without
//! any I/O.

use std::collections::BTreeMap;

use ml_operator_version::{Outcome, Strategy, TagSet};

use crate::inventory::image::InvalidReference;
use crate::inventory::{Container, ImageRef, Workload, managed_by};
use crate::tags::{TagLookup, TagsUnknown};

mod finding;
mod patches;
pub mod pipeline;

pub use finding::{Finding, HelmUpgrade, HelmValues, Report, Status, Summary};
pub use patches::{PatchedContainer, WorkloadPatch};

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
        let mut repository_tags = ParsedTags::new(tags);
        for i in positions {
            let (workload, container) = containers[i];
            let image = images[i].as_ref();
            findings[i] = Some(evaluate(
                workload,
                container,
                image,
                &mut repository_tags,
                options,
            ));
        }
    }
    let mut findings: Vec<Finding> = findings.into_iter().flatten().collect();
    let patches = patches::attach(workloads, &mut findings);
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
    Report {
        findings,
        patches,
        summary,
        helm_upgrades: Vec::new(),
    }
}

/// One repository's tags, looked up and parsed when a container first needs them.
struct ParsedTags<'a> {
    lookup: &'a dyn TagLookup,
    parsed: Option<Result<TagSet, TagsUnknown>>,
}

impl<'a> ParsedTags<'a> {
    fn new(lookup: &'a dyn TagLookup) -> Self {
        ParsedTags {
            lookup,
            parsed: None,
        }
    }

    /// The tags of `image`'s repository (the same for every image it is asked about).
    fn get(&mut self, image: &ImageRef) -> Result<&TagSet, TagsUnknown> {
        let lookup = self.lookup;
        self.parsed
            .get_or_insert_with(|| {
                lookup
                    .tags(image)
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
    image: Result<&ImageRef, &InvalidReference>,
    tags: &mut ParsedTags<'_>,
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
        managed_by: managed_by(workload),
        helm: None,
        explanation: None,
    };
    let unresolved = |mut finding: Finding, reason: String| {
        finding.reason = reason;
        finding
    };

    let image = match image {
        Ok(image) => image,
        Err(invalid) => return unresolved(finding, invalid.to_string()),
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
        Err(invalid) => return unresolved(finding, invalid.to_string()),
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
        Err(unknown) => return unresolved(finding, unknown.to_string()),
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
            // The command, one per workload, is set once every container is decided.
            if !workload.kind.template_is_mutable() {
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
