//! How ml-operator's HTTP clients try again: one [`RetryPolicy`] (bounded retries, exponential
//! back-off with equal jitter, a cap on how long a server may ask us to wait) and one
//! [`parse_retry_after`], shared by the notifiers (`crates/notify`) and the registry client
//! (`crates/registry`). Pure: no I/O, no clock of its own (`now` is a parameter), no runtime.
//!
//! The clients keep their own loops, because what they do between attempts differs (the
//! registry client pauses every request to a rate-limited server, a notifier sleeps); this
//! crate decides how long to wait and whether to try again.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ml_operator_retry::{RetryPolicy, parse_retry_after};
//!
//! let policy = RetryPolicy::default(); // 5 retries, 500 ms doubling up to 30 s, Retry-After ≤ 60 s
//! assert!(policy.allows(5) && !policy.allows(6));
//!
//! // Retry 3 waits a random point of [1 s, 2 s]: 500 ms · 2² = 2 s, equal jitter.
//! let wait = policy.backoff(3);
//! assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2));
//!
//! // A server's Retry-After is waited exactly when it is within the cap ...
//! let asked = parse_retry_after("7", SystemTime::now());
//! assert_eq!(policy.wait(3, asked), Duration::from_secs(7));
//! // ... and ignored in favour of the back-off when it is not.
//! assert!(policy.wait(3, Some(Duration::from_secs(3600))) <= Duration::from_secs(2));
//! ```
//!
//! # Back-off
//!
//! Before retry number `retry` (1 for the first retry) the ceiling is
//! `min(base · 2^(retry-1), max_backoff)`, and the wait is a uniformly random point in its upper
//! half, `[ceiling/2, ceiling]` ("equal jitter"): clients that failed together do not retry
//! together, yet each waits a predictable minimum and never more than `max_backoff`.
//!
//! Why not `backon`'s `ExponentialBuilder` (in the lock file through kube): its jitter *adds*
//! a random `[0, delay)` to the delay, so a wait lies in `[delay, 2·delay)` and may reach twice
//! `max_delay`, which would double the documented waits and break the documented cap; and it
//! computes delays in `f32`, so `100 ms · 2` is not exactly `200 ms`. Its retry driver cannot
//! express "fail at once when a 429 asks for longer than the cap" or "pause every request to
//! this server" either. What remains is the few lines below.
//!
//! # `Retry-After`
//!
//! [`parse_retry_after`] reads delay-seconds (`120`), fractional seconds (`1.5`, which some
//! servers send) and an HTTP-date (RFC 9110 §10.2.3); a date in the past means "now". What to
//! do with a wait longer than [`RetryPolicy::max_retry_after`] is the caller's: both clients
//! fail a 429 at once (as rate-limited) and, on a 408 or 5xx, back off instead
//! ([`RetryPolicy::wait`]).
#![deny(missing_docs)]

use std::time::{Duration, SystemTime};

use rand::Rng as _;

/// How hard a client tries to get one request through.
///
/// A request is sent once and retried at most `max_retries` times. Between attempts the client
/// waits [`RetryPolicy::backoff`], or the server's `Retry-After` when it is at most
/// `max_retry_after` ([`RetryPolicy::wait`]).
///
/// The defaults are the notifiers' (5 retries, 500 ms, 30 s, 60 s, 10 s); the registry client
/// builds its policy from its own options (`ClientOptions`: 4 retries, 250 ms, 20 s, 60 s, 30 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 5; 0 disables retrying).
    pub max_retries: u32,
    /// First back-off delay (default 500 ms).
    pub base: Duration,
    /// Longest back-off delay (default 30 s).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured (default 60 s).
    pub max_retry_after: Duration,
    /// Timeout of one attempt, connect to last body byte (default 10 s).
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
    /// Whether retry number `retry` (1-based) may be made.
    pub fn allows(&self, retry: u32) -> bool {
        retry <= self.max_retries
    }

    /// The delay before retry number `retry` (1-based), jittered into `[d/2, d]` where
    /// `d` = [`RetryPolicy::ceiling`].
    pub fn backoff(&self, retry: u32) -> Duration {
        let d = self.ceiling(retry);
        let half = d / 2;
        let nanos = (d - half).as_nanos().min(u128::from(u64::MAX)) as u64;
        half + Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// The un-jittered delay before retry number `retry` (1-based):
    /// `min(base · 2^(retry-1), max_backoff)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exp).min(self.max_backoff)
    }

    /// The wait before retry number `retry` (1-based): the server's `retry_after` when it is at
    /// most [`RetryPolicy::max_retry_after`], otherwise [`RetryPolicy::backoff`].
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        retry_after
            .filter(|w| *w <= self.max_retry_after)
            .unwrap_or_else(|| self.backoff(retry))
    }
}

/// Parses a `Retry-After` value: delay-seconds, fractional seconds or an HTTP-date
/// (RFC 9110 §10.2.3), measured from `now`. A date in the past means "now"; `None` when the
/// value is none of these (a negative number, a word).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(f64::from(u32::MAX))));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn policy(base_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(base_ms),
            max_backoff: Duration::from_millis(max_ms),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = policy(100, 1000);
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
        // Jitter actually varies.
        let waits: HashSet<_> = (0..50).map(|_| p.backoff(4)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn ceiling_doubles_from_base_and_saturates_at_the_cap() {
        let p = policy(250, 20_000);
        let ceilings: Vec<u64> = (1..=9).map(|r| p.ceiling(r).as_millis() as u64).collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16_000, 20_000, 20_000]
        );
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(20));
        let huge = RetryPolicy {
            base: Duration::MAX,
            max_backoff: Duration::MAX,
            ..p
        };
        assert_eq!(huge.ceiling(3), Duration::MAX);
        assert_eq!(policy(0, 1000).backoff(3), Duration::ZERO);
    }

    #[test]
    fn retries_are_bounded_and_retry_after_is_honoured_within_the_cap() {
        let p = RetryPolicy {
            max_retries: 2,
            ..policy(100, 1000)
        };
        assert!(p.allows(1) && p.allows(2) && !p.allows(3));
        let never = RetryPolicy {
            max_retries: 0,
            ..p
        };
        assert!(!never.allows(1));
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(p.wait(1, Some(Duration::ZERO)), Duration::ZERO);
        assert!(p.wait(1, Some(Duration::from_secs(61))) <= Duration::from_millis(100));
        assert!(p.wait(1, None) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_seconds_fractions_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 3600 ", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", SystemTime::now()),
            Some(Duration::ZERO),
            "past date means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        // Years: parsed faithfully; the caller caps it (max_retry_after).
        assert_eq!(
            parse_retry_after("99999999999", now),
            Some(Duration::from_secs(99_999_999_999))
        );
    }
}
