//! Being a good client: a per-registry request pacer (requests per second, plus a shared pause
//! when the registry says 429), exponential back-off with jitter, and `Retry-After` parsing.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::Rng as _;
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

/// The wait before retry number `attempt` (0-based): `base·2^attempt`, capped at `max`, with
/// "equal jitter" (a uniformly random point in the upper half) so many clients that failed
/// together do not retry together, yet each still waits a predictable minimum.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(max);
    let half = exp / 2;
    let jitter_nanos = rand::rng().random_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
    half + Duration::from_nanos(jitter_nanos)
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date. Dates in the past mean "now".
/// Unparseable values give `None` (the caller then backs off as for a 5xx).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some servers send fractional seconds.
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(u32::MAX as f64)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..40 {
            let exp = (base * 2u32.saturating_pow(attempt.min(30))).min(max);
            for _ in 0..20 {
                let w = backoff(base, max, attempt);
                assert!(
                    w >= exp / 2 && w <= exp,
                    "attempt {attempt}: {w:?} not in [{:?}, {exp:?}]",
                    exp / 2
                );
            }
        }
        // Jitter actually varies.
        let waits: std::collections::HashSet<_> = (0..50).map(|_| backoff(base, max, 3)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "past date means now"
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
        // Years: parsed faithfully; the client caps it (max_retry_after).
        assert_eq!(
            parse_retry_after("99999999999"),
            Some(Duration::from_secs(99_999_999_999))
        );
    }

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
