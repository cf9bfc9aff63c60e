//! Where a scan's tags come from: an offline index, the registries, or an original image-watcher.
//!
//! A scan needs each repository's tags once. [`TagSource::fetch`] collects the distinct
//! repositories of an inventory and asks for all of them at once (the registry client bounds
//! concurrency and rate per registry, and retries politely), then answers the scan's
//! [`TagLookup`]. A repository that could not be listed makes only its images unresolved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use ml_operator_registry::{Registry, TagList};
use ml_operator_version::Strategy;

use crate::image::{DOCKER_HUB, ImageRef};
use crate::inventory::Workload;
use crate::scan::TagLookup;
use crate::tag_index::TagIndex;

/// A source of tags for scans.
pub enum TagSource {
    /// An offline index (`--tags`): nothing is contacted.
    Index(TagIndex),
    /// The registries, through the polite client.
    Registry(Registry),
    /// An original Node image-watcher (`IMAGE_WATCHER_CLIENT_URL`), which answers "newest tag
    /// for this tag and strategy" rather than listing tags.
    ImageWatcher(ImageWatcherClient),
}

/// The tags one scan may use.
pub enum Lookup<'a> {
    /// Straight from the offline index.
    Index(&'a TagIndex),
    /// Fetched for this scan.
    Fetched(FetchedTags),
}

impl TagSource {
    /// Whether `registry` (a host other than Docker Hub, as written in an image reference) is
    /// one this source was configured for: an entry of the registry client's `registries:`.
    /// The offline index and an image-watcher have none (an image-watcher only knows Docker
    /// Hub).
    pub fn is_configured(&self, registry: &str) -> bool {
        match self {
            TagSource::Registry(registry_client) => registry_client.is_configured(registry),
            TagSource::Index(_) | TagSource::ImageWatcher(_) => false,
        }
    }

    /// Gets what a scan of `workloads` needs: one tag walk per distinct repository.
    /// `default_strategy` is what workloads without a `strategy` annotation use (the
    /// image-watcher answers per strategy).
    pub async fn fetch(&self, workloads: &[Workload], default_strategy: Strategy) -> Lookup<'_> {
        match self {
            TagSource::Index(index) => Lookup::Index(index),
            TagSource::Registry(registry) => {
                let lookups =
                    distinct_repositories(workloads)
                        .into_values()
                        .map(|image| async move {
                            let result = registry
                                .list_tags(image.registry(), &image.repository())
                                .await
                                .map(Tags::Listed)
                                .map_err(|e| e.to_string());
                            (image.canonical_name(), result)
                        });
                Lookup::Fetched(FetchedTags {
                    repositories: join_all(lookups).await.into_iter().collect(),
                })
            }
            TagSource::ImageWatcher(client) => {
                Lookup::Fetched(client.fetch(workloads, default_strategy).await)
            }
        }
    }
}

impl Lookup<'_> {
    /// Repositories that could not be listed, as `repository: reason`.
    pub fn failures(&self) -> Vec<String> {
        match self {
            Lookup::Index(_) => Vec::new(),
            Lookup::Fetched(fetched) => fetched
                .repositories
                .iter()
                .filter_map(|(name, result)| Some(format!("{name}: {}", result.as_ref().err()?)))
                .collect(),
        }
    }
}

impl TagLookup for Lookup<'_> {
    fn lookup(&self, image: &ImageRef) -> Result<&[String], String> {
        match self {
            Lookup::Index(index) => index.lookup(image),
            Lookup::Fetched(fetched) => match fetched.repositories.get(&image.canonical_name()) {
                Some(Ok(tags)) => Ok(tags.as_slice()),
                Some(Err(reason)) => Err(reason.clone()),
                None => Err(format!("{} was not looked up", image.familiar_name())),
            },
        }
    }
}

/// Tags fetched for one scan, by fully qualified repository, or why they could not be.
#[derive(Debug, Default)]
pub struct FetchedTags {
    repositories: BTreeMap<String, Result<Tags, String>>,
}

/// One repository's tags: the registry client's list (shared with its cache, not copied), or
/// the tags gathered from image-watcher answers.
#[derive(Debug)]
enum Tags {
    Listed(Arc<TagList>),
    Gathered(Vec<String>),
}

impl Tags {
    fn as_slice(&self) -> &[String] {
        match self {
            Tags::Listed(list) => &list.tags,
            Tags::Gathered(tags) => tags,
        }
    }
}

/// Every distinct repository of an inventory, keyed by its fully qualified name.
fn distinct_repositories(workloads: &[Workload]) -> BTreeMap<String, ImageRef> {
    let mut images = BTreeMap::new();
    for container in workloads.iter().flat_map(|w| &w.containers) {
        if let Ok(image) = ImageRef::parse(&container.image) {
            images.entry(image.canonical_name()).or_insert(image);
        }
    }
    images
}

/// A client of the original image-watcher API:
/// `GET {base}/images/{org}/{image}/{tag}?strategy=bugfix` → `{"tag": "...", "fullImage": "..."}`.
#[derive(Debug, Clone)]
pub struct ImageWatcherClient {
    base: String,
    http: reqwest::Client,
}

impl ImageWatcherClient {
    /// A client for the image-watcher at `base` (e.g. `http://image-watcher:4006`; a base
    /// without a scheme, like the original's default `localhost:4006`, gets `http://`).
    pub fn new(base: &str) -> Result<ImageWatcherClient, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        url::Url::parse(&base)
            .map_err(|e| format!("IMAGE_WATCHER_CLIENT_URL {base:?} is not a URL: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(ImageWatcherClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Asks once per distinct (repository, tag, strategy); each repository's "tags" are its
    /// current tags plus every answer, so resolving a workload picks the watcher's answer.
    async fn fetch(&self, workloads: &[Workload], default_strategy: Strategy) -> FetchedTags {
        let mut questions: BTreeMap<(String, String, Strategy), ImageRef> = BTreeMap::new();
        for workload in workloads {
            // A bad annotation makes the scan report the workload unresolved; ask nothing for it.
            let Ok(strategy) = workload.strategy(default_strategy) else {
                continue;
            };
            for container in &workload.containers {
                if let Ok(image) = ImageRef::parse(&container.image)
                    && let Some(tag) = image.tag()
                {
                    questions.insert(
                        (image.canonical_name(), tag.to_string(), strategy),
                        image.clone(),
                    );
                }
            }
        }
        let answers = join_all(questions.into_iter().map(
            |((name, tag, strategy), image)| async move {
                let answer = self.newest(&image, &tag, strategy).await;
                (name, tag, answer)
            },
        ))
        .await;

        let mut repositories = BTreeMap::new();
        for (name, tag, answer) in answers {
            let entry = repositories
                .entry(name)
                .or_insert_with(|| Ok(Tags::Gathered(Vec::new())));
            match (answer, entry) {
                (Err(reason), entry) => *entry = Err(reason),
                (Ok(newest), Ok(Tags::Gathered(tags))) => tags.extend([tag, newest]),
                (Ok(_), _) => {}
            }
        }
        FetchedTags { repositories }
    }

    /// The image-watcher's newest tag for `image` at `tag` under `strategy`.
    pub async fn newest(
        &self,
        image: &ImageRef,
        tag: &str,
        strategy: Strategy,
    ) -> Result<String, String> {
        let repository = image.repository();
        let (org, name) = match repository.split_once('/') {
            Some((org, name)) if image.registry() == DOCKER_HUB && !name.contains('/') => {
                (org, name)
            }
            _ => {
                return Err(format!(
                    "the image-watcher API only knows Docker Hub org/image repositories, not {}",
                    image.familiar_name()
                ));
            }
        };
        let url = format!(
            "{}/images/{org}/{name}/{tag}?strategy={strategy}",
            self.base
        );
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("image-watcher {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("image-watcher {url}: HTTP {status}"));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("image-watcher {url}: invalid JSON: {e}"))?;
        body.get("tag")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("image-watcher {url}: the answer has no `tag`"))
    }
}
