//! Against the real CNCF distribution registry (`docker-registry` 2.8): anonymous, htpasswd
//! Basic auth over TLS with a private CA, token auth with a token service, mirrors, insecure
//! registries, single-flight, caching. Request counts are asserted from both sides (the
//! client's stats and a counting proxy in front of the registry).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ml_operator_registry::{ClientOptions, Credential, ErrorKind, Registry, RegistryConfig};
use support::proxy::{Fault, FaultProxy};
use support::registry::{AuthMode, RegistryProc, version_tags};
use support::test_options;
use support::token::{TokenIssuer, TokenServer};

fn set<S: AsRef<str>>(v: impl IntoIterator<Item = S>) -> BTreeSet<String> {
    v.into_iter().map(|t| t.as_ref().to_string()).collect()
}

#[tokio::test]
async fn anonymous_registry_lists_oci_and_docker_images() {
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    let oci_tags = version_tags(30);
    let docker_tags: Vec<String> = vec![
        "1.0.0".into(),
        "1.0.1".into(),
        "latest".into(),
        "1.1.0-alpine".into(),
    ];
    reg.push("mojaloop/central-ledger", &oci_tags, true).await;
    reg.push("library/redis", &docker_tags, false).await;
    let proxy = FaultProxy::start(&reg.base()).await;

    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let a = client
        .list_tags(&proxy.host(), "mojaloop/central-ledger")
        .await
        .unwrap();
    assert_eq!(set(&a.tags), set(&oci_tags));
    assert_eq!(a.registry, proxy.host());
    assert_eq!(a.repository, "mojaloop/central-ledger");
    let b = client
        .list_tags(&proxy.host(), "library/redis")
        .await
        .unwrap();
    assert_eq!(set(&b.tags), set(&docker_tags));

    // One ping for the host, one tags request per repository, nothing else.
    let stats = client.stats();
    assert_eq!(stats.requests_to(&proxy.host()), 3, "{stats:#?}");
    assert_eq!(stats.requests_with(&proxy.host(), "200"), 3);
    assert_eq!(proxy.count("/tags/list"), 2);
    assert_eq!(proxy.count_outcome("/v2/", "200"), 3);
    assert!(
        proxy.seen().iter().all(|s| !s.authorized),
        "anonymous registry gets no Authorization header"
    );

    // Cached: no more requests.
    client
        .list_tags(&proxy.host(), "mojaloop/central-ledger")
        .await
        .unwrap();
    assert_eq!(proxy.seen().len(), 3);
    assert_eq!(client.stats().cache_hits, 1);

    // Unknown repository: NotFound naming the URL.
    let err = client
        .list_tags(&proxy.host(), "nope/missing")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains(&format!(
            "http://{}/v2/nope/missing/tags/list",
            proxy.host()
        )),
        "{shown}"
    );
    assert!(shown.contains("NAME_UNKNOWN"), "{shown}");
}

#[tokio::test]
async fn concurrent_lookups_make_exactly_one_walk_per_repository() {
    const REPOS: usize = 6;
    const CALLERS_PER_REPO: usize = 25;
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    let tags = version_tags(40);
    for r in 0..REPOS {
        reg.push(&format!("hub/service-{r}"), &tags, r % 2 == 0)
            .await;
    }
    let proxy = FaultProxy::start(&reg.base()).await;
    // Slow every tags response a little so the lookups really overlap.
    for r in 0..REPOS {
        proxy.inject(
            &format!("service-{r}/tags/list"),
            [Fault::Slow(Duration::from_millis(200))],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let mut set_ = tokio::task::JoinSet::new();
    for i in 0..REPOS * CALLERS_PER_REPO {
        let c = client.clone();
        let host = proxy.host();
        set_.spawn(async move {
            c.list_tags(&host, &format!("hub/service-{}", i % REPOS))
                .await
        });
    }
    while let Some(res) = set_.join_next().await {
        assert_eq!(res.unwrap().unwrap().tags.len(), 40);
    }
    let stats = client.stats();
    for r in 0..REPOS {
        assert_eq!(
            stats.walks(&proxy.host(), &format!("hub/service-{r}")),
            1,
            "{stats:#?}"
        );
        assert_eq!(proxy.count(&format!("service-{r}/tags/list")), 1);
    }
    assert_eq!(proxy.count("/tags/list"), REPOS);
    assert_eq!(proxy.seen().len(), REPOS + 1, "plus one shared ping");
    assert_eq!(
        stats.coalesced + stats.cache_hits,
        (REPOS * (CALLERS_PER_REPO - 1)) as u64
    );
    println!(
        "{} lookups -> {} requests: {:?}",
        REPOS * CALLERS_PER_REPO,
        stats.total_requests(),
        stats.requests
    );
}

#[tokio::test]
async fn htpasswd_basic_auth_over_tls_with_private_ca() {
    let users = vec![("robot".to_string(), "s3cret-pw".to_string())];
    let reg = RegistryProc::start(AuthMode::Htpasswd(users), true).await;
    reg.push("acme/app", &version_tags(12), true).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, "s3cret-pw\n").unwrap();

    let entry = RegistryConfig {
        host: reg.host(),
        ca_file: Some(reg.ca_file()),
        username: Some("robot".into()),
        password_file: Some(pw.clone()),
        ..Default::default()
    };
    let opts = ClientOptions {
        registries: vec![entry.clone()],
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let list = client.list_tags(&reg.host(), "acme/app").await.unwrap();
    assert_eq!(list.tags.len(), 12);
    let stats = client.stats();
    // Ping learns `Basic`; the tags request carries the credentials at once.
    assert_eq!(stats.requests_with(&reg.host(), "401"), 1, "{stats:#?}");
    assert_eq!(stats.requests_with(&reg.host(), "200"), 1, "{stats:#?}");

    // A wrong password is Unauthorized, names the user, never the password.
    std::fs::write(&pw, "wrong-pw").unwrap();
    let opts = ClientOptions {
        registries: vec![entry.clone()],
        error_ttl: Duration::ZERO,
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let err = client.list_tags(&reg.host(), "acme/app").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("robot") && !shown.contains("wrong-pw"),
        "{shown}"
    );
    // The password file is read when needed: fixing the mounted secret fixes the next lookup.
    std::fs::write(&pw, "s3cret-pw").unwrap();
    assert_eq!(
        client
            .list_tags(&reg.host(), "acme/app")
            .await
            .unwrap()
            .tags
            .len(),
        12
    );

    // Credentials from config.json instead of the entry.
    let docker_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        docker_dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"https://{}":{{"auth":"{}"}}}}}}"#,
            reg.host(),
            base64_encode("robot:s3cret-pw")
        ),
    )
    .unwrap();
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: reg.host(),
            ca_file: Some(reg.ca_file()),
            ..Default::default()
        }],
        ..test_options(docker_dir.path())
    };
    assert_eq!(
        Registry::new(opts)
            .unwrap()
            .list_tags(&reg.host(), "acme/app")
            .await
            .unwrap()
            .tags
            .len(),
        12
    );

    // No credentials at all: Unauthorized saying so.
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: reg.host(),
            ca_file: Some(reg.ca_file()),
            ..Default::default()
        }],
        ..test_options(dir.path())
    };
    let err = Registry::new(opts)
        .unwrap()
        .list_tags(&reg.host(), "acme/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("no username/password"), "{err}");

    // Without the CA file: a TLS error (the loopback host would be plain HTTP, so mark it
    // as using TLS through an explicit https mirror of itself).
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: reg.host(),
            mirror: Some(format!("https://{}", reg.host())),
            ..Default::default()
        }],
        ..test_options(dir.path())
    };
    let err = Registry::new(opts)
        .unwrap()
        .list_tags(&reg.host(), "acme/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");

    // A CA file that is not PEM: a TLS/config error naming the file.
    let bad_ca = dir.path().join("bad-ca.pem");
    std::fs::write(&bad_ca, "not a certificate").unwrap();
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: reg.host(),
            ca_file: Some(bad_ca),
            ..Default::default()
        }],
        ..test_options(dir.path())
    };
    let err = Registry::new(opts)
        .unwrap()
        .list_tags(&reg.host(), "acme/app")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad-ca.pem"), "{err}");
}

#[tokio::test]
async fn insecure_registry_reaches_tls_without_verification() {
    let reg = RegistryProc::start(AuthMode::Anonymous, true).await;
    reg.push("acme/app", &version_tags(3), true).await;
    let dir = tempfile::tempdir().unwrap();
    // Loopback without caFile means plain HTTP; the TLS server answers 400, a protocol error.
    let client = Registry::new(test_options(dir.path())).unwrap();
    let err = client.list_tags(&reg.host(), "acme/app").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Protocol | ErrorKind::Connect),
        "{err}"
    );
    // --insecure-registry HOST:PORT: TLS without verification first, as Docker does.
    let opts = ClientOptions {
        insecure_registries: vec![reg.host()],
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    assert_eq!(
        client
            .list_tags(&reg.host(), "acme/app")
            .await
            .unwrap()
            .tags
            .len(),
        3
    );

    // And an insecure plain-HTTP registry: TLS fails, HTTP is used and remembered.
    let plain = RegistryProc::start(AuthMode::Anonymous, false).await;
    plain.push("acme/app", &version_tags(2), true).await;
    let proxy = FaultProxy::start(&plain.base()).await;
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: proxy.host(),
            insecure: true,
            ..Default::default()
        }],
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "acme/app")
            .await
            .unwrap()
            .tags
            .len(),
        2
    );
    client
        .list_tags(&proxy.host(), "acme/other")
        .await
        .unwrap_err();
    assert_eq!(
        proxy.count("/v2/"),
        3,
        "one ping over HTTP after the TLS attempt, then two tag walks: {:?}",
        proxy.seen()
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn token_setup() -> (Arc<TokenIssuer>, TokenServer, RegistryProc) {
    let issuer = Arc::new(TokenIssuer::new("test-registry"));
    let tokens = TokenServer::start(
        issuer.clone(),
        vec![("alice".into(), "alice-pw".into())],
        vec![("refresh-abc".into(), "carol".into())],
        true,
        300,
    )
    .await;
    let reg = RegistryProc::start(
        AuthMode::Token {
            realm: tokens.realm(),
            issuer: issuer.clone(),
        },
        false,
    )
    .await;
    reg.push("public/app", &version_tags(7), true).await;
    reg.push("private/app", &version_tags(9), false).await;
    (issuer, tokens, reg)
}

#[tokio::test]
async fn token_auth_anonymous_credentials_and_identity_token() {
    let (_issuer, tokens, reg) = token_setup().await;
    let proxy = FaultProxy::start(&reg.base()).await;
    let dir = tempfile::tempdir().unwrap();

    // Anonymous pull token for a public repository; cache_ttl 0 forces a second walk, which
    // reuses the cached token.
    let opts = ClientOptions {
        cache_ttl: Duration::ZERO,
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "public/app")
            .await
            .unwrap()
            .tags
            .len(),
        7
    );
    assert_eq!(
        client
            .list_tags(&proxy.host(), "public/app")
            .await
            .unwrap()
            .tags
            .len(),
        7
    );
    let log = tokens.requests();
    assert_eq!(log.len(), 1, "one token for two walks: {log:?}");
    assert_eq!(
        (log[0].who.as_str(), log[0].scope.as_str()),
        ("anonymous", "repository:public/app:pull")
    );
    let stats = client.stats();
    assert_eq!(stats.token_fetches, 1);
    assert_eq!(
        stats.requests_with(&proxy.host(), "401"),
        1,
        "only the ping is challenged: {stats:#?}"
    );
    assert_eq!(proxy.count("/tags/list"), 2);
    assert!(
        proxy
            .seen()
            .iter()
            .filter(|s| s.target.contains("/tags/list"))
            .all(|s| s.authorized)
    );

    // Private repository anonymously: the token service refuses, Unauthorized says what to do.
    let err = client
        .list_tags(&proxy.host(), "private/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("configure credentials"), "{err}");

    // With credentials from extra_credentials (as from a Kubernetes dockerconfigjson secret).
    let secret = format!(
        r#"{{"auths":{{"{}":{{"username":"alice","password":"alice-pw"}}}}}}"#,
        proxy.host()
    );
    let creds = Registry::parse_docker_config(&secret).unwrap();
    let opts = ClientOptions {
        extra_credentials: creds,
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "private/app")
            .await
            .unwrap()
            .tags
            .len(),
        9
    );
    assert_eq!(tokens.requests().last().unwrap().who, "alice");

    // Wrong password: the token service refuses; the error names the user only.
    let opts = ClientOptions {
        extra_credentials: vec![(
            proxy.host(),
            Credential::Basic {
                username: "alice".into(),
                password: "nope-secret".into(),
            },
        )],
        ..test_options(dir.path())
    };
    let err = Registry::new(opts)
        .unwrap()
        .list_tags(&proxy.host(), "private/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("alice") && !err.to_string().contains("nope-secret"),
        "{err}"
    );

    // identitytoken from config.json: the OAuth2 refresh-token POST.
    let docker_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        docker_dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-abc"}}}}}}"#,
            proxy.host()
        ),
    )
    .unwrap();
    let client = Registry::new(test_options(docker_dir.path())).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "private/app")
            .await
            .unwrap()
            .tags
            .len(),
        9
    );
    let last = tokens.requests().last().cloned().unwrap();
    assert_eq!(
        (last.method.as_str(), last.who.as_str()),
        ("POST", "refresh:carol")
    );
}

#[tokio::test]
async fn token_is_refreshed_once_on_401_and_second_401_is_final() {
    let (_issuer, tokens, reg) = token_setup().await;
    let proxy = FaultProxy::start(&reg.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = ClientOptions {
        cache_ttl: Duration::ZERO,
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    client.list_tags(&proxy.host(), "public/app").await.unwrap();
    assert_eq!(tokens.requests().len(), 1);

    // The registry rejects the cached token once (revoked, clock skew): one fresh token, retry.
    let challenge = format!(
        r#"Bearer realm="{}",service="test-registry",scope="repository:public/app:pull""#,
        tokens.realm()
    );
    proxy.inject(
        "public/app/tags/list",
        [Fault::Challenge(challenge.clone())],
    );
    assert_eq!(
        client
            .list_tags(&proxy.host(), "public/app")
            .await
            .unwrap()
            .tags
            .len(),
        7
    );
    assert_eq!(tokens.requests().len(), 2, "refreshed exactly once");

    // Rejected again right after a fresh token: final, no loop.
    proxy.inject(
        "public/app/tags/list",
        [
            Fault::Challenge(challenge.clone()),
            Fault::Challenge(challenge.clone()),
            Fault::Challenge(challenge),
        ],
    );
    proxy.clear_log();
    let err = client
        .list_tags(&proxy.host(), "public/app")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(
        proxy.count("/tags/list"),
        2,
        "cached token, then one fresh token; then stop"
    );
    assert_eq!(tokens.requests().len(), 3);
}

#[tokio::test]
async fn mirror_serves_docker_hub_repositories() {
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    reg.push(
        "library/redis",
        &["7.2.4".to_string(), "7.2.5".to_string()],
        false,
    )
    .await;
    reg.push("mojaloop/account-lookup-service", &version_tags(5), true)
        .await;
    let proxy = FaultProxy::start(&reg.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = ClientOptions {
        registries: vec![RegistryConfig {
            host: "docker.io".into(),
            mirror: Some(format!("http://{}", proxy.host())),
            ..Default::default()
        }],
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let redis = client.list_tags("docker.io", "redis").await.unwrap();
    assert_eq!(
        (redis.registry.as_str(), redis.repository.as_str()),
        ("docker.io", "library/redis")
    );
    assert_eq!(
        set(&redis.tags),
        set(&["7.2.4".to_string(), "7.2.5".to_string()])
    );
    // index.docker.io is the same registry: same cache entry, no new walk.
    client
        .list_tags("index.docker.io", "library/redis")
        .await
        .unwrap();
    assert_eq!(
        client
            .list_tags("docker.io", "mojaloop/account-lookup-service")
            .await
            .unwrap()
            .tags
            .len(),
        5
    );
    assert_eq!(proxy.count("/tags/list"), 2);
    assert!(
        proxy
            .seen()
            .iter()
            .any(|s| s.target == "/v2/library/redis/tags/list")
    );
    assert_eq!(client.stats().walks("docker.io", "library/redis"), 1);
}

#[tokio::test]
async fn a_failing_registry_fails_only_its_own_images() {
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    reg.push("good/app", &version_tags(3), true).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let client = Registry::new(test_options(dir.path())).unwrap();
    let good_host = reg.host();
    let (good, bad, bad_again) = tokio::join!(
        client.list_tags(&good_host, "good/app"),
        client.list_tags(&dead, "some/app"),
        client.list_tags(&dead, "other/app"),
    );
    assert_eq!(good.unwrap().tags.len(), 3);
    let bad = bad.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Connect, "{bad}");
    assert!(bad.to_string().contains(&dead), "{bad}");
    assert_eq!(bad_again.unwrap_err().kind(), ErrorKind::Connect);
    let stats = client.stats();
    // The dead host was pinged once with its retries (shared by both lookups), not once per lookup.
    assert_eq!(stats.requests_with(&dead, "connect"), 4, "{stats:#?}");
    support::print_retry_log("dead host", &stats);
}
