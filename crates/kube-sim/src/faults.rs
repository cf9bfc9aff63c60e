//! Fault injection and request accounting: injected error responses, added latency, a
//! per-namespace "forbidden" rule, the watch-drop signal, and request counters by (verb, path).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// One "the next N requests under this path prefix fail with status S" rule.
#[derive(Debug, Clone)]
struct ErrorRule {
    prefix: String,
    remaining: usize,
    status: u16,
}

/// How many requests with one verb went to one path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestCount {
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or the lower-case HTTP method for non-resource paths.
    pub verb: String,
    /// Request path without the query string.
    pub path: String,
    /// Number of requests.
    pub count: usize,
}

/// Mutable fault state shared by the HTTP layer and the library handles.
#[derive(Debug)]
pub(crate) struct Faults {
    errors: Mutex<Vec<ErrorRule>>,
    latency: Mutex<Vec<(String, Duration)>>,
    forbidden: Mutex<HashSet<String>>,
    counts: Mutex<BTreeMap<(String, String), usize>>,
    drop_tx: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            errors: Mutex::default(),
            latency: Mutex::default(),
            forbidden: Mutex::default(),
            counts: Mutex::default(),
            drop_tx: watch::channel(0).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    /// Makes the next `count` requests whose path starts with `prefix` fail with `status`.
    pub fn inject_errors(&self, prefix: &str, count: usize, status: u16) {
        lock(&self.errors).push(ErrorRule {
            prefix: prefix.to_string(),
            remaining: count,
            status,
        });
    }

    /// Takes one injected error for `path`, if any rule matches.
    pub fn take_error(&self, path: &str) -> Option<u16> {
        let mut rules = lock(&self.errors);
        let rule = rules
            .iter_mut()
            .find(|r| r.remaining > 0 && path.starts_with(&r.prefix))?;
        rule.remaining -= 1;
        let status = rule.status;
        rules.retain(|r| r.remaining > 0);
        Some(status)
    }

    /// Adds `delay` to every request whose path starts with `prefix`.
    pub fn add_latency(&self, prefix: &str, delay: Duration) {
        lock(&self.latency).push((prefix.to_string(), delay));
    }

    /// Total latency to add to a request for `path`.
    pub fn latency_for(&self, path: &str) -> Duration {
        lock(&self.latency)
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, d)| *d)
            .sum()
    }

    /// Answers list/watch in namespace `ns` with 403.
    pub fn forbid_namespace(&self, ns: &str) {
        lock(&self.forbidden).insert(ns.to_string());
    }

    /// Whether namespace `ns` is forbidden.
    pub fn is_forbidden(&self, ns: &str) -> bool {
        lock(&self.forbidden).contains(ns)
    }

    /// Whether any namespace is forbidden: then, as for a user whose permissions come from
    /// namespaced Roles only, cluster-wide lists and watches of namespaced resources are too.
    pub fn any_forbidden(&self) -> bool {
        !lock(&self.forbidden).is_empty()
    }

    /// Removes every error, latency and forbid rule.
    pub fn clear(&self) {
        lock(&self.errors).clear();
        lock(&self.latency).clear();
        lock(&self.forbidden).clear();
    }

    /// Ends every open watch stream.
    pub fn drop_watches(&self) {
        self.drop_tx.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever watches must be dropped.
    pub fn drop_signal(&self) -> watch::Receiver<u64> {
        self.drop_tx.subscribe()
    }

    /// Counts one request.
    pub fn count(&self, verb: &str, path: &str) {
        *lock(&self.counts)
            .entry((verb.to_string(), path.to_string()))
            .or_default() += 1;
    }

    /// Requests with `verb` (`"*"` for any) whose path starts with `prefix`.
    pub fn request_count(&self, verb: &str, prefix: &str) -> usize {
        lock(&self.counts)
            .iter()
            .filter(|((v, p), _)| (verb == "*" || v == verb) && p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every counter.
    pub fn request_counts(&self) -> Vec<RequestCount> {
        lock(&self.counts)
            .iter()
            .map(|((verb, path), count)| RequestCount {
                verb: verb.clone(),
                path: path.clone(),
                count: *count,
            })
            .collect()
    }

    /// Zeroes the counters.
    pub fn reset_counts(&self) {
        lock(&self.counts).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rules_count_down_by_prefix() {
        let f = Faults::default();
        f.inject_errors("/api/v1/pods", 2, 500);
        assert_eq!(f.take_error("/apis/apps/v1/deployments"), None);
        assert_eq!(f.take_error("/api/v1/pods"), Some(500));
        assert_eq!(f.take_error("/api/v1/pods?x"), Some(500));
        assert_eq!(f.take_error("/api/v1/pods"), None);
    }

    #[test]
    fn counters_filter_by_verb_and_prefix() {
        let f = Faults::default();
        f.count("list", "/api/v1/pods");
        f.count("list", "/api/v1/namespaces/a/pods");
        f.count("watch", "/api/v1/pods");
        assert_eq!(f.request_count("list", "/api/v1"), 2);
        assert_eq!(f.request_count("*", "/api/v1/pods"), 2);
        assert_eq!(f.request_count("get", "/"), 0);
    }
}
