//! Optimistic concurrency: candidates racing for a missing Lease.

mod common;

use common::*;
use ml_operator_leader::LeaderState;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_racing_to_create_the_lease_elect_one_and_the_rest_follow_without_error() {
    let c = cluster().await;
    // Latency on every Lease request lines the candidates up: all read "not found" before
    // any create lands, so they all create and all but one get 409 AlreadyExists.
    c.sim.add_latency(LEASES_PATH, Duration::from_millis(300));
    let mut candidates: Vec<Candidate> = ["pod-a", "pod-b", "pod-c"]
        .iter()
        .map(|id| Candidate::spawn(&c.client, fast(id)))
        .collect();

    let leader = wait_lease(&c.sim, "a holder", |l| {
        l["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    })
    .await;
    let leader = leader["spec"]["holderIdentity"]
        .as_str()
        .expect("holder")
        .to_string();
    for cand in &mut candidates {
        if cand.identity == leader {
            cand.wait_leading().await;
        } else {
            let want = LeaderState::Following {
                holder: Some(leader.clone()),
            };
            cand.wait("following the winner", |s| *s == want).await;
        }
    }
    assert!(
        c.sim.request_count("create", LEASES_PATH) >= 2,
        "the candidates really raced to create"
    );
    assert_eq!(transitions(&c.sim), 0);
    assert_eq!(
        candidates.iter().filter(|c| c.now().is_leading()).count(),
        1
    );
    for cand in candidates {
        assert!(
            !cand.task.is_finished(),
            "{} stopped: a conflict is not an error",
            cand.identity
        );
        cand.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_renewal_is_resolved_by_re_reading_not_an_error() {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;
    let _ = a.state.borrow_and_update();

    // The leader's next request (its fast-path renewal) gets 409; it re-reads and renews.
    let before = c.sim.request_count("*", LEASE_PATH);
    let gets_before = c.sim.request_count("get", LEASE_PATH);
    c.sim.inject_errors(LEASE_PATH, 1, 409);
    let handle = c.sim.handle();
    wait_lease(&c.sim, "a renewal after the conflict", move |_| {
        handle.request_count("*", LEASE_PATH) >= before + 3
    })
    .await;
    assert!(
        !a.state.has_changed().expect("elector running"),
        "state never left Leading: {}",
        a.now()
    );
    assert!(!a.task.is_finished());
    assert!(
        c.sim.request_count("get", LEASE_PATH) > gets_before,
        "the conflict made it re-read"
    );
    a.shutdown().await.expect("clean shutdown");
}
