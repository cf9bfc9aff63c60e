//! What the chat channels (Slack, Teams) share: a webhook URL that takes JSON messages,
//! rendered by a [`ChatFormat`] (the `slack` and `teams` modules next to this one), delivered
//! in order with retries, and judged by its answer; and the pieces of a report both formats
//! write alike (the title, the distinct commands, the split into parts).

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde_json::Value;

use futures::future::BoxFuture;
use ml_operator_retry::RetryPolicy;

use crate::error::NotifyError;
use crate::groups::UpdateGroup;
use crate::model::{Event, Notification, Update};
use crate::notice::UpgradeNotice;
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
        let bodies = messages
            .iter()
            .map(|m| {
                serde_json::to_vec(m).map_err(|e| self.transport.payload_error("the message", &e))
            })
            .collect::<Result<Vec<_>, _>>()?;
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

/// A report's title: `ml-operator: 3 updates available`, `ml-operator reminder: 1 update
/// pending` or `ml-operator: all monitored services are up to date`, then ` on CLUSTER`.
pub(crate) fn title(n: &Notification) -> String {
    let count = n.updates.len();
    let plural = if count == 1 { "update" } else { "updates" };
    let mut title = match (n.event, count) {
        (_, 0) => "ml-operator: all monitored services are up to date".to_owned(),
        (Event::Changed, _) => format!("ml-operator: {count} {plural} available"),
        (Event::Reminder, _) => format!("ml-operator reminder: {count} {plural} pending"),
    };
    if let Some(cluster) = &n.cluster {
        title.push_str(&format!(" on {cluster}"));
    }
    title
}

/// The distinct commands of `updates`, in order.
pub(crate) fn commands(updates: &[Update]) -> Vec<&str> {
    let mut seen = HashSet::new();
    updates
        .iter()
        .filter_map(|u| u.command.as_deref())
        .filter(|c| seen.insert(*c))
        .collect()
}

/// Splits `items` (a report's groups) into parts, greedily and in order: a part grows while
/// `fits` says the larger part still fits; one item alone is always a part. No items: one
/// empty part.
pub(crate) fn split<T>(items: &[T], fits: impl Fn(&[T]) -> bool) -> Vec<&[T]> {
    if items.is_empty() {
        return vec![items];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for end in 1..=items.len() {
        if end - start > 1 && !fits(&items[start..end]) {
            parts.push(&items[start..end - 1]);
            start = end - 1;
        }
    }
    parts.push(&items[start..]);
    parts
}

/// The updates of `n` that belong to `groups`, in `n`'s order (what one part's text lists).
pub(crate) fn updates_of(n: &Notification, groups: &[UpdateGroup]) -> Vec<Update> {
    n.updates
        .iter()
        .filter(|u| {
            groups.iter().any(|g| {
                g.namespace == u.namespace
                    && g.repository == u.repository
                    && g.latest_tag == u.latest_tag
            })
        })
        .cloned()
        .collect()
}
