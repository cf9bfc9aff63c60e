//! Operator mode (`ml-operator run`): watch, scan on a schedule, notify once per change, serve
//! the image-watcher API, health and metrics, with leader election between replicas.
//!
//! Start at [`run()`]; it wires the pieces, each in its own module:
//! - [`watch`]: the live inventory from kube-rs watches, decoded as [`watched_object`]s.
//! - [`schedule`]: the scan schedule, `CHECK_FOR_UPDATE_CRON`.
//! - [`plan`]: what each notifier should be told, given what it was told before.
//! - [`state`]: that memory, in a ConfigMap.
//! - [`sinks`]: where notifications go (Slack, Teams, webhooks, Events).
//! - [`events`]: Kubernetes Events on affected workloads.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: the HTTP endpoints and the server's limits.
//! - [`image_api`]: the image-watcher API's request grammar, registry allowlist and answers.

pub mod events;
pub mod image_api;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod server;
pub mod sinks;
pub mod state;
pub mod watch;
pub mod watched_object;

pub use run::{Settings, run};
