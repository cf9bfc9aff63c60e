//! What a Slack button (or any remote decision) is for: one ImageUpgrade, by namespace, name
//! and uid, and one *proposal round* of it, as a digest. An approval is for the move of a
//! repository to a tag in a namespace, so it survives workloads joining or leaving the group
//! (as `spec.approved` does, see [`mod@super::propose`]); but a button from an older message —
//! the object was deleted and proposed again, or superseded and proposed again under the same
//! name — no longer matches and changes nothing. A superseded or decided group is refused by
//! its phase ([`super::vote`]).
//!
//! In: an ImageUpgrade, or a button's `value`. Out: a [`Ballot`], written as
//! `namespace/name/uid/proposal` (at most ~360 characters, inside Slack's 2,000).

use sha2::{Digest, Sha256};

use super::crd::ImageUpgrade;
use super::propose::PROPOSED_AGAIN;
use crate::inventory::names;

/// The ImageUpgrade and proposal a decision is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot {
    /// The ImageUpgrade's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its `metadata.uid`.
    pub uid: String,
    /// [`Ballot::proposal_of`] when the ballot was made.
    pub proposal: String,
}

/// A button value that is not one ml-operator wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the button's value is not an ml-operator ballot (namespace/name/uid/proposal)")]
pub struct NotABallot;

impl Ballot {
    /// The ballot for `upgrade` as it is now; `None` before it exists in the cluster (no uid).
    pub fn of(upgrade: &ImageUpgrade) -> Option<Ballot> {
        Some(Ballot {
            namespace: upgrade.namespace_or_default(),
            name: upgrade.name(),
            uid: upgrade.metadata.uid.clone()?,
            proposal: Ballot::proposal_of(upgrade),
        })
    }

    /// The proposal round's digest: 16 hex digits of SHA-256 over the uid, the target tag and
    /// the time the object was last proposed again (its newest `proposed again` history entry;
    /// none for the first round).
    pub fn proposal_of(upgrade: &ImageUpgrade) -> String {
        let renewed = upgrade
            .status
            .as_ref()
            .and_then(|s| {
                s.history
                    .iter()
                    .rev()
                    .find(|h| h.message.starts_with(PROPOSED_AGAIN))
            })
            .map(|h| h.at.to_rfc3339())
            .unwrap_or_default();
        let mut hash = Sha256::new();
        for part in [
            upgrade.metadata.uid.as_deref().unwrap_or_default(),
            &upgrade.spec.target_tag,
            &renewed,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hex(&hash.finalize()[..8])
    }

    /// Whether `upgrade` is still the object and proposal this ballot was made for; else why not.
    pub fn stale_for(&self, upgrade: &ImageUpgrade) -> Option<&'static str> {
        if upgrade.metadata.uid.as_deref() != Some(self.uid.as_str()) {
            Some("the ImageUpgrade was deleted and proposed again since this message")
        } else if Ballot::proposal_of(upgrade) != self.proposal {
            Some("the group was proposed again since this message; decide on the newer message")
        } else {
            None
        }
    }

    /// `namespace/name/uid/proposal`.
    pub fn encode(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.namespace, self.name, self.uid, self.proposal
        )
    }

    /// Reads [`Ballot::encode`]'s form, checking each part's grammar.
    pub fn parse(value: &str) -> Result<Ballot, NotABallot> {
        let parts: Vec<&str> = value.split('/').collect();
        let [namespace, name, uid, proposal] = parts[..] else {
            return Err(NotABallot);
        };
        let uid_ok = !uid.is_empty()
            && uid.len() <= 64
            && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let proposal_ok = proposal.len() == 16 && proposal.chars().all(|c| c.is_ascii_hexdigit());
        if names::check_label(namespace).is_err()
            || names::check_subdomain(name).is_err()
            || !uid_ok
            || !proposal_ok
        {
            return Err(NotABallot);
        }
        Ok(Ballot {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            proposal: proposal.into(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(uid: &str, current: &str, history: serde_json::Value) -> ImageUpgrade {
        serde_json::from_value(serde_json::json!({
            "apiVersion": super::super::crd::API_VERSION, "kind": "ImageUpgrade",
            "metadata": {"name": "central-ledger-v19.8.9", "namespace": "mojaloop", "uid": uid},
            "spec": {"repository": "mojaloop/central-ledger", "targetTag": "v19.8.9",
                     "targets": [{"kind": "Deployment", "name": "a", "containers": [
                        {"name": "app", "currentImage": current, "targetImage": "mojaloop/central-ledger:v19.8.9"}]}]},
            "status": {"history": history}
        }))
        .unwrap()
    }

    #[test]
    fn a_ballot_round_trips_and_goes_stale_with_its_round() {
        let uid = "5f0c3e2a-1b2c-4d5e-8f90-0123456789ab";
        let proposed = serde_json::json!([{"at": "2026-12-01T10:00:00Z", "phase": "Available", "message": "proposed"}]);
        let first = upgrade(uid, "mojaloop/central-ledger:v19.8.3", proposed.clone());
        let ballot = Ballot::of(&first).unwrap();
        assert_eq!(Ballot::parse(&ballot.encode()), Ok(ballot.clone()));
        assert_eq!(ballot.stale_for(&first), None);
        // Workloads moving within the group keep the round (the approval is for the move).
        let moved = upgrade(uid, "mojaloop/central-ledger:v19.8.5", proposed.clone());
        assert_eq!(ballot.stale_for(&moved), None);
        let mut again = proposed.as_array().unwrap().clone();
        again.push(serde_json::json!({"at": "2026-12-02T10:00:00Z", "phase": "Available",
                                      "message": format!("{PROPOSED_AGAIN}: mojaloop/central-ledger v19.8.3 → v19.8.9")}));
        let renewed = upgrade(uid, "mojaloop/central-ledger:v19.8.3", again.into());
        assert!(
            ballot
                .stale_for(&renewed)
                .unwrap()
                .contains("proposed again")
        );
        let recreated = upgrade(
            "00000000-0000-0000-0000-000000000000",
            "mojaloop/central-ledger:v19.8.3",
            proposed,
        );
        assert!(ballot.stale_for(&recreated).unwrap().contains("deleted"));
        for bad in [
            "",
            "a/b/c",
            "Mojaloop/x/uid/0123456789abcdef",
            "mojaloop/x/uid/0123456789abcdeg",
            "mojaloop/x/u id/0123456789abcdef",
            "mojaloop/x/uid/0123456789abcdef/extra",
        ] {
            assert_eq!(Ballot::parse(bad), Err(NotABallot), "{bad:?}");
        }
    }
}
