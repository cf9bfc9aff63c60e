//! Who may approve and reject from Slack: `slack.approvers`, Slack user ids (`U…`, `W…`) and
//! user-group ids (`S…`). A group's members are asked of Slack (`usergroups.users.list`, with
//! the bot token) at each click, so leaving the group takes effect at once.
//!
//! In: the configured ids; a clicker's user id. Out: whether they may decide, or why that
//! could not be found out (then they may not).

use std::collections::BTreeSet;

use ml_operator_notify::slack_app::web::{SlackWeb, WebError};

/// The configured approvers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvers {
    users: BTreeSet<String>,
    groups: Vec<String>,
}

/// An entry of `slack.approvers` that is not a Slack user or user-group id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "slack.approvers: {0:?} is not a Slack user id (U…, W…) or user-group id (S…); names and @handles are not accepted, because they can change hands"
)]
pub struct InvalidApprover(pub String);

impl Approvers {
    /// Reads the configured ids.
    pub fn parse(ids: &[String]) -> Result<Approvers, InvalidApprover> {
        let mut approvers = Approvers::default();
        for id in ids {
            let well_formed = (3..=32).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            match id.chars().next() {
                Some('U' | 'W') if well_formed => {
                    approvers.users.insert(id.clone());
                }
                Some('S') if well_formed => approvers.groups.push(id.clone()),
                _ => return Err(InvalidApprover(id.clone())),
            }
        }
        Ok(approvers)
    }

    /// Whether no one is named.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// Whether any user group is named (which needs the bot token).
    pub fn has_groups(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Whether `user` may decide: named, or a member of a named group (asked of Slack).
    pub async fn allow(&self, user: &str, slack: &SlackWeb) -> Result<bool, WebError> {
        if self.users.contains(user) {
            return Ok(true);
        }
        for group in &self.groups {
            if slack
                .usergroup_members(group)
                .await?
                .iter()
                .any(|m| m == user)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_only() {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let approvers =
            Approvers::parse(&ids(&["U012ABCDEF", "W0ENTERPRISE", "S0GROUPID"])).unwrap();
        assert!(approvers.users.contains("U012ABCDEF") && approvers.has_groups());
        for bad in ["@amina", "amina", "u012abcdef", "C0CHANNEL", "U", ""] {
            assert_eq!(
                Approvers::parse(&ids(&[bad])),
                Err(InvalidApprover(bad.into())),
                "{bad}"
            );
        }
    }
}
