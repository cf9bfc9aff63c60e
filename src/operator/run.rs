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
use ml_operator_notify::Notifier;
use tokio::sync::{RwLock, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::inventory::server_selector;
use crate::notify::events::EventRecorder;
use crate::notify::plan::{ScanResult, plan};
use crate::notify::sinks::{Sink, http_notifiers};
use crate::notify::state::{NotifiedState, StateStore};
use crate::operator::metrics::Metrics;
use crate::operator::schedule::{DEFAULT_SCHEDULE, Schedule};
use crate::operator::server::{self, AppState, router};
use crate::scan::{ScanOptions, scan};
use crate::source::watch::{Snapshot, WatchedInventory};
use crate::tags::TagSource;

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
    /// The Slack, Teams and webhook notifiers, built once (their secrets read) at start and
    /// shared by scan notifications and upgrade announcements.
    pub notifiers: Vec<Arc<dyn Notifier>>,
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
                .parse::<crate::inventory::selector::Selector>()
                .map_err(|e| format!("selector: {e}"))?;
        }
        if let Some(lease) = lease_config(&config, "namespace", "identity") {
            lease
                .validate()
                .map_err(|e| format!("leaderElection: {e}"))?;
        }
        let notifiers = http_notifiers(&config)?;
        let upgrades = if config.upgrades.enabled {
            Some(
                crate::upgrade::UpgradeSettings::from_config(&config.upgrades)
                    .map_err(|e| e.to_string())?,
            )
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
            notifiers,
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

/// How long the teardown after SIGTERM may take (releasing the Lease, closing the HTTP
/// server, stopping the watches). With the worker's own wind-down (at most
/// [`STATE_SAVE_ON_SHUTDOWN`]) the process exits within 5 s of the signal, whatever the
/// notification endpoints or the API server do.
pub const SHUTDOWN_TEARDOWN: Duration = Duration::from_secs(3);
/// How long saving the notification state may take once shutdown has begun.
pub const STATE_SAVE_ON_SHUTDOWN: Duration = Duration::from_secs(1);

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
        notifiers,
    } = settings;
    let mut sinks: Vec<Sink> = notifiers.iter().cloned().map(Sink::Http).collect();

    let cluster_options = crate::source::cluster::ClusterOptions {
        kubeconfig,
        context,
        ..Default::default()
    };
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && !config.use_default_kubeconfig.unwrap_or(false)
        && cluster_options.kubeconfig.is_none();
    let cluster = if in_cluster {
        crate::source::cluster::Cluster::in_cluster().map_err(|e| e.to_string())?
    } else {
        crate::source::cluster::Cluster::connect(&cluster_options)
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

    // One token stops everything: SIGTERM/SIGINT, or a fatal leader election error.
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        }
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
    let server = tokio::spawn(server::serve(
        listener,
        app,
        shutdown.clone().cancelled_owned(),
    ));

    let selector = server_selector(
        config.selector.as_deref().unwrap_or_default(),
        &config.services,
    );
    let inventory = WatchedInventory::start(&client, &config.namespaces, Some(&selector));

    // Leader election: only the leader scans and notifies.
    let lease = lease_config(&config, &namespace, &me);
    let (leading_tx, leading_rx) = watch::channel(lease.is_none());
    let elector_task = lease.map(|lease| {
        let elector = LeaderElector::new(client.clone(), lease);
        let mut states = elector.subscribe();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let leading = matches!(*states.borrow(), LeaderState::Leading);
                let _ = leading_tx.send(leading);
            }
        });
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let result = elector.run(shutdown.clone().cancelled_owned()).await;
            if result.is_err() {
                // A fatal election error (e.g. missing RBAC): nobody would ever lead, so stop.
                shutdown.cancel();
            }
            result
        })
    });

    // Upgrades: ImageUpgrades from each scan, and the controller applying approved ones.
    let upgrader = match upgrades {
        Some(mut upgrade_settings) => {
            upgrade_settings.dry_run = dry_run;
            let events = config
                .notify
                .events
                .unwrap_or(true)
                .then(|| (client.clone(), me.clone()));
            let announcer = crate::upgrade::Announcer::new(notifiers.clone(), events);
            tracing::info!(
                "upgrades enabled{}: auto-approve {}, at most {} at once, rollout timeout {}",
                if dry_run {
                    " (dry run: nothing is changed)"
                } else {
                    ""
                },
                upgrade_settings.policy.default,
                upgrade_settings.max_concurrent,
                crate::config::duration::format(upgrade_settings.rollout_timeout)
            );
            Some(Arc::new(crate::upgrade::Upgrader::new(
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
    // scans). In a dry run nothing advances, so it runs once after each scan instead. A pass
    // cut short by shutdown is safe: each step is recorded on the ImageUpgrade before it is
    // taken, so the next leader carries on from there.
    let controller_task = upgrader.clone().filter(|_| !dry_run).map(|controller| {
        let shutdown = shutdown.clone();
        let mut leading = leading_rx.clone();
        tokio::spawn(async move {
            let interval = controller.settings().interval;
            loop {
                if shutdown
                    .run_until_cancelled(leading.wait_for(|l| *l))
                    .await
                    .is_none()
                {
                    return;
                }
                match shutdown
                    .run_until_cancelled(controller.step_each(Utc::now()))
                    .await
                {
                    None => return,
                    Some(Err(e)) => tracing::error!("upgrades: {e}"),
                    Some(Ok(_)) => {}
                }
                if shutdown
                    .run_until_cancelled(tokio::time::sleep(interval))
                    .await
                    .is_none()
                {
                    return;
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
        shutdown: &shutdown,
    };
    let result = worker.run(leading_rx).await;

    // Whatever the endpoints and the API server do, the teardown is bounded.
    let teardown = async {
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
        election
    };
    let election = match tokio::time::timeout(SHUTDOWN_TEARDOWN, teardown).await {
        Ok(election) => election,
        Err(_) => {
            tracing::warn!(
                "shutdown: teardown took longer than {}s; exiting anyway (an unreleased Lease expires after its duration)",
                SHUTDOWN_TEARDOWN.as_secs()
            );
            Ok(())
        }
    };
    result.and(election)
}

/// The Lease this replica contends for, or `None` when leader election is off.
fn lease_config(config: &Config, namespace: &str, identity: &str) -> Option<LeaseConfig> {
    let leader = &config.leader_election;
    if !leader.enabled.unwrap_or(true) {
        return None;
    }
    let name = leader.lease_name.as_deref().unwrap_or(DEFAULT_NAME);
    let mut lease = LeaseConfig::new(namespace, name, identity);
    if let Some(d) = leader.lease_duration {
        lease.lease_duration = d;
    }
    if let Some(d) = leader.renew_deadline {
        lease.renew_deadline = d;
    }
    if let Some(d) = leader.retry_period {
        lease.retry_period = d;
    }
    Some(lease)
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
    upgrader: Option<&'a crate::upgrade::Upgrader>,
    shutdown: &'a CancellationToken,
}

impl Worker<'_> {
    /// Creates and supersedes ImageUpgrades for the scan's findings; in a dry run, also shows
    /// what the controller would do next.
    async fn sync_upgrades(
        &self,
        upgrader: &crate::upgrade::Upgrader,
        report: &crate::scan::Report,
    ) {
        let dry_run = upgrader.settings().dry_run;
        match crate::upgrade::propose(
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
        if dry_run && let Err(e) = upgrader.step_each(Utc::now()).await {
            tracing::error!("upgrades: {e}");
        }
    }

    /// Waits for `future` unless shutdown comes first (`None`).
    async fn unless_shutdown<T>(&self, future: impl Future<Output = T>) -> Option<T> {
        self.shutdown.run_until_cancelled(future).await
    }

    async fn run(&self, mut leading: watch::Receiver<bool>) -> Result<(), String> {
        if self
            .unless_shutdown(self.inventory.wait_until_ready())
            .await
            .is_none()
        {
            return Ok(());
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
                if self
                    .unless_shutdown(leading.wait_for(|l| *l))
                    .await
                    .is_none()
                {
                    return Ok(());
                }
                tracing::info!("leading: scanning on {:?}", self.schedule.as_str());
            }
            let mut state = match self.unless_shutdown(self.state_store.load()).await {
                None => return Ok(()),
                Some(Ok(state)) => state,
                Some(Err(e)) => {
                    tracing::error!("{e}; retrying in 10s");
                    match self
                        .unless_shutdown(tokio::time::sleep(Duration::from_secs(10)))
                        .await
                    {
                        Some(()) => continue,
                        None => return Ok(()),
                    }
                }
            };
            loop {
                images_changed.borrow_and_update();
                self.tick(&mut state).await;
                if self.shutdown.is_cancelled() {
                    return Ok(());
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
                    () = self.shutdown.cancelled() => return Ok(()),
                }
            }
        }
    }

    /// One scan, then the notifications it calls for. Shutdown cuts it short: a scan not yet
    /// done notifies nothing, a delivery in flight is dropped (and, not being recorded, sent
    /// again by whoever leads next), and what was delivered before is still saved.
    async fn tick(&self, state: &mut NotifiedState) {
        let started = Instant::now();
        // The watches' label selector already holds the services filter.
        let Snapshot {
            workloads,
            controlled,
        } = self.inventory.snapshot();
        let strategy = self.config.strategy.unwrap_or_default();
        let Some(lookup) = self
            .unless_shutdown(self.source.fetch(&workloads, strategy))
            .await
        else {
            tracing::info!("shutdown: scan abandoned before it finished; nothing notified");
            return;
        };
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
            crate::report::summary_line(&report),
            started.elapsed().as_secs_f64()
        );
        for failure in &failures {
            tracing::warn!(
                "cannot list tags of {}: {}",
                failure.repository,
                failure.reason
            );
        }
        let result = ScanResult::from_report(&report, failures);
        if let Some(upgrader) = self.upgrader
            && self
                .unless_shutdown(self.sync_upgrades(upgrader, &report))
                .await
                .is_none()
        {
            return;
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
            match self.unless_shutdown(sink.send(&notification)).await {
                None => {
                    tracing::warn!(
                        "shutdown: delivery to {name} cancelled; not recorded, so whoever leads next sends it"
                    );
                    break;
                }
                Some(Ok(())) => {
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
                Some(Err(e)) => {
                    // Not remembered as told: the next tick tries again.
                    tracing::error!("notifying {name} failed: {e}");
                    self.metrics.record_notification(&name, false);
                }
            }
        }
        if !changed {
            return;
        }
        // The save may take its time — unless shutdown begins, which gives it one more second.
        let shutdown_grace = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(STATE_SAVE_ON_SHUTDOWN).await;
        };
        let saved = tokio::select! {
            saved = self.state_store.save(state) => saved,
            () = shutdown_grace => Err("saving the notification state timed out at shutdown".to_string()),
        };
        if let Err(e) = saved {
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
