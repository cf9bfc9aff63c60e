//! Stage 2, the inventory: what runs. Kubernetes objects from any [source](crate::source) become
//! [`Workload`]s with their [`Container`]s; each container's image is an [`ImageRef`].
//!
//! In: Kubernetes objects as JSON (manifests, list pages, watch events). Out: workloads, which
//! the [scan](crate::scan) reads. Nothing here does I/O.
//!
//! - [`workload`]: [`Workload`], [`Container`], [`Controller`], read by one function from any object.
//! - [`kind`]: [`WorkloadKind`], which owns its `kind`, kubectl name, pod spec path and API resource.
//! - [`image`]: Docker image references (registry, repository, tag, digest).
//! - [`managed`]: who manages a workload (Helm, Argo CD, Flux), from the markers they set.
//! - [`names`]: Kubernetes name rules (DNS-1123 labels and subdomains).
//! - [`name_key`]: [`NameKey`], several names as one hash, for keys kept by the thousand.
//! - [`patch`]: the strategic merge patch that changes containers' images (printed and sent).
//! - [`commands`]: the `kubectl patch` command that sends it, every word quoted by [`shell`].
//! - [`running`]: the digests the nodes pulled, per workload and container, from its Pods.
//! - [`selector`]: label selectors (`-l`), matched the way the API server matches them.

pub mod commands;
pub mod image;
pub mod kind;
pub mod managed;
pub mod name_key;
pub mod names;
pub mod patch;
pub mod running;
pub mod selector;
pub mod shell;
pub mod string_map;
pub mod workload;

pub use image::ImageRef;
pub use kind::WorkloadKind;
pub use managed::{ManagedBy, Tool, managed_by};
pub use name_key::NameKey;
pub use running::{RunningDigests, RunningImage};
pub use selector::Selector;
pub use workload::{
    ANNOTATION_PREFIX, Container, ControlledObject, Controller, HELM_RELEASE_ANNOTATION,
    InvalidWorkload, SERVICE_NAME_LABEL, Workload, drop_controlled, is_read_annotation,
    is_read_label, server_selector,
};
