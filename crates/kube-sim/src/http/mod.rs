//! The HTTP front end: routing of Kubernetes API paths, content negotiation, watches,
//! discovery, OpenAPI, and the `/kube-sim/...` admin endpoints.

mod admin;
mod api;
mod discovery;
mod openapi;
mod table;
mod watch;

use crate::sim::Sim;
use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use std::sync::Arc;

/// The full router: admin endpoints plus the API server (as the fallback handler).
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    admin::routes().fallback(api::handle).with_state(sim)
}

/// A JSON response with the given status.
pub(crate) fn json_response(code: u16, body: &Value) -> Response {
    json_text_response(code, body.to_string())
}

/// A JSON response from text already written.
pub(crate) fn json_text_response(code: u16, body: String) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An error response carrying a `Status` body.
pub(crate) fn error_response(e: &crate::status::ApiError) -> Response {
    json_response(e.code, &e.to_status())
}
