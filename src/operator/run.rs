//! `ml-operator run`: the long-running operator loop.
//!
//! Start-up checks everything it can before touching the cluster (configuration, schedule,
//! listen address, notifier secrets), then: serve HTTP; keep the inventory live with watches;
//! take part in leader election; and, while leading, scan on every schedule tick and tell each
//! notifier only what changed since it was last told (remembered in a ConfigMap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use kube::Client;
use ml_operator_leader::{LeaderElector, LeaderState, LeaseConfig};
use tokio::sync::{RwLock, watch};

use crate::config::Config;
use crate::inventory::server_selector;
use crate::operator::events::EventRecorder;
use crate::operator::metrics::Metrics;
use crate::operator::plan::{ScanResult, plan};
use crate::operator::schedule::{DEFAULT_SCHEDULE, Schedule};
use crate::operator::server::{self, AppState, router};
use crate::operator::sinks::{Sink, http_notifiers};
use crate::operator::state::{NotifiedState, StateStore};
use crate::operator::watch::{Snapshot, WatchedInventory};
use crate::scan::{ScanOptions, scan};
use crate::tag_source::TagSource;

/// The default HTTP listen address: the original image-watcher's port.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4006";
/// The default name of the state ConfigMap and of the leader election Lease.
pub const DEFAULT_NAME: &str = "ml-operator";

/// Everything `run` needs, checked: built by [`Settings::from_config`] before anything starts.
pub struct Settings {
    /// The configuration as loaded (file + environment).
    pub config: Config,
    /// When to scan.
    pub schedule: Schedule,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where tags come from.
    pub source: TagSource,
    /// Kubeconfig to use instead of the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    pub context: Option<String>,
    /// The checked `upgrades:` section, when upgrades are enabled.
    pub upgrades: Option<crate::upgrade::UpgradeSettings>,
    /// `run --dry-run`: decide and log, change nothing in the cluster.
    pub dry_run: bool,
}

/// A start-up problem, naming the key (or variable) and value.
pub type StartError = String;

impl Settings {
    /// Checks the configuration; every error names the setting.
    pub fn from_config(
        config: Config,
        source: TagSource,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    ) -> Result<Settings, StartError> {
        let schedule_text = config
            .schedule
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
        let schedule = Schedule::parse(&schedule_text)
            .map_err(|e| format!("schedule (CHECK_FOR_UPDATE_CRON): {e}"))?;
        let listen_text = config
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text
            .parse()
            .map_err(|e| format!("listen (ML_OPERATOR_LISTEN): {listen_text:?} is not an address like 0.0.0.0:4006: {e}"))?;
        if let Some(selector) = &config.selector {
            selector
                .parse::<crate::selector::Selector>()
                .map_err(|e| format!("selector: {e}"))?;
        }
        let upgrades = if config.upgrades.enabled {
            Some(crate::upgrade::UpgradeSettings::from_config(
                &config.upgrades,
            )?)
        } else {
            None
        };
        Ok(Settings {
            config,
            schedule,
            listen,
            source,
            kubeconfig,
            context,
            upgrades,
            dry_run: false,
        })
    }
}

/// This replica's name: the pod name (`POD_NAME`, else `HOSTNAME`), for the Lease and Events.
fn identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("ml-operator-{}", std::process::id()))
}

/// The namespace the operator keeps its Lease and state in.
fn own_namespace(config: &Config, client: &Client) -> String {
    if let Some(namespace) = &config.state.namespace {
        return namespace.clone();
    }
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| client.default_namespace().to_string())
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Runs the operator until SIGTERM/SIGINT.
pub async fn run(settings: Settings) -> Result<(), String> {
    let Settings {
        config,
        schedule,
        listen,
        source,
        kubeconfig,
        context,
        upgrades,
        dry_run,
    } = settings;
    let mut sinks: Vec<Sink> = http_notifiers(&config)?
        .into_iter()
        .map(Sink::Http)
        .collect();

    let cluster_options = crate::cluster::ClusterOptions {
        kubeconfig,
        context,
        ..Default::default()
    };
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && !config.use_default_kubeconfig.unwrap_or(false)
        && cluster_options.kubeconfig.is_none();
    let cluster = if in_cluster {
        crate::cluster::Cluster::in_cluster().map_err(|e| e.to_string())?
    } else {
        crate::cluster::Cluster::connect(&cluster_options)
            .await
            .map_err(|e| e.to_string())?
    };
    let client = cluster.client().clone();
    let me = identity();
    let namespace = own_namespace(&config, &client);
    if config.notify.events.unwrap_or(true) {
        sinks.push(Sink::Events(EventRecorder::new(client.clone(), &me)));
    }
    tracing::info!(
        "ml-operator {} starting as {me} in namespace {namespace}; cluster {}; schedule {:?}; notifiers: {}",
        env!("CARGO_PKG_VERSION"),
        cluster.description,
        schedule.as_str(),
        sinks.iter().map(Sink::name).collect::<Vec<_>>().join(", ")
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let signalled = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = signalled.send(true);
    });

    let registry_client = match &source {
        TagSource::Registry(registry) => Some(registry.clone()),
        _ => None,
    };
    let source = Arc::new(source);
    let metrics = Metrics::new(registry_client);
    let ready = Arc::new(AtomicBool::new(false));
    let last_report = Arc::new(RwLock::new(None));
    let app = router(AppState {
        source: source.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        last_report: last_report.clone(),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen (ML_OPERATOR_LISTEN): cannot listen on {listen}: {e}"))?;
    tracing::info!(
        "serving the image-watcher API, /healthz, /readyz and /metrics on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(server::serve(listener, app, async move {
        let _ = server_stop.wait_for(|stop| *stop).await;
    }));

    let selector = server_selector(
        config.selector.as_deref().unwrap_or_default(),
        &config.services,
    );
    let inventory = WatchedInventory::start(&client, &config.namespaces, Some(&selector));

    // Leader election: only the leader scans and notifies.
    let leader_config = &config.leader_election;
    let (leading_tx, leading_rx) = watch::channel(!leader_config.enabled.unwrap_or(true));
    let elector_task = if leader_config.enabled.unwrap_or(true) {
        let mut lease = LeaseConfig::new(
            namespace.clone(),
            leader_config
                .lease_name
                .clone()
                .unwrap_or_else(|| DEFAULT_NAME.to_string()),
            me.clone(),
        );
        if let Some(d) = leader_config.lease_duration {
            lease.lease_duration = d;
        }
        if let Some(d) = leader_config.renew_deadline {
            lease.renew_deadline = d;
        }
        if let Some(d) = leader_config.retry_period {
            lease.retry_period = d;
        }
        lease
            .validate()
            .map_err(|e| format!("leaderElection: {e}"))?;
        let elector = LeaderElector::new(client.clone(), lease);
        let mut states = elector.subscribe();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let leading = matches!(*states.borrow(), LeaderState::Leading);
                let _ = leading_tx.send(leading);
            }
        });
        let mut elector_stop = stop_rx.clone();
        let stop_everything = stop_tx.clone();
        Some(tokio::spawn(async move {
            let result = elector
                .run(async move {
                    let _ = elector_stop.wait_for(|stop| *stop).await;
                })
                .await;
            if result.is_err() {
                // A fatal election error (e.g. missing RBAC): nobody would ever lead, so stop.
                let _ = stop_everything.send(true);
            }
            result
        }))
    } else {
        None
    };

    // Upgrades: ImageUpgrades from each scan, and the controller applying approved ones.
    let upgrader = match upgrades {
        Some(mut upgrade_settings) => {
            upgrade_settings.dry_run = dry_run;
            let notifiers = http_notifiers(&config)?
                .into_iter()
                .map(Arc::from)
                .collect();
            let events = config
                .notify
                .events
                .unwrap_or(true)
                .then(|| (client.clone(), me.clone()));
            let announcer = crate::upgrade::Announcer::new(notifiers, events);
            tracing::info!(
                "upgrades enabled{}: auto-approve {}, at most {} at once, rollout timeout {}",
                if dry_run {
                    " (dry run: nothing is changed)"
                } else {
                    ""
                },
                upgrade_settings.policy.default,
                upgrade_settings.max_concurrent,
                crate::duration::format(upgrade_settings.rollout_timeout)
            );
            Some(Arc::new(crate::upgrade::Controller::new(
                client.clone(),
                upgrade_settings,
                announcer,
                config.namespaces.clone(),
            )))
        }
        None => {
            if dry_run {
                tracing::info!(
                    "dry run: upgrades are not enabled, so there is nothing to apply anyway"
                );
            }
            None
        }
    };
    // The controller runs on its own interval while leading (rollouts need watching between
    // scans). In a dry run nothing advances, so it runs once after each scan instead.
    let controller_task = upgrader.clone().filter(|_| !dry_run).map(|controller| {
        let mut stop = stop_rx.clone();
        let mut leading = leading_rx.clone();
        tokio::spawn(async move {
            let interval = controller.settings().interval;
            loop {
                tokio::select! {
                    _ = leading.wait_for(|l| *l) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if let Err(e) = controller.pass(Utc::now()).await {
                    tracing::error!("upgrades: {e}");
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    });

    let state_store = StateStore::new(
        client.clone(),
        &namespace,
        config
            .state
            .config_map
            .as_deref()
            .unwrap_or("ml-operator-state"),
    );
    let worker = Worker {
        config: &config,
        schedule: &schedule,
        source: &source,
        inventory: &inventory,
        sinks: &sinks,
        metrics: &metrics,
        ready: &ready,
        last_report: &last_report,
        state_store: &state_store,
        upgrader: upgrader.as_deref(),
    };
    let result = worker.run(stop_rx.clone(), leading_rx).await;
    if let Some(task) = controller_task {
        let _ = task.await;
    }

    inventory.shutdown();
    let election = match elector_task {
        Some(task) => match task.await {
            Ok(result) => result.map_err(|e| format!("leader election: {e}")),
            Err(e) => Err(format!("leader election task: {e}")),
        },
        None => Ok(()),
    };
    let _ = server.await;
    result.and(election)
}

/// The scanning and notifying half of the operator.
struct Worker<'a> {
    config: &'a Config,
    schedule: &'a Schedule,
    source: &'a TagSource,
    inventory: &'a WatchedInventory,
    sinks: &'a [Sink],
    metrics: &'a Metrics,
    ready: &'a AtomicBool,
    last_report: &'a RwLock<Option<crate::scan::Report>>,
    state_store: &'a StateStore,
    upgrader: Option<&'a crate::upgrade::Controller>,
}

impl Worker<'_> {
    /// Creates and supersedes ImageUpgrades for the scan's findings; in a dry run, also shows
    /// what the controller would do next.
    async fn sync_upgrades(
        &self,
        upgrader: &crate::upgrade::Controller,
        report: &crate::scan::Report,
    ) {
        let dry_run = upgrader.settings().dry_run;
        match crate::upgrade::sync(
            upgrader.client(),
            report,
            &self.config.namespaces,
            Utc::now(),
            dry_run,
        )
        .await
        {
            Ok(done) => {
                let prefix = if dry_run { "dry run: would have " } else { "" };
                for id in &done.created {
                    tracing::info!("{prefix}proposed ImageUpgrade {id}");
                }
                for id in &done.renewed {
                    tracing::info!("{prefix}proposed ImageUpgrade {id} again");
                }
                for id in &done.superseded {
                    tracing::info!("{prefix}superseded ImageUpgrade {id}");
                }
            }
            Err(e) => tracing::error!("upgrades: {e}"),
        }
        if dry_run && let Err(e) = upgrader.pass(Utc::now()).await {
            tracing::error!("upgrades: {e}");
        }
    }

    async fn run(
        &self,
        mut stop: watch::Receiver<bool>,
        mut leading: watch::Receiver<bool>,
    ) -> Result<(), String> {
        tokio::select! {
            () = self.inventory.wait_until_ready() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
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
                tokio::select! {
                    _ = leading.wait_for(|l| *l) => {}
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                }
                tracing::info!("leading: scanning on {:?}", self.schedule.as_str());
            }
            let mut state = match self.state_store.load().await {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!("{e}; retrying in 10s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(10)) => continue,
                        _ = stop.wait_for(|s| *s) => return Ok(()),
                    }
                }
            };
            loop {
                images_changed.borrow_and_update();
                self.tick(&mut state).await;
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
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                }
            }
        }
    }

    /// One scan, then the notifications it calls for.
    async fn tick(&self, state: &mut NotifiedState) {
        let started = Instant::now();
        // The watches' label selector already holds the services filter.
        let Snapshot {
            workloads,
            controlled,
        } = self.inventory.snapshot();
        let strategy = self.config.strategy.unwrap_or_default();
        let lookup = self.source.fetch(&workloads, strategy).await;
        let failures = lookup.failures();
        let mut report = scan(
            &workloads,
            &lookup,
            ScanOptions {
                strategy,
                explain: false,
            },
        );
        report.summary.controlled = controlled;
        self.metrics
            .record_scan(&report, started.elapsed(), !failures.is_empty());
        tracing::info!(
            "scan: {} ({:.2}s)",
            crate::output::summary_line(&report),
            started.elapsed().as_secs_f64()
        );
        for failure in &failures {
            tracing::warn!("cannot list tags of {failure}");
        }
        let result = ScanResult::from_report(&report, failures);
        if let Some(upgrader) = self.upgrader {
            self.sync_upgrades(upgrader, &report).await;
        }
        *self.last_report.write().await = Some(report);

        let now = Utc::now();
        let mut changed = false;
        for sink in self.sinks {
            let name = sink.name();
            let previous = state.get(&name).cloned().unwrap_or_default();
            let Some((notification, delivered)) =
                plan(&previous, &result, self.config.reminder_interval, None, now)
            else {
                continue;
            };
            match sink.send(&notification).await {
                Ok(()) => {
                    tracing::info!(
                        "notified {name}: {} pending, {} new, {} resolved",
                        notification.updates.len(),
                        notification.added.len(),
                        notification.resolved.len()
                    );
                    self.metrics.record_notification(&name, true);
                    state.insert(name, delivered);
                    changed = true;
                }
                Err(e) => {
                    // Not remembered as told: the next tick tries again.
                    tracing::error!("notifying {name} failed: {e}");
                    self.metrics.record_notification(&name, false);
                }
            }
        }
        if changed && let Err(e) = self.state_store.save(state).await {
            tracing::error!("{e}: notifications may be repeated after a restart");
        }
    }
}

/// Hands memory freed by the initial list or a scan back to the system. glibc's allocator keeps
/// freed pages for reuse, scattered over its per-thread arenas, so without this the resident
/// set keeps the high-water mark of every scan's temporary allocations.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases unused pages; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
