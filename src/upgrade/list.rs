//! Listing ImageUpgrades where the operator works.
//!
//! In: a client and the namespaces the operator watches (none: all of them). Out: every
//! ImageUpgrade there, in the order the API server lists them, or a [`ListError`] naming the
//! namespace whose list failed. Both the [proposals](mod@super::propose) and the
//! [upgrader](super::upgrader) start from this list.

use kube::Client;
use kube::api::{Api, ListParams};

use super::crd::ImageUpgrade;

/// The ImageUpgrades could not be listed; names the namespace (`None`: all namespaces).
#[derive(Debug, thiserror::Error)]
#[error("listing ImageUpgrades{}: {source}", in_namespace(namespace.as_deref()))]
pub struct ListError {
    /// The namespace listed, `None` for all namespaces.
    pub namespace: Option<String>,
    /// The client error.
    #[source]
    pub source: kube::Error,
}

fn in_namespace(namespace: Option<&str>) -> String {
    namespace.map(|ns| format!(" in {ns}")).unwrap_or_default()
}

/// Every ImageUpgrade in `namespaces` (empty: in all namespaces).
pub async fn list(client: &Client, namespaces: &[String]) -> Result<Vec<ImageUpgrade>, ListError> {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    };
    let mut all = Vec::new();
    for scope in scopes {
        let api: Api<ImageUpgrade> = match scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|source| ListError {
                namespace: scope.map(str::to_string),
                source,
            })?;
        all.extend(list.items);
    }
    Ok(all)
}
