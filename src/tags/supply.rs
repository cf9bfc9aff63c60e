//! What exists beyond tag names, for the supply-chain signals: the digest a tag points to now,
//! when an image was built, and whether it carries a cosign signature made with a configured
//! key — each asked of the registry only when a scan needs it.
//!
//! In: the [`Questions`] a scan could not answer from what it had, and the [`SupplyPolicy`]
//! (from the configuration: the keys, the release ages, the digest check interval). Out:
//! [`Facts`], which the next pass of the [scan](crate::scan) reads. The scan asks, the
//! [pipeline](crate::scan::pipeline) fetches and scans again, so the scan stays pure and each
//! request is made only for what a decision depends on: a `HEAD` per distinct running tag (the
//! overwritten-tag check), and for the chosen target only its age, digest and signature.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use ml_operator_registry::{CosignKey, RegistryConfig, SignatureCheck};

use super::TagSource;
use crate::inventory::{ImageRef, NameKey};

/// The most questions in flight at once. Each is a request future (kilobytes) even when the
/// client's cache answers it, and the client paces each registry on its own (`concurrency`),
/// so thousands at once would only cost memory.
const IN_FLIGHT: usize = 64;

/// How often a running tag's digest is asked of the registry again (`digestCheckInterval`).
pub const DEFAULT_DIGEST_CHECK_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// A cosign key file that cannot be used; names the key and the file.
#[derive(Debug, thiserror::Error)]
#[error("registries[{index}] ({host}).verify.cosignPublicKeyFile: {source}")]
pub struct InvalidKey {
    /// The entry's position in `registries:`.
    pub index: usize,
    /// The entry's host.
    pub host: String,
    /// Why (names the file).
    #[source]
    pub source: ml_operator_registry::Error,
}

/// What the supply-chain checks are set to, from the configuration and the command line.
#[derive(Debug, Clone)]
pub struct SupplyPolicy {
    /// Compare running digests (and digest pins) with the registry's (`checkOverwrittenTags`).
    pub check_overwritten: bool,
    /// How long a tag's digest is reused before it is asked again (`digestCheckInterval`).
    pub digest_check_interval: Duration,
    /// Pin every target by its digest (`--pin-digests`, `upgrades.pinDigests`).
    pub pin_digests: bool,
    /// The global `minimumReleaseAge`.
    pub minimum_release_age: Option<Duration>,
    /// Per canonical registry: its own `minimumReleaseAge` and `verify` key.
    registries: BTreeMap<String, RegistryPolicy>,
}

#[derive(Debug, Clone, Default)]
struct RegistryPolicy {
    minimum_release_age: Option<Duration>,
    key: Option<(CosignKey, PathBuf)>,
}

impl Default for SupplyPolicy {
    fn default() -> Self {
        SupplyPolicy {
            check_overwritten: true,
            digest_check_interval: DEFAULT_DIGEST_CHECK_INTERVAL,
            pin_digests: false,
            minimum_release_age: None,
            registries: BTreeMap::new(),
        }
    }
}

impl SupplyPolicy {
    /// Whether a scan reads what the Pods run (the digests their nodes pulled): only the
    /// overwritten-tag check compares them, so without it the operator does not gather them.
    pub fn needs_running_digests(&self) -> bool {
        self.check_overwritten
    }

    /// No check that needs a registry (for scans of an index alone).
    pub fn off() -> SupplyPolicy {
        SupplyPolicy {
            check_overwritten: false,
            ..SupplyPolicy::default()
        }
    }

    /// Reads the `registries:` entries' `verify` keys (each file now, so a bad one fails at
    /// start) and `minimumReleaseAge`s over the global settings.
    pub fn new(
        registries: &[RegistryConfig],
        check_overwritten: bool,
        digest_check_interval: Duration,
        pin_digests: bool,
        minimum_release_age: Option<Duration>,
    ) -> Result<SupplyPolicy, InvalidKey> {
        let mut policy = SupplyPolicy {
            check_overwritten,
            digest_check_interval,
            pin_digests,
            minimum_release_age,
            registries: BTreeMap::new(),
        };
        for (index, entry) in registries.iter().enumerate() {
            let key = match &entry.verify {
                Some(verify) => {
                    let path = &verify.cosign_public_key_file;
                    let key = CosignKey::from_file(path).map_err(|source| InvalidKey {
                        index,
                        host: entry.host.clone(),
                        source,
                    })?;
                    Some((key, path.clone()))
                }
                None => None,
            };
            policy.registries.insert(
                canonical(&entry.host),
                RegistryPolicy {
                    minimum_release_age: entry.minimum_release_age,
                    key,
                },
            );
        }
        Ok(policy)
    }

    /// The release age `image`'s registry asks for: its own, else the global one.
    pub fn minimum_release_age(&self, image: &ImageRef) -> Option<Duration> {
        self.registries
            .get(&canonical(image.registry()))
            .and_then(|r| r.minimum_release_age)
            .or(self.minimum_release_age)
    }

    /// The key file targets from `image`'s registry must be signed with, if any.
    pub fn verify_key(&self, image: &ImageRef) -> Option<&PathBuf> {
        self.registries
            .get(&canonical(image.registry()))
            .and_then(|r| r.key.as_ref())
            .map(|(_, path)| path)
    }

    /// The key images from `registry` (a host as written in image references) must be signed
    /// with, if any.
    fn key(&self, registry: &str) -> Option<&CosignKey> {
        self.registries
            .get(&canonical(registry))
            .and_then(|r| r.key.as_ref())
            .map(|(key, _)| key)
    }
}

/// Docker Hub's aliases as one name, as in image references.
fn canonical(host: &str) -> String {
    match host.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// Why a target image may not be applied: names the image and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image}: {why}")]
pub struct NotVerified {
    /// The target image.
    pub image: String,
    /// Unsigned, badly signed, or why it could not be checked.
    pub why: String,
}

/// `(repository fully qualified, tag)`: the registry's host as written in the image
/// reference, `/`, and the repository in it (`docker.io/mojaloop/central-ledger`), which is all
/// a question needs to be asked.
pub type TagKey = (String, String);

/// The registry host and the repository of a [`TagKey`]'s fully qualified name (a host has no
/// `/`).
fn registry_and_repository(key: &TagKey) -> (&str, &str) {
    key.0.split_once('/').unwrap_or((key.0.as_str(), ""))
}

/// What a scan asks the registry, by tag. Only the names are kept (thousands of questions are
/// asked in a scan's first pass, which runs beside the workloads' findings).
#[derive(Debug, Default, Clone)]
pub struct Questions {
    digests: BTreeSet<TagKey>,
    created: BTreeSet<TagKey>,
    signatures: BTreeSet<TagKey>,
}

impl Questions {
    /// Nothing left to ask.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.created.is_empty() && self.signatures.is_empty()
    }

    /// How many questions there are.
    pub fn len(&self) -> usize {
        self.digests.len() + self.created.len() + self.signatures.len()
    }
}

/// A fact the registry could not give, in one line (never a credential).
pub type Unknown = String;

/// A tag as [`Facts`] keep it: the [`NameKey`] of its fully qualified repository and the tag.
/// Facts are kept by the thousand beside a scan's last pass, so without copies of the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FactKey(NameKey);

impl FactKey {
    fn of((repository, tag): &TagKey) -> FactKey {
        FactKey(NameKey::new(&[repository, tag]))
    }
}

/// What the registry said, by tag.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// A digest is shared with the findings that report it.
    digests: HashMap<FactKey, Result<Option<Arc<str>>, Unknown>>,
    created: HashMap<FactKey, Result<Option<DateTime<Utc>>, Unknown>>,
    signatures: HashMap<FactKey, Result<SignatureCheck, Unknown>>,
    /// Set when the tag source cannot answer (an index, an image-watcher): nothing is asked.
    unanswerable: Option<&'static str>,
}

fn key(image: &ImageRef, tag: &str) -> TagKey {
    (image.canonical_name(), tag.to_string())
}

impl Facts {
    /// Facts for a tag source that has no registry to ask: every question is answered
    /// "not known", with `why`.
    pub fn unanswerable(why: &'static str) -> Facts {
        Facts {
            unanswerable: Some(why),
            ..Facts::default()
        }
    }

    /// Whether nothing can be asked (the tag source has no registry).
    pub fn is_unanswerable(&self) -> bool {
        self.unanswerable.is_some()
    }

    /// The digest `tag` of `image`'s repository points to now (`Ok(None)`: the registry has
    /// no such tag); `None` when not known yet — then it is asked in `questions`.
    pub fn digest(
        &self,
        image: &ImageRef,
        tag: &str,
        questions: &mut Questions,
    ) -> Option<Result<Option<&Arc<str>>, &str>> {
        if let Some(why) = self.unanswerable {
            return Some(Err(why));
        }
        let key = key(image, tag);
        match self.digests.get(&FactKey::of(&key)) {
            Some(result) => Some(result.as_ref().map(Option::as_ref).map_err(String::as_str)),
            None => {
                questions.digests.insert(key);
                None
            }
        }
    }

    /// When the image at `tag` was built (`Ok(None)`: its config does not say); `None` when
    /// not known yet.
    pub fn created(
        &self,
        image: &ImageRef,
        tag: &str,
        questions: &mut Questions,
    ) -> Option<Result<Option<DateTime<Utc>>, &str>> {
        if let Some(why) = self.unanswerable {
            return Some(Err(why));
        }
        let key = key(image, tag);
        match self.created.get(&FactKey::of(&key)) {
            Some(result) => Some(result.as_ref().copied().map_err(String::as_str)),
            None => {
                questions.created.insert(key);
                None
            }
        }
    }

    /// Whether the image at `tag` is signed with its registry's key; `None` when not known yet.
    pub fn signature(
        &self,
        image: &ImageRef,
        tag: &str,
        questions: &mut Questions,
    ) -> Option<Result<&SignatureCheck, &str>> {
        if let Some(why) = self.unanswerable {
            return Some(Err(why));
        }
        let key = key(image, tag);
        match self.signatures.get(&FactKey::of(&key)) {
            Some(result) => Some(result.as_ref().map_err(String::as_str)),
            None => {
                questions.signatures.insert(key);
                None
            }
        }
    }
}

impl TagSource {
    /// Facts this source can never answer (an index or an image-watcher has no registry to
    /// ask), or empty facts to be filled by [`TagSource::answer`].
    pub fn facts(&self) -> Facts {
        match self {
            TagSource::Registry(_) => Facts::default(),
            TagSource::Index(_) => Facts::unanswerable(
                "not checked: tags come from an offline index, no registry is asked",
            ),
            TagSource::ImageWatcher(_) => Facts::unanswerable(
                "not checked: tags come from an image-watcher, no registry is asked",
            ),
        }
    }

    /// Asks the registries `questions`, `IN_FLIGHT` at a time (the client paces them per registry),
    /// and adds the answers to `facts`. Each distinct tag's digest is asked once (one `HEAD`),
    /// before its age or signature, which are asked by that digest.
    pub async fn answer(&self, questions: Questions, facts: &mut Facts, policy: &SupplyPolicy) {
        let TagSource::Registry(registry) = self else {
            return;
        };
        let interval = policy.digest_check_interval;
        let Questions {
            mut digests,
            created,
            signatures,
        } = questions;
        for key in created.iter().chain(&signatures) {
            if !facts.digests.contains_key(&FactKey::of(key)) && !digests.contains(key) {
                digests.insert(key.clone());
            }
        }
        let heads: Vec<_> = futures::stream::iter(digests)
            .map(|key| async move {
                let (host, repository) = registry_and_repository(&key);
                let answer = registry
                    .manifest_digest(host, repository, &key.1, interval)
                    .await
                    .map(|digest| digest.map(Arc::from))
                    .map_err(|e| e.to_string());
                (FactKey::of(&key), answer)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        facts.digests.extend(heads);
        let known = &facts.digests;
        let digest_of = |key: &TagKey| -> Result<Arc<str>, Unknown> {
            match known.get(&FactKey::of(key)) {
                Some(Ok(Some(digest))) => Ok(digest.clone()),
                Some(Ok(None)) => Err(format!("the registry has no manifest for {}", key.1)),
                Some(Err(e)) => Err(e.clone()),
                None => Err("the digest was not asked".to_string()),
            }
        };
        let created = futures::stream::iter(created).map(|key| {
            let digest = digest_of(&key);
            async move {
                let (host, repository) = registry_and_repository(&key);
                let answer = match digest {
                    Ok(digest) => registry
                        .image_created(host, repository, &digest)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                (FactKey::of(&key), answer)
            }
        });
        let signatures = futures::stream::iter(signatures).map(|key| {
            let digest = digest_of(&key);
            async move {
                let (host, repository) = registry_and_repository(&key);
                let answer = match (policy.key(host), digest) {
                    (None, _) => Err("no verify key is configured for this registry".to_string()),
                    (Some(cosign), Ok(digest)) => registry
                        .verify_signature(host, repository, &digest, cosign, interval)
                        .await
                        .map_err(|e| e.to_string()),
                    (Some(_), Err(e)) => Err(e),
                };
                (FactKey::of(&key), answer)
            }
        });
        let (created, signatures): (Vec<_>, Vec<_>) = futures::join!(
            created.buffer_unordered(IN_FLIGHT).collect(),
            signatures.buffer_unordered(IN_FLIGHT).collect()
        );
        facts.created.extend(created);
        facts.signatures.extend(signatures);
    }
}

impl TagSource {
    /// Right before an upgrade is applied: when `image`'s registry has a `verify` key, its
    /// digest (the pin, else what its tag points to now, asked afresh) must carry a signature
    /// made with that key. Images from registries without a key pass.
    pub async fn verify_target(
        &self,
        image: &ImageRef,
        policy: &SupplyPolicy,
    ) -> Result<(), NotVerified> {
        let Some(key) = policy.key(image.registry()) else {
            return Ok(());
        };
        let fail = |why: String| NotVerified {
            image: image.to_string(),
            why,
        };
        let TagSource::Registry(registry) = self else {
            return Err(fail(
                "its registry verifies signatures, and no registry is asked (offline tags)".into(),
            ));
        };
        let digest = match (image.digest(), image.tag()) {
            (Some(pin), _) => pin.to_string(),
            (None, Some(tag)) => registry
                .manifest_digest(image.registry(), &image.repository(), tag, Duration::ZERO)
                .await
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail(format!("the registry has no manifest for {tag}")))?,
            (None, None) => return Err(fail("neither a tag nor a digest to verify".into())),
        };
        match registry
            .verify_signature(
                image.registry(),
                &image.repository(),
                &digest,
                key,
                policy.digest_check_interval,
            )
            .await
        {
            Ok(SignatureCheck::Verified) => Ok(()),
            Ok(SignatureCheck::Unsigned) => Err(fail(format!(
                "{digest} has no cosign signature (verify key {})",
                key.source()
            ))),
            Ok(SignatureCheck::Invalid(why)) => Err(fail(format!(
                "{digest}'s cosign signature is not valid for the key {}: {why}",
                key.source()
            ))),
            Err(e) => Err(fail(format!("the signature could not be checked: {e}"))),
        }
    }
}
