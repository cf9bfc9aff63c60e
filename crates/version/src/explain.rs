//! Words for decisions: the one-line [`Resolution::reason`], the multi-line
//! [`Resolution::explain`], and a sentence for every [`Verdict`].

use std::fmt::{self, Write as _};

use crate::parse::NotAVersion;
use crate::resolve::{Candidate, Outcome, Resolution, Verdict, newest_stable};
use crate::strategy::Strategy;
use crate::version::Version;

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Chosen => f.write_str("chosen: the newest tag the strategy allows"),
            Verdict::Current => f.write_str("the current tag"),
            Verdict::Older => f.write_str("older than the current tag"),
            Verdict::SameVersion => {
                f.write_str("the same version as the current tag, written differently")
            }
            Verdict::OutsideStrategy { strategy, needs } => {
                write!(f, "newer, but outside {strategy} (needs {needs})")
            }
            Verdict::NewerAllowedExists => {
                f.write_str("newer and allowed, but a newer allowed tag exists")
            }
            Verdict::Prerelease => f.write_str("a pre-release; the current tag is not one"),
            Verdict::OtherTrack { track, current } => write!(
                f,
                "{}; the current tag is {}",
                track_phrase(track.as_deref(), "on"),
                track_phrase(current.as_deref(), "on"),
            ),
            Verdict::OtherPrefix { prefix, current } => write!(
                f,
                "written with {}; the current tag with {}",
                prefix_phrase(prefix),
                prefix_phrase(current)
            ),
            Verdict::OtherPrecision { parts, current } => write!(
                f,
                "has {parts} numeric part{}; the current tag has {current}, and a 1- or 2-part tag only moves to tags with as many parts",
                plural(*parts)
            ),
            Verdict::NotAVersion { reason } => write!(f, "not a version tag: {reason}"),
            Verdict::NotCompared => f.write_str("not compared: the current tag is not a version"),
        }
    }
}

fn track_phrase(track: Option<&str>, on: &str) -> String {
    match track {
        None => "stable (no suffix)".to_owned(),
        Some("") => format!("{on} a numeric revision suffix"),
        Some(track) => format!("{on} the `{track}` track"),
    }
}

fn prefix_phrase(prefix: &str) -> String {
    if prefix.is_empty() {
        "no prefix".to_owned()
    } else {
        format!("prefix `{prefix}`")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The reason for an unresolved current tag, with an example version from
/// the candidates when there is one.
pub(crate) fn unresolved_reason(err: &NotAVersion, candidates: &[Version]) -> String {
    let mut reason = format!("`{}` is not a version tag", err.tag());
    if !err.is_name() {
        let _ = write!(reason, " ({})", err.reason());
    }
    match newest_stable(candidates) {
        Some(example) => {
            let _ = write!(
                reason,
                ": pin a version (e.g. {example}) to get upgrade advice"
            );
        }
        None => reason.push_str(": pin a version to get upgrade advice"),
    }
    reason
}

/// "10.3.x", "10.x", "10.3.1.x", "7.2": what the strategy keeps of `current`,
/// plus its track, as in "the newest 10.3.x tag".
fn scope(current: &Version, strategy: Strategy) -> String {
    let fixed = strategy.fixed_parts();
    let numbers = current.numbers();
    let join = |parts: &[u64]| {
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut scope = if fixed == 0 {
        String::new()
    } else if fixed >= numbers.len() && numbers.len() < 3 {
        // 1- and 2-part tags: precision is fixed, so the scope is exact.
        format!("{} ", join(numbers))
    } else {
        format!("{}.x ", join(&current.padded()[..fixed]))
    };
    match current.track() {
        None => {}
        Some("") => scope.push_str("revision "),
        Some(track) => {
            scope.push_str(track);
            scope.push(' ');
        }
    }
    scope
}

impl Resolution {
    /// One line for JSON `reason` and tables, e.g. "v10.3.4 is the newest
    /// 10.3.x tag (bugfix); 2 newer tags are outside bugfix (newest v14.2.5,
    /// needs major), 5 are pre-releases or on other tracks".
    pub fn reason(&self) -> String {
        let current = match (&self.outcome, Version::parse(&self.current)) {
            (Outcome::Unresolved { reason }, _) => return reason.clone(),
            (_, Ok(current)) => current,
            // Unreachable for a Resolution made by `resolve`; say something true anyway.
            (_, Err(err)) => return err.to_string(),
        };
        let strategy = self.strategy;
        let scope = scope(&current, strategy);
        let mut line = match &self.outcome {
            Outcome::Update { latest } => {
                format!("{latest} is the newest {scope}tag ({strategy})")
            }
            _ if self
                .considered
                .iter()
                .any(|c| c.verdict == Verdict::Current) =>
            {
                format!("already the newest {scope}tag ({strategy})")
            }
            _ => format!(
                "no newer {scope}tag ({strategy}); {} itself is not in the tag list",
                self.current
            ),
        };
        let tail = self.tail(&current);
        if !tail.is_empty() {
            line.push_str("; ");
            line.push_str(&tail);
        }
        line
    }

    /// "2 newer tags are outside bugfix (...), 5 are pre-releases or on other
    /// tracks": the rejected candidates newer than the result.
    fn tail(&self, current: &Version) -> String {
        let result = match self.latest().map(Version::parse) {
            Some(Ok(latest)) => latest,
            _ => current.clone(),
        };
        let newer = |tag: &str| Version::parse(tag).is_ok_and(|v| v.padded() > result.padded());
        let mut outside = 0;
        let mut newest_outside: Option<(&str, Strategy)> = None;
        let (mut tracks, mut spelling) = (0, 0);
        for candidate in &self.considered {
            match &candidate.verdict {
                Verdict::OutsideStrategy { needs, .. } => {
                    outside += 1;
                    newest_outside.get_or_insert((&candidate.tag, *needs));
                }
                Verdict::Prerelease | Verdict::OtherTrack { .. } if newer(&candidate.tag) => {
                    tracks += 1
                }
                Verdict::OtherPrefix { .. } | Verdict::OtherPrecision { .. }
                    if newer(&candidate.tag) =>
                {
                    spelling += 1
                }
                _ => {}
            }
        }
        let mut parts: Vec<String> = Vec::new();
        let mut count = |n: usize, singular: &str, plural: &str| {
            let noun = if parts.is_empty() {
                if n == 1 {
                    "newer tag is "
                } else {
                    "newer tags are "
                }
            } else if n == 1 {
                "is "
            } else {
                "are "
            };
            parts.push(format!(
                "{n} {noun}{}",
                if n == 1 { singular } else { plural }
            ));
        };
        if outside > 0 {
            let (tag, needs) = newest_outside.expect("counted at least one");
            count(
                outside,
                &format!("outside {} ({tag} needs {needs})", self.strategy),
                &format!("outside {} (newest {tag} needs {needs})", self.strategy),
            );
        }
        if tracks > 0 {
            count(
                tracks,
                "a pre-release or on another track",
                "pre-releases or on other tracks",
            );
        }
        if spelling > 0 {
            count(
                spelling,
                "written with another prefix or number of parts",
                "written with another prefix or number of parts",
            );
        }
        parts.join(", ")
    }

    /// Several lines for `--explain`: the decision (with [`reason`](Self::reason)),
    /// a count of verdicts, the chosen, allowed and current tags, then the
    /// newer or otherwise relevant rejected candidates with why, newest first.
    /// To stay readable on repositories with hundreds of tags, only the first
    /// few of each group (per track, per needed strategy, ...) are listed and
    /// the rest counted; older candidates are only counted.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = match &self.outcome {
            Outcome::Update { latest } => writeln!(
                out,
                "{} -> {latest} ({}): {}",
                self.current,
                self.strategy,
                self.reason()
            ),
            Outcome::UpToDate => writeln!(
                out,
                "{} is up to date ({}): {}",
                self.current,
                self.strategy,
                self.reason()
            ),
            Outcome::Unresolved { reason } => {
                writeln!(out, "{}: unresolved: {reason}", self.current)
            }
        };

        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for candidate in &self.considered {
            let label = summary_label(&candidate.verdict);
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
        let summary = counts
            .iter()
            .map(|(label, n)| format!("{n} {label}"))
            .collect::<Vec<_>>()
            .join(", ");
        let total = self.considered.len();
        let _ = writeln!(
            out,
            "considered {total} tag{}{}{summary}",
            plural(total),
            if total == 0 { "" } else { ": " }
        );

        // Newest first, each group capped so a registry with hundreds of
        // snapshot tags still gives a readable explanation; the rest is counted.
        let mut shown: Vec<(String, usize)> = Vec::new(); // (group, shown so far)
        let mut omitted: Vec<(String, usize)> = Vec::new(); // (phrase, count)
        let mut listed = Vec::new();
        for candidate in &self.considered {
            let (group, cap, phrase) = group_of(candidate, self.strategy);
            let seen = match shown.iter_mut().find(|(g, _)| *g == group) {
                Some((_, n)) => n,
                None => {
                    shown.push((group, 0));
                    &mut shown.last_mut().expect("just pushed").1
                }
            };
            if *seen < cap {
                *seen += 1;
                listed.push(candidate);
            } else {
                match omitted.iter_mut().find(|(p, _)| *p == phrase) {
                    Some((_, n)) => *n += 1,
                    None => omitted.push((phrase, 1)),
                }
            }
        }
        let width = listed
            .iter()
            .map(|c| c.tag.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        // The current line (chosen, allowed, current) first, then the rejections.
        let (line, rejected): (Vec<_>, Vec<_>) = listed.into_iter().partition(|c| {
            matches!(
                c.verdict,
                Verdict::Chosen
                    | Verdict::Current
                    | Verdict::NewerAllowedExists
                    | Verdict::SameVersion
            )
        });
        for candidate in line.into_iter().chain(rejected) {
            let _ = writeln!(out, "  {:width$}  {}", candidate.tag, candidate.verdict);
        }
        for (phrase, n) in omitted {
            let phrase = phrase.replace("{tags}", if n == 1 { "tag" } else { "tags" });
            let _ = writeln!(out, "  ({n} {phrase} not listed)");
        }
        out.pop(); // the last newline
        out
    }
}

/// How `explain` groups a candidate: the group key, how many of the group to
/// list, and the phrase for the ones not listed (after a count; `{tags}`
/// becomes `tag` or `tags`).
fn group_of(candidate: &Candidate, strategy: Strategy) -> (String, usize, String) {
    let track = || {
        Version::parse(&candidate.tag)
            .ok()
            .and_then(|v| v.track().map(str::to_owned))
    };
    match &candidate.verdict {
        Verdict::Chosen | Verdict::Current | Verdict::NewerAllowedExists | Verdict::SameVersion => {
            ("line".into(), usize::MAX, String::new())
        }
        Verdict::OutsideStrategy { needs, .. } => (
            format!("outside {needs}"),
            5,
            format!("newer {{tags}} outside {strategy} (needing {needs})"),
        ),
        Verdict::Prerelease | Verdict::OtherTrack { .. } => {
            let track = track();
            let phrase = match track.as_deref() {
                None => "stable {tags}".to_owned(),
                Some("") => "{tags} with a numeric revision suffix".to_owned(),
                Some(t) => format!("{{tags}} on the `{t}` track"),
            };
            (format!("track {track:?}"), 3, phrase)
        }
        Verdict::OtherPrefix { prefix, .. } => (
            format!("prefix {prefix}"),
            3,
            format!("{{tags}} written with {}", prefix_phrase(prefix)),
        ),
        Verdict::OtherPrecision { parts, .. } => (
            format!("precision {parts}"),
            3,
            format!("{{tags}} with {parts} numeric part{}", plural(*parts)),
        ),
        Verdict::NotAVersion { .. } => ("junk".into(), 10, "{tags} that are not versions".into()),
        Verdict::Older => ("older".into(), 0, "older {tags}".into()),
        Verdict::NotCompared => ("not compared".into(), 0, "version {tags}".into()),
    }
}

fn summary_label(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Chosen => "chosen",
        Verdict::Current => "current",
        Verdict::Older => "older",
        Verdict::SameVersion => "same version",
        Verdict::OutsideStrategy { .. } => "outside the strategy",
        Verdict::NewerAllowedExists => "allowed but superseded",
        Verdict::Prerelease => "pre-release",
        Verdict::OtherTrack { .. } => "other track",
        Verdict::OtherPrefix { .. } => "other prefix",
        Verdict::OtherPrecision { .. } => "other precision",
        Verdict::NotAVersion { .. } => "not a version",
        Verdict::NotCompared => "not compared",
    }
}
