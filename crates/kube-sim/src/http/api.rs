//! Request dispatch for Kubernetes API paths: parses the URL into a route, classifies the
//! verb (for counters, faults and forbid rules), then serves discovery or the resource verbs.

use super::{discovery, error_response, json_response, json_text_response, openapi, table, watch};
use crate::resources::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};
use crate::sim::Sim;
use crate::status::ApiError;
use crate::store::{ListOpts, PatchType, Sub, WriteOpts};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Method, Uri, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A parsed request path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    /// `/api`.
    Api,
    /// `/apis`.
    Apis,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`.
    GroupVersion(String, String),
    /// `/version`.
    Version,
    /// `/healthz`, `/readyz`, `/livez`.
    Health,
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3` or below.
    OpenApiV3(String),
    /// A resource path.
    Resource(ResPath),
    /// Anything else.
    Unknown,
}

/// A resource URL split into its parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ResPath {
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource.
    pub plural: String,
    /// Namespace segment, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub sub: Option<String>,
}

/// Parses a request path.
pub(crate) fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::Group(g.to_string()),
        ["version"] => return Route::Version,
        ["healthz" | "readyz" | "livez", ..] => return Route::Health,
        ["openapi", "v2"] => return Route::OpenApiV2,
        ["openapi", "v3", rest @ ..] => return Route::OpenApiV3(rest.join("/")),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    let mut r = ResPath {
        group: group.into(),
        version: version.into(),
        ..Default::default()
    };
    let rest: &[&str] = if rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        r.namespace = Some(rest[1].to_string());
        &rest[2..]
    } else {
        rest
    };
    match rest {
        [] if r.namespace.is_none() => return Route::GroupVersion(group.into(), version.into()),
        [p] => r.plural = p.to_string(),
        [p, n] => {
            r.plural = p.to_string();
            r.name = Some(n.to_string());
        }
        [p, n, s] => {
            r.plural = p.to_string();
            r.name = Some(n.to_string());
            r.sub = Some(s.to_string());
        }
        _ => return Route::Unknown,
    }
    Route::Resource(r)
}

/// The Kubernetes verb of a request (as RBAC and audit logs name it).
pub(crate) fn verb_of(method: &Method, route: &Route, q: &HashMap<String, String>) -> String {
    let Route::Resource(r) = route else {
        return method.as_str().to_ascii_lowercase();
    };
    let collection = r.name.is_none();
    match *method {
        Method::GET
            if collection && matches!(q.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            "watch"
        }
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
    .to_string()
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Parses a request body as JSON, or YAML when the content type says so.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return crate::protobuf::decode(body).map_err(|e| ApiError::unsupported_media(format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})")));
    }
    if ct.contains("cbor") {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})"
        )));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if ct.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))
}

/// The axum fallback handler: every non-admin request lands here.
pub(crate) async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let q = query_map(&uri);
    let route = parse_route(&path);
    let verb = verb_of(&method, &route, &q);
    sim.faults.count(&verb, &path);
    tracing::debug!(%method, %verb, %path, "request");
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && auth != format!("Bearer {}", sim.server.token)
    {
        return error_response(&ApiError::unauthorized());
    }
    let delay = sim.faults.latency_for(&path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(code) = sim.faults.take_error(&path) {
        return error_response(&ApiError::injected(code));
    }
    match serve(&sim, &method, route, &verb, &q, &headers, &body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn server_address(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string()
}

async fn serve(
    sim: &Arc<Sim>,
    method: &Method,
    route: Route,
    verb: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let get_only = |m: &Method| {
        if *m == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match route {
        Route::Api => {
            get_only(method)?;
            Ok(json_response(
                200,
                &discovery::api_versions(&server_address(headers)),
            ))
        }
        Route::Apis => {
            get_only(method)?;
            Ok(json_response(
                200,
                &discovery::api_group_list(&sim.store.discovery()),
            ))
        }
        Route::Group(g) => {
            get_only(method)?;
            discovery::api_group(&sim.store.discovery(), &g)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_route)
        }
        Route::GroupVersion(g, v) => {
            get_only(method)?;
            discovery::resource_list(&sim.store.discovery(), &g, &v)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_route)
        }
        Route::Version => Ok(json_response(200, &discovery::version())),
        Route::Health => {
            let mut r = Response::new(axum::body::Body::from("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(r)
        }
        Route::OpenApiV2 => Ok(openapi::v2(headers)),
        Route::OpenApiV3(rest) => openapi::v3(&rest),
        Route::Unknown => Err(ApiError::no_route()),
        Route::Resource(rp) => resource(sim, method, rp, verb, q, headers, body).await,
    }
}

fn write_opts(q: &HashMap<String, String>) -> WriteOpts {
    WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: q.get("fieldManager").cloned(),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
    }
}

fn list_opts(q: &HashMap<String, String>, info: &ResourceInfo) -> Result<ListOpts, ApiError> {
    Ok(ListOpts {
        labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields: FieldSelector::parse(
            q.get("fieldSelector").map(String::as_str).unwrap_or(""),
            &info.plural,
        )?,
        limit: q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// Whether the client asks for metadata alone (`as=PartialObjectMetadataList` or
/// `as=PartialObjectMetadata`, as kube's `list_metadata` and `get_metadata` do).
fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// Checks a body's `apiVersion`/`kind` against the endpoint, like the real decoder.
fn check_kind(obj: &Value, info: &ResourceInfo) -> Result<(), ApiError> {
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            info.kind
        )));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != info.api_version()
        && !(info.custom && crate::resources::split_api_version(av).0 == info.group)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    Ok(())
}

async fn resource(
    sim: &Arc<Sim>,
    method: &Method,
    rp: ResPath,
    verb: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let info = sim
        .store
        .info(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(ApiError::no_route)?;
    if rp.namespace.is_some() && !info.namespaced {
        return Err(ApiError::no_route());
    }
    if info.namespaced && rp.name.is_some() && rp.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    let ns = rp.namespace.as_deref();
    let forbidden = match ns {
        Some(n) => sim.faults.is_forbidden(n),
        None => info.namespaced && sim.faults.any_forbidden(),
    };
    if matches!(verb, "list" | "watch") && forbidden {
        return Err(ApiError::forbidden(verb, &info.plural, &info.group, ns));
    }
    let store = &sim.store;
    let opts = write_opts(q);
    match (&rp.name, rp.sub.as_deref()) {
        (None, _) => match *method {
            Method::GET if verb == "watch" => {
                let lo = list_opts(q, &info)?;
                let rv = match q.get("resourceVersion").filter(|s| !s.is_empty()) {
                    Some(s) => Some(s.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!("invalid resourceVersion: {s}"))
                    })?),
                    None => None,
                };
                Ok(watch::watch_response(
                    sim.clone(),
                    info,
                    ns.map(String::from),
                    lo,
                    rv,
                    q,
                ))
            }
            Method::GET => {
                let lo = list_opts(q, &info)?;
                if wants_table(headers) {
                    let list = store.list(&info, ns, &lo)?;
                    let items = list["items"].as_array().cloned().unwrap_or_default();
                    let t = table::table(
                        &info,
                        &items,
                        list["metadata"].clone(),
                        q.get("includeObject").map(String::as_str).unwrap_or(""),
                    );
                    return Ok(json_response(200, &t));
                }
                let list = store.list_json(&info, ns, &lo, wants_metadata(headers))?;
                Ok(json_text_response(200, list))
            }
            Method::POST => {
                let obj = parse_body(headers, body)?;
                check_kind(&obj, &info)?;
                let out = store.create(&info, ns, obj, &opts)?;
                Ok(json_response(201, &out))
            }
            Method::DELETE => {
                let lo = list_opts(q, &info)?;
                let list = store.list(&info, ns, &lo)?;
                let delete_opts = parse_body(headers, body)?;
                let mut deleted = vec![];
                for item in list["items"].as_array().into_iter().flatten() {
                    let name = item["metadata"]["name"].as_str().unwrap_or_default();
                    let item_ns = item["metadata"]["namespace"].as_str();
                    if store
                        .delete(&info, item_ns, name, &delete_opts, &opts)
                        .is_ok()
                    {
                        deleted.push(item.clone());
                    }
                }
                Ok(json_response(
                    200,
                    &json!({"apiVersion": info.api_version(), "kind": info.list_kind, "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": deleted}),
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), None) => match *method {
            Method::GET => {
                let obj = store.get(&info, ns, name)?;
                if wants_table(headers) {
                    let t = table::table(
                        &info,
                        std::slice::from_ref(&obj),
                        json!({"resourceVersion": obj["metadata"]["resourceVersion"]}),
                        q.get("includeObject").map(String::as_str).unwrap_or(""),
                    );
                    return Ok(json_response(200, &t));
                }
                if wants_metadata(headers) {
                    return Ok(json_response(200, &crate::store::partial_metadata(&obj)));
                }
                Ok(json_response(200, &obj))
            }
            Method::PUT => {
                let obj = parse_body(headers, body)?;
                check_kind(&obj, &info)?;
                Ok(json_response(
                    200,
                    &store.update(&info, ns, name, obj, Sub::Main, &opts)?,
                ))
            }
            Method::PATCH => patch(sim, &info, ns, name, Sub::Main, headers, body, q, &opts),
            Method::DELETE => {
                let b = parse_body(headers, body)?;
                Ok(json_response(
                    200,
                    &store.delete(&info, ns, name, &b, &opts)?,
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("status")) if info.status => match *method {
            Method::GET => Ok(json_response(200, &store.get(&info, ns, name)?)),
            Method::PUT => {
                let obj = parse_body(headers, body)?;
                Ok(json_response(
                    200,
                    &store.update(&info, ns, name, obj, Sub::Status, &opts)?,
                ))
            }
            Method::PATCH => patch(sim, &info, ns, name, Sub::Status, headers, body, q, &opts),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("scale")) if info.scale => {
            scale(sim, &info, ns, name, method, headers, body, &opts)
        }
        _ => Err(ApiError::no_route()),
    }
}

fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base = ct.split(';').next().unwrap_or_default().trim();
    match base {
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        other => Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got \"{other}\")"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn patch(
    sim: &Arc<Sim>,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    sub: Sub,
    headers: &HeaderMap,
    body: &Bytes,
    q: &HashMap<String, String>,
    opts: &WriteOpts,
) -> Result<Response, ApiError> {
    let pt = patch_type(headers)?;
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("patch body is not UTF-8"))?;
    let pbody: Value = if pt == PatchType::Apply {
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    let force = q.get("force").is_some_and(|f| f == "true");
    let (out, created) = sim
        .store
        .patch(info, ns, name, pt, &pbody, sub, opts, force)?;
    Ok(json_response(if created { 201 } else { 200 }, &out))
}

/// The `autoscaling/v1 Scale` view of a workload.
fn scale_of(obj: &Value) -> Value {
    let labels = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    let m = &obj["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector}
    })
}

#[allow(clippy::too_many_arguments)]
fn scale(
    sim: &Arc<Sim>,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    opts: &WriteOpts,
) -> Result<Response, ApiError> {
    let store = &sim.store;
    let cur = store.get(info, ns, name)?;
    let current_scale = scale_of(&cur);
    let new_scale = match *method {
        Method::GET => return Ok(json_response(200, &current_scale)),
        Method::PUT => parse_body(headers, body)?,
        Method::PATCH => {
            let pt = patch_type(headers)?;
            let pbody: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            match pt {
                PatchType::Merge | PatchType::Apply => {
                    crate::patch::json_merge(&current_scale, &pbody)
                }
                PatchType::Strategic => crate::patch::strategic_merge(&current_scale, &pbody)
                    .map_err(|f| ApiError::bad_request(f.message))?,
                PatchType::Json => crate::patch::json_patch(&current_scale, &pbody)
                    .map_err(|f| ApiError::bad_request(f.message))?,
            }
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = new_scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            "spec.replicas",
            "Required value",
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            "spec.replicas",
            "Invalid value: must be greater than or equal to 0",
        ));
    }
    let mut obj = cur.clone();
    obj["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = new_scale["metadata"]["resourceVersion"].as_str() {
        obj["metadata"]["resourceVersion"] = json!(rv);
    }
    let out = store.update(info, ns, name, obj, Sub::Main, opts)?;
    Ok(json_response(200, &scale_of(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_like_the_real_server() {
        assert_eq!(
            parse_route("/api/v1"),
            Route::GroupVersion("".into(), "v1".into())
        );
        let Route::Resource(r) = parse_route("/apis/apps/v1/namespaces/ns/deployments/web/scale")
        else {
            panic!()
        };
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            (Some("ns"), "deployments", Some("web"), Some("scale"))
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/ns/status") else {
            panic!()
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref(), r.sub.as_deref()),
            ("namespaces", Some("ns"), Some("status"))
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/ns/pods") else {
            panic!()
        };
        assert_eq!(
            (r.namespace.as_deref(), r.plural.as_str(), r.name),
            (Some("ns"), "pods", None)
        );
        let Route::Resource(r) = parse_route("/api/v1/namespaces/ns") else {
            panic!()
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("ns"))
        );
        assert_eq!(parse_route("/nope"), Route::Unknown);
    }

    #[test]
    fn verbs_follow_rbac_names() {
        let q: HashMap<String, String> = [("watch".to_string(), "true".to_string())].into();
        let r = parse_route("/api/v1/pods");
        assert_eq!(verb_of(&Method::GET, &r, &q), "watch");
        assert_eq!(verb_of(&Method::GET, &r, &HashMap::new()), "list");
        assert_eq!(
            verb_of(&Method::DELETE, &r, &HashMap::new()),
            "deletecollection"
        );
        assert_eq!(
            verb_of(&Method::GET, &parse_route("/api"), &HashMap::new()),
            "get"
        );
    }
}
