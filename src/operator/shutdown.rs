//! Stopping the operator: one [`Shutdown`] per process, and how long stopping may take.
//!
//! In: SIGTERM or SIGINT, or a fatal error elsewhere ([`Shutdown::begin`]). Out: one
//! [`CancellationToken`] every task watches — the HTTP server, the elector, the upgrader and
//! the worker each stop at their next await once it is cancelled — and the bounds
//! ([`STATE_SAVE_ON_SHUTDOWN`], [`SHUTDOWN_TEARDOWN`]) that keep the exit within 5 s of the
//! signal, whatever the notification endpoints or the API server do.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long the teardown after SIGTERM may take (releasing the Lease, closing the HTTP
/// server, stopping the watches). With the worker's own wind-down (at most
/// [`STATE_SAVE_ON_SHUTDOWN`]) the process exits within 5 s of the signal, whatever the
/// notification endpoints or the API server do.
pub const SHUTDOWN_TEARDOWN: Duration = Duration::from_secs(3);
/// How long saving the notification state may take once shutdown has begun.
pub const STATE_SAVE_ON_SHUTDOWN: Duration = Duration::from_secs(1);

/// Whether the operator is stopping: a cheap handle (clone it into each task) on one
/// [`CancellationToken`].
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that begins on the first SIGTERM or SIGINT (logging `shutting down`), or
    /// when [`begin`](Shutdown::begin) is called. Needs a Tokio runtime: the listener is a task.
    pub fn on_signal() -> Shutdown {
        let shutdown = Shutdown::default();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = signal() => {
                    tracing::info!("shutting down");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
        });
        shutdown
    }

    /// Begins shutdown (a fatal error: nothing useful is left to do).
    pub fn begin(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has begun.
    pub fn has_begun(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub async fn begun(&self) {
        self.token.cancelled().await;
    }

    /// Resolves once shutdown has begun; owns its handle, for a spawned task or a crate that
    /// takes a `'static` stop future (the HTTP server, the elector).
    pub fn begun_owned(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// Waits for `future` unless shutdown begins first (`None`; `future` is dropped).
    pub async fn unless<F: Future>(&self, future: F) -> Option<F::Output> {
        self.token.run_until_cancelled(future).await
    }

    /// Resolves `grace` after shutdown begins: what may still finish has that long.
    pub async fn grace_over(&self, grace: Duration) {
        self.begun().await;
        tokio::time::sleep(grace).await;
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
