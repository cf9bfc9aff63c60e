//! Test support: the real registry, a token service, a fault-injecting proxy, a private CA.
#![allow(dead_code)]

// Each test binary uses a different part of the kit.
#[allow(unused_imports)]
pub use ml_operator_testkit::{mini_http, pki, proxy, registry, token};

use std::time::Duration;

use ml_operator_registry::ClientOptions;

/// Options for tests: no ~/.docker, short back-off, no pacing, a fresh empty docker config dir.
pub fn test_options(docker_config_dir: &std::path::Path) -> ClientOptions {
    ClientOptions {
        docker_config: Some(docker_config_dir.to_path_buf()),
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        max_retries: 3,
        max_retry_after: Duration::from_secs(5),
        default_requests_per_second: None,
        default_concurrency: 8,
        ..Default::default()
    }
}

/// Prints the retry log (shown with --no-capture, or when a test fails).
pub fn print_retry_log(label: &str, stats: &ml_operator_registry::Stats) {
    for e in &stats.retry_log {
        println!(
            "[{label}] retry {} of {} after {:?}: {}",
            e.attempt, e.url, e.wait, e.reason
        );
    }
}
