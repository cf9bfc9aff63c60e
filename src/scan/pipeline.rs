//! One scan, end to end: fetch the tags the workloads need, then [`scan`] them. Shared by
//! `ml-operator check` and the operator's worker, so both scan the same way.
//!
//! In: a [`TagSource`], the workloads (already filtered) and the [`ScanOptions`]. Out:
//! [`Scanned`] — the report, the repositories that could not be listed, and the fetched tags
//! themselves (for `check --export-tags`), not copied. Printing or logging is the caller's.

use std::fmt;

use crate::inventory::Workload;
use crate::scan::{Report, ScanOptions, scan};
use crate::tags::{Fetched, TagSource, TagsUnknown};

/// What one scan produced.
pub struct Scanned<'a> {
    /// One finding per container.
    pub report: Report,
    /// Repositories that could not be listed (their images are unresolved).
    pub failures: Vec<TagsUnknown>,
    /// The tags the scan read, borrowed from the source where it holds them (an index).
    pub tags: Fetched<'a>,
}

/// Fetches what `workloads` need from `source` (one tag walk per distinct repository;
/// `options.strategy` is what workloads without their own annotation use), then scans.
pub async fn run<'a>(
    source: &'a TagSource,
    workloads: &[Workload],
    options: ScanOptions,
) -> Scanned<'a> {
    let tags = source.fetch(workloads, options.strategy).await;
    let failures = tags.failures();
    let report = scan(workloads, &tags, options);
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
