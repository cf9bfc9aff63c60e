//! What the chat channels (Slack, Teams) share: a webhook URL that takes JSON messages,
//! rendered by a [`ChatFormat`] (the `slack` and `teams` modules next to this one), delivered
//! in order with retries, and judged by its answer.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde_json::Value;

use futures::future::BoxFuture;
use ml_operator_retry::RetryPolicy;

use crate::error::{ErrorKind, NotifyError};
use crate::model::{Notification, UpgradeNotice};
use crate::notifier::{Delivery, Notifier};
use crate::secret::Secret;
use crate::stats::NotifierStats;
use crate::transport::{Transport, headers};

/// How chat messages are written and paced (`SlackOptions` and `TeamsOptions` are this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    /// Include the `kubectl patch` commands (the original `NOTIFY_KUBECTL_PATCH_INSTRUCTIONS`,
    /// default true).
    pub include_commands: bool,
    /// Pause between the parts of a split report (default 1 s).
    pub part_interval: Duration,
}

impl Default for ChatOptions {
    fn default() -> ChatOptions {
        ChatOptions {
            include_commands: true,
            part_interval: Duration::from_secs(1),
        }
    }
}

/// How one chat service wants its messages: the rendering and the answer it gives.
pub trait ChatFormat: Send + Sync + 'static {
    /// The notifier's default name (`slack`, `teams`), for logs, errors and metrics.
    const KIND: &'static str;
    /// The type name `Debug` prints (`SlackNotifier`).
    const TYPE_NAME: &'static str;
    /// The messages for a notification, in order (several when a report is split).
    fn render(n: &Notification, options: &ChatOptions) -> Vec<Value>;
    /// The message for an upgrade outcome.
    fn render_upgrade(n: &UpgradeNotice) -> Value;
    /// Whether a 2xx answer body means delivered; `Err` says what the service answered.
    fn accept(body: &str) -> Result<(), String>;
}

/// A notifier for one chat webhook in format `F`; see [`SlackNotifier`](crate::SlackNotifier)
/// and [`TeamsNotifier`](crate::TeamsNotifier).
pub struct ChatNotifier<F: ChatFormat> {
    transport: Transport,
    options: ChatOptions,
    format: PhantomData<fn() -> F>,
}

impl<F: ChatFormat> ChatNotifier<F> {
    /// A notifier for the webhook at `url`. Fails when the URL is not http(s) with a host.
    pub fn new(url: Secret, options: ChatOptions, retry: RetryPolicy) -> Result<Self, NotifyError> {
        let transport = Transport::new(F::KIND, &url, retry, &[])?;
        Ok(ChatNotifier {
            transport,
            options,
            format: PhantomData,
        })
    }

    /// Renames the notifier (for logs, errors and metrics), e.g. `slack-hub-ops`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.transport.name = name.into();
        self
    }

    /// The JSON messages this notifier would send for `n`, in order.
    pub fn render(&self, n: &Notification) -> Vec<Value> {
        F::render(n, &self.options)
    }

    async fn send(
        &self,
        messages: Vec<Value>,
        part_interval: Duration,
    ) -> Result<Delivery, NotifyError> {
        let bodies = serialize(&self.transport.name, &self.transport.target, messages)?;
        self.transport
            .deliver(bodies, headers(&[]), part_interval, F::accept)
            .await
    }
}

impl<F: ChatFormat> fmt::Debug for ChatNotifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(F::TYPE_NAME)
            .field("name", &self.transport.name)
            .field("target", &self.transport.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<F: ChatFormat> Notifier for ChatNotifier<F> {
    fn name(&self) -> &str {
        &self.transport.name
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(self.send(F::render(n, &self.options), self.options.part_interval))
    }

    fn notify_upgrade<'a>(
        &'a self,
        n: &'a UpgradeNotice,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(self.send(vec![F::render_upgrade(n)], Duration::ZERO))
    }

    fn stats(&self) -> NotifierStats {
        self.transport.stats.snapshot()
    }
}

/// Serializes rendered messages to the exact body bytes.
pub(crate) fn serialize(
    notifier: &str,
    target: &str,
    messages: Vec<Value>,
) -> Result<Vec<Vec<u8>>, NotifyError> {
    messages
        .iter()
        .map(|m| {
            serde_json::to_vec(m).map_err(|e| NotifyError {
                notifier: notifier.to_owned(),
                target: target.to_owned(),
                part: None,
                kind: ErrorKind::Payload,
                status: None,
                requests: 0,
                detail: format!("cannot serialize the message: {e}"),
            })
        })
        .collect()
}
