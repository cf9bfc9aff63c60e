//! Tells people and systems that container images have upgrades available: Slack, Microsoft
//! Teams and a signed generic webhook, delivered dependably and without leaking secrets.
//!
//! **Start here:** [`Notifier`] is what the operator calls; the model it is called with is
//! [`Notification`] (a scan's news) and [`UpgradeNotice`] (one upgrade's news); each channel
//! module ([`slack`], [`teams`], [`webhook`]) renders both and builds its notifier.
//!
//! # Layout
//!
//! Arrows point one way, from the channels down:
//!
//! ```text
//! channel/slack.rs, channel/teams.rs ─► channel/chat.rs ─┐   (ChatNotifier: what the chat services share)
//! channel/webhook.rs ────────────────────────────────────┼─► transport.rs ─► ml-operator-retry
//!                                                        │   (one POST: timeouts, retries, redaction)
//!                                                        └─► notifier.rs, groups.rs ─► model.rs,
//!                                                            notice.rs, text.rs, error.rs,
//!                                                            secret.rs, stats.rs
//! ```
//!
//! | file | one job |
//! |---|---|
//! | `model.rs` | a scan's news: [`Update`], [`Event`], [`Notification`]. Plain data. |
//! | `groups.rs` | a scan's updates as upgrade groups: [`UpdateGroup`] per (namespace, repository, latest tag), what each channel shows. |
//! | `notice.rs` | an upgrade group's news: [`UpgradeEvent`], [`UpgradeNotice`] with each [`UpgradeWorkload`]. Plain data. |
//! | `notifier.rs` | the [`Notifier`] trait every channel implements, and [`Delivery`]. |
//! | `channel/slack.rs` | Slack: [`slack::render`] (the original text plus Block Kit, split to fit), [`slack::render_upgrade`], [`SlackNotifier`]. |
//! | `channel/teams.rs` | Teams: [`teams::render`] (Adaptive Cards, split above 25 KB), [`teams::render_upgrade`], [`TeamsNotifier`]. |
//! | `channel/webhook.rs` | the signed JSON webhook: [`webhook::body`], [`webhook::upgrade_body`], [`webhook::sign`], [`webhook::verify_signature`], [`WebhookNotifier`]. |
//! | `channel/chat.rs` | [`ChatNotifier`] for any [`ChatFormat`] (Slack's and Teams'), [`ChatOptions`]. |
//! | `transport.rs` | one HTTP POST delivered dependably, per the [`RetryPolicy`] (the `ml-operator-retry` crate, shared with the registry client). |
//! | `slack_app/` | a Slack app's side of a click: [`slack_app::signature`] (request signing), [`slack_app::action`] (`block_actions`), [`slack_app::web`] (Web API calls, `response_url`), [`slack_app::socket`] (Socket Mode). |
//! | `error.rs`, `secret.rs`, `stats.rs`, `text.rs` | [`NotifyError`]/[`ErrorKind`]; [`Secret`] and redaction; [`NotifierStats`]; text helpers. |
//!
//! # Use
//!
//! ml-operator scans a cluster on a schedule and, when the set of pending upgrades changes (or
//! a reminder is due), hands a [`Notification`] to every configured [`Notifier`]. Each notifier
//! renders its own format, POSTs it with timeouts and bounded retries ([`RetryPolicy`]), and
//! keeps counters ([`NotifierStats`]) for the operator's metrics. Webhook URLs and signing keys
//! are [`Secret`]s: they never appear in a log line, an error, a `Debug` output or a stat.
//!
//! ```
//! use ml_operator_notify::{Event, Notification, SlackOptions, Update, slack};
//!
//! let update = Update {
//!     namespace: "mojaloop".into(), kind: "Deployment".into(), name: "central-ledger".into(),
//!     container: "central-ledger".into(), init_container: false,
//!     image: "mojaloop/central-ledger:v13.14.0".into(), repository: "mojaloop/central-ledger".into(),
//!     current_tag: "v13.14.0".into(), latest_tag: "v13.16.1".into(),
//!     latest_image: "mojaloop/central-ledger:v13.16.1".into(), strategy: "minor".into(),
//!     reason: "newest v13.x".into(), command: None, helm_release: None, in_git: None,
//! };
//! let n = Notification::diff(Event::Changed, None, &[], &[update], vec![]);
//! let messages = slack::render(&n, &SlackOptions::default());
//! assert_eq!(messages[0]["text"], "*ml-operator* - The following services are not on the latest \
//!     secure version and should be updated:\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`");
//! ```
//!
//! Sending, as the operator does it:
//!
//! ```no_run
//! use std::sync::Arc;
//! use ml_operator_notify::*;
//!
//! # async fn run(n: Notification) -> Result<(), NotifyError> {
//! let notifiers: Vec<Arc<dyn Notifier>> = vec![
//!     Arc::new(SlackNotifier::new(
//!         Secret::new(std::env::var("SLACK_WEBHOOK_URL").unwrap()),
//!         SlackOptions { include_commands: true, ..Default::default() },
//!         RetryPolicy::default(),
//!     )?),
//!     Arc::new(WebhookNotifier::new(
//!         Secret::new("https://hooks.example.com/ml-operator"),
//!         Some(Secret::new(std::fs::read_to_string("/var/run/secrets/hmac").unwrap())),
//!         RetryPolicy::default(),
//!     )?),
//! ];
//! for notifier in &notifiers {
//!     match notifier.notify(&n).await {
//!         Ok(d) => tracing::info!(notifier = notifier.name(), requests = d.requests, messages = d.messages, "notified"),
//!         Err(e) => tracing::error!(kind = e.kind().as_str(), "{e}"), // safe to log: redacted
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Reference
//!
//! ## Slack ([`SlackNotifier`], [`slack::render`], `channel/slack.rs`)
//!
//! POST `{"text": …, "blocks": […]}` to an incoming webhook. `text` is the original ml-operator
//! v1.0 message in its wording, line for line ([`slack::original_text`]; the few deliberate
//! differences are listed in the repository's docs/operations.md):
//!
//! ````text
//! *ml-operator* - The following services are not on the latest secure version and should be updated:
//!   - `mojaloop/account-lookup-service`: latest version is `v10.3.4`
//!   - `mojaloop/central-ledger`: latest version is `v13.16.1`
//! Use the following commands to patch your deployments with `kubectl`:
//! ```
//! kubectl patch deployment account-lookup-service -n mojaloop --patch '…'
//! kubectl patch deployment central-ledger -n mojaloop --patch '…'
//! ```
//! **warning:** encountered 2 processing errors. Please check your logs for more information.
//! ````
//!
//! One list line per distinct (repository, latest tag), sorted; the command block only when
//! [`SlackOptions::include_commands`] (`NOTIFY_KUBECTL_PATCH_INSTRUCTIONS`) and some update has
//! a command; the warning only when there are failures. With no updates the text is
//! `*ml-operator* - all monitored services are up to date` (followed by the warning line when
//! there were failures, as the original did).
//!
//! `blocks` (Block Kit): a header (`ml-operator: 3 updates available`, `ml-operator reminder: …`,
//! `… on CLUSTER`), one section per upgrade group ([`UpdateGroup`]: `*mojaloop/central-ledger
//! v19.8.3 → v19.8.9: 8 workloads in mojaloop*`, `:new: *new*` when one of its updates is in
//! [`Notification::added`], a line per workload with its containers and Helm release, the
//! strategy and reason) followed by its workloads' commands as code blocks (one `kubectl patch`
//! per workload), on the last part a "Resolved since the last notification" section and a
//! failures section, and a context line with the counts.
//!
//! Limits: ≤ 50 blocks, section text ≤ 3,000 characters, header ≤ 150, `text` ≤ 40,000. A long
//! report is split (in order, each message valid on its own) so that each `text` stays under
//! 3,500 characters; split messages say `(part i/n)` in the first text line and in the header.
//! Parts are sent [`SlackOptions::part_interval`] apart (Slack allows ~1 message/s).
//!
//! Slack answers `200 ok`; a 2xx with any other body (`invalid_payload`, `no_text`, …) is a
//! final [`ErrorKind::Refused`] naming the body.
//!
//! ## Microsoft Teams ([`TeamsNotifier`], [`teams::render`], `channel/teams.rs`)
//!
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//! "contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",
//! "type":"AdaptiveCard","version":"1.4","msteams":{"width":"Full"},"body":[…]}}]}` — accepted by
//! Incoming Webhooks and Power Automate Workflows URLs. The body: a large bold title TextBlock,
//! then per upgrade group a bold TextBlock with its summary (`… (new)`), a FactSet with one fact
//! per workload (`Deployment name` → its containers), the strategy and reason, and each of its
//! commands in a `"fontType": "Monospace"` TextBlock; resolved updates and failures on the last
//! part, and a subtle counts line. Reports over 25 KB serialized are split into `(part i/n)` cards.
//!
//! ## Generic webhook ([`WebhookNotifier`], [`webhook::body`], `channel/webhook.rs`)
//!
//! POST with `Content-Type: application/json` the body
//! `{"schemaVersion":1,"event":"changed"|"reminder","cluster":…|null,"updates":[Update…],
//! "added":[…],"resolved":[…],"failures":["mojaloop/x: registry timeout",…],"groups":[…]}`,
//! where an [`Update`] is `{"namespace","kind","name","container","initContainer","image",
//! "repository","currentTag","latestTag","latestImage","strategy","reason","command",
//! "helmRelease"}` (one per container; `command` is its workload's one `kubectl patch`) and a
//! group is `{"namespace","repository","currentTags","latestTag","summary","new","workloads":
//! [{"kind","name","containers":[{"name","initContainer"}],"helmRelease","command"}],"strategy",
//! "reason"}`. Headers:
//!
//! * `X-ML-Operator-Event: changed|reminder`
//! * `X-ML-Operator-Delivery: <uuid>` — unique per notification, identical on every retry, so a
//!   receiver can drop duplicates;
//! * `X-ML-Operator-Signature-256: sha256=<hex>` when a signing key is set: the lowercase hex
//!   HMAC-SHA256 of the exact body bytes with the key (as GitHub's `X-Hub-Signature-256`).
//!
//! A receiver verifies it on the raw body, before parsing, with a constant-time comparison —
//! [`webhook::verify_signature`] in Rust; in Python:
//!
//! ```text
//! expected = "sha256=" + hmac.new(key, raw_body, hashlib.sha256).hexdigest()
//! ok = hmac.compare_digest(expected, request.headers["X-ML-Operator-Signature-256"])
//! ```
//!
//! (Node: `crypto.timingSafeEqual`; Go: `hmac.Equal`.) Never compare with `==`.
//!
//! ## Upgrade notices ([`UpgradeNotice`], [`Notifier::notify_upgrade`])
//!
//! With upgrades enabled, the operator also tells what happens to each `ImageUpgrade` — a
//! group moving one repository to one tag across a namespace: `upgrade-proposed` (with the
//! commands that approve it), `upgrade-succeeded`, `upgrade-rolled-back` and `upgrade-failed`
//! (with the reason), each naming the group, every workload's containers and result, and the
//! rollback if any. Each channel renders it next to its scan notifications: Slack gets a
//! `text` with a line per workload plus a section block ([`slack::render_upgrade`]), Teams one
//! card with a fact per workload ([`teams::render_upgrade`]), the webhook the notice as JSON
//! ([`webhook::upgrade_body`]) (`{"schemaVersion":1,"event":"upgrade-succeeded","upgrade":…,
//! "namespace":…,"repository":…,"fromTags":[…],"targetTag":…,"summary":…,"workloads":[{"kind",
//! "name","containers":[{"name","initContainer","fromImage","toImage"}],"result","detail"}],
//! "rollback":…,"message":…,"approveCommands":[…],"cluster":…}`), signed like every other body.
//!
//! ## Delivery and the retry policy ([`RetryPolicy`])
//!
//! [`RetryPolicy`] is the one policy of ml-operator's HTTP clients (the `ml-operator-retry`
//! crate, shared with the registry client), re-exported here. Any 2xx is delivered (except the
//! Slack and Teams refusals above). 408, 429, 5xx, timeouts and connection errors are retried
//! up to `max_retries` (default 5) times, waiting `base * 2^(retry-1)` (default base 500 ms)
//! capped at `max_backoff` (30 s), with equal jitter (a random point in the upper half). A
//! `Retry-After` (seconds, fractional seconds or an HTTP date) on a 429, 408 or 5xx is waited
//! exactly when it is at most `max_retry_after` (60 s); a 429 asking for longer fails at once as
//! [`ErrorKind::RateLimited`] (on 408/5xx a longer one is ignored in favour of the back-off).
//! Any other status (4xx, 3xx — redirects are not followed) is final: [`ErrorKind::Rejected`],
//! "the webhook URL is wrong or revoked, or the payload was refused". Each request is limited
//! to `timeout` (10 s).
//!
//! Errors ([`NotifyError`]) and logs show targets as `scheme://host[:port]/…`; text from the
//! server is cut to 300 characters and scrubbed of the URL's path, query and the signing key.
#![deny(missing_docs)]

mod channel;
mod error;
pub mod groups;
mod model;
mod notice;
mod notifier;
mod secret;
pub mod slack_app;
mod stats;
mod text;
mod transport;

pub use channel::{chat, slack, teams, webhook};
pub use chat::{ChatFormat, ChatNotifier, ChatOptions};
pub use error::{ErrorKind, NotifyError};
pub use groups::{GroupContainer, GroupWorkload, UpdateGroup};
pub use ml_operator_retry::RetryPolicy;
pub use model::{Alert, AlertKind, Event, Notification, Update};
pub use notice::{ContainerChange, UpgradeEvent, UpgradeNotice, UpgradeWorkload};
pub use notifier::{Delivery, Notifier};
pub use secret::{Secret, redact_url};
pub use slack::{SlackNotifier, SlackOptions};
pub use stats::NotifierStats;
pub use teams::{TeamsNotifier, TeamsOptions};
pub use webhook::WebhookNotifier;
