//! Where credentials come from: `config.json` and Kubernetes `dockerconfigjson` secrets
//! ([`parse_docker_config`]), and the password files of the `registries:` list. The
//! [`Credential`] type itself is plain data in `options.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::endpoint::canonical_registry;
use crate::error::{Error, ErrorKind};
use crate::options::Credential;

#[derive(Deserialize)]
struct DockerConfigFile {
    auths: Option<HashMap<String, AuthEntry>>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers")]
    cred_helpers: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// Parses a Docker `config.json` (or a Kubernetes `.dockerconfigjson` secret value, which has
/// the same `auths` shape; the older `.dockercfg` map without `auths` is accepted too) into
/// `(registry, credential)` pairs.
///
/// Keys are normalised the way image references are written: `https://index.docker.io/v1/`
/// becomes `docker.io`, `https://ghcr.io` becomes `ghcr.io`, `http://localhost:5000/v2/`
/// becomes `localhost:5000`. Entries are taken from `auth` (base64 `user:password`), from
/// `username`/`password`, from `identitytoken` or `registrytoken`; entries with none of these
/// are skipped. Credential helpers (`credsStore`, `credHelpers`) are not run.
///
/// The error names the offending key, never a secret.
pub fn parse_docker_config(json: &str) -> Result<Vec<(String, Credential)>, Error> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            "docker config",
            format!(
                "not valid JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })?;
    let auths: HashMap<String, AuthEntry> = if value.get("auths").is_some() {
        let file: DockerConfigFile = serde_json::from_value(value)
            // The serde message may quote a value; values can be secrets, so say only where.
            .map_err(|_| Error::new(ErrorKind::Config, "docker config", "`auths` must map registry names to objects of strings (auth, username, password, identitytoken)"))?;
        if file.creds_store.is_some() || file.cred_helpers.as_ref().is_some_and(|h| !h.is_empty()) {
            tracing::debug!(
                "docker config names credential helpers; they are not run, only `auths` is used"
            );
        }
        file.auths.unwrap_or_default()
    } else if value.is_object() {
        // Legacy .dockercfg: the map of registries is the top level. Keep only object entries
        // that look like auth entries; other top-level keys (credsStore, HttpHeaders) are ignored.
        value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| {
                v.is_object()
                    && (v.get("auth").is_some()
                        || v.get("username").is_some()
                        || v.get("identitytoken").is_some())
            })
            .map(|(k, v)| {
                serde_json::from_value::<AuthEntry>(v.clone())
                    .map(|e| (k.clone(), e))
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::Config,
                            "docker config",
                            format!("entry {k:?} must be an object of strings"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?
    } else {
        return Err(Error::new(
            ErrorKind::Config,
            "docker config",
            "expected a JSON object",
        ));
    };

    let mut out = Vec::new();
    let mut keys: Vec<_> = auths.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, entry) in keys {
        let host = registry_from_config_key(&key);
        if host.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "docker config",
                format!("entry {key:?} names no registry host"),
            ));
        }
        if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
            let username = entry.username.clone().or_else(|| {
                decode_auth(entry.auth.as_deref())
                    .ok()
                    .flatten()
                    .map(|(u, _)| u)
            });
            out.push((host, Credential::IdentityToken { username, token }));
        } else if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
            out.push((host, Credential::RegistryToken(token)));
        } else if let Some((username, password)) =
            decode_auth(entry.auth.as_deref()).map_err(|msg| {
                Error::new(
                    ErrorKind::Config,
                    "docker config",
                    format!("entry {key:?}: {msg}"),
                )
            })?
        {
            out.push((host, Credential::Basic { username, password }));
        } else if let (Some(username), Some(password)) = (entry.username, entry.password) {
            out.push((host, Credential::Basic { username, password }));
        }
    }
    Ok(out)
}

/// Decodes an `auth` field: base64 of `user:password` (the password may contain `:`).
fn decode_auth(auth: Option<&str>) -> Result<Option<(String, String)>, String> {
    let Some(auth) = auth.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(auth.trim_end_matches('='))
        })
        .map_err(|_| "`auth` is not valid base64".to_string())?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "`auth` is not UTF-8 after base64 decoding".to_string())?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| "`auth` does not decode to `user:password`".to_string())?;
    Ok(Some((user.to_string(), pass.to_string())))
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://localhost:5000/v2/` → `localhost:5000`.
pub(crate) fn registry_from_config_key(key: &str) -> String {
    let key = key.trim();
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or("");
    canonical_registry(host)
}

/// Reads `config.json` from `dir` (or `$DOCKER_CONFIG`, or `~/.docker`). A missing file gives
/// no credentials; a malformed one is an error naming the file.
pub(crate) fn load_docker_config(dir: Option<&Path>) -> Result<Vec<(String, Credential)>, Error> {
    let dir: Option<PathBuf> = match dir {
        Some(d) => Some(d.to_path_buf()),
        None => std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".docker"))
            }),
    };
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let path = dir.join("config.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_docker_config(&text).map_err(|e| {
            Error::new(
                e.kind(),
                path.display().to_string(),
                e.message().to_string(),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::new(
            ErrorKind::Io,
            path.display().to_string(),
            e.to_string(),
        )),
    }
}

/// Reads a password file: the whole file with one trailing newline (and `\r`) removed, the way
/// Kubernetes secrets and `echo` leave them.
pub(crate) fn read_password_file(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            path.display().to_string(),
            format!("cannot read password file: {e}"),
        )
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            path.display().to_string(),
            "password file is empty",
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_auths_with_auth_identitytoken_and_username_password() {
        let json = format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "ghcr.io":{{"username":"octo","password":"ghp_x"}},
                "https://myacr.azurecr.io":{{"auth":"{}","identitytoken":"refresh-abc"}},
                "http://localhost:5000/v2/":{{"auth":"{}"}},
                "quay.io":{{}}
            }},"credsStore":"desktop"}}"#,
            b64("alice:pa:ss"),
            b64("00000000-0000-0000-0000-000000000000:"),
            b64("bob:pw")
        );
        let creds = parse_docker_config(&json).unwrap();
        let map: HashMap<_, _> = creds.into_iter().collect();
        assert_eq!(
            map["docker.io"],
            Credential::Basic {
                username: "alice".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            map["ghcr.io"],
            Credential::Basic {
                username: "octo".into(),
                password: "ghp_x".into()
            }
        );
        assert_eq!(
            map["myacr.azurecr.io"],
            Credential::IdentityToken {
                username: Some("00000000-0000-0000-0000-000000000000".into()),
                token: "refresh-abc".into()
            }
        );
        assert_eq!(
            map["localhost:5000"],
            Credential::Basic {
                username: "bob".into(),
                password: "pw".into()
            }
        );
        assert!(
            !map.contains_key("quay.io"),
            "an empty entry gives no credential"
        );
    }

    #[test]
    fn parses_legacy_dockercfg() {
        let json = format!(
            r#"{{"registry.example.com":{{"auth":"{}","email":"x@y"}}}}"#,
            b64("u:p")
        );
        let creds = parse_docker_config(&json).unwrap();
        assert_eq!(
            creds,
            vec![(
                "registry.example.com".to_string(),
                Credential::Basic {
                    username: "u".into(),
                    password: "p".into()
                }
            )]
        );
    }

    #[test]
    fn bad_auth_names_the_key_not_the_secret() {
        let err = parse_docker_config(r#"{"auths":{"ghcr.io":{"auth":"!!!not-base64-secret"}}}"#)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let shown = err.to_string();
        assert!(shown.contains("ghcr.io"), "{shown}");
        assert!(!shown.contains("not-base64-secret"), "{shown}");
    }

    #[test]
    fn bad_json_is_a_config_error_with_position() {
        let err = parse_docker_config("{\n  \"auths\": {,}\n}").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn password_file_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
        std::fs::write(&p, "").unwrap();
        assert_eq!(
            read_password_file(&p).unwrap_err().kind(),
            ErrorKind::Config
        );
        let missing = read_password_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Io);
        assert!(missing.to_string().contains("nope"));
    }

    #[test]
    fn docker_config_dir_missing_file_is_empty_malformed_is_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_docker_config(Some(dir.path())).unwrap().is_empty());
        std::fs::write(dir.path().join("config.json"), "not json").unwrap();
        let err = load_docker_config(Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
