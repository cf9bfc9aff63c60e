//! Leader election between replicas: only the leader scans, notifies and upgrades.
//!
//! In: `leaderElection:` (the Lease's name and timings), the namespace and this replica's
//! identity. Out: [`Leadership`] — whether this replica leads, as a state channel, and the
//! elector's outcome at teardown ([`ElectionError`] when it stopped for good).

use kube::Client;
use ml_operator_leader::{LeaderElector, LeaderState, LeaseConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::operator::shutdown::Shutdown;

/// The default name of the leader election Lease.
pub const DEFAULT_LEASE_NAME: &str = "ml-operator";

/// Why leader election stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// The elector gave up (missing RBAC, a Lease the API server rejects); names the Lease.
    #[error("leader election: {0}")]
    Failed(#[source] ml_operator_leader::Error),
    /// The elector's task panicked or was aborted.
    #[error("leader election task: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// The Lease this replica contends for, or `None` when leader election is off.
pub fn lease_config(config: &Config, namespace: &str, identity: &str) -> Option<LeaseConfig> {
    let leader = &config.leader_election;
    if !leader.enabled.unwrap_or(true) {
        return None;
    }
    let name = leader.lease_name.as_deref().unwrap_or(DEFAULT_LEASE_NAME);
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

/// This replica's part in the election.
pub struct Leadership {
    /// Whether this replica leads now (always `true` without leader election). The channel
    /// stays open as long as the `Leadership` lives, so waiting on it never fails early.
    pub leading: watch::Receiver<bool>,
    role: Role,
}

/// Who sets [`Leadership::leading`].
enum Role {
    /// No leader election: this replica leads alone, for good. The sender is only held, so
    /// the channel stays open.
    Alone {
        /// Never sent on.
        _sender: watch::Sender<bool>,
    },
    /// The elector, until it stops (at shutdown, or for good on a fatal error).
    Contending(JoinHandle<Result<(), ml_operator_leader::Error>>),
}

impl Leadership {
    /// Contends for `lease` until shutdown (then releases it); without a lease, leads alone. A
    /// fatal election error begins shutdown: nobody would ever lead.
    pub fn start(client: &Client, lease: Option<LeaseConfig>, shutdown: &Shutdown) -> Leadership {
        let (leading_tx, leading) = watch::channel(lease.is_none());
        let Some(lease) = lease else {
            return Leadership {
                leading,
                role: Role::Alone {
                    _sender: leading_tx,
                },
            };
        };
        let elector = LeaderElector::new(client.clone(), lease);
        let mut states = elector.subscribe();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let now_leading = matches!(*states.borrow(), LeaderState::Leading);
                let _ = leading_tx.send(now_leading);
            }
        });
        let shutdown = shutdown.clone();
        let elector = tokio::spawn(async move {
            let result = elector.run(shutdown.begun_owned()).await;
            if result.is_err() {
                shutdown.begin();
            }
            result
        });
        Leadership {
            leading,
            role: Role::Contending(elector),
        }
    }

    /// Waits for the elector to finish (after shutdown began: it releases the Lease first).
    pub async fn finish(self) -> Result<(), ElectionError> {
        match self.role {
            Role::Alone { .. } => Ok(()),
            Role::Contending(task) => match task.await {
                Ok(result) => result.map_err(ElectionError::Failed),
                Err(e) => Err(ElectionError::Task(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Without leader election the replica leads for good: waiting for the loss of leadership
    /// must wait, not fail at once on a closed channel (which made the worker scan back to
    /// back instead of on its schedule).
    #[tokio::test]
    async fn leading_alone_is_never_lost() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let mut leadership = Leadership::start(&client, None, &Shutdown::default());
        assert!(*leadership.leading.borrow());
        let lost = tokio::time::timeout(
            Duration::from_millis(200),
            leadership.leading.wait_for(|leading| !*leading),
        )
        .await
        .map(|ended| ended.map(|_| ()));
        assert!(lost.is_err(), "leadership ended: {lost:?}");
        leadership.finish().await.unwrap();
    }
}
