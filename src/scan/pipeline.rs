//! One scan, end to end: fetch the tags the workloads need, then scan them; while the scan
//! has questions for the supply-chain signals (a running tag's digest, a target's age, digest
//! or signature), ask them and scan again. Shared by `ml-operator check` and the operator's
//! worker, so both scan the same way. [`run_parts`] does the same for several clusters at once
//! (`check`'s fleets): one fetch for all of them, each scanned with its own Pods.
//!
//! In: a [`TagSource`], the workloads (already filtered), what their Pods run, the
//! [`SupplyPolicy`], the clock and the [`ScanOptions`]. Out: [`Scanned`] — the report, the
//! repositories that could not be listed, and the fetched tags themselves (for
//! `check --export-tags`), not copied. Printing or logging is the caller's.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::inventory::{RunningDigests, Workload};
use crate::scan::{Pass, Report, Round, ScanOptions, Supply, scan_with};
use crate::tags::supply::{Facts, SupplyPolicy};
use crate::tags::{Fetched, TagSource, TagsUnknown};

/// The most rounds of questions one scan asks: running tags' digests; the targets' ages;
/// the next older targets' ages (cool-down); the final targets' digests and signatures.
const MAX_ROUNDS: usize = 8;

/// What one scan produced.
pub struct Scanned<'a> {
    /// One finding per container.
    pub report: Report,
    /// Repositories that could not be listed (their images are unresolved).
    pub failures: Vec<TagsUnknown>,
    /// The tags the scan read, borrowed from the source where it holds them (an index).
    pub tags: Fetched<'a>,
}

/// What a scan compares with the registries, besides tags.
pub struct Inputs<'a> {
    /// What the workloads' Pods run (empty for manifests).
    pub running: &'a RunningDigests,
    /// The supply-chain checks to make.
    pub policy: &'a SupplyPolicy,
    /// The clock of the release cool-down.
    pub now: DateTime<Utc>,
}

/// Fetches what `workloads` need from `source` (one tag walk per distinct repository;
/// `options.strategy` is what workloads without their own annotation use), then scans,
/// asking the registries what the supply-chain checks need between passes.
pub async fn run<'a>(
    source: &'a TagSource,
    workloads: &[impl AsRef<Workload> + Sync],
    inputs: &Inputs<'_>,
    options: ScanOptions,
) -> Scanned<'a> {
    let parts = [Part {
        workloads,
        running: inputs.running,
    }];
    let fleet = Fleet {
        policy: inputs.policy,
        now: inputs.now,
        options,
    };
    let ScannedParts {
        mut reports,
        failures,
        tags,
    } = run_parts(source, &parts, &fleet, &|_, _| {}).await;
    Scanned {
        report: reports.pop().expect("one report per part"),
        failures,
        tags,
    }
}

/// One part of a scan of several clusters: a cluster's workloads (already filtered) and what
/// its Pods run.
pub struct Part<'a, W> {
    /// The workloads to scan (owned, or shared with the watches).
    pub workloads: &'a [W],
    /// What their Pods run.
    pub running: &'a RunningDigests,
}

/// How every part of a scan is scanned.
pub struct Fleet<'a> {
    /// The supply-chain checks to make.
    pub policy: &'a SupplyPolicy,
    /// The clock of the release cool-down.
    pub now: DateTime<Utc>,
    /// The strategy and explanations.
    pub options: ScanOptions,
}

/// What a scan of several parts produced.
pub struct ScannedParts<'a> {
    /// One report per part, in the parts' order.
    pub reports: Vec<Report>,
    /// Repositories that could not be listed (their images are unresolved in every part).
    pub failures: Vec<TagsUnknown>,
    /// The tags the scan read.
    pub tags: Fetched<'a>,
}

/// Scans several parts (the clusters of a fleet) with one fetch: the tags of each distinct
/// repository are walked once for all of them, and what the registries answer about digests,
/// build times and signatures is shared; then each part is scanned on its own, with its own
/// Pods' digests. `progress` hears how many repositories are listed so far, of how many.
pub async fn run_parts<'a, W: AsRef<Workload> + Sync>(
    source: &'a TagSource,
    parts: &[Part<'_, W>],
    fleet: &Fleet<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> ScannedParts<'a> {
    let strategy = fleet.options.strategy;
    let tags = match parts {
        [part] => {
            source
                .fetch_observed(part.workloads, strategy, progress)
                .await
        }
        _ => {
            let all: Vec<&Workload> = parts
                .iter()
                .flat_map(|part| part.workloads.iter().map(AsRef::as_ref))
                .collect();
            source.fetch_observed(&all, strategy, progress).await
        }
    };
    let failures = tags.failures();
    let mut facts = source.facts();
    let mut reports = Vec::with_capacity(parts.len());
    for part in parts {
        reports.push(scan_part(source, &tags, &mut facts, part, fleet).await);
    }
    ScannedParts {
        reports,
        failures,
        tags,
    }
}

/// One part scanned, asking the registries between passes.
async fn scan_part<W: AsRef<Workload> + Sync>(
    source: &TagSource,
    tags: &Fetched<'_>,
    facts: &mut Facts,
    part: &Part<'_, W>,
    fleet: &Fleet<'_>,
) -> Report {
    let mut round = 1;
    loop {
        let supply = Supply {
            facts,
            running: part.running,
            policy: fleet.policy,
            now: fleet.now,
        };
        let last = if round == MAX_ROUNDS {
            Round::Last
        } else {
            Round::Asking
        };
        match scan_with(part.workloads, tags, &supply, fleet.options, last) {
            Pass::Done(report) => return report,
            Pass::Ask(questions) => {
                tracing::debug!(questions = questions.len(), round, "asking the registries");
                source.answer(questions, facts, fleet.policy).await;
            }
        }
        round += 1;
    }
}

impl Scanned<'_> {
    /// One line per repository that could not be listed: `cannot list tags of REPO: REASON`.
    pub fn failure_lines(&self) -> impl Iterator<Item = FailureLine<'_>> {
        self.failures.iter().map(FailureLine)
    }
}

/// A repository that could not be listed, as one line: `cannot list tags of REPO: REASON`.
pub struct FailureLine<'a>(pub &'a TagsUnknown);

impl fmt::Display for FailureLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot list tags of {}: {}",
            self.0.repository, self.0.reason
        )
    }
}
