//! The last scan as the HTTP API serves it (`GET /report`, `GET /api/v1/findings`): its JSON
//! document, gzip-compressed once as the scan completes.
//!
//! In: the scan's [`Report`]. Out: a [`LastReport`] of a few hundred kilobytes, answered as is
//! to clients that accept gzip and decompressed as it is sent to the others. Kept this way,
//! the structured report can go as soon as the scan is told and acted on: during the next scan
//! it is the only report in memory, rather than one of two (at 2,000 workloads each is
//! megabytes of findings), and no request builds a copy of it.

use std::io::{Read, Write};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::report;
use crate::scan::Report;

/// Bytes of JSON a response to a client without gzip carries per chunk.
const CHUNK_BYTES: usize = 64 * 1024;

/// The last scan's JSON document (`-o json`'s, compact), gzip-compressed.
#[derive(Clone)]
pub struct LastReport {
    gzip: Bytes,
}

impl LastReport {
    /// Serializes and compresses `report`. Fast compression: the document is mostly repeated
    /// keys and names, which even the fastest level shrinks about tenfold.
    pub fn new(report: &Report) -> LastReport {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        serde_json::to_writer(&mut encoder, &report::json_document(report, &[]))
            .expect("a report always serializes");
        encoder.write_all(b"\n").expect("writing to memory");
        let mut gzip = encoder.finish().expect("writing to memory");
        // The vector grew by doubling: give back the unused part (up to half) it keeps till
        // the next scan's document replaces it.
        gzip.shrink_to_fit();
        LastReport {
            gzip: Bytes::from(gzip),
        }
    }

    /// The compressed size, in bytes.
    pub fn compressed_len(&self) -> usize {
        self.gzip.len()
    }

    /// The document as a response: compressed (`Content-Encoding: gzip`) when the request's
    /// `Accept-Encoding` allows it, otherwise decompressed chunk by chunk as it is sent.
    pub fn response(&self, request: &HeaderMap) -> Response {
        let mut response = if accepts_gzip(request) {
            let mut response = Body::from(self.gzip.clone()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        } else {
            Body::from_stream(Decompressed::new(self.gzip.clone())).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }
}

/// Whether an `Accept-Encoding` header allows gzip (`gzip` or `*` with a weight above 0).
pub(super) fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight.is_some_and(|q| q > 0.0)
        })
}

/// The compressed document read back in [`CHUNK_BYTES`] pieces.
struct Decompressed {
    decoder: GzDecoder<std::io::Cursor<Bytes>>,
    done: bool,
}

impl Decompressed {
    fn new(gzip: Bytes) -> Decompressed {
        Decompressed {
            decoder: GzDecoder::new(std::io::Cursor::new(gzip)),
            done: false,
        }
    }
}

impl futures::Stream for Decompressed {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        let mut chunk = vec![0; CHUNK_BYTES];
        let mut filled = 0;
        while filled < CHUNK_BYTES {
            match self.decoder.read(&mut chunk[filled..]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) => {
                    self.done = true;
                    return std::task::Poll::Ready(Some(Err(e)));
                }
            }
        }
        chunk.truncate(filled);
        std::task::Poll::Ready((filled > 0).then(|| Ok(Bytes::from(chunk))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_accepted_only_with_a_positive_weight() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("br, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("gzip;q=nonsense")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
