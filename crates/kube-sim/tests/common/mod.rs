//! Shared helpers for the integration tests: a started simulator, a plain HTTP client and
//! a line reader for watch streams.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Generous upper bound for waits that normally finish in milliseconds (not an assertion).
pub const WAIT: Duration = Duration::from_secs(20);

/// The fixture directory with a namespace, a CRD, workloads and config.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hub")
}

/// An HTTP client (reqwest needs a rustls provider installed even for plain HTTP).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

/// Sends a request and returns (status, JSON body).
pub async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let code = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

/// Reads newline-delimited JSON watch events from a streaming response.
pub struct WatchLines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl WatchLines {
    /// Wraps a watch response.
    pub fn new(resp: reqwest::Response) -> Self {
        WatchLines { resp, buf: vec![] }
    }

    /// The next event, or `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("watch event is JSON"));
            }
            match tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("watch stalled")
            {
                Ok(Some(c)) => self.buf.extend_from_slice(&c),
                _ => return None,
            }
        }
    }

    /// The next event that is not a BOOKMARK.
    pub async fn next_change(&mut self) -> Option<Value> {
        loop {
            let e = self.next().await?;
            if e["type"] != "BOOKMARK" {
                return Some(e);
            }
        }
    }
}

/// A minimal Deployment manifest.
pub fn deployment(name: &str, image: &str) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}, {"name": "side", "image": "busybox:1.36"}]}}}
    })
}

/// `RequestBuilder::query` without reqwest's `query` feature.
pub trait QueryExt {
    /// Appends query parameters to the request URL.
    fn query(self, pairs: &[(&str, &str)]) -> Self;
}

impl QueryExt for reqwest::RequestBuilder {
    fn query(self, pairs: &[(&str, &str)]) -> Self {
        let (client, req) = self.build_split();
        let mut req = req.expect("request");
        req.url_mut()
            .query_pairs_mut()
            .extend_pairs(pairs.iter().copied());
        reqwest::RequestBuilder::from_parts(client, req)
    }
}
