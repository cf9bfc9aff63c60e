//! ml-operator finds container images in Kubernetes workloads that have newer tags allowed by an
//! upgrade strategy, and prints (or, later, applies) the upgrade.
//!
//! Start with [`scan`]: it turns an inventory of [`inventory::Workload`]s and a source of tags
//! into [`scan::Finding`]s. The rest feeds it or presents it:
//!
//! - [`image`]: Docker image references (registry, repository, tag, digest).
//! - [`inventory`]: workloads and their containers, from any Kubernetes object.
//! - [`manifest`]: reading workloads from files (`check -f`).
//! - [`cluster`]: reading workloads from a live cluster (`check` without `-f`).
//! - [`selector`]: label selectors (`-l`).
//! - [`names`]: Kubernetes name rules (DNS-1123 labels and subdomains).
//! - [`tag_index`]: the offline tag index (`--tags`).
//! - [`tag_source`]: where a scan's tags come from (index, registries, image-watcher).
//! - [`kubectl`]: the `kubectl patch` commands we print.
//! - [`shell`]: POSIX shell quoting for every command we print.
//! - [`output`]: table, JSON and command output.
//! - [`operator`]: operator mode (`run`).
//! - [`upgrade`]: ImageUpgrade objects, approvals, windows, apply, rollout watch, rollback.
//! - [`rbac`]: the Kubernetes permissions the code needs.
//! - [`cli`]: the command line.
//!
//! Version parsing and strategies live in the `ml-operator-version` crate.
#![deny(missing_docs)]

pub mod cli;
pub mod cluster;
pub mod config;
pub mod duration;
pub mod image;
pub mod inventory;
pub mod kubectl;
pub mod manifest;
pub mod names;
pub mod operator;
pub mod output;
pub mod rbac;
pub mod scan;
pub mod selector;
pub mod shell;
pub mod tag_index;
pub mod tag_source;
pub mod upgrade;
