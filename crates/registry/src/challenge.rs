//! Parsing `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries send them.

use std::collections::BTreeMap;

/// What a registry asked for in its 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// The token flow: get a bearer token from `realm` for `service` and `scope`.
    Bearer {
        /// The token service URL.
        realm: String,
        /// The `service` parameter to pass back.
        service: Option<String>,
        /// The scope the registry said it needs, if it said.
        scope: Option<String>,
    },
    /// Plain Basic auth with the registry's credentials (ECR, htpasswd registries).
    Basic,
}

/// Parses one `WWW-Authenticate` header value. When several challenges are offered, Bearer is
/// preferred (it works anonymously). Unknown schemes yield `None`.
pub(crate) fn parse(header: &str) -> Option<Challenge> {
    let mut challenges: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_and_commas();
        let Some(token) = p.token() else { break };
        // `token` is a scheme if what follows is not `=`; otherwise it's a parameter of the
        // current challenge.
        p.skip_ws();
        if p.peek() == Some(b'=') && !challenges.is_empty() {
            p.i += 1;
            p.skip_ws();
            let value = if p.peek() == Some(b'"') {
                p.quoted()?
            } else {
                p.token().unwrap_or_default()
            };
            challenges
                .last_mut()?
                .1
                .insert(token.to_ascii_lowercase(), value);
        } else {
            challenges.push((token.to_ascii_lowercase(), BTreeMap::new()));
        }
    }
    let bearer = challenges
        .iter()
        .find(|(s, p)| s == "bearer" && p.contains_key("realm"));
    if let Some((_, params)) = bearer {
        return Some(Challenge::Bearer {
            realm: params["realm"].clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        });
    }
    challenges
        .iter()
        .any(|(s, _)| s == "basic")
        .then_some(Challenge::Basic)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.i += 1;
                    out.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_challenge() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#;
        assert_eq!(
            parse(h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/redis:pull".into()),
            })
        );
    }

    #[test]
    fn ghcr_and_unquoted_and_case() {
        let h =
            r#"bearer REALM="https://ghcr.io/token", service=ghcr.io ,scope="repository:a/b:pull""#;
        let Some(Challenge::Bearer {
            realm,
            service,
            scope,
        }) = parse(h)
        else {
            panic!("not bearer")
        };
        assert_eq!(realm, "https://ghcr.io/token");
        assert_eq!(service.as_deref(), Some("ghcr.io"));
        assert_eq!(scope.as_deref(), Some("repository:a/b:pull"));
    }

    #[test]
    fn basic_ecr_and_multiple() {
        assert_eq!(
            parse(
                r#"Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#
            ),
            Some(Challenge::Basic)
        );
        assert_eq!(parse("Basic"), Some(Challenge::Basic));
        let both = r#"Basic realm="x", Bearer realm="https://t/token",service="s""#;
        assert!(matches!(parse(both), Some(Challenge::Bearer { .. })));
    }

    #[test]
    fn escaped_quotes_and_garbage() {
        let Some(Challenge::Bearer { realm, .. }) = parse(r#"Bearer realm="https://t/\"q\"""#)
        else {
            panic!()
        };
        assert_eq!(realm, r#"https://t/"q""#);
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(r#"Bearer realm="unterminated"#), None);
        assert_eq!(
            parse("Bearer service=x"),
            None,
            "bearer without realm is unusable"
        );
    }
}
