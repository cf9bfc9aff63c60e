//! The retry policy: bounded retries, exponential back-off with jitter, capped `Retry-After`.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How hard a notifier tries to deliver one message.
///
/// A message is sent once and retried at most `max_retries` times on 408, 429, 5xx, timeouts
/// and connection errors. Between attempts it waits `base * 2^(attempt-1)` capped at
/// `max_backoff`, with "equal jitter" (a random point in the upper half of that delay) so
/// replicas and parts do not retry in lockstep. A `Retry-After` on a 429, 408 or 5xx is waited
/// exactly instead, when it is at most `max_retry_after`; a 429 asking for longer fails at once
/// as [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) rather than holding a scan
/// hostage (on 408/5xx a longer one is ignored in favour of the back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 5; 0 disables retrying).
    pub max_retries: u32,
    /// First back-off delay (default 500 ms).
    pub base: Duration,
    /// Longest back-off delay (default 30 s).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured (default 60 s); a longer one on a 429 fails at once.
    pub max_retry_after: Duration,
    /// Timeout of one HTTP request, connect to last body byte (default 10 s).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), jittered into `[d/2, d]` where
    /// `d = min(base * 2^(retry-1), max_backoff)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let d = self.ceiling(retry);
        if d.is_zero() {
            return d;
        }
        let half = d / 2;
        let nanos = (d - half).as_nanos().min(u128::from(u64::MAX)) as u64;
        half + Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// The un-jittered delay before retry number `retry` (1-based).
    fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in
/// the past means "now". `None` when the value is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for (retry, hi) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let d = p.backoff(retry);
                assert!(d <= Duration::from_millis(hi), "{retry}: {d:?}");
                assert!(d >= Duration::from_millis(hi) / 2, "{retry}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 3600 ", now),
            Some(Duration::from_secs(3600))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
