//! Approving where Hub operators already are: Slack buttons that can be trusted (and, with
//! the admin API, a token checked the Kubernetes way). The pieces, one job each:
//!
//! - [`settings`]: the `slack:` section checked at start, its secrets read from files.
//! - [`approvers`]: who may decide from Slack: user ids and user-group ids.
//! - [`slack`]: a click on a proposal's button — verified, authorized, counted
//!   ([`crate::upgrade::vote`]), the message updated and the decision told in its thread.
//! - [`kube_auth`]: admin API callers: `TokenReview` for who, `SubjectAccessReview` for may.
//! - [`message`]: what the proposal message and the replies say after a decision.
//!
//! In: the configuration, a Kubernetes client, Slack deliveries (HTTP or Socket Mode).
//! Out: decisions on ImageUpgrades; replies to Slack.

pub mod approvers;
pub mod kube_auth;
pub mod message;
pub mod settings;
pub mod slack;

pub use approvers::{Approvers, InvalidApprover};
pub use settings::{InvalidApprovals, SlackSettings};
pub use slack::{Refused, SlackApprovals};
