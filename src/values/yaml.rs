//! A values file as text: read with the byte range of every scalar, and edited in place so
//! that only the changed scalars differ — comments, quoting style, key order, anchors and blank
//! lines stay byte for byte.
//!
//! Aliases (`tag: *ledgerTag`) and merge keys (`<<: *defaults`) are followed: the value a path
//! reads is the anchored one, and its scalar's range is the anchor's, so an anchored tag is
//! changed once, where it is defined. Bounded: nesting depth and the nodes aliases may expand to.

use std::collections::BTreeMap;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Value};

use super::path::{Segment, ValuesPath};

/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 64;
/// Nodes (aliases expanded) beyond this are refused: an alias bomb is hostile input.
const MAX_NODES: usize = 1_000_000;

/// Why a values file could not be read or edited; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// Not YAML, or YAML this reader does not take.
    #[error("line {line}: {message}")]
    Syntax {
        /// Where.
        line: usize,
        /// What.
        message: String,
    },
    /// Two changes want different values in one anchored scalar.
    #[error(
        "line {line}: {first} and {second} share this anchored scalar but need different values"
    )]
    Conflict {
        /// The scalar's line.
        line: usize,
        /// One path through the anchor.
        first: String,
        /// Another.
        second: String,
    },
    /// The scalar to change is a block scalar (`|`, `>`), which is not edited.
    #[error("line {line}: {path} is a block scalar; change it by hand")]
    BlockScalar {
        /// The scalar's line.
        line: usize,
        /// Its path.
        path: String,
    },
}

/// Where a scalar is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    bytes: Range<usize>,
    line: usize,
    style: ScalarStyle,
}

/// A values file read: its tree (every scalar as a string) and where each scalar is written.
#[derive(Debug, Clone)]
pub struct ValuesFile {
    /// The tree, aliases and merge keys resolved; every scalar is a string.
    pub value: Value,
    sites: BTreeMap<ValuesPath, Site>,
}

/// One scalar to change: its path and its new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The path (through aliases, if it is one).
    pub path: ValuesPath,
    /// The new value.
    pub value: String,
}

impl ValuesFile {
    /// Reads a values file (one YAML document; an empty file is an empty mapping).
    pub fn parse(text: &str) -> Result<ValuesFile, YamlError> {
        let mut reader = Reader {
            events: Parser::new_from_str(text),
            anchors: BTreeMap::new(),
            nodes: 0,
        };
        let mut documents = 0;
        let mut tree = (Value::Object(Map::new()), Vec::new());
        loop {
            let (event, span) = reader.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(syntax(&span, "a values file has one YAML document"));
                    }
                }
                other => {
                    tree = reader.node(other, &span, 0)?;
                }
            }
        }
        Ok(ValuesFile {
            value: tree.0,
            sites: tree.1.into_iter().collect(),
        })
    }

    /// The 1-based line of the scalar at `path`, if the file has one there.
    pub fn line(&self, path: &ValuesPath) -> Option<usize> {
        self.sites.get(path).map(|site| site.line)
    }

    /// `text` (the text this was parsed from) with `changes` made; paths not in the file are
    /// left out (ask [`ValuesFile::line`] first). Each scalar keeps its quoting style.
    pub fn edit(&self, text: &str, changes: &[Change]) -> Result<String, YamlError> {
        let mut by_start: BTreeMap<usize, (&Site, &Change)> = BTreeMap::new();
        for change in changes {
            let Some(site) = self.sites.get(&change.path) else {
                continue;
            };
            if matches!(site.style, ScalarStyle::Literal | ScalarStyle::Folded) {
                return Err(YamlError::BlockScalar {
                    line: site.line,
                    path: change.path.to_string(),
                });
            }
            if let Some((_, earlier)) = by_start.get(&site.bytes.start)
                && earlier.value != change.value
            {
                return Err(YamlError::Conflict {
                    line: site.line,
                    first: earlier.path.to_string(),
                    second: change.path.to_string(),
                });
            }
            by_start.insert(site.bytes.start, (site, change));
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (site, change) in by_start.values() {
            out.push_str(&text[at..site.bytes.start]);
            out.push_str(&render(&change.value, site.style));
            at = site.bytes.end;
        }
        out.push_str(&text[at..]);
        Ok(out)
    }
}

/// A scalar's text in a style: plain stays plain unless YAML would read the value as something
/// other than that string, which is then double-quoted.
fn render(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::Plain if plain_is_safe(value) => value.to_string(),
        _ => serde_json::to_string(value).expect("a string serializes"),
    }
}

/// Whether `value` written plain reads back as the same string.
fn plain_is_safe(value: &str) -> bool {
    let chars_ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
        })
        && !value.starts_with(['-', ':', '@'])
        && !value.ends_with(':');
    let retyped = value.parse::<f64>().is_ok()
        || value.starts_with("0x")
        || value.starts_with("0o")
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~" | ".inf" | ".nan"
        );
    chars_ok && !retyped
}

/// A node's value and its scalars' sites, by path relative to the node.
type Node = (Value, Vec<(ValuesPath, Site)>);

struct Reader<'a> {
    events: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: BTreeMap<usize, Node>,
    nodes: usize,
}

/// Whether an event is part of the tree (not a comment or other presentation detail).
fn is_structural(event: &Event<'_>) -> bool {
    matches!(
        event,
        Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(..)
            | Event::DocumentEnd
            | Event::Alias(_)
            | Event::Scalar(..)
            | Event::SequenceStart(..)
            | Event::SequenceEnd
            | Event::MappingStart(..)
            | Event::MappingEnd
    )
}

fn syntax(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError::Syntax {
        line: span.start.line(),
        message: message.into(),
    }
}

impl<'a> Reader<'a> {
    /// The next event of the tree; presentation events (comments, anchor names) are skipped.
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        loop {
            if let Some(Ok((event, _))) = self.events.peek()
                && !is_structural(event)
            {
                self.events.next_event();
                continue;
            }
            return self.next_structural();
        }
    }

    fn next_structural(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.events.next_event() {
            Some(Ok(next)) => Ok(next),
            Some(Err(e)) => Err(YamlError::Syntax {
                line: e.marker().line(),
                message: e.info(),
            }),
            None => Err(YamlError::Syntax {
                line: 0,
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn count(&mut self, span: &Span, nodes: usize) -> Result<(), YamlError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(syntax(
                span,
                format!("more than {MAX_NODES} values (aliases expanded)"),
            ));
        }
        Ok(())
    }

    /// The node that starts with `event`.
    fn node(&mut self, event: Event<'a>, span: &Span, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(syntax(
                span,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.count(span, 1)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _) => {
                let bytes = span
                    .byte_range()
                    .ok_or_else(|| syntax(span, "no byte offsets"))?;
                let site = Site {
                    bytes,
                    line: span.start.line(),
                    style,
                };
                (
                    (
                        Value::String(text.into_owned()),
                        vec![(ValuesPath::default(), site)],
                    ),
                    anchor,
                )
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|node| size(&node.0))
                    .ok_or_else(|| syntax(span, "an alias to an unknown anchor"))?;
                // Counted before the copy is made, so a bomb is refused before it is built.
                self.count(span, size)?;
                (self.anchors[&id].clone(), 0)
            }
            Event::SequenceStart(_, anchor, _) => (self.sequence(depth)?, anchor),
            Event::MappingStart(_, anchor, _) => (self.mapping(depth)?, anchor),
            _ => return Err(syntax(span, "unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn sequence(&mut self, depth: usize) -> Result<Node, YamlError> {
        let mut items = Vec::new();
        let mut sites = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                return Ok((Value::Array(items), sites));
            }
            let (value, inner) = self.node(event, &span, depth + 1)?;
            let prefix = ValuesPath(vec![Segment::Index(items.len())]);
            sites.extend(inner.into_iter().map(|(p, s)| (join(&prefix, &p), s)));
            items.push(value);
        }
    }

    fn mapping(&mut self, depth: usize) -> Result<Node, YamlError> {
        let mut map = Map::new();
        let mut sites: Vec<(ValuesPath, Site)> = Vec::new();
        let mut merged: Vec<Node> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, ..) => text.into_owned(),
                _ => return Err(syntax(&span, "only scalar mapping keys are supported")),
            };
            let (event, span) = self.next()?;
            let is_alias = matches!(event, Event::Alias(_));
            let (value, inner) = self.node(event, &span, depth + 1)?;
            if key == "<<" && (is_alias || value.is_array()) {
                match value {
                    Value::Object(_) => merged.push((value, inner)),
                    Value::Array(items) => {
                        // `<<: [*a, *b]`: each item, its sites under its index.
                        for (i, item) in items.into_iter().enumerate() {
                            let prefix = [Segment::Index(i)];
                            let own = inner
                                .iter()
                                .filter(|(p, _)| p.starts_with(&prefix))
                                .map(|(p, s)| (ValuesPath(p.0[1..].to_vec()), s.clone()))
                                .collect();
                            merged.push((item, own));
                        }
                    }
                    _ => return Err(syntax(&span, "a merge key (<<) needs a mapping")),
                }
                continue;
            }
            let prefix = ValuesPath(vec![Segment::Key(key.clone())]);
            sites.retain(|(p, _)| !p.starts_with(&prefix.0));
            sites.extend(inner.into_iter().map(|(p, s)| (join(&prefix, &p), s)));
            map.insert(key, value);
        }
        // Keys written in the mapping win over merged ones, whatever the order.
        for (value, inner) in merged {
            let Value::Object(entries) = value else {
                continue;
            };
            for (key, value) in entries {
                if map.contains_key(&key) {
                    continue;
                }
                let prefix = [Segment::Key(key.clone())];
                sites.extend(
                    inner
                        .iter()
                        .filter(|(p, _)| p.starts_with(&prefix))
                        .map(|(p, s)| (p.clone(), s.clone())),
                );
                map.insert(key, value);
            }
        }
        Ok((Value::Object(map), sites))
    }
}

/// The nodes of a value: what copying it for an alias costs.
fn size(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(size).sum(),
        Value::Object(map) => map.values().map(size).sum(),
        _ => 0,
    }
}

fn join(prefix: &ValuesPath, rest: &ValuesPath) -> ValuesPath {
    let mut steps = prefix.0.clone();
    steps.extend(rest.0.iter().cloned());
    ValuesPath(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(dotted: &str) -> ValuesPath {
        ValuesPath(
            dotted
                .split('.')
                .map(|k| Segment::Key(k.to_string()))
                .collect(),
        )
    }

    fn change(dotted: &str, value: &str) -> Change {
        Change {
            path: path(dotted),
            value: value.to_string(),
        }
    }

    const VALUES: &str = r#"# Mojaloop hub values
centralledger:
  centralledger-service:
    image:
      repository: mojaloop/central-ledger
      tag: &ledgerTag v17.8.0   # keep in step with the handlers

  centralledger-handler-transfer-prepare:
    image:
      repository: 'mojaloop/central-ledger'
      tag: *ledgerTag
quoting:
  image: {repository: mojaloop/ml-api-adapter, tag: "v14.0.0"}
  single: {image: 'mojaloop/account-lookup-service:v15.1.0'}
defaults: &defaults
  image:
    repository: mojaloop/central-settlement
    tag: v15.0.0
settlement:
  <<: *defaults
  replicas: 2
"#;

    #[test]
    fn reads_the_tree_through_anchors_and_merge_keys() {
        let file = ValuesFile::parse(VALUES).unwrap();
        let at = |p: &str| {
            file.value
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        assert_eq!(
            at("/centralledger/centralledger-handler-transfer-prepare/image/tag").as_deref(),
            Some("v17.8.0")
        );
        assert_eq!(at("/settlement/image/tag").as_deref(), Some("v15.0.0"));
        assert_eq!(at("/settlement/replicas").as_deref(), Some("2"));
        // An alias's scalar is the anchor's.
        assert_eq!(
            file.line(&path(
                "centralledger.centralledger-handler-transfer-prepare.image.tag"
            )),
            Some(6)
        );
        assert_eq!(file.line(&path("settlement.image.tag")), Some(18));
    }

    #[test]
    fn edits_only_the_scalars_and_keeps_their_style() {
        let file = ValuesFile::parse(VALUES).unwrap();
        let edited = file
            .edit(
                VALUES,
                &[
                    change("centralledger.centralledger-service.image.tag", "v17.8.1"),
                    change(
                        "centralledger.centralledger-handler-transfer-prepare.image.tag",
                        "v17.8.1",
                    ),
                    change("quoting.image.tag", "v14.0.1"),
                    change(
                        "quoting.single.image",
                        "mojaloop/account-lookup-service:v15.1.1",
                    ),
                    change("settlement.image.tag", "v15.0.1"),
                    change("not.there", "x"),
                ],
            )
            .unwrap();
        let expected = VALUES
            .replace("&ledgerTag v17.8.0", "&ledgerTag v17.8.1")
            .replace("\"v14.0.0\"", "\"v14.0.1\"")
            .replace("service:v15.1.0'", "service:v15.1.1'")
            .replace("tag: v15.0.0", "tag: v15.0.1");
        assert_eq!(edited, expected);
        let reread = ValuesFile::parse(&edited).unwrap();
        assert_eq!(
            reread
                .value
                .pointer("/centralledger/centralledger-handler-transfer-prepare/image/tag"),
            Some(&Value::String("v17.8.1".into()))
        );
    }

    #[test]
    fn an_anchor_asked_two_different_values_is_a_conflict() {
        let file = ValuesFile::parse(VALUES).unwrap();
        let err = file
            .edit(
                VALUES,
                &[
                    change("centralledger.centralledger-service.image.tag", "v17.8.1"),
                    change(
                        "centralledger.centralledger-handler-transfer-prepare.image.tag",
                        "v17.9.0",
                    ),
                ],
            )
            .unwrap_err();
        assert!(matches!(err, YamlError::Conflict { line: 6, .. }), "{err}");
    }

    #[test]
    fn a_plain_value_yaml_would_retype_is_quoted() {
        let text = "image:\n  tag: 1.9\n";
        let file = ValuesFile::parse(text).unwrap();
        let edited = file.edit(text, &[change("image.tag", "1.10")]).unwrap();
        assert_eq!(edited, "image:\n  tag: \"1.10\"\n");
        let edited = file.edit(text, &[change("image.tag", "1.9.1")]).unwrap();
        assert_eq!(edited, "image:\n  tag: 1.9.1\n");
    }

    #[test]
    fn syntax_errors_and_alias_bombs_name_a_line() {
        let err = ValuesFile::parse("a:\n  b: [1, 2\nc: 3\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax { .. }), "{err}");
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let this = (b'a' + i) as char;
            bomb.push_str(&format!(
                "{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = ValuesFile::parse(&bomb).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        assert!(
            ValuesFile::parse("")
                .unwrap()
                .value
                .as_object()
                .unwrap()
                .is_empty()
        );
        assert!(ValuesFile::parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn block_scalars_are_not_edited() {
        let text = "image:\n  tag: |\n    v1\n";
        let file = ValuesFile::parse(text).unwrap();
        assert!(matches!(
            file.edit(text, &[change("image.tag", "v2")]),
            Err(YamlError::BlockScalar { .. })
        ));
    }
}
