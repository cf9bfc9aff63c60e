//! ImageUpgrades an older ml-operator left in the cluster: v1alpha1 objects, one per
//! container. The CRD still serves v1alpha1 (no conversion webhook is needed: v1alpha2 is the
//! storage version, and nothing writes v1alpha1 any more), so they can be read; on start the
//! operator ends each one that was still waiting — `Superseded`, with a message saying why and
//! what replaces it — and the next scan proposes the same moves as v1alpha2 groups. The
//! approval of an old object does not carry over (as for any superseded proposal). One that
//! was `Applying` is marked `Failed`: its rollout is no longer watched, and the message says to
//! check it. Final ones stay as they are, as a record.
//!
//! In: a client, the namespaces (none: all) and `now`. Out: the `namespace/name` of each object
//! ended, or a [`LegacyError`] naming the object (or namespace) that could not be read or written.

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::crd::{HistoryEntry, Phase};
use super::group::has_registry_host;
use super::names;
use super::v1alpha1::API_VERSION;

/// A v1alpha1 object could not be listed or ended; names it (or the namespace listed).
#[derive(Debug, thiserror::Error)]
#[error("{action} v1alpha1 ImageUpgrade{}: {source}", if what.is_empty() { String::new() } else { format!(" {what}") })]
pub struct LegacyError {
    /// What was being done.
    action: &'static str,
    /// `namespace/name`, or the namespace listed (`*` for all).
    what: String,
    /// The client error.
    #[source]
    source: kube::Error,
}

/// The v1alpha1 API resource.
fn resource() -> ApiResource {
    let (group, version) = API_VERSION
        .split_once('/')
        .expect("an apiVersion with a group");
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, "ImageUpgrade"),
        "imageupgrades",
    )
}

/// Ends every v1alpha1-shaped ImageUpgrade in `namespaces` (empty: all) that was still waiting
/// or applying. A cluster that serves no v1alpha1 (a CRD without it) has none: nothing to do.
pub async fn supersede_v1alpha1(
    client: &Client,
    namespaces: &[String],
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<String>, LegacyError> {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    };
    let mut ended = Vec::new();
    for scope in scopes {
        let api: Api<DynamicObject> = match scope {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource()),
            None => Api::all_with(client.clone(), &resource()),
        };
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(source) => {
                return Err(LegacyError {
                    action: "listing",
                    what: format!("in {}", scope.unwrap_or("*")),
                    source,
                });
            }
        };
        for object in list.items {
            if let Some(id) = end(client, &object, now, dry_run).await? {
                ended.push(id);
            }
        }
    }
    Ok(ended)
}

/// What ends a v1alpha1 object: the phase and the message, or `None` for one that is not
/// v1alpha1-shaped (a v1alpha2 group seen through v1alpha1) or already final.
fn ending(object: &DynamicObject) -> Option<(Phase, String)> {
    let spec = object.data.get("spec")?;
    let target = spec.get("target").filter(|t| t.is_object())?;
    let phase: Phase = object
        .data
        .pointer("/status/phase")
        .cloned()
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or(Phase::Available);
    if phase.is_terminal() {
        return None;
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("?").to_string();
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let what = format!(
        "{} {namespace}/{} container {}: {} → {}",
        text(target.get("kind")),
        text(target.get("name")),
        text(target.get("container")),
        text(spec.get("currentImage")),
        text(spec.get("targetImage"))
    );
    let target_image = text(spec.get("targetImage"));
    let repository = crate::inventory::ImageRef::parse(&target_image)
        .map(|i| i.familiar_name())
        .unwrap_or(target_image);
    let tag = text(spec.get("targetTag"));
    let group = if has_registry_host(&repository) {
        format!("the ImageUpgrade for {repository} {tag}")
    } else {
        format!("ImageUpgrade {}", names::group_name(&repository, &tag))
    };
    Some(match phase {
        Phase::Applying => (
            Phase::Failed,
            format!(
                "ml-operator was upgraded while this v1alpha1 upgrade ({what}) was applying: its rollout is no longer watched or rolled back; check it with kubectl rollout status, then let the next scan propose what is left as a group"
            ),
        ),
        _ => (
            Phase::Superseded,
            format!(
                "superseded: ml-operator now proposes one ImageUpgrade (v1alpha2) per namespace, repository and target tag; this v1alpha1 proposal ({what}) is not applied, and its approval does not carry over; the next scan proposes the move as a group ({group}, kubectl get imageupgrades -n {namespace})"
            ),
        ),
    })
}

/// Ends one object if it is a waiting or applying v1alpha1 one; its `namespace/name` if so.
async fn end(
    client: &Client,
    object: &DynamicObject,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Option<String>, LegacyError> {
    let Some((phase, message)) = ending(object) else {
        return Ok(None);
    };
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let id = format!("{namespace}/{name}");
    tracing::info!("{id}: {message}");
    if dry_run {
        return Ok(Some(id));
    }
    let mut history: Vec<Value> = object
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(
        serde_json::to_value(HistoryEntry {
            at: now,
            phase,
            message: message.clone(),
        })
        .expect("a history entry serializes"),
    );
    let patch = json!({
        "metadata": {"resourceVersion": object.metadata.resource_version},
        "status": {"phase": phase, "message": message, "history": history},
    });
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource());
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(Some(id)),
        // Changed meanwhile: the next start looks again.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
        Err(source) => Err(LegacyError {
            action: "superseding",
            what: id,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_waiting_v1alpha1_objects_are_ended() {
        let old = |phase: &str| {
            object(json!({
                "apiVersion": API_VERSION, "kind": "ImageUpgrade",
                "metadata": {"name": "central-ledger-central-ledger-v19.8.9", "namespace": "mojaloop"},
                "spec": {"target": {"kind": "Deployment", "name": "central-ledger", "container": "central-ledger"},
                         "currentImage": "mojaloop/central-ledger:v19.8.3", "targetImage": "mojaloop/central-ledger:v19.8.9",
                         "currentTag": "v19.8.3", "targetTag": "v19.8.9", "approved": true},
                "status": {"phase": phase}
            }))
        };
        let (phase, message) = ending(&old("Scheduled")).unwrap();
        assert_eq!(phase, Phase::Superseded);
        assert!(
            message.contains("Deployment mojaloop/central-ledger container central-ledger: mojaloop/central-ledger:v19.8.3 → mojaloop/central-ledger:v19.8.9")
                && message.contains("approval does not carry over")
                && message.contains("ImageUpgrade central-ledger-v19.8.9"),
            "{message}"
        );
        assert_eq!(ending(&old("Applying")).unwrap().0, Phase::Failed);
        assert!(ending(&old("Succeeded")).is_none(), "a record stays");
        // A v1alpha2 group read through v1alpha1 has no spec.target.
        let group = object(json!({
            "apiVersion": API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v19.8.9", "namespace": "mojaloop"},
            "spec": {"repository": "mojaloop/central-ledger", "targets": [], "targetTag": "v19.8.9"}
        }));
        assert!(ending(&group).is_none());
        assert_eq!(resource().api_version, API_VERSION);
    }
}
