//! A polite OCI distribution v2 client that lists the tags of image repositories, dependably,
//! against real registries — and, for the supply-chain checks, asks the few things a scan
//! needs about one image: the digest a tag points to (`HEAD`), when an image was built, and
//! whether its digest carries a cosign signature made with a given key.
//!
//! ml-operator asks "which tags does `mojaloop/central-ledger` have?" for every workload it
//! scans. That question hits the places where registry clients break in production — Docker
//! Hub's 429s, expired ECR passwords, pagination quirks, back-off that waits for years, memory
//! that grows with uptime — so this crate is small, strict and heavily tested against a real
//! `docker-registry`.
//!
//! Start with [`Registry::new`] and [`Registry::list_tags`]:
//!
//! ```no_run
//! use ml_operator_registry::{ClientOptions, Registry, RegistryConfig};
//!
//! # async fn run() -> Result<(), ml_operator_registry::Error> {
//! let registry = Registry::new(ClientOptions {
//!     registries: vec![RegistryConfig {
//!         host: "harbor.example.com".into(),
//!         ca_file: Some("/etc/ml-operator/harbor-ca.pem".into()),
//!         username: Some("robot$scanner".into()),
//!         password_file: Some("/var/run/secrets/harbor/password".into()),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! })?;
//! let list = registry.list_tags("docker.io", "mojaloop/central-ledger").await?;
//! println!("{} tags in {}/{}", list.tags.len(), list.registry, list.repository);
//! let stats = registry.stats();
//! println!("{} requests, {} walks", stats.total_requests(), stats.total_walks());
//! # Ok(())
//! # }
//! ```
//!
//! Credentials of a Kubernetes `dockerconfigjson` secret go in through
//! [`parse_docker_config`] and [`ClientOptions::extra_credentials`]:
//!
//! ```
//! use ml_operator_registry::{Credential, parse_docker_config};
//!
//! let secret = r#"{"auths":{"ghcr.io":{"auth":"b2N0bzpnaHBfc2VjcmV0"}}}"#; // octo:ghp_secret
//! let creds = parse_docker_config(secret).unwrap();
//! assert_eq!(creds[0].0, "ghcr.io");
//! assert_eq!(creds[0].1.username(), Some("octo"));
//! assert!(!format!("{:?}", creds[0].1).contains("ghp_secret")); // never printed
//! ```
//!
//! # Layout
//!
//! Each file one job; a file uses only files in the rows below its own (checked with
//! `grep 'use crate::'`), so there is no import cycle:
//!
//! | layer | file | one job | uses |
//! |---|---|---|---|
//! | entry | `manifests.rs` | [`Registry::manifest_digest`] (`HEAD`), [`Registry::image_created`], [`Registry::verify_signature`]: what a registry says about one image | `client`, `cosign`, `digest_cache`, `endpoint`, `host`, `http`, `stats` |
//! | | `client.rs` | [`Registry`]: resolve, single-flight, cache, walk the pages | `host`, `cache`, `digest_cache`, `pagination`, `credentials`, `endpoint`, `http`, `options`, `stats`, `tag_list` |
//! | server | `host.rs` | one server: HTTP client and CA, transport that worked, challenge, tokens, credentials | `auth`, `challenge`, `credentials`, `endpoint`, `http`, `options`, `politeness`, `stats` |
//! | | `auth.rs` | pull tokens from a token service | `endpoint`, `http`, `options` |
//! | exchange | `http.rs` | one request, paced, bounded and retried (`ml-operator-retry`'s `RetryPolicy`) | `options`, `politeness`, `stats` |
//! | | `credentials.rs` | where credentials come from: `config.json`, pull secrets, password files | `endpoint`, `options` |
//! | | `endpoint.rs` | registry → server: Docker Hub's rules, mirrors, loopback, same-site | `options` |
//! | | `cache.rs` | tag lists in memory and on disk, with `ETag`s | `tag_list` |
//! | | `digest_cache.rs` | tag digests (with `ETag`s), build times and signature checks, bounded | `cosign` |
//! | | `cosign.rs` | [`CosignKey`] and the check of one cosign signature: payload bound to the digest, ECDSA P-256 | — |
//! | | `pagination.rs` | `Link` and `n`/`last` walks, loop guards | — |
//! | data | `options.rs` | [`ClientOptions`], [`RegistryConfig`], [`Credential`]: plain data | — |
//! | | `tag_list.rs` | [`TagList`], what a lookup answers | — |
//! | | `challenge.rs`, `politeness.rs`, `stats.rs`, `error.rs` | `WWW-Authenticate` parsing; the per-server pacer; counters; [`Error`] | — (`error.rs` is used by every layer above) |
//!
//! # Reference
//!
//! ## Registries and endpoints
//!
//! `registry` is written as in image references. `docker.io` (also `index.docker.io`) is served
//! by `registry-1.docker.io`, and a single-segment repository there becomes `library/NAME`.
//! Every other host is contacted as written. A `registries:` entry with `mirror` sends that
//! registry's requests to another server (`host[:port]` or `http(s)://host[:port]`), keeping the
//! repository path — the way an air-gapped hub points `docker.io` at its own mirror. The mirror's
//! own entry, if it has one, supplies its TLS and credential settings; otherwise the mirrored
//! entry's settings are used.
//!
//! Transport, as Docker does it: HTTPS with the system roots (plus the entry's `caFile`), except
//! loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`), which are plain HTTP unless their
//! entry has a `caFile`; insecure registries (`--insecure-registry HOST[:PORT]`, a bare `HOST`
//! covering every port, or `insecure: true`) try HTTPS without verification and then plain HTTP.
//! The transport that worked is remembered.
//!
//! ## Authentication
//!
//! The first contact with a server is one `GET /v2/`, shared by all lookups, which learns the
//! server's `WWW-Authenticate` challenge:
//!
//! * `Bearer realm=...,service=...`: a pull token for `repository:NAME:pull` is fetched from the
//!   realm — anonymously, with Basic credentials, or with an OAuth2 refresh token
//!   (`identitytoken`, `grant_type=refresh_token`, falling back to Basic on 404/405). Tokens are
//!   cached per scope until shortly before `expires_in` (60 s when unsaid) runs out. A 401 to a
//!   cached token drops it and fetches a fresh one once; a 401 to a fresh one is final
//!   ([`ErrorKind::Unauthorized`]).
//! * `Basic`: the credentials are sent with each request (ECR, htpasswd registries).
//!
//! Credentials, by the server actually contacted (so Docker Hub's never reach a mirror): a
//! `registries:` entry's `username` + `passwordFile` (the file is read when needed, so a rotated
//! secret or a refreshed ECR password is picked up), else [`ClientOptions::extra_credentials`],
//! else `config.json` from [`ClientOptions::docker_config`] / `$DOCKER_CONFIG` / `~/.docker`
//! (`auths` with base64 `auth`, `username`/`password`, `identitytoken`, `registrytoken`).
//! Passwords are never taken from the config file itself. A `registries:` entry with a
//! `mirror` sends its requests, and so its own `username`/`passwordFile`, to the mirror (the
//! only server that entry talks to); credentials stored for Docker Hub in `config.json` or a
//! pull secret stay with Docker Hub.
//!
//! Credentials only go to the server they are for:
//!
//! * A token service (`realm`) gets them only when it is on the same site as the server
//!   contacted: the same host name (any port), its parent domain, or a name under that parent
//!   (`registry-1.docker.io` → `auth.docker.io`, `registry.gitlab.com` → `gitlab.com`); not a
//!   bare public suffix (`io`, `co.uk`), and IP addresses only match themselves. A realm
//!   anywhere else is asked anonymously, with a warning, so public repositories still work and
//!   a registry cannot collect the password configured for it by naming another server.
//! * They are not sent to a plain-HTTP token service unless the registry is loopback or
//!   insecure.
//! * Redirects are followed only to the same host name (at most 5); a redirect elsewhere is
//!   an error, and `Authorization` would be dropped on it anyway.
//! * A `next` page on another server is refused (see Pagination).
//!
//! Secrets never appear in `Debug`, `Display` or logs, and `Authorization` headers are marked
//! sensitive.
//!
//! ## Pagination
//!
//! Pages are followed through `Link: <...>; rel="next"` (relative or absolute, as Docker Hub,
//! GHCR, Quay, ECR and Harbor send it). With [`ClientOptions::page_size`] set, `n` is sent and a
//! full page without `Link` is continued with `last=` (the bare distribution protocol). A walk
//! fails with [`ErrorKind::Protocol`] on a loop (a page URL seen twice, or a page of only
//! already-seen tags that still points onward), on a `next` link to another server (it would get
//! our credentials), and after [`ClientOptions::max_pages`] pages. Tags are deduplicated.
//!
//! ## Digests, build times and signatures
//!
//! * [`Registry::manifest_digest`]: `HEAD /v2/<name>/manifests/<tag>` with `Accept` for the OCI
//!   index, the Docker manifest list and both manifest types, read from
//!   `Docker-Content-Digest` (a manifest is never downloaded for this; HEADs do not count
//!   against Docker Hub's pull limits). Reused for the caller's `max_age`, then revalidated
//!   with `If-None-Match` and the manifest's `ETag` (a `304` keeps the digest).
//! * [`Registry::image_created`]: the image config's `created`, by digest: one manifest `GET`
//!   (two for a multi-platform index: `linux/amd64`, else the first platform) and one config
//!   blob `GET`, cached for the life of the client (content behind a digest never changes).
//! * [`Registry::verify_signature`]: key-based cosign ([`cosign`]): the manifest tagged
//!   `sha256-<hex>.sig`, each layer's blob (the simple-signing payload) and its
//!   `dev.cosignproject.cosign/signature` annotation; [`SignatureCheck::Verified`] when one
//!   verifies with the key and names the digest. Verified results are cached for good,
//!   others for `max_age`.
//!
//! Every body fetched by digest is checked against its sha256 before it is read. A blob
//! redirect to another server (Docker Hub serves blobs from a CDN) is followed once, over
//! HTTPS and without credentials; the digest check makes its content trustworthy. Every
//! request is counted by kind in [`Stats::requests_by_kind`] ([`RequestKind`]).
//!
//! ## Politeness
//!
//! * One walk per repository at a time: concurrent [`Registry::list_tags`] calls for the same
//!   repository wait for the same walk ([`Stats::coalesced`]), and its result is then cached.
//! * Per server: at most `concurrency` requests in flight and `requestsPerSecond` paced
//!   requests ([`ClientOptions::default_concurrency`], [`ClientOptions::default_requests_per_second`]).
//! * `429`: `Retry-After` (seconds, fractional seconds or HTTP-date) is honoured, pausing *all* requests to that
//!   server; a wait longer than [`ClientOptions::max_retry_after`] fails at once as
//!   [`ErrorKind::RateLimited`] with [`Error::retry_after`] set, rather than stalling the scan.
//! * `408`, `5xx` (500/502/503/504), timeouts and dropped connections: exponential back-off
//!   from [`ClientOptions::backoff_base`], doubling, capped at [`ClientOptions::backoff_max`],
//!   with equal jitter (or the response's own `Retry-After`, when within the cap); at most
//!   [`ClientOptions::max_retries`] retries per request. The back-off and the `Retry-After`
//!   parsing are the `ml-operator-retry` crate's `RetryPolicy`, the one the notifiers use.
//! * A registry that keeps failing makes only its lookups fail, each with an [`Error`] naming
//!   the URL and the reason; callers report those images as unresolved and carry on.
//!
//! ## Caching
//!
//! Successful lists are kept in memory for [`ClientOptions::cache_ttl`], failures for
//! [`ClientOptions::error_ttl`]. [`Registry::list_tags_max_age`] reuses a list for longer
//! when its caller can (an operator scans with `cache_ttl: 0` and serves an API from the same
//! cache). With [`ClientOptions::cache_dir`], lists are also written to
//! disk (atomically, one JSON file per repository, no secrets) and reused across runs. Each page
//! keeps its `ETag`; when a list is stale, pages are re-requested with `If-None-Match` and a
//! `304` reuses the cached page ([`Stats::not_modified`]).
//!
//! ## Observability
//!
//! [`Registry::stats`] counts requests by server and outcome, walks by repository, retries
//! (with a bounded log of waits and reasons), cache hits, coalesced lookups and token fetches.
//! Retries are logged with `tracing` at `info`, failures at `warn`. The counters are bounded
//! ([`MAX_REQUEST_ROWS`], [`MAX_WALK_ROWS`]); [`Registry::configured_servers`] tells the servers
//! the client was configured for from those it met in image references, for metrics labels.
#![deny(missing_docs)]

mod auth;
mod cache;
mod challenge;
mod client;
pub mod cosign;
mod credentials;
mod digest_cache;
mod endpoint;
mod error;
mod host;
mod http;
mod manifests;
mod options;
mod pagination;
mod politeness;
mod stats;
mod tag_list;

pub use client::Registry;
pub use cosign::{CosignKey, SignatureCheck};
pub use credentials::parse_docker_config;
pub use error::{Error, ErrorKind};
pub use manifests::is_sha256_digest;
pub use options::{ClientOptions, Credential, RegistryConfig, VerifyConfig};
pub use stats::{
    KindCount, MAX_REQUEST_ROWS, MAX_WALK_ROWS, OVERFLOW, RETRY_LOG_CAPACITY, RequestCount,
    RequestKind, RetryEvent, Stats, WalkCount,
};
pub use tag_list::{TagList, Tags};
