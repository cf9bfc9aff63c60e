//! What each notifier was last told, kept in a ConfigMap so a restart, a rescheduled pod or a
//! new leader does not send the same news again.
//!
//! In: the [`NotifiedState`] after a round of deliveries. Out: the same state read back on the
//! next leader's first scan, or a [`StateError`] naming the ConfigMap.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use ml_operator_notify::{Alert, Update};
use serde::{Deserialize, Serialize};

/// The ConfigMap key holding the JSON state.
const KEY: &str = "notified.json";

/// The default name of the state ConfigMap (`state.configMap`).
pub const DEFAULT_CONFIG_MAP: &str = "ml-operator-state";

/// The state ConfigMap could not be read or written; names it (`namespace/name`).
#[derive(Debug, thiserror::Error)]
#[error("state ConfigMap {namespace}/{name}: {source}")]
pub struct StateError {
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// What one notifier was last told, and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// The pending updates it was told about.
    pub updates: Vec<Update>,
    /// The supply-chain alerts it was told about that still stood then.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// When (for reminders).
    pub at: Option<DateTime<Utc>>,
}

/// The notified state of every notifier, by notifier name.
pub type NotifiedState = BTreeMap<String, Delivered>;

/// Reads and writes the state ConfigMap.
#[derive(Clone)]
pub struct StateStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
}

impl StateStore {
    /// A store for ConfigMap `name` in `namespace`.
    pub fn new(client: Client, namespace: &str, name: &str) -> StateStore {
        StateStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The state, empty when the ConfigMap does not exist yet. A ConfigMap someone broke by
    /// hand is reported and treated as empty rather than stopping the operator.
    pub async fn load(&self) -> Result<NotifiedState, StateError> {
        match self.api.get_opt(&self.name).await {
            Ok(None) => Ok(NotifiedState::new()),
            Ok(Some(config_map)) => {
                let text = config_map
                    .data
                    .and_then(|mut d| d.remove(KEY))
                    .unwrap_or_default();
                if text.is_empty() {
                    return Ok(NotifiedState::new());
                }
                Ok(serde_json::from_str(&text).unwrap_or_else(|e| {
                    tracing::warn!(
                        "ConfigMap {}/{} key {KEY} is not valid state ({e}); starting afresh",
                        self.namespace,
                        self.name
                    );
                    NotifiedState::new()
                }))
            }
            Err(e) => Err(self.describe(e)),
        }
    }

    /// Writes the state (creating the ConfigMap if needed).
    pub async fn save(&self, state: &NotifiedState) -> Result<(), StateError> {
        let text = serde_json::to_string(state).expect("the notified state always serializes");
        let patch = serde_json::json!({"data": {KEY: text}});
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                let config_map = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        labels: Some(
                            [(
                                "app.kubernetes.io/managed-by".to_string(),
                                "ml-operator".to_string(),
                            )]
                            .into(),
                        ),
                        ..ObjectMeta::default()
                    },
                    data: Some([(KEY.to_string(), text)].into()),
                    ..ConfigMap::default()
                };
                self.api
                    .create(&PostParams::default(), &config_map)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.describe(e))
            }
            Err(e) => Err(self.describe(e)),
        }
    }

    /// `source`, naming this store's ConfigMap.
    fn describe(&self, source: kube::Error) -> StateError {
        StateError {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }
}
