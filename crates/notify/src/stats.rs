//! Per-notifier counters, read by the operator's Prometheus metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ErrorKind;

/// A snapshot of one notifier's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Notifications delivered completely (every part).
    pub sent: u64,
    /// Notifications that failed (some part could not be delivered).
    pub failed: u64,
    /// Messages delivered (a split Slack report counts each part).
    pub messages: u64,
    /// HTTP requests made, including retries.
    pub requests: u64,
    /// Requests that were retries of an earlier attempt.
    pub retries: u64,
    /// Kind of the most recent failure, if any.
    pub last_error_kind: Option<ErrorKind>,
}

/// The live counters behind [`NotifierStats`].
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    sent: AtomicU64,
    failed: AtomicU64,
    messages: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    last_error_kind: Mutex<Option<ErrorKind>>,
}

impl StatsCell {
    pub(crate) fn request(&self, retry: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn message(&self) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, kind: ErrorKind) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(kind);
    }

    pub(crate) fn snapshot(&self) -> NotifierStats {
        NotifierStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            last_error_kind: *self
                .last_error_kind
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }
}
