//! Upgrades: turning findings into `ImageUpgrade` groups — one per (namespace, repository,
//! target tag), every workload and container moving that repository to that tag — and applying
//! them on one approval, inside upgrade windows, one patch per workload (the migration init
//! container and the app together), watching each rollout and rolling back on failure.
//!
//! Start at [`Upgrader`]: each [`Upgrader::step_each`] moves every ImageUpgrade one step through
//! `Available → Approved → Scheduled → Applying → Succeeded | Failed | RolledBack` (plus
//! `Superseded` and `Rejected`). The pieces, one job each:
//! - [`crd`]: the `ImageUpgrade` custom resource, v1alpha2 (`ml-operator crd` prints it).
//! - [`v1alpha1`]: the old one-container version, still served so old objects can be read.
//! - [`legacy`]: on start, ending the v1alpha1 objects an older ml-operator left.
//! - [`group`]: from scan findings to groups (pure); [`names`]: their names.
//! - [`list`]: the ImageUpgrades in the namespaces the operator watches.
//! - [`mod@propose`]: groups into objects: created, kept up to date, superseded.
//! - [`policy`]: auto-approval by level, namespace and annotation.
//! - [`window`]: upgrade windows (cron + duration + time zone), pure, with `now` as a parameter.
//! - [`workload`]: the Deployments, StatefulSets and DaemonSets an upgrade applies to, typed.
//! - [`patch`]: reading a workload, and its one patch (all its containers) with a precondition.
//! - [`rollout`]: judging a rollout from the workload's typed status.
//! - [`upgrader`]: the state machine up to `Applying`, recording each step before taking it.
//! - [`apply`]: a group's workloads in order: canary, pace, rollback per `onFailure`.
//! - [`git_apply`]: a group delivered as one commit (`upgrades.delivery: git`): the sync
//!   watched, a revert commit on failure.
//! - [`stuck_pods`]: a rolled-back StatefulSet's Pods stuck on the failed revision, deleted.
//! - [`decide`]: `ml-operator approve` and `reject`.
//! - [`ballot`]: what a Slack button is for (object, uid, exact proposal); [`vote`]: a remote
//!   person's decision, counted towards `upgrades.requiredApprovals`, safe to repeat.
//! - [`announce`]: messages and Events about proposals and outcomes; [`thread`]: the Slack
//!   message a person decided on, whose thread gets the group's later news.
//! - [`settings`]: the checked `upgrades:` configuration.
//!
//! Windows are plain values, so when an upgrade may start can be asked of any instant:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use ml_operator::upgrade::Window;
//!
//! let nights = Window::new("weekend-nights", "0 2 * * SAT,SUN", std::time::Duration::from_secs(4 * 3600), "Africa/Nairobi")?;
//! let friday_noon = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
//! assert!(!nights.is_open(friday_noon));
//! // 02:00 in Nairobi (UTC+3) is 23:00 UTC the evening before.
//! let next = nights.next_open(friday_noon).unwrap();
//! assert_eq!(next.start, Utc.with_ymd_and_hms(2026, 11, 27, 23, 0, 0).unwrap());
//! assert!(nights.is_open(next.start));
//! assert!(!nights.is_open(next.end));
//! # Ok::<(), ml_operator::upgrade::InvalidWindow>(())
//! ```

pub mod announce;
pub mod apply;
pub mod ballot;
pub mod crd;
pub mod decide;
pub mod git_apply;
pub mod group;
pub mod legacy;
pub mod list;
pub mod names;
pub mod patch;
pub mod policy;
pub mod propose;
pub mod rollout;
pub mod settings;
pub mod stuck_pods;
pub mod thread;
pub mod upgrader;
pub mod v1alpha1;
pub mod vote;
pub mod window;
pub mod workload;

pub use announce::Announcer;
pub use crd::{
    ContainerTarget, ImageUpgrade, ImageUpgradeSpec, ImageUpgradeStatus, OnFailure, Phase, Target,
    WorkloadState, crd_yaml,
};
pub use group::groups;
pub use legacy::supersede_v1alpha1;
pub use policy::{AutoApprove, Policy, change_level};
pub use propose::{Proposals, propose};
pub use settings::UpgradeSettings;
pub use upgrader::{Step, TargetVerifier, Unverified, Upgrader};
pub use window::{InvalidWindow, Opening, Window, Windows};
