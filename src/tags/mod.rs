//! Stage 3, tags: what exists. For each repository an inventory runs, the tags that could be
//! moved to — from an offline index (`--tags`), the registries, or an original image-watcher.
//!
//! In: workloads (their images' repositories). Out: [`Fetched`], one scan's tags, which the
//! [scan](crate::scan) reads through the one trait [`TagLookup`]. A repository that could not
//! be listed is a [`TagsUnknown`] naming it; only its images become unresolved.
//!
//! - [`source`]: [`TagSource`], where tags come from, and [`Fetched`], what one fetch got.
//! - [`index`]: [`TagIndex`], the offline index, and the snapshot `--export-tags` writes.
//! - [`supply`]: beyond tag names — a tag's digest now, an image's build time, its cosign
//!   signature — asked only for what a scan's decision depends on ([`supply::Questions`],
//!   [`supply::Facts`]).
//! - [`image_watcher`]: a client of the original image-watcher API (`IMAGE_WATCHER_CLIENT_URL`).

pub mod image_watcher;
pub mod index;
pub mod source;
pub mod supply;

pub use image_watcher::{ImageWatcherClient, ImageWatcherError};
pub use index::{InvalidTagIndex, TagIndex};
pub use source::{Fetched, TagSource};

pub use ml_operator_registry::Tags;

use crate::inventory::ImageRef;

/// The tags of an image's repository, however they were obtained.
pub trait TagLookup {
    /// The tags of `image`'s repository, or why they are not known.
    fn tags(&self, image: &ImageRef) -> Result<&Tags, TagsUnknown>;

    /// Whether [`TagLookup::tags`] is the registry's whole list for `image`'s repository, so
    /// a tag missing from it is gone from the registry (an index or an image-watcher's answers
    /// may hold only some tags).
    fn is_complete(&self, _image: &ImageRef) -> bool {
        false
    }
}

/// Why a repository's tags are not known: it could not be listed, or nothing was asked for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TagsUnknown {
    /// The repository, fully qualified (`docker.io/mojaloop/central-ledger`).
    pub repository: String,
    /// Why, in one line (the registry's or the index's words); never a credential.
    pub reason: String,
}

impl TagLookup for TagIndex {
    fn tags(&self, image: &ImageRef) -> Result<&Tags, TagsUnknown> {
        self.get(image).ok_or_else(|| TagsUnknown {
            repository: image.canonical_name(),
            reason: format!("the tag index has no entry for {}", image.familiar_name()),
        })
    }
}
