//! The one trait every channel implements, [`Notifier`], and what a delivery took,
//! [`Delivery`].

use futures::future::BoxFuture;

use crate::error::NotifyError;
use crate::model::Notification;
use crate::notice::UpgradeNotice;
use crate::stats::NotifierStats;

/// What one successful [`Notifier::notify`] took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// HTTP requests made, including retries.
    pub requests: usize,
    /// Messages delivered (a split Slack or Teams report counts each part).
    pub messages: usize,
}

/// A destination for notifications.
///
/// The futures are boxed ([`BoxFuture`]) so notifiers can live in `Vec<Box<dyn Notifier>>` or
/// `Arc<dyn Notifier>`.
pub trait Notifier: Send + Sync {
    /// The notifier's name for logs, errors and metric labels: `slack`, `teams`, `webhook` or a
    /// configured name.
    fn name(&self) -> &str;

    /// Delivers `n` (all parts, in order), retrying per the notifier's
    /// [`RetryPolicy`](crate::RetryPolicy).
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>>;

    /// Delivers one upgrade's news (proposed, succeeded, rolled back, failed), with the same
    /// retries. Slack and Teams get one message; the webhook gets
    /// [`webhook::upgrade_body`](crate::webhook::upgrade_body) with `X-ML-Operator-Event: upgrade-…`.
    fn notify_upgrade<'a>(
        &'a self,
        n: &'a UpgradeNotice,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>>;

    /// The notifier's counters since it was built.
    fn stats(&self) -> NotifierStats;
}
