//! Operator mode (`ml-operator run`): watch, scan on a schedule, notify once per change, serve
//! the image-watcher API, health and metrics, with leader election between replicas.
//!
//! In: the configuration, checked into [`Settings`]. Out: a long-running process that stops on
//! SIGTERM within 5 s. Start at [`run()`]: it only wires the stages (the live inventory is
//! [`crate::source::watch`], the scan [`crate::scan::pipeline`], what to tell
//! [`crate::notify`], upgrades [`crate::upgrade`]) to the pieces of this mode:
//! - [`settings`]: the checked configuration and notifiers, or a [`StartError`] (exit 2).
//! - [`shutdown`]: the one [`Shutdown`] signal and how long stopping may take.
//! - [`identity`]: this replica's name and namespace.
//! - [`leader`]: leader election, as "do I lead now?".
//! - [`worker`]: the scan-and-notify loop, one [`Worker::tick`](worker::Worker::tick) per
//!   schedule tick.
//! - [`upgrades`]: the upgrade controller's passes and proposals while leading.
//! - [`schedule`]: the scan schedule, `CHECK_FOR_UPDATE_CRON`.
//! - [`server`]: the HTTP endpoints and the server's limits.
//! - [`last_report`]: the last scan as `/report` serves it, compressed.
//! - [`admin_api`]: `/api/v1`: findings, upgrade groups, approve/reject with Kubernetes tokens.
//! - [`dashboard`]: `GET /`: the page that shows and decides through `/api/v1`.
//! - [`interactions`]: `POST /slack/interactions`, Slack's signed button clicks.
//! - [`image_api`]: the image-watcher API's request grammar, registry allowlist and answers.
//! - [`metrics`]: Prometheus metrics.
//! - [`memory`]: freed memory handed back to the system between scans.

pub mod admin_api;
pub mod dashboard;
pub mod identity;
pub mod image_api;
pub mod interactions;
pub mod last_report;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod upgrades;
pub mod worker;

pub use run::{RunError, run};
pub use settings::{Settings, StartError};
pub use shutdown::Shutdown;
