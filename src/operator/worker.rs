//! The scanning and notifying half of the operator: while leading, one [`Worker::tick`] per
//! schedule tick (or image change, with `scanOnChange`).
//!
//! In: the live inventory, the tag source, the sinks, the state ConfigMap, whether this replica
//! leads, and the [`Shutdown`]. Out: a scan per tick ([`crate::scan::pipeline`]) — kept for
//! `GET /report` and the metrics, handed to the upgrader — and the notifications it calls
//! for, each notifier told only what changed; what was told is saved to the ConfigMap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{RwLock, watch};

use crate::config::Config;
use crate::notify::plan::{ScanResult, plan};
use crate::notify::sinks::Sink;
use crate::notify::state::{NotifiedState, StateStore};
use crate::operator::last_report::LastReport;
use crate::operator::memory::release_free_memory;
use crate::operator::metrics::Metrics;
use crate::operator::schedule::Schedule;
use crate::operator::shutdown::{STATE_SAVE_ON_SHUTDOWN, Shutdown};
use crate::operator::upgrades;
use crate::scan::ScanOptions;
use crate::scan::pipeline::{self, Scanned};
use crate::source::cluster::Cluster;
use crate::source::manifest::DEFAULT_MAX_INPUT_BYTES;
use crate::source::watch::{Snapshot, WatchedInventory};
use crate::tags::TagSource;
use crate::tags::supply::SupplyPolicy;
use crate::upgrade::Upgrader;

/// What the worker reads and writes; everything is owned by `run` and borrowed here.
pub struct Worker<'a> {
    /// The configuration (strategy, reminders, `scanOnChange`, namespaces).
    pub config: &'a Config,
    /// When to scan.
    pub schedule: &'a Schedule,
    /// Where tags come from.
    pub source: &'a TagSource,
    /// The live inventory (the watches' label selector already holds the services filter).
    pub inventory: &'a WatchedInventory,
    /// Where notifications go.
    pub sinks: &'a [Sink],
    /// Scan and notification metrics.
    pub metrics: &'a Metrics,
    /// Readiness: set once synced (followers) or after the first scan (the leader).
    pub ready: &'a AtomicBool,
    /// The last scan, for `GET /report`.
    pub last_report: &'a RwLock<Option<LastReport>>,
    /// What each notifier was told.
    pub state_store: &'a StateStore,
    /// The upgrade upgrader, when upgrades are enabled.
    pub upgrader: Option<&'a Upgrader>,
    /// Stops the loop at its next await.
    pub shutdown: &'a Shutdown,
    /// The supply-chain checks of each scan.
    pub supply: &'a SupplyPolicy,
    /// With `helm.readReleases`: the cluster whose release Secrets each scan reads, so the
    /// findings carry their Helm values path.
    pub helm_releases: Option<&'a Cluster>,
}

impl Worker<'_> {
    /// Waits for the inventory to sync, then scans and notifies on the schedule while
    /// `leading`, until shutdown. Losing leadership stops the scans; regaining it reloads the
    /// state ConfigMap (the other leader may have told notifiers since).
    pub async fn run(&self, mut leading: watch::Receiver<bool>) {
        let shutdown = self.shutdown;
        if shutdown
            .unless(self.inventory.wait_until_ready())
            .await
            .is_none()
        {
            return;
        }
        tracing::info!("inventory synced");
        release_free_memory();
        let scan_on_change = self.config.scan_on_change.unwrap_or(false);
        let mut images_changed = self.inventory.images_changed();
        loop {
            // Followers serve the API; they are ready once synced.
            if !*leading.borrow() {
                self.ready.store(true, Ordering::Release);
                tracing::info!("following: waiting for leadership");
                if shutdown.unless(leading.wait_for(|l| *l)).await.is_none() {
                    return;
                }
                tracing::info!("leading: scanning on {:?}", self.schedule.as_str());
            }
            let mut state = match shutdown.unless(self.state_store.load()).await {
                None => return,
                Some(Ok(state)) => state,
                Some(Err(e)) => {
                    tracing::error!("{e}; retrying in 10s");
                    match shutdown
                        .unless(tokio::time::sleep(Duration::from_secs(10)))
                        .await
                    {
                        Some(()) => continue,
                        None => return,
                    }
                }
            };
            loop {
                images_changed.borrow_and_update();
                self.tick(&mut state).await;
                if shutdown.has_begun() {
                    return;
                }
                release_free_memory();
                self.ready.store(true, Ordering::Release);
                let now = Utc::now();
                let wait = self
                    .schedule
                    .next_after(now)
                    .and_then(|next| (next - now).to_std().ok())
                    .unwrap_or(Duration::from_secs(60));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    Ok(()) = images_changed.changed(), if scan_on_change => {
                        // A rollout touches several objects: let the burst settle, scan once.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        tracing::info!("a workload's images changed: scanning now");
                    }
                    _ = leading.wait_for(|l| !*l) => {
                        tracing::warn!("lost leadership: no more scans from this replica");
                        break;
                    }
                    () = shutdown.begun() => return,
                }
            }
        }
    }

    /// One scan, then the notifications it calls for. Shutdown cuts it short: a scan not yet
    /// done notifies nothing, a delivery in flight is dropped (and, not being recorded, sent
    /// again by whoever leads next), and what was delivered before is still saved.
    pub async fn tick(&self, state: &mut NotifiedState) {
        let started = Instant::now();
        let Snapshot {
            workloads,
            controlled,
            running,
        } = self.inventory.snapshot();
        let options = ScanOptions {
            strategy: self.config.strategy.unwrap_or_default(),
            explain: false,
        };
        let Some(mut scanned) = self
            .shutdown
            .unless(pipeline::run(
                self.source,
                &workloads,
                &pipeline::Inputs {
                    running: &running,
                    policy: self.supply,
                    now: Utc::now(),
                },
                options,
            ))
            .await
        else {
            tracing::info!("shutdown: scan abandoned before it finished; nothing notified");
            return;
        };
        // With helm.readReleases: each update's values key, from the release Secrets of the
        // Helm-managed workloads scanned (reduced at once to image keys).
        if let Some(cluster) = self.helm_releases {
            let (releases, warnings) = cluster
                .helm_releases(&workloads, DEFAULT_MAX_INPUT_BYTES)
                .await;
            for warning in warnings {
                tracing::warn!("{warning}");
            }
            crate::deliver::helm::attach(&mut scanned.report, &releases, &Default::default());
        }
        // The scan's inputs are not needed any more: dropped before the report is handed on.
        drop((workloads, running));
        scanned.report.summary.controlled = controlled;
        self.metrics.record_scan(
            &scanned.report,
            started.elapsed(),
            !scanned.failures.is_empty(),
        );
        tracing::info!(
            "scan: {} ({:.2}s)",
            crate::report::summary_line(&scanned.report),
            started.elapsed().as_secs_f64()
        );
        for line in scanned.failure_lines() {
            tracing::warn!("{line}");
        }
        // The fetched tags are dropped here, before anything is sent.
        let Scanned {
            report, failures, ..
        } = scanned;
        if let Some(upgrader) = self.upgrader
            && self
                .shutdown
                .unless(upgrades::propose(
                    upgrader,
                    &report,
                    &self.config.namespaces,
                ))
                .await
                .is_none()
        {
            return;
        }
        // `/report` serves this scan from now on, compressed: the report itself goes once
        // the notifications' view of it is taken (only when there is a notifier to tell), so
        // it is not alive during the next scan.
        let last = LastReport::new(&report);
        tracing::debug!(bytes = last.compressed_len(), "report stored for /report");
        *self.last_report.write().await = Some(last);
        if self.sinks.is_empty() {
            return;
        }
        let result = ScanResult::from_report(&report, failures);
        drop(report);
        if self.notify(state, &result).await {
            self.save(state).await;
        }
    }

    /// Tells each sink what changed since it was last told, recording each delivery in
    /// `state`; whether anything was delivered. Shutdown drops the delivery in flight and
    /// skips the rest.
    async fn notify(&self, state: &mut NotifiedState, result: &ScanResult) -> bool {
        let now = Utc::now();
        let mut changed = false;
        for sink in self.sinks {
            let name = sink.name();
            let previous = state.get(&name).cloned().unwrap_or_default();
            let Some((notification, delivered)) =
                plan(&previous, result, self.config.reminder_interval, None, now)
            else {
                continue;
            };
            match self.shutdown.unless(sink.send(&notification)).await {
                None => {
                    tracing::warn!(
                        "shutdown: delivery to {name} cancelled; not recorded, so whoever leads next sends it"
                    );
                    break;
                }
                Some(Ok(())) => {
                    tracing::info!(
                        "notified {name}: {} pending, {} new, {} resolved, {} supply-chain alerts",
                        notification.updates.len(),
                        notification.added.len(),
                        notification.resolved.len(),
                        notification.alerts.len()
                    );
                    self.metrics.record_notification(&name, true);
                    state.insert(name, delivered);
                    changed = true;
                }
                Some(Err(e)) => {
                    // Not remembered as told: the next tick tries again.
                    tracing::error!("notifying {name} failed: {e}");
                    self.metrics.record_notification(&name, false);
                }
            }
        }
        changed
    }

    /// Saves `state`. The save may take its time — unless shutdown begins, which gives it
    /// [`STATE_SAVE_ON_SHUTDOWN`] more.
    async fn save(&self, state: &NotifiedState) {
        const REPEATED: &str = "notifications may be repeated after a restart";
        tokio::select! {
            saved = self.state_store.save(state) => if let Err(e) = saved {
                tracing::error!("{e}: {REPEATED}");
            },
            () = self.shutdown.grace_over(STATE_SAVE_ON_SHUTDOWN) => {
                tracing::error!("saving the notification state timed out at shutdown: {REPEATED}");
            }
        }
    }
}
