//! Resolution: from the current tag and the registry's tags, the newest tag
//! the strategy allows, with a verdict for every candidate.

use std::collections::HashSet;

use crate::strategy::Strategy;
use crate::version::Version;

/// The result of [`resolve`]: the decision and every candidate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    /// The current tag, exactly as given.
    pub current: String,
    /// The strategy the decision was made with.
    pub strategy: Strategy,
    /// The decision.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Every candidate tag once (deduplicated), newest first where comparable,
    /// each with its verdict. Tags that are not versions come last, in input
    /// order.
    pub considered: Vec<Candidate>,
}

/// The decision of a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// No candidate the strategy allows is newer than the current tag.
    UpToDate,
    /// `latest` is the newest candidate the strategy allows, and it is newer
    /// than the current tag.
    Update {
        /// The tag to move to.
        latest: String,
    },
    /// The current tag is not a version, so nothing can be compared with it.
    Unresolved {
        /// One line saying why and what to do.
        reason: String,
    },
}

/// One candidate tag and what the resolution thought of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    /// The candidate tag, exactly as listed.
    pub tag: String,
    /// Why it was chosen or not.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Why a candidate was or was not chosen. `Display` (in `explain`) gives a
/// human sentence for each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The newest allowed candidate: the upgrade target.
    Chosen,
    /// The current tag itself.
    Current,
    /// Not newer than the current tag.
    Older,
    /// The same version as the current tag written differently (`v15.1.2.0`
    /// for `v15.1.2`, or other `+build` metadata): not an upgrade.
    SameVersion,
    /// Newer, but the strategy does not reach it.
    OutsideStrategy {
        /// The strategy in force.
        strategy: Strategy,
        /// The narrowest strategy that would allow it.
        needs: Strategy,
    },
    /// Newer and allowed, but a newer allowed candidate exists.
    NewerAllowedExists,
    /// A pre-release (`-snapshot.3`, `-rc1`, `-iso.2`) while the current tag
    /// is not one.
    Prerelease,
    /// On another suffix track than the current tag (`-alpine` vs stable,
    /// stable vs `-pisp`, `-snapshot` vs `-pisp`).
    OtherTrack {
        /// The candidate's track (`None` = stable, no suffix).
        track: Option<String>,
        /// The current tag's track.
        current: Option<String>,
    },
    /// Written with another prefix style (`14.0.0` vs `v14.0.0`).
    OtherPrefix {
        /// The candidate's prefix (`""`, `"v"` or `"V"`).
        prefix: String,
        /// The current tag's prefix.
        current: String,
    },
    /// Another number of parts where precision matters (`7.2` vs `7.2.5`):
    /// 1- and 2-part tags only move to tags with as many parts.
    OtherPrecision {
        /// The candidate's number of numeric parts.
        parts: usize,
        /// The current tag's number of numeric parts.
        current: usize,
    },
    /// The candidate is not a version tag.
    NotAVersion {
        /// Why, e.g. "a name, not a version number".
        reason: String,
    },
    /// The current tag is not a version, so the candidate was not compared.
    NotCompared,
}

impl Resolution {
    /// The tag to move to: `Some` only for [`Outcome::Update`].
    pub fn latest(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Update { latest } => Some(latest),
            _ => None,
        }
    }

    /// True when there is a newer allowed tag.
    pub fn has_update(&self) -> bool {
        matches!(self.outcome, Outcome::Update { .. })
    }
}

/// Finds the newest tag among `candidates` that `strategy` allows from
/// `current`, and gives every candidate a verdict.
///
/// A candidate is allowed when it is a version with the same prefix style,
/// suffix track and precision as `current`, is newer (numbers, then suffix
/// counter), and shares the leading numbers the strategy keeps fixed.
/// `current` need not be among the candidates; duplicates are ignored. The
/// result is never older than `current`.
///
/// To resolve many current tags against one repository's tags, parse them
/// once into a [`TagSet`] instead.
///
/// ```
/// use ml_operator_version::{resolve, Outcome, Strategy};
///
/// let tags = ["v10.3.1", "v10.3.4", "v10.3.5-snapshot.1", "v11.0.0", "latest"];
/// let r = resolve("v10.3.1", tags, Strategy::Bugfix);
/// assert_eq!(r.latest(), Some("v10.3.4"));
/// assert_eq!(resolve("v10.3.1", tags, Strategy::Major).latest(), Some("v11.0.0"));
/// assert!(matches!(resolve("latest", tags, Strategy::Bugfix).outcome, Outcome::Unresolved { .. }));
/// ```
pub fn resolve<'a>(
    current: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    strategy: Strategy,
) -> Resolution {
    TagSet::new(candidates).resolve(current, strategy)
}

/// A repository's tags, parsed, deduplicated and sorted once, so that many
/// current tags (one per container running the repository) are resolved
/// without parsing and sorting the list again for each.
///
/// ```
/// use ml_operator_version::{Strategy, TagSet};
///
/// let tags = TagSet::new(["v10.3.1", "v10.3.4", "v10.4.0", "v11.0.0", "latest"]);
/// assert_eq!(tags.decide("v10.3.1", Strategy::Bugfix).latest(), Some("v10.3.4"));
/// assert_eq!(tags.decide("v10.3.1", Strategy::Minor).latest(), Some("v10.4.0"));
/// // The whole resolution has a verdict for every tag, older ones included.
/// assert_eq!(tags.resolve("v10.3.4", Strategy::Bugfix).considered.len(), 5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TagSet {
    /// The version tags, newest first.
    versions: Vec<Version>,
    /// The tags that are not versions, in input order, with why.
    junk: Vec<Candidate>,
}

impl TagSet {
    /// Parses `tags`; duplicates are dropped.
    pub fn new<'a>(tags: impl IntoIterator<Item = &'a str>) -> TagSet {
        let mut seen = HashSet::new();
        let mut versions: Vec<Version> = Vec::new();
        let mut junk: Vec<Candidate> = Vec::new();
        for tag in tags {
            if !seen.insert(tag) {
                continue;
            }
            match Version::parse(tag) {
                Ok(version) => versions.push(version),
                Err(err) => junk.push(Candidate {
                    tag: tag.to_owned(),
                    verdict: Verdict::NotAVersion {
                        reason: err.reason(),
                    },
                }),
            }
        }
        versions.sort_unstable_by(|a, b| b.cmp(a));
        TagSet { versions, junk }
    }

    /// [`resolve`] against these tags: the outcome and a verdict for every
    /// tag, for explanations.
    pub fn resolve(&self, current: &str, strategy: Strategy) -> Resolution {
        let current_version = match Version::parse(current) {
            Ok(version) => version,
            Err(err) => return self.unresolved(current, &err, strategy, true),
        };
        let versions = &self.versions;
        let mut verdicts: Vec<Verdict> = versions
            .iter()
            .map(|candidate| judge(&current_version, candidate, strategy))
            .collect();
        // Versions are sorted newest first, so the first allowed one is the newest.
        let chosen = verdicts.iter().position(|v| *v == Verdict::Chosen);
        if let Some(chosen) = chosen {
            for verdict in &mut verdicts[chosen + 1..] {
                if *verdict == Verdict::Chosen {
                    *verdict = Verdict::NewerAllowedExists;
                }
            }
        }
        let considered = versions
            .iter()
            .zip(verdicts)
            .map(|(v, verdict)| Candidate {
                tag: v.as_str().to_owned(),
                verdict,
            })
            .chain(self.junk.iter().cloned())
            .collect();
        Resolution {
            current: current.to_owned(),
            strategy,
            outcome: outcome(chosen.map(|i| &versions[i])),
            considered,
        }
    }

    /// The decision alone, as a scan needs it: the same outcome and
    /// [`Resolution::reason`] as [`TagSet::resolve`], but `considered` holds
    /// only the candidates that can matter (the current tag and newer ones),
    /// so the cost follows the number of newer tags, not of all tags.
    pub fn decide(&self, current: &str, strategy: Strategy) -> Resolution {
        let current_version = match Version::parse(current) {
            Ok(version) => version,
            Err(err) => return self.unresolved(current, &err, strategy, false),
        };
        let floor = current_version.padded();
        // Sorted newest first by their numbers: everything after these is older.
        let newer = self.versions.iter().take_while(|v| v.padded() >= floor);
        let mut chosen = None;
        let considered = newer
            .map(|candidate| {
                let mut verdict = judge(&current_version, candidate, strategy);
                if verdict == Verdict::Chosen {
                    if chosen.is_some() {
                        verdict = Verdict::NewerAllowedExists;
                    } else {
                        chosen = Some(candidate);
                    }
                }
                Candidate {
                    tag: candidate.as_str().to_owned(),
                    verdict,
                }
            })
            .collect::<Vec<_>>();
        Resolution {
            current: current.to_owned(),
            strategy,
            outcome: outcome(chosen),
            considered,
        }
    }

    /// The resolution of a current tag that is not a version; every candidate
    /// is listed only when `every_candidate`.
    fn unresolved(
        &self,
        current: &str,
        err: &crate::NotAVersion,
        strategy: Strategy,
        every_candidate: bool,
    ) -> Resolution {
        let reason = crate::explain::unresolved_reason(err, &self.versions);
        let mark = |tag: &str, verdict: Verdict| Candidate {
            verdict: if tag == current {
                Verdict::Current
            } else {
                verdict
            },
            tag: tag.to_owned(),
        };
        let considered = if every_candidate {
            self.versions
                .iter()
                .map(|v| mark(v.as_str(), Verdict::NotCompared))
                .chain(self.junk.iter().map(|c| mark(&c.tag, c.verdict.clone())))
                .collect()
        } else {
            Vec::new()
        };
        Resolution {
            current: current.to_owned(),
            strategy,
            outcome: Outcome::Unresolved { reason },
            considered,
        }
    }
}

/// The outcome for the newest allowed candidate, if any.
fn outcome(chosen: Option<&Version>) -> Outcome {
    match chosen {
        Some(version) => Outcome::Update {
            latest: version.as_str().to_owned(),
        },
        None => Outcome::UpToDate,
    }
}

/// The verdict for one version candidate; `Chosen` here means "allowed"
/// (the caller keeps only the newest as chosen).
fn judge(current: &Version, candidate: &Version, strategy: Strategy) -> Verdict {
    if candidate.as_str() == current.as_str() {
        return Verdict::Current;
    }
    if candidate.padded() < current.padded() {
        return Verdict::Older;
    }
    if candidate.track() != current.track() {
        return if candidate.is_prerelease() && !current.is_prerelease() {
            Verdict::Prerelease
        } else {
            Verdict::OtherTrack {
                track: candidate.track().map(str::to_owned),
                current: current.track().map(str::to_owned),
            }
        };
    }
    if candidate.prefix() != current.prefix() {
        return Verdict::OtherPrefix {
            prefix: candidate.prefix().to_owned(),
            current: current.prefix().to_owned(),
        };
    }
    if !candidate.same_line(current) {
        return Verdict::OtherPrecision {
            parts: candidate.numbers().len(),
            current: current.numbers().len(),
        };
    }
    match candidate.line_cmp(current) {
        std::cmp::Ordering::Less => Verdict::Older,
        std::cmp::Ordering::Equal => Verdict::SameVersion,
        std::cmp::Ordering::Greater => {
            let needs = needed_strategy(current, candidate);
            if needs <= strategy {
                Verdict::Chosen
            } else {
                Verdict::OutsideStrategy { strategy, needs }
            }
        }
    }
}

/// The narrowest strategy that allows moving from `current` to `candidate`
/// (both on the same line): it depends on how many leading numbers they share.
pub(crate) fn needed_strategy(current: &Version, candidate: &Version) -> Strategy {
    let (a, b) = (current.padded(), candidate.padded());
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    Strategy::needed_for(shared)
}

/// The newest stable candidate, preferring full `X.Y.Z` tags: the example
/// offered when the current tag is not a version.
pub(crate) fn newest_stable(versions: &[Version]) -> Option<&Version> {
    versions
        .iter()
        .filter(|v| v.is_stable())
        .max_by_key(|v| (v.numbers().len() >= 3, *v))
}
