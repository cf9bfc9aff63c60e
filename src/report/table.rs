//! The table `check` prints by default: an aligned row per finding, then the notes, the
//! unresolved reasons, each explanation (with `--explain`) and the summary line. Every cell is
//! escaped, so nothing from a manifest or a registry can move the cursor or forge a row.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{escape_control, summary_line};
use crate::scan::{Finding, Report, Status};

/// The table: one row per finding, then notes, unresolved reasons, explanations (with
/// `explain`) and the summary line. `color` colours the status column.
pub fn render(report: &Report, color: bool, explain: bool) -> String {
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
    let integrity: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::TagOverwritten | Status::TagMissing))
        .collect();
    if !integrity.is_empty() {
        out.push_str("\nRunning tags:\n");
        for finding in integrity {
            let _ = writeln!(
                out,
                "  {}: {}",
                subject(finding),
                escape_control(&finding.reason)
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
        Status::TagOverwritten | Status::TagMissing => AnsiColor::Magenta,
    };
    color.on_default().bold()
}
