//! Stage 5b, telling people: what each notifier is told after a scan, and where it goes.
//!
//! In: a scan's [`Report`](crate::scan::Report) and the `notify:` configuration. Out: messages
//! through the `ml-operator-notify` crate (Slack, Teams, webhooks) and Kubernetes Events —
//! only what changed since each was told. Each file has its own typed error naming what failed.
//!
//! - [`notifiers`]: the configured Slack, Teams and webhook notifiers, secrets read at start.
//! - [`plan`]: what is new, resolved or due as a reminder for one notifier.
//! - [`sinks`]: where a notification goes — a notifier or Events — as one list.
//! - [`events`]: Kubernetes Events on each workload with a new update.
//! - [`state`]: what each notifier was told, kept in a ConfigMap across restarts and leaders.

pub mod events;
pub mod notifiers;
pub mod plan;
pub mod sinks;
pub mod state;
