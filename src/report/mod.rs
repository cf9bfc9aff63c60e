//! Stage 5a, the report: a scan printed — `-o table` for people, `-o json` for programs,
//! `-o commands` for shells.
//!
//! In: a [`Report`]. Out: text. Everything a terminal shows is escaped ([`escape`]); the
//! commands are the findings' own (built, shell-quoted, by [`crate::inventory::commands`]).
//!
//! - [`table`]: the aligned table, notes, explanations and summary.
//! - [`escape`]: control and bidirectional characters made visible.

pub mod escape;
pub mod table;

use std::fmt::Write as _;

use serde::Serialize;

pub use escape::escape_control;

use crate::scan::{Finding, Report, Summary};

/// The output formats of `check -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, then notes, unresolved reasons and a summary.
    #[default]
    Table,
    /// One JSON object: `{"schemaVersion":1,"findings":[...],"summary":{...}}`.
    Json,
    /// Only the `kubectl patch` commands, one per line, runnable as a script.
    Commands,
}

/// The JSON document `-o json` prints; `schemaVersion` changes only on incompatible changes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    schema_version: u32,
    findings: &'a [Finding],
    summary: &'a Summary,
    warnings: &'a [String],
}

/// Renders a report in a format. `color` adds ANSI colours to the table's status column;
/// `explain` adds each decision's full explanation to the table.
pub fn render(
    report: &Report,
    warnings: &[String],
    format: Format,
    color: bool,
    explain: bool,
) -> String {
    match format {
        Format::Json => {
            let document = JsonReport {
                schema_version: 1,
                findings: &report.findings,
                summary: &report.summary,
                warnings,
            };
            let mut text =
                serde_json::to_string_pretty(&document).expect("a report always serializes");
            text.push('\n');
            text
        }
        Format::Commands => report
            .findings
            .iter()
            .filter_map(|f| f.command.as_deref())
            .map(|command| format!("{command}\n"))
            .collect(),
        Format::Table => table::render(report, color, explain),
    }
}

/// One line of counts, e.g. `19 workloads, 31 containers: 8 updates available, 17 up to date, …`.
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
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
