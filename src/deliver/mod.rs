//! Stage 5, delivery: where each update has to be made so that it lasts.
//!
//! In: a scan's [`Report`](crate::scan::Report), and what says where images come from — the
//! cluster's Helm releases ([`Release`](crate::values::release::Release)), values files on disk.
//! Out: the findings told their `helm` values path (and why not, in their notes), one
//! `helm upgrade` per release, and the edits that change only the tag scalars of values files.
//! Pure: reading releases and files, and writing, are the callers'.
//!
//! - [`helm`]: findings traced to their release's values keys; the `helm upgrade` commands.
//! - [`files`]: the keys of updates located in values files, and the files edited.

pub mod files;
pub mod helm;
