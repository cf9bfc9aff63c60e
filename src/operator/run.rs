//! `ml-operator run`: wires the operator's parts, waits, tears down.
//!
//! In: [`Settings`], checked. Out: the operator running until SIGTERM/SIGINT — the HTTP server,
//! the watches, the elector, the upgrader and the [`Worker`] started in that order and stopped
//! within [`SHUTDOWN_TEARDOWN`] — or a [`RunError`] (exit code 1) when the cluster cannot be
//! reached, the address cannot be bound, or leader election stopped for good.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::RwLock;

use crate::approvals::SlackApprovals;
use crate::inventory::server_selector;
use crate::notify::events::EventRecorder;
use crate::notify::sinks::Sink;
use crate::notify::state::{DEFAULT_CONFIG_MAP, StateStore};
use crate::operator::admin_api::{self, AdminApi};
use crate::operator::dashboard;
use crate::operator::identity::{identity, own_namespace};
use crate::operator::interactions;
use crate::operator::leader::{ElectionError, Leadership, lease_config};
use crate::operator::metrics::Metrics;
use crate::operator::server::{self, AppState, router};
use crate::operator::settings::Settings;
use crate::operator::shutdown::{SHUTDOWN_TEARDOWN, Shutdown};
use crate::operator::upgrades;
use crate::operator::worker::Worker;
use crate::source::cluster::{Cluster, ClusterError, ClusterOptions};
use crate::source::watch::WatchedInventory;
use crate::tags::TagSource;
use ml_operator_notify::slack_app::socket::SocketMode;

/// Why the operator stopped other than by a signal (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The cluster could not be reached; names the context and server.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The HTTP listen address could not be bound.
    #[error("listen (ML_OPERATOR_LISTEN): cannot listen on {address}: {source}")]
    Listen {
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Leader election stopped for good (it also stopped the operator).
    #[error(transparent)]
    Election(#[from] ElectionError),
}

/// Runs the operator until SIGTERM/SIGINT (or a fatal leader election error).
pub async fn run(settings: Settings) -> Result<(), RunError> {
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
        supply,
        slack,
        git,
    } = settings;

    let cluster_options = ClusterOptions {
        kubeconfig,
        context,
        ..Default::default()
    };
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && !config.use_default_kubeconfig.unwrap_or(false)
        && cluster_options.kubeconfig.is_none();
    let cluster = if in_cluster {
        Cluster::in_cluster()?
    } else {
        Cluster::connect(&cluster_options).await?
    };
    let client = cluster.client().clone();
    let me = identity();
    let namespace = own_namespace(&config, &client);
    let events = config.notify.events.unwrap_or(true);
    let mut sinks: Vec<Sink> = notifiers.iter().cloned().map(Sink::Http).collect();
    if events {
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
    let shutdown = Shutdown::on_signal();

    // The HTTP server: the image-watcher API, health, readiness, metrics, the last report.
    let registry_client = match &source {
        TagSource::Registry(registry) => Some(registry.clone()),
        _ => None,
    };
    let source = Arc::new(source);
    let metrics = Metrics::new(registry_client);
    let ready = Arc::new(AtomicBool::new(false));
    let last_report = Arc::new(RwLock::new(None));
    let mut app = router(AppState {
        source: source.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        last_report: last_report.clone(),
    });
    if config.api.enabled {
        tracing::info!(
            "admin API on at /api/v1 (bearer tokens checked with TokenReview and SubjectAccessReview{})",
            if config.api.anonymous_read {
                "; reads open"
            } else {
                ""
            }
        );
        app = app.merge(admin_api::routes(AdminApi {
            client: client.clone(),
            namespaces: config.namespaces.clone(),
            anonymous_read: config.api.anonymous_read,
            upgrades: upgrades.is_some(),
            required_approvals: config.upgrades.required_approvals.unwrap_or(1),
            last_report: last_report.clone(),
            events: AdminApi::events_for(&client, &me),
        }));
        tracing::info!("dashboard on at / (the admin API's token checks apply)");
        app = app.merge(dashboard::routes(config.api.anonymous_read));
    }
    let decisions = slack.is_some();
    let slack_web = slack.as_ref().map(|s| s.web.clone());
    if let Some(slack) = slack {
        tracing::info!(
            "Slack approvals on: {} approval(s) needed{}",
            slack.required_approvals,
            if slack.signing_secret.is_some() {
                format!(", interactivity at {}", interactions::PATH)
            } else {
                String::new()
            }
        );
        let socket = slack
            .app_token
            .clone()
            .map(|token| SocketMode::new(slack.web.clone(), token));
        let approvals = Arc::new(SlackApprovals::new(slack, client.clone()));
        if let Some(socket) = socket {
            tracing::info!("Slack approvals through Socket Mode");
            let approvals = approvals.clone();
            let stop = shutdown.begun_owned();
            tokio::spawn(async move {
                let handle = move |payload| {
                    let approvals = approvals.clone();
                    async move { approvals.decide_payload(payload).await }
                };
                socket.run(handle, stop).await;
            });
        }
        if approvals.settings().signing_secret.is_some() {
            app = app.merge(interactions::routes(approvals));
        }
    }
    let cannot_listen = |source| RunError::Listen {
        address: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(cannot_listen)?;
    tracing::info!(
        "serving the image-watcher API, /healthz, /readyz and /metrics on {}",
        listener.local_addr().map_err(cannot_listen)?
    );
    let server = tokio::spawn(server::serve(listener, app, shutdown.begun_owned()));

    // The watches keep the inventory live.
    let selector = server_selector(
        config.selector.as_deref().unwrap_or_default(),
        &config.services,
    );
    let inventory = WatchedInventory::start(
        &client,
        &config.namespaces,
        Some(&selector),
        supply.needs_running_digests(),
    );

    // Leader election: only the leader scans, notifies and upgrades.
    let leadership = Leadership::start(&client, lease_config(&config, &namespace, &me), &shutdown);

    // Upgrades: ImageUpgrades from each scan, and the upgrader applying approved ones.
    let announcer = crate::upgrade::Announcer::new(
        notifiers.clone(),
        events.then(|| (client.clone(), me.clone())),
    )
    .with_decisions(decisions)
    .with_slack_threads(slack_web);
    let upgrader = upgrades::upgrader(
        upgrades,
        dry_run,
        &client,
        announcer,
        &config.namespaces,
        Arc::new(upgrades::SignatureGate {
            source: source.clone(),
            policy: supply.clone(),
        }),
        git,
    );
    let upgrader_task = upgrader.clone().and_then(|upgrader| {
        upgrades::spawn_passes(
            upgrader,
            metrics.clone(),
            leadership.leading.clone(),
            shutdown.clone(),
        )
    });

    // The worker: scans and notifies while leading, until shutdown.
    let state_store = StateStore::new(
        client.clone(),
        &namespace,
        config
            .state
            .config_map
            .as_deref()
            .unwrap_or(DEFAULT_CONFIG_MAP),
    );
    Worker {
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
        supply: &supply,
        helm_releases: config.helm.read_releases.then_some(&cluster),
    }
    .run(leadership.leading.clone())
    .await;

    // Whatever the endpoints and the API server do, the teardown is bounded.
    let teardown = async {
        if let Some(task) = upgrader_task {
            let _ = task.await;
        }
        inventory.shutdown();
        let election = leadership.finish().await;
        let _ = server.await;
        election
    };
    match tokio::time::timeout(SHUTDOWN_TEARDOWN, teardown).await {
        Ok(election) => Ok(election?),
        Err(_) => {
            tracing::warn!(
                "shutdown: teardown took longer than {}s; exiting anyway (an unreleased Lease expires after its duration)",
                SHUTDOWN_TEARDOWN.as_secs()
            );
            Ok(())
        }
    }
}
