//! One `git` command: Debian's git CLI run with an argument vector (never a shell), in a
//! directory of its own, with no system or global configuration, no terminal prompt, a time
//! bound and an output bound. The token travels only in the environment, as an
//! `http.extraHeader` (never in argv or a URL), and is removed from anything git prints before
//! that reaches an error.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::settings::{Credentials, GitSettings};
use crate::inventory::shell::quote;

/// The most output kept from one git command (stdout and stderr each).
const MAX_OUTPUT: u64 = 1024 * 1024;
/// The most of git's stderr quoted in an error.
const MAX_QUOTED: usize = 2000;
/// The operator's environment variables git still sees: the way out (proxies) and the CA
/// certificates to trust. Nothing else of the operator's environment reaches git.
const PASSED_THROUGH: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A git command that failed; the text never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// git could not be started.
    #[error("git {what}: cannot run git: {problem}")]
    Spawn {
        /// The subcommand.
        what: String,
        /// Why.
        problem: String,
    },
    /// It ran longer than `git.timeout` and was killed.
    #[error("git {what}: no answer within {}", crate::config::duration::format(*timeout))]
    Timeout {
        /// The subcommand.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// It printed more than the bound and was killed.
    #[error("git {what}: printed more than {MAX_OUTPUT} bytes")]
    TooMuchOutput {
        /// The subcommand.
        what: String,
    },
    /// It exited with an error.
    #[error("git {what} failed ({status}): {stderr}")]
    Failed {
        /// The subcommand.
        what: String,
        /// The exit status.
        status: String,
        /// What it printed on stderr, redacted and shortened.
        stderr: String,
    },
}

/// What a successful command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its stdout.
    pub stdout: String,
}

/// Runs git for one repository's settings.
#[derive(Debug, Clone)]
pub struct GitCommand {
    settings: GitSettings,
    home: std::path::PathBuf,
}

impl GitCommand {
    /// A runner for `settings`; `home` is an empty directory used as `HOME` (nothing of the
    /// operator's own home is read).
    pub fn new(settings: GitSettings, home: &Path) -> GitCommand {
        GitCommand {
            settings,
            home: home.to_path_buf(),
        }
    }

    /// The `Authorization` header value for the token, if any.
    fn authorization(&self) -> Option<String> {
        match &self.settings.credentials {
            Credentials::Token(token) => {
                let user = match self.settings.pull_request.as_ref().map(|p| p.provider) {
                    Some(crate::config::Provider::Gitlab) => "oauth2",
                    _ => "x-access-token",
                };
                let pair = format!("{user}:{}", token.expose());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            _ => None,
        }
    }

    /// `text` with the token (and its header form) replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        if let Credentials::Token(token) = &self.settings.credentials {
            if let Some(header) = self.authorization() {
                let encoded = header.trim_start_matches("Basic ").to_string();
                text = text.replace(&encoded, "<redacted>");
            }
            text = text.replace(token.expose(), "<redacted>");
        }
        text
    }

    /// Runs `git ARGS` in `dir`; `Ok` with its stdout when it exits 0.
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<Output, CommandError> {
        let what = args.first().copied().unwrap_or_default().to_string();
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ASKPASS", "/bin/false")
            .env("GIT_ALLOW_PROTOCOL", "https:http:ssh:git")
            .env("GIT_AUTHOR_NAME", &self.settings.author_name)
            .env("GIT_AUTHOR_EMAIL", &self.settings.author_email)
            .env("GIT_COMMITTER_NAME", &self.settings.author_name)
            .env("GIT_COMMITTER_EMAIL", &self.settings.author_email)
            .envs(
                PASSED_THROUGH
                    .iter()
                    .filter_map(|key| Some((*key, std::env::var_os(key)?))),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match &self.settings.credentials {
            Credentials::Token(_) => {
                let header = self.authorization().unwrap_or_default();
                command
                    .env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                    .env("GIT_CONFIG_VALUE_0", format!("Authorization: {header}"));
            }
            Credentials::Ssh {
                key_file,
                known_hosts,
            } => {
                let ssh = format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                    quote(&key_file.display().to_string()),
                    quote(&known_hosts.display().to_string())
                );
                command.env("GIT_SSH_COMMAND", ssh);
            }
            Credentials::None => {}
        }
        let mut child = command.spawn().map_err(|e| CommandError::Spawn {
            what: what.clone(),
            problem: e.to_string(),
        })?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut stdout = (&mut stdout).take(MAX_OUTPUT + 1);
            let mut stderr = (&mut stderr).take(MAX_OUTPUT + 1);
            let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
            let too_much = out.len() as u64 > MAX_OUTPUT || err.len() as u64 > MAX_OUTPUT;
            if too_much || a.is_err() || b.is_err() {
                return Err(too_much);
            }
            Ok((child.wait().await, out, err))
        };
        let finished = tokio::time::timeout(self.settings.timeout, work).await;
        let (status, out, err) = match finished {
            Err(_) => {
                return Err(CommandError::Timeout {
                    what,
                    timeout: self.settings.timeout,
                });
            }
            Ok(Err(_)) => return Err(CommandError::TooMuchOutput { what }),
            Ok(Ok(result)) => result,
        };
        let status = status.map_err(|e| CommandError::Spawn {
            what: what.clone(),
            problem: e.to_string(),
        })?;
        if !status.success() {
            let text = self.redact(String::from_utf8_lossy(&err).trim());
            let stderr: String = text.chars().take(MAX_QUOTED).collect();
            return Err(CommandError::Failed {
                what,
                status: status.to_string(),
                stderr,
            });
        }
        Ok(Output {
            stdout: String::from_utf8_lossy(&out).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_token_and_its_header_form_are_redacted() {
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "ghp_T0ken").unwrap();
        let config = Config::parse(
            &format!(
                "git: {{url: 'https://h/a/b.git', paths: [v.yaml], tokenFile: {}}}\n",
                token.path().display()
            ),
            "c.yaml",
        )
        .unwrap();
        let settings = GitSettings::from_config(&config.git).unwrap().unwrap();
        let git = GitCommand::new(settings, Path::new("/nonexistent"));
        let header = git.authorization().unwrap();
        assert_eq!(
            header,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("x-access-token:ghp_T0ken")
            )
        );
        let text = format!("fatal: ghp_T0ken rejected; sent {header}");
        assert_eq!(
            git.redact(&text),
            "fatal: <redacted> rejected; sent Basic <redacted>"
        );
    }
}
