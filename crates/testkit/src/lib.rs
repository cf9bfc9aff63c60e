//! Test support shared by the workspace's test suites, so every suite meets the same real
//! components the same way:
//!
//! - [`registry`]: starts the real CNCF distribution registry (`docker-registry`) on a free
//!   loopback port with a temporary config, and pushes real images and tags over the v2 API.
//! - [`cosign`]: cosign signatures — the real `cosign` binary when installed, and a signer that
//!   lays signatures out exactly as cosign documents them.
//! - [`token`]: a token service for distribution's `auth: token`.
//! - [`pki`]: a private CA and server certificates.
//! - [`proxy`]: a fault-injecting HTTP proxy (401 challenges, 429, 5xx, drops, pagination).
//! - [`mini_http`]: the small HTTP server the proxy and token service are built on.
//! - [`control_plane`]: the real Kubernetes control plane (`scripts/control-plane`) the cluster
//!   tests share, a namespace per test, and kubectl against it.
//! - [`browser`]: headless Chromium driven over the Chrome DevTools Protocol (console errors,
//!   CSP violations, page scripts, screenshots).
//! - [`tools`]: where kubectl v1.37 and helm v4 are installed (`scripts/install-test-deps`).
//! - [`operator`]: `ml-operator run` as a real process (its log, `/report`, `/metrics`, its end).
//! - [`wait`]: readiness checks (`eventually`) instead of sleeps.
//!
//! Nothing here is mocked: the registry is the real one, the proxy forwards to it.

pub mod browser;
pub mod control_plane;
pub mod cosign;
pub mod mini_http;
pub mod operator;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod token;
pub mod tools;
pub mod wait;
