//! Tags from real registries: one walk per repository, all repositories concurrently.
//!
//! The scan needs each repository's tags once. This module collects the distinct repositories
//! of an inventory, asks the [`Registry`] client for all of them at once (the client bounds
//! concurrency and rate per registry, and retries politely), and answers the scan's
//! [`TagLookup`] from the results. A repository that could not be listed makes its images
//! unresolved with the reason; the others are unaffected.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use ml_operator_registry::{Registry, TagList};

use crate::image::ImageRef;
use crate::inventory::Workload;
use crate::scan::TagLookup;

/// The tags of every repository an inventory uses, or why they could not be listed.
#[derive(Debug, Default)]
pub struct FetchedTags {
    repositories: BTreeMap<String, Result<Arc<TagList>, String>>,
}

impl FetchedTags {
    /// Lists the tags of every distinct repository in `workloads`, concurrently.
    pub async fn fetch(registry: &Registry, workloads: &[Workload]) -> FetchedTags {
        let mut images: BTreeMap<String, ImageRef> = BTreeMap::new();
        for container in workloads.iter().flat_map(|w| &w.containers) {
            if let Ok(image) = ImageRef::parse(&container.image) {
                images.entry(image.canonical_name()).or_insert(image);
            }
        }
        let lookups = images.into_iter().map(|(name, image)| async move {
            let result = registry
                .list_tags(image.registry(), &image.repository())
                .await
                .map_err(|e| e.to_string());
            (name, result)
        });
        FetchedTags {
            repositories: join_all(lookups).await.into_iter().collect(),
        }
    }

    /// Repositories that could not be listed, with the reason.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.repositories
            .iter()
            .filter_map(|(name, result)| Some((name.as_str(), result.as_ref().err()?.as_str())))
    }
}

impl TagLookup for FetchedTags {
    fn lookup(&self, image: &ImageRef) -> Result<&[String], String> {
        match self.repositories.get(&image.canonical_name()) {
            Some(Ok(list)) => Ok(&list.tags),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err(format!("{} was not looked up", image.familiar_name())),
        }
    }
}
