//! Being a good client: a per-registry request pacer (a token bucket: a burst, then requests per
//! second; plus a shared pause when the registry says 429). How long to back off and how to read `Retry-After` are the
//! shared `ml-operator-retry` crate's, applied in `http.rs`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket per registry: up to `burst` requests go at once, then one every `1/rps`
/// (the bucket refills at `rps`), so a small hub is scanned at the registry's speed while
/// sustained traffic stays at `rps`. All requests are held back while the registry has asked us
/// to pause. Slots are reserved under a lock and waited for outside it, so waiting callers are
/// served in order.
///
/// It is the generic cell rate algorithm: `tat` is the theoretical arrival time of the next
/// request at exactly `rps`; a request may go as early as `burst - 1` intervals before it.
pub(crate) struct Pacer {
    interval: Option<Duration>,
    /// How far ahead of the steady pace a request may go: `(burst - 1) * interval`.
    allowance: Duration,
    state: Mutex<PacerState>,
}

struct PacerState {
    tat: Instant,
    paused_until: Option<Instant>,
}

impl Pacer {
    /// `rps = None` (or not positive) means no pacing, only pauses. `burst` is at least 1
    /// (1: requests strictly `1/rps` apart).
    pub(crate) fn new(rps: Option<f64>, burst: u32) -> Self {
        let interval = rps
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        let allowance = interval.map_or(Duration::ZERO, |i| i * burst.saturating_sub(1));
        Pacer {
            interval,
            allowance,
            state: Mutex::new(PacerState {
                tat: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits for this caller's slot.
    pub(crate) async fn acquire(&self) {
        let slot = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let tat = st.tat.max(now);
            let mut slot = tat.checked_sub(self.allowance).unwrap_or(now).max(now);
            if let Some(p) = st.paused_until {
                if p > now {
                    slot = slot.max(p);
                } else {
                    st.paused_until = None;
                }
            }
            if let Some(i) = self.interval {
                st.tat = tat.max(slot) + i;
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every request to this registry back until `until` (a 429 applies to all of us);
    /// after it, requests resume at the steady pace, without a burst.
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
        st.tat = st.tat.max(until + self.allowance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests_and_honours_pauses() {
        let p = Pacer::new(Some(10.0), 1);
        let t0 = Instant::now();
        for _ in 0..5 {
            p.acquire().await;
        }
        // 5 slots at 0, 100, 200, 300, 400 ms (virtual time, not a timing assertion on real clocks).
        assert_eq!(Instant::now() - t0, Duration::from_millis(400));
        p.pause_until(Instant::now() + Duration::from_secs(3));
        p.acquire().await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(3400));
        let unlimited = Pacer::new(None, 1);
        let t1 = Instant::now();
        for _ in 0..100 {
            unlimited.acquire().await;
        }
        assert_eq!(Instant::now(), t1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_the_pace_holds() {
        let p = Pacer::new(Some(10.0), 5);
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..8 {
            p.acquire().await;
            at.push((Instant::now() - t0).as_millis());
        }
        // Five at once, then 100 ms apart (virtual time).
        assert_eq!(at, [0, 0, 0, 0, 0, 100, 200, 300]);
        // Idle long enough, the bucket is full again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t1 = Instant::now();
        for _ in 0..5 {
            p.acquire().await;
        }
        assert_eq!(Instant::now(), t1, "a full bucket again after a second");
        // After a 429's pause: the steady pace, no burst.
        p.pause_until(Instant::now() + Duration::from_secs(2));
        let t2 = Instant::now();
        let mut after = Vec::new();
        for _ in 0..3 {
            p.acquire().await;
            after.push((Instant::now() - t2).as_millis());
        }
        assert_eq!(after, [2000, 2100, 2200]);
    }
}
