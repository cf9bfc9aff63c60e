//! The table `check` prints: by default only what needs attention (updates, unresolved
//! containers), grouped by workload (in a fleet, by cluster first: a heading line with the
//! cluster's counts, then its rows), in columns that fit the terminal (120 columns off a
//! terminal); `--all` lists every container; `-o wide` adds the image and the reason and
//! shortens nothing. Then the patches (one per workload, naming the containers it changes), the
//! notes, the unresolved reasons, each explanation (with `--explain`) and the summary line,
//! which counts everything. Every cell is escaped, so nothing from a manifest or a registry can
//! move the cursor or forge a row; long cells are shortened with `…` (never in JSON or
//! `commands`).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{escape_control, status_counts, summary_line};
use crate::inventory::ImageRef;
use crate::scan::{Finding, Report, Status};

/// Width the table fits in when stdout is not a terminal (and `COLUMNS` is not set).
pub const DEFAULT_WIDTH: usize = 120;

/// How the table is laid out.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// Colour the status column.
    pub color: bool,
    /// Add each finding's explanation.
    pub explain: bool,
    /// List every container, not only those needing attention.
    pub all: bool,
    /// `-o wide`: add IMAGE and REASON, shorten nothing.
    pub wide: bool,
    /// The width to fit in (ignored with `wide`).
    pub width: usize,
}

/// Whether a finding needs a person's attention (the default table lists only these).
fn needs_attention(finding: &Finding) -> bool {
    !matches!(finding.status, Status::UpToDate | Status::Skipped)
}

/// The CURRENT cell: the tag, and a digest pin shortened (`v12.1.1@sha256:3f5c…`).
fn current(finding: &Finding) -> String {
    let Ok(image) = ImageRef::parse(&finding.image) else {
        return finding.current_tag.clone().unwrap_or_else(|| "-".into());
    };
    let tag = image.tag().unwrap_or("");
    match image.digest() {
        Some(digest) => {
            let (algorithm, hex) = digest.split_once(':').unwrap_or(("", digest));
            let short: String = hex.chars().take(4).collect();
            format!("{tag}@{algorithm}:{short}…")
        }
        None if tag.is_empty() => "-".into(),
        None => tag.to_string(),
    }
}

/// `text` in at most `width` characters: a third of the start and the rest of the end kept
/// (names differ at their ends: `…-transfer-prepare`), `…` between. A `kind/` prefix is kept
/// whole.
fn shorten(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width || width < 2 {
        return text.to_string();
    }
    if let Some((kind, name)) = text.split_once('/') {
        let prefix = kind.chars().count() + 1;
        if prefix + 4 <= width {
            return format!("{kind}/{}", shorten(name, width - prefix));
        }
    }
    let keep = width - 1;
    let head = keep / 3;
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

/// How a column gives way when the table is too wide: columns of a lower `rank` shrink first
/// (the widest of them a character at a time), none below its `floor`; rank 0 never shrinks.
#[derive(Debug, Clone, Copy)]
struct Give {
    rank: u8,
    floor: usize,
}

/// Column widths that fit `budget` characters (two spaces between columns), shrinking the
/// columns in the order their [`Give`] says.
fn fit(natural: &[usize], gives: &[Give], budget: usize) -> Vec<usize> {
    let mut widths = natural.to_vec();
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    let mut ranks: Vec<u8> = gives.iter().map(|g| g.rank).filter(|r| *r > 0).collect();
    ranks.sort_unstable();
    ranks.dedup();
    for rank in ranks {
        while total(&widths) > budget {
            let widest = (0..widths.len())
                .filter(|&i| gives[i].rank == rank && widths[i] > gives[i].floor)
                .max_by_key(|&i| widths[i]);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
    }
    widths
}

/// `kubectl`'s short name for a kind, so WORKLOAD stays narrow (`deploy/central-ledger`).
fn short_kind(kind: &str) -> String {
    match kind {
        "Deployment" => "deploy".into(),
        "StatefulSet" => "sts".into(),
        "DaemonSet" => "ds".into(),
        "ReplicaSet" => "rs".into(),
        "ReplicationController" => "rc".into(),
        "CronJob" => "cj".into(),
        other => other.to_lowercase(),
    }
}

/// The table for `report`, laid out per `view`.
pub fn render(report: &Report, view: View) -> String {
    let mut header = vec![
        "NAMESPACE",
        "WORKLOAD",
        "CONTAINER",
        "CURRENT",
        "LATEST",
        "STATUS",
    ];
    if view.wide {
        header.extend(["IMAGE", "REASON"]);
    }
    let mut shown: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| view.all || needs_attention(f))
        .collect();
    // Grouped by workload (in a fleet, by cluster first), in the order workloads first appear;
    // containers keep their order.
    type Key<'f> = (Option<&'f str>, &'f str, &'f str, &'f str);
    fn key(f: &Finding) -> Key<'_> {
        (
            f.cluster.as_deref(),
            f.namespace.as_str(),
            f.kind,
            f.name.as_str(),
        )
    }
    let mut first_seen: std::collections::HashMap<Key<'_>, usize> = Default::default();
    for (i, f) in shown.iter().enumerate() {
        first_seen.entry(key(f)).or_insert(i);
    }
    shown.sort_by_key(|f| first_seen[&key(f)]);
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|f| {
            let mut cells = vec![
                f.namespace.clone(),
                format!("{}/{}", short_kind(f.kind), f.name),
                container_label(f),
                current(f),
                f.latest_tag.clone().unwrap_or_else(|| "-".into()),
                f.status.as_str().to_string(),
            ];
            if view.wide {
                cells.extend([f.image.clone(), f.reason.clone()]);
            }
            cells
                .into_iter()
                .map(|cell| escape_control(&cell).into_owned())
                .collect()
        })
        .collect();
    let mut natural: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in natural.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let widths = if view.wide {
        natural.clone()
    } else {
        // WORKLOAD and CONTAINER give way first, then NAMESPACE, then the tags; STATUS never.
        let gives = [
            Give { rank: 2, floor: 9 },
            Give { rank: 1, floor: 16 },
            Give { rank: 1, floor: 12 },
            Give { rank: 3, floor: 12 },
            Give { rank: 3, floor: 12 },
            Give { rank: 0, floor: 0 },
        ];
        fit(&natural, &gives, view.width)
    };

    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let nothing = "Nothing needs attention: every container is up to date or skipped.\n";
    // Below the table, long lines wrap at the width (with `-o wide` they do not).
    let wrap_at = (!view.wide).then_some(view.width);
    let summary = &report.summary;
    if summary.clusters.is_empty() && summary.failed_clusters.is_empty() {
        if rows.is_empty() {
            out.push_str(nothing);
        } else {
            line_into(&mut out, &header, None, &widths, view);
            for (row, finding) in rows.iter().zip(&shown) {
                line_into(&mut out, row, Some(finding.status), &widths, view);
            }
        }
    } else {
        // A fleet: a heading line per cluster (its counts), then its rows.
        let mut blocks = Vec::new();
        for cluster in &summary.clusters {
            let mut block = String::new();
            let heading = format!(
                "cluster {}: {}",
                escape_control(&cluster.name),
                status_counts(&cluster.counts)
            );
            push_wrapped(&mut block, &heading, wrap_at);
            let mine: Vec<(&Vec<String>, &&Finding)> = rows
                .iter()
                .zip(&shown)
                .filter(|(_, f)| f.cluster.as_deref() == Some(cluster.name.as_str()))
                .collect();
            blocks.push((block, mine));
        }
        for (i, (heading, mine)) in blocks.into_iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&heading);
            if mine.is_empty() {
                out.push_str(nothing);
                continue;
            }
            line_into(&mut out, &header, None, &widths, view);
            for (row, finding) in mine {
                line_into(&mut out, row, Some(finding.status), &widths, view);
            }
        }
        for failed in &summary.failed_clusters {
            if !out.is_empty() {
                out.push('\n');
            }
            let text = format!(
                "cluster {}: not scanned: {}",
                escape_control(&failed.name),
                escape_control(&failed.error)
            );
            push_wrapped(&mut out, &text, wrap_at);
        }
    }
    let hidden = report.findings.len() - shown.len();
    if hidden > 0 {
        let _ = writeln!(
            out,
            "({hidden} up-to-date or skipped containers not listed; --all lists them)"
        );
    }

    if !report.patches.is_empty() {
        let _ = writeln!(
            out,
            "\nPatches (one kubectl patch per workload; -o commands prints them):"
        );
        for patch in &report.patches {
            let containers: Vec<String> = patch
                .containers
                .iter()
                .map(|c| {
                    let tag = ImageRef::parse(&c.latest_image)
                        .ok()
                        .and_then(|image| image.tag().map(str::to_string))
                        .unwrap_or_else(|| c.latest_image.clone());
                    let init = if c.init_container { " (init)" } else { "" };
                    format!("{}{init} → {tag}", c.name)
                })
                .collect();
            let text = format!(
                "  {}{} {}/{}: {}",
                in_cluster(patch.cluster.as_deref()),
                patch.namespace,
                short_kind(patch.kind),
                patch.name,
                containers.join(", ")
            );
            push_wrapped(&mut out, &escape_control(&text), wrap_at);
        }
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
                let text = format!("  {}: {}", subject(finding), escape_control(note));
                push_wrapped(&mut out, &text, wrap_at);
            }
        }
    }
    let mut helm_releases: std::collections::BTreeMap<(Option<&str>, &str, &str), usize> =
        Default::default();
    for finding in &report.findings {
        if let Some(release) = &finding.helm_release {
            *helm_releases
                .entry((finding.cluster.as_deref(), &finding.namespace, release))
                .or_default() += 1;
        }
    }
    if !helm_releases.is_empty() {
        out.push_str("\nHelm:\n");
        for upgrade in &report.helm_upgrades {
            helm_releases.remove(&(
                upgrade.cluster.as_deref(),
                upgrade.namespace.as_str(),
                upgrade.release.as_str(),
            ));
            let _ = writeln!(
                out,
                "  {}release {:?} (namespace {}): -o helm prints\n    {}",
                in_cluster(upgrade.cluster.as_deref()),
                upgrade.release,
                escape_control(&upgrade.namespace),
                escape_control(&upgrade.command)
            );
        }
        for ((cluster, namespace, release), updates) in helm_releases {
            let text = format!(
                "  {}release {release:?} (namespace {}) manages {updates} of the updates: the next `helm upgrade` reverts a kubectl patch, so set the new tags in its values too",
                in_cluster(cluster),
                escape_control(namespace)
            );
            push_wrapped(&mut out, &text, wrap_at);
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
    if !unresolved.is_empty() && !view.explain {
        out.push_str("\nUnresolved:\n");
        for finding in unresolved {
            let text = format!(
                "  {}: {}",
                subject(finding),
                escape_control(&finding.reason)
            );
            push_wrapped(&mut out, &text, wrap_at);
        }
    }
    if view.explain {
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
                push_wrapped(
                    &mut out,
                    &format!("      {}", escape_control(line)),
                    wrap_at,
                );
            }
        }
    }
    out.push('\n');
    if summary.clusters.is_empty() && summary.failed_clusters.is_empty() {
        let _ = writeln!(out, "{}", summary_line(report));
    } else {
        push_wrapped(&mut out, &summary_line(report), wrap_at);
    }
    out
}

/// Appends one table line: `cells` padded to `widths` (shortened to them unless `-o wide`),
/// the STATUS cell coloured by `status` when the view asks for colour.
fn line_into(
    out: &mut String,
    cells: &[String],
    status: Option<Status>,
    widths: &[usize],
    view: View,
) {
    let mut text = String::new();
    let last = cells.len() - 1;
    for (i, cell) in cells.iter().enumerate() {
        let cell = if view.wide {
            cell.clone()
        } else {
            shorten(cell, widths[i])
        };
        let styled = i == 5;
        let style = status
            .filter(|_| view.color && styled)
            .map(status_style)
            .unwrap_or_default();
        let pad = widths[i].saturating_sub(cell.chars().count());
        if i == last {
            let _ = write!(text, "{style}{cell}{style:#}");
        } else {
            let _ = write!(text, "{style}{cell}{style:#}{:pad$}  ", "");
        }
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

/// Appends `text` as lines of at most `width` characters (when given), broken at spaces;
/// continuation lines are indented by six spaces. A word longer than the width stays whole.
fn push_wrapped(out: &mut String, text: &str, width: Option<usize>) {
    let Some(width) = width else {
        out.push_str(text);
        out.push('\n');
        return;
    };
    let indent = "      ";
    let mut line = String::new();
    let mut line_len = 0;
    for (i, word) in text.split(' ').enumerate() {
        let len = word.chars().count();
        if i > 0 && line_len + 1 + len > width && !line.trim().is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            line_len = indent.len();
        } else if i > 0 {
            line.push(' ');
            line_len += 1;
        }
        line.push_str(word);
        line_len += len;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// `[CLUSTER] ` in a fleet (escaped), else nothing: how the lines below the table name a
/// finding's cluster.
fn in_cluster(cluster: Option<&str>) -> String {
    match cluster {
        Some(cluster) => format!("[{}] ", escape_control(cluster)),
        None => String::new(),
    }
}

/// `ns/Kind/name container` (`[CLUSTER] ns/Kind/name container` in a fleet), the way notes and
/// explanations name a finding (escaped).
fn subject(finding: &Finding) -> String {
    let text = format!(
        "{}{}/{}/{} {}",
        in_cluster(finding.cluster.as_deref()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_the_kind_and_the_end_of_a_name() {
        assert_eq!(shorten("central-ledger", 20), "central-ledger");
        assert_eq!(
            shorten("deploy/moja-centralledger-handler-transfer-prepare", 24),
            "deploy/moja-…fer-prepare"
        );
        assert_eq!(
            shorten("centralledger-handler-transfer-prepare", 12),
            "cen…-prepare"
        );
        for width in 2..40 {
            assert_eq!(
                shorten("centralledger-handler-transfer-prepare", width)
                    .chars()
                    .count(),
                width.min(38)
            );
        }
    }

    #[test]
    fn fitting_shrinks_by_rank_widest_first_never_below_a_floor() {
        let gives = [
            Give { rank: 2, floor: 5 },
            Give { rank: 1, floor: 10 },
            Give { rank: 1, floor: 10 },
            Give { rank: 0, floor: 0 },
        ];
        // 8 + 30 + 20 + 16 + 6 separators = 80.
        let natural = [8, 30, 20, 16];
        assert_eq!(fit(&natural, &gives, 80), natural);
        assert_eq!(fit(&natural, &gives, 70), [8, 20, 20, 16]);
        assert_eq!(fit(&natural, &gives, 60), [8, 15, 15, 16]);
        assert_eq!(
            fit(&natural, &gives, 50),
            [8, 10, 10, 16],
            "rank 1 was enough"
        );
        assert_eq!(fit(&natural, &gives, 49), [7, 10, 10, 16], "then rank 2");
        assert_eq!(fit(&natural, &gives, 10), [5, 10, 10, 16], "floors hold");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_indents_what_follows() {
        let mut out = String::new();
        push_wrapped(&mut out, "  one two three four", Some(12));
        assert_eq!(out, "  one two\n      three\n      four\n");
        let mut out = String::new();
        push_wrapped(&mut out, "  one two three four", None);
        assert_eq!(out, "  one two three four\n");
    }
}
