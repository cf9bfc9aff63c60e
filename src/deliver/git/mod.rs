//! Git delivery (`upgrades.delivery: git`): an approved group becomes one commit of the GitOps
//! repository's values files, pushed with a pull (merge) request or straight to the synced
//! branch, so Argo CD or Flux rolls it out and nothing reverts it (docs/delivery.md).
//!
//! In: the checked `git:` settings and a [`Change`] (the images and their new tags, the
//! commit's words). Out: the [`Delivered`] commit, branch and pull-request URL, or a
//! [`DeliveryError`] saying why (never with the token).
//!
//! - [`settings`]: `git:` checked, credentials read from their files.
//! - [`command`]: one bounded `git` command, credentials only in its environment.
//! - [`repo`]: clone, edit, commit, push — idempotently.
//! - [`pull_request`]: GitHub's and GitLab's pull-request APIs.

pub mod command;
pub mod pull_request;
pub mod repo;
pub mod settings;

pub use repo::{Change, Delivered, DeliveryError, GitRepository};
pub use settings::{GitSettings, InvalidGit};
