//! `git:` checked: the repository URL parsed (and never holding a password), the project path
//! a pull-request API needs, the author, the credentials read from their files. Every error
//! names its key; none shows a secret.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{GitConfig, Provider};

/// Default `git.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `git.author`.
pub const DEFAULT_AUTHOR: &str = "ml-operator <ml-operator@localhost>";
/// The largest credential file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A `git:` section that cannot be used; names the key (and file), never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGit {
    /// A key that must be set is not.
    #[error("git.{key} is required{why}")]
    Missing {
        /// The key below `git`.
        key: &'static str,
        /// When it is needed.
        why: String,
    },
    /// Two keys that exclude each other.
    #[error("git.tokenFile and git.sshKeyFile exclude each other: give one")]
    BothCredentials,
    /// A key's value that cannot be used.
    #[error("git.{key}: {problem}")]
    Invalid {
        /// The key below `git`.
        key: &'static str,
        /// What is wrong (with the value, unless a secret).
        problem: String,
    },
    /// A credential file that cannot be read.
    #[error("git.{key}: cannot read {}: {problem}", path.display())]
    Unreadable {
        /// The key below `git`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
}

/// An access token; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token itself, to put in a header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How git authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// None (a repository anyone may push to, e.g. `git daemon` in a lab).
    None,
    /// An HTTPS token, sent as an `Authorization: Basic` header only.
    Token(Token),
    /// An SSH key and the known_hosts file its server is checked against.
    Ssh {
        /// The private key file.
        key_file: PathBuf,
        /// The known_hosts file.
        known_hosts: PathBuf,
    },
}

/// The pull (merge) request side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSettings {
    /// GitHub or GitLab.
    pub provider: Provider,
    /// The branch it merges into.
    pub base_branch: String,
    /// The API's base URL, without a trailing `/`.
    pub api_url: String,
    /// The project path: `owner/repo` on GitHub, `group/subgroup/project` on GitLab.
    pub project: String,
}

/// Everything git delivery needs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSettings {
    /// The repository URL as configured (no credentials in it).
    pub url: String,
    /// The branch synced from.
    pub branch: String,
    /// The values files or directories, relative to the repository root.
    pub paths: Vec<String>,
    /// The author's and committer's name.
    pub author_name: String,
    /// Their e-mail address.
    pub author_email: String,
    /// How git authenticates.
    pub credentials: Credentials,
    /// The bound on each git command and API request.
    pub timeout: Duration,
    /// The pull request to open; `None` pushes to `branch` directly.
    pub pull_request: Option<PullRequestSettings>,
}

impl GitSettings {
    /// Checks `git:` and reads the token; `None` when `git.url` is not set.
    pub fn from_config(config: &GitConfig) -> Result<Option<GitSettings>, InvalidGit> {
        let Some(url) = config.url.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if url.is_empty() {
            return Err(InvalidGit::Invalid {
                key: "url",
                problem: "must not be empty".into(),
            });
        }
        let path = repository_path(url)?;
        let branch = config.branch.clone().unwrap_or_else(|| "main".into());
        check_branch("branch", &branch)?;
        if config.paths.is_empty() {
            return Err(InvalidGit::Missing {
                key: "paths",
                why: ": the values files to edit, e.g. [values-mojaloop.yaml]".into(),
            });
        }
        for (i, path) in config.paths.iter().enumerate() {
            let bad = path.trim().is_empty()
                || path.starts_with('/')
                || path.starts_with('-')
                || path.split(['/', '\\']).any(|part| part == "..");
            if bad {
                return Err(InvalidGit::Invalid {
                    key: "paths",
                    problem: format!(
                        "[{i}] {path:?} must be a relative path inside the repository"
                    ),
                });
            }
        }
        let (author_name, author_email) =
            parse_author(config.author.as_deref().unwrap_or(DEFAULT_AUTHOR))?;
        let credentials = match (&config.token_file, &config.ssh_key_file) {
            (Some(_), Some(_)) => return Err(InvalidGit::BothCredentials),
            (Some(file), None) => Credentials::Token(read_token(file)?),
            (None, Some(key_file)) => {
                let Some(known_hosts) = config.known_hosts_file.clone() else {
                    return Err(InvalidGit::Missing {
                        key: "knownHostsFile",
                        why: " with git.sshKeyFile: the server's host key is checked against it"
                            .into(),
                    });
                };
                for (key, file) in [("sshKeyFile", key_file), ("knownHostsFile", &known_hosts)] {
                    std::fs::metadata(file).map_err(|e| InvalidGit::Unreadable {
                        key,
                        path: file.clone(),
                        problem: e.to_string(),
                    })?;
                }
                Credentials::Ssh {
                    key_file: key_file.clone(),
                    known_hosts,
                }
            }
            (None, None) => Credentials::None,
        };
        let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(InvalidGit::Invalid {
                key: "timeout",
                problem: "must be longer than 0s".into(),
            });
        }
        let pr = &config.pull_request;
        let provider = pr.provider.unwrap_or_default();
        let pull_request = match provider {
            Provider::None => None,
            Provider::Github | Provider::Gitlab => {
                if !matches!(credentials, Credentials::Token(_)) {
                    return Err(InvalidGit::Missing {
                        key: "tokenFile",
                        why: format!(
                            " with git.pullRequest.provider: {provider} (its API takes a token)"
                        ),
                    });
                }
                let segments: Vec<&str> = path.split('/').collect();
                if segments.len() < 2
                    || (provider == Provider::Github && segments.len() != 2)
                    || segments.iter().any(|s| s.is_empty())
                {
                    return Err(InvalidGit::Invalid {
                        key: "url",
                        problem: format!(
                            "{url:?} names no {} project for git.pullRequest.provider: {provider}",
                            if provider == Provider::Github {
                                "owner/repo"
                            } else {
                                "group/project"
                            }
                        ),
                    });
                }
                let default_api = match provider {
                    Provider::Github => "https://api.github.com",
                    _ => "https://gitlab.com",
                };
                let api_url = pr
                    .api_url
                    .clone()
                    .unwrap_or_else(|| default_api.into())
                    .trim_end_matches('/')
                    .to_string();
                let parsed = url::Url::parse(&api_url).map_err(|e| InvalidGit::Invalid {
                    key: "pullRequest.apiUrl",
                    problem: format!("{api_url:?}: {e}"),
                })?;
                if !matches!(parsed.scheme(), "http" | "https")
                    || parsed.host_str().is_none()
                    || !parsed.username().is_empty()
                    || parsed.password().is_some()
                {
                    return Err(InvalidGit::Invalid {
                        key: "pullRequest.apiUrl",
                        problem: format!(
                            "{api_url:?} must be an http(s) URL with a host and no user"
                        ),
                    });
                }
                let base_branch = pr.base_branch.clone().unwrap_or_else(|| branch.clone());
                check_branch("pullRequest.baseBranch", &base_branch)?;
                Some(PullRequestSettings {
                    provider,
                    base_branch,
                    api_url,
                    project: path,
                })
            }
        };
        Ok(Some(GitSettings {
            url: url.to_string(),
            branch,
            paths: config.paths.clone(),
            author_name,
            author_email,
            credentials,
            timeout,
            pull_request,
        }))
    }
}

/// The repository's path on its host (`owner/repo`, without `.git`), from an `https://`,
/// `http://`, `ssh://`, `git://` or scp-like (`git@host:owner/repo.git`) URL. A URL holding a
/// password is refused.
fn repository_path(url: &str) -> Result<String, InvalidGit> {
    let invalid = |problem: String| InvalidGit::Invalid {
        key: "url",
        problem,
    };
    let path = if url.contains("://") {
        let parsed = url::Url::parse(url).map_err(|e| invalid(format!("{e}")))?;
        if !matches!(parsed.scheme(), "https" | "http" | "ssh" | "git") {
            return Err(invalid(format!(
                "scheme {}: use https://, ssh:// or git@host:path",
                parsed.scheme()
            )));
        }
        if parsed.password().is_some() {
            return Err(invalid(
                "holds a password: put the token in git.tokenFile".into(),
            ));
        }
        if matches!(parsed.scheme(), "https" | "http") && !parsed.username().is_empty() {
            return Err(invalid(
                "holds a user name: put the token in git.tokenFile".into(),
            ));
        }
        if parsed.host_str().is_none() {
            return Err(invalid("has no host".into()));
        }
        parsed.path().to_string()
    } else {
        match url.split_once(':') {
            Some((host, path)) if !host.is_empty() && !host.contains('/') => path.to_string(),
            _ => {
                return Err(invalid(format!(
                    "{url:?} is not a repository URL (https://host/owner/repo.git or git@host:owner/repo.git)"
                )));
            }
        }
    };
    if url.starts_with('-') || url.chars().any(char::is_control) {
        return Err(invalid(format!("{url:?} is not a repository URL")));
    }
    let path = path.trim_matches('/');
    Ok(path.strip_suffix(".git").unwrap_or(path).to_string())
}

/// A branch name git accepts and that cannot be read as an option.
fn check_branch(key: &'static str, name: &str) -> Result<(), InvalidGit> {
    let bad = name.is_empty()
        || name.starts_with(['-', '/'])
        || name.ends_with(['/', '.'])
        || name.contains("..")
        || name.contains("@{")
        || name.ends_with(".lock")
        || name
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c));
    if bad {
        return Err(InvalidGit::Invalid {
            key,
            problem: format!("{name:?} is not a branch name"),
        });
    }
    Ok(())
}

/// `Name <email>` split.
fn parse_author(text: &str) -> Result<(String, String), InvalidGit> {
    let invalid = || InvalidGit::Invalid {
        key: "author",
        problem: format!("{text:?} is not `Name <email>`"),
    };
    let (name, rest) = text.split_once('<').ok_or_else(invalid)?;
    let email = rest.strip_suffix('>').ok_or_else(invalid)?;
    let name = name.trim();
    if name.is_empty()
        || email.is_empty()
        || !email.contains('@')
        || format!("{name}{email}")
            .chars()
            .any(|c| c.is_control() || "<>".contains(c))
    {
        return Err(invalid());
    }
    Ok((name.to_string(), email.to_string()))
}

/// The token in `file`, trimmed; the error names the file, never its content.
fn read_token(file: &PathBuf) -> Result<Token, InvalidGit> {
    let unreadable = |problem: String| InvalidGit::Unreadable {
        key: "tokenFile",
        path: file.clone(),
        problem,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    if size > MAX_SECRET_FILE {
        return Err(unreadable(format!(
            "{size} bytes is more than a token ({MAX_SECRET_FILE} at most)"
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| unreadable(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(unreadable(
            "empty, or not a single token on one line".into(),
        ));
    }
    Ok(Token(token.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(text: &str) -> Result<Option<GitSettings>, InvalidGit> {
        GitSettings::from_config(&Config::parse(text, "c.yaml").unwrap().git)
    }

    #[test]
    fn urls_paths_and_defaults() {
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "ghp_secret\n").unwrap();
        let s = settings(&format!(
            "git: {{url: 'https://github.com/example/hub-deploy.git', paths: [values-mojaloop.yaml], tokenFile: {}, pullRequest: {{provider: github}}}}\n",
            token.path().display()
        ))
        .unwrap()
        .unwrap();
        let pr = s.pull_request.as_ref().unwrap();
        assert_eq!(
            (
                pr.project.as_str(),
                pr.api_url.as_str(),
                pr.base_branch.as_str()
            ),
            ("example/hub-deploy", "https://api.github.com", "main")
        );
        assert_eq!(
            s.credentials,
            Credentials::Token(Token("ghp_secret".into()))
        );
        assert!(!format!("{s:?}").contains("ghp_secret"));
        assert_eq!(
            (s.author_name.as_str(), s.author_email.as_str()),
            ("ml-operator", "ml-operator@localhost")
        );
        assert_eq!(
            repository_path("git@gitlab.com:hub/infra/deploy.git").unwrap(),
            "hub/infra/deploy"
        );
        assert_eq!(repository_path("ssh://git@host:22/a/b").unwrap(), "a/b");
        assert_eq!(settings("git: {}\n").unwrap(), None);
    }

    #[test]
    fn errors_name_the_key() {
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "t0ken").unwrap();
        let t = token.path().display();
        for (text, key) in [
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], tokenFile: /t, sshKeyFile: /k}\n"
                    .to_string(),
                "git.tokenFile and git.sshKeyFile",
            ),
            ("git: {url: 'https://h/a/b'}\n".into(), "git.paths"),
            (
                "git: {url: 'https://u:p@h/a/b', paths: [v.yaml]}\n".into(),
                "git.url",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [../v.yaml]}\n".into(),
                "git.paths",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], branch: '-x'}\n".into(),
                "git.branch",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], author: nobody}\n".into(),
                "git.author",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], pullRequest: {provider: github}}\n"
                    .into(),
                "git.tokenFile",
            ),
            (
                format!(
                    "git: {{url: 'https://h/only', paths: [v.yaml], tokenFile: {t}, pullRequest: {{provider: github}}}}\n"
                ),
                "git.url",
            ),
            (
                format!(
                    "git: {{url: 'https://h/a/b/c', paths: [v.yaml], tokenFile: {t}, pullRequest: {{provider: github}}}}\n"
                ),
                "git.url",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], tokenFile: /nonexistent/token}\n"
                    .into(),
                "git.tokenFile",
            ),
            (
                "git: {url: 'https://h/a/b', paths: [v.yaml], sshKeyFile: /k}\n".into(),
                "git.knownHostsFile",
            ),
        ] {
            let err = settings(&text).unwrap_err().to_string();
            assert!(err.starts_with(key), "{text}: {err}");
        }
        let ok = settings(&format!(
            "git: {{url: 'https://gitlab.example.com/hub/infra/deploy.git', paths: [v.yaml], tokenFile: {t}, pullRequest: {{provider: gitlab, apiUrl: 'https://gitlab.example.com/'}}}}\n"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(ok.pull_request.unwrap().project, "hub/infra/deploy");
    }
}
