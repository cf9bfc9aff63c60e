//! Being a good client: a per-registry request pacer (requests per second, plus a shared pause
//! when the registry says 429). How long to back off and how to read `Retry-After` are the
//! shared `ml-operator-retry` crate's, applied in `http.rs`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests to one registry at least `1/rps` apart, and holds all of them back while
/// the registry has asked us to pause. Slots are reserved under a lock and waited for outside
/// it, so waiting callers are served in order.
pub(crate) struct Pacer {
    interval: Option<Duration>,
    state: Mutex<PacerState>,
}

struct PacerState {
    next: Instant,
    paused_until: Option<Instant>,
}

impl Pacer {
    /// `rps = None` (or not positive) means no pacing, only pauses.
    pub(crate) fn new(rps: Option<f64>) -> Self {
        let interval = rps
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Pacer {
            interval,
            state: Mutex::new(PacerState {
                next: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits for this caller's slot.
    pub(crate) async fn acquire(&self) {
        let slot = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let mut slot = st.next.max(now);
            if let Some(p) = st.paused_until {
                if p > now {
                    slot = slot.max(p);
                } else {
                    st.paused_until = None;
                }
            }
            if let Some(i) = self.interval {
                st.next = slot + i;
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every request to this registry back until `until` (a 429 applies to all of us).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests_and_honours_pauses() {
        let p = Pacer::new(Some(10.0));
        let t0 = Instant::now();
        for _ in 0..5 {
            p.acquire().await;
        }
        // 5 slots at 0, 100, 200, 300, 400 ms (virtual time, not a timing assertion on real clocks).
        assert_eq!(Instant::now() - t0, Duration::from_millis(400));
        p.pause_until(Instant::now() + Duration::from_secs(3));
        p.acquire().await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(3400));
        let unlimited = Pacer::new(None);
        let t1 = Instant::now();
        for _ in 0..100 {
            unlimited.acquire().await;
        }
        assert_eq!(Instant::now(), t1);
    }
}
