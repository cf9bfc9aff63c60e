//! Stage 5b, telling people: what each notifier is told after a scan, and where it goes.
//!
//! In: a scan's [`Report`](crate::scan::Report). Out: messages through the `ml-operator-notify`
//! crate (Slack, Teams, webhooks) and Kubernetes Events — only what changed since each was told.
//!
//! - [`plan`]: what is new, resolved or due as a reminder for one notifier.
//! - [`state`]: what each notifier was told, kept in a ConfigMap across restarts and leaders.
//! - [`sinks`]: the configured notifiers (secrets read at start) and Events, as one list.
//! - [`events`]: Kubernetes Events on each workload with a new update.

pub mod events;
pub mod plan;
pub mod sinks;
pub mod state;
