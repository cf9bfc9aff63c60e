//! Where a notification goes: one [`Sink`] per configured notifier, plus Kubernetes Events.
//!
//! In: a [`Notification`] planned for one sink. Out: its delivery — through an HTTP notifier
//! (Slack, Teams, a webhook) or as Events — or a [`SendError`] saying why it was not delivered.

use std::sync::Arc;

use ml_operator_notify::{Notification, Notifier, NotifyError};

use crate::notify::events::{EventRecorder, PublishError};

/// One place a notification goes.
pub enum Sink {
    /// Slack, Teams or a webhook.
    Http(Arc<dyn Notifier>),
    /// Kubernetes Events on the workloads.
    Events(EventRecorder),
}

/// Why a notification was not delivered (not recorded as told: the next scan tries again).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The HTTP notifier failed (after its retries).
    #[error(transparent)]
    Http(#[from] NotifyError),
    /// An Event could not be published; names the workload.
    #[error(transparent)]
    Events(#[from] PublishError),
}

impl Sink {
    /// The name state, logs and metrics use (`slack`, `events`, a webhook's name).
    pub fn name(&self) -> String {
        match self {
            Sink::Http(notifier) => notifier.name().to_string(),
            Sink::Events(_) => "events".to_string(),
        }
    }

    /// Delivers one notification.
    pub async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        match self {
            Sink::Http(notifier) => {
                notifier.notify(notification).await?;
            }
            Sink::Events(recorder) => {
                recorder.publish(notification).await?;
            }
        }
        Ok(())
    }
}
