//! Two or more electors against kube-sim: one leader at a time, takeover after a crash,
//! release on graceful shutdown, stepping down for another holder, skew-proof expiry.

mod common;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, WatchEvent, WatchParams};
use ml_operator_leader::LeaderState;
use serde_json::json;
use std::time::Duration;

fn following(holder: &str) -> impl FnMut(&LeaderState) -> bool + '_ {
    move |s| {
        *s == LeaderState::Following {
            holder: Some(holder.to_string()),
        }
    }
}

/// Waits until one of two candidates leads; returns (leader, follower).
async fn elect(mut a: Candidate, mut b: Candidate) -> (Candidate, Candidate) {
    let a_leads = tokio::select! {
        _ = a.wait_leading() => true,
        _ = b.wait_leading() => false,
    };
    let (leader, mut follower) = if a_leads { (a, b) } else { (b, a) };
    let id = leader.identity.clone();
    follower.wait("following the leader", following(&id)).await;
    (leader, follower)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_leads_and_a_survivor_takes_over_when_the_leader_dies() {
    let c = cluster().await;
    let a = Candidate::spawn(&c.client, fast("pod-a"));
    let b = Candidate::spawn(&c.client, fast("pod-b"));
    let (leader, mut survivor) = elect(a, b).await;

    // Sample both states over several lease durations: never two leaders.
    let mut samples_with_one_leader = 0;
    for _ in 0..100 {
        let leading = [leader.now(), survivor.now()]
            .iter()
            .filter(|s| s.is_leading())
            .count();
        assert!(
            leading <= 1,
            "two leaders: {} and {}",
            leader.now(),
            survivor.now()
        );
        samples_with_one_leader += usize::from(leading == 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(samples_with_one_leader > 0);
    assert_eq!(holder(&c.sim).as_deref(), Some(leader.identity.as_str()));
    let before = transitions(&c.sim);

    // The leader dies without releasing: the survivor takes over once the Lease expires.
    let mut dead_state = leader.state.clone();
    let dead = leader.identity.clone();
    leader.kill().await;
    assert_eq!(
        *dead_state.borrow_and_update(),
        LeaderState::Unknown,
        "a dropped elector no longer claims to lead"
    );
    assert!(
        holder(&c.sim).as_deref() == Some(dead.as_str()),
        "killing does not release the Lease"
    );
    survivor.wait_leading().await;
    assert_eq!(holder(&c.sim).as_deref(), Some(survivor.identity.as_str()));
    assert_eq!(transitions(&c.sim), before + 1);
    survivor.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_the_lease_and_the_successor_takes_over() {
    let c = cluster().await;
    // A 15 s lease: without the release, the successor would wait for expiry.
    let mut a = Candidate::spawn(&c.client, patient("pod-a"));
    a.wait_leading().await;
    let mut b = Candidate::spawn(&c.client, patient("pod-b"));
    b.wait("following pod-a", following("pod-a")).await;
    let before = transitions(&c.sim);

    // Watch every change of the Lease from now on.
    let rv = lease(&c.sim).expect("lease")["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), NS);
    let mut events = leases
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("watch")
        .boxed();

    let mut a_state = a.state.clone();
    a.shutdown().await.expect("release succeeds");
    assert_eq!(*a_state.borrow_and_update(), LeaderState::Unknown);
    b.wait_leading().await;

    // The history shows the release record, then pod-b acquiring with one more transition.
    let mut released = false;
    loop {
        let event = tokio::time::timeout(WAIT, events.next())
            .await
            .expect("watch event")
            .expect("stream open")
            .expect("event");
        let WatchEvent::Modified(l) = event else {
            continue;
        };
        let spec = l.spec.expect("spec");
        match spec.holder_identity.as_deref() {
            Some("") | None => {
                assert_eq!(
                    spec.lease_duration_seconds,
                    Some(1),
                    "released with a 1 s duration"
                );
                assert_eq!(
                    spec.lease_transitions.unwrap_or(0) as i64,
                    before,
                    "release keeps transitions"
                );
                released = true;
            }
            Some("pod-a") => assert!(!released, "pod-a renewed after releasing"),
            Some("pod-b") => {
                assert!(released, "pod-b acquired without the release");
                assert_eq!(spec.lease_transitions.unwrap_or(0) as i64, before + 1);
                assert_eq!(spec.lease_duration_seconds, Some(15));
                assert_eq!(spec.acquire_time, spec.renew_time, "a fresh acquisition");
                break;
            }
            Some(other) => panic!("unexpected holder {other}"),
        }
    }
    b.shutdown().await.expect("clean shutdown");
    assert_eq!(holder(&c.sim).as_deref(), Some(""), "pod-b released too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_sees_another_holder_steps_down_and_later_retakes_the_abandoned_lease() {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;

    // Someone else writes the Lease (say, a replica with a different config). renewTime is
    // irrelevant: only the change is.
    c.sim
        .insert(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 2, "leaseTransitions": 41,
                     "acquireTime": "2020-01-01T00:00:00.000000Z", "renewTime": "2020-01-01T00:00:00.000000Z"}
        }))
        .expect("insert");
    a.wait("following the intruder", following("intruder"))
        .await;

    // The intruder never renews: after a lease duration of no change, pod-a takes over.
    a.wait_leading().await;
    let l = lease(&c.sim).expect("lease");
    assert_eq!(l["spec"]["holderIdentity"], "pod-a");
    assert_eq!(l["spec"]["leaseTransitions"], 42);
    a.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_lease_is_taken_over_even_if_its_renew_time_is_in_the_future() {
    let c = cluster().await;
    // A holder whose clock runs far ahead wrote renewTime in the future, then died.
    c.sim
        .insert(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 2, "leaseTransitions": 5,
                     "acquireTime": "2999-01-01T00:00:00.000000Z", "renewTime": "2999-01-01T00:00:00.000000Z"}
        }))
        .expect("insert");
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    let first = a
        .wait("a first observation", |s| *s != LeaderState::Unknown)
        .await;
    assert_eq!(
        first,
        LeaderState::Following {
            holder: Some("ghost".into())
        },
        "a fresh lease is respected first"
    );
    a.wait_leading().await;
    let l = lease(&c.sim).expect("lease");
    assert_eq!(l["spec"]["holderIdentity"], "pod-a");
    assert_eq!(l["spec"]["leaseTransitions"], 6);
    assert_eq!(l["spec"]["leaseDurationSeconds"], 2);
    assert_ne!(l["spec"]["acquireTime"], "2999-01-01T00:00:00.000000Z");
    a.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_candidate_creates_the_lease_with_client_go_fields() {
    let c = cluster().await;
    let mut a = Candidate::spawn(&c.client, fast("pod-a"));
    a.wait_leading().await;
    let l = lease(&c.sim).expect("lease created");
    assert_eq!(l["spec"]["holderIdentity"], "pod-a");
    assert_eq!(l["spec"]["leaseDurationSeconds"], 2);
    assert_eq!(l["spec"]["leaseTransitions"], 0);
    assert!(
        l["spec"]["acquireTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == "2026-01-01T00:00:00.000000Z".len())
    );
    // The leader keeps renewing: renewTime moves, acquireTime does not.
    let renewed = wait_lease(&c.sim, "a renewal", |n| {
        n["spec"]["renewTime"] != l["spec"]["renewTime"]
    })
    .await;
    assert_eq!(renewed["spec"]["acquireTime"], l["spec"]["acquireTime"]);
    assert_eq!(renewed["spec"]["leaseTransitions"], 0);
    a.shutdown().await.expect("clean shutdown");
    let released = lease(&c.sim).expect("lease");
    assert_eq!(released["spec"]["holderIdentity"], "");
    assert_eq!(released["spec"]["leaseDurationSeconds"], 1);
}
