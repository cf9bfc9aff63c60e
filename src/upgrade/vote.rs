//! A person's decision from a remote place — a Slack button, the admin API — written to the
//! ImageUpgrade's spec: approvals counted one per person until `upgrades.requiredApprovals`
//! are there (then `spec.approved: true`, `approvedBy` naming them all), or a rejection.
//!
//! Safe to repeat: the same person's second approval (a retried or replayed delivery) changes
//! nothing; a decision on a group that is already decided, superseded, or not the proposal
//! the ballot was made for changes nothing and says why. Every write carries the object's
//! `resourceVersion`, so two people clicking at once are both counted (the loser of the race
//! reads again and retries).
//!
//! In: a [`Request`]: the ImageUpgrade's namespace and name, the
//! [`super::ballot::Ballot`] when the decision came from a message, the [`Voter`] and what
//! they chose. Out: an [`Outcome`] or a [`VoteError`].

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::crd::{DECIDED_VIA_ANNOTATION, ImageUpgrade, Phase, Vote};
use super::decide::Decision;
use super::thread::{SLACK_THREAD_ANNOTATION, SlackThread};

/// Conflicting writes retried before giving up.
const RETRIES: usize = 5;

/// Who decides, as the caller authenticated them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// `slack:<user id>` or `api:<user name>`.
    pub id: String,
    /// A display name, when known.
    pub name: Option<String>,
    /// `slack` or `api` (recorded as `status.approval.how`).
    pub how: &'static str,
}

impl Voter {
    /// `slack:U012ABCDEF (amina)`: how `approvedBy` names them.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.id),
            None => self.id.clone(),
        }
    }
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Counted; more approvals are needed.
    Counted {
        /// Approvals of this proposal so far (this one included).
        votes: Vec<String>,
        /// How many are needed.
        required: usize,
    },
    /// This approval completed it: `spec.approved` is set.
    Approved {
        /// Everyone whose approval counted.
        votes: Vec<String>,
    },
    /// Rejected: it will never be applied.
    Rejected,
    /// This person had already approved it (a retry or a replay): nothing changed.
    AlreadyCounted {
        /// Approvals so far.
        votes: Vec<String>,
        /// How many are needed.
        required: usize,
    },
    /// Nothing changed, and why: already decided, superseded, or not the ballot's proposal.
    Unchanged(String),
}

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// No such ImageUpgrade.
    #[error("imageupgrade {namespace}/{name} not found")]
    NotFound {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
    /// The API server refused or could not be reached.
    #[error("imageupgrade {namespace}/{name}: {source}")]
    Api {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// Others kept writing the object; try again.
    #[error("imageupgrade {namespace}/{name} kept changing; try again")]
    Busy {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
}

/// One decision to record.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The ImageUpgrade's namespace.
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// What the decision was made on (a message's button), checked against the object.
    pub made_on: Option<&'a super::ballot::Ballot>,
    /// Approve or reject.
    pub decision: Decision,
    /// Who.
    pub voter: &'a Voter,
    /// Approvals (different people, at least 1) that approve it.
    pub required: usize,
    /// The Slack message (channel id, `ts`) the decision was made on, recorded with it
    /// ([`super::thread`]) so the group's later news goes to that message's thread.
    pub thread: Option<(&'a str, &'a str)>,
}

/// Records `request`'s decision at `now`.
pub async fn cast(
    client: &Client,
    request: &Request<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, VoteError> {
    let Request {
        namespace,
        name,
        made_on,
        decision,
        voter,
        required,
        thread,
    } = *request;
    let api: Api<ImageUpgrade> = Api::namespaced(client.clone(), namespace);
    let api_error = |source| VoteError::Api {
        namespace: namespace.into(),
        name: name.into(),
        source,
    };
    for _ in 0..RETRIES {
        let upgrade =
            api.get_opt(name)
                .await
                .map_err(api_error)?
                .ok_or_else(|| VoteError::NotFound {
                    namespace: namespace.into(),
                    name: name.into(),
                })?;
        let mut patch = match plan(&upgrade, made_on, decision, voter, required.max(1), now) {
            Plan::Done(outcome) => return Ok(outcome),
            Plan::Write(patch, outcome) => (patch, outcome),
        };
        if let Some(place) =
            thread.and_then(|(channel, ts)| SlackThread::new(channel, ts, &upgrade))
        {
            patch.0["metadata"]["annotations"][SLACK_THREAD_ANNOTATION] = json!(place.annotation());
        }
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch.0))
            .await
        {
            Ok(_) => return Ok(patch.1),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(source) => return Err(api_error(source)),
        }
    }
    Err(VoteError::Busy {
        namespace: namespace.into(),
        name: name.into(),
    })
}

/// What to do about one decision on `upgrade` as read.
enum Plan {
    /// Nothing to write.
    Done(Outcome),
    /// This merge patch (guarded by the resourceVersion read), then this outcome.
    Write(serde_json::Value, Outcome),
}

/// The decision's effect on `upgrade` (pure).
fn plan(
    upgrade: &ImageUpgrade,
    ballot: Option<&super::ballot::Ballot>,
    decision: Decision,
    voter: &Voter,
    required: usize,
    now: DateTime<Utc>,
) -> Plan {
    let unchanged = |why: String| Plan::Done(Outcome::Unchanged(why));
    if let Some(why) = ballot.and_then(|b| b.stale_for(upgrade)) {
        return unchanged(why.into());
    }
    let phase = upgrade.phase();
    let status = upgrade.status.as_ref();
    if phase == Phase::Superseded {
        let by = status
            .and_then(|s| s.superseded_by.clone())
            .map(|newer| format!(" by {newer}"))
            .unwrap_or_default();
        return unchanged(format!("it was superseded{by}"));
    }
    if upgrade.spec.rejected || phase == Phase::Rejected {
        let by = upgrade.spec.rejected_by.as_deref().unwrap_or("someone");
        return unchanged(format!("it was already rejected by {by}"));
    }
    if phase.is_terminal() || (phase == Phase::Applying && decision == Decision::Reject) {
        return unchanged(format!("it is already {phase}"));
    }
    let proposal = super::ballot::Ballot::proposal_of(upgrade);
    let votes: Vec<&Vote> = upgrade
        .spec
        .approvals
        .iter()
        .filter(|v| v.proposal == proposal)
        .collect();
    let names = |votes: &[&Vote]| -> Vec<String> {
        votes
            .iter()
            .map(|v| match &v.name {
                Some(name) => format!("{} ({name})", v.by),
                None => v.by.clone(),
            })
            .collect()
    };
    let guard = json!({"resourceVersion": upgrade.metadata.resource_version});
    match decision {
        Decision::Reject => Plan::Write(
            json!({
                "metadata": {"resourceVersion": guard["resourceVersion"],
                             "annotations": {DECIDED_VIA_ANNOTATION: voter.how}},
                "spec": {"rejected": true, "rejectedBy": voter.label(), "approved": false},
            }),
            Outcome::Rejected,
        ),
        Decision::Approve => {
            if votes.iter().any(|v| v.by == voter.id) {
                return Plan::Done(Outcome::AlreadyCounted {
                    votes: names(&votes),
                    required,
                });
            }
            if upgrade.spec.approved || phase != Phase::Available {
                let by = upgrade.spec.approved_by.as_deref().unwrap_or("someone");
                return unchanged(format!("it was already approved by {by}"));
            }
            let vote = Vote {
                by: voter.id.clone(),
                name: voter.name.clone(),
                at: now,
                how: voter.how.into(),
                proposal,
            };
            let mut all: Vec<&Vote> = votes.clone();
            all.push(&vote);
            let kept: Vec<&Vote> = all.clone();
            let everyone = names(&all);
            if all.len() >= required {
                Plan::Write(
                    json!({
                        "metadata": {"resourceVersion": guard["resourceVersion"],
                                     "annotations": {DECIDED_VIA_ANNOTATION: voter.how}},
                        "spec": {"approvals": kept, "approved": true, "rejected": false,
                                 "approvedBy": everyone.join(", ")},
                    }),
                    Outcome::Approved { votes: everyone },
                )
            } else {
                Plan::Write(
                    json!({
                        "metadata": {"resourceVersion": guard["resourceVersion"]},
                        "spec": {"approvals": kept},
                    }),
                    Outcome::Counted {
                        votes: everyone,
                        required,
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn upgrade(approvals: serde_json::Value, phase: &str) -> ImageUpgrade {
        serde_json::from_value(json!({
            "apiVersion": super::super::crd::API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v19.8.9", "namespace": "mojaloop",
                         "uid": "u-1", "resourceVersion": "42"},
            "spec": {"repository": "mojaloop/central-ledger", "targetTag": "v19.8.9",
                     "approvals": approvals,
                     "targets": [{"kind": "Deployment", "name": "a", "containers": [
                        {"name": "app", "currentImage": "mojaloop/central-ledger:v19.8.3",
                         "targetImage": "mojaloop/central-ledger:v19.8.9"}]}]},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn voter(id: &str) -> Voter {
        Voter {
            id: format!("slack:{id}"),
            name: Some(id.to_lowercase()),
            how: "slack",
        }
    }

    #[test]
    fn approvals_count_one_per_person_until_enough() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let fresh = upgrade(json!([]), "Available");
        let ballot = super::super::ballot::Ballot::of(&fresh).unwrap();
        let Plan::Write(patch, outcome) = plan(
            &fresh,
            Some(&ballot),
            Decision::Approve,
            &voter("U1"),
            2,
            now,
        ) else {
            panic!("the first approval is written")
        };
        assert_eq!(
            outcome,
            Outcome::Counted {
                votes: vec!["slack:U1 (u1)".into()],
                required: 2
            }
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert!(patch["spec"].get("approved").is_none(), "{patch}");
        let once = upgrade(patch["spec"]["approvals"].clone(), "Available");
        // The same person again: nothing.
        assert!(matches!(
            plan(
                &once,
                Some(&ballot),
                Decision::Approve,
                &voter("U1"),
                2,
                now
            ),
            Plan::Done(Outcome::AlreadyCounted { .. })
        ));
        // Another person: approved, naming both.
        let Plan::Write(patch, Outcome::Approved { votes }) = plan(
            &once,
            Some(&ballot),
            Decision::Approve,
            &voter("U2"),
            2,
            now,
        ) else {
            panic!("the second person approves")
        };
        assert_eq!(votes, ["slack:U1 (u1)", "slack:U2 (u2)"]);
        assert_eq!(patch["spec"]["approved"], true);
        assert_eq!(patch["spec"]["approvedBy"], "slack:U1 (u1), slack:U2 (u2)");
        assert_eq!(
            patch["metadata"]["annotations"][DECIDED_VIA_ANNOTATION],
            "slack"
        );
    }

    #[test]
    fn a_decided_superseded_or_changed_group_changes_nothing() {
        let now = Utc::now();
        let fresh = upgrade(json!([]), "Available");
        let ballot = super::super::ballot::Ballot::of(&fresh).unwrap();
        for (phase, why) in [
            ("Superseded", "superseded"),
            ("Succeeded", "already Succeeded"),
            ("Scheduled", "already approved"),
        ] {
            let Plan::Done(Outcome::Unchanged(message)) = plan(
                &upgrade(json!([]), phase),
                Some(&ballot),
                Decision::Approve,
                &voter("U1"),
                1,
                now,
            ) else {
                panic!("{phase}: nothing to write")
            };
            assert!(message.contains(why), "{phase}: {message}");
        }
        let mut other = fresh.clone();
        other.metadata.uid = Some("u-2".into());
        assert!(matches!(
            plan(
                &other,
                Some(&ballot),
                Decision::Reject,
                &voter("U1"),
                1,
                now
            ),
            Plan::Done(Outcome::Unchanged(_))
        ));
        // A vote for an older proposal of the same object does not count.
        let old_vote = json!([{"by": "slack:U1", "at": "2026-12-01T00:00:00Z", "how": "slack", "proposal": "0000000000000000"}]);
        let Plan::Write(_, outcome) = plan(
            &upgrade(old_vote, "Available"),
            None,
            Decision::Approve,
            &voter("U1"),
            2,
            now,
        ) else {
            panic!("counted anew")
        };
        assert!(matches!(outcome, Outcome::Counted { votes, .. } if votes.len() == 1));
        let Plan::Write(patch, Outcome::Rejected) = plan(
            &fresh,
            Some(&ballot),
            Decision::Reject,
            &voter("U3"),
            1,
            now,
        ) else {
            panic!("rejected")
        };
        assert_eq!(patch["spec"]["rejectedBy"], "slack:U3 (u3)");
    }
}
