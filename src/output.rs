//! Printing a scan report: `-o table` for people, `-o json` for programs, `-o commands` for shells.

use std::borrow::Cow;
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
                f.namespace.as_str(),
                f.kind,
                f.name.as_str(),
                &container_label(f),
                f.image.as_str(),
                f.latest_tag.as_deref().unwrap_or("-"),
                f.status.as_str(),
            ]
            .map(|cell| escape_control(cell).into_owned())
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
                let _ = writeln!(out, "  {}: {}", subject(finding), escape_control(note));
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
                "  release {release:?} (namespace {}) manages {updates} of the updates: the next `helm upgrade` reverts a kubectl patch, so set the new tags in its values too",
                escape_control(namespace)
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
            let _ = writeln!(
                out,
                "  {}: {}",
                subject(finding),
                escape_control(&finding.reason)
            );
        }
    }
    if explain {
        out.push_str("\nExplanations:\n");
        for finding in &report.findings {
            let _ = writeln!(
                out,
                "  {} [{}]:",
                subject(finding),
                escape_control(&finding.image)
            );
            let detail = match &finding.explanation {
                Some(resolution) => resolution.explain(),
                None => finding.reason.clone(),
            };
            for line in detail.lines() {
                let _ = writeln!(out, "      {}", escape_control(line));
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

/// `ns/Kind/name container`, the way notes and explanations name a finding (escaped).
fn subject(finding: &Finding) -> String {
    let text = format!(
        "{}/{}/{} {}",
        finding.namespace,
        finding.kind,
        finding.name,
        container_label(finding)
    );
    escape_control(&text).into_owned()
}

/// Text made safe for a terminal: each control character (ESC, newline, carriage return, tab,
/// DEL, C1 controls) and each bidirectional formatting character (U+202A–U+202E, U+2066–U+2069,
/// U+200E, U+200F) is printed as Rust's `\u{…}` escape (`\u{1b}`, `\u{a}`), so an image
/// string or a name cannot move the cursor, recolour the screen, forge a table line or reorder
/// what is shown. Everything else, backslashes included, is printed as it is.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    let needs_escape = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(
            escape_control("mojaloop/x:v1 é \\"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_control("a\u{1b}[31mb\nc\td\u{7f}\u{9b}\u{202e}e"),
            r"a\u{1b}[31mb\u{a}c\u{9}d\u{7f}\u{9b}\u{202e}e"
        );
    }
}
