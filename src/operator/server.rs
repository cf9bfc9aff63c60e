//! The HTTP server (`--listen`, default `0.0.0.0:4006`, the original image-watcher's port):
//! the image-watcher compatible API, health, readiness, metrics and the last report.
//!
//! `GET /images/{org}/{image}/{tag}?strategy=bugfix` answers like the original image-watcher:
//! `200 {"tag":"v10.3.4","fullImage":"mojaloop/account-lookup-service:v10.3.4"}` (the current
//! tag when it is already the newest), `404` for an unknown repository, `400` for a bad strategy
//! or a request outside the grammar of [`image_api`] (which also accepts the `docker.io/…` and
//! digest-pinned shapes the original client sends, and refuses every registry host that is not
//! Docker Hub or configured), `502` when the registry fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ml_operator_version::Strategy;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::RwLock;

use crate::operator::image_api::{self, ImageQuestion, Unanswered};
use crate::operator::metrics::Metrics;
use crate::scan::Report;
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
        .route("/images/{*path}", get(newest_image))
        .route("/health", get(|| async { Json(json!({"status": "OK"})) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .with_state(state)
}

/// The image-watcher answer, in the original's key order: `{"tag":…,"fullImage":…}`.
#[derive(serde::Serialize)]
struct NewestImage<'a> {
    tag: &'a str,
    #[serde(rename = "fullImage")]
    full_image: &'a str,
}

#[derive(Deserialize)]
struct StrategyQuery {
    strategy: Option<String>,
}

async fn newest_image(
    State(state): State<AppState>,
    uri: Uri,
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
    // The raw path: `%2F` must not become a separator.
    let path = uri.path().strip_prefix("/images/").unwrap_or_default();
    let question = match ImageQuestion::parse(path, |host| state.source.is_configured(host)) {
        Ok(question) => question,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match image_api::newest(&state.source, &question, strategy).await {
        Ok(newest) => {
            let full_image = question.full_image(&newest);
            let body = NewestImage {
                tag: &newest,
                full_image: &full_image,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e @ Unanswered::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ Unanswered::Failed(_)) => error(StatusCode::BAD_GATEWAY, e.to_string()),
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
