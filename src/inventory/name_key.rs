//! Keys that stand for several names without holding a copy of them, where thousands of entries
//! are kept per scan: the Pods' running digests by workload ([`super::running`]), what the
//! registries said by repository and tag ([`crate::tags::supply`]).

/// The SHA-256 of names joined by newlines. None of the names it is used for (namespaces,
/// kinds, workload names, repositories, tags) can hold a newline, so two keys are equal only
/// when every part is, or SHA-256 collides — what every image digest already relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameKey([u8; 32]);

impl NameKey {
    /// The key of `parts`, in this order.
    pub fn new(parts: &[&str]) -> NameKey {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                hash.update(b"\n");
            }
            hash.update(part.as_bytes());
        }
        NameKey(hash.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::NameKey;

    #[test]
    fn keys_are_equal_only_when_every_part_is() {
        let key = NameKey::new(&["docker.io/mojaloop/central-ledger", "v17.8.0"]);
        assert_eq!(
            key,
            NameKey::new(&["docker.io/mojaloop/central-ledger", "v17.8.0"])
        );
        assert_ne!(
            key,
            NameKey::new(&["docker.io/mojaloop/central-ledger", "v17.8.1"])
        );
        assert_ne!(NameKey::new(&["a", "bc"]), NameKey::new(&["ab", "c"]));
        assert_ne!(NameKey::new(&["a", "b"]), NameKey::new(&["a", "b", ""]));
    }
}
