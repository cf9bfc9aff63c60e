//! The leader-election record kept in a Lease's spec (client-go's `LeaderElectionRecord`),
//! and the record as last observed by this replica, with the local time it last changed.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use std::time::{Duration, Instant};

/// The five Lease fields leader election reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Record {
    /// `holderIdentity`; empty when nobody holds the Lease.
    pub holder: String,
    /// `leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// `acquireTime`.
    pub acquire_time: Option<Timestamp>,
    /// `renewTime`.
    pub renew_time: Option<Timestamp>,
    /// `leaseTransitions`.
    pub transitions: i32,
}

impl Record {
    /// Reads the record from a Lease (missing fields are empty/zero, as in client-go).
    pub fn from_lease(lease: &Lease) -> Record {
        let spec = lease.spec.clone().unwrap_or_default();
        Record {
            holder: spec.holder_identity.unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or_default(),
            acquire_time: spec.acquire_time.map(|t| t.0),
            renew_time: spec.renew_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or_default(),
        }
    }

    /// A fresh record for `holder` acquiring at `now`.
    pub fn acquired(
        holder: &str,
        lease_duration_seconds: i32,
        now: Timestamp,
        transitions: i32,
    ) -> Record {
        Record {
            holder: holder.to_string(),
            lease_duration_seconds,
            acquire_time: Some(now),
            renew_time: Some(now),
            transitions,
        }
    }

    /// The same holding, renewed at `now` (acquire time and transitions kept).
    pub fn renewed(&self, lease_duration_seconds: i32, now: Timestamp) -> Record {
        Record {
            lease_duration_seconds,
            renew_time: Some(now),
            ..self.clone()
        }
    }

    /// client-go's `ReleaseOnCancel` record: no holder, 1 s duration, times set to `now`,
    /// transitions kept, so any other candidate may acquire at once.
    pub fn released(&self, now: Timestamp) -> Record {
        Record {
            holder: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(now),
            renew_time: Some(now),
            transitions: self.transitions,
        }
    }

    /// The holder, or `None` when the Lease is free.
    pub fn holder(&self) -> Option<&str> {
        Some(self.holder.as_str()).filter(|h| !h.is_empty())
    }

    /// Writes this record into `lease`'s spec, keeping the spec fields it does not own
    /// (`strategy`, `preferredHolder`).
    pub fn write_to(&self, lease: &mut Lease) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.holder.clone());
        spec.lease_duration_seconds = Some(self.lease_duration_seconds);
        spec.acquire_time = self.acquire_time.map(MicroTime);
        spec.renew_time = self.renew_time.map(MicroTime);
        spec.lease_transitions = Some(self.transitions);
    }

    /// A new Lease object `namespace/name` holding this record.
    pub fn new_lease(&self, namespace: &str, name: &str) -> Lease {
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                ..Default::default()
            },
            spec: None,
        };
        self.write_to(&mut lease);
        lease
    }
}

/// The Lease as this replica last saw it, and when (by the local monotonic clock) its record
/// last changed. Expiry is judged from that local time, never from `renewTime`, so clock skew
/// between replicas does not matter (client-go's `observedTime`).
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    /// The whole object, whose `resourceVersion` guards the next write.
    pub lease: Lease,
    /// Its leader-election record.
    pub record: Record,
    /// When the record was last seen to change (or written by us).
    pub changed_at: Instant,
}

impl Observed {
    /// Observes `lease` at `now`: `changed_at` moves only if the record differs from `previous`.
    pub fn observe(previous: Option<&Observed>, lease: Lease, now: Instant) -> Observed {
        let record = Record::from_lease(&lease);
        let changed_at = match previous {
            Some(p) if p.record == record => p.changed_at,
            _ => now,
        };
        Observed {
            lease,
            record,
            changed_at,
        }
    }

    /// Observes a Lease this replica just wrote: its record counts as changed at `now`.
    pub fn written(lease: Lease, now: Instant) -> Observed {
        Observed {
            record: Record::from_lease(&lease),
            lease,
            changed_at: now,
        }
    }

    /// Whether the holder's lease is still running at `now`: the record changed less than
    /// `leaseDurationSeconds` ago.
    pub fn is_valid(&self, now: Instant) -> bool {
        let secs = u64::try_from(self.record.lease_duration_seconds).unwrap_or(0);
        self.changed_at + Duration::from_secs(secs) > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn lease(holder: &str, renew: &str) -> Lease {
        Record::acquired(holder, 15, ts(renew), 3).new_lease("ops", "l")
    }

    #[test]
    fn record_round_trips_through_a_lease_and_keeps_foreign_fields() {
        let r = Record::acquired("pod-a", 15, ts("2026-01-02T03:04:05.123456Z"), 4);
        let mut l = r.new_lease("ops", "l");
        assert_eq!(l.metadata.namespace.as_deref(), Some("ops"));
        assert_eq!(Record::from_lease(&l), r);
        l.spec.as_mut().expect("spec").strategy = Some("OldestEmulationVersion".into());
        r.renewed(15, ts("2026-01-02T03:04:07Z")).write_to(&mut l);
        let spec = l.spec.as_ref().expect("spec");
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
        assert_eq!(
            spec.acquire_time.as_ref().map(|t| t.0),
            Some(ts("2026-01-02T03:04:05.123456Z"))
        );
        assert_eq!(
            spec.renew_time.as_ref().map(|t| t.0),
            Some(ts("2026-01-02T03:04:07Z"))
        );
        assert_eq!(spec.lease_transitions, Some(4));
    }

    #[test]
    fn empty_spec_reads_as_free_lease() {
        let l = Lease::default();
        let r = Record::from_lease(&l);
        assert_eq!(r.holder(), None);
        assert_eq!(r.transitions, 0);
        assert_eq!(r.lease_duration_seconds, 0);
    }

    #[test]
    fn release_clears_holder_keeps_transitions_and_shortens_duration() {
        let r = Record::acquired("pod-a", 15, ts("2026-01-02T03:04:05Z"), 7);
        let now = ts("2026-01-02T03:05:00Z");
        let rel = r.released(now);
        assert_eq!(rel.holder(), None);
        assert_eq!(rel.lease_duration_seconds, 1);
        assert_eq!(rel.transitions, 7);
        assert_eq!(rel.renew_time, Some(now));
    }

    #[test]
    fn expiry_uses_local_observation_time_not_renew_time() {
        let t0 = Instant::now();
        // renewTime far in the past: still valid for 15 s after we first saw it.
        let first = Observed::observe(None, lease("pod-b", "2000-01-01T00:00:00Z"), t0);
        assert!(first.is_valid(t0 + Duration::from_secs(14)));
        assert!(!first.is_valid(t0 + Duration::from_secs(15)));
        // The same record seen again later does not restart the clock.
        let again = Observed::observe(
            Some(&first),
            lease("pod-b", "2000-01-01T00:00:00Z"),
            t0 + Duration::from_secs(10),
        );
        assert_eq!(again.changed_at, t0);
        assert!(!again.is_valid(t0 + Duration::from_secs(16)));
        // A changed record (renewal, even with a skewed future renewTime) restarts it.
        let renewed = Observed::observe(
            Some(&again),
            lease("pod-b", "2999-01-01T00:00:00Z"),
            t0 + Duration::from_secs(12),
        );
        assert_eq!(renewed.changed_at, t0 + Duration::from_secs(12));
        assert!(renewed.is_valid(t0 + Duration::from_secs(26)));
        assert!(!renewed.is_valid(t0 + Duration::from_secs(27)));
    }

    #[test]
    fn zero_or_negative_duration_is_expired_at_once() {
        let t0 = Instant::now();
        let mut l = lease("pod-b", "2026-01-01T00:00:00Z");
        l.spec.as_mut().expect("spec").lease_duration_seconds = Some(-5);
        assert!(!Observed::observe(None, l, t0).is_valid(t0));
    }
}
