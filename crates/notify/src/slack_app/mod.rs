//! Slack as a place to decide, not only to be told: the pieces of a Slack app that receives
//! button clicks on ml-operator's upgrade proposals.
//!
//! * [`signature`]: Slack's request signing (`X-Slack-Signature`, `v0=` HMAC-SHA256 over
//!   `v0:{X-Slack-Request-Timestamp}:{raw body}`), verified in constant time with a 5-minute
//!   bound on the timestamp.
//! * [`action`]: the `block_actions` payload a click delivers (form field `payload`), parsed
//!   into a [`BlockAction`](action::BlockAction) with bounded, typed fields; and the buttons'
//!   action ids.
//! * [`web`]: the few Slack Web API calls an approval needs — `usergroups.users.list`,
//!   `chat.update`, `chat.postMessage` in the thread — and replies to a `response_url`.
//! * [`socket`]: Socket Mode (`apps.connections.open`, the WebSocket, envelope
//!   acknowledgements, reconnecting on `disconnect`), for clusters without ingress.
//!
//! Nothing here knows about Kubernetes: the operator decides what a click means.

pub mod action;
pub mod signature;
pub mod socket;
pub mod web;
