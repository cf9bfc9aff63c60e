//! The offline tag index (`--tags FILE`): what a registry would list, from a JSON file.
//!
//! The file maps repositories to their tags, e.g.
//! `{"mojaloop/central-ledger": ["v10.3.0", "v10.3.1"], "docker.io/library/redis": ["6.2.4"]}`.
//! Keys may be short (`redis`, `mojaloop/x`) or fully qualified (`docker.io/mojaloop/x`); both
//! spellings of one repository are merged, so an image finds its tags however either is written.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::inventory::Workload;
use crate::inventory::image::ImageRef;
use crate::tags::{TagLookup, Tags};

/// Tags per repository, keyed by the fully qualified name (`docker.io/library/redis`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagIndex {
    repositories: BTreeMap<String, Tags>,
}

/// A tag index that cannot be used; names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("tag index {path}: {problem}")]
pub struct InvalidTagIndex {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub problem: TagIndexProblem,
}

/// What is wrong with a tag index, naming the key or value.
#[derive(Debug, thiserror::Error)]
pub enum TagIndexProblem {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// Not JSON.
    #[error("invalid JSON at line {line} column {column}: {source}")]
    Json {
        /// Where.
        line: usize,
        /// Where on the line.
        column: usize,
        /// The parser's words.
        source: serde_json::Error,
    },
    /// JSON, but not an object.
    #[error(
        "must be a JSON object from repository to a list of tags, e.g. {{\"mojaloop/central-ledger\": [\"v10.3.0\"]}}"
    )]
    NotAnObject,
    /// A key that is not a repository.
    #[error("key {key:?}: {source}")]
    Key {
        /// The key.
        key: String,
        /// Why it is not a repository.
        source: Box<crate::inventory::image::InvalidReference>,
    },
    /// A key with a tag or digest.
    #[error("key {0:?} must be a repository without a tag or digest")]
    KeyWithTag(String),
    /// A value that is not a list.
    #[error("key {0:?}: the value must be a list of tags")]
    NotAList(String),
    /// A tag that is not a string.
    #[error("key {key:?}: every tag must be a string, found {found}")]
    NotAString {
        /// The key.
        key: String,
        /// The value found, as JSON.
        found: String,
    },
}

impl TagIndex {
    /// Reads and checks an index file.
    pub fn load(path: &Path) -> Result<TagIndex, InvalidTagIndex> {
        let fail = |problem: TagIndexProblem| InvalidTagIndex {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(TagIndexProblem::Read(e)))?;
        TagIndex::from_json(&text).map_err(fail)
    }

    /// Parses an index from JSON text; the error says which key or value is wrong. A UTF-8 byte
    /// order mark at the start (some Windows editors write one) is skipped.
    pub fn from_json(text: &str) -> Result<TagIndex, TagIndexProblem> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| TagIndexProblem::Json {
                line: source.line(),
                column: source.column(),
                source,
            })?;
        let serde_json::Value::Object(object) = value else {
            return Err(TagIndexProblem::NotAnObject);
        };
        let mut index = TagIndex::default();
        // Consumed, so each repository's JSON is freed once its tags are packed into the index.
        for (key, tags) in object {
            let image = match ImageRef::parse(&key) {
                Ok(image) => image,
                Err(source) => {
                    return Err(TagIndexProblem::Key {
                        key,
                        source: Box::new(source),
                    });
                }
            };
            if image.tag().is_some() || image.digest().is_some() {
                return Err(TagIndexProblem::KeyWithTag(key));
            }
            let serde_json::Value::Array(tags) = tags else {
                return Err(TagIndexProblem::NotAList(key));
            };
            let tags = tags
                .into_iter()
                .map(|tag| match tag {
                    serde_json::Value::String(tag) => Ok(tag),
                    other => Err(TagIndexProblem::NotAString {
                        key: key.clone(),
                        found: other.to_string(),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            index.insert(&image, tags);
        }
        Ok(index)
    }

    /// Adds tags for a repository (merging with tags already known for it): each tag once, in
    /// the order first seen, in time linear in the number of tags.
    pub fn insert(&mut self, image: &ImageRef, tags: Vec<String>) {
        let known = self.repositories.entry(image.canonical_name()).or_default();
        *known = merged_keeping_first(known, &tags);
    }

    /// The tags of an image's repository, if the index has it.
    pub fn get(&self, image: &ImageRef) -> Option<&Tags> {
        self.repositories.get(&image.canonical_name())
    }

    /// How many repositories the index holds.
    pub fn len(&self) -> usize {
        self.repositories.len()
    }

    /// Whether the index holds no repository.
    pub fn is_empty(&self) -> bool {
        self.repositories.is_empty()
    }
}

/// `known` then `more`, each tag once, the first of each where it was.
fn merged_keeping_first(known: &Tags, more: &[String]) -> Tags {
    let mut seen = HashSet::with_capacity(known.len() + more.len());
    known
        .iter()
        .chain(more.iter().map(String::as_str))
        .filter(|tag| seen.insert(*tag))
        .collect()
}

/// The tag index a scan used: every repository of `workloads` whose tags `lookup` knows, keyed
/// by the name people use (`redis`, `mojaloop/x`, `ghcr.io/org/app`). Written by
/// `--export-tags`, read back by `--tags`, so a hub without registry access can be checked from
/// a snapshot taken elsewhere.
pub fn snapshot(workloads: &[Workload], lookup: &dyn TagLookup) -> BTreeMap<String, Vec<String>> {
    workloads
        .iter()
        .flat_map(|w| &w.containers)
        .filter_map(|c| ImageRef::parse(&c.image).ok())
        .filter_map(|image| Some((image.familiar_name(), lookup.tags(&image).ok()?.to_vec())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_qualified_keys_meet() {
        let index = TagIndex::from_json(
            r#"{"redis": ["6.2.4"], "docker.io/library/redis": ["6.2.5", "6.2.4"],
                "mojaloop/central-ledger": ["v10.3.0"], "ghcr.io/org/app": ["1.0.0"]}"#,
        )
        .unwrap();
        assert_eq!(index.len(), 3);
        for image in ["redis:6.2.4", "docker.io/redis", "library/redis:1"] {
            let mut tags = index
                .get(&ImageRef::parse(image).unwrap())
                .unwrap()
                .to_vec();
            tags.sort();
            assert_eq!(tags, ["6.2.4", "6.2.5"], "{image}");
        }
        assert!(
            index
                .get(&ImageRef::parse("docker.io/mojaloop/central-ledger:x").unwrap())
                .is_some()
        );
        assert!(index.get(&ImageRef::parse("org/app:1").unwrap()).is_none());
    }

    #[test]
    fn malformed_indexes_say_what_is_wrong() {
        let cases = [
            ("[1]", "must be a JSON object"),
            ("{\"a\": \"v1\"}", "key \"a\": the value must be a list"),
            ("{\"a\": [1]}", "every tag must be a string, found 1"),
            ("{\"Bad Key\": []}", "key \"Bad Key\""),
            ("{\"redis:7\": []}", "without a tag"),
            ("{\"a\": [", "invalid JSON at line 1"),
        ];
        for (text, message) in cases {
            let err = TagIndex::from_json(text).unwrap_err().to_string();
            assert!(err.contains(message), "{text}: {err}");
        }
    }

    #[test]
    fn repeats_are_dropped_keeping_first_seen_order_and_a_bom_is_skipped() {
        let index = TagIndex::from_json(
            "\u{feff}{\"a\": [\"v2\", \"v1\", \"v2\"], \"docker.io/library/a\": [\"v3\", \"v1\"]}",
        )
        .unwrap();
        let image = ImageRef::parse("a").unwrap();
        assert_eq!(*index.get(&image).unwrap(), ["v2", "v1", "v3"]);
    }
}
