//! Stage 5a, the report: a scan printed — `-o table` for people, `-o json` for programs,
//! `-o commands` and `-o helm` for shells, `-o diff` for review.
//!
//! In: a [`Report`]. Out: text. Everything a terminal shows is escaped ([`escape`]); the
//! commands are the report's own, one per workload (built, shell-quoted, by
//! [`crate::inventory::commands`]).
//!
//! - [`table`]: the aligned table, notes, explanations and summary.
//! - [`escape`]: control and bidirectional characters made visible.

pub mod escape;
pub mod table;

use std::fmt::Write as _;

use serde::Serialize;

pub use escape::escape_control;

use crate::deliver::files::FileEdit;
use crate::scan::{Finding, HelmUpgrade, Report, Summary, WorkloadPatch};

/// The output formats of `check -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, then notes, unresolved reasons and a summary.
    #[default]
    Table,
    /// One JSON object: `{"schemaVersion":1,"findings":[...],"patches":[...],"summary":{...}}`.
    Json,
    /// Only the `kubectl patch` commands, one per workload and line, runnable as a script.
    Commands,
    /// One `helm upgrade … --reuse-values --set PATH=TAG` per Helm release, each after a
    /// comment naming how its chart reference was chosen: runnable as a script.
    Helm,
    /// The unified diff of the `--values` files' tag changes.
    Diff,
    /// The table with IMAGE and REASON added, nothing shortened.
    Wide,
}

/// The JSON document `-o json` prints; `schemaVersion` changes only on incompatible changes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    schema_version: u32,
    findings: &'a [Finding],
    patches: &'a [WorkloadPatch],
    summary: &'a Summary,
    warnings: &'a [String],
    helm_upgrades: &'a [HelmUpgrade],
}

/// The JSON document of `-o json` (also what the operator's `/report` serves), to serialize.
pub fn json_document<'a>(report: &'a Report, warnings: &'a [String]) -> impl Serialize + 'a {
    JsonReport {
        schema_version: 1,
        findings: &report.findings,
        patches: &report.patches,
        summary: &report.summary,
        warnings,
        helm_upgrades: &report.helm_upgrades,
    }
}

/// Renders a report in a format as text; [`write()`] streams the same bytes instead.
pub fn render(
    report: &Report,
    warnings: &[String],
    format: Format,
    view: table::View,
    edits: &[FileEdit],
) -> String {
    let mut out = Vec::new();
    write(report, warnings, format, view, edits, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("reports are text")
}

/// Writes a report in a format to `out`; `view` lays out the table (`-o wide` is the table
/// with `view.wide`); `edits` are the `--values` files' changes (`-o diff`). The JSON document
/// is serialized straight into `out` rather than built as one string first: at thousands of
/// findings it is megabytes.
pub fn write(
    report: &Report,
    warnings: &[String],
    format: Format,
    view: table::View,
    edits: &[FileEdit],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let text: String = match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_document(report, warnings))?;
            return out.write_all(b"\n");
        }
        Format::Commands => report
            .patches
            .iter()
            .map(|patch| format!("{}\n", patch.command))
            .collect(),
        Format::Helm => report
            .helm_upgrades
            .iter()
            .map(|upgrade| {
                let mut comment = format!(
                    "{}/{}: chart {}",
                    upgrade.namespace, upgrade.release, upgrade.chart_source
                );
                if let Some(cluster) = &upgrade.cluster {
                    comment = format!("cluster {cluster}: {comment}");
                }
                // The command's words are shell-quoted; the comment could hold anything.
                format!(
                    "# {}\n{}\n",
                    escape_control(&comment),
                    escape_control(&upgrade.command)
                )
            })
            .collect(),
        Format::Diff => edits.iter().map(FileEdit::diff).collect(),
        Format::Table => table::render(report, view),
        Format::Wide => table::render(report, table::View { wide: true, ..view }),
    };
    out.write_all(text.as_bytes())
}

/// One line of counts, e.g. `19 workloads, 31 containers: 8 updates available, 17 up to date, …`;
/// in a fleet it starts with the clusters: `3 clusters (1 not scanned): 38 workloads, …`.
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let clusters = s.clusters.len() + s.failed_clusters.len();
    if clusters == 0 {
        return counts_line(s);
    }
    let mut line = format!(
        "{clusters} {}",
        if clusters == 1 { "cluster" } else { "clusters" }
    );
    if !s.failed_clusters.is_empty() {
        let _ = write!(line, " ({} not scanned)", s.failed_clusters.len());
    }
    let _ = write!(line, ": {}", counts_line(s));
    line
}

/// The counts of [`summary_line`] for a whole scan or one cluster of a fleet, with what was
/// left out (other objects, controlled workloads) in parentheses.
pub fn counts_line(s: &Summary) -> String {
    let mut line = status_counts(s);
    let mut extra = Vec::new();
    if s.other_objects > 0 {
        extra.push(format!("{} other objects skipped", s.other_objects));
    }
    if s.controlled > 0 {
        extra.push(format!(
            "{} ReplicaSets, Pods or Jobs reported through their controller",
            s.controlled
        ));
    }
    if !extra.is_empty() {
        let _ = write!(line, " ({})", extra.join(", "));
    }
    line
}

/// Workloads, containers and their statuses: `19 workloads, 31 containers: 8 updates
/// available, 17 up to date, 1 unresolved, 5 skipped` (the heading of a fleet's cluster).
pub fn status_counts(s: &Summary) -> String {
    let mut line = format!(
        "{} workloads, {} containers: {} {} available, {} up to date, {} unresolved, {} skipped",
        s.workloads,
        s.containers,
        s.updates,
        if s.updates == 1 { "update" } else { "updates" },
        s.up_to_date,
        s.unresolved,
        s.skipped
    );
    if s.tag_overwritten > 0 {
        let _ = write!(line, ", {} tag-overwritten", s.tag_overwritten);
    }
    if s.tag_missing > 0 {
        let _ = write!(line, ", {} tag-missing", s.tag_missing);
    }
    line
}
