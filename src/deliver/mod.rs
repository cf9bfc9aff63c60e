//! Stage 5, delivery: where each update has to be made so that it lasts.
//!
//! In: a scan's [`Report`](crate::scan::Report), and what says where images come from — the
//! cluster's Helm releases ([`Release`](crate::values::release::Release)), values files on disk.
//! Out: the findings told their `helm` values path (and why not, in their notes), one
//! `helm upgrade` per release, and the edits that change only the tag scalars of values files.
//! [`helm`] and [`files`] are pure: reading releases and files, and writing, are the callers'.
//! [`git`] delivers an approved upgrade group as a commit of the GitOps repository.
//!
//! - [`helm`]: findings traced to their release's values keys; the `helm upgrade` commands.
//! - [`files`]: the keys of updates located in values files, and the files edited.
//! - [`git`]: clone, edit, commit, push, pull request (`upgrades.delivery: git`).

pub mod files;
pub mod git;
pub mod helm;
