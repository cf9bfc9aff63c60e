//! The image-watcher API, `GET /images/...`: which requests it accepts, and how it answers.
//!
//! The original image-watcher served `/images/{org}/{image}/{tag}`, where `{org}/{image}` is a
//! Docker Hub repository. Its client, the original ml-operator, builds the path from the
//! container's image with the regex `(.*)/(.*):(.*)`, so it also sends:
//!
//! | image in the workload                         | path the original client sends                  |
//! |-----------------------------------------------|-------------------------------------------------|
//! | `mojaloop/central-ledger:v10.3.1`             | `mojaloop/central-ledger/v10.3.1`               |
//! | `docker.io/mojaloop/central-settlement:v17.2.2` | `docker.io/mojaloop/central-settlement/v17.2.2` |
//! | `mojaloop/cep:v12.1.1@sha256:HEX`             | `mojaloop/cep:v12.1.1@sha256/HEX`               |
//!
//! and `mojaloop/cep/v12.1.1@sha256/HEX` is accepted too. What is accepted, exactly:
//!
//! - `{org}/{image}/{tag}`: the Docker Hub repository `{org}/{image}`.
//! - `{registry}/{path...}/{tag}`: when the first segment is a host (it has a `.` or `:`, or is
//!   `localhost`, Docker's rule): `docker.io`, `index.docker.io` and `registry-1.docker.io` are
//!   Docker Hub; any other host must be a configured registry (`registries[].host`), else the
//!   answer is `400` with the fixed message [`BadRequest::RegistryNotAllowed`], and nothing is
//!   contacted.
//! - a digest after the tag, `{tag}@sha256/{hex}` or `{tag}@sha256:{hex}` (also
//!   `{image}:{tag}@sha256/{hex}`): answered for the tag before `@`; a malformed digest is a
//!   `400` naming the problem. The hex is never taken for a tag.
//! - Every repository path component follows the OCI distribution grammar (lower-case letters
//!   and digits, separated by `.`, `_`, `__` or dashes); tags follow the tag grammar; a `%` (an
//!   encoded `/` or `:`) anywhere is refused.
//!
//! `fullImage` is the repository exactly as the client sent it (`docker.io/` prefix included),
//! `:` and the answered tag, so the original client's regex gives back the org and image it
//! matches its containers by.
//!
//! Answers come from the registry client's cache when its list is younger than
//! [`API_CACHE_TTL`], even when scans use `cacheTtl: 0s`; errors name the repository only
//! (the cause is logged at `warn`).

use std::time::Duration;

use ml_operator_registry::ErrorKind;
use ml_operator_version::{Outcome, Strategy, TagSet};

use crate::inventory::image::ImageRef;
use crate::tags::TagSource;
use crate::tags::{TagLookup, Tags};

/// How long the API reuses a repository's tag list: 30 identical questions within this time
/// make one registry walk (a scan's walk counts too).
pub const API_CACHE_TTL: Duration = Duration::from_secs(60);

/// At most this many path segments after `/images/` (registry, a deep path, tag, digest).
const MAX_SEGMENTS: usize = 12;

/// Docker Hub's names as the first segment of a path.
const DOCKER_HUB_NAMES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Why a request is refused with `400`. Messages never repeat what the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// Not one of the accepted path shapes.
    #[error(
        "expected /images/{{org}}/{{image}}/{{tag}}, optionally with a registry first or @sha256/{{hex}} after the tag"
    )]
    Shape,
    /// A `%` in the path: encoded separators are not accepted.
    #[error("percent-encoded characters are not accepted in /images paths")]
    Encoded,
    /// The first segment is a host that is neither Docker Hub nor a configured registry.
    #[error(
        "registry not allowed: only Docker Hub repositories and the configured registries are served"
    )]
    RegistryNotAllowed,
    /// A repository path component that is not in the distribution grammar.
    #[error(
        "invalid {0}: a repository name component is lower-case letters and digits, separated by '.', '_', '__' or dashes"
    )]
    Component(&'static str),
    /// A repository path longer than 255 characters.
    #[error("invalid repository: longer than 255 characters")]
    NameTooLong,
    /// A tag that is not in the tag grammar.
    #[error(
        "invalid tag: a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    )]
    Tag,
    /// A malformed digest after the tag.
    #[error("malformed digest: {0}")]
    Digest(&'static str),
}

/// A question the API can answer: which repository, at which tag, and how to write the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageQuestion {
    /// The repository to look up, with the current tag (Docker Hub without a domain).
    pub image: ImageRef,
    /// The current tag: the tag before `@` for a digest-pinned image.
    pub tag: String,
    /// The repository as the client wrote it (`docker.io/mojaloop/x`), for `fullImage`.
    pub sent_name: String,
    /// The digest the client's image is pinned to, if any (`sha256:…`); not used to answer.
    pub digest: Option<String>,
}

impl ImageQuestion {
    /// Parses the raw (not percent-decoded) path after `/images/`. `configured` says whether
    /// a registry host other than Docker Hub may be asked.
    pub fn parse(path: &str, configured: impl Fn(&str) -> bool) -> Result<Self, BadRequest> {
        if path.contains('%') {
            return Err(BadRequest::Encoded);
        }
        let mut segments: Vec<&str> = path.split('/').collect();
        if segments.len() < 3 || segments.len() > MAX_SEGMENTS || segments.contains(&"") {
            return Err(BadRequest::Shape);
        }

        // A digest: `{tag}@{algorithm}:{hex}` in the last segment, or `{tag}@{algorithm}` and
        // `{hex}` as the last two (the original client turns the digest's `:` into a `/`).
        let n = segments.len();
        let digest = match segments.iter().position(|s| s.contains('@')) {
            None => None,
            Some(i) if i == n - 1 => {
                let (before, digest) = segments[i].split_once('@').expect("has @");
                segments[i] = before;
                Some(digest.to_string())
            }
            Some(i) if i == n - 2 => {
                let (before, algorithm) = segments[i].split_once('@').expect("has @");
                let digest = format!("{algorithm}:{}", segments[n - 1]);
                segments[i] = before;
                segments.pop();
                Some(digest)
            }
            Some(_) => {
                return Err(BadRequest::Digest(
                    "'@' must follow the tag, as in {tag}@sha256/{hex}",
                ));
            }
        };
        if let Some(digest) = &digest {
            check_digest(digest)?;
        }

        let mut last = segments.pop().ok_or(BadRequest::Shape)?;
        // `{image}:{tag}@sha256/{hex}`: the original client's regex keeps the tag in the image
        // segment when the image is pinned by a digest.
        let mut image_with_tag = None;
        if digest.is_some()
            && let Some((image, tag)) = last.rsplit_once(':')
        {
            image_with_tag = Some(image);
            last = tag;
        }
        if let Some(image) = image_with_tag {
            segments.push(image);
        }
        let tag = last;
        check_tag(tag)?;
        if segments.len() < 2 {
            return Err(BadRequest::Shape);
        }

        let first = segments[0];
        let (registry, path): (Option<&str>, &[&str]) = if is_host(first) {
            let lower = first.to_ascii_lowercase();
            if DOCKER_HUB_NAMES.contains(&lower.as_str()) {
                (None, &segments[1..])
            } else if configured(first) {
                (Some(first), &segments[1..])
            } else {
                return Err(BadRequest::RegistryNotAllowed);
            }
        } else {
            // Docker Hub repositories are `{org}/{image}`.
            if segments.len() != 2 {
                return Err(BadRequest::Shape);
            }
            (None, &segments[..])
        };
        if path.is_empty() || (registry.is_none() && path.len() > 2) {
            return Err(BadRequest::Shape);
        }
        for (i, component) in path.iter().enumerate() {
            if !is_component(component) {
                let part = match (registry, path.len(), i) {
                    (None, 2, 0) => "org",
                    (None, _, _) => "image",
                    _ => "repository path",
                };
                return Err(BadRequest::Component(part));
            }
        }
        let repository = path.join("/");
        if repository.len() > 255 {
            return Err(BadRequest::NameTooLong);
        }
        let reference = match registry {
            Some(host) => format!("{host}/{repository}:{tag}"),
            None => format!("{repository}:{tag}"),
        };
        // Checked piece by piece above; the reference parser agrees (a host it rejects is
        // refused the same way).
        let image = ImageRef::parse(&reference).map_err(|_| BadRequest::RegistryNotAllowed)?;
        Ok(ImageQuestion {
            image,
            tag: tag.to_string(),
            sent_name: segments.join("/"),
            digest,
        })
    }

    /// The repository named in answers and errors: `docker.io/mojaloop/central-ledger`.
    pub fn repository(&self) -> String {
        self.image.canonical_name()
    }

    /// The `fullImage` of an answer: the repository as sent, with `tag`.
    pub fn full_image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.sent_name)
    }
}

/// Why a question could not be answered; messages name the repository and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    /// The repository does not exist (or is not visible to us): `404`.
    #[error("unknown repository {0}")]
    NotFound(String),
    /// The registry (or image-watcher) failed: `502`.
    #[error("cannot list tags of {0}")]
    Failed(String),
}

/// The newest tag `question`'s repository allows from its current tag under `strategy` (the
/// current tag when it is already the newest, or not a version).
pub async fn newest(
    source: &TagSource,
    question: &ImageQuestion,
    strategy: Strategy,
) -> Result<String, Unanswered> {
    let repository = question.repository();
    match source {
        TagSource::Index(index) => match index.tags(&question.image) {
            Ok(tags) => Ok(newest_of(&question.tag, tags, strategy)),
            Err(_) => Err(Unanswered::NotFound(repository)),
        },
        TagSource::Registry(registry) => match registry
            .list_tags_max_age(
                question.image.registry(),
                &question.image.repository(),
                API_CACHE_TTL,
            )
            .await
        {
            Ok(list) => Ok(newest_of(&question.tag, &list.tags, strategy)),
            // Docker Hub answers 401 for repositories that do not exist; a private repository
            // we cannot see is "unknown" to the caller too.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotFound | ErrorKind::Unauthorized | ErrorKind::Forbidden
                ) =>
            {
                tracing::info!(%repository, error = %e, "image-watcher API: unknown repository");
                Err(Unanswered::NotFound(repository))
            }
            Err(e) => {
                tracing::warn!(%repository, error = %e, "image-watcher API: cannot list tags");
                Err(Unanswered::Failed(repository))
            }
        },
        TagSource::ImageWatcher(client) => {
            match client
                .newest(&question.image, &question.tag, strategy)
                .await
            {
                Ok(newest) => Ok(newest),
                Err(e) => {
                    tracing::warn!(%repository, error = %e, "image-watcher API: the upstream image-watcher failed");
                    Err(Unanswered::Failed(repository))
                }
            }
        }
    }
}

/// The newest allowed tag, or the current one when there is none (or it is not a version).
fn newest_of(current: &str, tags: &Tags, strategy: Strategy) -> String {
    let tags = TagSet::new(tags.iter());
    match tags.decide(current, strategy).outcome {
        Outcome::Update { latest } => latest,
        Outcome::UpToDate | Outcome::Unresolved { .. } => current.to_string(),
    }
}

/// Docker's rule for "the first component is a registry": it has a `.` or `:`, is
/// `localhost`, or is an IPv6 literal.
fn is_host(segment: &str) -> bool {
    segment.contains(['.', ':'])
        || segment.eq_ignore_ascii_case("localhost")
        || segment.starts_with('[')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), BadRequest> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if ok { Ok(()) } else { Err(BadRequest::Tag) }
}

/// `sha256:` and 64 lower-case hex digits, or `sha512:` and 128.
fn check_digest(digest: &str) -> Result<(), BadRequest> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(BadRequest::Digest("expected {algorithm}:{hex}"));
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(BadRequest::Digest("the algorithm must be sha256 or sha512")),
    };
    if hex.len() != length {
        return Err(BadRequest::Digest(if length == 64 {
            "a sha256 digest is 64 hex digits"
        } else {
            "a sha512 digest is 128 hex digits"
        }));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(BadRequest::Digest("the digest must be lower-case hex"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(path: &str) -> Result<ImageQuestion, BadRequest> {
        ImageQuestion::parse(path, |host| host == "harbor.example.com")
    }

    fn ok(path: &str) -> (String, String, String) {
        let q = parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (q.repository(), q.tag.clone(), q.full_image("NEW"))
    }

    #[test]
    fn the_three_shapes_the_original_client_sends() {
        assert_eq!(
            ok("mojaloop/central-ledger/v10.3.1"),
            (
                "docker.io/mojaloop/central-ledger".into(),
                "v10.3.1".into(),
                "mojaloop/central-ledger:NEW".into()
            )
        );
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                ok(&format!("{hub}/mojaloop/central-settlement/v17.2.2")),
                (
                    "docker.io/mojaloop/central-settlement".into(),
                    "v17.2.2".into(),
                    format!("{hub}/mojaloop/central-settlement:NEW")
                ),
                "{hub}"
            );
        }
        for path in [
            format!("mojaloop/central-event-processor/v12.1.1@sha256/{HEX}"),
            format!("mojaloop/central-event-processor:v12.1.1@sha256/{HEX}"),
            format!("mojaloop/central-event-processor/v12.1.1@sha256:{HEX}"),
        ] {
            let q = parse(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(q.tag, "v12.1.1", "{path}");
            assert_eq!(q.digest.as_deref(), Some(&*format!("sha256:{HEX}")));
            assert_eq!(
                q.full_image("v12.1.2"),
                "mojaloop/central-event-processor:v12.1.2"
            );
        }
        assert_eq!(
            ok(&format!("docker.io/mojaloop/cep/v1.0.0@sha256/{HEX}")).1,
            "v1.0.0"
        );
        assert_eq!(ok("docker.io/redis/6.2.4").0, "docker.io/library/redis");
        assert_eq!(ok("library/redis/6.2.4").0, "docker.io/library/redis");
    }

    #[test]
    fn configured_registries_are_served_with_any_depth() {
        assert_eq!(
            ok("harbor.example.com/hub/team/app/1.2.3"),
            (
                "harbor.example.com/hub/team/app".into(),
                "1.2.3".into(),
                "harbor.example.com/hub/team/app:NEW".into()
            )
        );
    }

    #[test]
    fn other_hosts_are_refused_with_a_fixed_message() {
        for path in [
            "127.0.0.1:6002/x/v1.0.0",
            "127.0.0.1:6002/mojaloop/x/v1.0.0",
            "localhost:6002/x/v1.0.0",
            "LOCALHOST/x/v1.0.0",
            "localhost/x/y/v1.0.0",
            "[::1]:6002/x/v1.0.0",
            "[::1]/x/v1.0.0",
            "host.with.dots/x/v1.0.0",
            "host.with.dots/x/y/v1.0.0",
            "169.254.169.254/latest/v1",
            "harbor.example.com.evil.io/x/v1",
            "ghcr.io/org/app/v1",
        ] {
            assert_eq!(parse(path), Err(BadRequest::RegistryNotAllowed), "{path}");
        }
        let message = BadRequest::RegistryNotAllowed.to_string();
        assert!(!message.contains("127.0.0.1") && !message.contains("6002"));
    }

    #[test]
    fn encoded_separators_and_bad_components_are_refused() {
        for path in [
            "127.0.0.1%3A6002/x/v1.0.0",
            "127.0.0.1:6002%2Fx/y/v1.0.0",
            "mojaloop%2Fx/y/v1",
            "mojaloop/x%2F..%2F..%2Fadmin/v1",
            "mojaloop/x/v1%40sha256",
        ] {
            assert_eq!(parse(path), Err(BadRequest::Encoded), "{path}");
        }
        for (path, part) in [
            ("Mojaloop/x/v1", "org"),
            ("mojaloop/X/v1", "image"),
            ("-a/x/v1", "org"),
            ("a_/x/v1", "org"),
            ("a/x..y/v1", "image"),
            ("a/x___y/v1", "image"),
            ("a/x.-y/v1", "image"),
            ("harbor.example.com/a/B/v1", "repository path"),
        ] {
            assert_eq!(parse(path), Err(BadRequest::Component(part)), "{path}");
        }
        for good in ["a--b/x/v1", "a__b/x/v1", "a_b-c/x9.y_z/v1"] {
            assert!(parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn shapes_tags_and_digests() {
        for path in [
            "",
            "redis/6",
            "a/b/c/v1",
            "a//v1",
            "a/b/",
            "/a/b/v1",
            "docker.io/a/b/c/v1",
            "docker.io/v1",
        ] {
            assert_eq!(parse(path), Err(BadRequest::Shape), "{path:?}");
        }
        for path in [
            "a/b/.v1",
            "a/b/-v1",
            "a/b/v1:2",
            &format!("a/b/{}", "x".repeat(129)),
        ] {
            assert_eq!(parse(path), Err(BadRequest::Tag), "{path}");
        }
        for path in [
            "a/b/v1@sha256/abc",
            "a/b/v1@sha256/".to_string().as_str(),
            &format!("a/b/v1@md5/{HEX}"),
            &format!("a/b/v1@sha256/{}", HEX.to_uppercase()),
            &format!("a/b/v1@sha256/{}z", &HEX[1..]),
            &format!("a@x/b/v1/{HEX}"),
            "a/b/v1@sha256",
            &format!("a/b/v1@{HEX}"),
        ] {
            assert!(
                matches!(parse(path), Err(BadRequest::Digest(_) | BadRequest::Shape)),
                "{path}: {:?}",
                parse(path)
            );
        }
        let e = parse("a/b/v1@sha256/abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed digest: a sha256 digest is 64 hex digits"
        );
        assert!(parse(&format!("a/b/v1@sha512/{HEX}{HEX}")).is_ok());
    }
}
