//! The upgrade stage in operator mode: the [`crate::upgrade`] controller, started while leading.
//!
//! In: the checked `upgrades:` settings, the notifiers (for announcements), each scan's
//! report, whether this replica leads, and the [`Shutdown`]. Out: ImageUpgrades proposed and
//! superseded after each scan, and the controller's passes on its own interval (or, in a dry
//! run, once after each scan), all logged.

use std::sync::Arc;

use chrono::Utc;
use kube::Client;
use ml_operator_notify::Notifier;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::operator::shutdown::Shutdown;
use crate::scan::Report;
use crate::upgrade::{Announcer, Controller, UpgradeSettings};

/// The upgrade controller, when upgrades are enabled; logs what it will do. `events` is the
/// client and reporting instance for announcement Events, when Events are on.
pub fn controller(
    settings: Option<UpgradeSettings>,
    dry_run: bool,
    client: &Client,
    notifiers: &[Arc<dyn Notifier>],
    events: Option<(Client, String)>,
    namespaces: &[String],
) -> Option<Arc<Controller>> {
    let Some(mut settings) = settings else {
        if dry_run {
            tracing::info!(
                "dry run: upgrades are not enabled, so there is nothing to apply anyway"
            );
        }
        return None;
    };
    settings.dry_run = dry_run;
    let announcer = Announcer::new(notifiers.to_vec(), events);
    tracing::info!(
        "upgrades enabled{}: auto-approve {}, at most {} at once, rollout timeout {}",
        if dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        },
        settings.policy.default,
        settings.max_concurrent,
        crate::config::duration::format(settings.rollout_timeout)
    );
    Some(Arc::new(Controller::new(
        client.clone(),
        settings,
        announcer,
        namespaces.to_vec(),
    )))
}

/// Runs the controller's passes on its own interval while leading (rollouts need watching
/// between scans), until shutdown. In a dry run nothing advances, so nothing is started: the
/// worker runs a pass after each scan instead ([`propose`]). A pass cut short by shutdown is
/// safe: each step is recorded on the ImageUpgrade before it is taken, so the next leader
/// carries on from there.
pub fn spawn_passes(
    controller: Arc<Controller>,
    mut leading: watch::Receiver<bool>,
    shutdown: Shutdown,
) -> Option<JoinHandle<()>> {
    if controller.settings().dry_run {
        return None;
    }
    Some(tokio::spawn(async move {
        let interval = controller.settings().interval;
        loop {
            if shutdown.unless(leading.wait_for(|l| *l)).await.is_none() {
                return;
            }
            match shutdown.unless(controller.pass(Utc::now())).await {
                None => return,
                Some(Err(e)) => tracing::error!("upgrades: {e}"),
                Some(Ok(_)) => {}
            }
            if shutdown
                .unless(tokio::time::sleep(interval))
                .await
                .is_none()
            {
                return;
            }
        }
    }))
}

/// Creates and supersedes ImageUpgrades for a scan's findings; in a dry run, also shows what
/// the controller would do next.
pub async fn propose(controller: &Controller, report: &Report, namespaces: &[String]) {
    let dry_run = controller.settings().dry_run;
    match crate::upgrade::sync(controller.client(), report, namespaces, Utc::now(), dry_run).await {
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
    if dry_run && let Err(e) = controller.pass(Utc::now()).await {
        tracing::error!("upgrades: {e}");
    }
}
