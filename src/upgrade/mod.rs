//! Upgrades (v1.1): turning findings into `ImageUpgrade` objects and applying them on
//! approval, inside upgrade windows, watching the rollout and rolling back on failure.
//!
//! Start at [`Upgrader`]: each [`Upgrader::step_each`] moves every ImageUpgrade one step through
//! `Available → Approved → Scheduled → Applying → Succeeded | Failed | RolledBack` (plus
//! `Superseded` and `Rejected`). The pieces, one job each:
//! - [`crd`]: the `ImageUpgrade` custom resource (`ml-operator crd` prints it).
//! - [`list`]: the ImageUpgrades in the namespaces the operator watches.
//! - [`mod@propose`]: from scan findings to ImageUpgrade objects; superseding older ones.
//! - [`policy`]: auto-approval by level, namespace and annotation.
//! - [`window`]: upgrade windows (cron + duration + time zone), pure, with `now` as a parameter.
//! - [`workload`]: the Deployments, StatefulSets and DaemonSets an upgrade applies to, typed.
//! - [`patch`]: reading the workload, and the container patch with its precondition.
//! - [`rollout`]: judging a rollout from the workload's typed status.
//! - [`upgrader`]: the state machine, recording each step before taking it.
//! - [`decide`]: `ml-operator approve` and `reject`.
//! - [`announce`]: messages and Events about outcomes.
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
pub mod crd;
pub mod decide;
pub mod list;
pub mod patch;
pub mod policy;
pub mod propose;
pub mod rollout;
pub mod settings;
pub mod upgrader;
pub mod window;
pub mod workload;

pub use announce::Announcer;
pub use crd::{ImageUpgrade, ImageUpgradeSpec, ImageUpgradeStatus, Phase, Target, crd_yaml};
pub use policy::{AutoApprove, Policy, change_level};
pub use propose::{Proposals, proposal, propose, upgrade_name};
pub use settings::UpgradeSettings;
pub use upgrader::{Step, TargetVerifier, Unverified, Upgrader};
pub use window::{InvalidWindow, Opening, Window, Windows};
