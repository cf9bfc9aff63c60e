//! A token service the real `docker-registry` trusts (`auth: token`): it signs ES256 JWTs
//! with a key whose certificate is in the registry's `rootcertbundle`, and puts the
//! certificate in the JWT's `x5c` header, which distribution 2.8 verifies against that bundle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, DnType, KeyPair};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::mini_http::{Action, HttpResponse, Server, serve};

pub struct TokenIssuer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    pub cert_pem: String,
    pub issuer: String,
    pub service: String,
}

impl TokenIssuer {
    pub fn new(service: &str) -> TokenIssuer {
        let kp = KeyPair::generate().unwrap(); // ECDSA P-256
        let mut params = CertificateParams::new(vec!["token-signer".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test token signer");
        let cert = params.self_signed(&kp).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &kp.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        TokenIssuer {
            key,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            issuer: "ml-operator-test-issuer".into(),
            service: service.into(),
        }
    }

    /// A JWT granting `actions` on `repository` to `subject`.
    pub fn mint(&self, subject: &str, repository: &str, actions: &[&str], ttl_secs: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let access: Vec<serde_json::Value> = if repository.is_empty() {
            vec![]
        } else {
            vec![serde_json::json!({"type": "repository", "name": repository, "actions": actions})]
        };
        let claims = serde_json::json!({
            "iss": self.issuer, "sub": subject, "aud": self.service,
            "exp": now + ttl_secs, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", rand_suffix()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed) as u64
}

/// One request the token server saw.
#[derive(Debug, Clone)]
pub struct TokenLog {
    pub method: String,
    /// `"anonymous"`, the Basic user name, or `"refresh:<user>"`.
    pub who: String,
    pub scope: String,
    pub granted: bool,
}

pub struct TokenServer {
    pub server: Server,
    pub log: Arc<Mutex<Vec<TokenLog>>>,
}

impl TokenServer {
    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url())
    }

    pub fn requests(&self) -> Vec<TokenLog> {
        self.log.lock().unwrap().clone()
    }

    /// `users` may pull (and push) everything; anonymous callers get pull on repositories
    /// starting with `public/` when `anonymous_pull` is set, otherwise a 401.
    /// `refresh_tokens` maps OAuth2 refresh tokens to users.
    pub async fn start(
        issuer: Arc<TokenIssuer>,
        users: Vec<(String, String)>,
        refresh_tokens: Vec<(String, String)>,
        anonymous_pull: bool,
        expires_in: u64,
    ) -> TokenServer {
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let server = serve(move |req| {
            let issuer = issuer.clone();
            let users = users.clone();
            let refresh_tokens = refresh_tokens.clone();
            let log = log2.clone();
            async move {
                let (who, scope, service) = if req.method == "POST" {
                    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
                    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
                    let user = refresh_tokens.iter().find(|(t, _)| *t == get("refresh_token")).map(|(_, u)| format!("refresh:{u}"));
                    (user.unwrap_or_else(|| "refresh:invalid".into()), get("scope"), get("service"))
                } else {
                    let who = match req.header("authorization").and_then(|h| h.strip_prefix("Basic ")) {
                        Some(b64) => {
                            let text = String::from_utf8(STANDARD.decode(b64).unwrap_or_default()).unwrap_or_default();
                            match text.split_once(':') {
                                Some((u, p)) if users.iter().any(|(uu, pp)| uu == u && pp == p) => u.to_string(),
                                _ => "invalid".to_string(),
                            }
                        }
                        None => "anonymous".to_string(),
                    };
                    (who, req.query_param("scope").unwrap_or_default(), req.query_param("service").unwrap_or_default())
                };
                let repo = scope.strip_prefix("repository:").and_then(|s| s.rsplit_once(':')).map(|(r, _)| r.to_string()).unwrap_or_default();
                let granted = service == issuer.service
                    && match who.as_str() {
                        "invalid" | "refresh:invalid" => false,
                        "anonymous" => anonymous_pull && repo.starts_with("public/"),
                        _ => true,
                    };
                log.lock().unwrap().push(TokenLog { method: req.method.clone(), who: who.clone(), scope: scope.clone(), granted });
                if !granted {
                    return Action::Respond(HttpResponse::json(401, &serde_json::json!({"details": "access denied"})));
                }
                let token = issuer.mint(&who, &repo, &["pull"], expires_in.max(60));
                Action::Respond(HttpResponse::json(
                    200,
                    &serde_json::json!({"token": token, "access_token": token, "expires_in": expires_in, "issued_at": "2026-01-01T00:00:00Z"}),
                ))
            }
        })
        .await;
        TokenServer { server, log }
    }
}
