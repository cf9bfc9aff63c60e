//! Who this replica is and where it keeps its things.
//!
//! In: the pod's environment (`POD_NAME`, `HOSTNAME`, `POD_NAMESPACE`, the service account's
//! namespace file) and `state.namespace`. Out: the name the Lease and Events carry, and the
//! namespace of the Lease and the state ConfigMap.

use kube::Client;

use crate::config::Config;

/// This replica's name: the pod name (`POD_NAME`, else `HOSTNAME`), for the Lease and Events.
pub fn identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("ml-operator-{}", std::process::id()))
}

/// The namespace the operator keeps its Lease and state in: `state.namespace`, else the pod's
/// own namespace, else the client's default.
pub fn own_namespace(config: &Config, client: &Client) -> String {
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
