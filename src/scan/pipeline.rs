//! One scan, end to end: fetch the tags the workloads need, then scan them; while the scan
//! has questions for the supply-chain signals (a running tag's digest, a target's age, digest
//! or signature), ask them and scan again. Shared by `ml-operator check` and the operator's
//! worker, so both scan the same way.
//!
//! In: a [`TagSource`], the workloads (already filtered), what their Pods run, the
//! [`SupplyPolicy`], the clock and the [`ScanOptions`]. Out: [`Scanned`] — the report, the
//! repositories that could not be listed, and the fetched tags themselves (for
//! `check --export-tags`), not copied. Printing or logging is the caller's.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::inventory::{RunningDigests, Workload};
use crate::scan::{Report, ScanOptions, Supply, scan_with};
use crate::tags::supply::SupplyPolicy;
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
    let tags = source.fetch(workloads, options.strategy).await;
    let failures = tags.failures();
    let mut facts = source.facts();
    let mut round = 0;
    let report = loop {
        let supply = Supply {
            facts: &facts,
            running: inputs.running,
            policy: inputs.policy,
            now: inputs.now,
        };
        let (report, questions) = scan_with(workloads, &tags, &supply, options);
        round += 1;
        if questions.is_empty() || round == MAX_ROUNDS {
            break report;
        }
        // The next pass makes its own report: this one's findings need not stay in memory
        // while the registries are asked.
        drop(report);
        tracing::debug!(questions = questions.len(), round, "asking the registries");
        source.answer(questions, &mut facts, inputs.policy).await;
    };
    Scanned {
        report,
        failures,
        tags,
    }
}

impl Scanned<'_> {
    /// One line per repository that could not be listed: `cannot list tags of REPO: REASON`.
    pub fn failure_lines(&self) -> impl Iterator<Item = FailureLine<'_>> {
        self.failures.iter().map(FailureLine)
    }
}

/// A repository that could not be listed, as one line: `cannot list tags of REPO: REASON`.
pub struct FailureLine<'a>(&'a TagsUnknown);

impl fmt::Display for FailureLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot list tags of {}: {}",
            self.0.repository, self.0.reason
        )
    }
}
