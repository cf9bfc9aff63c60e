//! From "the registry as written in an image reference" to "the server we actually talk to, how".
//!
//! Docker's rules, which users expect: `docker.io` (and `index.docker.io`) is served by
//! `registry-1.docker.io`, and a one-segment repository there is an official image under
//! `library/`. Loopback registries are plain HTTP. A mirror replaces the server, never the
//! repository path.

use std::net::IpAddr;

use crate::error::{Error, ErrorKind};
use crate::options::{ClientOptions, RegistryConfig};

/// The canonical name of Docker Hub, as written in image references.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The server behind `docker.io`.
pub(crate) const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
/// Docker Hub's token service (the `realm` of `registry-1.docker.io`'s challenge).
pub(crate) const DOCKER_HUB_AUTH: &str = "auth.docker.io";

/// Lower-cases a registry host and folds Docker Hub's aliases into `docker.io`.
pub(crate) fn canonical_registry(host: &str) -> String {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    match host.as_str() {
        ""
        | "docker.io"
        | "index.docker.io"
        | "registry-1.docker.io"
        | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// Splits `host[:port]` (with `[v6]:port` brackets) into host and port.
pub(crate) fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((h, p))
            if !h.contains(':') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (h, Some(p))
        }
        _ => (authority, None),
    }
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port: reached over plain HTTP.
pub(crate) fn is_loopback(authority: &str) -> bool {
    let (host, _) = split_host_port(authority);
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Second-level labels under a two-letter country code that are public suffixes in practice
/// (`co.uk`, `com.au`, `org.br`, ...): a "parent domain" like that is shared by strangers.
const SHARED_SECOND_LEVEL: &[&str] = &["ac", "co", "com", "edu", "gov", "ltd", "net", "or", "org"];

/// Whether credentials for the server `registry` (`host[:port]`, the server actually
/// contacted) may go to a token service on `realm_host` (the host of a `Bearer` challenge's
/// realm, without port).
///
/// Yes for the same host name (any port), and for host names of the same organisation the way
/// real registries split registry and token service: the registry host's parent domain
/// (`registry.gitlab.com` → `gitlab.com`) and names under that parent (`registry-1.docker.io`
/// → `auth.docker.io`, `registry.example.com` → `gitlab.example.com`). A parent of fewer than
/// two labels (`ghcr.io` → `io`) or a shared second-level suffix (`foo.co.uk` → `co.uk`) does
/// not count, and IP addresses only match themselves. Everything else is "another host": a
/// registry (or whoever controls its answers) must not be able to collect the credentials
/// configured for it by naming a token service somewhere else.
pub(crate) fn same_site(registry: &str, realm_host: &str) -> bool {
    let (host, _) = split_host_port(registry);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let realm = realm_host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host == realm {
        return true;
    }
    if host.parse::<IpAddr>().is_ok() || realm.parse::<IpAddr>().is_ok() {
        return false;
    }
    let Some((_, parent)) = host.split_once('.') else {
        return false;
    };
    let labels: Vec<&str> = parent.split('.').collect();
    let shared_suffix =
        labels.len() == 2 && labels[1].len() == 2 && SHARED_SECOND_LEVEL.contains(&labels[0]);
    if labels.len() < 2 || shared_suffix {
        return false;
    }
    realm == parent || realm.ends_with(&format!(".{parent}"))
}

/// Checks a repository path (`mojaloop/central-ledger`) against the distribution grammar and
/// applies Docker Hub's `library/` rule.
pub(crate) fn normalize_repository(registry: &str, repository: &str) -> Result<String, Error> {
    let repo = repository.trim().trim_matches('/');
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Config,
            format!("{registry}/{repository}"),
            format!("invalid repository name: {why}"),
        )
    };
    if repo.is_empty() {
        return Err(bad("empty"));
    }
    if repo.len() > 255 {
        return Err(bad("longer than 255 characters"));
    }
    for component in repo.split('/') {
        if component.is_empty() {
            return Err(bad("empty path component"));
        }
        let ok_chars = component.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let ok_ends = component.as_bytes()[0].is_ascii_alphanumeric()
            && component.as_bytes()[component.len() - 1].is_ascii_alphanumeric();
        if !ok_chars || !ok_ends {
            return Err(bad(&format!(
                "component {component:?} must be lower-case letters, digits and separators (. _ -)"
            )));
        }
    }
    if registry == DOCKER_HUB && !repo.contains('/') {
        return Ok(format!("library/{repo}"));
    }
    Ok(repo.to_string())
}

/// How one server is reached, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTPS; `verify: false` only for insecure registries.
    Https {
        /// Whether the certificate chain and host name are checked.
        verify: bool,
    },
    /// Plain HTTP: loopback and insecure registries only.
    Http,
}

impl Transport {
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Transport::Https { .. } => "https",
            Transport::Http => "http",
        }
    }
}

/// The resolved server for a registry as written.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The canonical name of the server contacted (`docker.io`, `ghcr.io`, `mirror:5000`): the
    /// key for its state, limits and credentials.
    pub key: String,
    /// `host[:port]` used in URLs (`registry-1.docker.io` for Docker Hub).
    pub authority: String,
    /// Transports to try in order; the first that connects sticks.
    pub transports: Vec<Transport>,
    /// The settings that apply to that server (its own `registries:` entry, else the entry of
    /// the registry it mirrors).
    pub settings: RegistryConfig,
}

/// Resolves `registry` (canonical) using the options: mirrors, insecure lists, loopback rule.
pub(crate) fn resolve(options: &ClientOptions, registry: &str) -> Result<Endpoint, Error> {
    let entry = find_entry(options, registry);
    let (explicit_scheme, target, settings) = match entry
        .and_then(|e| e.mirror.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(mirror) => {
            let (scheme, authority) = parse_mirror(mirror).ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!("registries[{registry}].mirror"),
                    format!("{mirror:?} is not host[:port] or an http(s) URL"),
                )
            })?;
            let target = canonical_registry(&authority);
            let settings = find_entry(options, &target)
                .or(entry)
                .cloned()
                .unwrap_or_default();
            (scheme, target, settings)
        }
        None => (
            None,
            registry.to_string(),
            entry.cloned().unwrap_or_default(),
        ),
    };
    validate_authority(&target)
        .map_err(|why| Error::new(ErrorKind::Config, target.clone(), why))?;
    let authority = if target == DOCKER_HUB {
        DOCKER_HUB_ENDPOINT.to_string()
    } else {
        target.clone()
    };

    let (host_only, _) = split_host_port(&target);
    let insecure = settings.insecure
        || options
            .insecure_registries
            .iter()
            .map(|h| canonical_registry(h))
            .any(|h| h == target || h == host_only);
    let transports = match explicit_scheme {
        Some("http") => vec![Transport::Http],
        Some(_) => vec![Transport::Https { verify: !insecure }],
        None if settings.ca_file.is_some() && !insecure => vec![Transport::Https { verify: true }],
        // Docker's order for insecure registries: try TLS (unverified), then plain HTTP.
        None if insecure => vec![Transport::Https { verify: false }, Transport::Http],
        None if is_loopback(&target) => vec![Transport::Http],
        None => vec![Transport::Https { verify: true }],
    };
    Ok(Endpoint {
        key: target,
        authority,
        transports,
        settings,
    })
}

fn find_entry<'a>(options: &'a ClientOptions, registry: &str) -> Option<&'a RegistryConfig> {
    options
        .registries
        .iter()
        .find(|r| canonical_registry(&r.host) == registry)
}

/// `mirror:5000` → (None, "mirror:5000"); `https://mirror.gcr.io/` → (Some("https"), "mirror.gcr.io").
fn parse_mirror(mirror: &str) -> Option<(Option<&'static str>, String)> {
    if mirror.contains("://") {
        let url = url::Url::parse(mirror).ok()?;
        let scheme = match url.scheme() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Some((Some(scheme), authority))
    } else {
        let authority = mirror.trim_end_matches('/');
        (!authority.contains('/') && !authority.is_empty()).then(|| (None, authority.to_string()))
    }
}

/// A registry host must be `host[:port]`: no scheme, path, user info or spaces.
pub(crate) fn validate_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("empty registry host".into());
    }
    if authority.contains("://")
        || authority.contains('/')
        || authority.contains('@')
        || authority.chars().any(char::is_whitespace)
    {
        return Err("registry must be host[:port] without scheme, path or user info".into());
    }
    url::Url::parse(&format!("http://{authority}/"))
        .map_err(|e| format!("not a valid host[:port]: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_and_library() {
        for h in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "DOCKER.IO",
            "",
        ] {
            assert_eq!(canonical_registry(h), "docker.io");
        }
        assert_eq!(
            normalize_repository("docker.io", "redis").unwrap(),
            "library/redis"
        );
        assert_eq!(
            normalize_repository("docker.io", "library/redis").unwrap(),
            "library/redis"
        );
        assert_eq!(
            normalize_repository("docker.io", "mojaloop/central-ledger").unwrap(),
            "mojaloop/central-ledger"
        );
        assert_eq!(
            normalize_repository("ghcr.io", "app").unwrap(),
            "app",
            "library/ is Docker Hub only"
        );
        let ep = resolve(&ClientOptions::default(), "docker.io").unwrap();
        assert_eq!(ep.authority, "registry-1.docker.io");
        assert_eq!(ep.transports, vec![Transport::Https { verify: true }]);
    }

    #[test]
    fn repository_grammar() {
        for bad in ["", "UPPER/case", "a//b", "-a", "a-", "a/b c", "a:b"] {
            assert!(
                normalize_repository("ghcr.io", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        for good in ["a", "a/b/c", "my_org/my.app-2", "a__b"] {
            assert!(
                normalize_repository("ghcr.io", good).is_ok(),
                "{good:?} should be accepted"
            );
        }
    }

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:41234",
            "[::1]:5000",
            "::1",
            "foo.localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "ghcr.io",
            "localhost.example.com",
            "[fe80::1]:5000",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn transports_follow_docker_rules() {
        let mut o = ClientOptions {
            insecure_registries: vec!["registry.lan:5000".into(), "build.lan".into()],
            ..Default::default()
        };
        o.registries.push(RegistryConfig {
            host: "127.0.0.1:8443".into(),
            ca_file: Some("/ca.pem".into()),
            ..Default::default()
        });
        assert_eq!(
            resolve(&o, "127.0.0.1:5000").unwrap().transports,
            vec![Transport::Http]
        );
        assert_eq!(
            resolve(&o, "[::1]:5000").unwrap().transports,
            vec![Transport::Http]
        );
        assert_eq!(
            resolve(&o, "127.0.0.1:8443").unwrap().transports,
            vec![Transport::Https { verify: true }],
            "a CA file means TLS even on loopback"
        );
        let insecure = vec![Transport::Https { verify: false }, Transport::Http];
        assert_eq!(
            resolve(&o, "registry.lan:5000").unwrap().transports,
            insecure
        );
        assert_eq!(
            resolve(&o, "build.lan:5000").unwrap().transports,
            insecure,
            "a host without port covers all ports"
        );
        assert_eq!(
            resolve(&o, "registry.lan:6000").unwrap().transports,
            vec![Transport::Https { verify: true }]
        );
    }

    #[test]
    fn mirror_replaces_server_and_takes_its_own_entry() {
        let mut o = ClientOptions::default();
        o.registries.push(RegistryConfig {
            host: "docker.io".into(),
            mirror: Some("hub-mirror.lan:5000".into()),
            username: Some("u".into()),
            ..Default::default()
        });
        let ep = resolve(&o, "docker.io").unwrap();
        assert_eq!(ep.key, "hub-mirror.lan:5000");
        assert_eq!(ep.authority, "hub-mirror.lan:5000");
        assert_eq!(
            ep.settings.username.as_deref(),
            Some("u"),
            "without its own entry the mirror uses the mirrored entry"
        );
        o.registries.push(RegistryConfig {
            host: "hub-mirror.lan:5000".into(),
            insecure: true,
            ..Default::default()
        });
        let ep = resolve(&o, "docker.io").unwrap();
        assert_eq!(ep.settings.username, None);
        assert_eq!(
            ep.transports,
            vec![Transport::Https { verify: false }, Transport::Http]
        );
        o.registries[0].mirror = Some("http://127.0.0.1:5001/".into());
        let ep = resolve(&o, "docker.io").unwrap();
        assert_eq!(
            (ep.authority.as_str(), ep.transports.clone()),
            ("127.0.0.1:5001", vec![Transport::Http])
        );
        o.registries[0].mirror = Some("ftp://x".into());
        assert_eq!(
            resolve(&o, "docker.io").unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn credentials_go_only_to_token_services_of_the_same_site() {
        for (registry, realm) in [
            ("registry-1.docker.io", "auth.docker.io"),
            ("registry.gitlab.com", "gitlab.com"),
            ("registry.example.com:5000", "gitlab.example.com"),
            ("harbor.example.com", "harbor.example.com"),
            ("ghcr.io", "ghcr.io"),
            ("127.0.0.1:5000", "127.0.0.1"),
            ("[::1]:5000", "[::1]"),
            ("Harbor.Example.com", "harbor.example.com."),
            ("registry.foo.co.uk", "auth.foo.co.uk"),
        ] {
            assert!(same_site(registry, realm), "{registry} -> {realm}");
        }
        for (registry, realm) in [
            ("ghcr.io", "evil.io"),
            ("harbor.example.com", "example.org"),
            ("harbor.example.com", "notexample.com"),
            ("foo.co.uk", "evil.co.uk"),
            ("foo.com.au", "evil.com.au"),
            ("127.0.0.1:5000", "localhost"),
            ("127.0.0.1:5000", "127.0.0.2"),
            ("localhost:5000", "127.0.0.1"),
            ("10.0.0.5:5000", "10.0.0.6"),
        ] {
            assert!(!same_site(registry, realm), "{registry} -> {realm}");
        }
    }

    #[test]
    fn bad_hosts_are_config_errors() {
        for bad in ["https://ghcr.io", "ghcr.io/path", "user@ghcr.io", "a b"] {
            assert!(validate_authority(bad).is_err(), "{bad}");
        }
        assert!(validate_authority("[::1]:5000").is_ok());
    }
}
