//! [`TagList`]: what a lookup answers, as plain data (the cache keeps it, the client returns it),
//! and [`Tags`], the packed list of tag names it holds.

use std::fmt;

/// The tags of one repository, as the registry listed them (deduplicated, in the registry's
/// order — lexical for distribution; do not rely on it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagList {
    /// The canonical registry name: `docker.io` for Docker Hub and its aliases, otherwise the
    /// host as written, lower-cased (`ghcr.io`, `127.0.0.1:41234`). Not the mirror.
    pub registry: String,
    /// The repository path, with `library/` added for official Docker Hub images.
    pub repository: String,
    /// The tags.
    pub tags: Tags,
}

/// Tag names packed into one buffer, in order.
///
/// A hub's repositories list hundreds of tags each and the cache keeps every list between
/// scans: as `Vec<String>` each tag would cost its 24-byte header plus a heap block of its own
/// (about 56 bytes for a `v10.4.1`); packed, it costs its bytes and a 4-byte end offset.
/// Serializes as a JSON array of strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// Every tag's bytes, one after another.
    text: String,
    /// Where each tag ends in `text` (a tag starts where the previous one ends).
    ends: Vec<u32>,
}

impl Tags {
    /// No tags.
    pub fn new() -> Tags {
        Tags::default()
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `index`th tag.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1] as usize,
        };
        Some(&self.text[start..end])
    }

    /// The tags in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            tags: self,
            next: 0,
        }
    }

    /// Whether `tag` is one of them.
    pub fn contains(&self, tag: &str) -> bool {
        self.iter().any(|t| t == tag)
    }

    /// Adds `tag` at the end.
    ///
    /// # Panics
    /// When the tags would pass 4 GiB of text (a registry page is bounded far below that).
    pub fn push(&mut self, tag: &str) {
        self.text.push_str(tag);
        let end = u32::try_from(self.text.len()).expect("tag text under 4 GiB");
        self.ends.push(end);
    }

    /// Gives back the room reserved while the list grew.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// The tags as owned strings, for callers that keep a copy.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Tags {
    fn from_iter<I: IntoIterator<Item = S>>(tags: I) -> Tags {
        let mut packed = Tags::new();
        for tag in tags {
            packed.push(tag.as_ref());
        }
        packed.shrink_to_fit();
        packed
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The tags of a [`Tags`], in order.
#[derive(Clone)]
pub struct Iter<'a> {
    tags: &'a Tags,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let tag = self.tags.get(self.next)?;
        self.next += 1;
        Some(tag)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.tags.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl serde::Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tags, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Tags;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of tags")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tags, A::Error> {
                let mut tags = Tags::new();
                while let Some(tag) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    tags.push(&tag);
                }
                tags.shrink_to_fit();
                Ok(tags)
            }
        }
        deserializer.deserialize_seq(Visit)
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Tags {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Tags {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Tags {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_tag_in_order() {
        let tags: Tags = ["v10.4.0", "", "latest", "v10.4.1"].into_iter().collect();
        assert_eq!(tags.len(), 4);
        assert_eq!(tags.get(0), Some("v10.4.0"));
        assert_eq!(tags.get(1), Some(""));
        assert_eq!(tags.get(3), Some("v10.4.1"));
        assert_eq!(tags.get(4), None);
        assert_eq!(tags, ["v10.4.0", "", "latest", "v10.4.1"]);
        assert!(tags.contains("latest"));
        assert!(!tags.contains("v10.4"));
        assert_eq!(tags.iter().len(), 4);
        assert_eq!(
            format!("{tags:?}"),
            r#"["v10.4.0", "", "latest", "v10.4.1"]"#
        );
        assert!(Tags::new().is_empty());
        assert_eq!(Tags::new().iter().next(), None);
    }

    #[test]
    fn serializes_as_a_list_of_strings_both_ways() {
        let tags: Tags = ["v1", "v1.0.1-snapshot.2", "é"].into_iter().collect();
        let text = serde_json::to_string(&tags).unwrap();
        assert_eq!(text, r#"["v1","v1.0.1-snapshot.2","é"]"#);
        let back: Tags = serde_json::from_str(&text).unwrap();
        assert_eq!(back, tags);
        // Escaped strings (which JSON cannot lend) too.
        let back: Tags = serde_json::from_str(r#"["a\"b","c"]"#).unwrap();
        assert_eq!(back, ["a\"b", "c"]);
        assert!(serde_json::from_str::<Tags>(r#"{"a": 1}"#).is_err());
    }
}
