//! The real registry behind the fault-injecting proxy: pagination as Docker Hub and GHCR do
//! it, loops, 429 + Retry-After, 5xx bursts, dropped and slow connections, ETag revalidation
//! and the disk cache. Each test asserts the requests made, not only the result.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ml_operator_registry::{ClientOptions, ErrorKind, Registry, RegistryConfig};
use support::proxy::{Fault, FaultProxy, Paging};
use support::registry::{AuthMode, RegistryProc, version_tags};
use support::{print_retry_log, test_options};

async fn registry_with(repo: &str, n: usize) -> (RegistryProc, FaultProxy, Vec<String>) {
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    let tags = version_tags(n);
    reg.push(repo, &tags, true).await;
    let proxy = FaultProxy::start(&reg.base()).await;
    (reg, proxy, tags)
}

fn sorted(v: &[String]) -> Vec<String> {
    v.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn pagination_docker_hub_ghcr_and_bare_n_last() {
    let (_reg, proxy, tags) = registry_with("org/many", 250).await;
    let dir = tempfile::tempdir().unwrap();

    // Docker Hub: relative Link, 50 per page -> 5 pages.
    proxy.set_paging(Paging::DockerHub { page: 50 });
    let client = Registry::new(test_options(dir.path())).unwrap();
    let list = client.list_tags(&proxy.host(), "org/many").await.unwrap();
    assert_eq!(list.tags, sorted(&tags));
    assert_eq!(proxy.count("/tags/list"), 5);
    assert_eq!(client.stats().walks(&proxy.host(), "org/many"), 1);

    // GHCR: absolute Link with n and last; the client's n (page_size) is honoured up to the cap.
    proxy.clear_log();
    proxy.set_paging(Paging::Ghcr { page: 100 });
    let opts = ClientOptions {
        page_size: Some(100),
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let list = client.list_tags(&proxy.host(), "org/many").await.unwrap();
    assert_eq!(list.tags.len(), 250);
    let targets: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.target.contains("tags"))
        .map(|s| s.target.clone())
        .collect();
    assert_eq!(targets.len(), 3, "{targets:?}");
    assert_eq!(targets[0], "/v2/org/many/tags/list?n=100");

    // A registry that honours n/last but sends no Link: continued with last= while pages are full.
    proxy.clear_log();
    proxy.set_paging(Paging::NoLink { page: 40 });
    let opts = ClientOptions {
        page_size: Some(40),
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let list = client.list_tags(&proxy.host(), "org/many").await.unwrap();
    assert_eq!(list.tags, sorted(&tags));
    assert_eq!(
        proxy.count("/tags/list"),
        7,
        "6 full pages of 40 and one of 10"
    );
}

#[tokio::test]
async fn pagination_loops_and_endless_walks_are_stopped() {
    let (_reg, proxy, _tags) = registry_with("org/loop", 30).await;
    let dir = tempfile::tempdir().unwrap();

    proxy.set_paging(Paging::LoopSamePage { page: 10 });
    let client = Registry::new(test_options(dir.path())).unwrap();
    let err = client
        .list_tags(&proxy.host(), "org/loop")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("pagination loop"), "{err}");
    assert_eq!(proxy.count("/tags/list"), 1);

    proxy.clear_log();
    proxy.set_paging(Paging::Endless);
    let opts = ClientOptions {
        max_pages: 20,
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    let err = client
        .list_tags(&proxy.host(), "org/loop")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("more than 20 pages"), "{err}");
    assert_eq!(proxy.count("/tags/list"), 20, "stops exactly at the cap");
}

#[tokio::test]
async fn rate_limited_429_honours_retry_after_and_caps_it() {
    let (_reg, proxy, tags) = registry_with("org/app", 5).await;
    let dir = tempfile::tempdir().unwrap();
    proxy.inject(
        "/tags/list",
        [
            Fault::TooMany(Some("1".into())),
            Fault::TooMany(Some("0".into())),
            Fault::TooMany(None),
        ],
    );
    let client = Registry::new(test_options(dir.path())).unwrap();
    let list = client.list_tags(&proxy.host(), "org/app").await.unwrap();
    assert_eq!(list.tags.len(), tags.len());
    let stats = client.stats();
    print_retry_log("429", &stats);
    assert_eq!(stats.requests_with(&proxy.host(), "429"), 3);
    assert_eq!(proxy.count("/tags/list"), 4);
    assert_eq!(stats.retries, 3);
    let waits: Vec<Duration> = stats.retry_log.iter().map(|e| e.wait).collect();
    assert_eq!(
        waits[0],
        Duration::from_secs(1),
        "Retry-After: 1 is waited exactly"
    );
    assert_eq!(waits[1], Duration::ZERO, "Retry-After: 0");
    assert!(
        waits[2] >= Duration::from_millis(20) && waits[2] <= Duration::from_millis(80),
        "no Retry-After: back-off (attempt 3 of base 20ms): {:?}",
        waits[2]
    );
    assert_eq!(stats.retry_log[0].reason, "429 Retry-After: 1");

    // A registry asking for an hour (or years) is not waited for: rate-limited at once.
    proxy.clear_log();
    proxy.inject("/tags/list", [Fault::TooMany(Some("3600".into()))]);
    let err = client
        .list_tags(&proxy.host(), "org/other")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(err.to_string().contains("3600s"), "{err}");
    assert_eq!(proxy.count("/tags/list"), 1, "no retry");

    // HTTP-date form, far in the future.
    proxy.inject(
        "/tags/list",
        [Fault::TooMany(Some("Tue, 31 Dec 2999 23:59:59 GMT".into()))],
    );
    let err = client
        .list_tags(&proxy.host(), "org/third")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.retry_after().unwrap() > Duration::from_secs(365 * 24 * 3600));

    // Persistent 429 without Retry-After: bounded retries, then RateLimited.
    proxy.clear_log();
    proxy.inject("fourth/tags/list", (0..10).map(|_| Fault::TooMany(None)));
    let err = client
        .list_tags(&proxy.host(), "org/fourth")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_eq!(proxy.count("/tags/list"), 4, "1 try + max_retries (3)");
}

#[tokio::test]
async fn server_errors_back_off_exponentially_then_give_up() {
    let (_reg, proxy, tags) = registry_with("org/app", 5).await;
    let dir = tempfile::tempdir().unwrap();
    proxy.inject(
        "/tags/list",
        [Fault::Status(503), Fault::Status(502), Fault::Status(500)],
    );
    let client = Registry::new(test_options(dir.path())).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "org/app")
            .await
            .unwrap()
            .tags
            .len(),
        tags.len()
    );
    let stats = client.stats();
    print_retry_log("5xx", &stats);
    assert_eq!(proxy.count("/tags/list"), 4);
    assert_eq!(stats.retries, 3);
    // Equal jitter: attempt k waits within [base·2^k / 2, base·2^k] (base 20 ms).
    for (k, e) in stats.retry_log.iter().enumerate() {
        let exp = Duration::from_millis(20 * (1 << k));
        assert!(
            e.wait >= exp / 2 && e.wait <= exp,
            "retry {}: {:?} not in [{:?}, {:?}]",
            k + 1,
            e.wait,
            exp / 2,
            exp
        );
    }
    assert_eq!(
        stats
            .retry_log
            .iter()
            .map(|e| e.reason.as_str())
            .collect::<Vec<_>>(),
        ["503", "502", "500"]
    );

    // A burst longer than the retries: Server error after exactly 1 + max_retries requests.
    proxy.clear_log();
    proxy.inject("down/tags/list", (0..10).map(|_| Fault::Status(503)));
    let err = client
        .list_tags(&proxy.host(), "org/down")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(proxy.count("/tags/list"), 4);

    // A 503 with Retry-After within the cap: that wait, not the back-off.
    proxy.inject("maint/tags/list", [Fault::Unavailable("1".into())]);
    let before = client.stats().retry_log.len();
    client
        .list_tags(&proxy.host(), "org/maint")
        .await
        .unwrap_err(); // org/maint does not exist: 404 after the retry
    let log = client.stats().retry_log;
    assert_eq!(log.len(), before + 1);
    assert_eq!(
        (log[before].reason.as_str(), log[before].wait),
        ("503", Duration::from_secs(1))
    );

    // Not retried: 404 and 400-class answers are final.
    proxy.clear_log();
    proxy.inject("/tags/list", [Fault::Status(400)]);
    let err = client
        .list_tags(&proxy.host(), "org/bad")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert_eq!(proxy.count("/tags/list"), 1);
}

#[tokio::test]
async fn dropped_and_slow_connections_are_retried_within_bounds() {
    let (_reg, proxy, tags) = registry_with("org/app", 5).await;
    let dir = tempfile::tempdir().unwrap();
    proxy.inject("/tags/list", [Fault::Drop, Fault::Drop]);
    let client = Registry::new(test_options(dir.path())).unwrap();
    assert_eq!(
        client
            .list_tags(&proxy.host(), "org/app")
            .await
            .unwrap()
            .tags
            .len(),
        tags.len()
    );
    let stats = client.stats();
    print_retry_log("drop", &stats);
    assert_eq!(proxy.count("/tags/list"), 3);
    assert_eq!(stats.retries, 2);
    assert!(
        stats
            .retry_log
            .iter()
            .all(|e| e.reason.starts_with("connect")),
        "{:?}",
        stats.retry_log
    );

    // Slow: the per-request timeout fires, the retry succeeds.
    let opts = ClientOptions {
        timeout: Duration::from_secs(1),
        ..test_options(dir.path())
    };
    let client = Registry::new(opts).unwrap();
    proxy.clear_log();
    proxy.inject("/tags/list", [Fault::Slow(Duration::from_secs(4))]);
    assert_eq!(
        client
            .list_tags(&proxy.host(), "org/app")
            .await
            .unwrap()
            .tags
            .len(),
        tags.len()
    );
    let stats = client.stats();
    print_retry_log("slow", &stats);
    assert_eq!(stats.retries, 1);
    assert!(
        stats.retry_log[0].reason.starts_with("timeout"),
        "{:?}",
        stats.retry_log
    );
    assert_eq!(proxy.count("/tags/list"), 2);

    // Always slow: Timeout after the bounded retries.
    proxy.clear_log();
    proxy.inject(
        "slowpoke/tags/list",
        (0..10).map(|_| Fault::Slow(Duration::from_secs(4))),
    );
    let err = client
        .list_tags(&proxy.host(), "org/slowpoke")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(proxy.count("/tags/list"), 4);
}

#[tokio::test]
async fn etag_revalidation_and_disk_cache() {
    let (_reg, proxy, tags) = registry_with("org/app", 60).await;
    proxy.set_etags(true);
    proxy.set_paging(Paging::DockerHub { page: 25 });
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Client A fills the disk cache: 3 pages.
    let opts = ClientOptions {
        cache_dir: Some(cache.path().into()),
        ..test_options(dir.path())
    };
    let a = Registry::new(opts.clone()).unwrap();
    assert_eq!(
        a.list_tags(&proxy.host(), "org/app").await.unwrap().tags,
        sorted(&tags)
    );
    assert_eq!(proxy.count_outcome("/tags/list", "200"), 3);

    // Client B (a new process) within the TTL: answered from disk, no request at all.
    proxy.clear_log();
    let b = Registry::new(opts.clone()).unwrap();
    assert_eq!(
        b.list_tags(&proxy.host(), "org/app").await.unwrap().tags,
        sorted(&tags)
    );
    assert_eq!(proxy.seen().len(), 0);
    assert_eq!(b.stats().cache_hits, 1);
    assert_eq!(b.stats().total_requests(), 0);

    // Client C with TTL 0: revalidates each page with If-None-Match and gets 304s.
    proxy.clear_log();
    let c = Registry::new(ClientOptions {
        cache_ttl: Duration::ZERO,
        ..opts.clone()
    })
    .unwrap();
    assert_eq!(
        c.list_tags(&proxy.host(), "org/app").await.unwrap().tags,
        sorted(&tags)
    );
    assert_eq!(
        proxy.count_outcome("/tags/list", "304"),
        3,
        "{:?}",
        proxy.seen()
    );
    assert_eq!(c.stats().not_modified, 3);

    // The disk cache holds no secrets and nothing but tag data.
    for f in std::fs::read_dir(cache.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert!(text.contains("v0.0.1") && !text.to_lowercase().contains("authorization"));
    }

    // A failure is remembered for error_ttl: a broken repository is not walked per workload.
    proxy.clear_log();
    for _ in 0..5 {
        assert_eq!(
            c.list_tags(&proxy.host(), "org/missing")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
    }
    assert_eq!(proxy.count("/tags/list"), 1);
}

#[tokio::test]
async fn concurrency_and_requests_per_second_are_bounded_per_registry() {
    let reg = RegistryProc::start(AuthMode::Anonymous, false).await;
    for r in 0..8 {
        reg.push(&format!("org/r{r}"), &version_tags(2), true).await;
    }
    let proxy = FaultProxy::start(&reg.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let lookup_all = |client: Registry, host: String| async move {
        let mut set = tokio::task::JoinSet::new();
        for r in 0..8 {
            let (c, h) = (client.clone(), host.clone());
            set.spawn(async move {
                c.list_tags(&h, &format!("org/r{r}"))
                    .await
                    .map(|l| l.tags.len())
            });
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap().unwrap(), 2);
        }
    };

    // concurrency: 2 -> never more than 2 requests in flight, though 8 lookups run at once.
    for r in 0..8 {
        proxy.inject(
            &format!("r{r}/tags/list"),
            [Fault::Slow(Duration::from_millis(150))],
        );
    }
    let entry = RegistryConfig {
        host: proxy.host(),
        concurrency: Some(2),
        ..Default::default()
    };
    let client = Registry::new(ClientOptions {
        registries: vec![entry],
        ..test_options(dir.path())
    })
    .unwrap();
    lookup_all(client.clone(), proxy.host()).await;
    assert_eq!(proxy.count("/tags/list"), 8);
    assert_eq!(
        proxy.max_in_flight(),
        2,
        "8 slow lookups overlapped up to the limit, not beyond"
    );

    // requestsPerSecond: 20, burst: 1 -> arrivals at least 50 ms apart (a lower bound set by
    // the pacer, which a slower machine can only widen).
    let paced = |burst: u32| RegistryConfig {
        host: proxy.host(),
        requests_per_second: Some(20.0),
        burst: Some(burst),
        concurrency: Some(8),
        ..Default::default()
    };
    proxy.clear_log();
    let client = Registry::new(ClientOptions {
        registries: vec![paced(1)],
        ..test_options(dir.path())
    })
    .unwrap();
    lookup_all(client, proxy.host()).await;
    let seen = proxy.seen();
    assert_eq!(seen.len(), 9);
    // 9 requests occupy 8 pacing intervals; single arrivals jitter by connection set-up, so
    // the bound is on the whole span.
    let span = seen[8].at.duration_since(seen[0].at);
    assert!(
        span >= Duration::from_millis(350),
        "9 requests at 20/s with no burst took only {span:?}"
    );

    // burst: 5 -> the first 5 requests need no wait, the other 4 still take 4 intervals: the
    // span is at least 4 intervals (200 ms), and shorter than without a burst.
    proxy.clear_log();
    let client = Registry::new(ClientOptions {
        registries: vec![paced(5)],
        ..test_options(dir.path())
    })
    .unwrap();
    lookup_all(client, proxy.host()).await;
    let seen = proxy.seen();
    assert_eq!(seen.len(), 9);
    let burst_span = seen[8].at.duration_since(seen[0].at);
    assert!(
        burst_span >= Duration::from_millis(180),
        "4 requests past a burst of 5 at 20/s took only {burst_span:?}"
    );
    assert!(
        burst_span < span,
        "a burst of 5 ({burst_span:?}) is not faster than no burst ({span:?})"
    );
}
