//! Readiness checks for the tests: poll a condition until it holds, within a bound, instead of
//! sleeping for a guessed time.

use std::time::{Duration, Instant};

/// Polls `check` (every 100 ms) until it is true; panics with `what` after `limit`.
pub async fn eventually(what: &str, limit: Duration, check: impl AsyncFnMut() -> bool) {
    eventually_or(what, limit, check, String::new).await
}

/// Like [`eventually`], adding `context()` (a log, say) to the panic message.
pub async fn eventually_or(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
