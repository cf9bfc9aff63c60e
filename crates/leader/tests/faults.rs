//! API failures: 403 is fatal and names the RBAC verb; 5xx is retried, and leadership is kept
//! within the renew deadline and given up after it.

mod common;

use common::*;
use ml_operator_leader::{Error, LeaderState, LeaseConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_get_is_fatal_and_names_the_missing_rbac_verb() {
    let c = cluster().await;
    c.sim.inject_errors(LEASE_PATH, 1, 403);
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    let err = a.result().await;
    assert!(
        matches!(err, Err(Error::Forbidden { verb: "get", .. })),
        "{err:?}"
    );
    let msg = err.expect_err("fatal").to_string();
    for want in [
        "default/ml-operator-leader",
        "\"get\"",
        "\"leases\"",
        "coordination.k8s.io",
    ] {
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
    assert_eq!(*a.state.borrow_and_update(), LeaderState::Unknown);
    assert!(lease(&c.sim).is_none(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_update_while_leading_stops_leading_with_a_fatal_error() {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;
    // The leader's next request is its renewal (a PUT on the Lease).
    c.sim.inject_errors(LEASE_PATH, 1, 403);
    let err = a.result().await;
    assert!(
        matches!(err, Err(Error::Forbidden { verb: "update", .. })),
        "{err:?}"
    );
    assert!(
        err.expect_err("fatal")
            .to_string()
            .contains("\"update\" on resource \"leases\"")
    );
    assert_eq!(
        *a.state.borrow(),
        LeaderState::Unknown,
        "leader work must stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_within_the_renew_deadline_do_not_lose_leadership() {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, patient("pod-a"));
    a.wait_leading().await;
    let _ = a.state.borrow_and_update();

    let before = c.sim.request_count("*", LEASE_PATH);
    c.sim.inject_errors(LEASE_PATH, 3, 500);
    c.sim.inject_errors(LEASE_PATH, 3, 503);
    // Six failed requests (fast-path PUT then GET per attempt), then a successful renewal.
    let handle = c.sim.handle();
    wait_lease(&c.sim, "a renewal after the errors", move |_| {
        handle.request_count("*", LEASE_PATH) >= before + 7
    })
    .await;
    assert!(
        !a.state.has_changed().expect("elector running"),
        "state never left Leading: {}",
        a.now()
    );
    assert!(a.now().is_leading());
    assert_eq!(holder(&c.sim).as_deref(), Some("pod-a"));
    assert_eq!(transitions(&c.sim), 0);
    a.shutdown().await.expect("clean shutdown");
}

/// Every Lease request fails with `status` until the faults are cleared: the leader steps down
/// after the renew deadline without a fatal error, then renews its own Lease again.
async fn step_down_and_recover(status: u16) {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;
    c.sim.inject_errors(LEASE_PATH, 1_000_000, status);
    a.wait("stepping down", |s| !s.is_leading()).await;
    assert_eq!(
        a.now(),
        LeaderState::Unknown,
        "cannot know the holder while the API fails"
    );
    assert!(!a.task.is_finished(), "unavailability is not fatal");

    c.sim.clear_faults();
    a.wait_leading().await;
    assert_eq!(holder(&c.sim).as_deref(), Some("pod-a"));
    assert_eq!(
        transitions(&c.sim),
        0,
        "the same holder renewing is no transition"
    );
    a.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_getting_500s_past_the_renew_deadline_steps_down_and_recovers() {
    step_down_and_recover(500).await;
}

/// kube-rs itself retries 503 with backoff; the elector's per-attempt deadline still applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_getting_503s_past_the_renew_deadline_steps_down_and_recovers() {
    step_down_and_recover(503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_api_server_at_start_is_retried() {
    let c = cluster().await;
    // 500 is not retried inside kube-rs: each failure is one elector attempt.
    c.sim.inject_errors(LEASES_PATH, 5, 500);
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;
    assert!(
        c.sim.request_count("get", LEASE_PATH) >= 6,
        "five failed reads, then one that found no Lease"
    );
    assert_eq!(c.sim.request_count("create", LEASES_PATH), 1);
    a.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_fails_before_any_request() {
    let c = cluster().await;
    let config = LeaseConfig {
        renew_deadline: Duration::from_secs(2),
        ..fast("pod-a")
    };
    let mut a = Candidate::spawn(&c.client, config);
    let err = a.result().await.expect_err("invalid");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains("default/ml-operator-leader"),
        "{err}"
    );
    assert_eq!(c.sim.request_count("*", LEASES_PATH), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_server_rejects_as_invalid_is_fatal() {
    let c = cluster().await;
    c.sim.inject_errors(LEASE_PATH, 1, 422);
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    let err = a.result().await.expect_err("fatal");
    assert!(
        matches!(err, Error::Rejected { verb: "get", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the API server rejected get of lease default/ml-operator-leader: "),
        "{err}"
    );
}
