//! [`Registry`]: the entry point. Resolves a registry to its server, deduplicates concurrent
//! lookups of one repository into one tag walk (single-flight), answers from the cache when it
//! can, and walks the tag-list pages otherwise.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ETAG, HeaderValue, IF_NONE_MATCH, LINK};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::cache::{Cache, CachedPage, Key};
use crate::credentials::load_docker_config;
use crate::digest_cache::ManifestCache;
use crate::endpoint::{
    DOCKER_HUB, DOCKER_HUB_AUTH, DOCKER_HUB_ENDPOINT, canonical_registry, normalize_repository,
    resolve, validate_authority,
};
use crate::error::{Error, ErrorKind, display_url};
use crate::host::{Ctx, Host};
use crate::http::{Request, error_summary};
use crate::options::{ClientOptions, Credential};
use crate::pagination::Walk;
use crate::stats::{Recorder, Stats};
use crate::tag_list::TagList;

/// A client for listing tags from OCI distribution registries. Cheap to clone (one `Arc`);
/// share one per process so deduplication, caches, rate limits and tokens are shared.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

type Flight = Arc<OnceCell<Result<Arc<TagList>, Error>>>;

pub(crate) struct Shared {
    pub(crate) options: ClientOptions,
    credentials: HashMap<String, Credential>,
    pub(crate) recorder: Recorder,
    cache: Cache,
    pub(crate) manifests: ManifestCache,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    flights: Mutex<HashMap<Key, Flight>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("registries", &self.shared.options.registries)
            .field(
                "credentials_for",
                &self.shared.credentials.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Registry {
    /// Builds a client: installs the `ring` TLS provider (once per process), reads
    /// `config.json`, checks the `registries:` entries and hosts. Nothing is sent yet.
    pub fn new(options: ClientOptions) -> Result<Registry, Error> {
        // reqwest is built with `rustls-no-provider`; without a process-wide provider its client
        // builder panics. Installing twice is harmless (the second call returns Err).
        let _ = rustls::crypto::ring::default_provider().install_default();

        for (i, r) in options.registries.iter().enumerate() {
            let host = canonical_registry(&r.host);
            validate_authority(&host).map_err(|why| {
                Error::new(
                    ErrorKind::Config,
                    format!("registries[{i}].host"),
                    format!("{:?}: {why}", r.host),
                )
            })?;
        }
        for h in &options.insecure_registries {
            validate_authority(&canonical_registry(h)).map_err(|why| {
                Error::new(ErrorKind::Config, format!("--insecure-registry {h}"), why)
            })?;
        }
        let mut credentials: HashMap<String, Credential> = HashMap::new();
        for (host, cred) in load_docker_config(options.docker_config.as_deref())? {
            credentials.insert(host, cred);
        }
        // Later sources win: extra credentials (e.g. Kubernetes secrets) over config.json.
        for (host, cred) in &options.extra_credentials {
            credentials.insert(canonical_registry(host), cred.clone());
        }
        let cache = Cache::new(
            options.cache_ttl,
            options.error_ttl,
            options.cache_dir.clone(),
        );
        Ok(Registry {
            shared: Arc::new(Shared {
                options,
                credentials,
                recorder: Recorder::default(),
                cache,
                manifests: ManifestCache::default(),
                hosts: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Parses a Docker `config.json` or a Kubernetes `dockerconfigjson` secret; see
    /// [`crate::parse_docker_config`].
    pub fn parse_docker_config(json: &str) -> Result<Vec<(String, Credential)>, Error> {
        crate::credentials::parse_docker_config(json)
    }

    /// All tags of one repository. `registry` as written in the image reference
    /// (`docker.io`, `ghcr.io`, `localhost:5000`), `repository` its path
    /// (`mojaloop/central-ledger`, `library/redis`; `redis` is accepted for Docker Hub).
    ///
    /// Concurrent calls for the same repository share one walk; results (and, briefly,
    /// failures) are cached. Errors say which URL failed and why.
    pub async fn list_tags(&self, registry: &str, repository: &str) -> Result<Arc<TagList>, Error> {
        let ttl = self.shared.options.cache_ttl;
        self.list_tags_within(registry, repository, ttl).await
    }

    /// Like [`Registry::list_tags`], but a cached list younger than `max_age` is reused even
    /// when [`ClientOptions::cache_ttl`] is shorter (a longer client TTL still applies).
    ///
    /// For callers that can live with slightly older answers than scans, such as an API that
    /// anyone may call: an operator scans with `cache_ttl: 0` so every scan sees new tags, and
    /// its image-watcher API answers from the last scan's (or its own) walk for `max_age`.
    /// Failures are reused for [`ClientOptions::error_ttl`], as always.
    pub async fn list_tags_max_age(
        &self,
        registry: &str,
        repository: &str,
        max_age: Duration,
    ) -> Result<Arc<TagList>, Error> {
        let ttl = self.shared.options.cache_ttl.max(max_age);
        self.list_tags_within(registry, repository, ttl).await
    }

    /// Whether `registry` (as written in image references; Docker Hub's aliases count as
    /// `docker.io`) has an entry in [`ClientOptions::registries`].
    pub fn is_configured(&self, registry: &str) -> bool {
        let registry = canonical_registry(registry);
        self.shared
            .options
            .registries
            .iter()
            .any(|r| canonical_registry(&r.host) == registry)
    }

    /// The servers this client was set up to talk to, as they appear in
    /// [`Stats::requests`](crate::Stats::requests): Docker Hub (`registry-1.docker.io` and its
    /// token service `auth.docker.io`), and each [`ClientOptions::registries`] entry's host
    /// and mirror. Anything else a client contacts comes from an image reference (a workload's
    /// image) — for bounded metrics, callers can fold those into one bucket.
    pub fn configured_servers(&self) -> BTreeSet<String> {
        let mut servers: BTreeSet<String> = [DOCKER_HUB_ENDPOINT, DOCKER_HUB_AUTH]
            .into_iter()
            .map(str::to_string)
            .collect();
        for entry in &self.shared.options.registries {
            let registry = canonical_registry(&entry.host);
            if registry != DOCKER_HUB {
                servers.insert(registry.clone());
            }
            if let Ok(endpoint) = resolve(&self.shared.options, &registry) {
                servers.insert(endpoint.authority);
            }
        }
        servers
    }

    async fn list_tags_within(
        &self,
        registry: &str,
        repository: &str,
        ttl: Duration,
    ) -> Result<Arc<TagList>, Error> {
        let registry = canonical_registry(registry);
        validate_authority(&registry).map_err(|why| {
            Error::new(ErrorKind::Config, format!("{registry}/{repository}"), why)
        })?;
        let repository = normalize_repository(&registry, repository)?;
        let key: Key = (registry, repository);
        let shared = &self.shared;

        if let Some(hit) = shared.cache.fresh_within(&key, ttl) {
            shared.recorder.cache_hit();
            return hit;
        }
        let (flight, joined) = {
            let mut flights = shared.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&key) {
                Some(f) => (f.clone(), true),
                None => {
                    let f: Flight = Arc::new(OnceCell::new());
                    flights.insert(key.clone(), f.clone());
                    (f, false)
                }
            }
        };
        if joined {
            shared.recorder.coalesced();
        }
        // If the caller that started the walk is cancelled, OnceCell lets a waiter take over.
        let result = flight
            .get_or_init(|| async {
                // A walk that finished between our cache check and joining the map.
                if let Some(hit) = shared.cache.fresh_within(&key, ttl) {
                    return hit;
                }
                let result = self.walk(&key).await;
                match &result {
                    Ok(list) => tracing::debug!(registry = %key.0, repository = %key.1, tags = list.tags.len(), "listed tags"),
                    Err(e) => {
                        tracing::warn!(registry = %key.0, repository = %key.1, error = %e, "cannot list tags");
                        shared.cache.store_err(&key, e.clone());
                    }
                }
                result
            })
            .await
            .clone();
        {
            let mut flights = shared.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        result
    }

    /// A snapshot of request counts, walks, retries and cache hits since the client was built.
    pub fn stats(&self) -> Stats {
        self.shared.recorder.snapshot()
    }

    /// The state every lookup shares (for the manifest lookups in `manifests.rs`).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The server `registry` resolves to, created on first use.
    pub(crate) fn host(&self, registry: &str) -> Result<Arc<Host>, Error> {
        let endpoint = resolve(&self.shared.options, registry)?;
        let mut hosts = self.shared.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = hosts.get(&endpoint.key) {
            return Ok(h.clone());
        }
        let credential = self.shared.credentials.get(&endpoint.key).cloned();
        let host = Arc::new(Host::new(endpoint, &self.shared.options, credential)?);
        hosts.insert(host.endpoint.key.clone(), host.clone());
        Ok(host)
    }

    /// One tag walk: the first page and every `next` page, revalidating cached pages with
    /// their ETags. Stores the result in the cache.
    async fn walk(&self, key: &Key) -> Result<Arc<TagList>, Error> {
        let shared = &self.shared;
        let opts = &shared.options;
        let (registry, repository) = key;
        let host = self.host(registry)?;
        let ctx = Ctx {
            options: opts,
            recorder: &shared.recorder,
        };
        shared.recorder.walk(registry, repository);
        host.ensure_pinged(&ctx)
            .await
            .map_err(|e| e.context(format_args!("{registry}/{repository}")))?;

        let stale: HashMap<String, CachedPage> = shared
            .cache
            .stale_pages(key)
            .map(|pages| {
                pages
                    .iter()
                    .filter(|p| p.etag.is_some())
                    .map(|p| (p.url.clone(), p.clone()))
                    .collect()
            })
            .unwrap_or_default();

        let mut url = host
            .base_url()
            .join(&format!("v2/{repository}/tags/list"))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("{registry}/{repository}"),
                    e.to_string(),
                )
            })?;
        if let Some(n) = opts.page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut walk = Walk::new(&url, opts.max_pages, opts.page_size);
        let mut pages = Vec::new();
        loop {
            let mut request = Request::get(url.clone());
            request
                .headers
                .insert(ACCEPT, HeaderValue::from_static("application/json"));
            let cached = stale.get(url.as_str());
            if let Some(etag) = cached
                .and_then(|p| p.etag.as_deref())
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                request.headers.insert(IF_NONE_MATCH, etag);
            }
            let reply = host.send_authorized(&ctx, repository, request).await?;
            let shown = display_url(&url);
            let page = match reply.status {
                StatusCode::NOT_MODIFIED => match cached {
                    Some(p) => {
                        shared.recorder.not_modified();
                        p.clone()
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::Protocol,
                            shown,
                            "304 Not Modified to a request without If-None-Match",
                        ));
                    }
                },
                s if s.is_success() => {
                    let body: TagsBody = serde_json::from_slice(&reply.body).map_err(|e| {
                        Error::new(
                            ErrorKind::Protocol,
                            &shown,
                            format!("tag list is not the expected JSON: {e}"),
                        )
                    })?;
                    CachedPage {
                        url: url.to_string(),
                        etag: reply.header(ETAG).map(str::to_string),
                        tags: body.tags.unwrap_or_default(),
                        link: reply.header(LINK).map(str::to_string),
                    }
                }
                StatusCode::NOT_FOUND => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        shown,
                        format!(
                            "repository {repository} not found{}",
                            error_summary(&reply.body)
                        ),
                    ));
                }
                StatusCode::FORBIDDEN => {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        shown,
                        format!(
                            "pull access to {repository} denied{}",
                            error_summary(&reply.body)
                        ),
                    ));
                }
                s if s.is_redirection() => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        shown,
                        format!("{s}: redirected to another host, which is not followed"),
                    ));
                }
                s => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        shown,
                        format!("unexpected status {s}{}", error_summary(&reply.body)),
                    ));
                }
            };
            let new = walk.add_page(&page.tags);
            let next = walk.next(&url, page.link.as_deref(), &page.tags, new)?;
            pages.push(page);
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        let mut tags = walk.tags;
        tags.shrink_to_fit();
        let list = Arc::new(TagList {
            registry: registry.clone(),
            repository: repository.clone(),
            tags,
        });
        // Only pages with an ETag can be revalidated; the others would be held for nothing.
        pages.retain(|page| page.etag.is_some());
        shared.cache.store_ok(key, list.clone(), pages);
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Registry>();
    }

    #[tokio::test]
    async fn config_errors_surface_before_any_request() {
        let bad = ClientOptions {
            insecure_registries: vec!["http://x".into()],
            ..Default::default()
        };
        assert_eq!(Registry::new(bad).unwrap_err().kind(), ErrorKind::Config);
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::new(ClientOptions {
            docker_config: Some(dir.path().into()),
            ..Default::default()
        })
        .unwrap();
        let e = r.list_tags("ghcr.io", "Bad/Name").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("Bad/Name"), "{e}");
        let e = r.list_tags("ghcr.io/x", "a").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(r.stats().total_requests(), 0);
    }

    #[tokio::test]
    async fn username_without_password_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ClientOptions {
            docker_config: Some(dir.path().into()),
            registries: vec![crate::RegistryConfig {
                host: "127.0.0.1:9".into(),
                username: Some("u".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = Registry::new(opts).unwrap();
        let e = r.list_tags("127.0.0.1:9", "a").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("passwordFile"), "{e}");
    }
}
