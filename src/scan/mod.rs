//! Stage 4, the scan: every container of every workload, resolved against the tags its
//! repository has, by the version engine (`ml-operator-version`).
//!
//! In: [`Workload`]s, one scan's tags through [`TagLookup`] and, for the supply-chain signals,
//! [`Supply`]: what the registries said so far ([`Facts`]), what the nodes run
//! ([`RunningDigests`]), the policy and the clock. Out: a [`Report`] — one [`Finding`] per
//! container, one [`WorkloadPatch`] per workload with updates (all its containers in one
//! `kubectl patch`), and a [`Summary`] — or, while the registries can still be asked, only the
//! [`Questions`] the scan has (a [`Pass`]). The scan is pure and synchronous: tags were fetched
//! beforehand (one walk per repository) and facts are asked between passes ([`pipeline`]),
//! which keeps the decisions testable without any I/O.
//!
//! Precedence: a running tag gone from the registry (`tag-missing`) or pointing to other
//! content than the nodes pulled (`tag-overwritten`) is the finding's status even when an
//! update exists; `latestTag`, `latestImage` and `command` are still filled in and the reason
//! says both.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ml_operator_registry::SignatureCheck;
use ml_operator_version::{Outcome, Resolution, Strategy, TagSet};

use crate::inventory::image::InvalidReference;
use crate::inventory::{Container, ImageRef, RunningDigests, Workload, managed_by};
use crate::tags::supply::{Facts, Questions, SupplyPolicy};
use crate::tags::{TagLookup, TagsUnknown};

mod finding;
pub mod fleet;
mod patches;
pub mod pipeline;

pub use finding::{
    ClusterSummary, Command, FailedCluster, Finding, HeldBack, HelmUpgrade, HelmValues, Report,
    SignatureStatus, Status, Summary,
};
pub use patches::{PatchedContainer, WorkloadPatch};

/// How to scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// The strategy for workloads without their own `strategy` annotation.
    pub strategy: Strategy,
    /// Keep each full decision on its finding.
    pub explain: bool,
}

/// What a scan knows beyond the tag lists, for the supply-chain signals.
pub struct Supply<'a> {
    /// What the registries said so far (digests, build times, signatures).
    pub facts: &'a Facts,
    /// What the nodes run: the digests their Pods pulled.
    pub running: &'a RunningDigests,
    /// What to check, from the configuration.
    pub policy: &'a SupplyPolicy,
    /// The clock of the release cool-down.
    pub now: DateTime<Utc>,
}

/// How a `tag-missing` finding's reason starts.
const MISSING_PREFIX: &str = "the running tag ";
/// How a `tag-overwritten` finding's reason starts.
const OVERWRITTEN_PREFIX: &str = "the tag ";

/// Whether a finding's reason (copied into an ImageUpgrade's `spec.reason`) starts with a
/// warning about the running tag — overwritten, or gone from the registry — which a proposal
/// must repeat.
pub fn warns_about_running_tag(reason: &str) -> bool {
    (reason.starts_with(MISSING_PREFIX) && reason.contains(" is gone from the registry"))
        || (reason.starts_with(OVERWRITTEN_PREFIX) && reason.contains(" was overwritten: "))
}

/// The most candidates in a row the cool-down holds back before the scan gives up on finding
/// an old enough one (each costs a manifest and a config request once).
const MAX_HELD_BACK: usize = 5;

/// Scans workloads against the tags `tags` knows, without the supply-chain checks that need a
/// registry (a tag gone from a complete list is still `tag-missing`).
pub fn scan(workloads: &[Workload], tags: &dyn TagLookup, options: ScanOptions) -> Report {
    let facts = Facts::unanswerable("not asked");
    let policy = SupplyPolicy::off();
    let supply = Supply {
        facts: &facts,
        running: &RunningDigests::default(),
        policy: &policy,
        now: Utc::now(),
    };
    match scan_with(workloads, tags, &supply, options, Round::Last) {
        Pass::Done(report) => report,
        Pass::Ask(_) => unreachable!("the last round always reports"),
    }
}

/// Whether a pass of the scan may end with questions instead of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The registries can still be asked: a pass that has questions returns them alone.
    Asking,
    /// No more asking (the last round, or a tag source without a registry): the report, with
    /// what is still unknown said on its findings.
    Last,
}

/// What one pass of the scan produced.
#[derive(Debug)]
pub enum Pass {
    /// The report: nothing was left to ask, or asking is over ([`Round::Last`]).
    Done(Report),
    /// What the scan must know before its findings are final. The pass's findings depend on
    /// the answers, so none is kept: thousands of provisional findings beside the questions
    /// were the scan's peak memory.
    Ask(Questions),
}

/// Scans workloads against the tags `tags` knows and the `supply` facts. In a
/// [`Round::Asking`] pass, the first question stops the findings from being kept and the pass
/// returns what the scan would still like to know; the [pipeline](pipeline::run) answers it
/// and scans again.
pub fn scan_with(
    workloads: &[impl AsRef<Workload>],
    tags: &dyn TagLookup,
    supply: &Supply<'_>,
    options: ScanOptions,
    round: Round,
) -> Pass {
    let containers: Vec<(&Workload, &Container)> = workloads
        .iter()
        .map(AsRef::as_ref)
        .flat_map(|workload| workload.containers.iter().map(move |c| (workload, c)))
        .collect();
    // Containers by repository: each repository's tags are parsed and sorted once per scan,
    // and dropped before the next repository's, however many containers run it. The parsed
    // references are not kept: parsing one again costs less than holding thousands.
    let mut by_repository: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, (_, container)) in containers.iter().enumerate() {
        let repository = ImageRef::parse(&container.image)
            .ok()
            .map(|image| image.canonical_name());
        by_repository.entry(repository).or_default().push(i);
    }
    // Filled when the first finding is kept (never, in a pass that asks from the start).
    let mut findings: Vec<Option<Finding>> = Vec::new();
    let mut questions = Questions::default();
    for positions in by_repository.into_values() {
        let mut repository_tags = ParsedTags::new(tags);
        for i in positions {
            let (workload, container) = containers[i];
            let image = ImageRef::parse(&container.image);
            let mut context = Context {
                tags: &mut repository_tags,
                supply,
                questions: &mut questions,
                options,
            };
            let finding = evaluate(workload, container, image.as_ref(), &mut context);
            if round == Round::Asking && !questions.is_empty() {
                findings = Vec::new();
                continue;
            }
            if findings.is_empty() {
                findings.resize_with(containers.len(), || None);
            }
            findings[i] = Some(finding);
        }
    }
    if round == Round::Asking && !questions.is_empty() {
        return Pass::Ask(questions);
    }
    // Every container was evaluated. `filter_map` collects in place, reusing the vector;
    // `flatten` would allocate a second one as big while the first is still held.
    #[allow(clippy::filter_map_identity)]
    let mut findings: Vec<Finding> = findings.into_iter().filter_map(|f| f).collect();
    let patches = patches::attach(workloads, &mut findings);
    let count = |status| findings.iter().filter(|f| f.status == status).count();
    let summary = Summary {
        workloads: workloads.len(),
        containers: findings.len(),
        updates: findings.iter().filter(|f| f.latest_tag.is_some()).count(),
        up_to_date: count(Status::UpToDate),
        unresolved: count(Status::Unresolved),
        skipped: count(Status::Skipped),
        tag_overwritten: count(Status::TagOverwritten),
        tag_missing: count(Status::TagMissing),
        ..Summary::default()
    };
    Pass::Done(Report {
        findings,
        patches,
        summary,
        helm_upgrades: Vec::new(),
    })
}

/// What one container's evaluation reads and records.
struct Context<'c, 'a> {
    tags: &'c mut ParsedTags<'a>,
    supply: &'c Supply<'a>,
    questions: &'c mut Questions,
    options: ScanOptions,
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

    /// Whether `tag` is in the registry's complete list of `image`'s repository: `None` when
    /// the list is not complete (an index) or not known.
    fn is_listed(&self, image: &ImageRef, tag: &str) -> Option<bool> {
        if !self.lookup.is_complete(image) {
            return None;
        }
        self.lookup.tags(image).ok().map(|tags| tags.contains(tag))
    }

    /// The tags of `image`'s repository without `excluded` (held back by the cool-down).
    fn without(&self, image: &ImageRef, excluded: &[String]) -> Result<TagSet, TagsUnknown> {
        self.lookup
            .tags(image)
            .map(|tags| TagSet::new(tags.iter().filter(|t| !excluded.iter().any(|e| e == t))))
    }

    /// The tags of `image`'s repository (the same for every image it is asked about).
    fn get(&mut self, image: &ImageRef) -> Result<&TagSet, TagsUnknown> {
        let lookup = self.lookup;
        self.parsed
            .get_or_insert_with(|| lookup.tags(image).map(|tags| TagSet::new(tags.iter())))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The finding for one container; `image` is its image parsed, or why it cannot be.
fn evaluate(
    workload: &Workload,
    container: &Container,
    image: Result<&ImageRef, &InvalidReference>,
    context: &mut Context<'_, '_>,
) -> Finding {
    let options = context.options;
    let mut finding = Finding {
        cluster: None,
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
        managed_by: managed_by(workload).map(Box::new),
        helm: None,
        running_digest: None,
        registry_digest: None,
        held_back: None,
        signature: None,
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
    if let Err(unknown) = context.tags.get(image) {
        return unresolved(finding, unknown.to_string());
    }

    // The running tag itself: gone from the registry, or pointing to other content now.
    let integrity = check_integrity(workload, container, image, current, context, &mut finding);

    let Some((resolution, held_back)) = cool_down(image, current, context, &mut finding) else {
        return finding;
    };
    let mut reason = resolution.reason();
    if let Some(held) = &held_back {
        reason.push_str(&format!("; {}", held.describe()));
    }
    finding.held_back = held_back.map(Box::new);
    match &resolution.outcome {
        Outcome::UpToDate => finding.status = Status::UpToDate,
        Outcome::Unresolved { .. } => finding.status = Status::Unresolved,
        Outcome::Update { latest } => {
            let new_image = target_image(image, latest, context, &mut finding);
            finding.status = Status::UpdateAvailable;
            finding.latest_tag = Some(latest.clone());
            let blocked = check_signature(image, latest, context, &mut finding);
            if let Some(why) = &blocked {
                reason.push_str(&format!("; {why}"));
            }
            // The command, one per workload, is set once every container is decided.
            if blocked.is_some() {
                finding.notes.push(format!(
                    "no command: {new_image} is not verified, so it is neither proposed nor applied"
                ));
            } else if !workload.kind.template_is_mutable() {
                finding.notes.push(format!(
                    "a {}'s pod template cannot be changed: re-create it from a manifest with image {new_image}",
                    workload.kind
                ));
            }
            finding.helm_release = workload.helm_release().map(str::to_string);
            finding.latest_image = Some(new_image);
        }
    }
    match integrity {
        Integrity::Overwritten(why) => {
            finding.status = Status::TagOverwritten;
            reason = format!("{why}; {reason}");
        }
        Integrity::Missing(why) => {
            finding.status = Status::TagMissing;
            reason = format!("{why}; {reason}");
        }
        Integrity::Intact => {}
    }
    finding.reason = reason;
    if options.explain {
        finding.explanation = Some(Box::new(resolution));
    }
    finding
}

/// What the running tag's check found.
enum Integrity {
    /// Nothing wrong (or nothing to compare).
    Intact,
    /// The registry serves other content for the tag than what runs; says so.
    Overwritten(String),
    /// The registry's complete tag list no longer has the tag; says so.
    Missing(String),
}

/// Whether the running tag is gone from the registry's list (free: the list is there) or now
/// points to other content than the nodes pulled (or than the image's digest pin): one `HEAD`
/// per distinct tag, asked through `context.questions`.
fn check_integrity(
    workload: &Workload,
    container: &Container,
    image: &ImageRef,
    current: &str,
    context: &mut Context<'_, '_>,
    finding: &mut Finding,
) -> Integrity {
    if context.tags.is_listed(image, current) == Some(false) {
        return Integrity::Missing(format!(
            "{MISSING_PREFIX}{current} is gone from the registry: rescheduling a Pod and rolling back to it will fail"
        ));
    }
    let supply = context.supply;
    if !supply.policy.check_overwritten || supply.facts.is_unanswerable() {
        return Integrity::Intact;
    }
    let running: Vec<Arc<str>> = match image.digest() {
        Some(pin) if ml_operator_registry::is_sha256_digest(pin) => vec![pin.into()],
        Some(pin) => {
            finding.notes.push(format!(
                "overwritten-tag check of {current}: the pin {pin} is not compared (registries name manifests by lower-case sha256)"
            ));
            return Integrity::Intact;
        }
        None => supply.running.digests(workload, container),
    };
    if running.is_empty() {
        return Integrity::Intact;
    }
    match supply.facts.digest(image, current, context.questions) {
        None | Some(Ok(None)) => Integrity::Intact,
        Some(Err(why)) => {
            finding
                .notes
                .push(format!("overwritten-tag check of {current}: {why}"));
            Integrity::Intact
        }
        Some(Ok(Some(registry))) => {
            // Shared with the Pods' and the registry's answers, not copied into each finding.
            finding.registry_digest = Some(Arc::clone(registry));
            let different = running.iter().find(|d| ***d != **registry);
            finding.running_digest = Some(Arc::clone(different.unwrap_or(&running[0])));
            match different {
                None => Integrity::Intact,
                Some(running_digest) => {
                    let what = if image.digest().is_some() {
                        "the image is pinned to"
                    } else {
                        "the nodes pulled"
                    };
                    Integrity::Overwritten(format!(
                        "{OVERWRITTEN_PREFIX}{current} was overwritten: {what} {running_digest}, the registry now serves {registry} for it"
                    ))
                }
            }
        }
    }
}

/// The decision, with candidates younger than the release cool-down held back: the newest
/// allowed tag old enough (its image config's `created` plus `minimumReleaseAge` before
/// `now`), and the newest one held back, if any. `None` (with the finding made unresolved)
/// when the tags cannot be read.
fn cool_down(
    image: &ImageRef,
    current: &str,
    context: &mut Context<'_, '_>,
    finding: &mut Finding,
) -> Option<(Resolution, Option<HeldBack>)> {
    let strategy = finding.strategy;
    let explain = context.options.explain;
    let decide = |tags: &TagSet| {
        if explain {
            tags.resolve(current, strategy)
        } else {
            tags.decide(current, strategy)
        }
    };
    let first = match context.tags.get(image) {
        Ok(tags) => decide(tags),
        Err(unknown) => {
            finding.reason = unknown.to_string();
            return None;
        }
    };
    let Some(age) = context.supply.policy.minimum_release_age(image) else {
        return Some((first, None));
    };
    let mut resolution = first;
    let mut held: Option<HeldBack> = None;
    let mut excluded: Vec<String> = Vec::new();
    while let Some(latest) = resolution.latest().map(str::to_string) {
        let created = match context
            .supply
            .facts
            .created(image, &latest, context.questions)
        {
            // Asked: the next pass knows.
            None => break,
            Some(Ok(Some(created))) => created,
            Some(Ok(None)) => {
                finding.notes.push(format!(
                    "cool-down: {latest}'s image config has no creation time; not held back"
                ));
                break;
            }
            Some(Err(why)) => {
                finding
                    .notes
                    .push(format!("cool-down of {latest} not checked: {why}"));
                break;
            }
        };
        let Some(until) = chrono::Duration::from_std(age)
            .ok()
            .and_then(|delta| created.checked_add_signed(delta))
        else {
            break;
        };
        if until <= context.supply.now {
            break;
        }
        held.get_or_insert(HeldBack {
            tag: latest.clone(),
            created,
            until,
            minimum_release_age: humantime::format_duration(age).to_string().replace(' ', ""),
        });
        excluded.push(latest);
        if excluded.len() > MAX_HELD_BACK {
            finding.notes.push(format!(
                "cool-down: the {MAX_HELD_BACK} newest allowed tags are all too young; no update chosen"
            ));
            let mut none = resolution.clone();
            none.outcome = Outcome::UpToDate;
            resolution = none;
            break;
        }
        resolution = match context.tags.without(image, &excluded) {
            Ok(tags) => decide(&tags),
            Err(_) => break,
        };
    }
    Some((resolution, held))
}

/// The image to move to: the new tag, pinned by its digest with `--pin-digests` /
/// `upgrades.pinDigests` or when the image is pinned now (one `HEAD` of that tag).
fn target_image(
    image: &ImageRef,
    latest: &str,
    context: &mut Context<'_, '_>,
    finding: &mut Finding,
) -> String {
    let new_image = image.with_tag(latest);
    let pinned_now = image.digest().is_some();
    if !(context.supply.policy.pin_digests || pinned_now) {
        return new_image;
    }
    match context
        .supply
        .facts
        .digest(image, latest, context.questions)
    {
        Some(Ok(Some(digest))) => format!("{new_image}@{digest}"),
        None => new_image,
        Some(Ok(None)) => {
            finding.notes.push(format!(
                "not pinned: the registry has no manifest for {latest}"
            ));
            new_image
        }
        Some(Err(_)) if pinned_now => {
            finding.notes.push(format!(
                "the image is pinned by digest; the new reference drops the pin (pin {latest}'s own digest if you need one)"
            ));
            new_image
        }
        Some(Err(why)) => {
            finding.notes.push(format!(
                "not pinned: the digest of {latest} is not known: {why}"
            ));
            new_image
        }
    }
}

/// With `registries[].verify`, whether the target is signed: `Some(why)` when it must not be
/// proposed or applied (unsigned, badly signed, or not checkable).
fn check_signature(
    image: &ImageRef,
    latest: &str,
    context: &mut Context<'_, '_>,
    finding: &mut Finding,
) -> Option<String> {
    let key = context.supply.policy.verify_key(image)?;
    let key = key.display();
    let answer = context
        .supply
        .facts
        .signature(image, latest, context.questions);
    let (status, blocked) = match answer {
        None => (
            SignatureStatus::Unknown,
            Some(format!(
                "not proposed: the signature of {latest} is not checked yet"
            )),
        ),
        Some(Ok(SignatureCheck::Verified)) => (SignatureStatus::Verified, None),
        Some(Ok(SignatureCheck::Unsigned)) => (
            SignatureStatus::Unsigned,
            Some(format!(
                "not proposed: {latest} has no cosign signature (verify key {key})"
            )),
        ),
        Some(Ok(SignatureCheck::Invalid(why))) => (
            SignatureStatus::Invalid,
            Some(format!(
                "not proposed: {latest}'s cosign signature is not valid for the key {key}: {why}"
            )),
        ),
        Some(Err(why)) => (
            SignatureStatus::Unknown,
            Some(format!(
                "not proposed: the signature of {latest} could not be checked: {why}"
            )),
        ),
    };
    finding.signature = Some(status);
    blocked
}
