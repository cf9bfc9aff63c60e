//! The upgrade stage in operator mode: the [`crate::upgrade`] upgrader, started while leading.
//!
//! In: the checked `upgrades:` settings, the notifiers (for announcements), each scan's
//! report, whether this replica leads, and the [`Shutdown`]. Out: v1alpha1 ImageUpgrades left
//! by an older ml-operator ended once when this replica starts leading; ImageUpgrade groups
//! proposed, updated and superseded after each scan; and the upgrader's passes on its own
//! interval (or, in a dry run, once after each scan), all logged.

use std::sync::Arc;

use chrono::Utc;
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use futures::future::BoxFuture;

use crate::deliver::git::GitRepository;
use crate::inventory::ImageRef;
use crate::operator::metrics::Metrics;
use crate::operator::shutdown::Shutdown;
use crate::scan::Report;
use crate::tags::TagSource;
use crate::tags::supply::SupplyPolicy;
use crate::upgrade::{Announcer, TargetVerifier, Unverified, UpgradeSettings, Upgrader};

/// The signature check right before an upgrade is applied (`registries[].verify`), through
/// the scans' tag source and its registry client.
pub struct SignatureGate {
    /// Where the registries are asked.
    pub source: Arc<TagSource>,
    /// Which registries verify, with which keys.
    pub policy: SupplyPolicy,
}

impl TargetVerifier for SignatureGate {
    fn verify<'a>(&'a self, target_image: &'a str) -> BoxFuture<'a, Result<(), Unverified>> {
        Box::pin(async move {
            let image = ImageRef::parse(target_image).map_err(|e| Unverified(e.to_string()))?;
            self.source
                .verify_target(&image, &self.policy)
                .await
                .map_err(|e| Unverified(e.to_string()))
        })
    }
}

/// The upgrade upgrader, when upgrades are enabled; logs what it will do. `announcer` tells
/// people (and records Events) about proposals and outcomes; `verifier` checks each target's
/// signature before it is applied; `git` delivers the groups whose delivery is `git`.
pub fn upgrader(
    settings: Option<UpgradeSettings>,
    dry_run: bool,
    client: &Client,
    announcer: Announcer,
    namespaces: &[String],
    verifier: Arc<dyn TargetVerifier>,
    git: Option<Arc<GitRepository>>,
) -> Option<Arc<Upgrader>> {
    let Some(mut settings) = settings else {
        if dry_run {
            tracing::info!(
                "dry run: upgrades are not enabled, so there is nothing to apply anyway"
            );
        }
        return None;
    };
    settings.dry_run = dry_run;
    tracing::info!(
        "upgrades enabled{}: auto-approve {}, at most {} groups at once, {} workloads of a group at once after the first, on failure {}, rollout timeout {}",
        if dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        },
        settings.policy.default,
        settings.max_concurrent,
        settings.group_concurrency,
        settings.on_failure,
        crate::config::duration::format(settings.rollout_timeout)
    );
    if let Some(git) = &git {
        let s = git.settings();
        tracing::info!(
            "git delivery: {} on {}, files {}, {}",
            s.url,
            s.branch,
            s.paths.join(", "),
            match &s.pull_request {
                Some(pr) => format!(
                    "a {} pull request into {} for each group",
                    pr.provider, pr.base_branch
                ),
                None => format!("pushed to {} directly", s.branch),
            }
        );
    }
    let mut upgrader = Upgrader::new(client.clone(), settings, announcer, namespaces.to_vec())
        .with_verifier(verifier);
    if let Some(git) = git {
        upgrader = upgrader.with_git(git);
    }
    Some(Arc::new(upgrader))
}

/// Runs the upgrader's passes on its own interval while leading (rollouts need watching
/// between scans), until shutdown. In a dry run nothing advances, so nothing is started: the
/// worker runs a pass after each scan instead ([`propose`]). A pass cut short by shutdown is
/// safe: each step is recorded on the ImageUpgrade before it is taken, so the next leader
/// carries on from there.
pub fn spawn_passes(
    upgrader: Arc<Upgrader>,
    metrics: Metrics,
    mut leading: watch::Receiver<bool>,
    shutdown: Shutdown,
) -> Option<JoinHandle<()>> {
    if upgrader.settings().dry_run {
        return None;
    }
    Some(tokio::spawn(async move {
        let interval = upgrader.settings().interval;
        let mut legacy_done = false;
        loop {
            if shutdown.unless(leading.wait_for(|l| *l)).await.is_none() {
                return;
            }
            if !legacy_done {
                match shutdown.unless(end_v1alpha1(&upgrader)).await {
                    None => return,
                    Some(done) => legacy_done = done,
                }
            }
            match shutdown.unless(upgrader.step_each(Utc::now())).await {
                None => return,
                Some(Err(e)) => tracing::error!("upgrades: {e}"),
                Some(Ok(_)) => metrics.record_upgrades(&upgrader.phase_counts()),
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

/// Ends the v1alpha1 ImageUpgrades an older ml-operator left (logged); `false` when they could
/// not be listed or written, to try again on the next pass.
async fn end_v1alpha1(upgrader: &Upgrader) -> bool {
    let dry_run = upgrader.settings().dry_run;
    match crate::upgrade::supersede_v1alpha1(
        upgrader.client(),
        upgrader.namespaces(),
        Utc::now(),
        dry_run,
    )
    .await
    {
        Ok(ended) => {
            if !ended.is_empty() {
                tracing::info!(
                    "{}ended {} v1alpha1 ImageUpgrades left by an older ml-operator (their moves are proposed again as groups): {}",
                    if dry_run { "dry run: would have " } else { "" },
                    ended.len(),
                    ended.join(", ")
                );
            }
            true
        }
        Err(e) => {
            tracing::error!("upgrades: {e}");
            false
        }
    }
}

/// Creates, updates and supersedes ImageUpgrade groups for a scan's findings; in a dry run,
/// also shows what the upgrader would do next.
pub async fn propose(upgrader: &Upgrader, report: &Report, namespaces: &[String]) {
    let dry_run = upgrader.settings().dry_run;
    match crate::upgrade::propose(upgrader.client(), report, namespaces, Utc::now(), dry_run).await
    {
        Ok(done) => {
            let prefix = if dry_run { "dry run: would have " } else { "" };
            for id in &done.created {
                tracing::info!("{prefix}proposed ImageUpgrade {id}");
            }
            for id in &done.updated {
                tracing::info!("{prefix}updated the workloads of ImageUpgrade {id}");
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
    if dry_run {
        end_v1alpha1(upgrader).await;
        if let Err(e) = upgrader.step_each(Utc::now()).await {
            tracing::error!("upgrades: {e}");
        }
    }
}
