//! Kubernetes label selectors (`-l`), for manifests; a cluster evaluates them server-side.
//!
//! Parses the whole string syntax `kubectl` accepts — `key`, `!key`, `key=value`,
//! `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, joined by commas — into
//! kube-rs's typed [`kube::core::Selector`], which does the matching the way the API server does.

use std::collections::BTreeMap;
use std::str::FromStr;

use kube::core::{Expression, SelectorExt};

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    parsed: kube::core::Selector,
    text: String,
}

/// A selector that does not parse; names the selector and the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {problem}")]
pub struct InvalidSelector {
    /// The selector as given.
    pub selector: String,
    /// What is wrong with it.
    pub problem: SelectorProblem,
}

/// What is wrong with a label selector, or with one key or value in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorProblem {
    /// `key` followed by something that is not an operator.
    #[error("expected `=`, `!=`, `in` or `notin` after {0:?}")]
    NoOperator(String),
    /// `key in a,b` without parentheses.
    #[error("the values of {0:?} must be in parentheses: {0} in (a,b)")]
    NoParentheses(String),
    /// Not `[prefix/]name` with a DNS subdomain prefix and a 63-character name.
    #[error("{0:?} is not a valid label key")]
    Key(String),
    /// Not up to 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
    #[error("{0:?} is not a valid label value")]
    Value(String),
}

impl Selector {
    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.parsed.matches(labels)
    }

    /// The selector as given, for passing on to the API server.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Selector {
    type Err = InvalidSelector;

    fn from_str(text: &str) -> Result<Selector, InvalidSelector> {
        let expressions = split_top_level(text)
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| parse_requirement(part.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| InvalidSelector {
                selector: text.to_string(),
                problem,
            })?;
        Ok(Selector {
            parsed: expressions.into_iter().collect(),
            text: text.to_string(),
        })
    }
}

/// Splits at commas that are not inside `( … )`.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Expression, SelectorProblem> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(checked_key(key.trim())?));
    }
    for (operator, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = part.split_once(operator) {
            let key = checked_key(key.trim())?;
            let value = value.trim();
            check_label_value(value)?;
            return Ok(if negate {
                Expression::NotEqual(key, value.to_string())
            } else {
                Expression::Equal(key, value.to_string())
            });
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    match words.next().map(str::trim) {
        None => Ok(Expression::Exists(checked_key(key)?)),
        Some(rest) => {
            let (negate, set) = if let Some(set) = rest.strip_prefix("notin") {
                (true, set)
            } else if let Some(set) = rest.strip_prefix("in") {
                (false, set)
            } else {
                return Err(SelectorProblem::NoOperator(key.to_string()));
            };
            let inner = set
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| SelectorProblem::NoParentheses(key.to_string()))?;
            let values = inner
                .split(',')
                .map(|v| {
                    let v = v.trim();
                    check_label_value(v).map(|()| v.to_string())
                })
                .collect::<Result<_, _>>()?;
            let key = checked_key(key)?;
            Ok(if negate {
                Expression::NotIn(key, values)
            } else {
                Expression::In(key, values)
            })
        }
    }
}

fn checked_key(key: &str) -> Result<String, SelectorProblem> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let valid_prefix = prefix.is_none_or(|p| super::names::check_subdomain(p).is_ok());
    if valid_prefix && !name.is_empty() && check_label_value(name).is_ok() {
        Ok(key.to_string())
    } else {
        Err(SelectorProblem::Key(key.to_string()))
    }
}

/// Checks a label value (also a label key's name part): empty, or up to 63 characters of
/// `[A-Za-z0-9._-]` starting and ending with a letter or digit.
pub fn check_label_value(value: &str) -> Result<(), SelectorProblem> {
    let valid = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if valid {
        Ok(())
    } else {
        Err(SelectorProblem::Value(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matches_like_kubectl() {
        let l = labels(&[
            ("app.kubernetes.io/name", "central-ledger"),
            ("tier", "backend"),
        ]);
        let cases = [
            ("", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("tier=backend", true),
            ("tier==backend", true),
            ("tier!=backend", false),
            ("missing!=x", true),
            (
                "app.kubernetes.io/name in (central-ledger, quoting-service)",
                true,
            ),
            ("app.kubernetes.io/name notin (central-ledger)", false),
            ("tier=backend,app.kubernetes.io/name in (x,y)", false),
            ("tier in (backend),!missing", true),
        ];
        for (text, expected) in cases {
            let selector: Selector = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(selector.matches(&l), expected, "{text}");
        }
    }

    #[test]
    fn errors_name_the_selector() {
        for text in [
            "tier in backend",
            "tier ~ x",
            "-bad=x",
            "tier=-x",
            "a in (b",
        ] {
            let err = text.parse::<Selector>().unwrap_err().to_string();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }
}
