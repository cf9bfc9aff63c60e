//! [`LeaderElector`]: the acquire/renew loop (client-go's `tryAcquireOrRenew`), step-down on a
//! missed renew deadline, and release on shutdown.

use crate::config::JITTER_FACTOR;
use crate::error::describe;
use crate::lease_api::{Failure, LeaseApi};
use crate::publisher::Publisher;
use crate::record::{Observed, Record};
use crate::{Error, LeaderState, LeaseConfig};
use k8s_openapi::jiff::Timestamp;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// Contends for one Lease and publishes whether this replica leads.
///
/// Create it with [`new`](Self::new), take receivers with [`subscribe`](Self::subscribe), then
/// spawn [`run`](Self::run). Do leader-only work only while the state is
/// [`LeaderState::Leading`] and stop it when the state changes.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let _ = rustls::crypto::ring::default_provider().install_default();
/// # let sim = kube_sim::KubeSim::builder().start().await?;
/// # let client = kube::Client::try_from(kube::Config::new(sim.url().parse()?))?;
/// use ml_operator_leader::{LeaderElector, LeaderState, LeaseConfig};
///
/// let elector = LeaderElector::new(client, LeaseConfig::new("default", "ml-operator-leader", "pod-a"));
/// let mut state = elector.subscribe();
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let task = tokio::spawn(elector.run(async { let _ = stopped.await; }));
///
/// state.wait_for(LeaderState::is_leading).await?; // the Lease was free: we lead at once
/// stop.send(()).ok();
/// task.await??; // releases the Lease
/// assert_eq!(*state.borrow(), LeaderState::Unknown);
/// # Ok(()) }
/// ```
pub struct LeaderElector {
    api: LeaseApi,
    config: LeaseConfig,
    state: Publisher,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .field("state", &self.state.get())
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for the Lease in `config`, talking to the API server through `client`.
    /// Nothing is sent until [`run`](Self::run).
    pub fn new(client: kube::Client, config: LeaseConfig) -> LeaderElector {
        LeaderElector {
            api: LeaseApi::new(client, &config),
            config,
            state: Publisher::new(),
        }
    }

    /// A receiver of this replica's [`LeaderState`] (starts at `Unknown`). After `run` ends,
    /// or its task is dropped, the state is `Unknown` and the channel is closed.
    pub fn subscribe(&self) -> watch::Receiver<LeaderState> {
        self.state.subscribe()
    }

    /// The configuration this elector uses.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Contends for the Lease until `shutdown` resolves, keeping the state channel up to date.
    ///
    /// On shutdown the state becomes `Unknown` first (so leader work stops), then, if this
    /// replica holds the Lease, it is released (`holderIdentity` emptied, duration 1 s) so a
    /// successor takes over at once. Transient API errors are retried; returns `Err` only for
    /// an invalid config, a missing RBAC grant (403) or a request the server rejects as invalid.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        self.config.validate()?;
        let mut election = Election {
            api: self.api,
            config: self.config,
            state: self.state,
            observed: None,
            renewed_at: None,
        };
        info!(lease = %election.config.lease_ref(), identity = %election.config.identity, "leader election started");
        let fatal = {
            let mut shutdown = std::pin::pin!(shutdown);
            tokio::select! {
                biased;
                () = &mut shutdown => None,
                e = election.campaign() => Some(e),
            }
        };
        election.stop_leading();
        match fatal {
            Some(e) => {
                error!(lease = %election.config.lease_ref(), error = %e, "leader election stopped");
                Err(e)
            }
            None => election.release().await,
        }
    }
}

/// The result of one acquire-or-renew attempt.
#[derive(Debug)]
enum Attempt {
    /// We hold the Lease (acquired, created or renewed).
    Holding,
    /// Another replica holds a Lease that has not expired.
    HeldBy(String),
    /// We lost a race for the Lease; nobody else is known to hold it. Try again next period.
    Lost,
    /// The API server could not be reached or failed; try again next period.
    Unavailable(String),
}

/// The running election's state.
struct Election {
    api: LeaseApi,
    config: LeaseConfig,
    state: Publisher,
    /// The Lease as last read or written.
    observed: Option<Observed>,
    /// While leading: when the last successful renewal was *sent* (the server committed it
    /// no earlier), so the renew deadline is measured conservatively.
    renewed_at: Option<Instant>,
}

impl Election {
    /// Attempts every retry period until a fatal error.
    async fn campaign(&mut self) -> Error {
        loop {
            let started = Instant::now();
            let limit = match self.renewed_at {
                Some(t) => (t + self.config.renew_deadline).saturating_duration_since(started),
                None => self.config.renew_deadline,
            };
            let attempt = match tokio::time::timeout(limit, self.try_acquire_or_renew()).await {
                Ok(Ok(a)) => a,
                Ok(Err(e)) => return e,
                Err(_) => {
                    Attempt::Unavailable(format!("no answer from the API server within {limit:?}"))
                }
            };
            self.apply(attempt, started);
            tokio::time::sleep(self.next_delay()).await;
        }
    }

    /// Leader renews every retry period; candidates wait a jittered period (client-go's
    /// `JitterUntil` with factor 1.2) so they don't all hit the API server at once.
    fn next_delay(&self) -> Duration {
        let period = self.config.retry_period;
        if self.renewed_at.is_some() {
            period
        } else {
            period.mul_f64(1.0 + rand::random::<f64>() * JITTER_FACTOR)
        }
    }

    /// Updates the published state from one attempt and logs transitions.
    fn apply(&mut self, attempt: Attempt, started: Instant) {
        let lease = self.config.lease_ref();
        match attempt {
            Attempt::Holding => {
                if self.renewed_at.is_none() {
                    info!(%lease, identity = %self.config.identity, "became leader");
                }
                self.renewed_at = Some(started);
                self.state.set(LeaderState::Leading);
            }
            Attempt::HeldBy(holder) => {
                if self.renewed_at.take().is_some() {
                    info!(%lease, %holder, "lost leadership to {holder}");
                }
                self.state.set(LeaderState::Following {
                    holder: Some(holder),
                });
            }
            Attempt::Lost => {
                if self.renewed_at.is_some() {
                    self.check_renew_deadline("the Lease changed while renewing it");
                } else {
                    self.state.set(LeaderState::Following { holder: None });
                }
            }
            Attempt::Unavailable(why) => {
                warn!(%lease, error = %why, "leader election: cannot reach the Lease; retrying");
                self.check_renew_deadline(&why);
            }
        }
    }

    /// While leading: steps down if no renewal succeeded within the renew deadline.
    fn check_renew_deadline(&mut self, why: &str) {
        if let Some(t) = self.renewed_at
            && t.elapsed() >= self.config.renew_deadline
        {
            warn!(lease = %self.config.lease_ref(), renew_deadline = ?self.config.renew_deadline, error = %why, "stepping down: could not renew the lease within the renew deadline");
            self.renewed_at = None;
            self.state.set(LeaderState::Unknown);
        }
    }

    /// Stops leading (state `Unknown`) before anything else happens on shutdown or error.
    fn stop_leading(&mut self) {
        if self.renewed_at.take().is_some() {
            info!(lease = %self.config.lease_ref(), "stopped leading");
        }
        self.state.set(LeaderState::Unknown);
    }

    /// Whether `record` names this replica.
    fn is_ours(&self, record: &Record) -> bool {
        record.holder == self.config.identity
    }

    /// client-go's `tryAcquireOrRenew`: fast-path renewal, then read-or-create, then take over a
    /// free or expired Lease (or renew our own) with an optimistic-concurrency replace.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, Error> {
        let secs = self.config.lease_duration_seconds();

        // 1. Fast path: the leader replaces the Lease as it last wrote it, without reading.
        if self.renewed_at.is_some()
            && let Some(obs) = &self.observed
            && self.is_ours(&obs.record)
            && obs.is_valid(Instant::now())
        {
            let record = obs.record.renewed(secs, Timestamp::now());
            match self.api.replace(&obs.lease, &record).await {
                Ok(lease) => {
                    self.observed = Some(Observed::written(lease, Instant::now()));
                    return Ok(Attempt::Holding);
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Conflict) => {
                    debug!(lease = %self.config.lease_ref(), "lease changed since our last renewal; re-reading")
                }
                Err(Failure::Transient(e)) => {
                    debug!(lease = %self.config.lease_ref(), error = %describe(&e), "renewal failed; re-reading")
                }
            }
        }

        // 2. Read the Lease, or create it holding ourselves.
        let lease = match self.api.get().await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let record = Record::acquired(&self.config.identity, secs, Timestamp::now(), 0);
                return match self.api.create(&record).await {
                    Ok(lease) => {
                        self.observed = Some(Observed::written(lease, Instant::now()));
                        Ok(Attempt::Holding)
                    }
                    Err(failure) => self.after_failed_write(failure).await,
                };
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Conflict) => return Ok(Attempt::Lost),
            Err(Failure::Transient(e)) => return Ok(Attempt::Unavailable(describe(&e))),
        };

        // 3. Observe it; a Lease another replica holds and has not let expire is left alone.
        let now = Instant::now();
        let obs = Observed::observe(self.observed.as_ref(), lease, now);
        let ours = self.is_ours(&obs.record);
        if let Some(holder) = obs.record.holder().filter(|_| !ours && obs.is_valid(now)) {
            let holder = holder.to_string();
            self.observed = Some(obs);
            return Ok(Attempt::HeldBy(holder));
        }

        // 4. Renew our own Lease, or take over a free or expired one (one more transition).
        let record = if ours {
            obs.record.renewed(secs, Timestamp::now())
        } else {
            Record::acquired(
                &self.config.identity,
                secs,
                Timestamp::now(),
                obs.record.transitions.saturating_add(1),
            )
        };
        let written = self.api.replace(&obs.lease, &record).await;
        self.observed = Some(obs);
        match written {
            Ok(lease) => {
                self.observed = Some(Observed::written(lease, Instant::now()));
                Ok(Attempt::Holding)
            }
            Err(failure) => self.after_failed_write(failure).await,
        }
    }

    /// A create or replace failed. A conflict means another replica won: read the Lease to
    /// learn who. Nothing here is an error except fatal answers.
    async fn after_failed_write(&mut self, failure: Failure) -> Result<Attempt, Error> {
        match failure {
            Failure::Fatal(e) => Err(e),
            Failure::Transient(e) => Ok(Attempt::Unavailable(describe(&e))),
            Failure::Conflict => {
                debug!(lease = %self.config.lease_ref(), "lost a write race for the lease; re-reading");
                match self.api.get().await {
                    Ok(Some(lease)) => {
                        let obs = Observed::observe(self.observed.as_ref(), lease, Instant::now());
                        let holder = obs
                            .record
                            .holder()
                            .filter(|_| !self.is_ours(&obs.record))
                            .map(str::to_string);
                        self.observed = Some(obs);
                        Ok(holder.map_or(Attempt::Lost, Attempt::HeldBy))
                    }
                    Ok(None) | Err(Failure::Conflict) => Ok(Attempt::Lost),
                    Err(Failure::Fatal(e)) => Err(e),
                    Err(Failure::Transient(e)) => Ok(Attempt::Unavailable(describe(&e))),
                }
            }
        }
    }

    /// client-go's `ReleaseOnCancel`: if the Lease (freshly read) still names us, empty the
    /// holder, set a 1 s duration and renew time now. Bounded by the release timeout (and the
    /// renew deadline, if shorter); if it cannot be done, the Lease simply expires after its
    /// duration.
    async fn release(&mut self) -> Result<(), Error> {
        if !self
            .observed
            .as_ref()
            .is_some_and(|o| self.is_ours(&o.record))
        {
            return Ok(());
        }
        let deadline = self.config.release_timeout.min(self.config.renew_deadline);
        match tokio::time::timeout(deadline, self.release_until_done()).await {
            Ok(r) => r,
            Err(_) => {
                warn!(lease = %self.config.lease_ref(), timeout = ?deadline, "could not release the lease in time; it expires after its duration");
                Ok(())
            }
        }
    }

    async fn release_until_done(&mut self) -> Result<(), Error> {
        let lease_ref = self.config.lease_ref();
        loop {
            let lease = match self.api.get().await {
                Ok(Some(lease)) => lease,
                Ok(None) => return Ok(()),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Conflict) => continue,
                Err(Failure::Transient(e)) => {
                    warn!(lease = %lease_ref, error = %describe(&e), "releasing the lease failed; retrying");
                    tokio::time::sleep(self.config.retry_period).await;
                    continue;
                }
            };
            let record = Record::from_lease(&lease);
            if !self.is_ours(&record) {
                debug!(lease = %lease_ref, holder = %record.holder, "lease no longer ours; nothing to release");
                return Ok(());
            }
            match self
                .api
                .replace(&lease, &record.released(Timestamp::now()))
                .await
            {
                Ok(lease) => {
                    info!(lease = %lease_ref, "released lease");
                    self.observed = Some(Observed::written(lease, Instant::now()));
                    return Ok(());
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Conflict) => continue,
                Err(Failure::Transient(e)) => {
                    warn!(lease = %lease_ref, error = %describe(&e), "releasing the lease failed; retrying");
                    tokio::time::sleep(self.config.retry_period).await;
                }
            }
        }
    }
}
