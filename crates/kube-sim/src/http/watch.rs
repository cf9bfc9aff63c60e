//! Watch streams: newline-delimited JSON `WatchEvent`s over a chunked response, with
//! selector transitions (ADDED/DELETED when an object starts/stops matching), periodic
//! BOOKMARKs, streaming lists (`sendInitialEvents=true`), `timeoutSeconds`, `410 Gone` as an `ERROR` event, and the drop-all-watches fault.

use super::error_response;
use crate::resources::ResourceInfo;
use crate::sim::Sim;
use crate::store::{Event, EventType, ListOpts};
use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{HeaderValue, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

fn line(ty: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": ty, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// The event a watcher with these filters sees for `ev`, if any.
fn render(ev: &Event, info: &ResourceInfo, ns: Option<&str>, opts: &ListOpts) -> Option<Bytes> {
    if ev.group != info.group || ev.plural != info.plural || ns.is_some_and(|n| n != ev.namespace) {
        return None;
    }
    let matches = |o: &Value| opts.labels.matches(o) && opts.fields.matches(o);
    let now = matches(&ev.object);
    let ty = match ev.kind {
        EventType::Added if now => "ADDED",
        EventType::Deleted if now => "DELETED",
        EventType::Modified => match (ev.old.as_deref().map(matches).unwrap_or(true), now) {
            (true, true) => "MODIFIED",
            (false, true) => "ADDED",
            (true, false) => "DELETED",
            (false, false) => return None,
        },
        _ => return None,
    };
    let mut obj = (*ev.object).clone();
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.api_version()));
    }
    Some(line(ty, &obj))
}

fn streaming(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// Starts a watch and returns its streaming response.
pub(crate) fn watch_response(
    sim: Arc<Sim>,
    info: ResourceInfo,
    ns: Option<String>,
    opts: ListOpts,
    rv: Option<u64>,
    q: &HashMap<String, String>,
) -> Response {
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    // A streaming list (client-go's WatchList, on in kubectl 1.35+): ADDED for every current
    // object whatever the resourceVersion (`resourceVersionMatch=NotOlderThan`: the sim is always
    // at least that fresh), then a BOOKMARK annotated `k8s.io/initial-events-end`.
    let initial_events = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let rv = if initial_events { None } else { rv };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let start = match sim.store.watch(&info, ns.as_deref(), rv) {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            // Like the watch cache: HTTP 200, then one ERROR event carrying the 410 Status.
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(line("ERROR", &e.to_status()));
            return streaming(rx);
        }
        Err(e) => return error_response(&e),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let mut drop = sim.faults.drop_signal();
    drop.borrow_and_update();
    let bookmark_interval = sim.server.bookmark_interval;
    tokio::spawn(async move {
        let mut live = start.rx;
        let mut last_rv = start.rv;
        for ev in &start.initial {
            if let Some(b) = render(ev, &info, ns.as_deref(), &opts)
                && tx.send(b).await.is_err()
            {
                return;
            }
        }
        if initial_events {
            let bm = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": {
                "resourceVersion": last_rv.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(line("BOOKMARK", &bm)).await.is_err() {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                r = live.recv() => match r {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if let Some(b) = render(&ev, &info, ns.as_deref(), &opts)
                            && tx.send(b).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher that cannot keep up is closed; the client re-watches from its last resourceVersion.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = drop.changed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let bm = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(line("BOOKMARK", &bm)).await.is_err() {
                        return;
                    }
                }
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => return,
                _ = tx.closed() => return,
            }
        }
    });
    streaming(rx)
}
