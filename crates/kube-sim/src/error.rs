//! Errors of the library API (loading manifests, starting the server).

use std::path::PathBuf;

/// Why loading manifests or starting the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A YAML or JSON document did not parse.
    #[error("{path}:{line}: cannot parse document: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line where the document (or the error, when known) is.
        line: usize,
        /// Parser message.
        message: String,
    },
    /// A document parsed but is not a usable Kubernetes object.
    #[error("{path}:{line}: {message}")]
    Manifest {
        /// The file (or `<objects>` for objects given in code).
        path: PathBuf,
        /// 1-based line of the document.
        line: usize,
        /// What is wrong (missing kind, unknown kind, ...).
        message: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port (0 = any).
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The background runtime for `start_blocking` could not be created or died.
    #[error("cannot run the kube-sim runtime: {0}")]
    Runtime(String),
}
