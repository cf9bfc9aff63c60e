//! A fault-injecting HTTP proxy in front of the real registry, for what a registry will not do
//! on demand: 401 challenges, 429 with `Retry-After`, 5xx bursts, slow and dropped connections,
//! pagination the way Docker Hub and GHCR page, ETags. It logs every request it sees.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::mini_http::{Action, HttpRequest, HttpResponse, Server, serve};

/// What to do to one matching request instead of forwarding it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an error body.
    Status(u16),
    /// 503 with this `Retry-After`.
    Unavailable(String),
    /// 429, with this `Retry-After` value if any.
    TooMany(Option<String>),
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then forward (a slow registry; the client should time out first).
    Slow(Duration),
    /// 401 with this `WWW-Authenticate`.
    Challenge(String),
}

/// How tag lists are split into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Forward as the registry answers (distribution 2.8: everything in one page).
    Off,
    /// Docker Hub: relative `Link: </v2/NAME/tags/list?last=X&n=N>; rel="next"`.
    DockerHub { page: usize },
    /// GHCR: absolute `Link` with `n` and `last`.
    Ghcr { page: usize },
    /// Honour `n`/`last` but never send `Link`.
    NoLink { page: usize },
    /// A broken registry whose `Link` points to the page just served.
    LoopSamePage { page: usize },
    /// A broken registry that serves new URLs forever (`last` counts up) with one new tag each.
    Endless,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub authorized: bool,
    /// Status sent, or "drop"/"slow".
    pub outcome: String,
    /// When the request arrived.
    pub at: std::time::Instant,
}

pub struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Vec<(String, VecDeque<Fault>)>>,
    paging: Mutex<Paging>,
    etags: Mutex<bool>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct FaultProxy {
    pub server: Server,
    pub state: Arc<ProxyState>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            faults: Mutex::new(Vec::new()),
            paging: Mutex::new(Paging::Off),
            etags: Mutex::new(false),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let s = state.clone();
        let server = serve(move |req| {
            let s = s.clone();
            async move { s.handle(req).await }
        })
        .await;
        FaultProxy { server, state }
    }

    /// The registry as written in image references (`127.0.0.1:PORT`).
    pub fn host(&self) -> String {
        self.server.addr.to_string()
    }

    /// The next requests whose path contains `pattern` get these faults, in order.
    pub fn inject(&self, pattern: &str, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .faults
            .lock()
            .unwrap()
            .push((pattern.to_string(), faults.into_iter().collect()));
    }

    pub fn set_paging(&self, p: Paging) {
        *self.state.paging.lock().unwrap() = p;
    }

    pub fn set_etags(&self, on: bool) {
        *self.state.etags.lock().unwrap() = on;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests whose path contains `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.target.contains(pattern))
            .count()
    }

    pub fn count_outcome(&self, pattern: &str, outcome: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.target.contains(pattern) && s.outcome == outcome)
            .count()
    }

    pub fn clear_log(&self) {
        self.state.seen.lock().unwrap().clear();
        self.state.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests the proxy was handling at once (slow faults included).
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl ProxyState {
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let entry = faults
            .iter_mut()
            .find(|(p, q)| path.contains(p.as_str()) && !q.is_empty())?;
        entry.1.pop_front()
    }

    fn record(&self, req: &HttpRequest, outcome: impl Into<String>) {
        self.seen.lock().unwrap().push(Seen {
            method: req.method.clone(),
            target: req.target.clone(),
            authorized: req.header("authorization").is_some(),
            outcome: outcome.into(),
            at: std::time::Instant::now(),
        });
    }

    async fn handle(&self, req: HttpRequest) -> Action {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let action = self.handle_inner(req).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        action
    }

    async fn handle_inner(&self, req: HttpRequest) -> Action {
        if let Some(fault) = self.take_fault(req.path()) {
            match fault {
                Fault::Status(code) => {
                    self.record(&req, code.to_string());
                    let body = serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": "injected failure"}]});
                    return Action::Respond(HttpResponse::json(code, &body));
                }
                Fault::Unavailable(ra) => {
                    self.record(&req, "503");
                    let body = serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]});
                    return Action::Respond(
                        HttpResponse::json(503, &body).header("Retry-After", ra),
                    );
                }
                Fault::TooMany(retry_after) => {
                    self.record(&req, "429");
                    let mut r = HttpResponse::json(
                        429,
                        &serde_json::json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}),
                    );
                    if let Some(ra) = retry_after {
                        r = r.header("Retry-After", ra);
                    }
                    return Action::Respond(r);
                }
                Fault::Drop => {
                    self.record(&req, "drop");
                    return Action::Drop;
                }
                Fault::Challenge(h) => {
                    self.record(&req, "401");
                    return Action::Respond(
                        HttpResponse::json(401, &serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
                            .header("WWW-Authenticate", h),
                    );
                }
                Fault::Slow(d) => {
                    self.record(&req, "slow");
                    tokio::time::sleep(d).await;
                    return Action::Respond(self.respond(&req).await);
                }
            }
        }
        let resp = self.respond(&req).await;
        self.record(&req, resp.status.to_string());
        Action::Respond(resp)
    }

    async fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let paging = *self.paging.lock().unwrap();
        let is_tags = req.method == "GET" && req.path().ends_with("/tags/list");
        let mut resp = if is_tags && paging != Paging::Off {
            self.paginate(req, paging).await
        } else {
            self.forward(req, &req.target).await
        };
        if is_tags && resp.status == 200 && *self.etags.lock().unwrap() {
            let etag = format!("\"{:016x}\"", fnv(&resp.body));
            if req.header("if-none-match") == Some(etag.as_str()) {
                resp = HttpResponse::new(304).header("ETag", etag);
            } else {
                resp = resp.header("ETag", etag);
            }
        }
        resp
    }

    async fn forward(&self, req: &HttpRequest, target: &str) -> HttpResponse {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.upstream, target));
        for (k, v) in &req.headers {
            if !matches!(
                k.to_ascii_lowercase().as_str(),
                "host" | "connection" | "content-length" | "if-none-match"
            ) {
                rb = rb.header(k, v);
            }
        }
        let up = match rb.body(req.body.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                return HttpResponse::new(502)
                    .body(format!("proxy: upstream failed: {e}").into_bytes());
            }
        };
        let status = up.status().as_u16();
        let headers: Vec<(String, String)> = up
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect();
        let body = up.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// Fetches the whole list from the registry (with the caller's credentials) and serves
    /// the requested page.
    async fn paginate(&self, req: &HttpRequest, paging: Paging) -> HttpResponse {
        let full = self.forward(req, req.path()).await;
        if full.status != 200 {
            return full;
        }
        let v: serde_json::Value = serde_json::from_slice(&full.body).unwrap();
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        tags.sort();
        let last = req.query_param("last");
        let asked_n = req.query_param("n").and_then(|n| n.parse::<usize>().ok());
        let base = format!("/v2/{name}/tags/list");
        let host = req.header("host").unwrap_or("127.0.0.1").to_string();
        let page_of = |size: usize| {
            let n = asked_n.unwrap_or(size).min(size).max(1);
            let rest: Vec<String> = tags
                .iter()
                .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l))
                .cloned()
                .collect();
            let page: Vec<String> = rest.iter().take(n).cloned().collect();
            let more = rest.len() > page.len();
            (n, page, more)
        };
        let (page, link) = match paging {
            Paging::Off => unreachable!(),
            Paging::DockerHub { page } => {
                let (n, p, more) = page_of(page);
                let link = more
                    .then(|| format!("<{base}?last={}&n={n}>; rel=\"next\"", p.last().unwrap()));
                (p, link)
            }
            Paging::Ghcr { page } => {
                let (n, p, more) = page_of(page);
                let link = more.then(|| {
                    format!(
                        "<http://{host}{base}?last={}&n={n}>; rel=\"next\"",
                        p.last().unwrap()
                    )
                });
                (p, link)
            }
            Paging::NoLink { page } => {
                let (_, p, _) = page_of(page);
                (p, None)
            }
            Paging::LoopSamePage { page } => {
                let (_, p, _) = page_of(page);
                (p, Some(format!("<{}>; rel=\"next\"", req.target)))
            }
            Paging::Endless => {
                let k: usize = last
                    .as_deref()
                    .and_then(|l| l.strip_prefix("x"))
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0)
                    + 1;
                (
                    vec![format!("x{k:08}")],
                    Some(format!("<{base}?last=x{k:08}&n=1>; rel=\"next\"")),
                )
            }
        };
        let mut resp = HttpResponse::json(200, &serde_json::json!({"name": name, "tags": page}));
        if let Some(l) = link {
            resp = resp.header("Link", l);
        }
        resp
    }
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
