//! Where a scan's tags come from ([`TagSource`]) and what one fetch got ([`Fetched`]).
//!
//! A scan needs each repository's tags once. [`TagSource::fetch`] collects the distinct
//! repositories of an inventory and asks for all of them at once (the registry client bounds
//! concurrency and rate per registry, and retries politely); the scan then reads the result
//! through [`TagLookup`]. A repository that could not be listed makes only its images
//! unresolved.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use ml_operator_registry::{Registry, TagList, Tags};
use ml_operator_version::Strategy;

use super::{ImageWatcherClient, TagIndex, TagLookup, TagsUnknown};
use crate::inventory::{ImageRef, Workload};

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

/// One scan's tags: the offline index itself, or what was fetched for this scan.
pub enum Fetched<'a> {
    /// Straight from the offline index: nothing is copied.
    Index(&'a TagIndex),
    /// Fetched for this scan, by fully qualified repository, or why they could not be.
    Repositories(BTreeMap<String, Result<RepositoryTags, TagsUnknown>>),
}

/// One repository's tags: the registry client's list (shared with its cache, not copied), or
/// the tags gathered from image-watcher answers.
#[derive(Debug)]
pub enum RepositoryTags {
    /// A registry's tag list.
    Listed(Arc<TagList>),
    /// The current tags and an image-watcher's answers for them.
    Gathered(Tags),
}

impl RepositoryTags {
    fn tags(&self) -> &Tags {
        match self {
            RepositoryTags::Listed(list) => &list.tags,
            RepositoryTags::Gathered(tags) => tags,
        }
    }
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
    pub async fn fetch(
        &self,
        workloads: &[impl AsRef<Workload> + Sync],
        default_strategy: Strategy,
    ) -> Fetched<'_> {
        self.fetch_observed(workloads, default_strategy, &|_, _| {})
            .await
    }

    /// [`fetch`](Self::fetch), telling `progress` how many repositories are listed so far and
    /// how many there are (`(0, total)` first, then after each one; only for registries).
    pub async fn fetch_observed(
        &self,
        workloads: &[impl AsRef<Workload> + Sync],
        default_strategy: Strategy,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Fetched<'_> {
        match self {
            TagSource::Index(index) => Fetched::Index(index),
            TagSource::Registry(registry) => {
                let repositories = distinct_repositories(workloads);
                let total = repositories.len();
                let done = std::sync::atomic::AtomicUsize::new(0);
                progress(0, total);
                let lookups = repositories.into_values().map(|image| {
                    let done = &done;
                    async move {
                        let repository = image.canonical_name();
                        let result = registry
                            .list_tags(image.registry(), &image.repository())
                            .await
                            .map(RepositoryTags::Listed)
                            .map_err(|e| TagsUnknown {
                                repository: repository.clone(),
                                reason: e.to_string(),
                            });
                        let listed = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(listed, total);
                        (repository, result)
                    }
                });
                Fetched::Repositories(join_all(lookups).await.into_iter().collect())
            }
            TagSource::ImageWatcher(client) => {
                Fetched::Repositories(client.gather(workloads, default_strategy).await)
            }
        }
    }
}

impl Fetched<'_> {
    /// Repositories that could not be listed, each naming the repository and why.
    pub fn failures(&self) -> Vec<TagsUnknown> {
        match self {
            Fetched::Index(_) => Vec::new(),
            Fetched::Repositories(repositories) => repositories
                .values()
                .filter_map(|result| result.as_ref().err().cloned())
                .collect(),
        }
    }
}

impl TagLookup for Fetched<'_> {
    fn tags(&self, image: &ImageRef) -> Result<&Tags, TagsUnknown> {
        match self {
            Fetched::Index(index) => index.tags(image),
            Fetched::Repositories(repositories) => {
                match repositories.get(&image.canonical_name()) {
                    Some(Ok(tags)) => Ok(tags.tags()),
                    Some(Err(unknown)) => Err(unknown.clone()),
                    None => Err(TagsUnknown {
                        repository: image.canonical_name(),
                        reason: format!("{} was not looked up", image.familiar_name()),
                    }),
                }
            }
        }
    }

    fn is_complete(&self, image: &ImageRef) -> bool {
        match self {
            Fetched::Index(_) => false,
            Fetched::Repositories(repositories) => matches!(
                repositories.get(&image.canonical_name()),
                Some(Ok(RepositoryTags::Listed(_)))
            ),
        }
    }
}

/// Every distinct repository of an inventory, keyed by its fully qualified name.
fn distinct_repositories(workloads: &[impl AsRef<Workload>]) -> BTreeMap<String, ImageRef> {
    let mut images = BTreeMap::new();
    for container in workloads.iter().flat_map(|w| &w.as_ref().containers) {
        if let Ok(image) = ImageRef::parse(&container.image) {
            images.entry(image.canonical_name()).or_insert(image);
        }
    }
    images
}
