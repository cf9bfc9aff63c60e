//! The caches of the manifest lookups (`manifests.rs`): a tag's digest with its `ETag` and
//! age, an image's build time by digest, a digest's signature check. Plain data with a bound
//! on size; it depends only on [`crate::cosign`]'s result type.
//!
//! The operator keeps an entry for every running tag (thousands at a large hub), so entries
//! are packed and allocate nothing of their own: the key is a hash of 32 bytes, a digest its
//! 32 bytes, and the `ETag` is kept only when it is not the quoted digest (what the CNCF
//! distribution registry sends).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::cosign::SignatureCheck;

/// Entries each cache holds before it is swept (a bound on memory in `run` mode).
const CACHE_LIMIT: usize = 20_000;

/// `(canonical registry, repository, reference)` as the SHA-256 of the three parts joined by
/// newlines. Neither a registry nor a repository can hold a newline, so whatever the reference
/// holds (a signature check's is the digest and the key's source) two keys are equal only when
/// all three parts are, or SHA-256 collides — what every image digest already relies on.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RefKey([u8; 32]);

impl RefKey {
    pub(crate) fn new(registry: &str, repository: &str, reference: &str) -> RefKey {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        for part in [registry, "\n", repository, "\n", reference] {
            hash.update(part.as_bytes());
        }
        RefKey(hash.finalize().into())
    }
}

/// A `sha256:<64 hex digits>` digest as its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sha256([u8; 32]);

impl Sha256 {
    /// The bytes of a digest [`crate::is_sha256_digest`] accepts; `None` for anything else.
    pub(crate) fn parse(digest: &str) -> Option<Sha256> {
        let hex = digest.strip_prefix("sha256:")?.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Sha256(bytes))
    }
}

/// The value of a lowercase hex digit.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// What a tag's digest lookup learnt: the digest (`None`: the registry has no manifest for the
/// tag, a 404), the `ETag` to revalidate it with, and when.
pub(crate) struct DigestEntry {
    digest: Option<Sha256>,
    etag: Etag,
    pub(crate) at: Instant,
}

/// An `ETag` as kept: most registries send the quoted digest, which needs no copy.
enum Etag {
    None,
    QuotedDigest,
    Other(Box<str>),
}

impl DigestEntry {
    /// An entry learnt now. `digest` is a checked sha256 digest (anything else is kept as no
    /// digest, which only costs a request).
    pub(crate) fn new(digest: Option<&str>, etag: Option<&str>) -> DigestEntry {
        let etag = match etag {
            None => Etag::None,
            Some(etag)
                if digest.is_some_and(|digest| {
                    etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')) == Some(digest)
                }) =>
            {
                Etag::QuotedDigest
            }
            Some(etag) => Etag::Other(etag.into()),
        };
        DigestEntry {
            digest: digest.and_then(Sha256::parse),
            etag,
            at: Instant::now(),
        }
    }

    /// The digest, as the registry writes it.
    pub(crate) fn digest(&self) -> Option<String> {
        self.digest.map(|digest| digest.to_string())
    }

    /// The `ETag` the registry sent with it.
    pub(crate) fn etag(&self) -> Option<String> {
        match &self.etag {
            Etag::None => None,
            Etag::QuotedDigest => self.digest.map(|digest| format!("\"{digest}\"")),
            Etag::Other(etag) => Some(etag.to_string()),
        }
    }
}

/// The caches behind [`crate::Registry::manifest_digest`], [`crate::Registry::image_created`] and
/// [`crate::Registry::verify_signature`].
#[derive(Default)]
pub(crate) struct ManifestCache {
    pub(crate) digests: Mutex<HashMap<RefKey, DigestEntry>>,
    pub(crate) created: Mutex<HashMap<RefKey, Option<DateTime<Utc>>>>,
    /// Key: (registry, repository, digest + key source).
    pub(crate) signatures: Mutex<HashMap<RefKey, (SignatureCheck, Instant)>>,
}

pub(crate) fn bounded<K, V>(map: &mut HashMap<K, V>, keep: impl Fn(&V) -> bool) {
    if map.len() >= CACHE_LIMIT {
        map.retain(|_, v| keep(v));
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_digest_is_kept_as_its_bytes_and_written_back_the_same() {
        let entry = DigestEntry::new(Some(DIGEST), None);
        assert_eq!(entry.digest().as_deref(), Some(DIGEST));
        assert_eq!(entry.etag(), None);
        for not_sha256 in [
            "sha256:0123",
            "sha512:00",
            &DIGEST.to_uppercase(),
            &DIGEST.replace('a', "g"),
        ] {
            assert!(Sha256::parse(not_sha256).is_none(), "{not_sha256}");
        }
    }

    #[test]
    fn an_etag_that_is_the_quoted_digest_is_written_back_and_any_other_kept_as_sent() {
        let quoted = format!("\"{DIGEST}\"");
        let entry = DigestEntry::new(Some(DIGEST), Some(&quoted));
        assert!(matches!(entry.etag, Etag::QuotedDigest));
        assert_eq!(entry.etag(), Some(quoted));
        for other in [DIGEST, "W/\"abc\"", "\"sha256:other\""] {
            let entry = DigestEntry::new(Some(DIGEST), Some(other));
            assert_eq!(entry.etag().as_deref(), Some(other));
        }
        let missing = DigestEntry::new(None, Some("\"x\""));
        assert_eq!(
            (missing.digest(), missing.etag().as_deref()),
            (None, Some("\"x\""))
        );
    }

    #[test]
    fn keys_differ_whenever_a_part_does() {
        let key = RefKey::new("docker.io", "mojaloop/central-ledger", "v17.8.0");
        assert!(key == RefKey::new("docker.io", "mojaloop/central-ledger", "v17.8.0"));
        assert!(key != RefKey::new("docker.io", "mojaloop/central-ledger", "v17.8.1"));
        assert!(key != RefKey::new("ghcr.io", "mojaloop/central-ledger", "v17.8.0"));
        assert!(RefKey::new("a", "b/c", "d") != RefKey::new("a", "b", "c/d"));
    }
}
