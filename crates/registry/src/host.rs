//! Everything we keep per registry server: its HTTP client (with its CA), its pacer and
//! concurrency limit, the transport that worked, the auth challenge it sent, its tokens, and
//! its credentials. Requests that need auth go through [`Host::send_authorized`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use tokio::sync::Semaphore;
use url::Url;

use crate::auth::{Token, TokenRequest, bearer_header, fetch_token};
use crate::challenge::{self, Challenge};
use crate::credentials::read_password_file;
use crate::endpoint::{Endpoint, Transport};
use crate::error::{Error, ErrorKind, display_url};
use crate::http::{Lane, Reply, Request, execute};
use crate::options::{ClientOptions, Credential};
use crate::politeness::Pacer;
use crate::stats::Recorder;

/// Client-wide things a host needs to send requests.
pub(crate) struct Ctx<'a> {
    pub options: &'a ClientOptions,
    pub recorder: &'a Recorder,
}

/// State of one registry server.
pub(crate) struct Host {
    pub endpoint: Endpoint,
    client: reqwest::Client,
    transport: AtomicUsize,
    pacer: Pacer,
    permits: Semaphore,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, Token>>,
    /// From `extra_credentials` or `config.json`; the `registries:` entry's own
    /// username/passwordFile is read when needed instead (secrets rotate).
    stored_credential: Option<Credential>,
    /// The outcome of the first contact (`GET /v2/`), shared by all walks: success is kept,
    /// a failure only for `error_ttl`.
    ping: tokio::sync::Mutex<Option<(Result<(), Error>, Instant)>>,
}

/// An `Authorization` value and whether it was just obtained (a 401 to a fresh one is final).
struct Auth {
    header: HeaderValue,
    fresh: bool,
}

/// Redirects we follow: at most 5, and only to the host name the request was sent to (another
/// port or `https` is fine). A redirect elsewhere is not followed; the 3xx is then an
/// unexpected answer. Credentials never travel with a cross-host redirect anyway (reqwest drops
/// `Authorization`), but not following keeps a registry from pointing us at any other server.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first_host = attempt
            .previous()
            .first()
            .and_then(|u| u.host_str())
            .map(str::to_ascii_lowercase);
        let next_host = attempt.url().host_str().map(str::to_ascii_lowercase);
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if first_host.is_some() && first_host == next_host {
            attempt.follow()
        } else {
            tracing::warn!(to = %display_url(attempt.url()), "not following a redirect to another host");
            attempt.stop()
        }
    })
}

impl Host {
    pub(crate) fn new(
        endpoint: Endpoint,
        options: &ClientOptions,
        stored_credential: Option<Credential>,
    ) -> Result<Host, Error> {
        let settings = &endpoint.settings;
        let concurrency = settings
            .concurrency
            .unwrap_or(options.default_concurrency)
            .max(1);
        let rps = settings
            .requests_per_second
            .or(options.default_requests_per_second);
        // The bucket holds one second's worth of requests unless told otherwise.
        let burst = settings
            .burst
            .unwrap_or_else(|| rps.map_or(1, |r| r.ceil().clamp(1.0, f64::from(u32::MAX)) as u32))
            .max(1);
        if let Some(r) = settings
            .requests_per_second
            .filter(|r| !r.is_finite() || *r <= 0.0)
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!("registries[{}].requestsPerSecond", settings.host),
                format!("must be a positive number, got {r}"),
            ));
        }
        if settings.username.is_some() != settings.password_file.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                format!("registries[{}]", settings.host),
                "`username` and `passwordFile` must be given together (passwords are read from files, never from the config itself)",
            ));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(std::time::Duration::from_secs(10)))
            .redirect(same_host_redirects())
            .pool_max_idle_per_host(concurrency);
        if let Some(ca) = &settings.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    ca.display().to_string(),
                    format!("cannot read CA file: {e}"),
                )
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    ca.display().to_string(),
                    format!("not a PEM certificate bundle: {e}"),
                )
            })?;
            if certs.is_empty() {
                return Err(Error::new(
                    ErrorKind::Tls,
                    ca.display().to_string(),
                    "no certificates in CA file",
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if endpoint
            .transports
            .contains(&Transport::Https { verify: false })
        {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| {
            Error::new(
                ErrorKind::Tls,
                endpoint.key.clone(),
                format!("cannot build HTTP client: {e}"),
            )
        })?;
        Ok(Host {
            endpoint,
            client,
            transport: AtomicUsize::new(0),
            pacer: Pacer::new(rps, burst),
            permits: Semaphore::new(concurrency),
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            stored_credential,
            ping: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn lane<'a>(&'a self, ctx: &Ctx<'a>) -> Lane<'a> {
        Lane {
            client: &self.client,
            pacer: &self.pacer,
            permits: &self.permits,
            options: ctx.options,
            recorder: ctx.recorder,
        }
    }

    /// `scheme://authority/` with the transport that worked (or the first to try).
    pub(crate) fn base_url(&self) -> Url {
        let i = self
            .transport
            .load(Ordering::Relaxed)
            .min(self.endpoint.transports.len() - 1);
        self.base_url_for(self.endpoint.transports[i])
    }

    fn base_url_for(&self, t: Transport) -> Url {
        // The authority was validated when the endpoint was resolved.
        Url::parse(&format!("{}://{}/", t.scheme(), self.endpoint.authority))
            .expect("validated authority")
    }

    fn allow_plain_http(&self) -> bool {
        self.endpoint.transports.contains(&Transport::Http)
    }

    /// The first contact with the server, once for all walks: `GET /v2/`, trying each
    /// transport in order, learning the auth challenge up front so concurrent walks do not
    /// each collect a 401 first.
    pub(crate) async fn ensure_pinged(&self, ctx: &Ctx<'_>) -> Result<(), Error> {
        let mut slot = self.ping.lock().await;
        if let Some((outcome, at)) = slot.as_ref()
            && (outcome.is_ok() || at.elapsed() < ctx.options.error_ttl)
        {
            return outcome.clone();
        }
        let outcome = self.ping_now(ctx).await;
        *slot = Some((outcome.clone(), Instant::now()));
        outcome
    }

    async fn ping_now(&self, ctx: &Ctx<'_>) -> Result<(), Error> {
        let lane = self.lane(ctx);
        let transports = &self.endpoint.transports;
        let mut last_err = None;
        for (i, t) in transports.iter().enumerate() {
            let url = self.base_url_for(*t).join("v2/").expect("static path");
            let mut ping = Request::get(url);
            let last = i + 1 == transports.len();
            if !last {
                // Probing a transport that may simply be wrong (TLS to a plain-HTTP server):
                // one try, then fall back.
                ping.max_retries = Some(0);
            }
            match execute(&lane, &ping).await {
                Ok(reply) => {
                    self.transport.store(i, Ordering::Relaxed);
                    if reply.status == StatusCode::UNAUTHORIZED {
                        self.learn_challenge(&reply, &display_url(&self.base_url_for(*t)))?;
                    }
                    if i > 0 {
                        tracing::info!(registry = %self.endpoint.key, scheme = t.scheme(), "registry reached after falling back");
                    }
                    return Ok(());
                }
                Err(e)
                    if !last
                        && matches!(
                            e.kind(),
                            ErrorKind::Connect
                                | ErrorKind::Tls
                                | ErrorKind::Protocol
                                | ErrorKind::Timeout
                        ) =>
                {
                    tracing::debug!(registry = %self.endpoint.key, error = %e, "transport failed; trying the next one");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            Error::new(ErrorKind::Config, &self.endpoint.key, "no transport to try")
        }))
    }

    fn learn_challenge(&self, reply: &Reply, shown: &str) -> Result<Challenge, Error> {
        let header = reply.header(WWW_AUTHENTICATE).unwrap_or_default();
        let parsed = challenge::parse(header).ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthorized,
                shown,
                format!("401 without a usable WWW-Authenticate challenge ({header:?})"),
            )
        })?;
        *self.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(parsed.clone());
        Ok(parsed)
    }

    /// The credential for this server: the `registries:` entry's username + password file
    /// (read now, so rotated secrets are picked up), else the stored one.
    fn credential(&self) -> Result<Option<Credential>, Error> {
        let s = &self.endpoint.settings;
        if let (Some(username), Some(file)) = (&s.username, &s.password_file) {
            return Ok(Some(Credential::Basic {
                username: username.clone(),
                password: read_password_file(file)?,
            }));
        }
        Ok(self.stored_credential.clone())
    }

    async fn authorization(
        &self,
        ctx: &Ctx<'_>,
        scope: &str,
        force_fresh: bool,
    ) -> Result<Option<Auth>, Error> {
        let challenge = self
            .challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match self.credential()? {
                Some(cred @ Credential::Basic { .. }) => {
                    let mut header = HeaderValue::from_str(&cred.basic_header().unwrap_or_default())
                        .map_err(|_| Error::new(ErrorKind::Config, &self.endpoint.key, "username or password contains characters not allowed in an HTTP header"))?;
                    header.set_sensitive(true);
                    Ok(Some(Auth {
                        header,
                        fresh: true,
                    }))
                }
                _ => Err(Error::new(
                    ErrorKind::Unauthorized,
                    &self.endpoint.key,
                    "registry asks for Basic auth and no username/password is configured for it",
                )),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let credential = self.credential()?;
                if let Some(Credential::RegistryToken(t)) = &credential {
                    return Ok(Some(Auth {
                        header: bearer_header(t)?,
                        fresh: true,
                    }));
                }
                if !force_fresh {
                    let cached = self
                        .tokens
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(scope)
                        .filter(|t| t.is_valid())
                        .cloned();
                    if let Some(token) = cached {
                        return Ok(Some(Auth {
                            header: token.header()?,
                            fresh: false,
                        }));
                    }
                }
                let request = TokenRequest {
                    realm: &realm,
                    service: service.as_deref(),
                    scope,
                    credential: credential.as_ref(),
                    allow_plain_http: self.allow_plain_http(),
                    registry: &self.endpoint.key,
                    server: &self.endpoint.authority,
                };
                let token = fetch_token(&self.lane(ctx), &request).await?;
                let header = token.header()?;
                let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
                // Expired tokens are useless; dropping them bounds the map in long runs.
                tokens.retain(|_, t| t.is_valid());
                tokens.insert(scope.to_string(), token);
                Ok(Some(Auth {
                    header,
                    fresh: true,
                }))
            }
        }
    }

    /// Sends a request for `repository`, adding auth as the server's challenge requires: a
    /// cached token if we have one; on a 401, the new challenge is learnt and a fresh token (or
    /// Basic credentials) is tried once; a 401 to fresh auth is final.
    pub(crate) async fn send_authorized(
        &self,
        ctx: &Ctx<'_>,
        repository: &str,
        mut request: Request,
    ) -> Result<Reply, Error> {
        let scope = format!("repository:{repository}:pull");
        let shown = display_url(&request.url);
        let mut force_fresh = false;
        for _ in 0..3 {
            let auth = self.authorization(ctx, &scope, force_fresh).await?;
            let fresh = auth.as_ref().is_some_and(|a| a.fresh);
            match auth {
                Some(a) => {
                    request.headers.insert(AUTHORIZATION, a.header);
                }
                None => {
                    request.headers.remove(AUTHORIZATION);
                }
            }
            let reply = execute(&self.lane(ctx), &request).await?;
            if reply.status != StatusCode::UNAUTHORIZED {
                return Ok(reply);
            }
            let had_auth = request.headers.contains_key(AUTHORIZATION);
            self.learn_challenge(&reply, &shown)?;
            if fresh {
                let who = match self.credential()?.as_ref().and_then(Credential::username) {
                    Some(u) => format!("credentials of {u:?} were rejected"),
                    None if had_auth => "an anonymous token was not enough".to_string(),
                    None => "access denied".to_string(),
                };
                return Err(Error::new(
                    ErrorKind::Unauthorized,
                    shown,
                    format!(
                        "401 for {repository}: {who} (the repository may not exist, or needs credentials){}",
                        crate::http::error_summary(&reply.body)
                    ),
                ));
            }
            // A cached token the server no longer accepts (expired early, revoked): drop it.
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&scope);
            force_fresh = true;
        }
        Err(Error::new(
            ErrorKind::Unauthorized,
            shown,
            format!("401 for {repository} after re-authenticating"),
        ))
    }
}
