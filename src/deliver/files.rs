//! Updates located in values files on disk (the GitOps repository a Hub operator has checked
//! out, or the files `helm upgrade -f` is run with), and those files edited: only the tag
//! scalars change.
//!
//! Which keys: when the finding's Helm release named its values path, that path; otherwise
//! every image key of the files that holds the finding's image (repository and current tag),
//! since those are what render it. A finding whose key is in no file gets a note saying so,
//! with the path to add when the release told it.

use std::collections::BTreeMap;

use crate::inventory::ImageRef;
use crate::scan::{Report, Status};
use crate::values::images::{ImageKey, image_keys};
use crate::values::yaml::{Change, ValuesFile, YamlError};

/// A values file read from disk.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// The path as given (or found under a given directory), for messages and the diff.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Its tree and scalar positions.
    pub file: ValuesFile,
}

/// Why a values file could not be used; names the file (and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    /// The file.
    pub path: String,
    /// What is wrong, with the line.
    pub source: YamlError,
}

impl LoadedFile {
    /// Reads `text` as the values file at `path`.
    pub fn parse(path: String, text: String) -> Result<LoadedFile, FileError> {
        match ValuesFile::parse(&text) {
            Ok(file) => Ok(LoadedFile { path, text, file }),
            Err(source) => Err(FileError { path, source }),
        }
    }
}

/// One file's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The file.
    pub path: String,
    /// Its text now.
    pub before: String,
    /// Its text with the tags changed.
    pub after: String,
}

impl FileEdit {
    /// A unified diff (`--- a/PATH`, `+++ b/PATH`) without context lines: the lines around a
    /// tag may hold a password, and only the changed tag lines are ever printed
    /// (`git apply --unidiff-zero` and `patch` take it).
    pub fn diff(&self) -> String {
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(0)
            .header(&format!("a/{}", self.path), &format!("b/{}", self.path))
            .to_string()
    }
}

/// One image to move to a new tag: what [`plan`] reads from a finding, and what git delivery
/// reads from an ImageUpgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMove {
    /// The image as it runs now.
    pub image: ImageRef,
    /// The tag it moves to.
    pub tag: String,
    /// The values key a Helm release named for it, when known: only that key is changed.
    pub known_path: Option<String>,
}

/// Locates every update of `report` in `files` (notes on the findings say where, or that it is
/// in none) and returns the edits, one per file that changes, in the order given. Without
/// files, nothing.
pub fn plan(report: &mut Report, files: &[LoadedFile]) -> Result<Vec<FileEdit>, FileError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut moves = Vec::new();
    let mut owners = Vec::new();
    for (i, finding) in report.findings.iter().enumerate() {
        if finding.status != Status::UpdateAvailable {
            continue;
        }
        let (Some(latest), Ok(image)) = (&finding.latest_tag, ImageRef::parse(&finding.image))
        else {
            continue;
        };
        moves.push(TagMove {
            image,
            tag: latest.clone(),
            known_path: finding.helm.as_ref().and_then(|h| h.values_path.clone()),
        });
        owners.push(i);
    }
    let (edits, notes) = plan_moves(&moves, files)?;
    for (i, notes) in owners.into_iter().zip(notes) {
        report.findings[i].notes.extend(notes);
    }
    Ok(edits)
}

/// Locates each of `moves` in `files` and returns the edits (one per file that changes) and,
/// per move, the notes saying where it was found or that it is in none of the files (a note
/// starting with the image and `is in none of`).
pub fn plan_moves(
    moves: &[TagMove],
    files: &[LoadedFile],
) -> Result<(Vec<FileEdit>, Vec<Vec<String>>), FileError> {
    let keys: Vec<Vec<ImageKey>> = files
        .iter()
        .map(|f| image_keys(&f.file.value).unwrap_or_default())
        .collect();
    let mut changes: Vec<BTreeMap<String, Change>> = vec![BTreeMap::new(); files.len()];
    let mut all_notes = Vec::new();
    for wanted_move in moves {
        let mut notes = Vec::new();
        let image = &wanted_move.image;
        let latest = &wanted_move.tag;
        let known_path = &wanted_move.known_path;
        let mut found = Vec::new();
        for (i, file_keys) in keys.iter().enumerate() {
            for key in file_keys {
                let wanted = match known_path {
                    Some(path) => key.path.to_string() == *path && key.renders(image),
                    None => key.renders(image),
                };
                if !wanted {
                    continue;
                }
                let path = key.path.to_string();
                let value = key.new_value(latest);
                let line = files[i].file.line(&key.path).unwrap_or(0);
                match changes[i].get(&path) {
                    Some(other) if other.value != value => {
                        notes.push(format!(
                            "{}:{line}: {path} also renders an image that moves to {}: change it by hand",
                            files[i].path, other.value
                        ));
                        continue;
                    }
                    _ => {}
                }
                changes[i].insert(
                    path.clone(),
                    Change {
                        path: key.path.clone(),
                        value: value.clone(),
                    },
                );
                found.push(format!("{}:{line}: {path}: {value}", files[i].path));
            }
        }
        if found.is_empty() {
            let hint = match known_path {
                Some(path) => format!("; add {path}: {latest}"),
                None => String::new(),
            };
            notes.push(format!("{image} is in none of the --values files{hint}"));
        } else {
            notes.push(format!("values: {}", found.join("; ")));
        }
        all_notes.push(notes);
    }
    let mut edits = Vec::new();
    for (file, changes) in files.iter().zip(changes) {
        if changes.is_empty() {
            continue;
        }
        let changes: Vec<Change> = changes.into_values().collect();
        let after = file
            .file
            .edit(&file.text, &changes)
            .map_err(|source| FileError {
                path: file.path.clone(),
                source,
            })?;
        if after != file.text {
            edits.push(FileEdit {
                path: file.path.clone(),
                before: file.text.clone(),
                after,
            });
        }
    }
    Ok((edits, all_notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Finding, HelmValues};
    use ml_operator_version::Strategy;

    fn finding(image: &str, latest: &str, path: Option<&str>) -> Finding {
        Finding {
            cluster: None,
            kind: "Deployment",
            namespace: "hub".into(),
            name: "w".into(),
            container: "app".into(),
            init_container: false,
            image: image.into(),
            repository: String::new(),
            current_tag: None,
            latest_tag: Some(latest.into()),
            latest_image: None,
            strategy: Strategy::default(),
            status: Status::UpdateAvailable,
            reason: String::new(),
            command: None,
            notes: Vec::new(),
            helm_release: None,
            managed_by: None,
            helm: path.map(|p| {
                Box::new(HelmValues {
                    release: "hub".into(),
                    namespace: "hub".into(),
                    chart: "mojaloop".into(),
                    chart_version: "17.1.0".into(),
                    values_path: Some(p.into()),
                })
            }),
            running_digest: None,
            registry_digest: None,
            held_back: None,
            signature: None,
            explanation: None,
        }
    }

    const VALUES: &str = "# hub\nledger:\n  image:\n    repository: mojaloop/central-ledger\n    tag: v17.8.0  # pinned\n\n  handler:\n    image:\n      repository: mojaloop/central-ledger\n      tag: v17.8.0\nals:\n  image: \"mojaloop/account-lookup-service:v15.1.0\"\ndb:\n  password: s3cret\n";

    #[test]
    fn edits_every_key_that_renders_the_image_and_nothing_else() {
        let files = [LoadedFile::parse("values.yaml".into(), VALUES.into()).unwrap()];
        let mut report = Report {
            findings: vec![
                finding("mojaloop/central-ledger:v17.8.0", "v17.8.1", None),
                finding("mojaloop/account-lookup-service:v15.1.0", "v15.1.2", None),
                finding(
                    "mojaloop/quoting-service:v15.0.0",
                    "v15.0.1",
                    Some("quoting-service.image.tag"),
                ),
            ],
            ..Report::default()
        };
        let edits = plan(&mut report, &files).unwrap();
        assert_eq!(edits.len(), 1);
        let diff = edits[0].diff();
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| {
                (l.starts_with('-') || l.starts_with('+'))
                    && !l.starts_with("--- ")
                    && !l.starts_with("+++ ")
            })
            .collect();
        assert_eq!(
            changed,
            [
                "-    tag: v17.8.0  # pinned",
                "+    tag: v17.8.1  # pinned",
                "-      tag: v17.8.0",
                "+      tag: v17.8.1",
                "-  image: \"mojaloop/account-lookup-service:v15.1.0\"",
                "+  image: \"mojaloop/account-lookup-service:v15.1.2\"",
            ]
        );
        assert!(
            diff.starts_with("--- a/values.yaml\n+++ b/values.yaml\n"),
            "{diff}"
        );
        assert!(report.findings[0].notes[0].contains("values.yaml:5: ledger.image.tag: v17.8.1"));
        assert!(
            report.findings[2].notes[0]
                .contains("in none of the --values files; add quoting-service.image.tag: v15.0.1")
        );
        assert!(!diff.contains("s3cret"));
    }

    #[test]
    fn a_known_values_path_limits_the_edit_to_that_key() {
        let files = [LoadedFile::parse("values.yaml".into(), VALUES.into()).unwrap()];
        let mut report = Report {
            findings: vec![finding(
                "mojaloop/central-ledger:v17.8.0",
                "v17.8.1",
                Some("ledger.handler.image.tag"),
            )],
            ..Report::default()
        };
        let edits = plan(&mut report, &files).unwrap();
        assert_eq!(
            edits[0].after,
            VALUES.replace("      tag: v17.8.0", "      tag: v17.8.1")
        );
    }

    #[test]
    fn a_bad_file_is_named_with_its_line() {
        let err = LoadedFile::parse("hub/values.yaml".into(), "a: [\n".into()).unwrap_err();
        assert!(
            err.to_string().starts_with("hub/values.yaml: line "),
            "{err}"
        );
    }
}
