//! [`TagList`]: what a lookup answers, as plain data (the cache keeps it, the client returns it).

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
    pub tags: Vec<String>,
}
