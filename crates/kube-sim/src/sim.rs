//! The shared simulator state every part of the server works on.

use crate::controller::{ControllerConfig, Hooks};
use crate::faults::Faults;
use crate::store::Store;
use std::time::Duration;

/// Server settings fixed at start.
#[derive(Clone)]
pub(crate) struct ServerConfig {
    /// Interval between BOOKMARK events on watches that asked for them.
    pub bookmark_interval: Duration,
    /// Bearer token accepted (a request with another token gets 401; none is allowed).
    pub token: String,
}

/// Store, faults, hooks and settings.
#[derive(Debug)]
pub(crate) struct Sim {
    /// All objects and the event history.
    pub store: Store,
    /// Fault injection and request counters.
    pub faults: Faults,
    /// Rollout failure hooks.
    pub hooks: Hooks,
    /// Controller settings.
    pub controller: ControllerConfig,
    /// HTTP settings.
    pub server: ServerConfig,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bookmark_interval", &self.bookmark_interval)
            .field("token", &"<redacted>")
            .finish()
    }
}
