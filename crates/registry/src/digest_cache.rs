//! The caches of the manifest lookups (`manifests.rs`): a tag's digest with its `ETag` and
//! age, an image's build time by digest, a digest's signature check. Plain data with a bound
//! on size; it depends only on [`crate::cosign`]'s result type.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::cosign::SignatureCheck;

/// Entries each cache holds before it is swept (a bound on memory in `run` mode).
const CACHE_LIMIT: usize = 20_000;

/// `(canonical registry, repository, reference)`.
pub(crate) type RefKey = (String, String, String);

pub(crate) struct DigestEntry {
    /// `None`: the registry has no manifest for the tag (404).
    pub(crate) digest: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) at: Instant,
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
