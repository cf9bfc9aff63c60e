//! Counters of what the client did: for tests ("exactly one walk per repository"), for
//! Prometheus metrics, and for the scale benchmark's JSON line.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How many retry events [`Stats::retry_log`] keeps (the most recent ones), so a long-running
/// operator's memory does not grow with its uptime.
pub const RETRY_LOG_CAPACITY: usize = 256;

/// How many distinct (server, outcome) rows [`Stats::requests`] keeps; requests beyond that are
/// counted under [`OVERFLOW`], so counters cannot grow with the number of servers asked.
pub const MAX_REQUEST_ROWS: usize = 1024;
/// How many distinct repositories [`Stats::tag_walks`] keeps; walks beyond that are counted
/// under registry and repository [`OVERFLOW`] (an API may be asked about any repository).
pub const MAX_WALK_ROWS: usize = 10_000;
/// The row name of everything counted beyond [`MAX_REQUEST_ROWS`] or [`MAX_WALK_ROWS`].
pub const OVERFLOW: &str = "other";

/// A snapshot of the client's counters since it was built.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// HTTP requests by server (`host[:port]`) and outcome: the status code (`"200"`, `"401"`,
    /// `"429"`) or a transport failure (`"timeout"`, `"connect"`, `"tls"`). Token-service
    /// requests are counted under the token service's host. At most [`MAX_REQUEST_ROWS`] rows
    /// plus one [`OVERFLOW`] row per outcome.
    pub requests: Vec<RequestCount>,
    /// Tag walks (one walk = first page plus all its `next` pages) by repository. At most
    /// [`MAX_WALK_ROWS`] rows plus one [`OVERFLOW`] row.
    pub tag_walks: Vec<WalkCount>,
    /// Requests repeated after a 429, 5xx, timeout or dropped connection.
    pub retries: u64,
    /// Lookups answered from the memory or disk cache without any request.
    pub cache_hits: u64,
    /// Lookups that joined a walk already in flight for the same repository.
    pub coalesced: u64,
    /// Pages the registry confirmed unchanged (`304 Not Modified` to our `If-None-Match`).
    pub not_modified: u64,
    /// Bearer tokens fetched from token services.
    pub token_fetches: u64,
    /// HTTP requests by what they asked for ([`RequestKind`]): tag-list pages, manifest HEADs
    /// and GETs, blob GETs, tokens, pings. Every request is counted here once, whatever its
    /// outcome, so the supply-chain checks' cost can be read next to the tag walks'.
    pub requests_by_kind: Vec<KindCount>,
    /// Digest lookups (`HEAD` of a tag) answered from the digest cache without a request.
    pub digest_cache_hits: u64,
    /// The most recent retries (at most [`RETRY_LOG_CAPACITY`]), oldest first: what we waited
    /// for and why.
    pub retry_log: Vec<RetryEvent>,
}

/// One row of [`Stats::requests`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// The server, `host[:port]`.
    pub host: String,
    /// Status code or transport failure kind.
    pub outcome: String,
    /// How many requests ended that way.
    pub count: u64,
}

/// What one HTTP request asked for: the rows of [`Stats::requests_by_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// `GET /v2/` (the first contact, learning the auth challenge).
    Ping,
    /// A token-service request.
    Token,
    /// `GET /v2/<name>/tags/list` (one page of a tag walk).
    TagList,
    /// `HEAD /v2/<name>/manifests/<reference>` (a tag's digest).
    HeadManifest,
    /// `GET /v2/<name>/manifests/<reference>` (an image's manifest, a signature manifest).
    GetManifest,
    /// `GET /v2/<name>/blobs/<digest>` (an image config, a signature payload).
    GetBlob,
}

impl RequestKind {
    /// The stable name used in JSON and metrics: `tag-list`, `head-manifest`, `get-blob`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Ping => "ping",
            RequestKind::Token => "token",
            RequestKind::TagList => "tag-list",
            RequestKind::HeadManifest => "head-manifest",
            RequestKind::GetManifest => "get-manifest",
            RequestKind::GetBlob => "get-blob",
        }
    }

    /// What a request to `path` with `method` asks for (a path outside `/v2/` is a token
    /// service's).
    pub(crate) fn of(method: &reqwest::Method, path: &str) -> RequestKind {
        if !path.starts_with("/v2/") {
            return RequestKind::Token;
        }
        if path == "/v2/" {
            RequestKind::Ping
        } else if path.ends_with("/tags/list") {
            RequestKind::TagList
        } else if path.contains("/manifests/") {
            if method == reqwest::Method::HEAD {
                RequestKind::HeadManifest
            } else {
                RequestKind::GetManifest
            }
        } else if path.contains("/blobs/") {
            RequestKind::GetBlob
        } else {
            RequestKind::Token
        }
    }
}

/// One row of [`Stats::requests_by_kind`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// What the requests asked for.
    pub kind: RequestKind,
    /// How many were sent.
    pub count: u64,
}

/// One row of [`Stats::tag_walks`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkCount {
    /// The canonical registry name (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/redis`).
    pub repository: String,
    /// How many walks were made.
    pub walks: u64,
}

/// One retry: which request, why, and how long we waited before repeating it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryEvent {
    /// The server, `host[:port]`.
    pub host: String,
    /// The URL (no credentials).
    pub url: String,
    /// 1 for the first retry.
    pub attempt: u32,
    /// `"429 Retry-After: 2"`, `"503"`, `"timeout"`, `"connect: connection reset"`.
    pub reason: String,
    /// The wait before the retry.
    #[serde(serialize_with = "as_millis")]
    pub wait: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Stats {
    /// All requests sent to `host` (`host[:port]`), whatever their outcome.
    pub fn requests_to(&self, host: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.host == host)
            .map(|r| r.count)
            .sum()
    }

    /// Requests to `host` that ended with `outcome` (`"200"`, `"429"`, `"timeout"`...).
    pub fn requests_with(&self, host: &str, outcome: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.host == host && r.outcome == outcome)
            .map(|r| r.count)
            .sum()
    }

    /// All requests sent anywhere.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().map(|r| r.count).sum()
    }

    /// Walks made for one repository (`registry` canonical, e.g. `docker.io`, `library/redis`).
    pub fn walks(&self, registry: &str, repository: &str) -> u64 {
        self.tag_walks
            .iter()
            .filter(|w| w.registry == registry && w.repository == repository)
            .map(|w| w.walks)
            .sum()
    }

    /// Walks made in total.
    pub fn total_walks(&self) -> u64 {
        self.tag_walks.iter().map(|w| w.walks).sum()
    }

    /// Requests of one kind sent anywhere (`RequestKind::HeadManifest`: digest lookups).
    pub fn requests_of(&self, kind: RequestKind) -> u64 {
        self.requests_by_kind
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.count)
            .sum()
    }
}

/// Adds one to `key`'s row, or — once `map` has `cap` rows and `key` is new — to the overflow
/// row (`OVERFLOW` as the first part, and as the second too unless `keep_second`).
fn count(
    map: &mut BTreeMap<(String, String), u64>,
    (first, second): (&str, &str),
    cap: usize,
    keep_second: bool,
) {
    let key = (first.to_string(), second.to_string());
    if map.len() < cap || map.contains_key(&key) {
        *map.entry(key).or_default() += 1;
        return;
    }
    let second = if keep_second { second } else { OVERFLOW };
    *map.entry((OVERFLOW.to_string(), second.to_string()))
        .or_default() += 1;
}

/// The live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String), u64>,
    walks: BTreeMap<(String, String), u64>,
    retries: u64,
    cache_hits: u64,
    coalesced: u64,
    not_modified: u64,
    token_fetches: u64,
    kinds: BTreeMap<RequestKind, u64>,
    digest_cache_hits: u64,
    retry_log: VecDeque<RetryEvent>,
}

impl Recorder {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn request(&self, host: &str, outcome: &str) {
        self.with(|i| count(&mut i.requests, (host, outcome), MAX_REQUEST_ROWS, true));
    }

    pub(crate) fn request_kind(&self, kind: RequestKind) {
        self.with(|i| *i.kinds.entry(kind).or_default() += 1);
    }

    pub(crate) fn digest_cache_hit(&self) {
        self.with(|i| i.digest_cache_hits += 1);
    }

    pub(crate) fn walk(&self, registry: &str, repository: &str) {
        self.with(|i| count(&mut i.walks, (registry, repository), MAX_WALK_ROWS, false));
    }

    pub(crate) fn retry(&self, event: RetryEvent) {
        self.with(|i| {
            i.retries += 1;
            if i.retry_log.len() == RETRY_LOG_CAPACITY {
                i.retry_log.pop_front();
            }
            i.retry_log.push_back(event);
        });
    }

    pub(crate) fn cache_hit(&self) {
        self.with(|i| i.cache_hits += 1);
    }

    pub(crate) fn coalesced(&self) {
        self.with(|i| i.coalesced += 1);
    }

    pub(crate) fn not_modified(&self) {
        self.with(|i| i.not_modified += 1);
    }

    pub(crate) fn token_fetch(&self) {
        self.with(|i| i.token_fetches += 1);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.with(|i| Stats {
            requests: i
                .requests
                .iter()
                .map(|((host, outcome), count)| RequestCount {
                    host: host.clone(),
                    outcome: outcome.clone(),
                    count: *count,
                })
                .collect(),
            tag_walks: i
                .walks
                .iter()
                .map(|((registry, repository), walks)| WalkCount {
                    registry: registry.clone(),
                    repository: repository.clone(),
                    walks: *walks,
                })
                .collect(),
            retries: i.retries,
            cache_hits: i.cache_hits,
            coalesced: i.coalesced,
            not_modified: i.not_modified,
            token_fetches: i.token_fetches,
            requests_by_kind: i
                .kinds
                .iter()
                .map(|(kind, count)| KindCount {
                    kind: *kind,
                    count: *count,
                })
                .collect(),
            digest_cache_hits: i.digest_cache_hits,
            retry_log: i.retry_log.iter().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bounded_log() {
        let r = Recorder::default();
        r.request("ghcr.io", "200");
        r.request("ghcr.io", "200");
        r.request("ghcr.io", "429");
        r.walk("ghcr.io", "a/b");
        for n in 0..(RETRY_LOG_CAPACITY as u32 + 10) {
            r.retry(RetryEvent {
                host: "h".into(),
                url: "u".into(),
                attempt: n,
                reason: "503".into(),
                wait: Duration::ZERO,
            });
        }
        let s = r.snapshot();
        assert_eq!(s.requests_to("ghcr.io"), 3);
        assert_eq!(s.requests_with("ghcr.io", "200"), 2);
        assert_eq!(s.walks("ghcr.io", "a/b"), 1);
        assert_eq!(s.retries, RETRY_LOG_CAPACITY as u64 + 10);
        assert_eq!(s.retry_log.len(), RETRY_LOG_CAPACITY);
        assert_eq!(
            s.retry_log[0].attempt, 10,
            "oldest entries are dropped first"
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["retryLog"][0]["wait"], 0);
    }

    #[test]
    fn requests_are_counted_by_kind() {
        let r = Recorder::default();
        use reqwest::Method;
        for (method, path, kind) in [
            (Method::GET, "/v2/", RequestKind::Ping),
            (Method::GET, "/token", RequestKind::Token),
            (Method::GET, "/v2/a/b/tags/list", RequestKind::TagList),
            (
                Method::HEAD,
                "/v2/a/b/manifests/v1",
                RequestKind::HeadManifest,
            ),
            (
                Method::GET,
                "/v2/a/b/manifests/sha256-x.sig",
                RequestKind::GetManifest,
            ),
            (Method::GET, "/v2/a/b/blobs/sha256:00", RequestKind::GetBlob),
        ] {
            assert_eq!(RequestKind::of(&method, path), kind, "{method} {path}");
            r.request_kind(kind);
        }
        r.request_kind(RequestKind::HeadManifest);
        let s = r.snapshot();
        assert_eq!(s.requests_of(RequestKind::HeadManifest), 2);
        assert_eq!(s.requests_of(RequestKind::GetManifest), 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["requestsByKind"][0]["kind"], "ping");
    }

    #[test]
    fn rows_are_bounded_and_the_rest_is_counted_as_other() {
        let r = Recorder::default();
        for n in 0..(MAX_WALK_ROWS + 500) {
            r.walk("docker.io", &format!("org/app-{n}"));
        }
        r.walk("docker.io", "org/app-0");
        for n in 0..(MAX_REQUEST_ROWS + 10) {
            r.request(&format!("127.0.0.1:{n}"), "200");
        }
        let s = r.snapshot();
        assert_eq!(s.tag_walks.len(), MAX_WALK_ROWS + 1);
        assert_eq!(s.total_walks(), MAX_WALK_ROWS as u64 + 501);
        assert_eq!(s.walks(OVERFLOW, OVERFLOW), 500);
        assert_eq!(
            s.walks("docker.io", "org/app-0"),
            2,
            "known rows still count"
        );
        assert_eq!(s.requests.len(), MAX_REQUEST_ROWS + 1);
        assert_eq!(s.requests_with(OVERFLOW, "200"), 10);
        assert_eq!(s.total_requests(), MAX_REQUEST_ROWS as u64 + 10);
    }
}
