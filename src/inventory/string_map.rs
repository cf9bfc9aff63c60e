//! A workload's labels or annotations as a small sorted list.
//!
//! The operator's watches keep thousands of workloads, each with the few labels and
//! annotations a scan reads; a `BTreeMap` allocates a whole node (about 540 bytes for string
//! pairs) for even one entry, where this holds exactly its entries.

use std::collections::BTreeMap;

/// String keys and values, sorted by key, each key once; looked up by binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringMap(Box<[(String, String)]>);

impl StringMap {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keeps only the entries whose key `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let mut entries = std::mem::take(&mut self.0).into_vec();
        entries.retain(|(k, _)| keep(k));
        self.0 = entries.into_boxed_slice();
    }

    /// The entries as a map, for APIs that take one (label selectors).
    pub fn to_btree_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

/// From a map: already sorted, keys unique.
impl From<BTreeMap<String, String>> for StringMap {
    fn from(map: BTreeMap<String, String>) -> StringMap {
        StringMap(map.into_iter().collect())
    }
}

/// From pairs in any order; a key given twice keeps its last value, as a map would.
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for StringMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> StringMap {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        map.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_keeps_the_last_of_a_repeated_key_and_retains() {
        let mut map: StringMap = [("b", "2"), ("a", "1"), ("c", "3"), ("a", "one")]
            .into_iter()
            .collect();
        assert_eq!(map.get("a").map(String::as_str), Some("one"));
        assert_eq!(map.get("c").map(String::as_str), Some("3"));
        assert_eq!(map.get("z"), None);
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            [("a", "one"), ("b", "2"), ("c", "3")]
        );
        map.retain(|k| k != "b");
        assert_eq!(map.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(map.to_btree_map().len(), 2);
        assert!(StringMap::default().is_empty() && !map.is_empty());
    }
}
