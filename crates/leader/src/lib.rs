//! Leader election for ml-operator replicas, on a `coordination.k8s.io/v1` Lease, so that only
//! one replica scans, notifies and patches.
//!
//! The semantics are client-go's `leaderelection` (what operators and `kubectl get lease`
//! users expect):
//!
//! - The Lease records `holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`
//!   and `leaseTransitions`. A replica acquires it when it does not exist (create), when
//!   nobody holds it (empty holder), or when it has expired — judged by when *this* replica
//!   last saw the record change, never by `renewTime`, so clock skew between nodes does not
//!   matter. `leaseTransitions` goes up by one whenever the holder changes.
//! - The leader renews every `retry_period`; if no renewal succeeds for `renew_deadline` it
//!   steps down (state leaves [`LeaderState::Leading`]) before anyone else may take over
//!   (`lease_duration` > `renew_deadline`). It also steps down at once if it sees another
//!   holder.
//! - Every write is an optimistic-concurrency replace with the observed `resourceVersion`; a
//!   409 means another replica won and is not an error.
//! - On shutdown the leader releases the Lease (empty holder, 1 s duration, renew time now),
//!   so a successor takes over within one retry period instead of a lease duration.
//! - API unavailability, 5xx and 429 are retried; a 403 is fatal and names the missing RBAC
//!   verb (`get`, `create`, `update` on `leases` in `coordination.k8s.io`).
//!
//! Deviation from client-go: after stepping down the elector keeps running as a candidate
//! (client-go callers usually exit), so a replica that lost the API server for a while can
//! lead again later.
//!
//! # Example
//!
//! ```no_run
//! use ml_operator_leader::{LeaderElector, LeaderState, LeaseConfig};
//!
//! # async fn scan_notify_and_patch_forever() {}
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let pod = std::env::var("POD_NAME")?;
//! let elector = LeaderElector::new(client, LeaseConfig::new("ml-operator", "ml-operator-leader", pod));
//! let mut state = elector.subscribe();
//! let election = tokio::spawn(elector.run(async {
//!     let _ = tokio::signal::ctrl_c().await; // SIGTERM in a pod: see tokio::signal::unix
//! }));
//!
//! loop {
//!     // Wait until we lead; Err means the elector stopped.
//!     if state.wait_for(LeaderState::is_leading).await.is_err() {
//!         break;
//!     }
//!     tokio::select! {
//!         _ = scan_notify_and_patch_forever() => {}
//!         _ = state.wait_for(|s| !s.is_leading()) => {} // lost leadership: stop the work
//!     }
//! }
//! election.await??;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod config;
mod elector;
mod error;
mod lease_api;
mod publisher;
mod record;
mod state;

pub use config::LeaseConfig;
pub use elector::LeaderElector;
pub use error::Error;
pub use state::LeaderState;
