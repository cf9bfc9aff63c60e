//! What a registry says about one image beyond its tag list, each answer cached so a scan's
//! steady state stays within its request budget:
//!
//! - [`Registry::manifest_digest`]: the digest a tag points to now — one `HEAD` of the
//!   manifest with the index, list and manifest `Accept` types (never a `GET`: HEADs do not
//!   count against Docker Hub's pull limits), reused for `max_age`, then revalidated with
//!   `If-None-Match` (the manifest's `ETag`).
//! - [`Registry::image_created`]: when an image was built (its config's `created`) — one
//!   manifest `GET` (two for a multi-platform index) and one config blob `GET`, cached by
//!   digest for good: content addressed by a digest never changes.
//! - [`Registry::verify_signature`]: whether a digest carries a cosign signature made with a
//!   key ([`crate::cosign`]) — one `GET` of the `sha256-HEX.sig` manifest and one blob `GET`
//!   per signature (at most 16); a verified digest is cached for good, an unsigned one for
//!   `max_age`.
//!
//! Every body fetched by digest is checked against that digest before it is read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ETAG, HeaderValue, IF_NONE_MATCH, LOCATION};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::client::Registry;
use crate::cosign::{self, CosignKey, SIGNATURE_ANNOTATION, SignatureCheck};
use crate::digest_cache::{DigestEntry, RefKey, bounded};
use crate::endpoint::{canonical_registry, normalize_repository, validate_authority};
use crate::error::{Error, ErrorKind, display_url};
use crate::host::{Ctx, Host};
use crate::http::{Reply, Request, error_summary, execute};
use crate::stats::RequestKind;

/// Every manifest type a tag may point to, for the `HEAD` (an index or list for
/// multi-platform images, a manifest for single-platform ones).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// The most signatures of one digest that are checked (each costs a blob `GET`); a signature
/// manifest listing more is read up to this many.
const MAX_SIGNATURES: usize = 16;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestBody {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct ConfigBody {
    #[serde(default)]
    created: Option<String>,
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits: the only digest form this client
/// takes from a registry, puts in a URL, or compares (the form registries, Docker and the
/// kubelet write).
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `digest` when it is a sha256 digest ([`is_sha256_digest`]); else a protocol error naming
/// `what` (where it came from) and the value, shortened.
fn sha256_only<'d>(digest: &'d str, what: &str, shown: &str) -> Result<&'d str, Error> {
    if is_sha256_digest(digest) {
        return Ok(digest);
    }
    let mut value: String = digest.chars().take(80).collect();
    if value.len() < digest.len() {
        value.push('…');
    }
    Err(Error::new(
        ErrorKind::Protocol,
        shown,
        format!("{what} {value:?} is not a digest of the form sha256:<64 lowercase hex digits>"),
    ))
}

/// `sha256:HEX` of `bytes`.
fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Checks that `body` is the content `digest` (a sha256 digest, checked before any request)
/// names.
fn check_digest(body: &[u8], digest: &str, shown: &str) -> Result<(), Error> {
    if sha256_digest(body) != digest {
        return Err(Error::new(
            ErrorKind::Protocol,
            shown,
            format!("the content does not match its digest {digest}"),
        ));
    }
    Ok(())
}

impl Registry {
    /// The digest `tag` of `repository` points to now (`Docker-Content-Digest` of a `HEAD`), or
    /// `None` when the registry has no such manifest. A digest learnt less than `max_age` ago
    /// is reused without a request ([`crate::Stats::digest_cache_hits`]); an older one is
    /// revalidated with its `ETag`.
    pub async fn manifest_digest(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        max_age: Duration,
    ) -> Result<Option<String>, Error> {
        let (registry, repository) = self.target(registry, repository)?;
        let key = RefKey::new(&registry, &repository, tag);
        let cache = &self.shared().manifests;
        let cached = {
            let digests = cache.digests.lock().unwrap_or_else(|e| e.into_inner());
            digests
                .get(&key)
                .map(|e| (e.digest(), e.etag(), e.at.elapsed() < max_age))
        };
        if let Some((digest, _, true)) = &cached {
            self.shared().recorder.digest_cache_hit();
            return Ok(digest.clone());
        }
        let (host, ctx) = self.contact(&registry, &repository).await?;
        let mut request = Request::head(manifest_url(&host, &repository, tag)?);
        request
            .headers
            .insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let etag = cached.as_ref().and_then(|(_, etag, _)| etag.clone());
        if let Some(value) = etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
            request.headers.insert(IF_NONE_MATCH, value);
        }
        let shown = format!("HEAD {}", display_url(&request.url));
        let reply = host.send_authorized(&ctx, &repository, request).await?;
        let (digest, etag) = match reply.status {
            StatusCode::NOT_MODIFIED if etag.is_some() => {
                self.shared().recorder.not_modified();
                let digest = cached.and_then(|(digest, _, _)| digest);
                (digest, etag)
            }
            StatusCode::NOT_FOUND => (None, None),
            s if s.is_success() => {
                let digest = reply.header("docker-content-digest").ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        &shown,
                        "no Docker-Content-Digest in the answer (the digest is not learnt by downloading the manifest)",
                    )
                })?;
                let digest = sha256_only(digest, "the Docker-Content-Digest", &shown)?;
                (
                    Some(digest.to_string()),
                    reply.header(ETAG).map(str::to_string),
                )
            }
            s => return Err(unexpected(&shown, s, &reply)),
        };
        let mut digests = cache.digests.lock().unwrap_or_else(|e| e.into_inner());
        bounded(&mut digests, |e| e.at.elapsed() < max_age);
        digests.insert(key, DigestEntry::new(digest.as_deref(), etag.as_deref()));
        Ok(digest)
    }

    /// When the image `digest` of `repository` was built: its config's `created` (for a
    /// multi-platform index, the `linux/amd64` image's, else the first platform's). `None` when
    /// the config does not say. Cached by digest for the life of the client.
    pub async fn image_created(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let (registry, repository) = self.target(registry, repository)?;
        let image = format!("{registry}/{repository}");
        let digest = sha256_only(digest, "the image digest", &image)?;
        let key = RefKey::new(&registry, &repository, digest);
        let cache = &self.shared().manifests;
        if let Some(created) = cache
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*created);
        }
        let (host, ctx) = self.contact(&registry, &repository).await?;
        let mut manifest = self
            .get_manifest(&host, &ctx, &repository, digest, Some(digest))
            .await?;
        if let Some(platforms) = manifest.manifests.take() {
            let chosen = platforms
                .iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                })
                .or_else(|| {
                    platforms
                        .iter()
                        .find(|m| m.platform.as_ref().is_none_or(|p| p.os != "unknown"))
                })
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("{registry}/{repository}@{digest}"),
                        "the image index lists no image",
                    )
                })?;
            let inner = sha256_only(
                &chosen.digest,
                "the image index's manifest digest",
                &format!("{image}@{digest}"),
            )?
            .to_string();
            manifest = self
                .get_manifest(&host, &ctx, &repository, &inner, Some(&inner))
                .await?;
        }
        let config = manifest.config.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("{registry}/{repository}@{digest}"),
                format!(
                    "the manifest ({}) has no config",
                    manifest.media_type.as_deref().unwrap_or("no mediaType")
                ),
            )
        })?;
        let config_digest = sha256_only(
            &config.digest,
            "the manifest's config digest",
            &format!("{image}@{digest}"),
        )?;
        let blob = self
            .get_blob(&host, &ctx, &repository, config_digest)
            .await?;
        let shown = format!("{registry}/{repository}@{}", config.digest);
        let body: ConfigBody = serde_json::from_slice(&blob).map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                &shown,
                format!("the image config is not JSON: {e}"),
            )
        })?;
        let created = match body.created.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Protocol,
                            &shown,
                            format!("created {text:?} is not an RFC 3339 time: {e}"),
                        )
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let mut map = cache.created.lock().unwrap_or_else(|e| e.into_inner());
        bounded(&mut map, |_| false);
        map.insert(key, created);
        Ok(created)
    }

    /// Whether `digest` of `repository` carries a cosign signature made with `key` and bound to
    /// the digest. A verified digest is remembered for good; an unsigned or badly signed one
    /// for `max_age` (a signature may be added later).
    pub async fn verify_signature(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        key: &CosignKey,
        max_age: Duration,
    ) -> Result<SignatureCheck, Error> {
        let (registry, repository) = self.target(registry, repository)?;
        let digest = sha256_only(
            digest,
            "the image digest",
            &format!("{registry}/{repository}"),
        )?;
        let cache_key = RefKey::new(
            &registry,
            &repository,
            &format!("{digest} {}", key.source()),
        );
        let cache = &self.shared().manifests;
        if let Some((check, at)) = cache
            .signatures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
            && (*check == SignatureCheck::Verified || at.elapsed() < max_age)
        {
            return Ok(check.clone());
        }
        let (host, ctx) = self.contact(&registry, &repository).await?;
        let tag = cosign::signature_tag(digest);
        let check = match self
            .get_manifest_opt(&host, &ctx, &repository, &tag, None)
            .await?
        {
            None => SignatureCheck::Unsigned,
            Some(manifest) => {
                let mut first_problem = None;
                let mut verified = false;
                let signed = manifest.layers.iter().filter_map(|layer| {
                    Some((layer, layer.annotations.get(SIGNATURE_ANNOTATION)?))
                });
                for (layer, signature) in signed.take(MAX_SIGNATURES) {
                    let layer_digest = match sha256_only(
                        &layer.digest,
                        "the signature layer's digest",
                        &format!("{registry}/{repository}:{tag}"),
                    ) {
                        Ok(layer_digest) => layer_digest,
                        Err(e) => {
                            first_problem.get_or_insert(e.to_string());
                            continue;
                        }
                    };
                    let payload = self
                        .get_blob(&host, &ctx, &repository, layer_digest)
                        .await?;
                    match cosign::check(key, digest, &payload, signature) {
                        Ok(()) => {
                            verified = true;
                            break;
                        }
                        Err(problem) => {
                            first_problem.get_or_insert(problem);
                        }
                    }
                }
                match (verified, first_problem) {
                    (true, _) => SignatureCheck::Verified,
                    (false, Some(problem)) => SignatureCheck::Invalid(problem),
                    (false, None) => SignatureCheck::Unsigned,
                }
            }
        };
        let mut map = cache.signatures.lock().unwrap_or_else(|e| e.into_inner());
        bounded(&mut map, |(c, at)| {
            *c == SignatureCheck::Verified || at.elapsed() < max_age
        });
        map.insert(cache_key, (check.clone(), Instant::now()));
        Ok(check)
    }

    /// The canonical registry and repository, checked as a tag lookup checks them.
    fn target(&self, registry: &str, repository: &str) -> Result<(String, String), Error> {
        let registry = canonical_registry(registry);
        validate_authority(&registry).map_err(|why| {
            Error::new(ErrorKind::Config, format!("{registry}/{repository}"), why)
        })?;
        let repository = normalize_repository(&registry, repository)?;
        Ok((registry, repository))
    }

    /// The server for `registry`, contacted once (`GET /v2/`, learning its challenge).
    async fn contact(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<(std::sync::Arc<Host>, Ctx<'_>), Error> {
        let host = self.host(registry)?;
        let shared = self.shared();
        let ctx = Ctx {
            options: &shared.options,
            recorder: &shared.recorder,
        };
        host.ensure_pinged(&ctx)
            .await
            .map_err(|e| e.context(format_args!("{registry}/{repository}")))?;
        Ok((host, ctx))
    }

    async fn get_manifest(
        &self,
        host: &Host,
        ctx: &Ctx<'_>,
        repository: &str,
        reference: &str,
        digest: Option<&str>,
    ) -> Result<ManifestBody, Error> {
        self.get_manifest_opt(host, ctx, repository, reference, digest)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("{}/{repository}:{reference}", host.endpoint.key),
                    "manifest unknown",
                )
            })
    }

    /// `GET` of a manifest; `None` on 404. With `digest`, the body is checked against it.
    async fn get_manifest_opt(
        &self,
        host: &Host,
        ctx: &Ctx<'_>,
        repository: &str,
        reference: &str,
        digest: Option<&str>,
    ) -> Result<Option<ManifestBody>, Error> {
        let mut request = Request::get(manifest_url(host, repository, reference)?);
        request
            .headers
            .insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let shown = format!("GET {}", display_url(&request.url));
        let reply = host.send_authorized(ctx, repository, request).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                if let Some(digest) = digest {
                    check_digest(&reply.body, digest, &shown)?;
                }
                serde_json::from_slice(&reply.body).map(Some).map_err(|e| {
                    Error::new(
                        ErrorKind::Protocol,
                        &shown,
                        format!("the manifest is not the expected JSON: {e}"),
                    )
                })
            }
            s => Err(unexpected(&shown, s, &reply)),
        }
    }

    /// `GET` of a blob, checked against its digest. A redirect to another server (Docker Hub
    /// serves blobs from a CDN) is followed once over HTTPS without any credentials: the
    /// digest check makes the content trustworthy wherever it came from.
    async fn get_blob(
        &self,
        host: &Host,
        ctx: &Ctx<'_>,
        repository: &str,
        digest: &str,
    ) -> Result<Bytes, Error> {
        let url = host
            .base_url()
            .join(&format!("v2/{repository}/blobs/{digest}"))
            .map_err(|e| Error::new(ErrorKind::Config, &host.endpoint.key, e.to_string()))?;
        let shown = format!("GET {}", display_url(&url));
        let mut reply = host
            .send_authorized(ctx, repository, Request::get(url.clone()))
            .await?;
        if reply.status.is_redirection()
            && let Some(location) = reply.header(LOCATION)
        {
            let next = url.join(location).map_err(|e| {
                Error::new(ErrorKind::Protocol, &shown, format!("bad redirect: {e}"))
            })?;
            if next.scheme() != "https" && next.host_str() != url.host_str() {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    &shown,
                    "a blob redirect to another server over plain HTTP is not followed",
                ));
            }
            let mut request = Request::get(next);
            request.kind = Some(RequestKind::GetBlob);
            reply = execute(&host.lane(ctx), &request).await?;
        }
        if !reply.status.is_success() {
            return Err(unexpected(&shown, reply.status, &reply));
        }
        check_digest(&reply.body, digest, &shown)?;
        Ok(reply.body)
    }
}

fn manifest_url(host: &Host, repository: &str, reference: &str) -> Result<url::Url, Error> {
    host.base_url()
        .join(&format!("v2/{repository}/manifests/{reference}"))
        .map_err(|e| Error::new(ErrorKind::Config, &host.endpoint.key, e.to_string()))
}

fn unexpected(shown: &str, status: StatusCode, reply: &Reply) -> Error {
    let kind = match status {
        StatusCode::FORBIDDEN => ErrorKind::Forbidden,
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        _ => ErrorKind::Protocol,
    };
    Error::new(
        kind,
        shown,
        format!("unexpected status {status}{}", error_summary(&reply.body)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked() {
        let body = b"{}";
        let digest = sha256_digest(body);
        assert_eq!(
            digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(check_digest(body, &digest, "x").is_ok());
        let err = check_digest(b"{ }", &digest, "GET u").unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn only_sha256_digests_are_taken() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert!(is_sha256_digest(&good));
        for bad in [
            good.to_uppercase(),
            good.replace("sha256", "sha512"),
            good[..70].to_string(),
            format!("{good}0"),
            "sha256:../../../v2/_catalog".to_string(),
            String::new(),
        ] {
            assert!(!is_sha256_digest(&bad), "{bad}");
        }
        let long = format!("sha256:{}", "x".repeat(500));
        let err = sha256_only(&long, "the Docker-Content-Digest", "HEAD u")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("HEAD u: "), "{err}");
        assert!(
            err.contains("the Docker-Content-Digest") && err.len() < 300,
            "{err}"
        );
    }
}
