//! OpenAPI endpoints, enough for `kubectl`.
//!
//! `kubectl apply`/`create` (with the default `--validate=strict`) download `/openapi/v2` as
//! protobuf (`gnostic openapi_v2.Document`) and fail when it does not parse; with no
//! definitions in it, kubectl skips client-side schema validation. `kubectl apply` then looks
//! for patch merge keys in `/openapi/v3` (empty index → not found), then v2 (no definitions),
//! then falls back to the strategic-merge metadata compiled into kubectl for built-in types and
//! to JSON merge patch for custom resources — exactly what it does against a real server for
//! CRDs without schemas.

use super::json_response;
use crate::status::ApiError;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};
use serde_json::json;

const TITLE: &str = "Kubernetes";
const VERSION: &str = "v1.33.0";

fn pb_bytes(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    out.push((field << 3) | 2);
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(data);
}

/// A protobuf `openapi_v2.Document` with `swagger`, `info` and empty `paths` and `definitions`.
fn v2_protobuf() -> Vec<u8> {
    let mut info = vec![];
    pb_bytes(&mut info, 1, TITLE.as_bytes());
    pb_bytes(&mut info, 2, VERSION.as_bytes());
    let mut doc = vec![];
    pb_bytes(&mut doc, 1, b"2.0");
    pb_bytes(&mut doc, 2, &info);
    pb_bytes(&mut doc, 8, &[]);
    pb_bytes(&mut doc, 9, &[]);
    doc
}

/// `/openapi/v2`: protobuf when asked for it (kubectl), JSON otherwise.
pub(crate) fn v2(headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("protobuf") {
        let mut r = Response::new(axum::body::Body::from(v2_protobuf()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        );
        return r;
    }
    json_response(
        200,
        &json!({"swagger": "2.0", "info": {"title": TITLE, "version": VERSION}, "paths": {}, "definitions": {}}),
    )
}

/// `/openapi/v3`: an empty index (no group-version documents).
pub(crate) fn v3(rest: &str) -> Result<Response, ApiError> {
    if rest.is_empty() {
        return Ok(json_response(200, &json!({"paths": {}})));
    }
    Err(ApiError::no_route())
}

#[cfg(test)]
mod tests {
    #[test]
    fn protobuf_document_is_well_formed() {
        let pb = super::v2_protobuf();
        assert_eq!(&pb[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(&pb[pb.len() - 4..], &[0x42, 0, 0x4a, 0]);
    }
}
