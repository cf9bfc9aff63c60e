//! Where credentials go: only to the server they are configured for. A token service on
//! another host is asked anonymously, a redirect to another host is not followed, a Docker
//! Hub credential never reaches a mirror, and a configured registry's password never reaches
//! any other server. Every "other server" here is a real listener that records what it got.

mod support;

use std::sync::{Arc, Mutex};

use ml_operator_registry::{ClientOptions, ErrorKind, Registry, RegistryConfig};
use support::mini_http::{Action, HttpRequest, HttpResponse, Server, serve};
use support::registry::{AuthMode, RegistryProc, version_tags};
use support::test_options;
use support::token::{TokenIssuer, TokenServer};

/// A server that records every request and answers each with `answer`.
async fn recorder(
    answer: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
) -> (Server, Arc<Mutex<Vec<HttpRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    let server = serve(move |req: HttpRequest| {
        let log = log.clone();
        let answer = answer.clone();
        async move {
            let response = answer(&req);
            log.lock().unwrap().push(req);
            Action::Respond(response)
        }
    })
    .await;
    (server, seen)
}

fn password_file(dir: &std::path::Path, password: &str) -> std::path::PathBuf {
    let path = dir.join("password");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path
}

fn basic_challenge() -> HttpResponse {
    HttpResponse::json(
        401,
        &serde_json::json!({"errors": [{"code": "UNAUTHORIZED"}]}),
    )
    .header("WWW-Authenticate", "Basic realm=\"registry\"")
}

#[tokio::test]
async fn a_token_service_on_another_host_never_gets_the_registry_credentials() {
    let issuer = Arc::new(TokenIssuer::new("test-registry"));
    let tokens = TokenServer::start(
        issuer.clone(),
        vec![("alice".into(), "alice-pw".into())],
        vec![],
        true,
        300,
    )
    .await;
    // The registry is reached as 127.0.0.1:PORT; its challenge names the token service as
    // `localhost`: the same machine, but by name another host.
    let realm = tokens.realm().replace("127.0.0.1", "localhost");
    let reg = RegistryProc::start(
        AuthMode::Token {
            realm,
            issuer: issuer.clone(),
        },
        false,
    )
    .await;
    reg.push("public/app", &version_tags(4), true).await;
    reg.push("private/app", &version_tags(6), true).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(ClientOptions {
        registries: vec![RegistryConfig {
            host: reg.host(),
            username: Some("alice".into()),
            password_file: Some(password_file(dir.path(), "alice-pw")),
            ..Default::default()
        }],
        ..test_options(dir.path())
    })
    .unwrap();

    // Public repositories still work, with an anonymous token.
    let public = client.list_tags(&reg.host(), "public/app").await.unwrap();
    assert_eq!(public.tags.len(), 4);
    // The private one needs the credentials, which are not sent to that token service.
    let err = client
        .list_tags(&reg.host(), "private/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("were not sent"), "{err}");
    assert!(!err.to_string().contains("alice-pw"), "{err}");
    let log = tokens.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter().all(|r| r.who == "anonymous"),
        "the token service saw credentials: {log:?}"
    );

    // The same token service named by the registry's own host name gets them (the usual case,
    // and Docker Hub's registry-1.docker.io → auth.docker.io).
    let same_site = RegistryProc::start(
        AuthMode::Token {
            realm: tokens.realm(),
            issuer,
        },
        false,
    )
    .await;
    same_site.push("private/app", &version_tags(6), true).await;
    let client = Registry::new(ClientOptions {
        registries: vec![RegistryConfig {
            host: same_site.host(),
            username: Some("alice".into()),
            password_file: Some(password_file(dir.path(), "alice-pw")),
            ..Default::default()
        }],
        ..test_options(dir.path())
    })
    .unwrap();
    let private = client
        .list_tags(&same_site.host(), "private/app")
        .await
        .unwrap();
    assert_eq!(private.tags.len(), 6);
    assert_eq!(tokens.requests().last().unwrap().who, "alice");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let (elsewhere, elsewhere_seen) = recorder(|_| {
        HttpResponse::json(200, &serde_json::json!({"name": "app", "tags": ["v9.9.9"]}))
    })
    .await;
    let target = format!(
        "http://localhost:{}/v2/app/tags/list",
        elsewhere.addr.port()
    );
    let (registry, registry_seen) = recorder(move |req| {
        if req.header("authorization").is_none() {
            basic_challenge()
        } else {
            HttpResponse::new(307).header("Location", target.clone())
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(ClientOptions {
        registries: vec![RegistryConfig {
            host: registry.addr.to_string(),
            username: Some("robot".into()),
            password_file: Some(password_file(dir.path(), "robot-secret")),
            ..Default::default()
        }],
        ..test_options(dir.path())
    })
    .unwrap();
    let err = client
        .list_tags(&registry.addr.to_string(), "app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("redirected"), "{err}");
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "the redirect target was contacted"
    );
    assert!(
        registry_seen
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.header("authorization").is_some()),
        "the registry itself does get its credentials"
    );
}

#[tokio::test]
async fn a_configured_password_goes_to_its_host_only() {
    let (configured, configured_seen) = recorder(|_| basic_challenge()).await;
    let (other, other_seen) = recorder(|_| basic_challenge()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(ClientOptions {
        registries: vec![RegistryConfig {
            host: configured.addr.to_string(),
            username: Some("robot".into()),
            password_file: Some(password_file(dir.path(), "robot-secret")),
            ..Default::default()
        }],
        ..test_options(dir.path())
    })
    .unwrap();
    // Another port on the same address, and the same port by another name: other servers.
    let by_name = format!("localhost:{}", configured.addr.port());
    for host in [other.addr.to_string(), by_name] {
        let err = client.list_tags(&host, "app").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{host}: {err}");
    }
    assert!(!other_seen.lock().unwrap().is_empty());
    for req in other_seen
        .lock()
        .unwrap()
        .iter()
        .chain(configured_seen.lock().unwrap().iter())
    {
        assert!(
            req.header("authorization").is_none(),
            "credentials sent with {} {}",
            req.method,
            req.target
        );
    }
}

#[tokio::test]
async fn docker_hub_credentials_never_reach_a_mirror() {
    let mirror = RegistryProc::start(
        AuthMode::Htpasswd(vec![("mirror-user".into(), "mirror-pw".into())]),
        false,
    )
    .await;
    mirror
        .push("mojaloop/central-ledger", &version_tags(3), true)
        .await;
    let (front, front_seen) = {
        // A recording front for the mirror, to see what arrives there.
        let upstream = mirror.base();
        let http = reqwest::Client::new();
        let seen = Arc::new(Mutex::new(Vec::<HttpRequest>::new()));
        let log = seen.clone();
        let server = serve(move |req: HttpRequest| {
            let http = http.clone();
            let upstream = upstream.clone();
            let log = log.clone();
            async move {
                let mut forward = http.get(format!("{upstream}{}", req.target));
                if let Some(auth) = req.header("authorization") {
                    forward = forward.header("Authorization", auth);
                }
                let reply = forward.send().await.unwrap();
                let mut response = HttpResponse::new(reply.status().as_u16());
                if let Some(challenge) = reply.headers().get("www-authenticate") {
                    response = response
                        .header("WWW-Authenticate", challenge.to_str().unwrap().to_string());
                }
                let body = reply.bytes().await.unwrap().to_vec();
                log.lock().unwrap().push(req);
                Action::Respond(
                    response
                        .header("Content-Type", "application/json")
                        .body(body),
                )
            }
        })
        .await;
        (server, seen)
    };
    let docker = tempfile::tempdir().unwrap();
    // Credentials for Docker Hub, as `docker login` and pull secrets store them.
    let hub = Registry::parse_docker_config(
        r#"{"auths":{"https://index.docker.io/v1/":{"username":"hub-user","password":"hub-pw"}}}"#,
    )
    .unwrap();
    let mirrored = |extra: Vec<RegistryConfig>| {
        let mut registries = vec![RegistryConfig {
            host: "docker.io".into(),
            mirror: Some(front.addr.to_string()),
            ..Default::default()
        }];
        registries.extend(extra);
        Registry::new(ClientOptions {
            registries,
            extra_credentials: hub.clone(),
            ..test_options(docker.path())
        })
        .unwrap()
    };
    let err = mirrored(vec![])
        .list_tags("docker.io", "mojaloop/central-ledger")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        front_seen
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "Docker Hub's credentials were sent to the mirror"
    );

    // The mirror's own entry gives it its own credentials.
    let list = mirrored(vec![RegistryConfig {
        host: front.addr.to_string(),
        username: Some("mirror-user".into()),
        password_file: Some(password_file(docker.path(), "mirror-pw")),
        ..Default::default()
    }])
    .list_tags("docker.io", "mojaloop/central-ledger")
    .await
    .unwrap();
    assert_eq!(list.tags.len(), 3);
    let expected = format!("Basic {}", base64_encode("mirror-user:mirror-pw"));
    let seen = front_seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|r| r.header("authorization") == Some(expected.as_str()))
    );
    let hub_basic = format!("Basic {}", base64_encode("hub-user:hub-pw"));
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") != Some(hub_basic.as_str())),
        "Docker Hub's credentials were sent to the mirror"
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
