//! Printing a scan report: `-o table` for people, `-o json` for programs, `-o commands` for shells.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::scan::{Finding, Report, Status};

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
    summary: &'a crate::scan::Summary,
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
        Format::Table => table(report, color, explain),
    }
}

fn table(report: &Report, color: bool, explain: bool) -> String {
    let header = [
        "NAMESPACE",
        "KIND",
        "NAME",
        "CONTAINER",
        "IMAGE",
        "LATEST",
        "STATUS",
    ];
    let rows: Vec<[String; 7]> = report
        .findings
        .iter()
        .map(|f| {
            [
                f.namespace.clone(),
                f.kind.to_string(),
                f.name.clone(),
                container_label(f),
                f.image.clone(),
                f.latest_tag.clone().unwrap_or_else(|| "-".to_string()),
                f.status.as_str().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }

    let mut out = String::new();
    let mut line = |cells: [&str; 7], status: Option<Status>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                let style = status
                    .filter(|_| color)
                    .map(status_style)
                    .unwrap_or_default();
                let _ = write!(text, "{style}{cell}{style:#}");
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header, None);
    for (row, finding) in rows.iter().zip(&report.findings) {
        line(row.each_ref().map(String::as_str), Some(finding.status));
    }

    let with_notes: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| !f.notes.is_empty())
        .collect();
    if !with_notes.is_empty() {
        out.push_str("\nNotes:\n");
        for finding in with_notes {
            for note in &finding.notes {
                let _ = writeln!(out, "  {}: {note}", subject(finding));
            }
        }
    }
    let mut helm_releases: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for finding in &report.findings {
        if let Some(release) = &finding.helm_release {
            *helm_releases
                .entry((&finding.namespace, release))
                .or_default() += 1;
        }
    }
    if !helm_releases.is_empty() {
        out.push_str("\nHelm:\n");
        for ((namespace, release), updates) in helm_releases {
            let _ = writeln!(
                out,
                "  release {release:?} (namespace {namespace}) manages {updates} of the updates: the next `helm upgrade` reverts a kubectl patch, so set the new tags in its values too"
            );
        }
    }
    let unresolved: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unresolved)
        .collect();
    if !unresolved.is_empty() && !explain {
        out.push_str("\nUnresolved:\n");
        for finding in unresolved {
            let _ = writeln!(out, "  {}: {}", subject(finding), finding.reason);
        }
    }
    if explain {
        out.push_str("\nExplanations:\n");
        for finding in &report.findings {
            let _ = writeln!(out, "  {} [{}]:", subject(finding), finding.image);
            let detail = match &finding.explanation {
                Some(resolution) => resolution.explain(),
                None => finding.reason.clone(),
            };
            for line in detail.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

/// `ns/Kind/name container`, the way notes and explanations name a finding.
fn subject(finding: &Finding) -> String {
    format!(
        "{}/{}/{} {}",
        finding.namespace,
        finding.kind,
        finding.name,
        container_label(finding)
    )
}

fn container_label(finding: &Finding) -> String {
    if finding.init_container {
        format!("{} (init)", finding.container)
    } else {
        finding.container.clone()
    }
}

fn status_style(status: Status) -> Style {
    let color = match status {
        Status::UpdateAvailable => AnsiColor::Yellow,
        Status::UpToDate => AnsiColor::Green,
        Status::Unresolved => AnsiColor::Red,
        Status::Skipped => AnsiColor::BrightBlack,
    };
    color.on_default().bold()
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
