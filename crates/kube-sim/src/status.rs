//! API errors rendered as `meta/v1 Status` objects, with the reasons, codes and messages the
//! real API server uses (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired` ...).

use serde_json::{Value, json};

/// A failed API call: becomes an HTTP status plus a `Status` body (or an `ERROR` watch event).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// Machine-readable `Status.reason`.
    pub reason: &'static str,
    /// Human-readable `Status.message`.
    pub message: String,
    /// Optional `Status.details`.
    pub details: Option<Value>,
}

/// The `resource.group` string the real server uses in messages (`deployments.apps`, `pods`).
pub(crate) fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(name: &str, group: &str, kind: &str) -> Option<Value> {
    let mut d = json!({ "name": name, "kind": kind });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    Some(d)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 `NotFound` for a named object.
    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        );
        e.details = details(name, group, resource);
        e
    }

    /// 404 for a path the server does not serve.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 `AlreadyExists` on create.
    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        );
        e.details = details(name, group, resource);
        e
    }

    /// 409 `Conflict` on a stale `resourceVersion` precondition.
    pub fn conflict(resource: &str, group: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(resource, group)
            ),
        );
        e.details = details(name, group, resource);
        e
    }

    /// 422 `Invalid` with one field cause.
    pub fn invalid(kind: &str, group: &str, name: &str, field: &str, msg: &str) -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            format!(
                "{kind}.{} \"{name}\" is invalid: {field}: {msg}",
                if group.is_empty() {
                    "core".to_string()
                } else {
                    group.to_string()
                }
            ),
        );
        if group.is_empty() {
            e.message = format!("{kind} \"{name}\" is invalid: {field}: {msg}");
        }
        let mut d = details(name, group, kind).unwrap_or_else(|| json!({}));
        d["causes"] = json!([{ "reason": "FieldValueInvalid", "message": msg, "field": field }]);
        e.details = Some(d);
        e
    }

    /// 422 `Invalid` with several causes (a custom resource failing its schema): the message
    /// lists them in brackets when there is more than one, as the real server does.
    pub fn invalid_causes(
        kind: &str,
        group: &str,
        name: &str,
        causes: &[crate::schema::Cause],
    ) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let listed: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let what = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {what}"),
        );
        let mut d = details(name, group, kind).unwrap_or_else(|| json!({}));
        d["causes"] = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        e.details = Some(d);
        e
    }

    /// 400 `BadRequest`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 410 `Expired` for a watch or continue token older than the retained history.
    pub fn expired(msg: impl Into<String>) -> Self {
        Self::new(410, "Expired", msg)
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media(msg: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", msg)
    }

    /// 403 `Forbidden`, worded like an RBAC denial.
    pub fn forbidden(verb: &str, resource: &str, group: &str, namespace: Option<&str>) -> Self {
        let scope = match namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let mut e = Self::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: User \"kube-sim\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}",
                qualified(resource, group)
            ),
        );
        e.details = Some(json!({ "group": group, "kind": resource }));
        e
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// An injected fault or unexpected server error (`InternalError` for 500).
    pub fn injected(code: u16) -> Self {
        let reason = match code {
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            429 => "TooManyRequests",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            _ => "Unknown",
        };
        let mut e = Self::new(
            code,
            reason,
            format!(
                "an error on the server (\"kube-sim injected fault {code}\") has prevented the request from succeeding"
            ),
        );
        if code == 500 {
            e.details = Some(
                json!({ "causes": [{ "reason": "UnexpectedServerResponse", "message": "kube-sim injected fault" }] }),
            );
        }
        e
    }

    /// The `meta/v1 Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// A `Status` with `status: Success`, returned by deletes of most built-in resources.
pub(crate) fn success_status(name: &str, group: &str, resource: &str, uid: Option<&str>) -> Value {
    let mut d = json!({ "name": name, "kind": resource });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    if let Some(u) = uid {
        d["uid"] = json!(u);
    }
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_real_wording() {
        let s = ApiError::not_found("deployments", "apps", "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn core_resources_have_no_group_suffix() {
        let s = ApiError::already_exists("pods", "", "p").to_status();
        assert_eq!(s["message"], "pods \"p\" already exists");
        assert!(s["details"].get("group").is_none());
    }
}
