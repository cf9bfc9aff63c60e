//! [`LeaderState`]: what the elector publishes on its `tokio::sync::watch` channel.

/// This replica's view of the election, as published by [`LeaderElector::subscribe`](crate::LeaderElector::subscribe).
///
/// Do leader-only work (scan, notify, patch) only while the state is [`Leading`](Self::Leading),
/// and stop it as soon as the state changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LeaderState {
    /// This replica holds the Lease and has renewed it within the renew deadline.
    Leading,
    /// Another replica holds the Lease (`Some(identity)`), or nobody holds it and this replica
    /// has not acquired it yet (`None`).
    Following {
        /// The current holder's identity, if any.
        holder: Option<String>,
    },
    /// Not known: before the first successful read of the Lease, after stepping down because the
    /// API server could not be reached within the renew deadline, and once the elector stopped
    /// (shutdown, fatal error, or its task was dropped).
    #[default]
    Unknown,
}

impl LeaderState {
    /// Whether this replica is the leader.
    pub fn is_leading(&self) -> bool {
        matches!(self, LeaderState::Leading)
    }
}

impl std::fmt::Display for LeaderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaderState::Leading => f.write_str("leading"),
            LeaderState::Following { holder: Some(h) } => write!(f, "following {h}"),
            LeaderState::Following { holder: None } => f.write_str("following (no holder)"),
            LeaderState::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_is_leading() {
        assert!(LeaderState::Leading.is_leading());
        assert!(!LeaderState::Unknown.is_leading());
        assert_eq!(
            LeaderState::Following {
                holder: Some("pod-b".into())
            }
            .to_string(),
            "following pod-b"
        );
        assert_eq!(
            LeaderState::Following { holder: None }.to_string(),
            "following (no holder)"
        );
        assert_eq!(LeaderState::default(), LeaderState::Unknown);
    }
}
