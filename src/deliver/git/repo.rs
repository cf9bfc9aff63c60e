//! One change delivered as one commit: a fresh shallow clone of `git.branch` in a temporary
//! directory, the values files under `git.paths` edited (only the tag scalars, by
//! [`files`](crate::deliver::files)), committed with a trailer naming the upgrade, pushed to
//! its own branch with a pull request opened — or to `git.branch` directly with
//! `provider: none`, once more on top of the remote's new head if it moved meanwhile.
//!
//! Idempotent: before committing, the remote is asked whether the commit is already there (the
//! branch of its own, or a recent commit of `git.branch`, carrying the same trailer), and the
//! pull request already open for the branch is found rather than opened twice. So a delivery
//! retried after a crash makes no second commit and no second pull request.

use std::path::{Path, PathBuf};

use super::command::{CommandError, GitCommand};
use super::pull_request::{PullRequest, PullRequestError, PullRequests};
use super::settings::{Credentials, GitSettings, InvalidGit};
use crate::deliver::files::{FileError, LoadedFile, TagMove, plan_moves};

/// The largest values file read from the repository.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// How many commits of `git.branch` are fetched, and searched for an earlier delivery.
const DEPTH: &str = "20";

/// Why a change could not be delivered (this time). The text never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A git command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The pull request could not be opened.
    #[error(transparent)]
    PullRequest(#[from] PullRequestError),
    /// An image to move is in none of the values files.
    #[error("{0}")]
    NotInFiles(String),
    /// A values file could not be read as YAML, or edited.
    #[error("{0}")]
    File(#[from] FileError),
    /// A path of `git.paths` that cannot be used in the clone.
    #[error("git.paths: {0}")]
    Path(String),
    /// The branch of its own exists, but not with this upgrade's commit.
    #[error(
        "the branch {0} exists on the remote without this upgrade's commit: delete it, or reject the ImageUpgrade"
    )]
    ForeignBranch(String),
    /// The temporary directory could not be made or written.
    #[error("temporary clone: {0}")]
    Io(String),
}

impl DeliveryError {
    /// Trying again cannot help: the files or branches must change first.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DeliveryError::NotInFiles(_)
                | DeliveryError::File(_)
                | DeliveryError::Path(_)
                | DeliveryError::ForeignBranch(_)
        )
    }
}

/// One change to make.
#[derive(Debug, Clone)]
pub struct Change {
    /// The trailer line that names it in the commit (`ML-Operator-Upgrade: hub/name`), how a
    /// retry recognizes its earlier commit.
    pub marker: String,
    /// The branch of its own (pushed to when a pull request is opened).
    pub branch: String,
    /// The commit's subject (and the pull request's title).
    pub subject: String,
    /// The commit's body (and the pull request's description).
    pub body: String,
    /// The images to move.
    pub moves: Vec<TagMove>,
}

/// A delivered change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The branch the commit is on.
    pub branch: String,
    /// The commit's SHA.
    pub commit: String,
    /// The pull request's web URL.
    pub pull_request: Option<String>,
    /// The values files changed (relative to the repository root).
    pub files: Vec<String>,
    /// The commit was already there (an earlier try pushed it).
    pub already_pushed: bool,
}

/// The repository changes are delivered to.
#[derive(Debug, Clone)]
pub struct GitRepository {
    settings: GitSettings,
    pull_requests: Option<PullRequests>,
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl GitRepository {
    /// The repository of `settings`.
    pub fn new(settings: GitSettings) -> Result<GitRepository, InvalidGit> {
        let pull_requests = match (&settings.pull_request, &settings.credentials) {
            (Some(pr), Credentials::Token(token)) => Some(
                PullRequests::new(pr.clone(), token.clone(), settings.timeout).map_err(|e| {
                    InvalidGit::Invalid {
                        key: "pullRequest",
                        problem: format!("cannot build the HTTP client: {e}"),
                    }
                })?,
            ),
            _ => None,
        };
        Ok(GitRepository {
            settings,
            pull_requests,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    /// Delivers `change`: one commit, pushed, and its pull request.
    pub async fn deliver(&self, change: &Change) -> Result<Delivered, DeliveryError> {
        let root = std::env::temp_dir().join(format!(
            "ml-operator-git-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let io = |e: std::io::Error| DeliveryError::Io(e.to_string());
        std::fs::create_dir_all(root.join("home")).map_err(io)?;
        let root = TempDir(root);
        let git = GitCommand::new(self.settings.clone(), &root.0.join("home"));
        let repo = root.0.join("repo");
        git.run(
            &root.0,
            &[
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--depth",
                DEPTH,
                "--branch",
                &self.settings.branch,
                "--",
                &self.settings.url,
                "repo",
            ],
        )
        .await?;
        match &self.pull_requests {
            Some(pull_requests) => self.to_own_branch(&git, &repo, change, pull_requests).await,
            None => self.to_branch(&git, &repo, change).await,
        }
    }

    /// Pushes to the change's own branch and opens (or finds) its pull request.
    async fn to_own_branch(
        &self,
        git: &GitCommand,
        repo: &Path,
        change: &Change,
        pull_requests: &PullRequests,
    ) -> Result<Delivered, DeliveryError> {
        let refname = format!("refs/heads/{}", change.branch);
        let remote = git
            .run(repo, &["ls-remote", "--heads", "origin", &refname])
            .await?;
        if !remote.stdout.trim().is_empty() {
            git.run(
                repo,
                &["fetch", "--quiet", "--depth", "1", "origin", &refname],
            )
            .await?;
            let head = git
                .run(repo, &["log", "-1", "--format=%H%n%B", "FETCH_HEAD"])
                .await?;
            let (commit, message) = head.stdout.split_once('\n').unwrap_or((&head.stdout, ""));
            if !message.lines().any(|l| l.trim() == change.marker) {
                return Err(DeliveryError::ForeignBranch(change.branch.clone()));
            }
            let files = git
                .run(
                    repo,
                    &[
                        "diff-tree",
                        "--no-commit-id",
                        "--name-only",
                        "-r",
                        "FETCH_HEAD",
                    ],
                )
                .await
                .map(|o| o.stdout.lines().map(str::to_string).collect())
                .unwrap_or_default();
            let pull_request = match pull_requests.find(&change.branch).await? {
                Some(url) => url,
                None => pull_requests.open(&self.request(change)).await?,
            };
            return Ok(Delivered {
                branch: change.branch.clone(),
                commit: commit.trim().to_string(),
                pull_request: Some(pull_request),
                files,
                already_pushed: true,
            });
        }
        let (commit, files) = self.commit(git, repo, change).await?;
        git.run(
            repo,
            &["push", "--quiet", "origin", &format!("HEAD:{refname}")],
        )
        .await?;
        let pull_request = pull_requests.open(&self.request(change)).await?;
        Ok(Delivered {
            branch: change.branch.clone(),
            commit,
            pull_request: Some(pull_request),
            files,
            already_pushed: false,
        })
    }

    /// Pushes to `git.branch`; once more on the remote's new head if it moved.
    async fn to_branch(
        &self,
        git: &GitCommand,
        repo: &Path,
        change: &Change,
    ) -> Result<Delivered, DeliveryError> {
        let branch = &self.settings.branch;
        let refname = format!("refs/heads/{branch}");
        for attempt in 0..2 {
            if attempt > 0 {
                git.run(
                    repo,
                    &["fetch", "--quiet", "--depth", DEPTH, "origin", &refname],
                )
                .await?;
                git.run(repo, &["reset", "--quiet", "--hard", "FETCH_HEAD"])
                    .await?;
            }
            let log = git
                .run(repo, &["log", "-n", DEPTH, "--format=%H%n%B%x1e", "HEAD"])
                .await?;
            let earlier = log.stdout.split('\x1e').find_map(|entry| {
                let (commit, message) = entry.trim_start().split_once('\n')?;
                message
                    .lines()
                    .any(|l| l.trim() == change.marker)
                    .then_some(commit)
            });
            if let Some(commit) = earlier {
                return Ok(Delivered {
                    branch: branch.clone(),
                    commit: commit.trim().to_string(),
                    pull_request: None,
                    files: Vec::new(),
                    already_pushed: true,
                });
            }
            let (commit, files) = self.commit(git, repo, change).await?;
            match git
                .run(
                    repo,
                    &["push", "--quiet", "origin", &format!("HEAD:{refname}")],
                )
                .await
            {
                Ok(_) => {
                    return Ok(Delivered {
                        branch: branch.clone(),
                        commit,
                        pull_request: None,
                        files,
                        already_pushed: false,
                    });
                }
                Err(CommandError::Failed { stderr, .. })
                    if attempt == 0
                        && (stderr.contains("fetch first")
                            || stderr.contains("non-fast-forward")
                            || stderr.contains("[rejected]")) =>
                {
                    tracing::info!(
                        "git: {branch} moved while {} was committed; committing again on its new head",
                        change.marker
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// The pull request for `change`.
    fn request<'c>(&self, change: &'c Change) -> PullRequest<'c> {
        PullRequest {
            head: &change.branch,
            title: &change.subject,
            body: &change.body,
        }
    }

    /// Edits the files of the clone's HEAD and commits: the commit's SHA and the files.
    async fn commit(
        &self,
        git: &GitCommand,
        repo: &Path,
        change: &Change,
    ) -> Result<(String, Vec<String>), DeliveryError> {
        let files = self.read_files(repo)?;
        let (edits, notes) = plan_moves(&change.moves, &files)?;
        let missing: Vec<String> = change
            .moves
            .iter()
            .zip(&notes)
            .filter(|(_, notes)| notes.iter().any(|n| n.contains(" is in none of ")))
            .map(|(m, _)| m.image.to_string())
            .collect();
        if !missing.is_empty() || edits.is_empty() {
            let what = if missing.is_empty() {
                "no tag to change".to_string()
            } else {
                format!("{} is in none of them", missing.join(", "))
            };
            return Err(DeliveryError::NotInFiles(format!(
                "the values files of git.paths ({}) on {}: {what}",
                files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.settings.branch
            )));
        }
        for edit in &edits {
            std::fs::write(repo.join(&edit.path), &edit.after)
                .map_err(|e| DeliveryError::Io(format!("{}: {e}", edit.path)))?;
        }
        let changed: Vec<String> = edits.iter().map(|e| e.path.clone()).collect();
        let mut add = vec!["add", "--"];
        add.extend(changed.iter().map(String::as_str));
        git.run(repo, &add).await?;
        let body = format!("{}\n\n{}", change.body, change.marker);
        git.run(
            repo,
            &[
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                &change.subject,
                "-m",
                &body,
            ],
        )
        .await?;
        let head = git.run(repo, &["rev-parse", "HEAD"]).await?;
        Ok((head.stdout.trim().to_string(), changed))
    }

    /// The values files under `git.paths` in the clone (directories read recursively; hidden
    /// entries skipped; a symbolic link refused, it could lead out of the clone).
    fn read_files(&self, repo: &Path) -> Result<Vec<LoadedFile>, DeliveryError> {
        let mut found = Vec::new();
        for path in &self.settings.paths {
            let full = repo.join(path);
            let meta = std::fs::symlink_metadata(&full)
                .map_err(|e| DeliveryError::Path(format!("{path}: {e}")))?;
            if meta.file_type().is_symlink() {
                return Err(DeliveryError::Path(format!("{path} is a symbolic link")));
            }
            if meta.is_dir() {
                let walk = walkdir::WalkDir::new(&full)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                    });
                for entry in walk {
                    let entry = entry.map_err(|e| DeliveryError::Path(format!("{path}: {e}")))?;
                    let name = entry.file_name().to_string_lossy();
                    if entry.file_type().is_file()
                        && (name.ends_with(".yaml") || name.ends_with(".yml"))
                    {
                        let relative = entry
                            .path()
                            .strip_prefix(repo)
                            .unwrap_or(entry.path())
                            .display()
                            .to_string();
                        found.push(relative);
                    }
                }
            } else {
                found.push(path.trim_start_matches("./").to_string());
            }
        }
        let mut files = Vec::new();
        for relative in found {
            let full = repo.join(&relative);
            let size = std::fs::metadata(&full)
                .map_err(|e| DeliveryError::Path(format!("{relative}: {e}")))?
                .len();
            if size > MAX_FILE {
                return Err(DeliveryError::Path(format!(
                    "{relative}: {size} bytes is more than a values file ({MAX_FILE} at most)"
                )));
            }
            let text = std::fs::read_to_string(&full)
                .map_err(|e| DeliveryError::Path(format!("{relative}: {e}")))?;
            files.push(LoadedFile::parse(relative, text)?);
        }
        Ok(files)
    }
}
