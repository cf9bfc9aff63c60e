//! A client of the original image-watcher API (`IMAGE_WATCHER_CLIENT_URL`):
//! `GET {base}/images/{org}/{image}/{tag}?strategy=bugfix` → `{"tag": "...", "fullImage": "..."}`.
//!
//! The image-watcher answers "the newest tag for this tag and strategy" instead of listing
//! tags, so a scan's fetch asks once per distinct (repository, tag, strategy)
//! and gives each repository its current tags plus the answers: resolving a workload against
//! them then picks the watcher's answer.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use ml_operator_version::Strategy;

use super::source::RepositoryTags;
use super::{Tags, TagsUnknown};
use crate::inventory::image::DOCKER_HUB;
use crate::inventory::{ImageRef, Workload};

/// How long one question to the image-watcher may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the original image-watcher API.
#[derive(Debug, Clone)]
pub struct ImageWatcherClient {
    base: String,
    http: reqwest::Client,
}

/// Why the image-watcher could not answer; names the URL asked (which holds no secret).
#[derive(Debug, thiserror::Error)]
pub enum ImageWatcherError {
    /// `IMAGE_WATCHER_CLIENT_URL` is not a URL.
    #[error("IMAGE_WATCHER_CLIENT_URL {url:?} is not a URL: {source}")]
    InvalidUrl {
        /// The value given (with `http://` added when it had no scheme).
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The API only knows Docker Hub `org/image` repositories.
    #[error("the image-watcher API only knows Docker Hub org/image repositories, not {repository}")]
    NotDockerHub {
        /// The repository as people name it.
        repository: String,
    },
    /// The request failed (connection, timeout).
    #[error("image-watcher {url}: {source}")]
    Request {
        /// The URL asked.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The image-watcher answered with an error status.
    #[error("image-watcher {url}: HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status it answered.
        status: reqwest::StatusCode,
    },
    /// The answer is not `{"tag": "..."}`.
    #[error("image-watcher {url}: {problem}")]
    InvalidAnswer {
        /// The URL asked.
        url: String,
        /// What is wrong with the answer.
        problem: String,
    },
}

impl ImageWatcherClient {
    /// A client for the image-watcher at `base` (e.g. `http://image-watcher:4006`; a base
    /// without a scheme, like the original's default `localhost:4006`, gets `http://`).
    pub fn new(base: &str) -> Result<ImageWatcherClient, ImageWatcherError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        url::Url::parse(&base).map_err(|source| ImageWatcherError::InvalidUrl {
            url: base.clone(),
            source,
        })?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(ImageWatcherError::Client)?;
        Ok(ImageWatcherClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Asks once per distinct (repository, tag, strategy) of `workloads`; each repository's
    /// "tags" are its current tags plus every answer.
    pub(super) async fn gather(
        &self,
        workloads: &[impl AsRef<Workload>],
        default_strategy: Strategy,
    ) -> BTreeMap<String, Result<RepositoryTags, TagsUnknown>> {
        let mut questions: BTreeMap<(String, String, Strategy), ImageRef> = BTreeMap::new();
        for workload in workloads.iter().map(AsRef::as_ref) {
            // A bad annotation makes the scan report the workload unresolved; ask nothing for it.
            let Ok(strategy) = workload.strategy(default_strategy) else {
                continue;
            };
            for container in &workload.containers {
                if let Ok(image) = ImageRef::parse(&container.image)
                    && let Some(tag) = image.tag()
                {
                    questions.insert(
                        (image.canonical_name(), tag.to_string(), strategy),
                        image.clone(),
                    );
                }
            }
        }
        let answers = join_all(questions.into_iter().map(
            |((name, tag, strategy), image)| async move {
                let answer = self.newest(&image, &tag, strategy).await;
                (name, tag, answer)
            },
        ))
        .await;

        let mut repositories = BTreeMap::new();
        for (name, tag, answer) in answers {
            let entry = repositories
                .entry(name.clone())
                .or_insert_with(|| Ok(RepositoryTags::Gathered(Tags::new())));
            match (answer, entry) {
                (Err(e), entry) => {
                    *entry = Err(TagsUnknown {
                        repository: name,
                        reason: e.to_string(),
                    });
                }
                (Ok(newest), Ok(RepositoryTags::Gathered(tags))) => {
                    tags.push(&tag);
                    tags.push(&newest);
                }
                (Ok(_), _) => {}
            }
        }
        repositories
    }

    /// The image-watcher's newest tag for `image` at `tag` under `strategy`.
    pub async fn newest(
        &self,
        image: &ImageRef,
        tag: &str,
        strategy: Strategy,
    ) -> Result<String, ImageWatcherError> {
        let repository = image.repository();
        let (org, name) = match repository.split_once('/') {
            Some((org, name)) if image.registry() == DOCKER_HUB && !name.contains('/') => {
                (org, name)
            }
            _ => {
                return Err(ImageWatcherError::NotDockerHub {
                    repository: image.familiar_name(),
                });
            }
        };
        let url = format!(
            "{}/images/{org}/{name}/{tag}?strategy={strategy}",
            self.base
        );
        let response =
            self.http
                .get(&url)
                .send()
                .await
                .map_err(|source| ImageWatcherError::Request {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ImageWatcherError::Status { url, status });
        }
        let body: serde_json::Value =
            response
                .json()
                .await
                .map_err(|e| ImageWatcherError::InvalidAnswer {
                    url: url.clone(),
                    problem: format!("invalid JSON: {e}"),
                })?;
        body.get("tag")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ImageWatcherError::InvalidAnswer {
                url,
                problem: "the answer has no `tag`".to_string(),
            })
    }
}
