//! The token half of the distribution auth flow: asking a token service (the `realm` of a
//! `Bearer` challenge) for a pull token, anonymously, with Basic credentials, or with an OAuth2
//! refresh token (`identitytoken`), and remembering it until shortly before it expires.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::endpoint::{is_loopback, same_site};
use crate::error::{Error, ErrorKind, display_url};
use crate::http::{Lane, Reply, Request, authority, error_summary, execute};
use crate::options::Credential;

/// The lifetime assumed when a token service does not say (the distribution token spec's
/// default and minimum).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A bearer token and when to stop using it. `Debug` never shows the token.
#[derive(Clone)]
pub(crate) struct Token {
    value: String,
    refresh_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl Token {
    /// Still worth sending (not within the refresh margin of its expiry).
    pub(crate) fn is_valid(&self) -> bool {
        Instant::now() < self.refresh_at
    }

    /// `Authorization: Bearer ...`, marked sensitive so hyper never logs it.
    pub(crate) fn header(&self) -> Result<HeaderValue, Error> {
        bearer_header(&self.value)
    }
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_header(token: &str) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Error::new(
            ErrorKind::Protocol,
            "token",
            "token contains characters not allowed in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// What a token request is for.
pub(crate) struct TokenRequest<'a> {
    /// The challenge's realm (token service URL).
    pub realm: &'a str,
    /// The challenge's `service`.
    pub service: Option<&'a str>,
    /// The scope to ask for, e.g. `repository:library/redis:pull`.
    pub scope: &'a str,
    /// Credentials for the token service, if any.
    pub credential: Option<&'a Credential>,
    /// Whether credentials may travel over plain HTTP (loopback or insecure registries).
    pub allow_plain_http: bool,
    /// The registry the token is for, for messages.
    pub registry: &'a str,
    /// The server contacted for that registry (`host[:port]`; the mirror when there is one):
    /// credentials only go to a token service of the same site (see [`same_site`]).
    pub server: &'a str,
}

/// Asks the token service for a token. Counts the request under the realm's host.
pub(crate) async fn fetch_token(lane: &Lane<'_>, req: &TokenRequest<'_>) -> Result<Token, Error> {
    let realm = Url::parse(req.realm).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            req.registry,
            format!("challenge realm {:?} is not a URL: {e}", req.realm),
        )
    })?;
    if !matches!(realm.scheme(), "http" | "https") {
        return Err(Error::new(
            ErrorKind::Protocol,
            display_url(&realm),
            "token realm must be http or https",
        ));
    }
    let realm_host = realm.host_str().unwrap_or_default();
    let withheld = req.credential.is_some() && !same_site(req.server, realm_host);
    if withheld {
        tracing::warn!(
            registry = %req.registry,
            token_service = %realm_host,
            "the registry's token service is on another host: asking it anonymously, without the credentials configured for the registry"
        );
    }
    let credential = req.credential.filter(|_| !withheld);
    if credential.is_some()
        && realm.scheme() == "http"
        && !req.allow_plain_http
        && !is_loopback(&authority(&realm))
    {
        return Err(Error::new(
            ErrorKind::Config,
            display_url(&realm),
            format!(
                "token service is plain HTTP; refusing to send the credentials for {} (mark the registry insecure to allow it)",
                req.registry
            ),
        ));
    }

    let reply = match credential {
        Some(Credential::IdentityToken { username, token }) => {
            // Docker's OAuth2 flow; token services that do not speak it answer 404/405, and
            // Docker then falls back to Basic with the token as password, as we do.
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", token)
                .append_pair("service", req.service.unwrap_or_default())
                .append_pair("scope", req.scope)
                .append_pair("client_id", "ml-operator")
                .finish();
            let post = Request {
                method: Method::POST,
                url: realm.clone(),
                headers: Default::default(),
                form: Some(form),
                max_retries: None,
                kind: Some(crate::stats::RequestKind::Token),
            };
            let reply = execute(lane, &post).await?;
            if matches!(
                reply.status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) {
                let basic = Credential::Basic {
                    username: username.clone().unwrap_or_else(|| "<token>".into()),
                    password: token.clone(),
                };
                execute(lane, &get_request(&realm, req, Some(&basic))?).await?
            } else {
                reply
            }
        }
        other => execute(lane, &get_request(&realm, req, other)?).await?,
    };
    parse_token_reply(&realm, req, credential, withheld, reply, lane)
}

fn get_request(
    realm: &Url,
    req: &TokenRequest<'_>,
    credential: Option<&Credential>,
) -> Result<Request, Error> {
    let mut url = realm.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = req.service {
            q.append_pair("service", s);
        }
        if !req.scope.is_empty() {
            q.append_pair("scope", req.scope);
        }
    }
    let mut request = Request::get(url);
    request.kind = Some(crate::stats::RequestKind::Token);
    if let Some(header) = credential.and_then(Credential::basic_header) {
        let mut v = HeaderValue::from_str(&header).map_err(|_| {
            Error::new(
                ErrorKind::Config,
                req.registry,
                "username or password contains characters not allowed in an HTTP header",
            )
        })?;
        v.set_sensitive(true);
        request.headers.insert(AUTHORIZATION, v);
    }
    Ok(request)
}

fn parse_token_reply(
    realm: &Url,
    req: &TokenRequest<'_>,
    credential: Option<&Credential>,
    withheld: bool,
    reply: Reply,
    lane: &Lane<'_>,
) -> Result<Token, Error> {
    let shown = display_url(realm);
    match reply.status {
        s if s.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let who = match credential.and_then(Credential::username) {
                Some(user) => format!("refused the credentials of {user:?} for {}", req.scope),
                None if credential.is_some() => {
                    format!("refused the configured token for {}", req.scope)
                }
                None if withheld => format!(
                    "refused anonymous access to {}; the credentials configured for {} were not sent, because the token service is not on the registry's host or domain",
                    req.scope, req.registry
                ),
                None => format!(
                    "refused anonymous access to {}; configure credentials for {}",
                    req.scope, req.registry
                ),
            };
            return Err(Error::new(
                ErrorKind::Unauthorized,
                shown,
                format!(
                    "token service {who} ({}){}",
                    reply.status,
                    error_summary(&reply.body)
                ),
            ));
        }
        s => {
            return Err(Error::new(
                ErrorKind::Protocol,
                shown,
                format!("token service answered {s}{}", error_summary(&reply.body)),
            ));
        }
    }
    let parsed: TokenResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            &shown,
            format!("token response is not the expected JSON: {e}"),
        )
    })?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                &shown,
                "token response has neither `token` nor `access_token`",
            )
        })?;
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(0)).max(MIN_TOKEN_LIFETIME);
    // Refresh a little early so a token does not expire between our check and the request.
    let margin = (lifetime / 5).min(Duration::from_secs(30));
    lane.recorder.token_fetch();
    Ok(Token {
        value,
        refresh_at: Instant::now() + lifetime - margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted_and_header_sensitive() {
        let t = Token {
            value: "eyJsecret".into(),
            refresh_at: Instant::now() + Duration::from_secs(60),
        };
        assert!(!format!("{t:?}").contains("eyJsecret"));
        assert!(t.is_valid());
        assert!(t.header().unwrap().is_sensitive());
        let expired = Token {
            value: "x".into(),
            refresh_at: Instant::now(),
        };
        assert!(!expired.is_valid());
    }
}
