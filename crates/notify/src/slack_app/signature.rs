//! Slack's request signing: every request Slack sends to an app carries
//! `X-Slack-Request-Timestamp` (Unix seconds) and `X-Slack-Signature: v0=<hex>`, the
//! lowercase hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` keyed with the app's signing
//! secret. [`verify`] checks it on the raw body, before anything is parsed, in constant time,
//! and refuses a timestamp more than [`MAX_AGE_SECONDS`] away from now (a replay).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;

/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header with the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// How far (either way) a request's timestamp may be from now: 5 minutes, as Slack advises.
pub const MAX_AGE_SECONDS: i64 = 5 * 60;

/// Why a request is not Slack's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signing header is absent.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// The timestamp is not Unix seconds.
    #[error("X-Slack-Request-Timestamp is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too far from now.
    #[error(
        "the request is {age}s away from now (at most {MAX_AGE_SECONDS}s): refused as a replay"
    )]
    Stale {
        /// Seconds between the timestamp and now.
        age: i64,
    },
    /// The signature is not `v0=` and 64 hex digits, or does not match.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// `v0=<hex>`: the signature Slack sends for `body` at `timestamp` (tests and tools sign with it).
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `signature` and `timestamp` (the two headers' values) against the raw `body` at
/// `now` (Unix seconds). The time is checked first, then the MAC in constant time.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age = now.saturating_sub(timestamp).saturating_abs();
    if age > MAX_AGE_SECONDS {
        return Err(SignatureError::Stale { age });
    }
    let digest = signature
        .strip_prefix("v0=")
        .filter(|hex| hex.len() == 64)
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(SignatureError::Mismatch)?;
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// The MAC with the secret and the `v0:{timestamp}:` prefix fed in.
fn mac(secret: &Secret, timestamp: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_s_documented_example_verifies() {
        // The example of Slack's "Verifying requests from Slack" page.
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(&secret, 1531420618, body), signature);
        let ok = |ts: &str, sig: &str, now| verify(&secret, Some(ts), Some(sig), body, now);
        assert_eq!(ok("1531420618", signature, 1531420618 + 10), Ok(()));
        assert_eq!(
            ok("1531420618", signature, 1531420618 + 6 * 60),
            Err(SignatureError::Stale { age: 360 })
        );
        assert_eq!(
            ok("1531420618", signature, 1531420618 - 6 * 60),
            Err(SignatureError::Stale { age: 360 })
        );
        let mut wrong = signature.to_string();
        wrong.replace_range(10..11, "0");
        assert_eq!(
            ok("1531420618", &wrong, 1531420618),
            Err(SignatureError::Mismatch)
        );
        // The same signature does not fit another timestamp (the time is inside the MAC).
        assert_eq!(
            ok("1531420619", signature, 1531420618),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(ok("soon", signature, 0), Err(SignatureError::BadTimestamp));
        assert_eq!(
            ok("1531420618", "v1=abc", 1531420618),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, None, Some(signature), body, 0),
            Err(SignatureError::Missing("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            verify(
                &Secret::new("other"),
                Some("1531420618"),
                Some(signature),
                body,
                1531420618
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
