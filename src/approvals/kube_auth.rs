//! Callers of the admin API, checked the Kubernetes way: a `TokenReview` says who a bearer
//! token belongs to, a `SubjectAccessReview` whether that user may `patch` (or `list`)
//! `imageupgrades` in a namespace. The API server answers both, so ServiceAccount tokens,
//! OIDC tokens and whatever else the cluster trusts work, and RBAC decides.
//!
//! In: a client (the operator's ServiceAccount needs `create` on `tokenreviews` and
//! `subjectaccessreviews`: `rbac::ADMIN_API`), a token, a verb and a namespace. Out: the
//! [`Caller`], whether they may, or an [`AuthError`]. The token is never logged or returned.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// The longest bearer token looked at.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user name (`system:serviceaccount:ns:name`, an OIDC user, …).
    pub username: String,
    /// The user's uid.
    pub uid: Option<String>,
    /// Their groups.
    pub groups: Vec<String>,
    /// Extra attributes (scopes and the like), passed on to the access review.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why a caller could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No usable token, or the API server does not accept it (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The API server could not be asked (HTTP 503).
    #[error("the Kubernetes API server could not review the token: {0}")]
    Api(#[source] kube::Error),
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header
        .ok_or_else(|| AuthError::Unauthenticated("no Authorization: Bearer token".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AuthError::Unauthenticated("the Authorization header is not Bearer".into())
        })?;
    if token.len() > MAX_TOKEN_BYTES || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AuthError::Unauthenticated("malformed bearer token".into()));
    }
    Ok(token)
}

/// Who `token` belongs to (`TokenReview`).
pub async fn authenticate(client: &Client, token: &str) -> Result<Caller, AuthError> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let answer = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(AuthError::Api)?;
    let status = answer.status.unwrap_or_default();
    let user = status.user.filter(|_| status.authenticated == Some(true));
    let Some(user) = user.and_then(|u| Some((u.username.clone()?, u))) else {
        return Err(AuthError::Unauthenticated(
            "the token is not valid for this cluster".into(),
        ));
    };
    let (username, user) = user;
    Ok(Caller {
        username,
        uid: user.uid,
        groups: user.groups.unwrap_or_default(),
        extra: user.extra.unwrap_or_default(),
    })
}

/// Whether `caller` may `verb` `imageupgrades` in `namespace` (`None`: in all namespaces)
/// (`SubjectAccessReview`).
pub async fn may(
    client: &Client,
    caller: &Caller,
    verb: &str,
    namespace: Option<&str>,
) -> Result<bool, AuthError> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(caller.username.clone()),
            uid: caller.uid.clone(),
            groups: Some(caller.groups.clone()),
            extra: Some(caller.extra.clone()),
            resource_attributes: Some(ResourceAttributes {
                group: Some("ml-operator.mojaloop.io".into()),
                resource: Some("imageupgrades".into()),
                verb: Some(verb.into()),
                namespace: namespace.map(str::to_string),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(AuthError::Api)?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_bearer_token_is_looked_at() {
        assert_eq!(bearer(Some("Bearer abc.def")).unwrap(), "abc.def");
        for bad in [
            None,
            Some("Basic YWxpY2U6eA=="),
            Some("Bearer "),
            Some("Bearer a b"),
        ] {
            assert!(
                matches!(bearer(bad), Err(AuthError::Unauthenticated(_))),
                "{bad:?}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert!(bearer(Some(&long)).is_err());
    }
}
