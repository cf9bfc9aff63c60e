//! Admin endpoints under `/kube-sim/`, so the binary mode can be driven like the library:
//! rollout failure hooks, fault injection, compaction and request counters.

use crate::sim::Sim;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Body of `POST /kube-sim/hooks/fail-rollout`.
#[derive(Debug, Deserialize)]
struct FailRollout {
    kind: String,
    namespace: String,
    name: String,
}

/// Body of `POST /kube-sim/faults/errors`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Errors {
    path_prefix: String,
    count: usize,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    500
}

/// Body of `POST /kube-sim/faults/latency`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Latency {
    path_prefix: String,
    millis: u64,
}

/// Body of `POST /kube-sim/faults/forbid-namespace`.
#[derive(Debug, Deserialize)]
struct Forbid {
    namespace: String,
}

type S = State<Arc<Sim>>;

fn ok() -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({"ok": true})))
}

async fn fail_rollout(State(sim): S, Json(b): Json<FailRollout>) -> (StatusCode, Json<Value>) {
    match crate::controller::workload_plural(&b.kind) {
        Some(p) => {
            sim.hooks.fail_rollout(p, &b.namespace, &b.name);
            ok()
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": format!("kind {:?} has no simulated rollout (Deployment, StatefulSet, DaemonSet)", b.kind)}),
            ),
        ),
    }
}

async fn errors(State(sim): S, Json(b): Json<Errors>) -> (StatusCode, Json<Value>) {
    sim.faults.inject_errors(&b.path_prefix, b.count, b.status);
    ok()
}

async fn latency(State(sim): S, Json(b): Json<Latency>) -> (StatusCode, Json<Value>) {
    sim.faults
        .add_latency(&b.path_prefix, Duration::from_millis(b.millis));
    ok()
}

async fn forbid(State(sim): S, Json(b): Json<Forbid>) -> (StatusCode, Json<Value>) {
    sim.faults.forbid_namespace(&b.namespace);
    ok()
}

async fn drop_watches(State(sim): S) -> (StatusCode, Json<Value>) {
    sim.faults.drop_watches();
    ok()
}

async fn compact(State(sim): S) -> (StatusCode, Json<Value>) {
    sim.store.compact();
    ok()
}

async fn clear(State(sim): S) -> (StatusCode, Json<Value>) {
    sim.faults.clear();
    ok()
}

async fn requests(State(sim): S) -> Json<Value> {
    Json(json!({"requests": sim.faults.request_counts()}))
}

async fn reset_requests(State(sim): S) -> (StatusCode, Json<Value>) {
    sim.faults.reset_counts();
    ok()
}

/// The admin routes.
pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/kube-sim/hooks/fail-rollout", post(fail_rollout))
        .route("/kube-sim/faults/errors", post(errors))
        .route("/kube-sim/faults/latency", post(latency))
        .route("/kube-sim/faults/forbid-namespace", post(forbid))
        .route("/kube-sim/faults/drop-watches", post(drop_watches))
        .route("/kube-sim/faults/compact", post(compact))
        .route("/kube-sim/faults/clear", post(clear))
        .route("/kube-sim/requests", get(requests).delete(reset_requests))
}
