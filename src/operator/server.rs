//! The HTTP server (`--listen`, default `0.0.0.0:4006`, the original image-watcher's port):
//! the image-watcher compatible API, health, readiness, metrics and the last report.
//!
//! `GET /images/{org}/{image}/{tag}?strategy=bugfix` answers like the original image-watcher:
//! `200 {"tag":"v10.3.4","fullImage":"mojaloop/account-lookup-service:v10.3.4"}` (the current
//! tag when it is already the newest), `404` for an unknown repository, `400` for a bad strategy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ml_operator_registry::ErrorKind;
use ml_operator_version::{Outcome, Strategy, TagSet};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::RwLock;

use crate::image::ImageRef;
use crate::operator::metrics::Metrics;
use crate::scan::{Report, TagLookup};
use crate::tag_source::TagSource;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where tags come from (the same source scans use).
    pub source: Arc<TagSource>,
    /// The metrics to expose.
    pub metrics: Metrics,
    /// Set once the inventory is synced and (on the leader) the first scan is done.
    pub ready: Arc<AtomicBool>,
    /// The last scan's report, for `GET /report`.
    pub last_report: Arc<RwLock<Option<Report>>>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/images/{org}/{image}/{tag}", get(newest_image))
        .route("/health", get(|| async { Json(json!({"status": "OK"})) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .with_state(state)
}

#[derive(Deserialize)]
struct StrategyQuery {
    strategy: Option<String>,
}

async fn newest_image(
    State(state): State<AppState>,
    Path((org, image, tag)): Path<(String, String, String)>,
    Query(query): Query<StrategyQuery>,
) -> Response {
    let strategy = match query
        .strategy
        .as_deref()
        .map(str::parse::<Strategy>)
        .transpose()
    {
        Ok(strategy) => strategy.unwrap_or_default(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let reference = format!("{org}/{image}:{tag}");
    let parsed = match ImageRef::parse(&reference) {
        Ok(parsed) => parsed,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let newest = match state.source.as_ref() {
        TagSource::ImageWatcher(client) => match client.newest(&parsed, &tag, strategy).await {
            Ok(newest) => newest,
            Err(e) => return error(StatusCode::BAD_GATEWAY, e),
        },
        TagSource::Index(index) => match index.lookup(&parsed) {
            Ok(tags) => newest_of(&tag, tags, strategy),
            Err(e) => return error(StatusCode::NOT_FOUND, e),
        },
        TagSource::Registry(registry) => match registry
            .list_tags(parsed.registry(), &parsed.repository())
            .await
        {
            Ok(list) => newest_of(&tag, &list.tags, strategy),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return error(StatusCode::NOT_FOUND, e.to_string());
            }
            Err(e) => return error(StatusCode::BAD_GATEWAY, e.to_string()),
        },
    };
    let body = json!({"tag": newest, "fullImage": format!("{org}/{image}:{newest}")});
    (StatusCode::OK, Json(body)).into_response()
}

/// The newest allowed tag, or the current one when there is none (or it is not a version).
fn newest_of(current: &str, tags: &[String], strategy: Strategy) -> String {
    let tags = TagSet::new(tags.iter().map(String::as_str));
    match tags.decide(current, strategy).outcome {
        Outcome::Update { latest } => latest,
        Outcome::UpToDate | Outcome::Unresolved { .. } => current.to_string(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: inventory not synced or first scan not done",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn report(State(state): State<AppState>) -> Response {
    match state.last_report.read().await.as_ref() {
        Some(report) => Json(
            json!({"schemaVersion": 1, "findings": report.findings, "summary": report.summary}),
        )
        .into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no scan yet".into()),
    }
}
