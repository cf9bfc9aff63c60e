//! The image keys of a values tree: each place a chart reads an image from, with the tag it
//! holds, and which of them render a given running image.
//!
//! Recognised layouts (chart-independent; no chart's paths are known in advance):
//! - a mapping with `repository` and `tag` (`image: {repository: mojaloop/central-ledger, tag:
//!   v17.8.0}`), optionally with `registry` (Bitnami's triple); the key to change is `tag`;
//! - a string `repo:tag` under a key whose name ends in `image` (`image: mojaloop/ml-api-adapter:v14.0.0`,
//!   `initImage: …`); the key to change is that string.
//!
//! Not recognised: a tag assembled in a template from unrelated keys (`imageTag` next to an
//! `image` without a tag), digests only, and tags that only a subchart's own defaults hold.

use serde_json::Value;

use super::path::{Segment, ValuesPath};
use crate::inventory::ImageRef;

/// How an image is written in the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Layout {
    /// `repository` + `tag` in one mapping.
    RepositoryTag,
    /// `registry` + `repository` + `tag` in one mapping.
    RegistryRepositoryTag,
    /// One `repo:tag` string.
    ImageString,
}

/// One place in a values tree an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageKey {
    /// The scalar to change: the `tag`, or the whole `image` string.
    pub path: ValuesPath,
    /// The repository, with the registry in front when the values give one.
    pub repository: String,
    /// The tag the values hold.
    pub tag: String,
    /// Which layout it was found in.
    pub layout: Layout,
}

/// The deepest nesting and the most nodes a values tree may have: bounds on hostile input.
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 1_000_000;

/// A values tree beyond the bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooLarge {
    /// Nested deeper than `MAX_DEPTH`.
    #[error("values nested deeper than {MAX_DEPTH} levels")]
    Depth,
    /// More than `MAX_NODES` values.
    #[error("more than {MAX_NODES} values")]
    Nodes,
}

impl ImageKey {
    /// Whether this key renders `image`: the same tag, and the same repository (when the values
    /// name no registry, a chart may prefix one of its own, so the path alone is compared).
    pub fn renders(&self, image: &ImageRef) -> bool {
        if image.tag() != Some(self.tag.as_str()) {
            return false;
        }
        let Ok(own) = ImageRef::parse(&format!("{}:{}", self.repository, self.tag)) else {
            return false;
        };
        own.canonical_name() == image.canonical_name()
            || (!self.names_registry() && own.repository() == image.repository())
    }

    /// Whether the repository as written starts with a registry host.
    fn names_registry(&self) -> bool {
        self.layout == Layout::RegistryRepositoryTag
            || self
                .repository
                .split_once('/')
                .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost")
    }

    /// The scalar's new text for `tag`: the tag itself, or `repo:tag` for an image string.
    pub fn new_value(&self, tag: &str) -> String {
        match self.layout {
            Layout::ImageString => format!("{}:{tag}", self.repository),
            Layout::RepositoryTag | Layout::RegistryRepositoryTag => tag.to_string(),
        }
    }
}

/// Every image key of `values`, in document order.
pub fn image_keys(values: &Value) -> Result<Vec<ImageKey>, TooLarge> {
    let mut walk = Walk {
        keys: Vec::new(),
        nodes: 0,
    };
    walk.visit(values, &ValuesPath::default(), 0)?;
    Ok(walk.keys)
}

struct Walk {
    keys: Vec<ImageKey>,
    nodes: usize,
}

impl Walk {
    fn visit(&mut self, value: &Value, path: &ValuesPath, depth: usize) -> Result<(), TooLarge> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(TooLarge::Nodes);
        }
        if depth > MAX_DEPTH {
            return Err(TooLarge::Depth);
        }
        match value {
            Value::Object(map) => {
                if let (Some(Value::String(repository)), Some(tag)) =
                    (map.get("repository"), map.get("tag").and_then(scalar))
                    && !repository.is_empty()
                    && !tag.is_empty()
                {
                    let registry = map
                        .get("registry")
                        .and_then(Value::as_str)
                        .filter(|r| !r.is_empty());
                    self.keys.push(ImageKey {
                        path: path.child(Segment::Key("tag".into())),
                        repository: match registry {
                            Some(registry) => {
                                format!("{}/{repository}", registry.trim_end_matches('/'))
                            }
                            None => repository.clone(),
                        },
                        tag,
                        layout: if registry.is_some() {
                            Layout::RegistryRepositoryTag
                        } else {
                            Layout::RepositoryTag
                        },
                    });
                }
                for (key, child) in map {
                    let child_path = path.child(Segment::Key(key.clone()));
                    if let Value::String(text) = child
                        && key.to_ascii_lowercase().ends_with("image")
                        && let Some(key) = image_string(text, child_path.clone())
                    {
                        self.keys.push(key);
                    }
                    self.visit(child, &child_path, depth + 1)?;
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    self.visit(child, &path.child(Segment::Index(i)), depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A tag as text: strings as they are, numbers as YAML wrote them.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `repo:tag` as an image key; `None` for anything without a tag (or not an image at all).
fn image_string(text: &str, path: ValuesPath) -> Option<ImageKey> {
    let image = ImageRef::parse(text).ok()?;
    let tag = image.tag()?.to_string();
    if image.digest().is_some() {
        return None;
    }
    let repository = text[..text.len() - tag.len() - 1].to_string();
    Some(ImageKey {
        path,
        repository,
        tag,
        layout: Layout::ImageString,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(values: &Value) -> Vec<String> {
        image_keys(values)
            .unwrap()
            .iter()
            .map(|k| format!("{}={}:{}", k.path, k.repository, k.tag))
            .collect()
    }

    #[test]
    fn finds_repository_and_tag_mappings_at_any_depth() {
        let values = json!({
            "centralledger": {"centralledger-service": {"image": {
                "repository": "mojaloop/central-ledger", "tag": "v17.8.0", "pullPolicy": "IfNotPresent"}}},
            "mysql": {"image": {"registry": "docker.io", "repository": "bitnami/mysql", "tag": "8.0.32-debian-11-r0"}},
            "password": "hunter2",
        });
        assert_eq!(
            paths(&values),
            [
                "centralledger.centralledger-service.image.tag=mojaloop/central-ledger:v17.8.0",
                "mysql.image.tag=docker.io/bitnami/mysql:8.0.32-debian-11-r0",
            ]
        );
    }

    #[test]
    fn finds_image_strings_under_image_keys_only() {
        let values = json!({
            "central": {"centralledger": {"centralledger-service": {"containers": {"api": {
                "image": "mojaloop/central-ledger:v10.3.0"}}}}},
            "sidecars": [{"initImage": "busybox:1.36"}],
            "note": "mojaloop/central-ledger:v10.3.0",
            "digestOnly": {"image": "mojaloop/x@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
        });
        assert_eq!(
            paths(&values),
            [
                "central.centralledger.centralledger-service.containers.api.image=mojaloop/central-ledger:v10.3.0",
                "sidecars[0].initImage=busybox:1.36",
            ]
        );
    }

    #[test]
    fn a_key_renders_the_image_it_names_and_only_that() {
        let values = json!({"image": {"repository": "mojaloop/central-ledger", "tag": "v17.8.0"}});
        let key = &image_keys(&values).unwrap()[0];
        let renders = |s: &str| key.renders(&ImageRef::parse(s).unwrap());
        assert!(renders("mojaloop/central-ledger:v17.8.0"));
        assert!(renders("docker.io/mojaloop/central-ledger:v17.8.0"));
        // A chart may put its own registry in front of a repository without one.
        assert!(renders(
            "mirror.example:5000/mojaloop/central-ledger:v17.8.0"
        ));
        assert!(!renders("mojaloop/central-ledger:v17.8.1"));
        assert!(!renders("mojaloop/central-settlement:v17.8.0"));
        let pinned = json!({"image": {"registry": "ghcr.io", "repository": "mojaloop/central-ledger", "tag": "v17.8.0"}});
        let key = &image_keys(&pinned).unwrap()[0];
        assert!(!key.renders(&ImageRef::parse("mojaloop/central-ledger:v17.8.0").unwrap()));
        assert!(key.renders(&ImageRef::parse("ghcr.io/mojaloop/central-ledger:v17.8.0").unwrap()));
    }

    #[test]
    fn numeric_tags_are_read_as_written() {
        let values = json!({"image": {"repository": "redis", "tag": 7}});
        assert_eq!(paths(&values), ["image.tag=redis:7"]);
    }

    #[test]
    fn the_new_value_keeps_the_layout() {
        let values = json!({"a": {"image": "mojaloop/x:v1.0.0"}, "b": {"image": {"repository": "r", "tag": "1"}}});
        let keys = image_keys(&values).unwrap();
        assert_eq!(keys[0].new_value("v1.0.1"), "mojaloop/x:v1.0.1");
        assert_eq!(keys[1].new_value("2"), "2");
    }

    #[test]
    fn deep_trees_are_refused() {
        let mut value = json!("leaf");
        for _ in 0..100 {
            value = json!({ "a": value });
        }
        assert_eq!(image_keys(&value), Err(TooLarge::Depth));
    }
}
