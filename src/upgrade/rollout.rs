//! The rollout judge: whether a workload's controller has finished rolling out the generation
//! that carries the new image, read from the typed `status` the API server reports.
//!
//! In: an [`AppsWorkload`] as read and the generation our patch produced. Out: a [`Rollout`] —
//! complete, failed (a Deployment's `ProgressDeadlineExceeded`), or in progress with a
//! [`Waiting`] reason that prints as the upgrader's messages show it. Pure: nothing here does
//! I/O.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

use super::workload::AppsWorkload;

/// A rollout's state, judged from the workload's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still going; says what it waits for.
    InProgress(Waiting),
    /// Every replica runs the new template and is available.
    Complete,
    /// The workload reports that it cannot progress.
    Failed(Stalled),
}

/// What an unfinished rollout waits for.
#[derive(Debug, Clone, PartialEq, Eq, strum::Display)]
pub enum Waiting {
    /// The workload's controller has not seen our generation yet.
    #[strum(to_string = "observedGeneration {observed} < {generation}")]
    NotObserved {
        /// `status.observedGeneration`.
        observed: i64,
        /// The generation carrying the new image.
        generation: i64,
    },
    /// A Deployment's `Progressing` condition has another reason than `NewReplicaSetAvailable`.
    #[strum(to_string = "Progressing: {reason}")]
    Progressing {
        /// The condition's reason (`unknown` when it has none).
        reason: String,
    },
    /// Not every replica of a Deployment runs the new template yet.
    #[strum(to_string = "{updated} of {desired} replicas updated")]
    Updating {
        /// `status.updatedReplicas`.
        updated: i32,
        /// `spec.replicas`.
        desired: i32,
    },
    /// A Deployment's old replicas are still there.
    #[strum(to_string = "{old} old replicas pending termination")]
    Terminating {
        /// `status.replicas` beyond `status.updatedReplicas`.
        old: i32,
    },
    /// A Deployment's updated replicas are not all available yet.
    #[strum(to_string = "{available} of {updated} updated replicas available")]
    Unavailable {
        /// `status.availableReplicas`.
        available: i32,
        /// `status.updatedReplicas`.
        updated: i32,
    },
    /// A StatefulSet's replicas are not all updated and ready, or its revisions differ.
    #[strum(to_string = "{updated} of {desired} replicas updated, {ready} ready")]
    StatefulSet {
        /// `status.updatedReplicas`.
        updated: i32,
        /// `spec.replicas`.
        desired: i32,
        /// `status.readyReplicas`.
        ready: i32,
    },
    /// A DaemonSet's pods are not all updated and available.
    #[strum(to_string = "{updated} of {desired} pods updated, {available} available")]
    DaemonSet {
        /// `status.updatedNumberScheduled`.
        updated: i32,
        /// `status.desiredNumberScheduled`.
        desired: i32,
        /// `status.numberAvailable`.
        available: i32,
    },
}

/// A Deployment that stopped progressing: its `Progressing` condition says
/// `ProgressDeadlineExceeded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    /// The condition's message.
    pub message: String,
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProgressDeadlineExceeded: {}", self.message)
    }
}

/// Judges the rollout of `generation` (the one carrying our image) from `workload`'s status.
pub fn judge(workload: &AppsWorkload, generation: i64) -> Rollout {
    // Until the workload's controller has seen our generation, its counts describe an older one.
    let observed = observed_generation(workload).unwrap_or(0);
    if observed < generation {
        return Rollout::InProgress(Waiting::NotObserved {
            observed,
            generation,
        });
    }
    match workload {
        AppsWorkload::Deployment(d) => deployment(d),
        AppsWorkload::StatefulSet(s) => statefulset(s),
        AppsWorkload::DaemonSet(d) => daemonset(d),
    }
}

/// `status.observedGeneration`.
fn observed_generation(workload: &AppsWorkload) -> Option<i64> {
    match workload {
        AppsWorkload::Deployment(d) => d.status.as_ref()?.observed_generation,
        AppsWorkload::StatefulSet(s) => s.status.as_ref()?.observed_generation,
        AppsWorkload::DaemonSet(d) => d.status.as_ref()?.observed_generation,
    }
}

fn deployment(deployment: &Deployment) -> Rollout {
    let status = deployment
        .status
        .as_ref()
        .map_or_else(Cow::default, Cow::Borrowed);
    let progressing = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing");
    if let Some(condition) = progressing {
        match condition.reason.as_deref() {
            Some("ProgressDeadlineExceeded") => {
                return Rollout::Failed(Stalled {
                    message: condition
                        .message
                        .clone()
                        .unwrap_or_else(|| "the rollout stopped progressing".into()),
                });
            }
            Some("NewReplicaSetAvailable") => {}
            reason => {
                return Rollout::InProgress(Waiting::Progressing {
                    reason: reason.unwrap_or("unknown").into(),
                });
            }
        }
    }
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        Rollout::InProgress(Waiting::Updating { updated, desired })
    } else if total > updated {
        Rollout::InProgress(Waiting::Terminating {
            old: total - updated,
        })
    } else if available < updated {
        Rollout::InProgress(Waiting::Unavailable { available, updated })
    } else {
        Rollout::Complete
    }
}

fn statefulset(statefulset: &StatefulSet) -> Rollout {
    let status = statefulset
        .status
        .as_ref()
        .map_or_else(Cow::default, Cow::Borrowed);
    let desired = statefulset
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    if updated < desired || ready < desired || status.current_revision != status.update_revision {
        Rollout::InProgress(Waiting::StatefulSet {
            updated,
            desired,
            ready,
        })
    } else {
        Rollout::Complete
    }
}

fn daemonset(daemonset: &DaemonSet) -> Rollout {
    let status = daemonset
        .status
        .as_ref()
        .map_or_else(Cow::default, Cow::Borrowed);
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired || available < desired {
        Rollout::InProgress(Waiting::DaemonSet {
            updated,
            desired,
            available,
        })
    } else {
        Rollout::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn typed<K: serde::de::DeserializeOwned>(object: Value) -> K {
        serde_json::from_value(object).unwrap()
    }

    fn waiting(rollout: Rollout) -> String {
        match rollout {
            Rollout::InProgress(waiting) => waiting.to_string(),
            other => panic!("{other:?} is not in progress"),
        }
    }

    #[test]
    fn deployment_rollouts() {
        let deployment = |status: Value| {
            AppsWorkload::Deployment(typed(json!({"spec": {"replicas": 2}, "status": status})))
        };
        let done = deployment(
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(judge(&done, 3), Rollout::Complete);
        assert_eq!(waiting(judge(&done, 4)), "observedGeneration 3 < 4");
        let starting = deployment(
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}),
        );
        assert_eq!(
            waiting(judge(&starting, 3)),
            "Progressing: ReplicaSetUpdated",
            "stale counts are not success"
        );
        let stuck = deployment(
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "RS timed out"}]}),
        );
        let Rollout::Failed(stalled) = judge(&stuck, 3) else {
            panic!("a stuck rollout fails")
        };
        assert_eq!(
            stalled.to_string(),
            "ProgressDeadlineExceeded: RS timed out"
        );
        let old_pods = deployment(
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}),
        );
        assert_eq!(
            waiting(judge(&old_pods, 3)),
            "1 old replicas pending termination"
        );
        let updating = deployment(json!({"observedGeneration": 3, "updatedReplicas": 1}));
        assert_eq!(waiting(judge(&updating, 3)), "1 of 2 replicas updated");
        let unavailable = deployment(
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
        );
        assert_eq!(
            waiting(judge(&unavailable, 3)),
            "1 of 2 updated replicas available"
        );
    }

    #[test]
    fn statefulset_and_daemonset_rollouts() {
        let sts = AppsWorkload::StatefulSet(typed(
            json!({"spec": {"replicas": 1}, "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
            "currentRevision": "a", "updateRevision": "b"}}),
        ));
        assert_eq!(waiting(judge(&sts, 2)), "1 of 1 replicas updated, 1 ready");
        let sts = AppsWorkload::StatefulSet(typed(
            json!({"spec": {"replicas": 1}, "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
            "currentRevision": "b", "updateRevision": "b"}}),
        ));
        assert_eq!(judge(&sts, 2), Rollout::Complete);
        let ds = AppsWorkload::DaemonSet(typed(
            json!({"spec": {}, "status": {"observedGeneration": 5, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 0}}),
        ));
        assert_eq!(waiting(judge(&ds, 5)), "1 of 1 pods updated, 0 available");
    }
}
