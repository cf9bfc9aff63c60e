//! Kubernetes label selectors (`-l`), for manifests; a cluster evaluates them server-side.
//!
//! Supports the whole string syntax `kubectl` accepts: `key`, `!key`, `key=value`,
//! `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, joined by commas.

use std::collections::BTreeMap;
use std::str::FromStr;

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A selector that does not parse; names the selector and the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {problem}")]
pub struct InvalidSelector {
    selector: String,
    problem: String,
}

impl Selector {
    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::NotExists(key) => !labels.contains_key(key),
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
        })
    }

    /// The selector as given, for passing on to the API server.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Selector {
    type Err = InvalidSelector;

    fn from_str(text: &str) -> Result<Selector, InvalidSelector> {
        let fail = |problem: String| InvalidSelector {
            selector: text.to_string(),
            problem,
        };
        let requirements = split_top_level(text)
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| parse_requirement(part.trim()).map_err(&fail))
            .collect::<Result<_, _>>()?;
        Ok(Selector {
            requirements,
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

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(checked_key(key.trim())?));
    }
    for (operator, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = part.split_once(operator) {
            let (key, value) = (checked_key(key.trim())?, checked_value(value.trim())?);
            return Ok(if negate {
                Requirement::NotIn(key, vec![value])
            } else {
                Requirement::In(key, vec![value])
            });
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    match words.next().map(str::trim) {
        None => Ok(Requirement::Exists(checked_key(key)?)),
        Some(rest) => {
            let (negate, set) = if let Some(set) = rest.strip_prefix("notin") {
                (true, set)
            } else if let Some(set) = rest.strip_prefix("in") {
                (false, set)
            } else {
                return Err(format!("expected `=`, `!=`, `in` or `notin` after {key:?}"));
            };
            let inner = set
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| {
                    format!("the values of {key:?} must be in parentheses: {key} in (a,b)")
                })?;
            let values = inner
                .split(',')
                .map(|v| checked_value(v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            let key = checked_key(key)?;
            Ok(if negate {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            })
        }
    }
}

fn checked_key(key: &str) -> Result<String, String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let valid_prefix = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    if valid_name && valid_prefix {
        Ok(key.to_string())
    } else {
        Err(format!("{key:?} is not a valid label key"))
    }
}

fn checked_value(value: &str) -> Result<String, String> {
    let valid = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if valid {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a valid label value"))
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
