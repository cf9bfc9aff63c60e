//! ml-operator finds the container images a Kubernetes cluster (a Mojaloop Hub) runs, works out
//! from each registry's real tag list the newest tag an upgrade strategy allows, tells people
//! once per change, and — when approved — upgrades.
//!
//! Start at [`scan`]: it turns [`inventory`] (workloads and their images) and [`tags`] (what
//! each repository has) into findings. The folders are the pipeline, in order; arrows point one
//! way, from the modes to the stages and from later stages to earlier ones:
//!
//! 1. [`source`]: where workloads come from — manifests, a cluster listing, the operator's watches.
//! 2. [`inventory`]: what runs — workloads, containers, image references, kinds, names.
//! 3. [`tags`]: what exists — each repository's tags, from an index, registries or an image-watcher.
//! 4. [`scan`]: what to do — one finding per container, decided by `ml-operator-version`.
//! 5. What happens to the findings:
//!    - [`report`]: printed — table, JSON, shell-quoted `kubectl patch` commands;
//!    - [`notify`]: told — only what changed, to Slack, Teams, webhooks and Events;
//!    - [`upgrade`]: applied — ImageUpgrade objects, approvals, windows, rollouts, rollbacks;
//!    - [`deliver`]: made where it lasts — the Helm release values key, values files in git.
//!    - [`approvals`]: decided where people are — Slack buttons, verified and authorized.
//!
//! [`values`] is what stage 1 and 5 share about Helm values: where in a values tree (a release's,
//! a file's) an image comes from, and how to change only that key in a file.
//!
//! The modes wire the stages: [`cli`] (one module per command; `check` runs the pipeline once)
//! and [`operator`] (`run`: watches, a schedule, leader election, the HTTP server). Shared by
//! both: [`config`] (the file and the original environment variables) and [`rbac`] (the
//! permissions the code needs, as data the manifests are tested against).
#![deny(missing_docs)]

pub mod approvals;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod inventory;
pub mod notify;
pub mod operator;
pub mod rbac;
pub mod report;
pub mod scan;
pub mod source;
pub mod tags;
pub mod upgrade;
pub mod values;
