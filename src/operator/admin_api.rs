//! The admin API (`api.enabled`), JSON on the operator's server:
//!
//! - `GET /api/v1/findings`: the last scan, as `check -o json` prints it (`503` before one);
//! - `GET /api/v1/upgrades`: the ImageUpgrade groups with phase, approvals and window
//!   (`404` when upgrades are off);
//! - `POST /api/v1/upgrades/{namespace}/{name}/approve` and `/reject`: a decision, counted
//!   towards `upgrades.requiredApprovals` like a Slack click ([`crate::upgrade::vote`]).
//!
//! Every request needs `Authorization: Bearer <token>`, checked the Kubernetes way
//! ([`crate::approvals::kube_auth`]): `401` when the API server does not accept the token,
//! `403` when a `SubjectAccessReview` says the user may not `patch` `imageupgrades` in that
//! namespace (`list`, in every watched namespace, for the read endpoints — which are open
//! without a token when `api.anonymousRead`). Answers are JSON (`{"error": …}` for refusals);
//! no CORS headers are sent, so browsers allow only same-origin use (the dashboard). Each
//! client (peer address) may send [`REQUESTS_PER_SECOND`] requests a second, bursts of
//! [`BURST`] (`429` beyond). Each decision is audited: a log line and a Kubernetes Event on
//! the ImageUpgrade naming the user.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::approvals::kube_auth::{self, AuthError, Caller};
use crate::operator::last_report::LastReport;
use crate::operator::server::client_key;
use crate::upgrade::crd::API_VERSION;
use crate::upgrade::decide::Decision;
use crate::upgrade::vote::{self, Outcome, VoteError, Voter};
use crate::upgrade::{ImageUpgrade, list};

/// Requests per second one client may send to `/api/v1`, sustained.
pub const REQUESTS_PER_SECOND: u32 = 5;
/// Requests one client may send in a burst.
pub const BURST: u32 = 20;

/// What the admin API needs.
#[derive(Clone)]
pub struct AdminApi {
    /// The operator's client (token and access reviews, ImageUpgrades).
    pub client: Client,
    /// The namespaces the operator watches (empty: all).
    pub namespaces: Vec<String>,
    /// Read endpoints open without a token.
    pub anonymous_read: bool,
    /// Whether upgrades are on (else there are no ImageUpgrades to list or decide).
    pub upgrades: bool,
    /// `upgrades.requiredApprovals`.
    pub required_approvals: usize,
    /// The last scan.
    pub last_report: Arc<RwLock<Option<LastReport>>>,
    /// Where audit Events go.
    pub events: Recorder,
}

impl AdminApi {
    /// The API for `client`, recording Events as `instance`.
    pub fn events_for(client: &Client, instance: &str) -> Recorder {
        Recorder::new(
            client.clone(),
            Reporter {
                controller: "ml-operator".into(),
                instance: Some(instance.into()),
            },
        )
    }
}

#[derive(Clone)]
struct Limited(Arc<DefaultKeyedRateLimiter<IpAddr>>);

/// The routes under `/api/v1`, rate limited per client.
pub fn routes(api: AdminApi) -> Router {
    let quota = Quota::per_second(NonZeroU32::new(REQUESTS_PER_SECOND).expect("not zero"))
        .allow_burst(NonZeroU32::new(BURST).expect("not zero"));
    let limiter = Limited(Arc::new(RateLimiter::keyed(quota)));
    Router::new()
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/upgrades", get(upgrades))
        .route(
            "/api/v1/upgrades/{namespace}/{name}/{decision}",
            post(decide),
        )
        .with_state(Arc::new(api))
        .route_layer(middleware::from_fn_with_state(limiter, rate_limited))
}

async fn rate_limited(State(limit): State<Limited>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
            client_key(peer.0.ip())
        });
    if limit.0.len() > 10_000 {
        limit.0.retain_recent();
    }
    match limit.0.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(_) => refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests: at most {REQUESTS_PER_SECOND} per second per client"),
        ),
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn auth_refusal(e: AuthError) -> Response {
    match e {
        AuthError::Unauthenticated(why) => refuse(StatusCode::UNAUTHORIZED, why),
        e @ AuthError::Api(_) => {
            tracing::error!("admin API: {e}");
            refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

/// The caller, when they may `verb` imageupgrades in `namespaces` (`[None]`: all).
async fn authorize(
    api: &AdminApi,
    headers: &HeaderMap,
    verb: &str,
    namespaces: &[Option<&str>],
) -> Result<Caller, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = kube_auth::bearer(header).map_err(auth_refusal)?;
    let caller = kube_auth::authenticate(&api.client, token)
        .await
        .map_err(auth_refusal)?;
    for namespace in namespaces {
        if !kube_auth::may(&api.client, &caller, verb, *namespace)
            .await
            .map_err(auth_refusal)?
        {
            let place =
                namespace.map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"));
            tracing::warn!(user = %caller.username, "admin API: {} may not {verb} imageupgrades in {place}; refused", caller.username);
            return Err(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "{} may not {verb} imageupgrades in {place}",
                    caller.username
                ),
            ));
        }
    }
    Ok(caller)
}

/// Read endpoints: open with `anonymousRead`, else `list` in every watched namespace.
async fn authorize_read(api: &AdminApi, headers: &HeaderMap) -> Result<(), Response> {
    if api.anonymous_read {
        return Ok(());
    }
    let namespaces: Vec<Option<&str>> = if api.namespaces.is_empty() {
        vec![None]
    } else {
        api.namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    authorize(api, headers, "list", &namespaces).await.map(drop)
}

async fn findings(State(api): State<Arc<AdminApi>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize_read(&api, &headers).await {
        return refused;
    }
    let last = api.last_report.read().await.clone();
    match last {
        Some(last) => last.response(&headers),
        None => refuse(StatusCode::SERVICE_UNAVAILABLE, "no scan yet".into()),
    }
}

/// One group as `GET /api/v1/upgrades` shows it.
fn group_json(upgrade: &ImageUpgrade, required: usize) -> Value {
    let status = upgrade.status.clone().unwrap_or_default();
    json!({
        "namespace": upgrade.namespace_or_default(),
        "name": upgrade.name(),
        "summary": upgrade.summary(),
        "repository": upgrade.spec.repository,
        "fromTags": upgrade.from_tags(),
        "targetTag": upgrade.spec.target_tag,
        "phase": upgrade.phase(),
        "pending": upgrade.phase().is_pending(),
        "approved": upgrade.spec.approved,
        "approvals": upgrade.spec.approvals.iter().map(|v| &v.by).collect::<Vec<_>>(),
        "requiredApprovals": required,
        "approval": status.approval,
        "window": status.window,
        "message": status.message,
        "updatedAt": status.history.last().map(|h| h.at),
        "workloads": upgrade.spec.targets.iter().map(|t| json!({"kind": t.kind, "name": t.name})).collect::<Vec<_>>(),
    })
}

async fn upgrades(State(api): State<Arc<AdminApi>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize_read(&api, &headers).await {
        return refused;
    }
    if !api.upgrades {
        return refuse(
            StatusCode::NOT_FOUND,
            "upgrades are not enabled (upgrades.enabled)".into(),
        );
    }
    match list::list(&api.client, &api.namespaces).await {
        Ok(all) => {
            let groups: Vec<Value> = all
                .iter()
                .filter(|u| !u.spec.targets.is_empty())
                .map(|u| group_json(u, api.required_approvals))
                .collect();
            Json(json!({"upgrades": groups})).into_response()
        }
        Err(e) => {
            tracing::error!("admin API: {e}");
            refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

async fn decide(
    State(api): State<Arc<AdminApi>>,
    Path((namespace, name, decision)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let decision = match decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return refuse(StatusCode::NOT_FOUND, "POST …/approve or …/reject".into()),
    };
    if crate::inventory::names::check_label(&namespace).is_err()
        || crate::inventory::names::check_subdomain(&name).is_err()
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not a namespace and ImageUpgrade name".into(),
        );
    }
    if !api.upgrades {
        return refuse(
            StatusCode::NOT_FOUND,
            "upgrades are not enabled (upgrades.enabled)".into(),
        );
    }
    let caller = match authorize(&api, &headers, "patch", &[Some(&namespace)]).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let voter = Voter {
        id: format!("api:{}", caller.username),
        name: None,
        how: "api",
    };
    let request = vote::Request {
        namespace: &namespace,
        name: &name,
        made_on: None,
        decision,
        voter: &voter,
        required: api.required_approvals,
        thread: None,
    };
    let outcome = match vote::cast(&api.client, &request, chrono::Utc::now()).await {
        Ok(outcome) => outcome,
        Err(e @ VoteError::NotFound { .. }) => return refuse(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => {
            tracing::error!("admin API: {e}");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    };
    let (status, word, message) = describe(&outcome);
    tracing::info!(user = %caller.username, "admin API: {} {word} {namespace}/{name}: {message}", caller.username);
    if status == StatusCode::OK {
        audit(&api, &namespace, &name, &caller.username, word, &message).await;
    }
    (
        status,
        Json(json!({"outcome": word, "message": message, "requiredApprovals": api.required_approvals})),
    )
        .into_response()
}

/// The answer for an outcome: status, outcome word, message.
fn describe(outcome: &Outcome) -> (StatusCode, &'static str, String) {
    match outcome {
        Outcome::Counted { votes, required } => (
            StatusCode::OK,
            "counted",
            format!(
                "{} of {required} approvals: {}",
                votes.len(),
                votes.join(", ")
            ),
        ),
        Outcome::Approved { votes } => (
            StatusCode::OK,
            "approved",
            format!("approved by {}", votes.join(", ")),
        ),
        Outcome::Rejected => (
            StatusCode::OK,
            "rejected",
            "rejected: it will never be applied".into(),
        ),
        Outcome::AlreadyCounted { votes, required } => (
            StatusCode::OK,
            "already-counted",
            format!("already counted: {} of {required} approvals", votes.len()),
        ),
        Outcome::Unchanged(why) => (
            StatusCode::CONFLICT,
            "unchanged",
            format!("nothing changed: {why}"),
        ),
    }
}

/// The audit Event on the ImageUpgrade, naming the user.
async fn audit(api: &AdminApi, namespace: &str, name: &str, user: &str, word: &str, message: &str) {
    let reference = ObjectReference {
        api_version: Some(API_VERSION.into()),
        kind: Some("ImageUpgrade".into()),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        ..ObjectReference::default()
    };
    let reason = match word {
        "rejected" => "RejectedViaApi",
        "approved" => "ApprovedViaApi",
        _ => "ApprovalCountedViaApi",
    };
    let note: String = format!("{user} through the admin API: {message}")
        .chars()
        .take(1000)
        .collect();
    let event = Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note),
        action: "Decide".into(),
        secondary: None,
    };
    if let Err(e) = api.events.publish(&event, &reference).await {
        tracing::error!("admin API: event {reason} on {namespace}/{name}: {e}");
    }
}
