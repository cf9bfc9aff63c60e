//! Operator mode (`ml-operator run`): watch, scan on a schedule, notify once per change, serve
//! the image-watcher API, health and metrics, with leader election between replicas.
//!
//! Start at [`run()`]; it wires the stages (the live inventory is [`crate::source::watch`], what
//! to tell is [`crate::notify`]) with the pieces of this mode:
//! - [`schedule`]: the scan schedule, `CHECK_FOR_UPDATE_CRON`.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: the HTTP endpoints and the server's limits.
//! - [`image_api`]: the image-watcher API's request grammar, registry allowlist and answers.

pub mod image_api;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod server;

pub use run::{Settings, run};
