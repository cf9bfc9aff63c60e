//! Container image references, parsed with the Docker reference grammar.
//!
//! A workload names its image the way a person wrote it (`mojaloop/central-ledger:v10.3.0`,
//! `docker.io/library/redis:6.2.4`, `registry.local:5000/x/y@sha256:…`). We need three views of it:
//! the registry and repository to ask for tags (normalised: `docker.io`, `library/redis`), the
//! familiar name people search for (`redis`), and a new reference with another tag that keeps the
//! registry and repository *exactly as written*, so a patch changes nothing but the tag.
//!
//! The grammar is distribution's `reference` package:
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ domain "/" ] path-component ( "/" path-component )*
//! domain         := host [ ":" port ]          (first component with "." or ":", or "localhost")
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest         := algorithm ":" hex          (sha256: 64 hex digits)
//! ```

use std::fmt;

/// The registry an image without a domain comes from.
pub const DOCKER_HUB: &str = "docker.io";

/// Names longer than this are rejected by the reference grammar.
const MAX_NAME_LEN: usize = 255;
/// Tags longer than this are rejected by the reference grammar.
const MAX_TAG_LEN: usize = 128;

/// A parsed image reference; keeps the text as written alongside its normalised parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    original: String,
    /// The domain exactly as written, if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    domain: Option<String>,
    /// The path exactly as written (`redis`, `mojaloop/central-ledger`).
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why an image reference could not be parsed; the message names the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {problem}")]
pub struct InvalidReference {
    /// The reference as written.
    pub reference: String,
    /// What is wrong with it.
    pub problem: ReferenceProblem,
}

/// What is wrong with an image reference (the grammar of the distribution reference library).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceProblem {
    /// Nothing was written.
    #[error("it is empty")]
    Empty,
    /// Spaces or newlines around it.
    #[error("it has leading or trailing whitespace")]
    Whitespace,
    /// Only a tag or digest.
    #[error("the repository name is missing")]
    MissingName,
    /// Longer than registries accept.
    #[error("the repository name is longer than 255 characters")]
    NameTooLong,
    /// `[::1` without `]`.
    #[error("the registry {0:?} has an unclosed '['")]
    UnclosedBracket(String),
    /// `[...]` that is not an IPv6 address.
    #[error("the registry {0:?} is not a valid IPv6 address")]
    InvalidIpv6(String),
    /// Something other than `:port` after `]`.
    #[error("the registry {0:?} has junk after ']'")]
    JunkAfterBracket(String),
    /// A port that is not a number from 0 to 65535.
    #[error("the registry {domain:?} has an invalid port {port:?}")]
    InvalidPort {
        /// The registry as written.
        domain: String,
        /// The port part.
        port: String,
    },
    /// A host that is not a DNS name.
    #[error("the registry host {0:?} is not a valid host name")]
    InvalidHost(String),
    /// `a//b`.
    #[error("the repository path has an empty component")]
    EmptyComponent,
    /// Repositories are lower case.
    #[error("the repository component {0:?} must be lower case")]
    UpperCase(String),
    /// Other characters or separators.
    #[error(
        "the repository component {0:?} may only hold a-z, 0-9 and single '.', '_', '__' or '-' separators between them"
    )]
    InvalidComponent(String),
    /// A tag outside the tag grammar.
    #[error(
        "the tag {0:?} must be 1-128 characters of A-Z, a-z, 0-9, '_', '.' or '-', not starting with '.' or '-'"
    )]
    InvalidTag(String),
    /// A digest without `algorithm:`.
    #[error("the digest {0:?} must look like sha256:<hex>")]
    DigestShape(String),
    /// An algorithm registries do not support.
    #[error("the digest algorithm {0:?} is not supported (sha256, sha384 or sha512)")]
    DigestAlgorithm(String),
    /// The wrong number of hex digits.
    #[error("the digest {digest:?} must be {algorithm}: followed by {length} hex digits")]
    DigestLength {
        /// The digest as written.
        digest: String,
        /// Its algorithm.
        algorithm: String,
        /// The hex digits that algorithm has.
        length: usize,
    },
}

impl ImageRef {
    /// Parses a reference such as `mojaloop/central-ledger:v10.3.0` or `host:5000/a/b@sha256:…`.
    pub fn parse(reference: &str) -> Result<ImageRef, InvalidReference> {
        let fail = |problem: ReferenceProblem| InvalidReference {
            reference: reference.to_string(),
            problem,
        };
        if reference.is_empty() {
            return Err(fail(ReferenceProblem::Empty));
        }
        if reference.trim() != reference {
            return Err(fail(ReferenceProblem::Whitespace));
        }

        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(fail)?;
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };

        // A tag follows the last ':' that comes after the last '/', so a registry port is not a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }
        if name.is_empty() {
            return Err(fail(ReferenceProblem::MissingName));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(fail(ReferenceProblem::NameTooLong));
        }

        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            check_domain(domain).map_err(fail)?;
        }
        check_path(path).map_err(fail)?;

        Ok(ImageRef {
            original: reference.to_string(),
            domain: domain.map(str::to_string),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The reference exactly as written.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The registry to ask for tags: the domain as written, or `docker.io` when there is none.
    pub fn registry(&self) -> &str {
        self.domain.as_deref().unwrap_or(DOCKER_HUB)
    }

    /// The repository path in that registry; single-component Docker Hub names get `library/`.
    pub fn repository(&self) -> String {
        if self.registry() == DOCKER_HUB && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        }
    }

    /// The name people use: Docker Hub's domain and `library/` left out (`redis`,
    /// `mojaloop/central-ledger`, `ghcr.io/org/app`).
    pub fn familiar_name(&self) -> String {
        if self.registry() == DOCKER_HUB {
            let path = self.path.strip_prefix("library/").unwrap_or(&self.path);
            path.to_string()
        } else {
            format!("{}/{}", self.registry(), self.path)
        }
    }

    /// The fully qualified repository: `docker.io/library/redis`.
    pub fn canonical_name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if the reference is pinned by one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same registry and repository, exactly as written, with `tag` and no digest: a pinned
    /// digest belongs to the old tag and would otherwise win over the new tag.
    pub fn with_tag(&self, tag: &str) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}:{tag}", self.path),
            None => format!("{}:{tag}", self.path),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Splits off the domain the way Docker does: the first component is a domain when it contains
/// `.` or `:`, is `localhost`, or has upper-case letters (which a path component cannot).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_domain(domain: &str) -> Result<(), ReferenceProblem> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| ReferenceProblem::UnclosedBracket(domain.to_string()))?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(ReferenceProblem::InvalidIpv6(domain.to_string()));
        }
        match after {
            "" => return Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(ReferenceProblem::JunkAfterBracket(domain.to_string())),
            },
        }
    } else {
        match domain.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(ReferenceProblem::InvalidPort {
            domain: domain.to_string(),
            port: port.to_string(),
        });
    }
    if let Some(host) = host {
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(valid_label) {
            return Err(ReferenceProblem::InvalidHost(host.to_string()));
        }
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), ReferenceProblem> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(ReferenceProblem::EmptyComponent);
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceProblem::UpperCase(component.to_string()));
        }
        if !is_path_component(component) {
            return Err(ReferenceProblem::InvalidComponent(component.to_string()));
        }
    }
    Ok(())
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn is_path_component(component: &str) -> bool {
    let mut separator = String::new();
    let mut seen_alnum = false;
    for c in component.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            let valid_separator = matches!(separator.as_str(), "" | "." | "_" | "__")
                || separator.chars().all(|s| s == '-');
            if !valid_separator {
                return false;
            }
            separator.clear();
            seen_alnum = true;
        } else if matches!(c, '.' | '_' | '-') && seen_alnum {
            separator.push(c);
        } else {
            return false;
        }
    }
    seen_alnum && separator.is_empty()
}

fn check_tag(tag: &str) -> Result<(), ReferenceProblem> {
    let mut chars = tag.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_first
        || tag.len() > MAX_TAG_LEN
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ReferenceProblem::InvalidTag(tag.to_string()));
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), ReferenceProblem> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| ReferenceProblem::DigestShape(digest.to_string()))?;
    // The algorithms registries and go-digest support; anything else cannot be pulled.
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceProblem::DigestAlgorithm(algorithm.to_string()));
        }
    };
    if hex.len() != expected_len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ReferenceProblem::DigestLength {
            digest: digest.to_string(),
            algorithm: algorithm.to_string(),
            length: expected_len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    #[test]
    fn splits_registry_repository_tag_and_digest() {
        // (reference, registry, repository, familiar, tag, digest?)
        let cases = [
            ("redis", "docker.io", "library/redis", "redis", None, false),
            (
                "redis:6.2.4",
                "docker.io",
                "library/redis",
                "redis",
                Some("6.2.4"),
                false,
            ),
            (
                "docker.io/library/redis:7",
                "docker.io",
                "library/redis",
                "redis",
                Some("7"),
                false,
            ),
            (
                "docker.io/redis:7",
                "docker.io",
                "library/redis",
                "redis",
                Some("7"),
                false,
            ),
            (
                "mojaloop/central-ledger:v10.3.0",
                "docker.io",
                "mojaloop/central-ledger",
                "mojaloop/central-ledger",
                Some("v10.3.0"),
                false,
            ),
            (
                "localhost/app:1",
                "localhost",
                "app",
                "localhost/app",
                Some("1"),
                false,
            ),
            (
                "localhost:5000/a/b:c",
                "localhost:5000",
                "a/b",
                "localhost:5000/a/b",
                Some("c"),
                false,
            ),
            (
                "127.0.0.1:41234/x/y",
                "127.0.0.1:41234",
                "x/y",
                "127.0.0.1:41234/x/y",
                None,
                false,
            ),
            (
                "[::1]:5000/x:1",
                "[::1]:5000",
                "x",
                "[::1]:5000/x",
                Some("1"),
                false,
            ),
            (
                "ghcr.io/org/app:1.0@SHA",
                "ghcr.io",
                "org/app",
                "ghcr.io/org/app",
                Some("1.0"),
                true,
            ),
            (
                "busybox@SHA",
                "docker.io",
                "library/busybox",
                "busybox",
                None,
                true,
            ),
            (
                "Registry/app",
                "Registry",
                "app",
                "Registry/app",
                None,
                false,
            ),
            (
                "a__b/c-d--e.f_g:x",
                "docker.io",
                "a__b/c-d--e.f_g",
                "a__b/c-d--e.f_g",
                Some("x"),
                false,
            ),
        ];
        for (reference, registry, repository, familiar, tag, has_digest) in cases {
            let reference = reference.replace("SHA", SHA);
            let image = ImageRef::parse(&reference).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(image.registry(), registry, "{reference}");
            assert_eq!(image.repository(), repository, "{reference}");
            assert_eq!(image.familiar_name(), familiar, "{reference}");
            assert_eq!(image.tag(), tag, "{reference}");
            assert_eq!(image.digest().is_some(), has_digest, "{reference}");
            assert_eq!(image.as_str(), reference);
        }
    }

    #[test]
    fn whitespace_and_control_characters_are_never_part_of_a_reference() {
        let bad = (0u32..0x20)
            .chain([0x7f, 0x85, 0xa0, 0x2028, 0x202e])
            .filter_map(char::from_u32)
            .chain([' ']);
        for c in bad {
            for reference in [
                format!("mojaloop/x{c}y:v1"),
                format!("mojaloop/x:v1{c}"),
                format!("mojaloop/x:v1{c}.2"),
                format!("reg{c}istry.io/x:v1"),
                format!("registry.io:50{c}0/x"),
                format!("[::1{c}]:5000/x"),
                format!("x@sha256:{c}"),
            ] {
                assert!(ImageRef::parse(&reference).is_err(), "{reference:?}");
            }
        }
    }

    #[test]
    fn rejects_invalid_references_naming_them() {
        let cases = [
            ("", "empty"),
            (" redis", "whitespace"),
            ("Redis", "lower case"),
            ("mojaloop/Central-Ledger:v1", "lower case"),
            ("redis:", "tag"),
            ("redis:-x", "tag"),
            ("redis:.x", "tag"),
            ("redis:a b", "must be 1-128 characters"),
            ("redis@sha256:abc", "hex digits"),
            (
                "redis@sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                "hex",
            ),
            (
                "redis@md5:ffffffffffffffffffffffffffffffff",
                "not supported",
            ),
            ("redis@", "digest"),
            ("-redis", "separators"),
            ("redis-", "separators"),
            ("re..dis", "separators"),
            ("re___dis", "separators"),
            ("a//b", "empty component"),
            ("/a", "empty component"),
            ("a/", "empty component"),
            ("host:99999/a", "port"),
            ("host:/a", "port"),
            ("ho_st.io/a", "host name"),
            ("[::1/a", "unclosed"),
            (":tag", "missing"),
        ];
        for (reference, problem) in cases {
            let err = ImageRef::parse(reference).expect_err(reference).to_string();
            assert!(err.contains(&format!("{reference:?}")), "{err}");
            assert!(
                err.contains(problem),
                "{reference}: {err} lacks {problem:?}"
            );
        }
        let long = format!("a/{}", "b".repeat(260));
        assert!(ImageRef::parse(&long).is_err());
        let long_tag = format!("a:{}", "b".repeat(129));
        assert!(ImageRef::parse(&long_tag).is_err());
    }

    /// The cases of distribution's `reference_test.go`, read with Docker's normalization (a
    /// first component without `.` or `:` that is not `localhost` is a path, not a registry:
    /// that is how kubelet pulls it).
    #[test]
    fn distribution_reference_cases() {
        let f64 = "f".repeat(64);
        let f128 = "f".repeat(128);
        // (reference, registry, repository, tag)
        let valid = [
            ("test_com", "docker.io", "library/test_com", None),
            ("test.com:tag", "docker.io", "library/test.com", Some("tag")),
            (
                "test.com:5000",
                "docker.io",
                "library/test.com",
                Some("5000"),
            ),
            ("test.com/repo:tag", "test.com", "repo", Some("tag")),
            ("test:5000/repo", "test:5000", "repo", None),
            (
                "lowercase:Uppercase",
                "docker.io",
                "library/lowercase",
                Some("Uppercase"),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com",
                "xn--n3h.com",
                "myimage",
                Some("xn--n3h.com"),
            ),
            (
                "foo_bar.com:8080",
                "docker.io",
                "library/foo_bar.com",
                Some("8080"),
            ),
            (
                "foo/foo_bar.com:8080",
                "docker.io",
                "foo/foo_bar.com",
                Some("8080"),
            ),
            ("192.168.1.1", "docker.io", "library/192.168.1.1", None),
            (
                "192.168.1.1:5000",
                "docker.io",
                "library/192.168.1.1",
                Some("5000"),
            ),
            ("192.168.1.1/repo", "192.168.1.1", "repo", None),
            (
                "192.168.1.1:5000/repo:5050",
                "192.168.1.1:5000",
                "repo",
                Some("5050"),
            ),
            ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag",
                "[2001:db8:1:2:3:4:5:6]",
                "repo",
                Some("tag"),
            ),
            (
                "[2001:db8::1]:5000/repo:tag",
                "[2001:db8::1]:5000",
                "repo",
                Some("tag"),
            ),
            ("[::1]:5000/repo", "[::1]:5000", "repo", None),
        ];
        for (reference, registry, repository, tag) in valid {
            let image = ImageRef::parse(reference).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (image.registry(), image.repository().as_str(), image.tag()),
                (registry, repository, tag),
                "{reference}"
            );
        }
        let with_digest = format!("[2001:db8::1]:5000/repo:tag@sha256:{f64}");
        assert_eq!(
            ImageRef::parse(&with_digest).unwrap().digest(),
            Some(format!("sha256:{f64}").as_str())
        );
        let sha512 = format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{f128}");
        assert!(ImageRef::parse(&sha512).is_ok());
        let longest = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
        assert!(
            ImageRef::parse(&longest).is_ok(),
            "255 characters is the limit, tags not counted"
        );

        let invalid = [
            String::new(),
            ":justtag".into(),
            format!("@sha256:{f64}"),
            "repo@sha256:ffffffffffffffffffffffffffffffffff".into(),
            format!("validname@invaliddigest:{f64}"),
            "Uppercase:tag".into(),
            "test:5000/Uppercase/lowercase:tag".into(),
            format!("{}a:tag", "a/".repeat(128)),
            "aa/asdf$$^/aa".into(),
            "[2001:db8::1]".into(),
            "[2001:db8::1]:5000".into(),
            "[2001:db8::1]:tag".into(),
            "[fe80::1%eth0]:5000/repo".into(),
            "[fe80::1%@invalidzone]:5000/repo".into(),
        ];
        for reference in invalid {
            assert!(
                ImageRef::parse(&reference).is_err(),
                "{reference:?} must be rejected"
            );
        }
    }

    #[test]
    fn new_tag_keeps_registry_and_repository_as_written() {
        let cases = [
            (
                "mojaloop/central-ledger:v10.3.0",
                "mojaloop/central-ledger:v10.3.4",
            ),
            (
                "docker.io/mojaloop/central-ledger:v10.3.0",
                "docker.io/mojaloop/central-ledger:v10.3.4",
            ),
            (
                "docker.io/library/redis:v10.3.0",
                "docker.io/library/redis:v10.3.4",
            ),
            ("redis", "redis:v10.3.4"),
            ("localhost:5000/a/b:1@SHA", "localhost:5000/a/b:v10.3.4"),
        ];
        for (before, after) in cases {
            let image = ImageRef::parse(&before.replace("SHA", SHA)).unwrap();
            assert_eq!(image.with_tag("v10.3.4"), after);
        }
    }
}
