//! A key path in a values tree (`centralledger.centralledger-service.image.tag`), printed the
//! way `helm upgrade --set` reads it: keys joined by `.`, list items as `[N]`, and `.`, `,`,
//! `=`, `[` and `\` inside a key escaped with `\`.

use std::fmt;

use serde::{Serialize, Serializer};

/// One step of a [`ValuesPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path from the root of a values tree to one value.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValuesPath(pub Vec<Segment>);

impl ValuesPath {
    /// This path with one more step.
    pub fn child(&self, segment: Segment) -> ValuesPath {
        let mut steps = self.0.clone();
        steps.push(segment);
        ValuesPath(steps)
    }

    /// Whether `prefix` is this path or one of its ancestors.
    pub fn starts_with(&self, prefix: &[Segment]) -> bool {
        self.0.starts_with(prefix)
    }
}

impl fmt::Display for ValuesPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    for c in key.chars() {
                        if matches!(c, '.' | ',' | '=' | '[' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Serialize for ValuesPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn prints_the_set_syntax_of_helm() {
        let path = ValuesPath(vec![
            key("centralledger"),
            key("centralledger-service"),
            key("image"),
            key("tag"),
        ]);
        assert_eq!(
            path.to_string(),
            "centralledger.centralledger-service.image.tag"
        );
        let listed = ValuesPath(vec![key("sidecars"), Segment::Index(1), key("image")]);
        assert_eq!(listed.to_string(), "sidecars[1].image");
    }

    #[test]
    fn escapes_what_helm_would_split_on() {
        let path = ValuesPath(vec![key("a.b"), key("c,d=e"), key(r"f\g")]);
        assert_eq!(path.to_string(), r"a\.b.c\,d\=e.f\\g");
    }
}
