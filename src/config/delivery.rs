//! `upgrades.delivery` and `git:`: how an approved upgrade reaches the cluster — a `kubectl
//! patch` of the workloads, or a commit to the GitOps repository that Argo CD or Flux syncs
//! (docs/delivery.md). Configuration values only; `crate::deliver::git` checks and uses them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// How a group's change is made: by the operator patching the workloads, or as a commit.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Delivery {
    /// `kubectl patch` of each workload (the default).
    #[default]
    Kubectl,
    /// One commit of the values files under `git.paths`, pushed (and a pull request opened).
    Git,
}

/// `git:`: the GitOps repository an approved group is committed to.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfig {
    /// The repository to clone and push: `https://host/owner/repo.git`,
    /// `ssh://git@host/owner/repo.git` or `git@host:owner/repo.git`; never with a password.
    #[serde(default)]
    pub url: Option<String>,
    /// The branch the GitOps tool syncs from (default `main`): cloned, and pushed to directly
    /// with `pullRequest.provider: none`.
    #[serde(default)]
    pub branch: Option<String>,
    /// The values files (or directories of them) in the repository whose tags are changed,
    /// relative to its root, e.g. `[values-mojaloop.yaml]`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The commits' author and committer, `Name <email>` (default
    /// `ml-operator <ml-operator@localhost>`).
    #[serde(default)]
    pub author: Option<String>,
    /// A file holding an access token (HTTPS): sent only as an `Authorization` header, to the
    /// repository's host and the pull-request API.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A file holding an SSH private key (`ssh://` or `git@host:` URLs).
    #[serde(default)]
    pub ssh_key_file: Option<PathBuf>,
    /// The `known_hosts` file the SSH host key is checked against (required with `sshKeyFile`).
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
    /// How long one git command or API request may take (default 60s).
    #[serde(default, deserialize_with = "duration::optional::deserialize")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Push to a branch of its own and open a pull (merge) request, or push to `branch`.
    #[serde(default)]
    pub pull_request: PullRequestConfig,
}

/// `git.pullRequest:`: where the change is proposed.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestConfig {
    /// `none` (default: push to `git.branch`), `github` or `gitlab`.
    #[serde(default)]
    pub provider: Option<Provider>,
    /// The branch the pull request merges into (default `git.branch`).
    #[serde(default)]
    pub base_branch: Option<String>,
    /// The API's base URL (default `https://api.github.com` for GitHub, `https://gitlab.com`
    /// for GitLab; GitHub Enterprise `https://HOST/api/v3`, a GitLab instance its root URL).
    #[serde(default)]
    pub api_url: Option<String>,
}

/// Who hosts the repository, for its pull-request API.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Provider {
    /// No pull request: the commit is pushed to `git.branch`.
    #[default]
    None,
    /// GitHub (or GitHub Enterprise): `POST /repos/{owner}/{repo}/pulls`.
    Github,
    /// GitLab: `POST /api/v4/projects/{path}/merge_requests`.
    Gitlab,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_configured() {
        assert_eq!("git".parse::<Delivery>().unwrap(), Delivery::Git);
        assert_eq!(Delivery::default().to_string(), "kubectl");
        assert!("Git ".parse::<Delivery>().is_err());
        assert_eq!(
            serde_json::from_str::<Provider>("\"gitlab\"").unwrap(),
            Provider::Gitlab
        );
    }
}
