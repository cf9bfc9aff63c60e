//! The channels: one module each, which renders both kinds of news — a scan's
//! [`Notification`](crate::Notification) and an [`UpgradeNotice`](crate::UpgradeNotice) — in
//! the channel's format and builds its [`Notifier`](crate::Notifier).
//!
//! * `slack`, `teams`: chat messages, sent by the [`chat`] module's `ChatNotifier` (what the two
//!   chat services share: ordered parts, pacing, judging the answer);
//! * `webhook`: the notification as signed JSON.
//!
//! Channels depend on the model, the text helpers and the transport; nothing below them
//! depends on a channel.

pub mod chat;
pub mod slack;
pub mod teams;
pub mod webhook;
