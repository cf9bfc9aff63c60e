//! OpenAPI endpoints. `kubectl` fetches `/openapi/v3` (falls back when a path is missing) and
//! `/openapi/v2` as protobuf for client-side validation; see the crate README for what is served.

use super::json_response;
use crate::status::ApiError;
use axum::response::Response;
use http::HeaderMap;
use serde_json::json;

/// `/openapi/v2`.
pub(crate) fn v2(_headers: &HeaderMap) -> Response {
    json_response(200, &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": {}, "definitions": {}}))
}

/// `/openapi/v3` (the index) and its group-version documents.
pub(crate) fn v3(rest: &str) -> Result<Response, ApiError> {
    if rest.is_empty() {
        return Ok(json_response(200, &json!({"paths": {}})));
    }
    Err(ApiError::no_route())
}
