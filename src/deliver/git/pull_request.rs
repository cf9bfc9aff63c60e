//! Pull (merge) requests through the hosting's documented REST API — GitHub's
//! `POST /repos/{owner}/{repo}/pulls` and GitLab's `POST /api/v4/projects/{path}/merge_requests`
//! — and the one already open for a branch found instead of a second one. Requests go only to
//! the configured `apiUrl`; answers are bounded; errors never hold the token.

use std::time::Duration;

use serde_json::{Value, json};

use super::settings::{PullRequestSettings, Token};
use crate::config::Provider;

/// The largest API answer read.
const MAX_ANSWER: usize = 1024 * 1024;

/// A pull request that could not be opened or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullRequestError {
    /// The request could not be sent or answered.
    #[error("{provider} API {url}: {problem}")]
    Request {
        /// GitHub or GitLab.
        provider: Provider,
        /// The URL asked (no credentials in it).
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// The API answered with an error status.
    #[error("{provider} API {url}: HTTP {status}: {message}")]
    Status {
        /// GitHub or GitLab.
        provider: Provider,
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
        /// The answer's `message`, shortened.
        message: String,
    },
}

/// What a pull request is about.
#[derive(Debug, Clone)]
pub struct PullRequest<'a> {
    /// The branch holding the commit.
    pub head: &'a str,
    /// Its title (the commit's subject).
    pub title: &'a str,
    /// Its description.
    pub body: &'a str,
}

/// Opens pull requests on one project.
#[derive(Debug, Clone)]
pub struct PullRequests {
    settings: PullRequestSettings,
    token: Token,
    http: reqwest::Client,
}

impl PullRequests {
    /// A client for `settings`, authenticating with `token`, each request bounded by `timeout`.
    pub fn new(
        settings: PullRequestSettings,
        token: Token,
        timeout: Duration,
    ) -> Result<PullRequests, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ml-operator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PullRequests {
            settings,
            token,
            http,
        })
    }

    /// The pull request open for `pr.head`, if any: its web URL.
    pub async fn find(&self, head: &str) -> Result<Option<String>, PullRequestError> {
        let s = &self.settings;
        let (url, field) = match s.provider {
            Provider::Gitlab => (
                format!(
                    "{}/api/v4/projects/{}/merge_requests",
                    s.api_url,
                    encode(&s.project)
                ),
                "web_url",
            ),
            _ => (
                format!("{}/repos/{}/pulls", s.api_url, s.project),
                "html_url",
            ),
        };
        let owner = s.project.split('/').next().unwrap_or_default();
        let query: Vec<(&str, String)> = match s.provider {
            Provider::Gitlab => vec![
                ("source_branch", head.to_string()),
                ("target_branch", s.base_branch.clone()),
                ("state", "opened".into()),
            ],
            _ => vec![
                ("head", format!("{owner}:{head}")),
                ("base", s.base_branch.clone()),
                ("state", "open".into()),
            ],
        };
        let mut target = url::Url::parse(&url).map_err(|e| PullRequestError::Request {
            provider: s.provider,
            url: url.clone(),
            problem: e.to_string(),
        })?;
        target.query_pairs_mut().extend_pairs(&query);
        let request = self.authorized(self.http.get(target));
        let (status, answer) = self.send(&url, request).await?;
        if status != 200 {
            return Err(self.status_error(&url, status, &answer));
        }
        Ok(answer
            .as_array()
            .and_then(|list| list.first())
            .and_then(|pr| pr[field].as_str())
            .map(str::to_string))
    }

    /// Opens a pull request for `pr` (or finds the one already open for its branch): its web
    /// URL.
    pub async fn open(&self, pr: &PullRequest<'_>) -> Result<String, PullRequestError> {
        let s = &self.settings;
        let (url, body, field, exists) = match s.provider {
            Provider::Gitlab => (
                format!(
                    "{}/api/v4/projects/{}/merge_requests",
                    s.api_url,
                    encode(&s.project)
                ),
                json!({"source_branch": pr.head, "target_branch": s.base_branch,
                       "title": pr.title, "description": pr.body}),
                "web_url",
                409,
            ),
            _ => (
                format!("{}/repos/{}/pulls", s.api_url, s.project),
                json!({"title": pr.title, "head": pr.head, "base": s.base_branch, "body": pr.body}),
                "html_url",
                422,
            ),
        };
        let request = self.authorized(self.http.post(&url).json(&body));
        let (status, answer) = self.send(&url, request).await?;
        if status == 201 {
            return answer[field].as_str().map(str::to_string).ok_or_else(|| {
                PullRequestError::Request {
                    provider: s.provider,
                    url: url.clone(),
                    problem: format!("the answer has no {field}"),
                }
            });
        }
        if status == exists
            && let Some(found) = self.find(pr.head).await?
        {
            return Ok(found);
        }
        Err(self.status_error(&url, status, &answer))
    }

    /// `request` with the provider's token header and Accept headers.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.settings.provider {
            Provider::Gitlab => request.header("PRIVATE-TOKEN", self.token.expose()),
            _ => request
                .bearer_auth(self.token.expose())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
        }
    }

    /// Sends `request`; its status and JSON answer (`null` when not JSON).
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), PullRequestError> {
        let problem = |problem: String| PullRequestError::Request {
            provider: self.settings.provider,
            url: url.to_string(),
            problem: problem.replace(self.token.expose(), "<redacted>"),
        };
        let mut response = request.send().await.map_err(|e| problem(chain(&e)))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| problem(chain(&e)))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(problem(format!("answered more than {MAX_ANSWER} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    fn status_error(&self, url: &str, status: u16, answer: &Value) -> PullRequestError {
        let message = match &answer["message"] {
            Value::String(m) => m.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let message: String = message
            .replace(self.token.expose(), "<redacted>")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        PullRequestError::Status {
            provider: self.settings.provider,
            url: url.to_string(),
            status,
            message,
        }
    }
}

/// A project path as one URL path segment (`hub/deploy` → `hub%2Fdeploy`), as GitLab wants.
fn encode(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

/// An error and its causes, one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn gitlab_paths_are_one_segment() {
        assert_eq!(super::encode("hub/infra/deploy"), "hub%2Finfra%2Fdeploy");
    }
}
