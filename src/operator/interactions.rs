//! `POST /slack/interactions`: Slack's HTTP interactivity endpoint (the app's Request URL).
//!
//! The raw body (bounded by the server's [`MAX_BODY_BYTES`](super::server::MAX_BODY_BYTES))
//! is verified against Slack's request signature before it is read: `401` with a JSON reason
//! for a missing, wrong or more than 5 minutes old signature, `400` for a signed body that is
//! not a click on ml-operator's buttons. A verified click is answered `200` at once (Slack
//! wants an answer within 3 seconds) and decided in the background
//! ([`SlackApprovals::decide`]), which answers in Slack itself.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ml_operator_notify::slack_app::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::json;

use crate::approvals::{Refused, SlackApprovals};

/// The path of the endpoint.
pub const PATH: &str = "/slack/interactions";

/// The endpoint's route, to merge into the server's router.
pub fn routes(slack: Arc<SlackApprovals>) -> Router {
    Router::new()
        .route(PATH, post(interaction))
        .with_state(slack)
}

async fn interaction(
    State(slack): State<Arc<SlackApprovals>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    match slack.verify(
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now,
    ) {
        Ok(click) => {
            tokio::spawn(async move { slack.decide(click).await });
            StatusCode::OK.into_response()
        }
        Err(refused) => {
            let status = match &refused {
                Refused::Signature(_) => StatusCode::UNAUTHORIZED,
                Refused::Payload(_) => StatusCode::BAD_REQUEST,
                Refused::NotConfigured => StatusCode::NOT_FOUND,
            };
            tracing::warn!("{PATH}: {refused}; answered {}", status.as_u16());
            (status, axum::Json(json!({"error": refused.to_string()}))).into_response()
        }
    }
}
