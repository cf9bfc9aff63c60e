//! Publishes [`LeaderState`] on a `tokio::sync::watch` channel, notifying only real changes,
//! and resets it to `Unknown` when the elector goes away (even if its task is aborted), so a
//! caller never keeps seeing `Leading` from an elector that no longer renews.

use crate::LeaderState;
use tokio::sync::watch;

/// The sending side of the state channel.
#[derive(Debug)]
pub(crate) struct Publisher {
    tx: watch::Sender<LeaderState>,
}

impl Publisher {
    /// A channel starting at [`LeaderState::Unknown`].
    pub fn new() -> Self {
        Publisher {
            tx: watch::channel(LeaderState::Unknown).0,
        }
    }

    /// A new receiver.
    pub fn subscribe(&self) -> watch::Receiver<LeaderState> {
        self.tx.subscribe()
    }

    /// The current state.
    pub fn get(&self) -> LeaderState {
        self.tx.borrow().clone()
    }

    /// Sets the state; receivers are woken only if it changed.
    pub fn set(&self, state: LeaderState) {
        self.tx.send_if_modified(|cur| {
            if *cur == state {
                false
            } else {
                tracing::debug!(from = %cur, to = %state, "leader election state");
                *cur = state;
                true
            }
        });
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.set(LeaderState::Unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_notify_and_drop_resets_to_unknown() {
        let p = Publisher::new();
        let mut rx = p.subscribe();
        p.set(LeaderState::Unknown);
        assert!(!rx.has_changed().expect("open"));
        p.set(LeaderState::Leading);
        assert!(rx.has_changed().expect("open"));
        assert_eq!(*rx.borrow_and_update(), LeaderState::Leading);
        p.set(LeaderState::Leading);
        assert!(!rx.has_changed().expect("open"));
        drop(p);
        assert_eq!(*rx.borrow(), LeaderState::Unknown);
    }
}
